package engine

import (
	"context"
	"errors"
	"fmt"
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
// (ovn.ErrConflict), or lost with the NB connection that then came back
// within reconnectWait, is re-planned from a fresh pass and retried, up to
// three times; other failures are returned in failed. It reports the
// changes that were applied, as finally applied.
func (e *Engine) applyScoped(ctx context.Context, todo []fwdsync.Change, sc Scope) (applied []fwdsync.Change, failed []error) {
	for round := 0; len(todo) > 0; round++ {
		// Many forwards (a restored NB): one transaction per batch first;
		// the changes of a failed batch go one by one below. A batch lost
		// with the connection is re-planned (it may have committed).
		done, rest, replan, down := e.tryBatches(ctx, todo)
		applied = append(applied, done...)
		var conflicted map[fwdsync.ForwardKey]bool
		var lastConflict error
		mark := func(k fwdsync.ForwardKey, err error) {
			if conflicted == nil {
				conflicted = map[fwdsync.ForwardKey]bool{}
			}
			conflicted[k] = true
			lastConflict = err
		}
		for _, ch := range replan {
			if round < 3 {
				mark(ch.Key, ovn.ErrNotConnected)
			} else {
				failed = append(failed, fmt.Errorf("forward %s: %w", keyString(ch.Key), ovn.ErrNotConnected))
			}
		}
		for _, ch := range rest {
			if down {
				// The NB connection did not come back: nothing more is sent.
				failed = append(failed, fmt.Errorf("forward %s: not sent: %w", keyString(ch.Key), ovn.ErrNotConnected))
				continue
			}
			err := e.applyChange(ctx, ch)
			lost := errors.Is(err, ovn.ErrNotConnected)
			switch {
			case err == nil:
				applied = append(applied, ch)
			case lost && round < 3 && !e.reconnected(ctx, err):
				down = true
				failed = append(failed, err)
			case (lost || errors.Is(err, ovn.ErrConflict)) && round < 3:
				// Re-planned from the state after the conflict or the
				// reconnect (a write lost with the connection may have
				// landed).
				mark(ch.Key, err)
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
//
// It does not compete with what it waits for: while northd has not
// reached the barrier (NB_Global.sb_cfg, from the replica) nothing is
// re-verified, and re-verifications are spaced by settleSpacing times the
// last one's duration (at 50,000 forwards one costs about a second of CPU,
// which on a small machine is CPU northd and the chassis need).
func (e *Engine) settle(pr PassResult, d time.Duration) PassResult {
	deadline := time.Now().Add(d)
	wait := settlePoll
	for time.Now().Before(deadline) && transient(pr) {
		time.Sleep(min(wait, max(time.Until(deadline), 0)))
		if e.lastCfg > 0 && e.nb.SnapshotFor(nil).SBCfg < e.lastCfg && time.Now().Before(deadline) {
			wait = settlePoll
			continue
		}
		t := time.Now()
		pr.Statuses, pr.Findings = e.verify(pr.Plan, nil)
		wait = max(settlePoll, settleSpacing*time.Since(t))
	}
	return pr
}

// settlePoll is settle's shortest wait; settleSpacing bounds the share of
// the time settle spends re-verifying (1 in 1+settleSpacing).
const (
	settlePoll    = 100 * time.Millisecond
	settleSpacing = 3
)

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
