package engine

import (
	"context"
	"time"

	"go.uber.org/zap"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// Scope selects forwards by project, network and listen addresses.
type Scope struct {
	Project, Network string
	Listen           map[string]bool // canonical addresses; empty: all
}

func (s Scope) all() bool { return s.Project == "" && s.Network == "" && len(s.Listen) == 0 }

// Match reports whether a forward (or a finding's or change's key) is in
// scope. A key without a listen address concerns a whole network (an
// unmapped network, its HA chassis group) and is in scope when the network
// is and no listen address is asked for (buildReport adds the findings of
// the networks of the forwards in scope); a key without a network (an
// orphan row) only when no project or network is asked for; an empty key
// (the deletion budget) always.
func (s Scope) Match(k fwdsync.ForwardKey) bool {
	if k == (fwdsync.ForwardKey{}) {
		return true
	}
	if k.Network == "" && (s.Project != "" || s.Network != "") {
		return false
	}
	if s.Project != "" && k.Network != "" && ProjectName(k.Project) != s.Project {
		return false
	}
	if s.Network != "" && k.Network != s.Network {
		return false
	}
	if len(s.Listen) > 0 && k.ListenAddress != "" && !s.Listen[k.ListenAddress] {
		return false
	}
	if len(s.Listen) > 0 && k.ListenAddress == "" {
		return false
	}
	return true
}

// OneShotOpts is what check and repair were asked to do.
type OneShotOpts struct {
	Repair bool
	DryRun bool
	Deep   bool // check only; repair always verifies down to the chassis
	Scope  Scope
	Settle time.Duration
	// Confirm asks before writing; nil writes without asking.
	Confirm func(todo []fwdsync.Change) bool
}

// OneShotResult is a check's or repair's outcome.
type OneShotResult struct {
	Report   Report
	Failed   []error // changes that could not be applied
	Declined bool
}

// ExitCode is the result's exit code (errors before the result exit 2).
func (r OneShotResult) ExitCode() int {
	switch {
	case len(r.Failed) > 0:
		return ExitError
	case r.Declined, Severe(r.Report.Findings), r.Report.Summary.OK < r.Report.Summary.Forwards:
		return ExitFindings
	}
	return ExitOK
}

// RunOneShot is check (o.repair false) and repair, on a connected engine.
// check writes nothing: it runs a pass without apply and without barrier.
func RunOneShot(ctx context.Context, e *Engine, o OneShotOpts) (OneShotResult, error) {
	start := time.Now()
	var out OneShotResult
	e.observeBarrier()
	pr, err := e.pass(ctx, false)
	if err != nil {
		return out, err
	}
	if e.prefetch != nil && e.prefetch.overlapped() && len(pr.Findings) > 0 {
		// The listing was read while NB was downloaded, not after: judge
		// the findings again from reads in the pass's own order.
		e.log.Debug("findings from overlapped reads; confirming with an ordered pass", zap.Int("findings", len(pr.Findings)))
		if pr, err = e.pass(ctx, false); err != nil {
			return out, err
		}
	}
	if !o.Repair {
		out.Report = buildReport(pr, o.Scope, time.Since(start))
		return out, nil
	}

	todo := filterChanges(pr.Plan.Changes, o.Scope)
	if o.DryRun {
		out.Report = buildReport(pr, o.Scope, time.Since(start))
		out.Report.SetChanges(todo)
		return out, nil
	}
	if len(todo) > 0 && o.Confirm != nil && !o.Confirm(todo) {
		out.Declined = true
		out.Report = buildReport(pr, o.Scope, time.Since(start))
		return out, nil
	}
	applied, failed := e.applyScoped(ctx, todo, o.Scope)
	out.Failed = failed
	if len(applied) > 0 {
		// A barrier: northd and the active chassis must show the changes.
		e.barrier(ctx)
	}
	// Re-plan from fresh LXD and NB state (the pass verifies against the
	// barrier), then give northd and the chassis time to catch up.
	if pr, err = e.pass(ctx, false); err != nil {
		return out, err
	}
	if len(applied) > 0 {
		pr = e.settle(pr, o.Settle)
	}
	out.Report = buildReport(pr, o.Scope, time.Since(start))
	out.Report.SetChanges(applied)
	return out, nil
}

func filterChanges(chs []fwdsync.Change, sc Scope) []fwdsync.Change {
	var out []fwdsync.Change
	for _, ch := range chs {
		if sc.Match(ch.Key) {
			out = append(out, ch)
		}
	}
	return out
}

// buildReport turns a pass into check's report, restricted to the scope.
func buildReport(pr PassResult, sc Scope, took time.Duration) Report {
	// The networks of the forwards in scope: their network-wide findings
	// (an unmapped network) concern those forwards.
	nets := map[fwdsync.ForwardKey]bool{}
	for _, s := range pr.Statuses {
		if sc.Match(s.Key) {
			nets[fwdsync.ForwardKey{Project: s.Key.Project, Network: s.Key.Network}] = true
		}
	}
	var fs []fwdsync.Finding
	for _, f := range pr.Findings {
		if sc.Match(f.Key) || (f.Key.ListenAddress == "" && nets[f.Key]) {
			fs = append(fs, f)
		}
	}
	r := Report{Findings: ToFindings(fs), NotOK: []ForwardOut{}}
	r.Summary.ByCategory = byCategory(fs)
	r.Summary.Findings = len(fs)
	r.Summary.ByState = map[string]int{}
	for _, s := range pr.Statuses {
		if !sc.Match(s.Key) {
			continue
		}
		r.Summary.Forwards++
		r.Summary.ByState[string(s.State)]++
		if s.State == fwdsync.StateOK {
			r.Summary.OK++
			continue
		}
		r.NotOK = append(r.NotOK, ForwardOut{Project: ProjectName(s.Key.Project), Network: s.Key.Network,
			ListenAddress: s.Key.ListenAddress, State: string(s.State), Reason: s.Reason})
	}
	r.Summary.DurationMS = took.Milliseconds()
	return r
}
