package lxdwatch

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// watching runs Watch in the background; stop cancels it and waits.
type watching struct {
	c    *Client
	out  chan Event
	stop func()
}

func startWatch(t *testing.T, c *Client) *watching {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Event, 16)
	done := make(chan error, 1)
	go func() { done <- c.Watch(ctx, out) }()
	w := &watching{c: c, out: out}
	w.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Watch did not stop on cancel")
		}
	}
	t.Cleanup(func() {
		select {
		case <-ctx.Done():
		default:
			w.stop()
		}
	})
	return w
}

func (w *watching) next(t *testing.T, timeout time.Duration) Event {
	t.Helper()
	select {
	case ev := <-w.out:
		return ev
	case <-time.After(timeout):
		t.Fatalf("no event within %s", timeout)
		return Event{}
	}
}

func (w *watching) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-w.out:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(d):
	}
}

func TestWatchResyncAndEvents(t *testing.T) {
	f := newFakeLXD(t)
	c := f.connect(t, nil)
	w := startWatch(t, c)

	if ev := w.next(t, 2*time.Second); ev.Kind != KindResync || ev.Received.IsZero() {
		t.Fatalf("first event %+v, want a Resync", ev)
	}
	if !f.waitAccepted(1, time.Second) || !c.Connected() {
		t.Fatal("not connected")
	}

	f.emit(lifecycle("instance-started", "/1.0/instances/c1", "default")) // ignored
	f.emit(lifecycle("network-forward-created", "/1.0/networks/ovn1/forwards/2001:db8:0::10?project=tenant", "tenant"))
	ev := w.next(t, 2*time.Second)
	want := fwdsync.ForwardKey{Project: "tenant", Network: "ovn1", ListenAddress: "2001:db8::10"}
	if ev.Kind != KindForward || ev.Action != "network-forward-created" || ev.Key != want || ev.Received.IsZero() {
		t.Errorf("event %+v, want forward %v", ev, want)
	}
	w.none(t, 100*time.Millisecond)
	w.stop()
	if c.Connected() {
		t.Error("Connected after Watch returned")
	}
}

func TestWatchCoalesces(t *testing.T) {
	f := newFakeLXD(t)
	c := f.connect(t, func(cfg *Config) { cfg.CoalesceWindow = 100 * time.Millisecond })
	w := startWatch(t, c)
	w.next(t, 2*time.Second) // Resync
	f.waitAccepted(1, time.Second)

	// A three-member cluster re-emits each event once per member.
	fwd := lifecycle("network-forward-updated", "/1.0/networks/ovn1/forwards/192.0.2.1", "default")
	other := lifecycle("network-forward-updated", "/1.0/networks/ovn1/forwards/192.0.2.2", "default")
	sent := time.Now()
	f.emit(fwd)
	f.emit(other)
	f.emit(fwd)
	f.emit(fwd)
	f.emit(other)

	a, b := w.next(t, 2*time.Second), w.next(t, 2*time.Second)
	if a.Key.ListenAddress != "192.0.2.1" || b.Key.ListenAddress != "192.0.2.2" {
		t.Errorf("got %v then %v, want .1 then .2 (arrival order)", a.Key, b.Key)
	}
	if d := time.Since(sent); d < 100*time.Millisecond {
		t.Errorf("delivered after %s, before the window closed", d)
	}
	w.none(t, 300*time.Millisecond)
	if n := c.Coalesced(); n != 3 {
		t.Errorf("Coalesced = %d, want 3", n)
	}

	// After the window, the same event is delivered again.
	f.emit(fwd)
	if ev := w.next(t, 2*time.Second); ev.Key.ListenAddress != "192.0.2.1" {
		t.Errorf("event %+v", ev)
	}
}

func TestWatchCoalescingDisabled(t *testing.T) {
	f := newFakeLXD(t)
	c := f.connect(t, func(cfg *Config) { cfg.CoalesceWindow = -1 })
	w := startWatch(t, c)
	w.next(t, 2*time.Second)
	f.waitAccepted(1, time.Second)
	ev := lifecycle("cluster-member-updated", "/1.0/cluster/members/node1", "default")
	f.emit(ev)
	f.emit(ev)
	for i := 0; i < 2; i++ {
		if got := w.next(t, 2*time.Second); got.Kind != KindMember || got.Member != "node1" {
			t.Errorf("event %+v", got)
		}
	}
}

func TestWatchReconnects(t *testing.T) {
	f := newFakeLXD(t)
	c := f.connect(t, nil)
	w := startWatch(t, c)
	w.next(t, 2*time.Second) // Resync
	f.waitAccepted(1, time.Second)

	f.dropAll() // LXD restarts
	if ev := w.next(t, 3*time.Second); ev.Kind != KindResync {
		t.Fatalf("after reconnect got %+v, want a Resync", ev)
	}
	if !f.waitAccepted(2, time.Second) {
		t.Fatal("no second connection")
	}
	if n := c.Reconnects(); n != 1 {
		t.Errorf("Reconnects = %d, want 1", n)
	}
	f.emit(lifecycle("network-deleted", "/1.0/networks/ovn1", "default"))
	if ev := w.next(t, 2*time.Second); ev.Kind != KindNetwork || ev.Network.Name != "ovn1" {
		t.Errorf("event after reconnect %+v", ev)
	}
}

func TestWatchRetriesWhileDown(t *testing.T) {
	f := newFakeLXD(t)
	c := f.connect(t, nil)
	f.refuseEvents.Store(3) // the events endpoint fails three times
	start := time.Now()
	w := startWatch(t, c)
	if ev := w.next(t, 3*time.Second); ev.Kind != KindResync {
		t.Fatalf("got %+v, want a Resync", ev)
	}
	// Backoff 20ms, 40ms, 80ms before the fourth attempt.
	if d := time.Since(start); d < 140*time.Millisecond {
		t.Errorf("connected after %s: no backoff", d)
	}
	if f.refused.Load() != 3 || c.Reconnects() != 0 {
		t.Errorf("refused %d, reconnects %d; want 3, 0", f.refused.Load(), c.Reconnects())
	}
}

func TestWatchDetectsSilentServer(t *testing.T) {
	f := newFakeLXD(t)
	f.noRead = true // neither pings nor answers our pings: a dead peer
	c := f.connect(t, func(cfg *Config) { cfg.IdleTimeout = 300 * time.Millisecond })
	w := startWatch(t, c)
	w.next(t, 2*time.Second) // Resync
	start := time.Now()
	if ev := w.next(t, 3*time.Second); ev.Kind != KindResync {
		t.Fatalf("got %+v, want a Resync after the idle timeout", ev)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
		t.Errorf("dead stream detected after %s, want about 300ms", d)
	}
	if c.Reconnects() < 1 {
		t.Error("no reconnect counted")
	}
}

func TestWatchKeepsHealthyStream(t *testing.T) {
	t.Run("server pings, never reads", func(t *testing.T) {
		f := newFakeLXD(t)
		f.noRead = true
		f.pingEvery = 50 * time.Millisecond
		c := f.connect(t, func(cfg *Config) { cfg.IdleTimeout = 300 * time.Millisecond })
		w := startWatch(t, c)
		w.next(t, 2*time.Second)
		w.none(t, time.Second)
		if c.Reconnects() != 0 || !c.Connected() {
			t.Errorf("stream dropped: reconnects %d", c.Reconnects())
		}
	})
	t.Run("client answers pings", func(t *testing.T) {
		f := newFakeLXD(t)
		f.pingEvery = 20 * time.Millisecond
		c := f.connect(t, nil)
		w := startWatch(t, c)
		w.next(t, 2*time.Second)
		deadline := time.Now().Add(2 * time.Second)
		for f.pongs.Load() < 2 {
			if time.Now().After(deadline) {
				t.Fatal("the client does not answer LXD's pings (LXD drops it after 3 unanswered)")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Run("server answers our pings, never pings", func(t *testing.T) {
		f := newFakeLXD(t)
		c := f.connect(t, func(cfg *Config) { cfg.IdleTimeout = 300 * time.Millisecond })
		w := startWatch(t, c)
		w.next(t, 2*time.Second)
		w.none(t, time.Second)
		if c.Reconnects() != 0 || !c.Connected() {
			t.Errorf("stream dropped: reconnects %d", c.Reconnects())
		}
	})
}

func TestWatchStopsWithoutLeaks(t *testing.T) {
	f := newFakeLXD(t)
	f.pingEvery = 20 * time.Millisecond
	c := f.connect(t, nil)
	base := runtime.NumGoroutine()

	for i := 0; i < 3; i++ {
		w := startWatch(t, c)
		w.next(t, 2*time.Second)
		f.emit(lifecycle("network-forward-created", "/1.0/networks/ovn1/forwards/192.0.2.1", "default"))
		time.Sleep(5 * time.Millisecond) // the event is pending in the coalescer
		w.stop()
	}

	// Also stop while the consumer does not read.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Watch(ctx, make(chan Event)) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Watch blocked on a full channel did not stop")
	}

	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWatchNeedsChannel(t *testing.T) {
	f := newFakeLXD(t)
	c := f.connect(t, nil)
	if err := c.Watch(context.Background(), nil); err == nil {
		t.Error("Watch accepted a nil channel")
	}
}

func TestHTTPS(t *testing.T) {
	f, cfg := newFakeLXDHTTPS(t)
	f.addNetwork("default", "ovn1", "ovn", nil)
	f.addForward("default", "ovn1", fwd("192.0.2.1", "10.0.0.1"))
	ctx := context.Background()
	c, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	st, err := c.List(ctx)
	if err != nil || len(st.Forwards) != 1 {
		t.Fatalf("List: %+v, %v", st.Forwards, err)
	}
	w := startWatch(t, c)
	if ev := w.next(t, 3*time.Second); ev.Kind != KindResync {
		t.Fatalf("got %+v, want Resync over wss", ev)
	}
	f.waitAccepted(1, time.Second)
	f.emit(lifecycle("network-forward-deleted", "/1.0/networks/ovn1/forwards/192.0.2.1", "default"))
	if ev := w.next(t, 2*time.Second); ev.Kind != KindForward {
		t.Errorf("got %+v over wss", ev)
	}

	t.Run("untrusted", func(t *testing.T) {
		f.mu.Lock()
		f.server.Auth = "untrusted"
		f.mu.Unlock()
		defer func() { f.mu.Lock(); f.server.Auth = "trusted"; f.mu.Unlock() }()
		_, err := Connect(ctx, cfg)
		t.Log(err)
		if err == nil || !strings.Contains(err.Error(), "trust") {
			t.Errorf("untrusted client: %v", err)
		}
	})
	t.Run("wrong server certificate", func(t *testing.T) {
		_, other := newFakeLXDHTTPS(t)
		bad := cfg
		bad.ServerCert = other.ServerCert
		_, err := Connect(ctx, bad)
		t.Log(err)
		if err == nil || !strings.Contains(err.Error(), cfg.URL) {
			t.Errorf("wrong server certificate: %v", err)
		}
	})
}
