package ovn

// A hung endpoint in the endpoint list: one that accepts the connection but
// never answers OVSDB (a frozen (SIGSTOP) or hung ovsdb-server, a proxy
// whose backend is gone). libovsdb tries its endpoints in turn under one
// deadline, so such an endpoint ahead of the healthy ones used to take the
// whole ConnectTimeout on every attempt: the client never connected, and
// never reconnected. The client must now lose at most the endpoint timeout
// (maxEndpointTimeout) per hung endpoint, on the first connect and on
// reconnect, and then reach a healthy member (the leader, for the writer).

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovnfwd/ovnfwd/ovn/nbdb"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

const (
	// hungDialBound: a connect whose endpoint list has one hung endpoint
	// ahead of a healthy one, with the default configuration (one
	// maxEndpointTimeout lost, then a normal connect).
	hungDialBound = 5 * time.Second
	// hungFailoverBound: from the moment the current server is killed or
	// frozen until a write succeeds on a healthy one, with the probe
	// settings of hungProbeConfig: a frozen server is noticed within
	// ProbeInterval + ConnectTimeout (the echo's timeout), then at most one
	// hung endpoint costs maxEndpointTimeout before a healthy one answers.
	hungFailoverBound = 8 * time.Second
)

// hungProbeConfig makes a frozen current server noticed within about 2 s
// (the echo may take max(ConnectTimeout, ProbeTimeout)).
func hungProbeConfig(eps ...string) Config {
	return Config{Endpoints: eps, ConnectTimeout: 2 * time.Second,
		ProbeInterval: 200 * time.Millisecond, ProbeTimeout: time.Second}
}

// hungListener accepts TCP connections and never writes a byte: a server
// that is up as far as TCP goes, but does not answer.
type hungListener struct {
	ln       net.Listener
	accepted atomic.Int32
	mu       sync.Mutex
	conns    []net.Conn
	done     chan struct{}
}

func startHungListener(t testing.TB) *hungListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hungListener{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.accepted.Add(1)
			h.mu.Lock()
			h.conns = append(h.conns, c) // held open, never answered
			h.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-h.done
		h.mu.Lock()
		for _, c := range h.conns {
			c.Close()
		}
		h.mu.Unlock()
	})
	return h
}

func (h *hungListener) endpoint() string { return "tcp:" + h.ln.Addr().String() }

// freeze stops a real server (SIGSTOP): its socket keeps accepting, nothing
// answers. It is thawed before the server is killed at cleanup.
func (s *realServer) freeze() {
	s.t.Helper()
	p := s.cmd.Process
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("SIGSTOP: %v", err)
	}
	s.t.Cleanup(func() { _ = p.Signal(syscall.SIGCONT) })
}

// lbRows returns the UUIDs of the Load_Balancer rows named name on the
// server behind r.
func lbRows(r *rawClient, name string) []string {
	r.t.Helper()
	var out []string
	for _, row := range r.selectRows(nbdb.LoadBalancerTable, ovsdb.Condition{Column: "name", Function: ovsdb.ConditionEqual, Value: name}) {
		out = append(out, row["_uuid"].(ovsdb.UUID).GoUUID)
	}
	return out
}

// writeUntil applies ops until it succeeds (ErrNotConnected and transport
// errors while the client reconnects are retried, each try bounded by 1 s,
// as the engine's next pass would retry), or fails the test at deadline.
func writeUntil(t *testing.T, nb *NB, deadline time.Time, ch fwdsync.Change) (failures []string) {
	t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := nb.Apply(ctx, ch)
		cancel()
		if err == nil {
			return failures
		}
		if errors.Is(err, ErrConflict) {
			t.Fatalf("write conflicted: %v", err)
		}
		failures = append(failures, err.Error())
		if time.Now().After(deadline) {
			t.Fatalf("write still failing at the deadline after %d attempts; last: %v", len(failures), err)
		}
		time.Sleep(20 * ms)
	}
}

func forwardChange(ops ...fwdsync.Op) fwdsync.Change {
	return fwdsync.Change{Key: fwdsync.ForwardKey{Project: "default", Network: "ovn1", ListenAddress: "198.51.100.1"}, Ops: ops}
}

// The first connect, default configuration, endpoints [hung, good]: the
// client is on the good server within hungDialBound, and writes and reads.
func TestHungEndpointInitialConnect(t *testing.T) {
	s := startRealServer(t, nbSchemaFile())
	raw := rawNB(t, s.endpoint())
	tp := seedTopology(t, raw)
	hung := startHungListener(t)
	eps := []string{hung.endpoint(), s.endpoint()}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	nb, err := DialNB(ctx, Config{Endpoints: eps})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("DialNB %v: after %v: %v", eps, took, err)
	}
	t.Cleanup(nb.Close)
	t.Logf("DialNB %v connected to %s in %v", eps, writerEndpoint(nb), took)
	if hung.accepted.Load() == 0 {
		t.Fatal("the hung endpoint was never tried")
	}
	if took > hungDialBound {
		t.Errorf("DialNB took %v with one hung endpoint ahead, want within %v", took, hungDialBound)
	}
	if ep := writerEndpoint(nb); ep != s.endpoint() {
		t.Fatalf("connected to %s, want %s", ep, s.endpoint())
	}
	if err := apply(t, nb, createOps(tp)...); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if n := len(lbsNamed(nb.Snapshot(), lbName)); n != 1 {
		t.Fatalf("replica has %d rows named %s, want 1", n, lbName)
	}
	if us := lbRows(raw, lbName); len(us) != 1 {
		t.Fatalf("server has %d rows named %s, want 1", len(us), lbName)
	}
}

// With nothing but hung endpoints, DialNB gives up when its context ends,
// and the error names each endpoint that did not answer.
func TestHungEndpointErrorNamesIt(t *testing.T) {
	h1, h2 := startHungListener(t), startHungListener(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err := DialNB(ctx, Config{Endpoints: []string{h1.endpoint(), h2.endpoint()}, ConnectTimeout: time.Second})
	t.Logf("DialNB returned after %v: %v", time.Since(start), err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DialNB = %v, want a deadline error", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("DialNB took %v after its 3 s context", time.Since(start))
	}
	for _, h := range []*hungListener{h1, h2} {
		if !strings.Contains(err.Error(), h.endpoint()+" did not answer") {
			t.Errorf("error does not say that %s did not answer: %v", h.endpoint(), err)
		}
		if h.accepted.Load() == 0 {
			t.Errorf("%s was never tried", h.endpoint())
		}
	}
}

// Connected to a server that is then killed or frozen, with a hung endpoint
// next in the list before a good one: writes work again, on the good one,
// within hungFailoverBound.
func TestHungEndpointOnReconnect(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(eps ...string) Config
		lose func(s *realServer)
	}{
		// The default configuration: a killed server refuses at once.
		{"killed", func(eps ...string) Config { return Config{Endpoints: eps} }, (*realServer).kill},
		// A frozen server is noticed by the echo probe.
		{"frozen", hungProbeConfig, (*realServer).freeze},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := startRealServer(t, nbSchemaFile()), startRealServer(t, nbSchemaFile())
			tpA := seedTopology(t, rawNB(t, a.endpoint()))
			rawB := rawNB(t, b.endpoint())
			tpB := seedTopology(t, rawB)
			hung := startHungListener(t)
			eps := []string{a.endpoint(), hung.endpoint(), b.endpoint()}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			nb, err := DialNB(ctx, tc.cfg(eps...))
			if err != nil {
				t.Fatalf("DialNB %v: %v", eps, err)
			}
			t.Cleanup(nb.Close)
			if ep := writerEndpoint(nb); ep != a.endpoint() {
				t.Fatalf("connected to %s, want the first endpoint %s", ep, a.endpoint())
			}
			if err := apply(t, nb, createOps(tpA)...); err != nil {
				t.Fatalf("Apply on a: %v", err)
			}
			var reconnects atomic.Int32
			nb.OnReconnect(func() { reconnects.Add(1) })

			lost := time.Now()
			tc.lose(a)
			failures := writeUntil(t, nb, lost.Add(30*time.Second), forwardChange(createOps(tpB)...))
			wrote := time.Since(lost)
			t.Logf("server %s: write succeeded on %s %v later; failures before: %s",
				tc.name, writerEndpoint(nb), wrote, summarize(failures))
			if hung.accepted.Load() == 0 {
				t.Fatal("the hung endpoint was never tried")
			}
			if wrote > hungFailoverBound {
				t.Errorf("write succeeded %v after the server was %s, want within %v", wrote, tc.name, hungFailoverBound)
			}
			if ep := writerEndpoint(nb); ep != b.endpoint() {
				t.Fatalf("writer on %s, want %s", ep, b.endpoint())
			}
			if us := lbRows(rawB, lbName); len(us) != 1 {
				t.Fatalf("b has %d rows named %s, want 1", len(us), lbName)
			}
			// The replica is b's: b's router, with the new row attached.
			st := nb.Snapshot()
			lbs := lbsNamed(st, lbName)
			if len(lbs) != 1 || !slices.Contains(routerByUUID(st, tpB.router).LoadBalancers, lbs[0].UUID) {
				t.Fatalf("replica after the reconnect: rows %+v, router %+v", lbs, routerByUUID(st, tpB.router))
			}
			eventually(t, "OnReconnect", func() bool { return reconnects.Load() >= 1 })
		})
	}
}

// A 3-member Raft NB cluster, a follower frozen and listed first: the
// writer reaches the leader and writes within hungDialBound. Then, the
// follower thawed, the leader is frozen: the writer moves to the new leader
// and writes within hungFailoverBound of the freeze.
func TestRaftFrozenMembers(t *testing.T) {
	b := startRaftBed(t, 2)
	leader := b.leader()
	fs := b.followers(leader)
	f1, f2 := fs[0], fs[1]
	b.stop(f1)
	t.Logf("%s follower %s frozen (SIGSTOP)", clock(time.Now()), f1.name)

	eps := endpointsOf(f1, f2, leader)
	cfg := hungProbeConfig(eps...)
	cfg.Logger = raftLogger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	nb, err := DialNB(ctx, cfg)
	if err != nil {
		t.Fatalf("DialNB %v after %v: %v", eps, time.Since(start), err)
	}
	t.Cleanup(nb.Close)
	dialed := time.Since(start)
	if ep := writerEndpoint(nb); ep != leader.endpoint() {
		t.Fatalf("writer given %v connected to %s, want the leader %s", eps, ep, leader.endpoint())
	}
	plan := b.plan(nb, nil)
	if len(plan) != 2 {
		t.Fatalf("plan has %d changes, want 2", len(plan))
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	err = nb.Apply(ctx, plan[0])
	cancel()
	wrote := time.Since(start)
	if err != nil {
		t.Fatalf("write with %s frozen: %v", f1.name, err)
	}
	t.Logf("%s frozen and first: connected to the leader %s in %v, wrote after %v", f1.name, leader.name, dialed, wrote)
	if wrote > hungDialBound {
		t.Errorf("first write %v after DialNB began, with a frozen member first, want within %v", wrote, hungDialBound)
	}
	if p := b.view(leader).problems(createdNames(plan[:1])); len(p) > 0 {
		t.Fatalf("on the leader: %v", p)
	}

	// Thaw f1 (without a majority no leader can follow) and let it catch
	// up, then freeze the leader.
	b.cont(f1)
	eventually(t, f1.name+" to rejoin and catch up", func() bool {
		st, err := serverStatus(f1.endpoint())
		return err == nil && st.Connected && len(b.view(f1).problems(createdNames(plan[:1]))) == 0
	})
	frozen := time.Now()
	b.stop(leader)
	t.Logf("%s leader %s frozen (SIGSTOP)", clock(frozen), leader.name)
	failures := writeUntil(t, nb, frozen.Add(30*time.Second), plan[1])
	wrote = time.Since(frozen)
	newLeader := b.leader()
	t.Logf("leader %s frozen: write succeeded on %s %v later (new leader %s); failures before: %s",
		leader.name, writerEndpoint(nb), wrote, newLeader.name, summarize(failures))
	if wrote > hungFailoverBound {
		t.Errorf("write succeeded %v after the leader was frozen, want within %v", wrote, hungFailoverBound)
	}
	if ep := writerEndpoint(nb); ep != newLeader.endpoint() {
		t.Errorf("writer on %s, want the new leader %s", ep, newLeader.endpoint())
	}
	if p := b.view(newLeader).problems(createdNames(plan)); len(p) > 0 {
		t.Fatalf("on the new leader: %v", p)
	}
	b.checkNoDuplicates(newLeader, "the end")
}

// The order of attempts: rounds of every endpoint once, starting after the
// endpoint last handed over, those that did not answer their last probe at
// the end; the backoff only between rounds; a probe that fails fast
// (refused) still hands the endpoint over, for the client's own error.
func TestEndpointPickerRounds(t *testing.T) {
	hung := map[string]bool{"b": true}
	refused := map[string]bool{}
	var probed []string
	p := newEndpointPicker([]string{"a", "b", "c"}, 50*ms, logr.Discard(), func(ctx context.Context, ep string) error {
		probed = append(probed, ep)
		if hung[ep] {
			<-ctx.Done()
			return errors.New("listdbs failure - context deadline exceeded")
		}
		if refused[ep] {
			return errors.New("connection refused")
		}
		return nil
	})
	waits := 0
	wait := func() bool { waits++; return true }
	ctx := context.Background()
	step := func(want string, wantProbed []string, wantWaits int) {
		t.Helper()
		probed = nil
		ep, err := p.next(ctx, wait)
		if err != nil || ep != want || !slices.Equal(probed, wantProbed) || waits != wantWaits {
			t.Fatalf("next = %q, %v after probing %v, %d waits; want %q after %v, %d waits",
				ep, err, probed, waits, want, wantProbed, wantWaits)
		}
	}

	p.restart()
	step("a", []string{"a"}, 0)
	p.record(errors.New("a: endpoint is not leader"))
	step("c", []string{"b", "c"}, 0) // b costs the endpoint timeout
	p.record(errors.New("c: endpoint is not leader"))
	// Round used up: one wait; the next round starts after c, b last.
	step("a", []string{"a"}, 1)
	p.record(errors.New("a: endpoint is not leader"))
	step("c", []string{"c"}, 1)
	p.record(nil)
	if got := p.lastErrors(); got != "a: endpoint is not leader; b did not answer within 50ms" {
		t.Fatalf("lastErrors = %q", got)
	}

	// Connected to c, which is then lost: a reconnect starts after c, b
	// (still marked) last; b answers again and is handed over.
	delete(hung, "b")
	p.restart()
	refused["a"] = true
	step("a", []string{"a"}, 1) // refused: handed over all the same
	p.record(errors.New("a: connection refused"))
	step("c", []string{"c"}, 1)
	p.record(errors.New("c: connection refused"))
	step("b", []string{"b"}, 1)
	p.record(nil)

	// A server that stopped answering while connected goes last.
	p.markHung("a")
	p.restart()
	refused["a"] = false
	step("c", []string{"c"}, 1)

	// The context ends: next returns its error.
	hung["a"], hung["b"], hung["c"] = true, true, true
	cctx, cancel := context.WithTimeout(ctx, 120*ms)
	defer cancel()
	if ep, err := p.next(cctx, func() bool { <-cctx.Done(); return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("next with every endpoint hung = %q, %v; want a deadline error", ep, err)
	}
}
