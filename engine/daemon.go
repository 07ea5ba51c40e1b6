package engine

import (
	"context"
	"errors"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/canonical/lxd/shared/api"

	"github.com/ovnfwd/ovnfwd/lxdwatch"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// Daemon is the run loop: triggers in, one worker out.
type Daemon struct {
	memLimit MemoryLimit
	// chassis is --chassis as given (BGP resolves its own default).
	chassis string
	log     *zap.Logger
	metrics *metrics
	q       *queue
	src     Sources
	e       *Engine
	cfg     DaemonConfig
	gw      *gateways
	ready   atomic.Pointer[string] // "" once connected; read by /readyz
	dryRun  bool
	pprof   bool
	routes  *RouteState // nil: BGP off
	ann     *announcer  // nil: gateways are not announced (announce.go)
	// nbSettle delays reconciles triggered by NB changes, where the server
	// may be mid-way through a multi-step write (see settle).
	nbSettle time.Duration
	// atomicWriter: the server, as last read, writes each forward in one
	// NB transaction (worker goroutine only; see settle).
	atomicWriter bool
	mu           gosync.Mutex
	memberName   string
	// writerSince: when this member last became the NB writer (published
	// with every publish; "" before). Guarded by mu.
	writerSince string
	// publishing: a publish runs (never two at once).
	publishing atomic.Bool
	// claimSeen: gateway ports by when SB last showed a new claim (guarded
	// by mu; announce.go).
	claimSeen map[string]claimSeen
	// waitGates is the gateway signature the verdicts were last re-gated
	// at while a pass waited on LXD (worker goroutine only).
	waitGates string
	// lxdAnnounced: when LXD last announced a forward's creation or update.
	lxdAnnounced map[fwdsync.ForwardKey]time.Time
	// rowDeleted: Load_Balancer rows deleted in NB less than
	// cfg.NBDeleteGrace ago, by when (guarded by mu).
	rowDeleted map[string]time.Time
	election   Election // nil: this daemon always writes
	// pendingSince: forwards triggered but not yet verified ok, with the
	// time their trigger reached ovnfwd (event → verified latency).
	pendingSince map[fwdsync.ForwardKey]pendingTrigger
}

type pendingTrigger struct {
	since   time.Time // first trigger (NB change or LXD event)
	eventAt time.Time // first LXD event; zero if none yet
	trigger string
}

// translate turns LXD events into queue items. Events are hints: forwards
// are re-read, everything else triggers a full pass.
func (d *Daemon) translate(ctx context.Context, in <-chan lxdwatch.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-in:
			switch ev.Kind {
			case lxdwatch.KindForward:
				it := workItem{key: ev.Key, read: readFresh, trigger: "lxd-event", since: ev.Received, eventAt: ev.Received}
				announced := ev.Action == api.EventLifecycleNetworkForwardCreated || ev.Action == api.EventLifecycleNetworkForwardUpdated
				if ev.Action == api.EventLifecycleNetworkForwardDeleted {
					d.noteServerDeletion(ev.Key, ev.Received)
				}
				if announced {
					// Noted before the item is queued: the worker may
					// take it at once.
					d.awaitLXDWrite(it)
				}
				d.q.add(it)
			case lxdwatch.KindResync:
				d.q.addFull("lxd-connect")
			default:
				d.q.addFull("lxd-" + ev.Kind.String())
			}
		}
	}
}

func (d *Daemon) watchConnections(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var lastLXD uint64
	lxdUp := false // only a connected → disconnected transition counts
	for {
		up := d.src.LXD.Connected()
		if lxdUp && !up {
			// A pass now fails fast and marks every forward degraded;
			// nothing is deleted until a listing completes again.
			d.q.addFull("lxd-down")
		}
		lxdUp = up
		d.metrics.setConn("lxd", up)
		d.metrics.setConn("nb", d.src.NB.Connected())
		d.metrics.setConn("sb", d.src.SB.Connected())
		if r := d.src.LXD.Reconnects(); r > lastLXD {
			d.metrics.reconnects.WithLabelValues("lxd").Add(float64(r - lastLXD))
			lastLXD = r
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// settle is how long an NB change must have been quiet before the worker
// acts on it. A server that writes each forward in one NB transaction
// (LXD ≤ 5.21.1, fwdsync.WritesForwardAtomically) always writes a fresh
// row, and its update reaches NB before its database: only a change that
// inserted a row can be its write (its event follows), so only those wait
// --nb-settle; edits in place, detachments and deletions are repaired at
// once. Elsewhere (LXD ≥ 5.21.2, Incus, a server not read yet) any change
// may be half a write and every change waits. Worker goroutine only (it
// reads the engine's server info).
func (d *Daemon) settle() settleTimes {
	srv := d.e.lxdState.Server
	atomic := srv.Version != "" && fwdsync.WritesForwardAtomically(srv)
	if atomic != d.atomicWriter {
		d.atomicWriter = atomic
		if d.nbSettle > 0 {
			if atomic {
				d.log.Info("only NB changes that insert a row wait --nb-settle: the server writes each forward in one NB transaction",
					zap.String("server", srv.Kind+" "+srv.Version), zap.Duration("nb_settle", d.nbSettle))
			} else {
				d.log.Info("every NB change waits --nb-settle: the server may write a forward in several NB transactions",
					zap.String("server", srv.Kind+" "+srv.Version), zap.Duration("nb_settle", d.nbSettle))
			}
		}
	}
	if atomic {
		return settleTimes{inserted: d.nbSettle}
	}
	return settleTimes{edited: d.nbSettle, inserted: d.nbSettle}
}

// Holding a change that may be the server's own write (see
// holdServerWrites): at most serverWriteMax after it, and for
// serverCommitWait (or --nb-settle, the longer) after northd caught up.
const (
	// queuedLong: a server-shaped change first checked this long after it
	// was made sat in the queue behind other work (see holdServerWrites).
	queuedLong       = 500 * time.Millisecond
	serverWriteMax   = 30 * time.Second
	serverCommitWait = 250 * time.Millisecond
	serverPoll       = 100 * time.Millisecond
)

// holdServerWrites takes out of b the NB names whose change may be the
// server's own write still in progress, and puts them back in the queue.
// LXD writes a forward's rows with ovn-nbctl --wait=sb (a new row for a
// create or an update, a deletion for a delete), which bumps nb_cfg in the
// same transaction and returns once northd has caught up (sb_cfg ≥ it);
// only then does LXD write its database and send its event. Re-read before
// that, LXD still lists the forward as it was, and a repair would bring
// the old rows back (measured at 10,000 forwards: northd takes 1–2 s).
// So such a change is held while NB_Global.sb_cfg is below the nb_cfg seen
// when it first came due, then for serverCommitWait more, at most
// serverWriteMax in all; one that northd caught up with before it came due
// (tens of ms on a small NB, less than --nb-settle) is held for
// serverCommitWait if nb_cfg rose with it. An operator's ovn-nbctl edit
// does not bump nb_cfg, so it is not held unless northd is behind anyway.
func (d *Daemon) holdServerWrites(b batch) {
	g := d.e.nb.SnapshotFor(nil)
	now := time.Now()
	for name, c := range b.server {
		if now.Sub(c.at) >= serverWriteMax {
			continue
		}
		switch {
		case c.cfg == 0 && g.SBCfg >= g.NBCfg && now.Sub(c.queued) < queuedLong && !d.cameWithCfgBump(c):
			continue // northd is not behind, and nothing waits on it
		case c.cfg == 0 && g.SBCfg >= g.NBCfg:
			// Northd is not behind now, yet it may have been: the change
			// waited in the queue while the worker was busy (a full pass,
			// a barrier), or it came with an nb_cfg bump (ovn-nbctl
			// --wait=sb) that a quick northd caught up with within
			// --nb-settle. Either way the server's database commit may
			// be still to come. Give it the commit wait from now (only
			// ovnfwd's own options may go on meanwhile: see below).
			c.server, c.due = false, now.Add(max(serverCommitWait, d.nbSettle))
			c.ownKeys = c.inserted && d.atomicWriter
			delete(b.names, name)
			d.q.hold(name, c, time.Until(c.due))
			continue
		case c.cfg == 0:
			c.cfg = g.NBCfg
			// A row inserted by a server that writes each forward in one
			// transaction: its forward is reconciled now, and only a
			// change that sets ovnfwd's own options on it goes ahead
			// (LXD 5.0.x creates a forward's record before its rows, so
			// the create's neighbor_responder need not wait for northd);
			// anything else waits as busy until the hold ends.
			if c.ownKeys = c.inserted && d.atomicWriter; c.ownKeys {
				d.q.hold(name, c, serverPoll)
				continue
			}
		case g.SBCfg >= c.cfg:
			// Caught up: the server writes its database and sends its
			// event now; its re-read must come after that.
			c.server, c.cfg = false, 0
			c.due = now.Add(max(serverCommitWait, d.nbSettle))
			d.log.Debug("northd caught up with a server-shaped NB change; releasing it after the commit wait",
				zap.String("lb", name), zap.Duration("held", now.Sub(c.at)))
			delete(b.names, name)
			d.q.hold(name, c, time.Until(c.due))
			continue
		}
		delete(b.names, name)
		d.q.hold(name, c, serverPoll)
	}
}

// cfgBumpSlack: how far apart the callbacks of one NB transaction's
// Load_Balancer change and nb_cfg bump may be (one event goroutine runs
// both, in either order).
const cfgBumpSlack = 50 * time.Millisecond

// cameWithCfgBump reports whether NB_Global.nb_cfg rose with or after the
// change c: it may be a write made with ovn-nbctl --wait=sb, as LXD 5.0.x
// writes a forward, whose caller commits its database only once northd has
// caught up. An operator's plain ovn-nbctl edit bumps nothing.
func (d *Daemon) cameWithCfgBump(c nameChange) bool {
	rose := d.src.NB.NBCfgRoseAt()
	return !rose.IsZero() && !rose.Before(c.at.Add(-cfgBumpSlack))
}

// releaseAnnounced moves into b the queued NB names of the forwards whose
// LXD event b carries, changed before that event arrived: the event comes
// after the server's write and its database commit, and b re-reads the
// forward anyway, so holding or settling them longer would only delay the
// forward's own reconcile (whose ops on a queued name would wait as busy).
// A name changed after the event is the server's next write of the forward,
// which the event does not cover (the worker may take an event late, behind
// a barrier, while the server writes that forward again): it stays queued,
// busy, until its own event or hold ends.
func (d *Daemon) releaseAnnounced(b batch) {
	var events map[fwdsync.ForwardKey]time.Time
	for _, it := range b.items {
		if !it.eventAt.IsZero() {
			if events == nil {
				events = map[fwdsync.ForwardKey]time.Time{}
			}
			events[it.key] = later(events[it.key], it.eventAt)
		}
	}
	if events == nil {
		return
	}
	for n, at := range d.q.release(func(name string, at time.Time) bool {
		k, ok := d.e.keyForLB(name)
		return ok && !events[k].IsZero() && !at.After(events[k])
	}) {
		b.names[n] = at
	}
}

// work is the single worker: full passes first, then forwards, then one
// northd barrier for the batch and the verification of what it touched;
// failures are retried with backoff.
func (d *Daemon) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.q.wake:
		}
		b := d.q.take(time.Now(), d.settle())
		if len(b.server) > 0 {
			// Before the full pass: a held name is busy for it too.
			d.holdServerWrites(b)
		}
		d.releaseAnnounced(b)
		if b.full != "" {
			d.fullPass(ctx, b.full, b.fullAlso)
		}
		items := b.items
		for name, since := range b.names {
			if key, ok := d.e.keyForLB(name); ok {
				// Re-read LXD where the cached copy's plan would touch
				// NB: the change may be LXD's own write that its event
				// has not announced yet. Where NB is as the cached copy
				// wants it (typically this daemon's own writes coming
				// back), there is nothing to act on, so no LXD read:
				// thousands of them after a big repair would keep LXD
				// and ovnfwd busy for tens of seconds.
				items = append(items, workItem{key: key, read: readIfDirty, trigger: "nb-change", since: since})
			}
		}
		items = dedupe(items)
		var done, deferred []fwdsync.ForwardKey
		for _, it := range items {
			if ctx.Err() != nil {
				return
			}
			ok, clean := d.forward(ctx, it)
			switch {
			case !ok:
			case d.e.deferred:
				// Nothing written (the change waits for a quiet row, the
				// deletion grace, or the writer): judged as NB is now, no
				// barrier; the change, once made, brings its own.
				deferred = append(deferred, it.key)
			case clean && d.e.alreadyVerified(it.key):
				// Nothing changed since it was verified down to the
				// chassis (typically LXD's event for a write whose NB
				// notification was handled already): no new barrier.
				if s, ok := d.e.status(it.key); ok {
					d.observe([]fwdsync.ForwardStatus{s})
				}
			default:
				done = append(done, it.key)
			}
		}
		d.routes.FromEngine(d.e)
		if b.reverifyAll {
			// A stable claim change needs no barrier: the forwards were
			// verified against e.lastCfg, and the new holder is judged by
			// its own Chassis_Private.nb_cfg against it (issue 5: "its
			// nb_cfg ≥ the barrier of the forward's last change").
			d.observeClaimsChanged(time.Now())
		}
		if len(deferred) > 0 {
			d.e.verifyKeys(deferred)
		}
		if len(done) > 0 {
			d.e.barrier(ctx)
			d.observe(d.e.verifyKeys(done))
		}
		switch {
		case b.full != "":
		case b.reverifyAll:
			if sts, ok := d.e.regate(); ok {
				d.observe(sts)
			} else {
				gen, _ := d.e.rowsGenerations()
				d.log.Debug("re-verifying every forward: rows changed since the last full verification",
					zap.Uint64s("generations", gen[:]), zap.Uint64s("verified_at", d.e.verdictGen[:]))
				d.observe(d.e.reverify())
			}
		case b.reverifyPending:
			if keys := d.e.pendingKeys(); len(keys) > 0 {
				d.observe(d.e.verifyKeys(keys))
			}
		}
		if b.ha && b.full == "" {
			// Observe the claims first: unclaimed time feeds dark-everywhere
			// even if a claim event was missed.
			d.observeClaims(time.Now())
			d.e.haPass(ctx, !d.dryRun)
			if !d.e.verdictsCurrent() && d.e.isSynced() {
				// Keep the verdicts fresh while idle, so that the next
				// failover is re-judged in milliseconds (regate); then
				// give the pass's garbage back, as after a full pass.
				d.observe(d.e.reverify())
				debug.FreeOSMemory()
			}
		}
		d.checkReverified()
		d.metrics.setFindings(d.e.currentFindings())
	}
}

// observeClaimsChanged runs the claim tracker and reports whether a stable
// claim change was handled.
func (d *Daemon) observeClaimsChanged(now time.Time) bool {
	before := d.gw.eventCount()
	d.observeClaims(now)
	return d.gw.eventCount() != before
}

// fullPass runs one full pass for trigger and the triggers coalesced with
// it (also), each of which it counts in the reconcile metric.
func (d *Daemon) fullPass(ctx context.Context, trigger string, also []string) {
	start := time.Now()
	d.publishAsync(ctx)
	d.e.takePostponed()
	// After an NB reconnect (a Raft leader change, a restarted server)
	// ovn-northd is often still looking for the new leader (23.03 backs off
	// up to 15 s): a pass that wrote nothing verifies against the last
	// barrier instead of holding the worker, and its queued repairs, for
	// the barrier timeout. SB changes re-verify what is left pending.
	triggers := append([]string{trigger}, also...)
	pr, err := d.e.passWith(ctx, !d.dryRun, !slices.Contains(triggers, "nb-reconnect"))
	if err == nil {
		d.q.dropNamesBefore(start, d.e.takePostponed())
	}
	for _, tr := range triggers {
		d.metrics.reconcile.WithLabelValues(tr).Observe(time.Since(start).Seconds())
	}
	if err != nil {
		d.metrics.passes.WithLabelValues("error").Inc()
		if errors.Is(err, errLXDListing) {
			d.log.Warn("full pass skipped: LXD listing failed; nothing deleted, retrying", zap.String("trigger", trigger), zap.Error(err))
		} else {
			d.log.Error("full pass failed", zap.String("trigger", trigger), zap.Error(err))
		}
		d.q.addFullAfter(trigger, 2*time.Second)
		return
	}
	d.metrics.passes.WithLabelValues("ok").Inc()
	d.metrics.lastFullPass.Set(float64(time.Now().UnixNano()) / 1e9)
	d.observeClaims(time.Now())
	for _, f := range pr.Plan.Findings {
		if f.Category == fwdsync.CatDeletionBudget {
			d.log.Error("deletions held back", zap.String("detail", f.Detail))
		}
	}
	counts := map[fwdsync.State]int{}
	for _, s := range pr.Statuses {
		counts[s.State]++
	}
	alsoField := zap.Skip()
	if len(also) > 0 {
		alsoField = zap.Strings("also", also)
	}
	d.log.Info("full pass", zap.String("trigger", trigger), alsoField, zap.Duration("took", time.Since(start)),
		zap.Int("forwards", len(pr.Statuses)), zap.Int("ok", counts[fwdsync.StateOK]),
		zap.Int("changes", len(pr.Applied)), zap.Int("failed", len(pr.Failed)), zap.Int("findings", len(pr.Findings)))
	for _, err := range pr.Failed {
		d.log.Warn("change failed; retrying in the next pass", zap.Error(err))
	}
	if len(pr.Failed) > 0 {
		d.q.addFullAfter("retry", 2*time.Second)
	}
	d.observe(pr.Statuses)
	// A full pass holds two listings and snapshots at once (hundreds of
	// MiB at 10,000 forwards) that are garbage now; the runtime would
	// return them to the OS only over minutes. Full passes are rare
	// (start, resync, reconnect), so pay one GC to keep the steady RSS
	// near the live heap.
	debug.FreeOSMemory()
	if limit := d.memLimit.afterFullPass(); limit > 0 {
		d.log.Debug("memory limit follows the live heap", zap.Int64("limit_bytes", limit))
	}
}

// forward reconciles one forward; ok is false when it must be retried or
// needs a full pass. clean: nothing was applied and the forward's rows are
// exactly as desired.
func (d *Daemon) forward(ctx context.Context, it workItem) (ok, clean bool) {
	start := time.Now()
	if !it.since.IsZero() {
		p, seen := d.pendingSince[it.key]
		if !seen {
			p = pendingTrigger{since: it.since, trigger: it.trigger}
		}
		p.eventAt = earliest(p.eventAt, it.eventAt)
		d.pendingSince[it.key] = p
	}
	applied, clean, err := d.e.forwardClean(ctx, it.key, it.read)
	if applied {
		d.log.Debug("reconcile wrote NB", zap.String("forward", keyString(it.key)), zap.String("trigger", it.trigger), zap.Time("since", it.since))
	}
	d.metrics.reconcile.WithLabelValues(it.trigger).Observe(time.Since(start).Seconds())
	if _, exists := d.e.desired[it.key]; err == nil && !exists {
		// Deleted: it will never be verified; a later re-create starts anew.
		delete(d.pendingSince, it.key)
	}
	if errors.Is(err, errNeedsFullPass) {
		d.q.addFull("unmapped-" + it.trigger)
		return false, false
	}
	if err != nil {
		it.tries++
		d.log.Warn("reconcile failed; retrying", zap.String("forward", keyString(it.key)), zap.Int("try", it.tries), zap.Error(err))
		d.q.addAfter(it, Backoff(it.tries))
		return false, false
	}
	return true, clean && !applied
}

// observe records the trigger → verified latencies of forwards that
// reached ok: from the first trigger (change_to_verified) and from the LXD
// event (event_to_verified), when there was one.
func (d *Daemon) observe(sts []fwdsync.ForwardStatus) {
	if len(d.pendingSince) == 0 {
		return
	}
	now := time.Now()
	for _, s := range sts {
		p, ok := d.pendingSince[s.Key]
		if !ok || s.State != fwdsync.StateOK {
			continue
		}
		d.metrics.changeToVerified.Observe(now.Sub(p.since).Seconds())
		if !p.eventAt.IsZero() {
			d.metrics.eventToVerified.Observe(now.Sub(p.eventAt).Seconds())
		}
		delete(d.pendingSince, s.Key)
	}
}

func dedupe(items []workItem) []workItem {
	seen := make(map[fwdsync.ForwardKey]int, len(items))
	out := items[:0]
	for _, it := range items {
		if i, ok := seen[it.key]; ok {
			out[i].read = max(out[i].read, it.read)
			if it.since.Before(out[i].since) {
				out[i].since = it.since
			}
			out[i].eventAt = earliest(out[i].eventAt, it.eventAt)
			continue
		}
		seen[it.key] = len(out)
		out = append(out, it)
	}
	return out
}

// DaemonConfig configures the daemon (`ovnfwd run`); cmd builds it from
// flags. Zero durations disable what they time (liveness pings, periodic
// resyncs, the NB settle and the claim debounce).
type DaemonConfig struct {
	Options fwdsync.Options
	// HA turns on HA chassis group hygiene; nil: off (--no-ha).
	HA *HAConfig
	// HAAbsentGrace keeps HA entries of chassis missing from SB this long.
	HAAbsentGrace time.Duration
	// DryRun logs changes instead of writing them, and announces nothing.
	DryRun bool
	// NBSettle delays reconciles triggered by NB changes that may be the
	// server's own write in progress: every change where it writes a
	// forward in several NB transactions (LXD ≥ 5.21.2, Incus); only
	// changes that insert a row where it writes each forward as a new row
	// in one (fwdsync.WritesForwardAtomically; see Daemon.settle).
	NBSettle time.Duration
	// NBDeleteGrace: a deleted row of a forward the server still lists is
	// re-created only this long after its deletion. LXD and Incus delete
	// a forward's rows before their own record and announce the deletion
	// after it; re-creating the row in between resurrects the forward
	// until the event. 0: re-create after NBSettle.
	NBDeleteGrace time.Duration
	// ClaimDebounce: a gateway claim change is acted on once it lasted this.
	ClaimDebounce                     time.Duration
	LivenessInterval, LivenessTimeout time.Duration
	// LivenessNorthdShare: the most of northd's time the liveness pings may
	// take (their interval stretches with the measured cost); 0: fixed.
	LivenessNorthdShare float64
	ResyncInterval      time.Duration
	MemoryLimit         MemoryLimit
	// Chassis is --chassis as given: /routes names the member with BGP off.
	Chassis string
	// Announcer, when set (with Chassis), announces on this member's
	// uplink every gateway its chassis takes, at once (announce.go).
	Announcer GatewayAnnouncer
	// Pprof serves Go profiles under /debug/pprof/.
	Pprof bool
	// Version is ovnfwd's version, Policy what its flags make it write
	// (fwdsync.Policy): published to the other members through LXD.
	Version, Policy string
	// Routes turns on BGP route state; nil: off. Speaker announces them
	// (nil in a dry run: nothing is announced).
	Routes  *RouteConfig
	Speaker RouteSpeaker
	Logger  *zap.Logger
}

// NewDaemon builds the daemon; Serve and Run start it.
func NewDaemon(cfg DaemonConfig) *Daemon {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	m := newMetrics()
	m.buildInfo.WithLabelValues(cfg.Version, runtime.Version()).Set(1)
	d := &Daemon{cfg: cfg, log: cfg.Logger, metrics: m, q: newQueue(), dryRun: cfg.DryRun, nbSettle: cfg.NBSettle, lxdAnnounced: map[fwdsync.ForwardKey]time.Time{}, rowDeleted: map[string]time.Time{},
		pprof: cfg.Pprof, pendingSince: map[fwdsync.ForwardKey]pendingTrigger{}, memLimit: cfg.MemoryLimit, chassis: cfg.Chassis}
	if cfg.Routes != nil {
		d.routes = newRouteStateWith(*cfg.Routes, cfg.Speaker, cfg.Logger.Named("routes"), d.metrics.reg)
	}
	return d
}

// Run runs the daemon on connected sources until ctx ends: a full pass at
// start, then LXD events, NB and SB changes, periodic resyncs and liveness
// pings feed one worker. An error means it could not start.
func (d *Daemon) Run(ctx context.Context, src Sources) error {
	cfg, m, log := d.cfg, d.metrics, d.log
	d.memLimit.apply()
	d.src = src
	d.e = New(Config{LXD: src.LXD, NB: src.NB, SB: src.SB, Options: cfg.Options, HA: cfg.HA, Logger: log})
	d.e.metrics = m
	d.e.judgeMembers = true
	d.e.awaitingLXD = d.awaitingLXD
	d.e.appeared = d.appeared
	// Set before anything runs that publishes or verifies (announce.go).
	if cfg.Announcer != nil && d.chassis != "" {
		d.ann = newAnnouncer(d.chassis, src.SB, cfg.Announcer, d.dryRun, log.Named("announce"), m.reg)
	}
	d.claimSeen = map[string]claimSeen{}
	d.e.unannounced = d.unannounced
	// While a full pass waits on LXD, the claims and HA groups are still
	// judged (never repaired: the pass plans them next) from NB and SB.
	d.e.whileLXD = func(ctx context.Context) {
		d.observeClaims(time.Now())
		d.e.haPass(ctx, false)
		// A claim that moved (or a gateway announced since) re-gates
		// every forward's verdict, as the worker does between passes.
		if sig := d.gatewaySignature(); sig != d.waitGates {
			d.waitGates = sig
			if sts, ok := d.e.regate(); ok {
				d.observe(sts)
			}
		}
		d.checkReverified()
		d.metrics.setFindings(d.e.currentFindings())
	}
	d.election = src.Election
	if el := src.Election; el != nil {
		d.e.mayWrite = el.Held
		go func() {
			if err := el.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("writer election stopped; this member stays a standby", zap.Error(err))
			}
		}()
		go d.followElection(ctx, el)
	} else {
		m.writer.Set(1)
	}
	d.e.dryRun = d.dryRun
	d.e.busy = d.q.busy
	d.e.ownKeysMayGo = d.q.heldForServer
	d.gw = newGateways(log, m, cfg.ClaimDebounce)
	if err := d.routes.Start(ctx, src.SB); err != nil {
		return err
	}
	defer d.routes.Shutdown()
	if d.e.ha != nil {
		ha := *d.e.ha // the caller's copy stays as given
		ha.live = d.gw.live
		ha.Options.AbsentGrace = cfg.HAAbsentGrace
		d.e.ha = &ha
	}
	connected := ""
	d.ready.Store(&connected)

	if g := cfg.NBDeleteGrace; g > 0 {
		d.e.deletedMomentsAgo = d.deletedMomentsAgo
		src.NB.OnLoadBalancerDelete(func(name string) {
			at := time.Now()
			d.mu.Lock()
			d.rowDeleted[name] = at
			d.mu.Unlock()
			// If the forward is still listed then, its row is re-created;
			// the entry goes then too (unless deleted again meanwhile), so
			// rows nobody re-creates (a forward's own deletion) do not
			// pile up in the map.
			time.AfterFunc(g, func() {
				d.mu.Lock()
				if d.rowDeleted[name] == at {
					delete(d.rowDeleted, name)
				}
				d.mu.Unlock()
				d.q.addNameChangedAt(name, at, true)
			})
		})
	}
	src.NB.OnLoadBalancerAdd(func(name string) { d.q.addInserted(name) })
	src.NB.OnLoadBalancerChange(func(name string) { d.q.addName(name) })
	src.NB.OnTopologyChange(func() { d.q.addFull("nb-topology") })
	src.NB.OnReconnect(func() { m.reconnects.WithLabelValues("nb").Inc(); d.q.addFull("nb-reconnect") })
	src.SB.OnChange(func(table string) {
		// A chassis came or went: every forward may be affected. Anything
		// else (load balancers, nat_addresses, nb_cfg progress) only
		// matters to forwards not verified yet.
		d.q.addReverify(table == "Chassis")
	})
	// A gateway claim moved: every forward of that network changes chassis.
	src.SB.OnClaimChange(func(string, string) { d.q.addReverify(true) })
	if d.ann != nil {
		src.SB.OnClaimChange(func(string, string) { d.ann.claimChanged() })
		go d.ann.run(ctx)
	}
	src.SB.OnClaimChange(d.noteClaim)
	src.SB.OnReconnect(func() { m.reconnects.WithLabelValues("sb").Inc(); d.q.addFull("sb-reconnect") })

	events := make(chan lxdwatch.Event, 1024)
	go func() {
		if err := src.LXD.Watch(ctx, events); err != nil && ctx.Err() == nil {
			log.Error("LXD event stream stopped", zap.Error(err))
		}
	}()
	go d.translate(ctx, events)
	if iv := cfg.ResyncInterval; iv > 0 {
		go func() {
			t := time.NewTicker(iv)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					d.q.addFull("periodic")
				}
			}
		}()
	}
	go d.watchConnections(ctx)
	go d.pingLiveness(ctx, cfg.LivenessInterval, cfg.LivenessTimeout, cfg.LivenessNorthdShare)

	d.q.addFull("start")
	log.Info("ovnfwd running", zap.String("lxd", src.LXD.Endpoint()), zap.Strings("nb", src.NBEndpoints),
		zap.Strings("sb", src.SBEndpoints), zap.Bool("dry-run", d.dryRun))
	d.work(ctx)
	log.Info("ovnfwd stopped")
	return nil
}

// followElection logs and counts every change of the writer role. A member
// that becomes the writer publishes when (so every member can tell who
// writes) and runs a full pass: drift made while nobody wrote is repaired.
func (d *Daemon) followElection(ctx context.Context, el Election) {
	for {
		select {
		case <-ctx.Done():
			return
		case held := <-el.Changes():
			if held {
				d.metrics.writer.Set(1)
				d.log.Info("this member is now the NB writer", zap.String("member", d.member()))
				d.mu.Lock()
				d.writerSince = time.Now().UTC().Format(time.RFC3339Nano)
				d.mu.Unlock()
				d.publishAsync(ctx)
				d.q.addFull("writer")
			} else {
				d.metrics.writer.Set(0)
				d.log.Warn("this member is no longer the NB writer: standing by (another member writes, or NB is unreachable)",
					zap.String("member", d.member()))
			}
		}
	}
}

// publishAsync publishes on its own goroutine, so that neither the worker
// nor the election waits on LXD (whose API hangs while its cluster
// database is unreachable). A publish already running is not doubled: the
// next full pass publishes again, and every publish carries all the keys.
func (d *Daemon) publishAsync(ctx context.Context) {
	if !d.publishing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer d.publishing.Store(false)
		d.publish(ctx)
	}()
}

// publish tells the other members, through LXD's cluster member config,
// this member's chassis, version and policy, and since when it is the
// writer. Failures are logged and retried at the next full pass.
func (d *Daemon) publish(ctx context.Context) {
	kv := map[string]string{fwdsync.PublishedVersion: d.cfg.Version, fwdsync.PublishedPolicy: d.cfg.Policy}
	if d.chassis != "" {
		kv[fwdsync.PublishedChassis] = d.chassis
	}
	kv[PublishedAnnounces] = "off"
	if d.ann != nil && !d.dryRun {
		kv[PublishedAnnounces] = "on"
	}
	d.mu.Lock()
	if d.writerSince != "" {
		kv[fwdsync.PublishedWriterSince] = d.writerSince
	}
	d.mu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	name, err := d.src.LXD.Publish(pctx, kv)
	if err != nil {
		d.log.Warn("cannot publish this member's ovnfwd settings in LXD; retried at the next full pass", zap.Error(err))
		return
	}
	d.mu.Lock()
	d.memberName = name
	d.mu.Unlock()
}

// member is this LXD member's name ("" before the first publish or when
// LXD is not clustered).
func (d *Daemon) member() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.memberName
}

// lxdWriteGrace is how long after LXD announced a forward's creation or
// update ovnfwd leaves its missing rows to LXD (LXD 5.0.2 writes them
// ~0.2 s after its event; longer on a loaded host).
const lxdWriteGrace = 2 * time.Second

// deletedMomentsAgo reports whether the Load_Balancer row was deleted in NB
// less than NBDeleteGrace ago.
func (d *Daemon) deletedMomentsAgo(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	at, ok := d.rowDeleted[name]
	return ok && time.Since(at) < d.cfg.NBDeleteGrace
}

// noteServerDeletion logs, for a forward deletion event, how long after
// its rows' deletion in NB it came: the window NBDeleteGrace must cover.
func (d *Daemon) noteServerDeletion(key fwdsync.ForwardKey, received time.Time) {
	infix := "-lb-" + key.ListenAddress + "-" // any network's: a debug figure
	d.mu.Lock()
	var lag time.Duration
	for name, at := range d.rowDeleted {
		if strings.Contains(name, infix) && received.Sub(at) > lag {
			lag = received.Sub(at)
		}
	}
	d.mu.Unlock()
	if lag > 0 {
		d.log.Debug("the server announced a forward's deletion after deleting its rows", zap.String("forward", keyString(key)),
			zap.Duration("after", lag), zap.Duration("grace", d.cfg.NBDeleteGrace))
	}
}

// awaitLXDWrite notes that LXD writes the forward's rows itself moments
// from now (its event announced it, or a full pass found it newly
// listed): rows it has not written yet are created only if they are still
// missing once lxdWriteGrace has passed, by it re-queued then.
func (d *Daemon) awaitLXDWrite(it workItem) {
	d.mu.Lock()
	d.lxdAnnounced[it.key] = time.Now()
	d.mu.Unlock()
	d.q.addAfter(it, lxdWriteGrace+10*time.Millisecond)
}

// appeared treats a forward a full pass found newly listed as announced:
// LXD commits a new forward, then sends its event, then writes its rows,
// and a pass that lists it in between would create the rows alongside
// LXD's own (a name with two rows). Worker goroutine (inside a full pass).
func (d *Daemon) appeared(key fwdsync.ForwardKey) {
	d.awaitLXDWrite(workItem{key: key, read: readFresh, trigger: "lxd-listed"})
}

// awaitingLXD reports whether LXD announced the forward less than
// lxdWriteGrace ago.
func (d *Daemon) awaitingLXD(key fwdsync.ForwardKey) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	at, ok := d.lxdAnnounced[key]
	if ok && time.Since(at) >= lxdWriteGrace {
		delete(d.lxdAnnounced, key)
		return false
	}
	return ok
}
