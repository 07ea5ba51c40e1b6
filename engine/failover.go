package engine

import (
	gosync "sync"
	"time"

	"go.uber.org/zap"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// FailoverRecord is one stable change of a gateway claim, as /failovers
// reports it.
type FailoverRecord struct {
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

// maxFailoverRecords is how many failover records /failovers keeps.
const maxFailoverRecords = 100

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
	records      []FailoverRecord
	awaiting     map[string]int // prefix → index in records awaiting re-verification
	tickPending  bool
	events       int // stable claim changes handled so far
}

func newGateways(log *zap.Logger, m *metrics, debounce time.Duration) *gateways {
	return &gateways{log: log, metrics: m, tracker: fwdsync.ClaimTracker{Debounce: debounce}, debounce: debounce,
		unresponsive: map[string]bool{}, awaiting: map[string]int{}}
}

// live is HAConfig.live for the daemon.
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
func (d *Daemon) observeClaims(now time.Time) {
	g := d.gw
	evs := g.tracker.ObserveSB(now, d.src.SB.GatewaySnapshot())
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

func (d *Daemon) claimEvent(ev fwdsync.ClaimEvent) {
	g := d.gw
	ref, known := d.e.prefixes[ev.Prefix]
	net := ev.Prefix
	if known {
		net = ProjectName(ref.Project) + "/" + ref.Name
	}
	fields := []zap.Field{zap.String("network", net), zap.String("port", ev.Port), zap.String("from", ev.From),
		zap.String("to", ev.To), zap.Duration("unclaimed", ev.Unclaimed), zap.Int("flaps", ev.Flaps),
		zap.Duration("observed_after", ev.Confirmed.Sub(ev.At))}
	switch ev.Kind {
	case fwdsync.ClaimLost:
		d.log.Error("gateway lost: no chassis claims it; forwards are dark", fields...)
		// Dark everywhere once it has lasted the BFD detection time.
		darkAfter := fwdsync.BFDDetectionTime(d.src.NB.SnapshotFor(nil).NBGlobalOptions)
		time.AfterFunc(darkAfter, func() { d.q.addHA() })
	case fwdsync.ClaimAcquired:
		d.log.Info("gateway claimed", fields...)
	default:
		d.log.Warn("gateway failover", append(fields, zap.String("kind", string(ev.Kind)))...)
	}
	d.metrics.failovers.WithLabelValues(string(ev.Kind)).Inc()
	g.mu.Lock()
	g.events++
	g.records = append(g.records, FailoverRecord{Network: net, Port: ev.Port, Kind: string(ev.Kind), From: ev.From, To: ev.To,
		At: ev.At, Confirmed: ev.Confirmed, Unclaimed: ev.Unclaimed, Flaps: ev.Flaps})
	if drop := len(g.records) - maxFailoverRecords; drop > 0 {
		g.records = g.records[drop:]
		// The awaited indices move with the records; a record trimmed away
		// is no longer awaited.
		for p, i := range g.awaiting {
			if i -= drop; i < 0 {
				delete(g.awaiting, p)
			} else {
				g.awaiting[p] = i
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
func (d *Daemon) checkReverified() {
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

func (g *gateways) failovers() []FailoverRecord {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]FailoverRecord(nil), g.records...)
}
