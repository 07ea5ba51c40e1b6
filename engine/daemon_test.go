package engine

import (
	"context"
	"maps"
	"runtime"
	"slices"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/ovnfwd/ovnfwd/lxdwatch"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// The daemon's sources as fakes that it watches: one lock serializes the
// worker's reads and writes with the test's edits.

type watchedWorld struct {
	mu      gosync.Mutex
	lxd     *fakeLXD
	nb      *fakeNB
	events  chan lxdwatch.Event
	onLB    []func(string)
	onLBDel []func(string)
	onLBAdd []func(string)
	// published is what the daemon published on its LXD member.
	published map[string]string
	// cfgRose is what NBCfgRoseAt reports (tests set it: the fake's own
	// nb_cfg changes are not tracked).
	cfgRose time.Time
}

type wLXD struct{ w *watchedWorld }

func (l wLXD) List(ctx context.Context) (fwdsync.LXDState, error) {
	l.w.mu.Lock()
	defer l.w.mu.Unlock()
	return l.w.lxd.List(ctx)
}
func (l wLXD) Forward(ctx context.Context, p, n, a string) (*fwdsync.Forward, bool, error) {
	l.w.mu.Lock()
	defer l.w.mu.Unlock()
	return l.w.lxd.Forward(ctx, p, n, a)
}
func (l wLXD) Members(ctx context.Context) ([]fwdsync.Member, error) { return nil, nil }
func (l wLXD) NetworkConfig(context.Context, string, string) (map[string]string, bool, error) {
	return nil, false, nil
}
func (l wLXD) Watch(ctx context.Context, out chan<- lxdwatch.Event) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-l.w.events:
			out <- ev
		}
	}
}
func (wLXD) Connected() bool    { return true }
func (wLXD) Reconnects() uint64 { return 0 }
func (wLXD) Endpoint() string   { return "fake" }
func (l wLXD) Publish(_ context.Context, kv map[string]string) (string, error) {
	l.w.mu.Lock()
	defer l.w.mu.Unlock()
	if l.w.published == nil {
		l.w.published = map[string]string{}
	}
	maps.Copy(l.w.published, kv)
	return "m1", nil
}

type wNB struct{ w *watchedWorld }

func (n wNB) Snapshot() fwdsync.NBState {
	n.w.mu.Lock()
	defer n.w.mu.Unlock()
	return n.w.nb.Snapshot()
}
func (n wNB) SnapshotFor(names []string) fwdsync.NBState {
	n.w.mu.Lock()
	defer n.w.mu.Unlock()
	return n.w.nb.SnapshotFor(names)
}
func (n wNB) Apply(ctx context.Context, ch fwdsync.Change) error {
	n.w.mu.Lock()
	defer n.w.mu.Unlock()
	return n.w.nb.Apply(ctx, ch)
}
func (n wNB) ApplyBatch(ctx context.Context, chs []fwdsync.Change) error {
	n.w.mu.Lock()
	defer n.w.mu.Unlock()
	return n.w.nb.ApplyBatch(ctx, chs)
}
func (n wNB) ApplyBulk(ctx context.Context, chs []fwdsync.Change) error {
	n.w.mu.Lock()
	defer n.w.mu.Unlock()
	return n.w.nb.ApplyBulk(ctx, chs)
}
func (n wNB) Barrier(ctx context.Context, d time.Duration) (int, error) {
	n.w.mu.Lock()
	defer n.w.mu.Unlock()
	return n.w.nb.Barrier(ctx, d)
}
func (n wNB) WaitConnected(ctx context.Context, d time.Duration) bool {
	n.w.mu.Lock()
	defer n.w.mu.Unlock()
	return n.w.nb.WaitConnected(ctx, d)
}
func (n wNB) RowsGeneration() uint64 {
	n.w.mu.Lock()
	defer n.w.mu.Unlock()
	return n.w.nb.RowsGeneration()
}
func (n wNB) OnLoadBalancerChange(f func(string)) {
	n.w.mu.Lock()
	n.w.onLB = append(n.w.onLB, f)
	n.w.mu.Unlock()
}
func (n wNB) OnLoadBalancerDelete(f func(string)) {
	n.w.mu.Lock()
	n.w.onLBDel = append(n.w.onLBDel, f)
	n.w.mu.Unlock()
}
func (n wNB) OnLoadBalancerAdd(f func(string)) {
	n.w.mu.Lock()
	n.w.onLBAdd = append(n.w.onLBAdd, f)
	n.w.mu.Unlock()
}
func (n wNB) NBCfgRoseAt() time.Time {
	n.w.mu.Lock()
	defer n.w.mu.Unlock()
	return n.w.cfgRose
}
func (wNB) OnTopologyChange(func()) {}
func (wNB) OnReconnect(func())      {}
func (wNB) Connected() bool         { return true }

type wSB struct{ w *watchedWorld }

func (s wSB) Snapshot() fwdsync.SBState {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	return fxSB{NB: s.w.nb}.Snapshot()
}
func (s wSB) SnapshotFor([]string) fwdsync.SBState             { return s.Snapshot() }
func (s wSB) GatewaySnapshot() fwdsync.SBState                 { return s.Snapshot() }
func (wSB) WaitNBCfg(context.Context, int, time.Duration) bool { return true }
func (s wSB) RowsGeneration() uint64                           { return wNB(s).RowsGeneration() }
func (wSB) OnChange(func(string))                              {}
func (wSB) OnClaimChange(func(string, string))                 {}
func (wSB) OnReconnect(func())                                 {}
func (wSB) Connected() bool                                    { return true }

// deleteRow deletes a forward's row behind the daemon's back, as an
// operator's ovn-nbctl would, and notifies the daemon like ovn.NB does.
func (w *watchedWorld) deleteRow(name string) {
	w.mu.Lock()
	for _, lb := range w.nb.St.LoadBalancers {
		if lb.Name == name {
			_ = w.nb.Apply(context.Background(), fwdsync.Change{Ops: []fwdsync.Op{{Kind: fwdsync.OpDeleteLB, Name: name, UUID: lb.UUID}}})
		}
	}
	cbs, dels := w.onLB, w.onLBDel
	w.mu.Unlock()
	for _, f := range dels {
		f(name)
	}
	for _, f := range cbs {
		f(name)
	}
}

// editRow rewrites a row's VIPs behind the daemon's back, as an operator's
// ovn-nbctl would, and notifies the daemon like ovn.NB does.
func (w *watchedWorld) editRow(name string, vips map[string]string) {
	w.mu.Lock()
	for _, lb := range w.nb.St.LoadBalancers {
		if lb.Name == name {
			_ = w.nb.Apply(context.Background(), fwdsync.Change{Ops: []fwdsync.Op{{Kind: fwdsync.OpUpdateLB, Name: name, UUID: lb.UUID,
				Protocol: lb.Protocol, VIPs: vips, Options: lb.Options, OldVIPs: lb.VIPs}}})
		}
	}
	cbs := w.onLB
	w.mu.Unlock()
	for _, f := range cbs {
		f(name)
	}
}

// replaceRow replaces a row by a new one of the same name, protocol and
// attachments with other VIPs, as LXD ≤ 5.21.1 writes a forward's update
// (lb-del, lb-add, lr-lb-add, ls-lb-add in one transaction) before its
// database, and notifies the daemon like ovn.NB does.
func (w *watchedWorld) replaceRow(name string, vips map[string]string) {
	w.mu.Lock()
	for _, lb := range w.nb.St.LoadBalancers {
		if lb.Name != name {
			continue
		}
		create := []fwdsync.Op{{Kind: fwdsync.OpCreateLB, Name: name, Protocol: lb.Protocol, VIPs: vips, Options: lb.Options}}
		for _, r := range w.nb.St.Routers {
			if slices.Contains(r.LoadBalancers, lb.UUID) {
				create = append(create, fwdsync.Op{Kind: fwdsync.OpAttachRouter, Name: name, Target: r.UUID})
			}
		}
		for _, sw := range w.nb.St.Switches {
			if slices.Contains(sw.LoadBalancers, lb.UUID) {
				create = append(create, fwdsync.Op{Kind: fwdsync.OpAttachSwitch, Name: name, Target: sw.UUID})
			}
		}
		_ = w.nb.Apply(context.Background(), fwdsync.Change{Ops: []fwdsync.Op{{Kind: fwdsync.OpDeleteLB, Name: name, UUID: lb.UUID}}})
		_ = w.nb.Apply(context.Background(), fwdsync.Change{Ops: create})
		break
	}
	cbs, dels, adds := w.onLB, w.onLBDel, w.onLBAdd
	w.mu.Unlock()
	for _, fs := range [][]func(string){dels, adds, cbs} {
		for _, f := range fs {
			f(name)
		}
	}
}

// createForward is LXD 5.0.x's forward create: the record first, then its
// row (no options: neighbor_responder is ovnfwd's) attached to the router
// and ls-int in one transaction, notified like ovn.NB does.
func (w *watchedWorld) createForward(f fwdsync.Forward, name string, vips map[string]string) {
	w.mu.Lock()
	w.lxd.St.Forwards = append(w.lxd.St.Forwards, f)
	_ = w.nb.Apply(context.Background(), fwdsync.Change{Ops: []fwdsync.Op{
		{Kind: fwdsync.OpCreateLB, Name: name, Protocol: "tcp", VIPs: vips},
		{Kind: fwdsync.OpAttachRouter, Name: name, Target: "r-uuid"},
		{Kind: fwdsync.OpAttachSwitch, Name: name, Target: "s-int"},
	}})
	cbs, adds := w.onLB, w.onLBAdd
	w.mu.Unlock()
	for _, fs := range [][]func(string){adds, cbs} {
		for _, f := range fs {
			f(name)
		}
	}
}

// lb returns a copy of the row named name (zero if none).
func (w *watchedWorld) lb(name string) fwdsync.NBLoadBalancer {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, lb := range w.nb.St.LoadBalancers {
		if lb.Name == name {
			lb.VIPs, lb.Options = maps.Clone(lb.VIPs), maps.Clone(lb.Options)
			return lb
		}
	}
	return fwdsync.NBLoadBalancer{}
}

func (w *watchedWorld) options(name string) map[string]string { return w.lb(name).Options }

func (w *watchedWorld) vips(name string) map[string]string { return w.lb(name).VIPs }

func (w *watchedWorld) hasRow(name string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, lb := range w.nb.St.LoadBalancers {
		if lb.Name == name {
			return true
		}
	}
	return false
}

// runOnFakes runs the daemon on the sources until the returned stop is
// called (deferred by the caller), which also checks that Run returned nil.
func runOnFakes(t *testing.T, d *Daemon, src Sources) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, src) }()
	var once gosync.Once
	return func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The daemon loop on fakes: the start pass creates the rows of a forward
// LXD has, an NB edit is repaired from its notification alone, an LXD
// event for a new forward is mirrored, and every forward ends verified ok.
func TestDaemonMirrorsAndRepairsOnFakes(t *testing.T) {
	l, n := world(web("198.51.100.10", "80"))
	w := &watchedWorld{lxd: l, nb: n, events: make(chan lxdwatch.Event, 8)}
	d := NewDaemon(DaemonConfig{Options: fwdsync.Options{DeletionBudget: 100}, Logger: zap.NewNop()})
	defer runOnFakes(t, d, Sources{LXD: wLXD{w}, NB: wNB{w}, SB: wSB{w}})()

	const row10 = "lxd-net2-lb-198.51.100.10-tcp"
	waitFor(t, "the start pass to create "+row10, func() bool { return w.hasRow(row10) })
	waitFor(t, "the daemon to be ready", func() bool { return d.notReady() == "" })

	w.deleteRow(row10)
	waitFor(t, "the deleted row to come back", func() bool { return w.hasRow(row10) })

	w.mu.Lock()
	w.lxd.St.Forwards = append(w.lxd.St.Forwards, web("198.51.100.11", "443"))
	w.mu.Unlock()
	key := fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.11"}
	sent := time.Now()
	w.events <- lxdwatch.Event{Kind: lxdwatch.KindForward, Action: "network-forward-created", Key: key, Received: sent}
	// LXD writes a new forward's rows itself right after its event:
	// ovnfwd leaves them to it for lxdWriteGrace, then writes them (this
	// fake LXD never does).
	time.Sleep(lxdWriteGrace / 2)
	if w.hasRow("lxd-net2-lb-198.51.100.11-tcp") {
		t.Fatal("ovnfwd created the row of a forward LXD announced moments ago (it races LXD's own write)")
	}
	waitFor(t, "the new forward's row", func() bool { return w.hasRow("lxd-net2-lb-198.51.100.11-tcp") })
	if took := time.Since(sent); took < lxdWriteGrace {
		t.Errorf("row created %v after the event, before the grace of %v", took, lxdWriteGrace)
	}
	waitFor(t, "both forwards verified ok", func() bool {
		sts := d.e.allStatuses()
		return len(sts) == 2 && sts[0].State == fwdsync.StateOK && sts[1].State == fwdsync.StateOK
	})
}

// --nb-settle holds an NB change only where it can be the server's own
// write in progress: with LXD ≤ 5.21.1 (one transaction per forward, a new
// row each time, written before its database) only a change that inserted
// a row; with LXD ≥ 5.21.2 (several transactions) every change.
func TestDaemonSettlesOnlyForMultiStepWriters(t *testing.T) {
	const settle = time.Second
	const row = "lxd-net2-lb-198.51.100.10-tcp"
	edit := func(w *watchedWorld, vips map[string]string) { w.editRow(row, vips) }
	replace := func(w *watchedWorld, vips map[string]string) { w.replaceRow(row, vips) }
	for _, c := range []struct {
		name, version string
		change        func(*watchedWorld, map[string]string)
		waits         bool
	}{
		{"5.0.2 edit in place", "5.0.2", edit, false},
		{"5.0.2 row replaced", "5.0.2", replace, true},
		{"5.21.4 edit in place", "5.21.4", edit, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, n := world(web("198.51.100.10", "80"))
			l.St.Server.Version = c.version
			w := &watchedWorld{lxd: l, nb: n, events: make(chan lxdwatch.Event, 8)}
			d := NewDaemon(DaemonConfig{Options: fwdsync.Options{DeletionBudget: 100}, Logger: zap.NewNop(), NBSettle: settle, NBDeleteGrace: time.Millisecond})
			defer runOnFakes(t, d, Sources{LXD: wLXD{w}, NB: wNB{w}, SB: wSB{w}})()
			waitFor(t, "the start pass", func() bool { return w.hasRow(row) && d.notReady() == "" })
			want := w.vips(row)

			changed := time.Now()
			c.change(w, map[string]string{"198.51.100.10:80": "10.99.99.99:80"})
			repaired := func() bool { return maps.Equal(w.vips(row), want) }
			if !c.waits {
				waitFor(t, "the change repaired", repaired)
				if took := time.Since(changed); took >= settle {
					t.Errorf("LXD %s, %s: repaired after %v, not before the %v settle", c.version, c.name, took, settle)
				}
				return
			}
			time.Sleep(settle / 2)
			if repaired() {
				t.Fatalf("LXD %s, %s: the change was repaired %v after it, within the %v settle", c.version, c.name, time.Since(changed), settle)
			}
			waitFor(t, "the change repaired after the settle", repaired)
		})
	}
}

// LXD writes a forward's update (a new row) and its deletion with
// ovn-nbctl --wait=sb before its database: while northd is behind NB
// (sb_cfg < nb_cfg), LXD still lists the forward as it was, and a repair
// would bring the old rows back. The daemon holds such changes until
// northd caught up (then a commit wait), or until the forward's event.
func TestDaemonHoldsServerWritesWhileNorthdIsBehind(t *testing.T) {
	const settle = 20 * time.Millisecond
	const row = "lxd-net2-lb-198.51.100.10-tcp"
	key := fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.10"}
	newVIPs := map[string]string{"198.51.100.10:80": "10.10.10.6:80"}
	start := func(t *testing.T) (*watchedWorld, map[string]string) {
		l, n := world(web("198.51.100.10", "80"))
		w := &watchedWorld{lxd: l, nb: n, events: make(chan lxdwatch.Event, 8)}
		d := NewDaemon(DaemonConfig{Options: fwdsync.Options{DeletionBudget: 100, ARPResponder: fwdsync.ARPResponderAuto}, Logger: zap.NewNop(), NBSettle: settle, NBDeleteGrace: 50 * time.Millisecond})
		t.Cleanup(runOnFakes(t, d, Sources{LXD: wLXD{w}, NB: wNB{w}, SB: wSB{w}}))
		waitFor(t, "the start pass", func() bool { return w.hasRow(row) && d.notReady() == "" })
		want := w.vips(row)
		w.mu.Lock()
		w.nb.St.NBCfg = w.nb.St.SBCfg + 1 // the server's --wait=sb bump, northd behind
		w.mu.Unlock()
		return w, want
	}
	catchUp := func(w *watchedWorld) {
		w.mu.Lock()
		w.nb.St.SBCfg = w.nb.St.NBCfg
		w.mu.Unlock()
	}
	t.Run("update, then its event", func(t *testing.T) {
		w, _ := start(t)
		w.replaceRow(row, newVIPs)
		time.Sleep(20 * settle)
		if got := w.vips(row); !maps.Equal(got, newVIPs) {
			t.Fatalf("the server's update was reverted while northd was behind: %v", got)
		}
		// LXD's database and event follow once its ovn-nbctl returns.
		catchUp(w)
		w.mu.Lock()
		w.lxd.St.Forwards[0].Ports[0].TargetAddress = "10.10.10.6"
		w.mu.Unlock()
		w.events <- lxdwatch.Event{Kind: lxdwatch.KindForward, Action: "network-forward-updated", Key: key, Received: time.Now()}
		time.Sleep(serverCommitWait + 20*settle)
		if got := w.vips(row); !maps.Equal(got, newVIPs) {
			t.Fatalf("after the event: %v, want the server's %v", got, newVIPs)
		}
	})
	t.Run("update LXD never commits", func(t *testing.T) {
		w, want := start(t)
		w.replaceRow(row, newVIPs)
		time.Sleep(20 * settle)
		if got := w.vips(row); !maps.Equal(got, newVIPs) {
			t.Fatalf("repaired while northd was behind: %v", got)
		}
		caught := time.Now()
		catchUp(w)
		waitFor(t, "the repair once northd caught up", func() bool { return maps.Equal(w.vips(row), want) })
		if took := time.Since(caught); took < serverCommitWait-10*time.Millisecond {
			t.Errorf("repaired %v after northd caught up, before the %v commit wait", took, serverCommitWait)
		}
	})
	t.Run("create: ovnfwd's options at once, nothing else", func(t *testing.T) {
		// LXD 5.0.x creates the record before the rows, so the create is
		// listed already; the option is ovnfwd's own and goes on while
		// northd is still behind, not after LXD's event.
		w, _ := start(t)
		const row2 = "lxd-net2-lb-198.51.100.11-tcp"
		vips := map[string]string{"198.51.100.11:80": "10.10.10.5:80"}
		created := time.Now()
		w.createForward(web("198.51.100.11", "80"), row2, vips)
		waitFor(t, "neighbor_responder on the server's new row", func() bool {
			return w.options(row2)[fwdsync.OptionNeighborResponder] == fwdsync.ARPResponderAll
		})
		// Held, it would come only after northd caught up and the commit
		// wait on top.
		if took := time.Since(created); took >= serverCommitWait {
			t.Errorf("the option came %v after the create, not before the %v commit wait of a held change", took, serverCommitWait)
		}
		if got := w.vips(row2); !maps.Equal(got, vips) {
			t.Errorf("the new row's VIPs %v, want the server's %v", got, vips)
		}
		// A replaced row whose VIPs the (stale) listing contradicts is
		// still held, options or not.
		w.mu.Lock()
		w.nb.St.NBCfg = w.nb.St.SBCfg + 1
		w.mu.Unlock()
		w.replaceRow(row, newVIPs)
		time.Sleep(20 * settle)
		if got := w.vips(row); !maps.Equal(got, newVIPs) {
			t.Fatalf("the server's update was reverted while northd was behind: %v", got)
		}
	})
	t.Run("deletion", func(t *testing.T) {
		w, _ := start(t)
		w.deleteRow(row)
		time.Sleep(20 * settle) // past the 50 ms deletion grace
		if w.hasRow(row) {
			t.Fatal("a deleted row was re-created while northd was behind (LXD may be deleting the forward)")
		}
		catchUp(w)
		waitFor(t, "the row re-created once northd caught up", func() bool { return w.hasRow(row) })
	})
}

// fakeElection is an Election the test grants and revokes.
type fakeElection struct {
	held    atomic.Bool
	changes chan bool
}

func (f *fakeElection) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (f *fakeElection) Held() bool                    { return f.held.Load() }
func (f *fakeElection) Changes() <-chan bool          { return f.changes }
func (f *fakeElection) set(h bool)                    { f.held.Store(h); f.changes <- h }

func (w *watchedWorld) applied() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nb.Applied
}

// A standby writes nothing, not even nb_cfg, yet keeps its verdicts; once
// elected it repairs what nobody wrote meanwhile, and it publishes when it
// became the writer.
func TestDaemonStandbyWritesNothingUntilElected(t *testing.T) {
	l, n := world(web("198.51.100.10", "80"))
	w := &watchedWorld{lxd: l, nb: n, events: make(chan lxdwatch.Event, 8)}
	el := &fakeElection{changes: make(chan bool, 4)}
	d := NewDaemon(DaemonConfig{Options: fwdsync.Options{DeletionBudget: 100}, Logger: zap.NewNop(),
		Version: "v-test", Policy: "p-test", Chassis: "ch1", LivenessInterval: 20 * time.Millisecond, LivenessTimeout: 10 * time.Millisecond})
	defer runOnFakes(t, d, Sources{LXD: wLXD{w}, NB: wNB{w}, SB: wSB{w}, Election: el})()
	waitFor(t, "the standby's first pass", func() bool { return d.notReady() == "" })
	w.mu.Lock()
	cfg := w.nb.St.NBCfg
	w.mu.Unlock()
	time.Sleep(100 * time.Millisecond) // five liveness intervals
	w.mu.Lock()
	cfgAfter, pub := w.nb.St.NBCfg, maps.Clone(w.published)
	w.mu.Unlock()
	if w.applied() != 0 || cfgAfter != cfg {
		t.Fatalf("standby wrote NB: %d changes, nb_cfg %d → %d", w.applied(), cfg, cfgAfter)
	}
	if sts := d.e.allStatuses(); len(sts) != 1 || sts[0].State != fwdsync.StateBroken {
		t.Errorf("standby's verdict %+v, want the missing row judged broken", sts)
	}
	// The findings gauge and build info (issue 12).
	if v := testutil.ToFloat64(d.metrics.findings.WithLabelValues(string(fwdsync.CatMissing), string(fwdsync.SeverityError))); v != 1 {
		t.Errorf("ovnfwd_findings{category=missing,severity=error} = %v, want 1", v)
	}
	if v := testutil.ToFloat64(d.metrics.buildInfo.WithLabelValues("v-test", runtime.Version())); v != 1 {
		t.Errorf("ovnfwd_build_info{version=v-test} = %v", v)
	}
	if v := testutil.ToFloat64(d.metrics.lastFullPass); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("ovnfwd_last_full_pass_timestamp_seconds = %v", v)
	}
	if pub[fwdsync.PublishedChassis] != "ch1" || pub[fwdsync.PublishedVersion] != "v-test" || pub[fwdsync.PublishedPolicy] != "p-test" {
		t.Errorf("published %v", pub)
	}
	if mi := d.memberInfo(); mi.Writer || mi.Election != "lock" || mi.Member != "m1" {
		t.Errorf("/member of a standby: %+v", mi)
	}

	el.set(true)
	waitFor(t, "the elected member to create the row", func() bool { return w.hasRow("lxd-net2-lb-198.51.100.10-tcp") })
	waitFor(t, "writer-since published", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.published[fwdsync.PublishedWriterSince] != ""
	})
	if mi := d.memberInfo(); !mi.Writer {
		t.Errorf("/member of the writer: %+v", mi)
	}

	// Revoked: the next drift stays until someone writes again.
	el.set(false)
	time.Sleep(20 * time.Millisecond)
	before := w.applied()
	w.deleteRow("lxd-net2-lb-198.51.100.10-tcp")
	time.Sleep(200 * time.Millisecond)
	if w.hasRow("lxd-net2-lb-198.51.100.10-tcp") || w.applied() != before+1 { // +1: the test's own delete
		t.Errorf("a member that lost the lock repaired drift (applied %d → %d)", before, w.applied())
	}
}

// A deleted row of a forward LXD still lists is left alone for
// NBDeleteGrace (LXD and Incus delete a forward's rows before its record):
// re-created after it if the forward is still listed, never if the
// server's deletion event comes within it.
func TestDaemonDeleteGrace(t *testing.T) {
	const grace = 300 * time.Millisecond
	l, n := world(web("198.51.100.10", "80"), web("198.51.100.11", "80"))
	w := &watchedWorld{lxd: l, nb: n, events: make(chan lxdwatch.Event, 8)}
	d := NewDaemon(DaemonConfig{Options: fwdsync.Options{DeletionBudget: 100}, Logger: zap.NewNop(), NBSettle: 10 * time.Millisecond, NBDeleteGrace: grace})
	var barriers atomic.Int32
	defer runOnFakes(t, d, Sources{LXD: wLXD{w}, NB: slowBarrierNB{wNB{w}, 0, &barriers}, SB: wSB{w}})()
	const row10, row11 = "lxd-net2-lb-198.51.100.10-tcp", "lxd-net2-lb-198.51.100.11-tcp"
	waitFor(t, "the start pass", func() bool { return w.hasRow(row10) && w.hasRow(row11) && d.notReady() == "" })

	// Drift: nobody deletes the forward; its row comes back after the grace.
	deleted := time.Now()
	b0 := barriers.Load()
	w.deleteRow(row10)
	time.Sleep(grace / 2)
	if w.hasRow(row10) {
		t.Fatalf("row re-created %v after its deletion, within the %v grace", time.Since(deleted), grace)
	}
	// Judged meanwhile, without a northd barrier (nothing was written):
	// at 10,000 forwards one costs a second, and the grace's end would
	// wait for it.
	if n := barriers.Load() - b0; n != 0 {
		t.Errorf("%d northd barriers while the re-creation waits for the grace", n)
	}
	waitFor(t, "the deleted row back after the grace", func() bool { return w.hasRow(row10) })
	if took := time.Since(deleted); took < grace {
		t.Errorf("row re-created after %v, before the grace of %v", took, grace)
	}

	// The server deletes the forward: row first, record and event later.
	applied := w.applied()
	w.deleteRow(row11)
	time.Sleep(grace / 2)
	key := fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.11"}
	w.mu.Lock()
	w.lxd.St.Forwards = w.lxd.St.Forwards[:1]
	w.mu.Unlock()
	w.events <- lxdwatch.Event{Kind: lxdwatch.KindForward, Action: "network-forward-deleted", Key: key, Received: time.Now()}
	time.Sleep(grace + 200*time.Millisecond)
	if w.hasRow(row11) || w.applied() != applied+1 { // +1: the test's own delete
		t.Errorf("the row of a forward being deleted was re-created (row present: %v; NB changes %d → %d)", w.hasRow(row11), applied, w.applied())
	}
	if !w.hasRow(row10) {
		t.Error("the other forward's row is gone")
	}
	d.mu.Lock()
	if n := len(d.rowDeleted); n != 0 {
		t.Errorf("%d deleted rows still remembered after their grace", n)
	}
	d.mu.Unlock()
}

// A server-shaped change first checked after northd caught up still gets
// the commit wait when northd may have been behind it: it sat in the queue
// while the worker was busy (a full pass blocked on a barrier), or nb_cfg
// rose with it (ovn-nbctl --wait=sb, which a quick northd answers within
// --nb-settle: the raft bed). The server's database commit may not have
// happened yet. A fresh change that came without a bump is not held.
func TestDaemonHoldsAServerWriteThatWaitedInTheQueue(t *testing.T) {
	const row = "lxd-net2-lb-198.51.100.10-tcp"
	l, n := world(web("198.51.100.10", "80"))
	w := &watchedWorld{lxd: l, nb: n, events: make(chan lxdwatch.Event, 8)}
	d := NewDaemon(DaemonConfig{Options: fwdsync.Options{DeletionBudget: 100}, Logger: zap.NewNop(), NBSettle: 20 * time.Millisecond})
	t.Cleanup(runOnFakes(t, d, Sources{LXD: wLXD{w}, NB: wNB{w}, SB: wSB{w}}))
	waitFor(t, "the start pass", func() bool { return d.notReady() == "" })
	now := time.Now()
	for _, c := range []struct {
		name   string
		queued time.Time
		rose   time.Time // NB_Global.nb_cfg's last rise
		held   bool
	}{
		{"queued just now", now, time.Time{}, false},
		{"queued just now, nb_cfg rose long before", now, now.Add(-time.Second), false},
		{"queued behind a busy worker", now.Add(-2 * queuedLong), time.Time{}, true},
		{"queued just now with an nb_cfg bump", now, now, true},
		{"queued just now, nb_cfg rose just before", now, now.Add(-cfgBumpSlack / 2), true},
	} {
		w.mu.Lock()
		w.cfgRose = c.rose
		w.mu.Unlock()
		ch := nameChange{at: c.queued, queued: c.queued, inserted: true, server: true}
		b := batch{names: map[string]time.Time{row: ch.at}, server: map[string]nameChange{row: ch}}
		d.holdServerWrites(b) // northd is not behind: sb_cfg = nb_cfg
		_, inBatch := b.names[row]
		if held := !inBatch && d.q.busy(row); held != c.held {
			t.Errorf("%s: held %v, want %v", c.name, held, c.held)
		}
		d.q.release(func(string, time.Time) bool { return true })
	}
}

// An LXD event releases the forward's queued NB names changed before it
// arrived (its write is over), never one changed after it: the server's
// next write of the forward, not committed to its database yet, which a
// re-read of the stale listing would revert (the raft bed, when the worker
// took an event late, behind a barrier).
func TestDaemonEventReleasesOnlyTheWritesBeforeIt(t *testing.T) {
	const row = "lxd-net2-lb-198.51.100.10-tcp"
	key := fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.10"}
	l, n := world(web("198.51.100.10", "80"))
	w := &watchedWorld{lxd: l, nb: n, events: make(chan lxdwatch.Event, 8)}
	d := NewDaemon(DaemonConfig{Options: fwdsync.Options{DeletionBudget: 100}, Logger: zap.NewNop(), NBSettle: time.Hour})
	t.Cleanup(runOnFakes(t, d, Sources{LXD: wLXD{w}, NB: wNB{w}, SB: wSB{w}}))
	waitFor(t, "the start pass", func() bool { return w.hasRow(row) && d.notReady() == "" })
	changed := time.Now()
	for _, c := range []struct {
		name     string
		eventAt  time.Time
		released bool
	}{
		{"event received before the change", changed.Add(-500 * time.Millisecond), false},
		{"event received after the change", changed.Add(time.Millisecond), true},
	} {
		d.q.addNameChangedAt(row, changed, true) // settles for an hour: only an event releases it
		b := batch{names: map[string]time.Time{}, items: []workItem{{key: key, read: readFresh, trigger: "lxd-event", eventAt: c.eventAt}}}
		d.releaseAnnounced(b)
		_, inBatch := b.names[row]
		if inBatch != c.released || d.q.busy(row) == c.released {
			t.Errorf("%s: released %v (busy %v), want released %v", c.name, inBatch, d.q.busy(row), c.released)
		}
		d.q.release(func(string, time.Time) bool { return true })
	}
}

// A full pass that served coalesced triggers (LXD's stream connected while
// the start pass was still queued; the writer lock granted while another
// pass was) counts under each of them: a watcher waiting for that trigger's
// pass (the writer's first) is not left waiting for one that never comes.
func TestDaemonCountsCoalescedFullPassTriggers(t *testing.T) {
	l, n := world(web("198.51.100.10", "80"))
	w := &watchedWorld{lxd: l, nb: n, events: make(chan lxdwatch.Event, 8)}
	d := NewDaemon(DaemonConfig{Options: fwdsync.Options{DeletionBudget: 100}, Logger: zap.NewNop()})
	t.Cleanup(runOnFakes(t, d, Sources{LXD: wLXD{w}, NB: wNB{w}, SB: wSB{w}}))
	waitFor(t, "the start pass", func() bool { return d.notReady() == "" })
	count := func(trigger string) uint64 {
		var m dto.Metric
		if err := d.metrics.reconcile.WithLabelValues(trigger).(prometheus.Metric).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetHistogram().GetSampleCount()
	}
	before := map[string]uint64{"periodic": count("periodic"), "writer": count("writer"), "lxd-connect": count("lxd-connect")}
	func() { // queued together, before the worker takes any
		d.q.mu.Lock()
		defer d.q.mu.Unlock()
		d.q.full, d.q.fullAt, d.q.fullAlso = "periodic", time.Now(), []string{"writer", "lxd-connect"}
	}()
	d.q.signal()
	waitFor(t, "the coalesced pass counted under each trigger", func() bool {
		return count("periodic") == before["periodic"]+1 && count("writer") == before["writer"]+1 && count("lxd-connect") == before["lxd-connect"]+1
	})
}

// LXD 5.0.x commits a new forward, then sends its event, then writes its
// rows: a full pass that lists the forward before its event arrives leaves
// the missing rows to LXD for lxdWriteGrace, as the event would (creating
// them alongside LXD's own gives a name two rows: the Raft bed's churn at a
// writer takeover), and creates them after it if LXD never does. The
// first listing has nothing to compare with and creates at once.
func TestDaemonFullPassLeavesANewlyListedForwardToLXD(t *testing.T) {
	const row = "lxd-net2-lb-198.51.100.11-tcp"
	l, n := world(web("198.51.100.10", "80"))
	w := &watchedWorld{lxd: l, nb: n, events: make(chan lxdwatch.Event, 8)}
	d := NewDaemon(DaemonConfig{Options: fwdsync.Options{DeletionBudget: 100}, Logger: zap.NewNop()})
	t.Cleanup(runOnFakes(t, d, Sources{LXD: wLXD{w}, NB: wNB{w}, SB: wSB{w}}))
	waitFor(t, "the start pass creating the first listing's missing row", func() bool {
		return w.hasRow("lxd-net2-lb-198.51.100.10-tcp") && d.notReady() == ""
	})
	w.mu.Lock()
	w.lxd.St.Forwards = append(w.lxd.St.Forwards, web("198.51.100.11", "80")) // listed; no event yet
	w.mu.Unlock()
	listed := time.Now()
	d.q.addFull("periodic")
	time.Sleep(lxdWriteGrace / 2)
	if w.hasRow(row) {
		t.Fatalf("a full pass created the rows of a forward listed %v ago, within LXD's %v to write them", time.Since(listed), lxdWriteGrace)
	}
	waitFor(t, "the rows LXD never wrote, created after the grace", func() bool { return w.hasRow(row) })
	if took := time.Since(listed); took < lxdWriteGrace {
		t.Errorf("created %v after the forward was listed, before the %v grace", took, lxdWriteGrace)
	}
}
