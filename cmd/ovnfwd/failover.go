package main

import (
	"context"
	"fmt"
	"strings"
	gosync "sync"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// haFlags configure HA chassis group hygiene (check --deep, repair, run).
func haFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "member-chassis", EnvVars: []string{"OVNFWD_MEMBER_CHASSIS"},
			Usage: "`MEMBER=CHASSIS`: the OVN chassis of an LXD cluster member, when the chassis's hostname is not the member name (repeatable)"},
		&cli.BoolFlag{Name: "remove-unresponsive", Usage: "let repairs remove HA group entries of chassis that do not follow nb_cfg (never automatic otherwise)"},
		&cli.DurationFlag{Name: "ha-absent-grace", Value: 5 * time.Minute, EnvVars: []string{"OVNFWD_HA_ABSENT_GRACE"},
			Usage: "run: keep HA group entries of chassis missing from SB for this long (an ovn-controller restart deletes and re-creates them)"},
		&cli.BoolFlag{Name: "no-ha", Usage: "do not check or repair HA chassis groups"},
	}
}

// haFromFlags builds the HA configuration; nil with --no-ha.
func haFromFlags(c *cli.Context) (*haConfig, error) {
	if c.Bool("no-ha") {
		return nil, nil
	}
	h := &haConfig{memberChassis: map[string]string{}, opts: fwdsync.HAOptions{RemoveUnresponsive: c.Bool("remove-unresponsive")}}
	for _, kv := range c.StringSlice("member-chassis") {
		m, ch, ok := strings.Cut(kv, "=")
		if !ok || m == "" || ch == "" {
			return nil, fmt.Errorf("--member-chassis %q: want MEMBER=CHASSIS", kv)
		}
		h.memberChassis[m] = ch
	}
	return h, nil
}

// failoverRecord is one stable change of a gateway claim, as /failovers
// reports it.
type failoverRecord struct {
	Network   string        `json:"network"`
	Port      string        `json:"port"`
	Kind      string        `json:"kind"`
	From      string        `json:"from"`
	To        string        `json:"to"`
	At        time.Time     `json:"at"`
	Unclaimed time.Duration `json:"unclaimed_ns"`
	Flaps     int           `json:"flaps"`
	// Confirmed is when the change had lasted --claim-debounce.
	Confirmed time.Time `json:"confirmed"`
	// Reverified is how long after the claim change (At) every forward of
	// the network was verified ok on the new chassis; 0 while pending.
	// ReverifiedAfterStable counts from Confirmed instead.
	Reverified            time.Duration `json:"reverified_ns"`
	ReverifiedAfterStable time.Duration `json:"reverified_after_stable_ns"`
	Forwards              int           `json:"forwards"`
}

// gateways follows gateway claims and chassis liveness for the daemon. The
// tracker is used by the worker goroutine only; the rest is guarded.
type gateways struct {
	log      *zap.Logger
	metrics  *metrics
	tracker  fwdsync.ClaimTracker
	debounce time.Duration

	mu           gosync.Mutex
	unresponsive map[string]bool
	absence      fwdsync.ChassisAbsence
	records      []failoverRecord
	awaiting     map[string]int // prefix → index in records awaiting re-verification
	tickPending  bool
	events       int // stable claim changes handled so far
}

func newGateways(log *zap.Logger, m *metrics, debounce time.Duration) *gateways {
	return &gateways{log: log, metrics: m, tracker: fwdsync.ClaimTracker{Debounce: debounce}, debounce: debounce,
		unresponsive: map[string]bool{}, awaiting: map[string]int{}}
}

// live is haConfig.live for the daemon.
func (g *gateways) live(now time.Time, nb fwdsync.NBState, sb fwdsync.SBState) (map[string]bool, map[string]time.Duration, func(string) time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	un := make(map[string]bool, len(g.unresponsive))
	for k, v := range g.unresponsive {
		un[k] = v
	}
	absent := g.absence.Update(now, nb, sb)
	// The tracker belongs to the worker, which is the only caller of live.
	return un, absent, func(port string) time.Duration { return g.tracker.UnclaimedFor(now, port) }
}

// observe feeds the SB claims to the tracker and handles the stable
// changes; it returns whether some change awaits its debounce window.
func (d *daemon) observeClaims(now time.Time) {
	g := d.gw
	evs := g.tracker.ObserveSB(now, d.cs.sb.GatewaySnapshot())
	evs = append(evs, g.tracker.Tick(now)...)
	for _, ev := range evs {
		d.claimEvent(ev)
	}
	// A change within its debounce window: look again when it is due.
	for _, p := range g.tracker.Ports() {
		st, _ := g.tracker.Status(p)
		if st.Current != st.Holder {
			g.mu.Lock()
			if !g.tickPending {
				g.tickPending = true
				time.AfterFunc(g.debounce+2*time.Millisecond, func() {
					g.mu.Lock()
					g.tickPending = false
					g.mu.Unlock()
					d.q.addReverify(true)
				})
			}
			g.mu.Unlock()
			break
		}
	}
}

func (d *daemon) claimEvent(ev fwdsync.ClaimEvent) {
	g := d.gw
	ref, known := d.e.prefixes[ev.Prefix]
	net := ev.Prefix
	if known {
		net = projectName(ref.Project) + "/" + ref.Name
	}
	fields := []zap.Field{zap.String("network", net), zap.String("port", ev.Port), zap.String("from", ev.From),
		zap.String("to", ev.To), zap.Duration("unclaimed", ev.Unclaimed), zap.Int("flaps", ev.Flaps),
		zap.Duration("observed_after", ev.Confirmed.Sub(ev.At))}
	switch ev.Kind {
	case fwdsync.ClaimLost:
		d.log.Error("gateway lost: no chassis claims it; forwards are dark", fields...)
		// Dark everywhere once it has lasted the BFD detection time.
		darkAfter := fwdsync.BFDDetectionTime(d.cs.nb.SnapshotFor(nil).NBGlobalOptions)
		time.AfterFunc(darkAfter, func() { d.q.addHA() })
	case fwdsync.ClaimAcquired:
		d.log.Info("gateway claimed", fields...)
	default:
		d.log.Warn("gateway failover", append(fields, zap.String("kind", string(ev.Kind)))...)
	}
	d.metrics.failovers.WithLabelValues(string(ev.Kind)).Inc()
	g.mu.Lock()
	g.events++
	g.records = append(g.records, failoverRecord{Network: net, Port: ev.Port, Kind: string(ev.Kind), From: ev.From, To: ev.To,
		At: ev.At, Confirmed: ev.Confirmed, Unclaimed: ev.Unclaimed, Flaps: ev.Flaps})
	if len(g.records) > 100 {
		g.records = g.records[len(g.records)-100:]
		for p, i := range g.awaiting {
			if i -= len(g.records) - 100; i < 0 {
				delete(g.awaiting, p)
			}
		}
	}
	if ev.Kind != fwdsync.ClaimLost && known {
		g.awaiting[ev.Prefix] = len(g.records) - 1
	}
	g.mu.Unlock()
}

// checkReverified closes the failovers whose network's forwards are all
// verified ok now, recording how long that took after the claim change.
func (d *daemon) checkReverified() {
	g := d.gw
	g.mu.Lock()
	if len(g.awaiting) == 0 {
		g.mu.Unlock()
		return
	}
	awaiting := make(map[string]int, len(g.awaiting))
	for k, v := range g.awaiting {
		awaiting[k] = v
	}
	g.mu.Unlock()
	now := time.Now()
	sts := d.e.allStatuses()
	for prefix, idx := range awaiting {
		ref := d.e.prefixes[prefix]
		n, ok := 0, true
		for _, s := range sts {
			if s.Key.Project == ref.Project && s.Key.Network == ref.Name {
				n++
				ok = ok && s.State == fwdsync.StateOK
			}
		}
		if !ok {
			continue
		}
		g.mu.Lock()
		r := &g.records[idx]
		r.Reverified, r.ReverifiedAfterStable, r.Forwards = now.Sub(r.At), now.Sub(r.Confirmed), n
		delete(g.awaiting, prefix)
		rec := *r
		g.mu.Unlock()
		d.metrics.failoverReverify.Observe(rec.Reverified.Seconds())
		d.metrics.failoverReverifyStable.Observe(rec.ReverifiedAfterStable.Seconds())
		d.log.Info("all forwards re-verified after gateway change", zap.String("network", rec.Network),
			zap.String("chassis", rec.To), zap.Int("forwards", n), zap.Duration("since_claim_change", rec.Reverified),
			zap.Duration("since_stable", rec.ReverifiedAfterStable))
	}
}

func (g *gateways) eventCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.events
}

func (g *gateways) failovers() []failoverRecord {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]failoverRecord(nil), g.records...)
}

// pingLiveness bumps NB_Global.nb_cfg every interval and marks the chassis
// whose Chassis_Private.nb_cfg does not follow within timeout as
// unresponsive (hv_cfg is useless: a dead chassis pins it for ever). A
// change of the set triggers an HA pass.
func (d *daemon) pingLiveness(ctx context.Context, interval, timeout time.Duration) {
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
		cfg, err := d.cs.nb.Barrier(ctx, timeout)
		if err != nil {
			d.log.Warn("liveness ping: northd barrier", zap.Error(err))
			continue
		}
		deadline := time.Now().Add(timeout)
		var behind map[string]bool
		for {
			behind = map[string]bool{}
			for _, c := range d.cs.sb.GatewaySnapshot().Chassis {
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
