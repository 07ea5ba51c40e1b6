package engine

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ovnfwd/ovnfwd/engine/enginetest"

	"go.uber.org/zap"

	"github.com/ovnfwd/ovnfwd/ovn"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

func categories(r Report, listen string) []string {
	var out []string
	for _, f := range r.Findings {
		if f.ListenAddress == listen {
			out = append(out, f.Category)
		}
	}
	slices.Sort(out)
	return out
}

// check never writes: no Apply, no barrier (nb_cfg unchanged), with or
// without --deep, whatever it finds.
func TestCheckWritesNothing(t *testing.T) {
	for _, deep := range []bool{false, true} {
		res, n := fxOneShot(t, OneShotOpts{Deep: deep}, deep)
		if n.Applied != 0 || n.St.NBCfg != 42 {
			t.Errorf("deep=%v: check applied %d changes, nb_cfg %d (want 0 and 42)", deep, n.Applied, n.St.NBCfg)
		}
		if res.Report.Changes != nil {
			t.Errorf("deep=%v: check reports changes %v", deep, res.Report.Changes)
		}
		if got := res.ExitCode(); got != ExitFindings {
			t.Errorf("deep=%v: exit %d, want 1", deep, got)
		}
	}
}

func TestCheckFindingsAndStates(t *testing.T) {
	res, _ := fxOneShot(t, OneShotOpts{Deep: true}, true)
	r := res.Report
	for listen, want := range map[string][]string{
		"198.51.100.10": nil,
		"198.51.100.11": {"missing", "vip-mismatch"},
		"198.51.100.12": {"detached", "extra-attachment"},
		"198.51.100.13": {"duplicate"},
		"198.51.100.14": {"bad-forward"},
		"198.51.100.99": {"stale"},
		"198.51.100.50": {"orphan"},
	} {
		if got := categories(r, listen); !slices.Equal(got, want) {
			t.Errorf("%s: categories %v, want %v", listen, got, want)
		}
	}
	if r.Summary.Forwards != 6 || r.Summary.OK != 1 || r.Summary.Findings != len(r.Findings) || r.Summary.ByState["broken"] != 5 {
		t.Errorf("summary %+v", r.Summary)
	}
	for _, f := range r.Findings {
		if f.Category == "orphan" && (f.Project != "" || f.Network != "") {
			t.Errorf("orphan finding names project %q network %q; it belongs to none", f.Project, f.Network)
		}
	}
}

// A consistent world exits 0; a forward that is not ok exits 1 even when
// it has no finding (northd behind: pending).
func TestCheckExitCodes(t *testing.T) {
	l := &fakeLXD{St: enginetest.FxLXD()}
	l.St.Forwards = l.St.Forwards[:1] // only the ok forward
	l.St.Networks = l.St.Networks[:1]
	n := &fakeNB{St: enginetest.FxNB()}
	n.St.LoadBalancers = n.St.LoadBalancers[:1]
	n.St.Routers[0].LoadBalancers = []string{enginetest.FxLB10}
	n.St.Switches = []fwdsync.NBSwitch{{UUID: enginetest.FxLSExt, Name: "lxd-net2-ls-ext"}, {UUID: enginetest.FxLSInt, Name: "lxd-net2-ls-int", LoadBalancers: []string{enginetest.FxLB10}}}
	e := newEngine(l, n, fxSB{NB: n}, fwdsync.Options{DeletionBudget: 100}, zap.NewNop())
	res, err := RunOneShot(context.Background(), e, OneShotOpts{Deep: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.ExitCode(); got != ExitOK || res.Report.Summary.OK != 1 {
		t.Fatalf("consistent world: exit %d, summary %+v, findings %+v", got, res.Report.Summary, res.Report.Findings)
	}

	// northd behind: SB shows an older config.
	n.St.NBCfg, n.St.SBCfg = 43, 42
	e2 := newEngine(l, n, behindSB{fxSB{NB: n}}, fwdsync.Options{DeletionBudget: 100}, zap.NewNop())
	res, err = RunOneShot(context.Background(), e2, OneShotOpts{Deep: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.ExitCode(); got != ExitFindings || len(res.Report.NotOK) != 1 || res.Report.NotOK[0].State == "ok" {
		t.Fatalf("northd behind: exit %d, not ok %+v, summary %+v", got, res.Report.NotOK, res.Report.Summary)
	}
}

// behindSB is an SB whose northd has not processed the latest NB config and
// whose rows are therefore missing.
type behindSB struct{ fxSB }

func (s behindSB) Snapshot() fwdsync.SBState {
	st := s.fxSB.Snapshot()
	st.NBCfg = s.NB.St.SBCfg
	st.LoadBalancers = nil
	return st
}

func TestRepairAppliesOnlyTheScope(t *testing.T) {
	sc := Scope{Listen: map[string]bool{"198.51.100.11": true}}
	res, n := fxOneShot(t, OneShotOpts{Repair: true, Scope: sc}, true)
	if n.Applied != 1 || len(res.Report.Changes) != 1 || res.Report.Changes[0].ListenAddress != "198.51.100.11" {
		t.Fatalf("scoped repair applied %d changes: %+v", n.Applied, res.Report.Changes)
	}
	if got := categories(res.Report, "198.51.100.11"); len(got) != 0 {
		t.Errorf("198.51.100.11 still has %v", got)
	}
	// Out of Scope: the duplicate and the stale row are still there.
	names := map[string]int{}
	for _, lb := range n.St.LoadBalancers {
		names[lb.Name]++
	}
	if names["lxd-net2-lb-198.51.100.13-tcp"] != 2 || names["lxd-net2-lb-198.51.100.99-tcp"] != 1 {
		t.Errorf("rows out of Scope changed: %v", names)
	}
	if len(res.Report.Findings) != 0 || res.Report.Summary.Forwards != 1 {
		t.Errorf("report not scoped: %+v", res.Report.Summary)
	}
	// A network-wide finding is reported with the forwards of its network.
	res, _ = fxOneShot(t, OneShotOpts{Scope: Scope{Listen: map[string]bool{"198.51.100.20": true}}}, false)
	if got := categories(res.Report, ""); !slices.Equal(got, []string{"unmapped-network"}) || res.Report.Summary.Forwards != 1 {
		t.Errorf("forward of an unmapped network: network findings %v, summary %+v", got, res.Report.Summary)
	}
}

func TestRepairFixesEverythingRepairable(t *testing.T) {
	res, n := fxOneShot(t, OneShotOpts{Repair: true}, true)
	if n.Applied != 4 || res.Report.Summary.Changes != 4 {
		t.Fatalf("applied %d, reported %d changes; want 4", n.Applied, res.Report.Summary.Changes)
	}
	var left []string
	for _, f := range res.Report.Findings {
		left = append(left, f.Category)
	}
	slices.Sort(left)
	if want := []string{"bad-forward", "orphan", "unmapped-network"}; !slices.Equal(left, want) {
		t.Errorf("findings left %v, want %v", left, want)
	}
	if res.ExitCode() != ExitFindings {
		t.Errorf("exit %d, want 1", res.ExitCode())
	}
	// The orphan and the foreign row are untouched.
	for _, u := range []string{enginetest.FxLBOrp, enginetest.FxLBFor} {
		if !slices.ContainsFunc(n.St.LoadBalancers, func(lb fwdsync.NBLoadBalancer) bool { return lb.UUID == u }) {
			t.Errorf("row %s was deleted", u)
		}
	}
	if !slices.Contains(n.St.Routers[0].LoadBalancers, enginetest.FxLBFor) {
		t.Error("the foreign row was detached from the router")
	}
}

func TestRepairDryRunAndDecline(t *testing.T) {
	res, n := fxOneShot(t, OneShotOpts{Repair: true, DryRun: true}, true)
	if n.Applied != 0 || n.St.NBCfg != 42 || len(res.Report.Changes) != 4 {
		t.Fatalf("dry run: %d applied, nb_cfg %d, %d changes announced", n.Applied, n.St.NBCfg, len(res.Report.Changes))
	}
	asked := 0
	res, n = fxOneShot(t, OneShotOpts{Repair: true, Confirm: func(todo []fwdsync.Change) bool { asked = len(todo); return false }}, true)
	if asked != 4 || n.Applied != 0 || !res.Declined || res.ExitCode() != ExitFindings {
		t.Fatalf("declined: asked about %d, applied %d, declined %v, exit %d", asked, n.Applied, res.Declined, res.ExitCode())
	}
}

// A change refused as a concurrent change is re-planned and retried.
func TestRepairRetriesConflicts(t *testing.T) {
	e, n := fxEngine(true)
	n.Conflicts = 1
	res, err := RunOneShot(context.Background(), e, OneShotOpts{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 0 || n.Applied != 4 {
		t.Fatalf("failed %v, applied %d; want no failure and 4 changes", res.Failed, n.Applied)
	}
	n.Conflicts = 100
	n.St = enginetest.FxNB()
	e, _ = fxEngine(true)
	e.nb = n
	res, err = RunOneShot(context.Background(), e, OneShotOpts{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) == 0 || res.ExitCode() != ExitError {
		t.Fatalf("persistent conflicts: failed %v, exit %d; want failures and exit 2", res.Failed, res.ExitCode())
	}
	for _, f := range res.Failed {
		if !strings.Contains(f.Error(), ovn.ErrConflict.Error()) {
			t.Errorf("failure %v is not a conflict", f)
		}
	}
}

func TestScopeMatch(t *testing.T) {
	fwd := fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.10"}
	other := fwdsync.ForwardKey{Project: "web", Network: "ovn1", ListenAddress: "198.51.100.20"}
	network := fwdsync.ForwardKey{Project: "default", Network: "ovn0"}
	orphan := fwdsync.ForwardKey{ListenAddress: "198.51.100.50"}
	global := fwdsync.ForwardKey{}
	listen := func(a ...string) map[string]bool {
		m := map[string]bool{}
		for _, x := range a {
			m[x] = true
		}
		return m
	}
	for _, tc := range []struct {
		name string
		sc   Scope
		in   []fwdsync.ForwardKey
		out  []fwdsync.ForwardKey
	}{
		{"all", Scope{}, []fwdsync.ForwardKey{fwd, other, network, orphan, global}, nil},
		{"project", Scope{Project: "default"}, []fwdsync.ForwardKey{fwd, network, global}, []fwdsync.ForwardKey{other, orphan}},
		{"network", Scope{Network: "ovn1"}, []fwdsync.ForwardKey{other, global}, []fwdsync.ForwardKey{fwd, network, orphan}},
		{"listen", Scope{Listen: listen("198.51.100.10", "198.51.100.50")}, []fwdsync.ForwardKey{fwd, orphan, global}, []fwdsync.ForwardKey{other, network}},
		{"network+listen", Scope{Network: "ovn0", Listen: listen("198.51.100.10")}, []fwdsync.ForwardKey{fwd, global}, []fwdsync.ForwardKey{other, orphan, network}},
	} {
		for _, k := range tc.in {
			if !tc.sc.Match(k) {
				t.Errorf("%s: %+v should match", tc.name, k)
			}
		}
		for _, k := range tc.out {
			if tc.sc.Match(k) {
				t.Errorf("%s: %+v should not match", tc.name, k)
			}
		}
	}
}

// A write that finds the NB connection gone (ovsdb-server stalled past the
// echo probe, or restarting) waits for the reconnect and re-plans: nothing
// fails, and a batch that had landed before the connection went is not
// written twice (its guards refuse it, the re-plan finds it done).
func TestRepairWaitsForALostConnection(t *testing.T) {
	e0, _ := fxEngine(true)
	if _, err := RunOneShot(context.Background(), e0, OneShotOpts{Repair: true}); err != nil {
		t.Fatal(err)
	}
	undisturbed, _ := RunOneShot(context.Background(), e0, OneShotOpts{})
	for _, landed := range []bool{false, true} {
		e, n := fxEngine(true)
		// Three writes find the connection gone: the batch, its retry
		// and the first change sent alone.
		n.Disconnects, n.LandedOnDisconnect = 3, landed
		res, err := RunOneShot(context.Background(), e, OneShotOpts{Repair: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Failed) != 0 || res.ExitCode() == ExitError {
			t.Errorf("landed=%v: failed %v, exit %d; want no failure", landed, res.Failed, res.ExitCode())
		}
		if n.WaitCalls == 0 {
			t.Errorf("landed=%v: never waited for the connection", landed)
		}
		names := map[string]int{}
		for _, lb := range n.St.LoadBalancers {
			names[lb.Name]++
		}
		for name, c := range names {
			if c > 1 {
				t.Errorf("landed=%v: %d rows named %s", landed, c, name)
			}
		}
		// What is left is what an undisturbed repair leaves (findings
		// no repair fixes).
		again, _ := RunOneShot(context.Background(), e, OneShotOpts{})
		if got, want := findingsOf(again.Report), findingsOf(undisturbed.Report); !slices.Equal(got, want) {
			t.Errorf("landed=%v: check after the repair finds %v, after an undisturbed one %v", landed, got, want)
		}
	}
}

// A connection that does not come back fails the repair (exit 2) after one
// wait, not one wait per change.
func TestRepairGivesUpOnALostConnection(t *testing.T) {
	e, n := fxEngine(true)
	n.Disconnects = 1000
	n.Down = true
	res, err := RunOneShot(context.Background(), e, OneShotOpts{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode() != ExitError || len(res.Failed) == 0 {
		t.Fatalf("failed %v, exit %d; want failures and exit 2", res.Failed, res.ExitCode())
	}
	if n.WaitCalls != 1 {
		t.Fatalf("%d waits for the connection, want 1", n.WaitCalls)
	}
	for _, f := range res.Failed {
		if !errors.Is(f, ovn.ErrNotConnected) {
			t.Errorf("failure %v is not ErrNotConnected", f)
		}
	}
}

func findingsOf(r Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.ListenAddress+" "+f.Category)
	}
	slices.Sort(out)
	return out
}
