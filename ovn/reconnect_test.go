package ovn

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

func TestReconnectBackOffNeverGivesUp(t *testing.T) {
	b := newReconnectBackOff()
	if b.MaxElapsedTime != 0 {
		t.Fatalf("MaxElapsedTime = %v, want 0 (never stop)", b.MaxElapsedTime)
	}
	// Pretend a long outage has passed: a non-zero MaxElapsedTime would stop.
	b.Clock = clockAt(time.Now().Add(24 * time.Hour))
	for i := 0; i < 1000; i++ {
		d := b.NextBackOff()
		if d == backoff.Stop {
			t.Fatalf("backoff stopped after %d attempts", i)
		}
		if d > time.Duration(float64(b.MaxInterval)*(1+b.RandomizationFactor)) {
			t.Fatalf("interval %v above the cap", d)
		}
	}
}

type clockAt time.Time

func (c clockAt) Now() time.Time { return time.Time(c) }

// appctl runs ovs-appctl against the test's ovsdb-server.
func (s *realServer) appctl(args ...string) string {
	s.t.Helper()
	bin := findBinary("ovs-appctl")
	if bin == "" {
		missingTool(s.t, "ovs-appctl not installed")
	}
	out, err := exec.Command(bin, append([]string{"-t", filepath.Join(s.dir, "ctl")}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("ovs-appctl %v: %v: %s", args, err, out)
	}
	return string(out)
}

// monitors returns the number of monitors the server serves.
func (s *realServer) monitors() int {
	m := regexp.MustCompile(`monitors:(\d+)`).FindStringSubmatch(s.appctl("memory/show"))
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestReconnectAfterServerRestart(t *testing.T) {
	s := startRealServer(t, nbSchemaFile())
	tp := seedTopology(t, rawNB(t, s.endpoint()))
	nb := dialTestNB(t, s.endpoint(), false)
	var reconnects atomic.Int32
	nb.OnReconnect(func() { reconnects.Add(1) })
	if err := apply(t, nb, createOps(tp)...); err != nil {
		t.Fatal(err)
	}

	s.kill()
	eventually(t, "Connected() == false", func() bool { return !nb.Connected() })
	if err := apply(t, nb, createOps(tp)...); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Apply while disconnected = %v, want ErrNotConnected", err)
	}
	// While the server is down, the row is deleted behind our back: the
	// refill after reconnecting must drop it (libovsdb sends no delete event).
	tool := findBinary("ovsdb-tool")
	out, err := exec.Command(tool, "transact", s.dbs[0],
		`["OVN_Northbound",{"op":"delete","table":"Load_Balancer","where":[["name","==","`+lbName+`"]]}]`).CombinedOutput()
	if err != nil {
		t.Fatalf("ovsdb-tool transact: %v: %s", err, out)
	}
	s.start()

	eventually(t, "OnReconnect", func() bool { return reconnects.Load() == 1 })
	if !nb.Connected() {
		t.Fatal("not connected after OnReconnect")
	}
	st := nb.Snapshot()
	if n := len(lbsNamed(st, lbName)); n != 0 {
		t.Fatalf("replica still has %d deleted rows after the refill", n)
	}
	if len(st.Routers) != 1 {
		t.Fatalf("replica lost the topology: %+v", st.Routers)
	}
	if err := apply(t, nb, createOps(tp)...); err != nil {
		t.Fatalf("Apply after reconnect: %v", err)
	}
	if got := nb.Stats().Reconnects; got != 1 {
		t.Errorf("Stats().Reconnects = %d, want 1", got)
	}
}

// A reconnect that completes faster than the connection state is sampled
// (the server drops the session; the client redials at once) must still be
// reported.
func TestReconnectFastIsReported(t *testing.T) {
	s := startRealServer(t, nbSchemaFile())
	seedTopology(t, rawNB(t, s.endpoint()))
	nb := dialTestNB(t, s.endpoint(), false)
	var reconnects atomic.Int32
	nb.OnReconnect(func() { reconnects.Add(1) })
	s.appctl("ovsdb-server/reconnect")
	eventually(t, "OnReconnect", func() bool { return reconnects.Load() >= 1 })
	if !nb.Connected() {
		t.Fatal("not connected")
	}
}

// Close while the server is down returns promptly and the client never
// comes back (libovsdb's reconnect loop would otherwise go on).
func TestCloseWhileDisconnected(t *testing.T) {
	s := startRealServer(t, nbSchemaFile())
	seedTopology(t, rawNB(t, s.endpoint()))
	nb := dialTestNB(t, s.endpoint(), false)
	if s.monitors() == 0 {
		t.Fatal("client has no monitor on the server")
	}
	s.kill()
	eventually(t, "Connected() == false", func() bool { return !nb.Connected() })
	done := make(chan struct{})
	go func() { nb.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung while disconnected")
	}
	s.start()
	time.Sleep(3 * time.Second) // longer than the first backoff steps
	if n := s.monitors(); n != 0 {
		t.Fatalf("closed client reconnected: server has %d monitors", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := nb.Apply(ctx, fwdsync.Change{Ops: []fwdsync.Op{{Kind: fwdsync.OpCreateLB, Name: "x"}}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Close = %v, want ErrClosed", err)
	}
	_ = nb.Snapshot() // must not panic on a closed client
}

// A server that stops answering (host gone, process hung) is detected by
// the echo probe, and the client comes back when the server does.
func TestEchoProbeDetectsHungServer(t *testing.T) {
	s := startRealServer(t, nbSchemaFile())
	seedTopology(t, rawNB(t, s.endpoint()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nb, err := DialNB(ctx, Config{Endpoints: []string{s.endpoint()}, ConnectTimeout: 500 * time.Millisecond,
		ProbeInterval: 200 * time.Millisecond, ProbeTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer nb.Close()
	var reconnects atomic.Int32
	nb.OnReconnect(func() { reconnects.Add(1) })

	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Connected() == false", func() bool { return !nb.Connected() })
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	eventually(t, "OnReconnect", func() bool { return reconnects.Load() >= 1 && nb.Connected() })
}

func TestDialRetriesUntilServerIsUp(t *testing.T) {
	sock := filepath.Join(sockDir(t), "db.sock")
	type result struct {
		nb  *NB
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		nb, err := DialNB(ctx, Config{Endpoints: []string{"unix:" + sock}, ConnectTimeout: time.Second})
		done <- result{nb, err}
	}()
	time.Sleep(700 * time.Millisecond) // a few failed attempts
	srv := startMemServerAt(t, sock)
	defer srv.Close()
	r := <-done
	if r.err != nil {
		t.Fatalf("DialNB: %v", r.err)
	}
	r.nb.Close()
}

func TestDialGivesUpWithContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := DialNB(ctx, Config{Endpoints: []string{"unix:" + filepath.Join(sockDir(t), "none.sock")}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DialNB = %v, want a deadline error", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("DialNB took %v after its context expired", time.Since(start))
	}
	if _, err := DialNB(ctx, Config{Endpoints: []string{"tcp:10.0.0.1"}}); err == nil || !strings.Contains(err.Error(), "missing port") {
		t.Fatalf("bad endpoint: %v", err)
	}
}

// Pointing the NB client at the SB database fails with a clear reason.
func TestDialWrongDatabase(t *testing.T) {
	s := startRealServer(t, sbSchemaFile())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := DialNB(ctx, Config{Endpoints: []string{s.endpoint()}})
	if err == nil || !strings.Contains(err.Error(), "OVN_Northbound not found") {
		t.Fatalf("DialNB on an SB server = %v", err)
	}
	t.Logf("error: %v", err)
}
