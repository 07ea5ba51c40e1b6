package ovn

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
)

const ms = time.Millisecond

// fastLockConfig is a LockConfig with short probes, for tests.
func fastLockConfig(t testing.TB, eps ...string) LockConfig {
	return LockConfig{
		Endpoints:     eps,
		Name:          "ovnfwd_writer",
		Logger:        testr.NewWithInterface(t, testr.Options{Verbosity: 1}),
		ProbeInterval: 100 * ms,
		ProbeTimeout:  400 * ms,
		MaxBackoff:    200 * ms,
	}
}

// runningLock is a Lock whose Run runs in the background.
type runningLock struct {
	*Lock
	name   string
	cancel context.CancelFunc
	done   chan struct{}
}

// startLock runs a Lock until stop or the end of the test; the test fails if
// Run does not return promptly after its context ends.
func startLock(t testing.TB, name string, cfg LockConfig) *runningLock {
	t.Helper()
	l, err := NewLock(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningLock{Lock: l, name: name, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := l.Run(ctx); err != nil {
			t.Errorf("%s: Run: %v", name, err)
		}
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it to return.
func (r *runningLock) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		t.Errorf("%s: Run did not return after cancel", r.name)
	}
	if r.Held() {
		t.Errorf("%s: still held after Run returned", r.name)
	}
}

// waitFor polls cond every millisecond and returns how long it took; it
// fails the test after timeout.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(ms)
	}
}

// holders returns the locks that hold now.
func holders(locks ...*runningLock) []*runningLock {
	var out []*runningLock
	for _, l := range locks {
		if l.Held() {
			out = append(out, l)
		}
	}
	return out
}

// exactlyOne waits until exactly one of locks holds, checks that it keeps
// holding alone for a while and returns it.
func exactlyOne(t testing.TB, timeout time.Duration, locks ...*runningLock) *runningLock {
	t.Helper()
	waitFor(t, "a holder", timeout, func() bool { return len(holders(locks...)) > 0 })
	h := holders(locks...)
	if len(h) != 1 {
		t.Fatalf("%d holders", len(h))
	}
	for end := time.Now().Add(300 * ms); time.Now().Before(end); time.Sleep(5 * ms) {
		if got := holders(locks...); len(got) != 1 || got[0] != h[0] {
			t.Fatalf("holders changed to %d", len(got))
		}
	}
	return h[0]
}

// overlapMonitor samples Held of all locks every millisecond and records any
// moment at which two held the lock. A sample reads all locks forwards, then
// backwards: i < j overlapped if i held before and after j was seen holding.
type overlapMonitor struct {
	stopc chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	found []string
	n     int
}

func watchOverlap(t testing.TB, locks ...*runningLock) *overlapMonitor {
	m := &overlapMonitor{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		fwd := make([]bool, len(locks))
		bwd := make([]bool, len(locks))
		for {
			select {
			case <-m.stopc:
				return
			default:
			}
			for i, l := range locks {
				fwd[i] = l.Held()
			}
			for i := len(locks) - 1; i >= 0; i-- {
				bwd[i] = locks[i].Held()
			}
			m.mu.Lock()
			m.n++
			for i := range locks {
				for j := i + 1; j < len(locks); j++ {
					if fwd[i] && fwd[j] && bwd[i] {
						m.found = append(m.found, locks[i].name+"+"+locks[j].name+" at "+time.Now().Format("15:04:05.000000"))
					}
				}
			}
			m.mu.Unlock()
			time.Sleep(ms)
		}
	}()
	t.Cleanup(func() { m.check(t) })
	return m
}

// check stops the monitor (once) and fails the test on overlap.
func (m *overlapMonitor) check(t testing.TB) {
	t.Helper()
	select {
	case <-m.stopc:
	default:
		close(m.stopc)
	}
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.found) > 0 {
		t.Errorf("two holders at once (%d of %d samples): %s", len(m.found), m.n, strings.Join(m.found[:min(5, len(m.found))], "; "))
	}
}

func TestNewLockValidates(t *testing.T) {
	good := LockConfig{Endpoints: []string{"unix:/run/ovn/ovnnb_db.sock"}, Name: "ovnfwd_writer"}
	l, err := NewLock(good)
	if err != nil {
		t.Fatal(err)
	}
	c := l.cfg
	if c.Database != "OVN_Northbound" || c.ProbeInterval != time.Second || c.ProbeTimeout != 2*time.Second ||
		c.TakeoverDelay != 2*time.Second || c.ConnectTimeout != 5*time.Second || c.MaxBackoff != 2*time.Second {
		t.Errorf("defaults: %+v", c)
	}
	if l.Held() || l.Endpoint() != "" {
		t.Error("a new lock holds")
	}
	neg := good
	neg.TakeoverDelay = -1
	if l, err := NewLock(neg); err != nil || l.cfg.TakeoverDelay != 0 {
		t.Errorf("negative takeover delay: %v %v", err, l)
	}
	for name, mod := range map[string]func(*LockConfig){
		"no endpoints":   func(c *LockConfig) { c.Endpoints = nil },
		"passive":        func(c *LockConfig) { c.Endpoints = []string{"ptcp:6641"} },
		"bad endpoint":   func(c *LockConfig) { c.Endpoints = []string{"tcp:1.2.3.4"} },
		"empty name":     func(c *LockConfig) { c.Name = "" },
		"bad name":       func(c *LockConfig) { c.Name = "ovnfwd-writer" },
		"digit first":    func(c *LockConfig) { c.Name = "1lock" },
		"timeout<=probe": func(c *LockConfig) { c.ProbeInterval, c.ProbeTimeout = time.Second, time.Second },
		"ssl without CA": func(c *LockConfig) { c.Endpoints = []string{"ssl:127.0.0.1:6641"} },
	} {
		cfg := good
		mod(&cfg)
		if _, err := NewLock(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// fakeServer speaks just enough OVSDB for the lock client: _Server monitor,
// lock, unlock and echo, with a scripted _Server row and lock answer. It
// exercises what the real server cannot be made to do on demand (leadership
// moving away, "stolen", relays).
type fakeServer struct {
	t  testing.TB
	ln net.Listener
	ep string

	mu        sync.Mutex
	model     string
	leader    bool
	connected bool
	grant     bool   // answer to "lock"
	mute      bool   // answer nothing at all
	ignore    string // a method not to answer
	sessions  []*fakeSession
	newSess   chan *fakeSession
	lockCount atomic.Int32
}

type fakeSession struct {
	s      *fakeServer
	c      net.Conn
	wmu    sync.Mutex
	closed chan struct{}
	mu     sync.Mutex
	got    []string // methods received
	reply  map[string]json.RawMessage
}

func startFakeServer(t testing.TB, model string, leader bool) *fakeServer {
	t.Helper()
	sock := filepath.Join(sockDir(t), "fake.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{t: t, ln: ln, ep: "unix:" + sock, model: model, leader: leader, connected: true,
		grant: true, newSess: make(chan *fakeSession, 16)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s := &fakeSession{s: f, c: c, closed: make(chan struct{}), reply: map[string]json.RawMessage{}}
			f.mu.Lock()
			f.sessions = append(f.sessions, s)
			f.mu.Unlock()
			f.newSess <- s
			wg.Add(1)
			go func() { defer wg.Done(); s.serve() }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, s := range f.sessions {
			s.c.Close()
		}
		f.mu.Unlock()
		wg.Wait()
	})
	return f
}

func (f *fakeServer) row() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return map[string]any{"name": "OVN_Northbound", "model": f.model, "connected": f.connected, "leader": f.leader}
}

func (f *fakeServer) ignoreMethod() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ignore
}

// nextSession waits for the next client connection.
func (f *fakeServer) nextSession() *fakeSession {
	f.t.Helper()
	select {
	case s := <-f.newSess:
		return s
	case <-time.After(5 * time.Second):
		f.t.Fatal("no client connected")
		return nil
	}
}

func (s *fakeSession) send(v any) {
	b, _ := json.Marshal(v)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, _ = s.c.Write(b)
}

func (s *fakeSession) serve() {
	defer close(s.closed)
	dec := json.NewDecoder(s.c)
	for {
		var m rpcMsg
		if err := dec.Decode(&m); err != nil {
			return
		}
		s.mu.Lock()
		if m.Method != "" {
			s.got = append(s.got, m.Method)
		} else {
			s.reply[string(m.ID)] = m.Result
		}
		s.mu.Unlock()
		f := s.s
		f.mu.Lock()
		mute := f.mute
		f.mu.Unlock()
		if mute || m.Method == f.ignoreMethod() {
			continue
		}
		switch m.Method {
		case "monitor":
			s.send(map[string]any{"id": m.ID, "error": nil, "result": map[string]any{
				"Database": map[string]any{"3c0e2f4a-0000-4000-8000-000000000001": map[string]any{"new": f.row()}},
			}})
		case "lock":
			f.lockCount.Add(1)
			f.mu.Lock()
			g := f.grant
			f.mu.Unlock()
			s.send(map[string]any{"id": m.ID, "error": nil, "result": map[string]any{"locked": g}})
		case "unlock":
			s.send(map[string]any{"id": m.ID, "error": nil, "result": map[string]any{}})
		case "echo":
			s.send(map[string]any{"id": m.ID, "error": nil, "result": m.Params})
		}
	}
}

// methods returns the methods the client sent on this session.
func (s *fakeSession) methods() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func (s *fakeSession) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// pushRow sends the current _Server row as an update.
func (s *fakeSession) pushRow() {
	s.send(map[string]any{"id": nil, "method": "update", "params": []any{lockServerMonitor, map[string]any{
		"Database": map[string]any{"3c0e2f4a-0000-4000-8000-000000000001": map[string]any{"new": s.s.row()}},
	}}})
}

func (s *fakeSession) notify(method string) {
	s.send(map[string]any{"id": nil, "method": method, "params": []any{"ovnfwd_writer"}})
}

func TestLockFakeLeaderOnly(t *testing.T) {
	follower := startFakeServer(t, "clustered", false)
	relay := startFakeServer(t, "relay", false)
	leader := startFakeServer(t, "clustered", true)
	cfg := fastLockConfig(t, follower.ep, relay.ep, leader.ep)
	cfg.TakeoverDelay = -1
	l := startLock(t, "l", cfg)
	waitFor(t, "lock held via the leader", 3*time.Second, l.Held)
	if l.Endpoint() != leader.ep {
		t.Errorf("holding via %s, want the leader %s", l.Endpoint(), leader.ep)
	}
	if n := follower.lockCount.Load() + relay.lockCount.Load(); n != 0 {
		t.Errorf("%d lock requests sent to a follower or relay", n)
	}
	fs := follower.nextSession()
	waitFor(t, "follower session closed", time.Second, fs.isClosed)

	// Leadership moves away: the holder gives up at once and the session
	// ends, which releases the lock on that server.
	ls := leader.nextSession()
	leader.mu.Lock()
	leader.leader = false
	leader.mu.Unlock()
	start := time.Now()
	ls.pushRow()
	d := waitFor(t, "lock dropped after leadership loss", time.Second, func() bool { return !l.Held() })
	waitFor(t, "session to the old leader closed", time.Second, ls.isClosed)
	t.Logf("dropped %v and disconnected %v after the _Server update", d, time.Since(start))
	// Back to leader: the client finds it again.
	leader.mu.Lock()
	leader.leader = true
	leader.mu.Unlock()
	waitFor(t, "lock held again", 3*time.Second, l.Held)
}

func TestLockFakeTakeoverDelay(t *testing.T) {
	f := startFakeServer(t, "standalone", true)
	cfg := fastLockConfig(t, f.ep)
	cfg.TakeoverDelay = 300 * ms
	l := startLock(t, "l", cfg)
	s := f.nextSession()
	waitFor(t, "lock requested", time.Second, func() bool { return f.lockCount.Load() == 1 })
	granted := time.Now()
	took := waitFor(t, "held after the takeover delay", 2*time.Second, l.Held)
	if since := time.Since(granted); since < 250*ms {
		t.Errorf("held %v after an immediate grant, want >= the 300ms takeover delay", since)
	}
	select {
	case v := <-l.Changes():
		if !v {
			t.Error("Changes reported false")
		}
	case <-time.After(time.Second):
		t.Error("no change reported")
	}
	t.Logf("immediate grant counted as held after %v", took)

	// Stolen: not held; "locked" hands it back without a delay (the server
	// saw the previous owner go).
	s.notify("stolen")
	waitFor(t, "not held after stolen", time.Second, func() bool { return !l.Held() })
	s.notify("locked")
	d := waitFor(t, "held after locked", time.Second, l.Held)
	t.Logf("held %v after the locked notification", d)
	if strings.Join(s.methods(), ",") != "monitor,lock"+strings.Repeat(",echo", len(s.methods())-2) {
		t.Errorf("methods sent: %v", s.methods())
	}

	// Run ends: unlock, then close.
	l.stop(t)
	waitFor(t, "session closed", time.Second, s.isClosed)
	if m := s.methods(); m[len(m)-1] != "unlock" {
		t.Errorf("last method %q, want unlock", m[len(m)-1])
	}
}

func TestLockFakeWaitsForLocked(t *testing.T) {
	f := startFakeServer(t, "standalone", true)
	f.grant = false
	l := startLock(t, "l", fastLockConfig(t, f.ep))
	s := f.nextSession()
	waitFor(t, "lock requested", time.Second, func() bool { return f.lockCount.Load() == 1 })
	time.Sleep(200 * ms)
	if l.Held() {
		t.Fatal("held although the server said locked:false")
	}
	s.notify("locked")
	d := waitFor(t, "held after locked", time.Second, l.Held)
	t.Logf("held %v after the locked notification", d)
}

func TestLockFakeEcho(t *testing.T) {
	f := startFakeServer(t, "standalone", true)
	cfg := fastLockConfig(t, f.ep)
	cfg.TakeoverDelay = -1
	l := startLock(t, "l", cfg)
	s := f.nextSession()
	waitFor(t, "held", time.Second, l.Held)

	// The server's own echo request is answered.
	s.send(map[string]any{"method": "echo", "params": []any{"ping", 7}, "id": "srv-echo"})
	waitFor(t, "echo answered", time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		r, ok := s.reply[`"srv-echo"`]
		return ok && string(r) == `["ping",7]`
	})

	// The server stops answering: the holder gives up within ProbeTimeout
	// of the last answered request, which was sent before the server went
	// silent, and closes the session. Held reads the clock, so this holds
	// however late this goroutine checks.
	f.mu.Lock()
	f.mute = true
	f.mu.Unlock()
	muted := time.Now()
	d := waitFor(t, "lease expired", 2*time.Second, func() bool { return !l.Held() })
	time.Sleep(time.Until(muted.Add(l.cfg.ProbeTimeout)))
	if l.Held() {
		t.Errorf("held %v after the server went silent, want false after ProbeTimeout (%v)", time.Since(muted), l.cfg.ProbeTimeout)
	}
	waitFor(t, "session closed", 2*time.Second, s.isClosed)
	t.Logf("silent server: not held after %v (polled), session closed after %v", d, time.Since(muted))
	// A new session is granted the lock again (after un-muting).
	f.mu.Lock()
	f.mute = false
	f.mu.Unlock()
	waitFor(t, "held again on a new session", 3*time.Second, l.Held)
	if f.lockCount.Load() < 2 {
		t.Errorf("held again without a new lock request")
	}
}

// A server that answers echoes but not the handshake is given up within
// ProbeTimeout, and the next endpoint is used.
func TestLockFakeHandshakeTimeout(t *testing.T) {
	stuck := startFakeServer(t, "standalone", true)
	stuck.ignore = "monitor"
	good := startFakeServer(t, "standalone", true)
	cfg := fastLockConfig(t, stuck.ep, good.ep)
	cfg.TakeoverDelay = -1
	l := startLock(t, "l", cfg)
	d := waitFor(t, "held via the second server", 3*time.Second, l.Held)
	if l.Endpoint() != good.ep {
		t.Errorf("holding via %s", l.Endpoint())
	}
	if d < l.cfg.ProbeTimeout {
		t.Errorf("held after %v, before the stuck server's handshake could time out", d)
	}
	t.Logf("stuck handshake given up, held via the next server after %v", d)
}

// Run leaves no goroutine behind when its context ends.
func TestLockRunNoLeak(t *testing.T) {
	f := startFakeServer(t, "standalone", true)
	before := runtime.NumGoroutine()
	cfg := fastLockConfig(t, f.ep)
	cfg.TakeoverDelay = -1
	l, err := NewLock(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	s := f.nextSession()
	waitFor(t, "held", 2*time.Second, l.Held)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	waitFor(t, "fake session closed", time.Second, s.isClosed)
	// The fake's session goroutine ends with the connection; Run's must
	// all be gone.
	waitFor(t, "goroutines back to "+strconv.Itoa(before), 2*time.Second, func() bool { return runtime.NumGoroutine() <= before })
	select {
	case v := <-l.Changes():
		if v {
			t.Error("last change reported is true after Run returned")
		}
	default:
		t.Error("no change reported")
	}
}

func TestLockRunTwice(t *testing.T) {
	f := startFakeServer(t, "standalone", true)
	l := startLock(t, "l", fastLockConfig(t, f.ep))
	f.nextSession()
	if err := l.Run(context.Background()); err == nil {
		t.Error("second Run accepted")
	}
}

// The takeover rules of a session end: only the last holder that heard its
// server go skips the delay, only a non-holder that heard it defers its
// "lock", and both only within lastHolderWindow.
func TestSessionEndRules(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		name         string
		e            sessionEnd
		skip, defers bool
	}{
		{"holder heard the close", sessionEnd{at: now.Add(-time.Second), heard: true, holder: true}, true, false},
		{"holder's lease ran out (silent cut)", sessionEnd{at: now.Add(-time.Second), holder: true}, false, false},
		{"standby heard the close", sessionEnd{at: now.Add(-time.Second), heard: true}, false, true},
		{"standby, silent", sessionEnd{at: now.Add(-time.Second)}, false, false},
		{"holder heard, long ago", sessionEnd{at: now.Add(-lastHolderWindow), heard: true, holder: true}, false, false},
		{"standby heard, long ago", sessionEnd{at: now.Add(-lastHolderWindow), heard: true}, false, false},
		{"no session yet", sessionEnd{}, false, false},
	} {
		if got := c.e.skipsTakeover(now); got != c.skip {
			t.Errorf("%s: skipsTakeover = %v, want %v", c.name, got, c.skip)
		}
		if got := c.e.defersLock(now); got != c.defers {
			t.Errorf("%s: defersLock = %v, want %v", c.name, got, c.defers)
		}
	}
}
