package engine

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// pingLiveness bumps NB_Global.nb_cfg every interval and marks the chassis
// whose Chassis_Private.nb_cfg does not follow within timeout as
// unresponsive (hv_cfg is useless: a dead chassis pins it for ever). A
// change of the set triggers an HA pass. Only the writer pings: a standby
// judges the chassis against the last config the writer published, so the
// cluster costs northd one recompute per interval, not one per member.
func (d *Daemon) pingLiveness(ctx context.Context, interval, timeout time.Duration) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var cfg int
		if d.e.writing() {
			var err error
			if cfg, err = d.src.NB.Barrier(ctx, timeout); err != nil {
				d.log.Warn("liveness ping: northd barrier", zap.Error(err))
				continue
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
