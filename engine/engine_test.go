package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/ovnfwd/ovnfwd/engine/enginetest"
	"github.com/ovnfwd/ovnfwd/ovn"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// world is LXD 5.0.2 with one OVN network (prefix lxd-net2) and forwards.
func world(forwards ...fwdsync.Forward) (*fakeLXD, *fakeNB) {
	ref := fwdsync.NetworkRef{Project: "default", Name: "ovn0"}
	l := &fakeLXD{St: fwdsync.LXDState{
		Server: fwdsync.ServerInfo{Kind: "lxd", Version: "5.0.2"},
		Networks: []fwdsync.Network{{Project: "default", Name: "ovn0", Config: map[string]string{
			"network": "br0", "ipv4.address": "10.10.10.1/24", "volatile.network.ipv4.address": "10.99.0.100",
		}}},
		Forwards: forwards,
		Complete: map[fwdsync.NetworkRef]bool{ref: true},
	}}
	n := &fakeNB{St: fwdsync.NBState{
		Routers: []fwdsync.NBRouter{{UUID: "r-uuid", Name: "lxd-net2-lr", Ports: []string{"p-ext", "p-int"}}},
		RouterPorts: []fwdsync.NBRouterPort{
			{UUID: "p-ext", Name: "lxd-net2-lr-lrp-ext", Networks: []string{"10.99.0.100/24"}},
			{UUID: "p-int", Name: "lxd-net2-lr-lrp-int", Networks: []string{"10.10.10.1/24"}},
		},
		Switches: []fwdsync.NBSwitch{{UUID: "s-int", Name: "lxd-net2-ls-int"}, {UUID: "s-ext", Name: "lxd-net2-ls-ext"}},
		NBCfg:    1, SBCfg: 1,
	}}
	return l, n
}

func web(listen string, port string) fwdsync.Forward {
	return fwdsync.Forward{Project: "default", Network: "ovn0", ListenAddress: listen,
		Ports: []fwdsync.ForwardPort{{Protocol: "tcp", ListenPort: port, TargetAddress: "10.10.10.5"}}}
}

func testEngine(l *fakeLXD, n *fakeNB) *Engine {
	return newEngine(l, n, nil, fwdsync.Options{DeletionBudget: -1}, zap.NewNop())
}

func TestEnginePassRepairsThenIsClean(t *testing.T) {
	l, n := world(web("198.51.100.10", "80"), web("198.51.100.11", "80,443"))
	e := testEngine(l, n)
	pr, err := e.pass(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.Applied) != 2 || len(n.St.LoadBalancers) != 2 || n.Batches != 1 {
		t.Fatalf("applied %d changes in %d batches, NB has %d rows; want 2, 1 and 2", len(pr.Applied), n.Batches, len(n.St.LoadBalancers))
	}
	for _, s := range pr.Statuses {
		if s.State != fwdsync.StateOK {
			t.Errorf("%v: %s %s", s.Key, s.State, s.Reason)
		}
	}
	pr, err = e.pass(context.Background(), true)
	if err != nil || len(pr.Plan.Changes) != 0 || len(pr.Findings) != 0 {
		t.Fatalf("second pass: err %v, %d changes, findings %v", err, len(pr.Plan.Changes), pr.Findings)
	}
	if got := e.stateCounts()[fwdsync.StateOK]; got != 2 {
		t.Fatalf("%d forwards ok, want 2", got)
	}
}

func TestEnginePassReadOnlyWritesNothing(t *testing.T) {
	l, n := world(web("198.51.100.10", "80"))
	e := testEngine(l, n)
	pr, err := e.pass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if n.Applied != 0 || n.St.NBCfg != 1 {
		t.Fatalf("a check pass wrote: %d applies, nb_cfg %d", n.Applied, n.St.NBCfg)
	}
	if len(pr.Findings) != 1 || pr.Findings[0].Category != fwdsync.CatMissing {
		t.Fatalf("findings %v, want one missing", pr.Findings)
	}
}

// LXD unreachable: nothing is planned or written, every known forward is
// degraded, and a stale-looking row survives.
func TestEngineLXDDownDeletesNothing(t *testing.T) {
	l, n := world(web("198.51.100.10", "80"))
	e := testEngine(l, n)
	if _, err := e.pass(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	l.St.Forwards = nil // would make the row stale…
	l.Err = errors.New("connection refused")
	_, err := e.pass(context.Background(), true)
	if !errors.Is(err, errLXDListing) {
		t.Fatalf("err = %v, want errLXDListing", err)
	}
	if len(n.St.LoadBalancers) != 1 {
		t.Fatalf("NB has %d rows after a pass with LXD down, want 1", len(n.St.LoadBalancers))
	}
	if s, _ := e.status(fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.10"}); s.State != fwdsync.StateDegraded {
		t.Fatalf("state %s, want degraded", s.State)
	}
}

// A concurrent change aborts the transaction; the forward is re-read and
// re-planned.
func TestEngineForwardRetriesOnConflict(t *testing.T) {
	l, n := world(web("198.51.100.10", "80"))
	e := testEngine(l, n)
	if _, err := e.pass(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	n.Conflicts = 2
	key := fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.10"}
	applied, err := e.forward(context.Background(), key, readCached)
	if err != nil || !applied {
		t.Fatalf("forward: applied %v err %v", applied, err)
	}
	if l.Rereads != 2 || len(n.St.LoadBalancers) != 1 {
		t.Fatalf("%d re-reads, %d rows; want 2 and 1", l.Rereads, len(n.St.LoadBalancers))
	}
	n.Conflicts = 10
	n.St.LoadBalancers = nil
	if _, err := e.forward(context.Background(), key, readCached); !errors.Is(err, ovn.ErrConflict) {
		t.Fatalf("persistent conflict: err %v, want ErrConflict", err)
	}
}

// A row another writer changed moments ago is left alone.
func TestEngineSkipsBusyRows(t *testing.T) {
	l, n := world(web("198.51.100.10", "80"))
	e := testEngine(l, n)
	e.busy = func(name string) bool { return name == "lxd-net2-lb-198.51.100.10-tcp" }
	pr, err := e.pass(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if n.Applied != 0 || len(pr.Failed) != 0 {
		t.Fatalf("busy row: %d applies, %d failures; want 0 and 0", n.Applied, len(pr.Failed))
	}
}

// A forward deleted in LXD loses its rows on a scoped reconcile, and its
// state is forgotten.
func TestEngineForwardDeleted(t *testing.T) {
	l, n := world(web("198.51.100.10", "80"))
	e := testEngine(l, n)
	if _, err := e.pass(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	l.St.Forwards = nil
	key := fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.10"}
	if _, err := e.forward(context.Background(), key, readFresh); err != nil {
		t.Fatal(err)
	}
	if len(n.St.LoadBalancers) != 0 || len(n.St.Routers[0].LoadBalancers) != 0 {
		t.Fatalf("rows left: %v, router refs %v", n.St.LoadBalancers, n.St.Routers[0].LoadBalancers)
	}
	if _, ok := e.status(key); ok {
		t.Fatal("the deleted forward still has a state")
	}
}

func TestEngineKeyForLB(t *testing.T) {
	l, n := world(web("198.51.100.10", "80"))
	e := testEngine(l, n)
	if _, err := e.pass(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"lxd-net2-lb-198.51.100.10-tcp":  "default/ovn0/198.51.100.10",
		"lxd-net2-lb-2001:db8::1-udp":    "default/ovn0/2001:db8::1",
		"lxd-net3-lb-198.51.100.10-tcp":  "",
		"lxd-net2-lb-198.51.100.10-sctp": "",
		"my-lb":                          "",
	} {
		k, ok := e.keyForLB(name)
		got := ""
		if ok {
			got = keyString(k)
		}
		if got != want {
			t.Errorf("keyForLB(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestMergeFindings(t *testing.T) {
	k := fwdsync.ForwardKey{Network: "n", ListenAddress: "1.2.3.4"}
	a := fwdsync.Finding{Key: k, Category: fwdsync.CatMissing, Detail: "x"}
	b := fwdsync.Finding{Key: k, Category: fwdsync.CatNotRealized, Detail: "y"}
	got := mergeFindings([]fwdsync.Finding{a}, []fwdsync.Finding{a, b})
	if len(got) != 2 {
		t.Fatalf("merge = %v, want a and b once", got)
	}
}

// A batch that fails is retried change by change: one concurrent edit
// costs only its own forward.
func TestEngineBatchFallsBackToSingleChanges(t *testing.T) {
	l, n := world(web("198.51.100.10", "80"), web("198.51.100.11", "80"), web("198.51.100.12", "80"))
	e := testEngine(l, n)
	n.Conflicts = 1
	pr, err := e.pass(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.Applied) != 3 || len(pr.Failed) != 0 || len(n.St.LoadBalancers) != 3 {
		t.Fatalf("applied %d, failed %v, rows %d; want 3, none, 3", len(pr.Applied), pr.Failed, len(n.St.LoadBalancers))
	}
}

// A network whose listing did not complete keeps its last known forwards,
// reported degraded, and loses no row.
func TestEngineIncompleteListingKeepsForwards(t *testing.T) {
	l, n := world(web("198.51.100.10", "80"))
	e := testEngine(l, n)
	if _, err := e.pass(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	l.St.Forwards = nil
	l.St.Complete = map[fwdsync.NetworkRef]bool{}
	if _, err := e.pass(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	s, ok := e.status(fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.10"})
	if !ok || s.State != fwdsync.StateDegraded {
		t.Fatalf("status %+v (known %v), want degraded", s, ok)
	}
	if len(n.St.LoadBalancers) != 1 {
		t.Fatalf("%d rows left, want 1", len(n.St.LoadBalancers))
	}
	// A re-verification after SB changes (reverify) keeps reporting it
	// (seen on the cluster bed: a forward vanished from /forwards while
	// every LXD member stopped).
	e.reverify()
	if s, ok := e.status(fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.10"}); !ok || s.State != fwdsync.StateDegraded {
		t.Fatalf("after reverify: status %+v (known %v), want degraded", s, ok)
	}
}

// A listing with none of the OVN networks LXD listed before (a stopping
// clustered LXD does that) is not believed at once: nothing is forgotten
// or deleted until listings have agreed for emptyConfirm.
func TestEngineEmptyListingConfirmed(t *testing.T) {
	l, n := world(web("198.51.100.10", "80"))
	e := testEngine(l, n)
	ctx := context.Background()
	if _, err := e.pass(ctx, true); err != nil {
		t.Fatal(err)
	}
	key := fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.10"}
	l.St.Networks, l.St.Forwards = nil, nil
	if _, err := e.pass(ctx, true); !errors.Is(err, errLXDListing) {
		t.Fatalf("first empty listing: %v, want errLXDListing", err)
	}
	if s, ok := e.status(key); !ok || s.State != fwdsync.StateDegraded || len(n.St.LoadBalancers) != 1 {
		t.Fatalf("after one empty listing: status %+v (known %v), %d rows; want degraded and the row kept", s, ok, len(n.St.LoadBalancers))
	}
	if _, err := e.pass(ctx, true); !errors.Is(err, errLXDListing) {
		t.Fatalf("second empty listing at once: %v, want errLXDListing", err)
	}
	e.emptySince = e.emptySince.Add(-e.emptyConfirm) // as if emptyConfirm had passed
	if _, err := e.pass(ctx, true); err != nil {
		t.Fatalf("empty listings for emptyConfirm: %v", err)
	}
	if s, ok := e.status(key); ok {
		t.Errorf("after two empty listings the forward is still reported: %+v", s)
	}
}

// A trigger that changes nothing (LXD's event for a write already verified)
// finds the forward clean and already verified: the Daemon then skips the
// barrier. A real change is neither, until it is verified again.
func TestEngineAlreadyVerified(t *testing.T) {
	l, n := world(web("198.51.100.10", "80"))
	e := testEngine(l, n)
	if _, err := e.pass(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	key := fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.10"}
	applied, clean, err := e.forwardClean(context.Background(), key, readFresh)
	if err != nil || applied || !clean || !e.alreadyVerified(key) {
		t.Fatalf("unchanged forward: applied %v clean %v verified %v err %v; want false true true nil", applied, clean, e.alreadyVerified(key), err)
	}
	l.St.Forwards[0].Ports[0].ListenPort = "8080" // LXD changed the forward
	applied, clean, err = e.forwardClean(context.Background(), key, readFresh)
	if err != nil || !applied || clean {
		t.Fatalf("changed forward: applied %v clean %v err %v; want true false nil", applied, clean, err)
	}
	if e.alreadyVerified(key) {
		t.Fatal("changed forward counts as verified before its verification")
	}
	if sts := e.verifyKeys([]fwdsync.ForwardKey{key}); len(sts) != 1 || sts[0].State != fwdsync.StateOK || !e.alreadyVerified(key) {
		t.Fatalf("after verification: %+v, verified %v", sts, e.alreadyVerified(key))
	}
	// A row edited behind LXD's back: the plan is not clean.
	n.St.LoadBalancers[0].VIPs = map[string]string{"198.51.100.10:1": "10.10.10.5:1"}
	if _, clean, _ := e.forwardClean(context.Background(), key, readCached); clean {
		t.Fatal("a drifted row planned clean")
	}
}

// An NB change (readIfDirty) re-reads the forward from LXD only when NB is
// not as the cached copy wants it: the daemon's own writes coming back cost
// no LXD call, while a row LXD rewrote ahead of its event is judged against
// LXD's new forward, not undone from the stale copy.
func TestEngineNBChangeReadsLXDOnlyWhenDirty(t *testing.T) {
	l, n := world(web("198.51.100.10", "80"))
	e := testEngine(l, n)
	if _, err := e.pass(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	key := fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.10"}
	before := l.Rereads
	applied, clean, err := e.forwardClean(context.Background(), key, readIfDirty)
	if err != nil || applied || !clean || l.Rereads != before {
		t.Fatalf("own write coming back: applied %v clean %v err %v, %d LXD re-reads; want false true nil 0", applied, clean, err, l.Rereads-before)
	}
	// LXD changed the forward and rewrote its row; its event is late.
	moved := web("198.51.100.10", "80")
	moved.Ports[0].TargetAddress = "10.10.10.6"
	l.St.Forwards[0] = moved
	n.St.LoadBalancers[0].VIPs = map[string]string{"198.51.100.10:80": "10.10.10.6:80"}
	applied, clean, err = e.forwardClean(context.Background(), key, readIfDirty)
	if err != nil || l.Rereads != before+1 {
		t.Fatalf("LXD's own rewrite: err %v, %d LXD re-reads; want nil 1", err, l.Rereads-before)
	}
	if applied || !clean || n.St.LoadBalancers[0].VIPs["198.51.100.10:80"] != "10.10.10.6:80" {
		t.Fatalf("LXD's own rewrite undone from the stale copy: applied %v clean %v, VIPs %v", applied, clean, n.St.LoadBalancers[0].VIPs)
	}
}

// A pass that wrote nothing takes no barrier without idleBarrier (the
// daemon's pass after an NB reconnect, while ovn-northd may still look for
// the new leader): it verifies against the last one. A pass that wrote
// takes one either way.
func TestEnginePassIdleBarrier(t *testing.T) {
	l, n := world(web("198.51.100.10", "80"))
	e := testEngine(l, n)
	if _, err := e.passWith(context.Background(), true, false); err != nil {
		t.Fatal(err)
	}
	after := n.St.NBCfg
	if after == 1 {
		t.Fatal("a pass that repaired took no barrier")
	}
	pr, err := e.passWith(context.Background(), true, false)
	if err != nil {
		t.Fatal(err)
	}
	if n.St.NBCfg != after || pr.Barrier != after {
		t.Errorf("idle pass without idleBarrier: nb_cfg %d → %d, pass barrier %d; want no new barrier, the last (%d)", after, n.St.NBCfg, pr.Barrier, after)
	}
	if got := e.stateCounts()[fwdsync.StateOK]; got != 1 {
		t.Errorf("%d forwards ok after the idle pass, want 1", got)
	}
	if _, err := e.pass(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if n.St.NBCfg != after+1 {
		t.Errorf("idle pass with idleBarrier: nb_cfg %d, want %d", n.St.NBCfg, after+1)
	}
}

// The daemon's pass stops writing at a lost NB connection that does not
// come back: one failure, one wait, not one per change (the pass after the
// reconnect re-plans them).
func TestEnginePassStopsAtALostConnection(t *testing.T) {
	l, n := world(web("198.51.100.10", "80"), web("198.51.100.11", "80"), web("198.51.100.12", "80"))
	n.Disconnects, n.Down = 1000, true
	e := testEngine(l, n)
	pr, err := e.pass(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.Failed) != 1 || !errors.Is(pr.Failed[0], ovn.ErrNotConnected) || n.WaitCalls != 1 {
		t.Fatalf("failed %v after %d waits; want one ErrNotConnected after one wait", pr.Failed, n.WaitCalls)
	}
	n.Disconnects, n.Down = 0, false
	if pr, err = e.pass(context.Background(), true); err != nil || len(pr.Failed) != 0 || len(n.St.LoadBalancers) != 3 {
		t.Fatalf("pass after the reconnect: err %v, failed %v, %d rows; want 3 rows", err, pr.Failed, len(n.St.LoadBalancers))
	}
}

// A pass's batches grow with its changes: at most applyMaxBatches
// transactions (ovsdb-server's cost per transaction grows with the
// router's load_balancer set, so a fixed size is quadratic).
func TestEngineBatchesBoundTransactions(t *testing.T) {
	for n, want := range map[int]int{1: 500, 500: 500, 10000: 500, 10001: 501, 50000: 2500} {
		if got := batchSize(n); got != want {
			t.Errorf("batchSize(%d) = %d, want %d", n, got, want)
		}
	}
	var fwds []fwdsync.Forward
	for i := range 10100 {
		fwds = append(fwds, web(fmt.Sprintf("198.18.%d.%d", i/250, i%250+1), "80"))
	}
	l, nb := world(fwds...)
	e := testEngine(l, nb)
	pr, err := e.pass(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.Applied) != 10100 || nb.Batches != applyMaxBatches || nb.MaxBatch != 505 || nb.Bulks != applyMaxBatches {
		t.Fatalf("applied %d changes in %d batches (%d bulks) of at most %d; want 10100 in %d bulks of 505", len(pr.Applied), nb.Batches, nb.Bulks, nb.MaxBatch, applyMaxBatches)
	}
	// A few creates go in guarded batches.
	l2, nb2 := world(web("198.51.100.10", "80"), web("198.51.100.11", "80"))
	if _, err := testEngine(l2, nb2).pass(context.Background(), true); err != nil || nb2.Batches != 1 || nb2.Bulks != 0 {
		t.Fatalf("two creates: err %v, %d batches, %d bulks; want 1 guarded batch", err, nb2.Batches, nb2.Bulks)
	}
}

// A barrier whose wait for northd times out still wrote its bump: the
// forwards are judged against it (a chassis must reach it), not against
// the config before it, which a chassis that never saw the changes holds.
func TestEngineBarrierTimeoutJudgesAgainstTheBump(t *testing.T) {
	e, n := fxEngine(true)
	n.NorthdStalled = true
	pr, err := e.pass(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Barrier != n.St.NBCfg || e.lastCfg != n.St.NBCfg {
		t.Fatalf("barrier %d, lastCfg %d; want the bump %d", pr.Barrier, e.lastCfg, n.St.NBCfg)
	}

}

type countingSB struct {
	enginetest.SB
	reads *int
}

func (s countingSB) Snapshot() fwdsync.SBState { *s.reads++; return s.SB.Snapshot() }
func (s countingSB) SnapshotFor(n []string) fwdsync.SBState {
	*s.reads++
	return s.SB.SnapshotFor(n)
}

// settle does not re-verify while northd has not reached the barrier (it
// would take CPU from northd and the chassis it waits for), and verifies
// once more at its deadline.
func TestSettleWaitsForNorthdBeforeVerifying(t *testing.T) {
	e, n := fxEngine(true)
	reads := 0
	e.sb = countingSB{SB: enginetest.SB{NB: n}, reads: &reads}
	n.NorthdStalled = true
	pr := PassResult{Statuses: []fwdsync.ForwardStatus{{State: fwdsync.StatePending}}}
	e.lastCfg = n.St.SBCfg + 1
	start := time.Now()
	e.settle(pr, 500*time.Millisecond)
	if took := time.Since(start); took < 500*time.Millisecond {
		t.Fatalf("settle returned after %v, before its deadline", took)
	}
	if reads != 1 {
		t.Fatalf("%d SB reads while northd was behind, want 1 (the last verification)", reads)
	}
}

// A batch whose create met a row LXD made meanwhile (ovn.BatchConflictError)
// keeps the rest of the batch applied and re-plans only that forward: it
// ends attached to LXD's row, with no second row and no failure.
func TestRepairKeepsABatchWithARacedCreate(t *testing.T) {
	defer func(b int) { bulkCreates = b }(bulkCreates)
	bulkCreates = 0 // the fixture's few creates go as a bulk
	e, n := fxEngine(true)
	pr, err := e.pass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	var racedName string
	for _, ch := range pr.Plan.Changes {
		for _, op := range ch.Ops {
			if op.Kind == fwdsync.OpCreateLB && racedName == "" {
				racedName = op.Name
			}
		}
	}
	if racedName == "" {
		t.Fatal("the fixture plans no create")
	}
	n.RaceCreates = map[string]bool{racedName: true}
	res, err := RunOneShot(context.Background(), e, OneShotOpts{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 0 {
		t.Fatalf("failed %v", res.Failed)
	}
	if n.Bulks == 0 || len(n.RaceCreates) != 0 {
		t.Fatalf("%d bulks, race left %v: the raced bulk did not run", n.Bulks, n.RaceCreates)
	}
	// Only the raced change is sent again (alone: its guard conflicts,
	// then its re-plan attaches the other writer's row); the batch's
	// landed changes are not.
	if n.ApplyCalls > 2 {
		t.Fatalf("%d changes sent alone after the batch, want at most 2", n.ApplyCalls)
	}
	rows := 0
	for _, lb := range n.St.LoadBalancers {
		if lb.Name == racedName {
			rows++
		}
	}
	if rows != 1 {
		t.Fatalf("%d rows named %s, want 1 (the other writer's)", rows, racedName)
	}
	e0, _ := fxEngine(true)
	if _, err := RunOneShot(context.Background(), e0, OneShotOpts{Repair: true}); err != nil {
		t.Fatal(err)
	}
	want, _ := RunOneShot(context.Background(), e0, OneShotOpts{})
	got, _ := RunOneShot(context.Background(), e, OneShotOpts{})
	if g, w := findingsOf(got.Report), findingsOf(want.Report); !slices.Equal(g, w) {
		t.Fatalf("after the raced repair check finds %v, after an undisturbed one %v", g, w)
	}
}
