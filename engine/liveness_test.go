package engine

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/ovnfwd/ovnfwd/lxdwatch"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

func TestPingGap(t *testing.T) {
	for _, c := range []struct {
		interval, rt time.Duration
		share        float64
		want         time.Duration
	}{
		{10 * time.Second, 810 * time.Millisecond, 0, 10 * time.Second},            // fixed
		{10 * time.Second, 810 * time.Millisecond, 0.05, 48600 * time.Millisecond}, // OVN 23.03 at 10,000 forwards
		{10 * time.Second, 3400 * time.Microsecond, 0.05, 10 * time.Second},        // OVN 25.03: the base interval
		{10 * time.Second, 20 * time.Second, 0.05, maxPingGap},                     // capped
		{10 * time.Minute, 20 * time.Second, 0.05, 10 * time.Minute},               // never below the base
		{10 * time.Second, time.Second, 0.5, 10 * time.Second},                     // cheap enough
		{time.Second, 100 * time.Millisecond, 0.1, 3 * time.Second},                // stretched
	} {
		if got := pingGap(c.interval, c.rt, c.share); got != c.want {
			t.Errorf("pingGap(%v, %v, %v) = %v, want %v", c.interval, c.rt, c.share, got, c.want)
		}
	}
}

// slowBarrierNB is the watched fake NB whose barrier (the liveness ping's
// round trip through northd) takes rt.
type slowBarrierNB struct {
	wNB
	rt    time.Duration
	calls *atomic.Int32
}

func (n slowBarrierNB) Barrier(ctx context.Context, d time.Duration) (int, error) {
	n.calls.Add(1)
	time.Sleep(n.rt)
	return n.wNB.Barrier(ctx, d)
}

// The writer's liveness pings follow their cost: with a 20 ms round trip
// and a 10 % share they come every 600 ms (reached by doubling), not every
// 10 ms; one slow ping does not stretch the gap beyond its double.
func TestLivenessPingsFollowTheirCost(t *testing.T) {
	for _, c := range []struct {
		share    float64
		min, max int32 // pings in 900 ms
	}{
		{0, 10, 100},
		{0.1, 1, 3},
	} {
		l, n := world(web("198.51.100.10", "80"))
		w := &watchedWorld{lxd: l, nb: n, events: make(chan lxdwatch.Event, 8)}
		var calls atomic.Int32
		d := NewDaemon(DaemonConfig{Options: fwdsync.Options{DeletionBudget: 100}, Logger: zap.NewNop(),
			LivenessInterval: 10 * time.Millisecond, LivenessTimeout: 10 * time.Millisecond, LivenessNorthdShare: c.share})
		stop := runOnFakes(t, d, Sources{LXD: wLXD{w}, NB: slowBarrierNB{wNB{w}, 20 * time.Millisecond, &calls}, SB: wSB{w}})
		waitFor(t, "the daemon to be ready", func() bool { return d.notReady() == "" })
		time.Sleep(1500 * time.Millisecond) // the gap doubles up to its 600 ms
		before := calls.Load()
		time.Sleep(900 * time.Millisecond)
		pings := calls.Load() - before
		stop()
		if pings < c.min || pings > c.max {
			t.Errorf("share %v: %d pings in 900 ms, want %d to %d", c.share, pings, c.min, c.max)
		}
		if c.share > 0 {
			if g := testutil.ToFloat64(d.metrics.livenessGap); g < 0.59 || g > 0.7 {
				t.Errorf("share %v: ovnfwd_liveness_interval_seconds = %v, want ≈ 0.6", c.share, g)
			}
		}
	}
}

// One ping that queued behind other northd work (4 s, as a three-member
// start-up showed on the bed) must not set the gap for minutes: the gap at
// most doubles, and the fastest recent round trip decides.
func TestLivenessOneSlowPing(t *testing.T) {
	l, n := world(web("198.51.100.10", "80"))
	w := &watchedWorld{lxd: l, nb: n, events: make(chan lxdwatch.Event, 8)}
	var calls atomic.Int32
	nb := &slowFirstNB{wNB: wNB{w}, calls: &calls}
	d := NewDaemon(DaemonConfig{Options: fwdsync.Options{DeletionBudget: 100}, Logger: zap.NewNop(),
		LivenessInterval: 20 * time.Millisecond, LivenessTimeout: 10 * time.Millisecond, LivenessNorthdShare: 0.1})
	defer runOnFakes(t, d, Sources{LXD: wLXD{w}, NB: nb, SB: wSB{w}})()
	waitFor(t, "the daemon to be ready", func() bool { return d.notReady() == "" })
	nb.slow.Store(true) // the next barrier takes 300 ms: alone it would mean a 9 s gap
	waitFor(t, "the slow ping", func() bool { return !nb.slow.Load() })
	time.Sleep(50 * time.Millisecond)
	if g := testutil.ToFloat64(d.metrics.livenessGap); g > 0.041 {
		t.Errorf("after one slow ping the gap is %v s, want at most double the 20 ms interval", g)
	}
}

type slowFirstNB struct {
	wNB
	calls *atomic.Int32
	slow  atomic.Bool
}

func (n *slowFirstNB) Barrier(ctx context.Context, d time.Duration) (int, error) {
	n.calls.Add(1)
	if n.slow.Load() {
		time.Sleep(300 * time.Millisecond)
		defer n.slow.Store(false)
	}
	return n.wNB.Barrier(ctx, d)
}
