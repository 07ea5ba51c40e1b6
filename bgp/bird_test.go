package bgp

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// The tests in this file run the speaker against a real BIRD 2 (a private
// one per test, see startBird). The speaker that restarts runs in a child
// process (startChildSpeaker): GoBGP cannot end a session without a
// NOTIFICATION, so a restart is Detach and then the process exit.

const (
	birdR1   = "198.51.100.1/32"
	birdR1v6 = "2001:db8::1/128"
	birdR2   = "198.51.100.2/32"
	birdR3   = "198.51.100.3/32"
)

func via(prefix string) string {
	if strings.Contains(prefix, ":") {
		return prefix + " via 2001:db8:ff::2"
	}
	return prefix + " via 10.99.0.100"
}

// checkRestartCaps checks the graceful restart capability of the session
// BIRD has now: restart time, Restart State bit ("Restart recovery") and
// forwarding state kept for both families ("AF preserved").
func checkRestartCaps(t *testing.T, b *bird, restartTime string) {
	t.Helper()
	caps := b.neighborCaps()
	for _, want := range []string{"Graceful restart", "Restart time: " + restartTime, "Restart recovery",
		"AF supported: ipv4 ipv6", "AF preserved: ipv4 ipv6"} {
		if !strings.Contains(caps, want) {
			t.Fatalf("the speaker's OPEN lacks %q; BIRD saw:%s", want, caps)
		}
	}
}

// TestBirdGracefulRestartKeepsRoutes restarts a speaker (Detach, process
// exit, a new speaker whose first Sync announces R1 and R3 instead of R1
// and R2) while sampling BIRD's routes: R1 must never disappear, R2 must go
// once the new session's table is complete, R3 must come.
func TestBirdGracefulRestartKeepsRoutes(t *testing.T) {
	b := startBird(t, "127.0.0.31")
	cfg := childConfig{PeerAddr: "127.0.0.1", PeerPort: b.port, PeerASN: birdASN, Local: "127.0.0.31", ASN: speakerASN,
		GracefulRestart: 60 * time.Second, Routes: []string{via(birdR1), via(birdR1v6), via(birdR2)}}
	old := startChildSpeaker(t, cfg)
	b.waitRoutes("announced by the first process", 15*time.Second, birdR1, birdR1v6, birdR2)
	checkRestartCaps(t, b, "60")

	stop := make(chan struct{})
	sampled := b.sample(stop)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
	}()

	old.stop("detach")
	// The old process is gone: BIRD noticed and keeps the routes.
	b.waitState("after the first process exited", 10*time.Second, func(s string) bool { return s != "Established" })
	if _, gr, err := b.session(); err != nil || !gr {
		out, _ := b.protocol()
		t.Fatalf("BIRD does not keep the routes for a graceful restart (%v):\n%s", err, out)
	}

	// The new process: started, but route state has not synced yet. Its
	// sessions must not open (an empty table and End-of-RIB would make
	// BIRD drop the kept routes): give it longer than GoBGP's connect
	// retry and BIRD's error wait time.
	ctx := context.Background()
	s := New(cfg.speakerConfig(), zap.NewNop())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	time.Sleep(2500 * time.Millisecond)
	if st, err := b.state(); err != nil || st == "Established" {
		t.Fatalf("the new speaker's session is up before its first Sync: %q, %v", st, err)
	}
	if ss := s.Sessions(ctx); len(ss) != 1 || ss[0].State != "idle" {
		t.Fatalf("sessions before the first Sync: %+v", ss)
	}

	if _, err := s.Sync(ctx, childConfig{Routes: []string{via(birdR1), via(birdR1v6), via(birdR3)}}.routes()); err != nil {
		t.Fatal(err)
	}
	b.waitState("the new session", 15*time.Second, func(s string) bool { return s == "Established" })
	checkRestartCaps(t, b, "60")
	b.waitRoutes("after the new session's End-of-RIB", 15*time.Second, birdR1, birdR1v6, birdR3)
	// BIRD ends its graceful restart handling with the End-of-RIBs.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, gr, err := b.session()
		if err == nil && st == "Established" && !gr {
			break
		}
		if time.Now().After(deadline) {
			out, _ := b.protocol()
			t.Fatalf("BIRD still in graceful restart after the new table:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// BIRD removed R2 and nothing else: a stale route it flushes counts as
	// an import withdraw (without the F bit BIRD flushes all of them when
	// the session comes back: R1 would go for a moment, too quick to be
	// sampled).
	if w := b.importWithdraws(); w["ipv4"] != 1 || w["ipv6"] != 0 {
		out, _ := b.protocol()
		t.Errorf("BIRD removed %v routes of the speaker's, want R2 only (ipv4 1, ipv6 0):\n%s", w, out)
	}
	time.Sleep(300 * time.Millisecond) // a few samples of the end state
	close(stop)
	samples := <-sampled

	if len(samples) < 10 {
		t.Fatalf("only %d samples of BIRD's routes", len(samples))
	}
	// BIRD saw the session go down and come back.
	down, upAgain := -1, -1
	for i, sm := range samples {
		if down < 0 && sm.State != "Established" {
			down = i
		}
		if down >= 0 && sm.State == "Established" {
			upAgain = i
			break
		}
	}
	if down < 0 || upAgain < 0 {
		t.Fatalf("BIRD's samples do not show the session going down and up again: %v", samples)
	}
	for i, sm := range samples {
		// R1 (both families) stays throughout the restart.
		if !sm.has(birdR1) || !sm.has(birdR1v6) {
			t.Errorf("sample %d: R1 missing: %v", i, sm)
		}
		// R2 is kept while the session is down and only goes once the
		// new table is there: never before R3 came.
		if !sm.has(birdR2) && !sm.has(birdR3) {
			t.Errorf("sample %d: R2 gone before the new table came: %v", i, sm)
		}
		if i < upAgain && !sm.has(birdR2) {
			t.Errorf("sample %d: R2 gone while the session was down: %v", i, sm)
		}
		if i >= down && i < upAgain && !sm.GR {
			t.Errorf("sample %d: session down without graceful restart: %v", i, sm)
		}
	}
	if last := samples[len(samples)-1]; last.has(birdR2) || !last.has(birdR3) {
		t.Errorf("end state: %v", last)
	}
	if t.Failed() {
		for _, sm := range samples {
			t.Log(sm)
		}
	}
}

// TestBirdGracefulRestartNoComeback detaches a speaker that never comes
// back: BIRD keeps its routes for the restart time (3 s), then drops them.
func TestBirdGracefulRestartNoComeback(t *testing.T) {
	b := startBird(t, "127.0.0.32")
	const restart = 3 * time.Second
	cfg := childConfig{PeerAddr: "127.0.0.1", PeerPort: b.port, PeerASN: birdASN, Local: "127.0.0.32", ASN: speakerASN,
		GracefulRestart: restart, Routes: []string{via(birdR1), via(birdR1v6)}}
	cs := startChildSpeaker(t, cfg)
	b.waitRoutes("announced", 15*time.Second, birdR1, birdR1v6)
	checkRestartCaps(t, b, "3")

	exited := cs.stop("detach")
	sawGR := false
	var gone time.Time
	for deadline := exited.Add(restart + 10*time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		rs, err := b.routes()
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 0 {
			gone = time.Now()
			break
		}
		if _, gr, err := b.session(); err == nil && gr {
			sawGR = true
		}
	}
	if gone.IsZero() {
		t.Fatalf("BIRD still has the routes %s after the exit", time.Since(exited))
	}
	held := gone.Sub(exited)
	t.Logf("BIRD kept the routes for %s after the speaker exited (restart time %s)", held, restart)
	if !sawGR {
		t.Error("BIRD never showed a graceful restart in progress")
	}
	// BIRD drops them when the restart timer (started when it saw the
	// TCP session end, right after the exit) expires, plus its flush.
	if held < restart-500*time.Millisecond || held > restart+5*time.Second {
		t.Errorf("BIRD kept the routes for %s, want about the restart time %s", held, restart)
	}
}

// TestBirdShutdownWithdraws: Shutdown withdraws at once, with or without
// graceful restart, and Detach without graceful restart is Shutdown.
func TestBirdShutdownWithdraws(t *testing.T) {
	for _, tc := range []struct {
		name   string
		gr     time.Duration
		detach bool
	}{
		{"graceful restart off", 0, false},
		{"graceful restart on", 60 * time.Second, false},
		{"detach with graceful restart off", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBird(t, "127.0.0.33")
			cfg := childConfig{PeerAddr: "127.0.0.1", PeerPort: b.port, PeerASN: birdASN, Local: "127.0.0.33", ASN: speakerASN,
				GracefulRestart: tc.gr, Routes: []string{via(birdR1), via(birdR1v6)}}
			ctx := context.Background()
			s := New(cfg.speakerConfig(), zap.NewNop())
			if err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Shutdown(context.Background()) })
			if _, err := s.Sync(ctx, cfg.routes()); err != nil {
				t.Fatal(err)
			}
			b.waitRoutes("announced", 15*time.Second, birdR1, birdR1v6)
			if caps := b.neighborCaps(); strings.Contains(caps, "Graceful restart") != (tc.gr > 0) {
				t.Fatalf("graceful restart %v, BIRD saw:%s", tc.gr, caps)
			}
			start := time.Now()
			if tc.detach {
				s.Detach(ctx)
			} else {
				s.Shutdown(ctx)
			}
			// At once: well before BIRD's hold time (3 s) or any restart time.
			b.waitRoutes("after Shutdown", 2*time.Second, []string{}...)
			t.Logf("routes gone %s after the call", time.Since(start))
			if _, gr, err := b.session(); err != nil || gr {
				out, _ := b.protocol()
				t.Fatalf("BIRD in graceful restart after Shutdown (%v):\n%s", err, out)
			}
		})
	}
}
