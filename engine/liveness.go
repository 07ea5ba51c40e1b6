package engine

import (
	"context"
	"slices"
	"time"

	"go.uber.org/zap"
)

// pingLiveness bumps NB_Global.nb_cfg every interval and marks the chassis
// whose Chassis_Private.nb_cfg does not follow within timeout as
// unresponsive (hv_cfg is useless: a dead chassis pins it for ever). A
// change of the set triggers an HA pass. Only the writer pings: a standby
// judges the chassis against the last config the writer published, so the
// cluster costs northd one recompute per interval, not one per member.
//
// A ping is not free: northd 23.03 recomputes everything for the nb_cfg
// bump and again for its own sb_cfg/hv_cfg write-back, about 2.6 times the
// ping's round trip in CPU (BENCHMARKS §8, 10,000 forwards: 2.15 s of
// northd CPU per ping of 0.81 s). With share > 0 the writer spaces its
// pings so that they take at most about that share of northd's time: the
// next ping comes pingCostFactor × round trip / share after the last,
// never sooner than interval. The HA pass still runs every interval.
func (d *Daemon) pingLiveness(ctx context.Context, interval, timeout time.Duration, share float64) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var last time.Time      // the writer's last ping
	var rts []time.Duration // its last round trips
	gap := interval
	d.metrics.livenessGap.Set(gap.Seconds())
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if d.e.writing() && time.Since(last) < gap-interval/10 {
			// Every forward and chassis is still judged this often.
			d.q.addHA()
			continue
		}
		var cfg int
		if d.e.writing() {
			var err error
			start := time.Now()
			cfg, err = d.src.NB.Barrier(ctx, timeout)
			last = time.Now()
			if err != nil {
				d.log.Warn("liveness ping: northd barrier", zap.Error(err))
				continue
			}
			// A ping that queued behind northd's other work (a start-up
			// pass, a repair) overstates what a ping costs: the estimate is
			// the fastest of the last few, and the gap at most doubles.
			rts = append(rts, last.Sub(start))
			if len(rts) > pingSamples {
				rts = rts[1:]
			}
			if next := min(pingGap(interval, slices.Min(rts), share), 2*gap); next != gap {
				if next >= 2*gap || gap >= 2*next {
					d.log.Info("liveness ping interval follows northd's cost", zap.Duration("interval", next),
						zap.Duration("round_trip", slices.Min(rts)), zap.Float64("northd_share", share))
				}
				gap = next
				d.metrics.livenessGap.Set(gap.Seconds())
			}
		} else if cfg = d.src.NB.SnapshotFor(nil).NBCfg; cfg == 0 {
			continue
		}
		deadline := time.Now().Add(timeout)
		var behind map[string]bool
		for {
			behind = map[string]bool{}
			for _, c := range d.src.SB.GatewaySnapshot().Chassis {
				if c.NBCfg < cfg {
					behind[c.Name] = true
				}
			}
			if len(behind) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		g := d.gw
		g.mu.Lock()
		changed := len(behind) != len(g.unresponsive)
		for k := range behind {
			changed = changed || !g.unresponsive[k]
		}
		g.unresponsive = behind
		g.mu.Unlock()
		d.metrics.unresponsive.Set(float64(len(behind)))
		if changed {
			names := make([]string, 0, len(behind))
			for k := range behind {
				names = append(names, k)
			}
			d.log.Warn("chassis liveness changed", zap.Strings("unresponsive", names), zap.Int("nb_cfg", cfg))
		}
		// Every ping ends with an HA pass: liveness and unclaimed gateways
		// are judged at least this often, whatever events were missed.
		d.q.addHA()
	}
}

// pingSamples is how many recent round trips estimate a ping's cost.
const pingSamples = 5

// maxPingGap bounds the liveness ping interval however slow northd is.
const maxPingGap = 5 * time.Minute

// pingCostFactor is northd's CPU per liveness ping over the ping's round
// trip, rounded up from the 2.6 measured on OVN 23.03.
const pingCostFactor = 3

// pingGap is the wait before the next liveness ping: the base interval,
// stretched so that pings cost northd at most share of its time (about
// pingCostFactor × roundTrip of CPU each), at most maxPingGap. share ≤ 0:
// interval.
func pingGap(interval, roundTrip time.Duration, share float64) time.Duration {
	if share <= 0 {
		return interval
	}
	g := time.Duration(float64(pingCostFactor*roundTrip) / share)
	return max(interval, min(g, max(maxPingGap, interval)))
}
