package engine

import (
	"context"
	"errors"
	"time"

	"github.com/ovnfwd/ovnfwd/ovn"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// What the one-shot commands (check, repair, status, explain) add to the
// engine. They reuse its pass, apply and verify; nothing here judges OVN.

// observeBarrier makes verification judge the active chassis against the
// last NB config anyone published (NB_Global.nb_cfg), without writing a
// barrier: a read-only command cannot bump nb_cfg, but a chassis that has
// not processed the last published config is behind.
func (e *Engine) observeBarrier() {
	e.lastCfg = e.nb.SnapshotFor(nil).NBCfg
}

// applyScoped applies the given changes (a scoped subset of a plan), in
// batches of forwards, then one transaction each for what a batch could
// not apply. A change refused because NB changed under it
// (ovn.ErrConflict) is re-planned from a fresh pass and retried, up to
// three times; other failures are returned in failed. It reports the
// changes that were applied, as finally applied.
func (e *Engine) applyScoped(ctx context.Context, todo []fwdsync.Change, sc Scope) (applied []fwdsync.Change, failed []error) {
	// Many forwards (a restored NB): one transaction per batch first; the
	// changes of a failed batch go one by one below.
	applied, todo = e.tryBatches(ctx, todo)
	for round := 0; len(todo) > 0; round++ {
		var conflicted map[fwdsync.ForwardKey]bool
		var lastConflict error
		for _, ch := range todo {
			err := e.applyChange(ctx, ch)
			switch {
			case err == nil:
				applied = append(applied, ch)
			case errors.Is(err, ovn.ErrConflict) && round < 3:
				if conflicted == nil {
					conflicted = map[fwdsync.ForwardKey]bool{}
				}
				conflicted[ch.Key] = true
				lastConflict = err
			default:
				failed = append(failed, err)
			}
		}
		if len(conflicted) == 0 {
			break
		}
		// Re-plan the conflicted forwards from fresh LXD and NB state.
		pr, err := e.pass(ctx, false)
		if err != nil {
			failed = append(failed, lastConflict, err)
			break
		}
		todo = todo[:0:0]
		for _, ch := range filterChanges(pr.Plan.Changes, sc) {
			if conflicted[ch.Key] {
				todo = append(todo, ch)
			}
		}
	}
	return applied, failed
}

// settle re-verifies (fresh NB and SB snapshots, same plan) until no
// forward waits for northd or the active chassis, or until d has passed.
func (e *Engine) settle(pr PassResult, d time.Duration) PassResult {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && transient(pr) {
		time.Sleep(100 * time.Millisecond)
		pr.Statuses, pr.Findings = e.verify(pr.Plan, nil)
	}
	return pr
}

// transient reports whether some forward waits for northd or the chassis.
func transient(pr PassResult) bool {
	for _, s := range pr.Statuses {
		if s.State == fwdsync.StatePending {
			return true
		}
	}
	for _, f := range pr.Findings {
		switch f.Category {
		case fwdsync.CatNotRealized, fwdsync.CatNoNatAddress, fwdsync.CatChassisBehind:
			return true
		}
	}
	return false
}

// ReadOnlyPass is status's and explain's view: one pass that writes
// nothing, judging the active chassis against the last published nb_cfg.
func (e *Engine) ReadOnlyPass(ctx context.Context) (PassResult, error) {
	e.observeBarrier()
	return e.pass(ctx, false)
}
