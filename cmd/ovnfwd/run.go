package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/ovnfwd/ovnfwd/lxdwatch"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run the daemon: mirror every LXD forward into verified OVN state, continuously",
		Description: `run does a full sync at start, then reacts to LXD lifecycle events (all
projects) and to OVN northbound/southbound changes, reconciling one forward at a
time; a full resync runs after every reconnect and every --resync-interval.

Safety: ovnfwd creates a row only if no row of that name exists (an OVSDB wait
in the same transaction), aborts and re-plans when a row changed under it,
mutates router/switch load_balancer columns instead of rewriting them, deletes
nothing for a network whose LXD listing did not complete, and holds back every
deletion of a pass that would delete more than --deletion-budget rows.

Examples:
   ovnfwd run
   ovnfwd --nb unix:/run/ovn/ovnnb_db.sock --sb unix:/run/ovn/ovnsb_db.sock run --metrics-address 127.0.0.1:9478
   ovnfwd run --dry-run --log-level debug`,
		Flags: append(append(append(planFlags(), haFlags()...), bgpFlags()...),
			&cli.DurationFlag{Name: "claim-debounce", Value: 250 * time.Millisecond, EnvVars: []string{"OVNFWD_CLAIM_DEBOUNCE"},
				Usage: "act on a gateway claim change once it has lasted this long (filters the few-ms holders seen during pre-emption)"},
			&cli.DurationFlag{Name: "liveness-interval", Value: 10 * time.Second, EnvVars: []string{"OVNFWD_LIVENESS_INTERVAL"},
				Usage: "ping every chassis through NB_Global.nb_cfg this often (0 disables)"},
			&cli.DurationFlag{Name: "liveness-timeout", Value: 5 * time.Second,
				Usage: "a chassis whose Chassis_Private.nb_cfg has not followed a ping after this long is unresponsive"},
			&cli.StringFlag{Name: "metrics-address", Value: "127.0.0.1:9478", EnvVars: []string{"OVNFWD_METRICS_ADDRESS"},
				Usage: "serve /metrics, /healthz and /readyz on this `ADDRESS` (\"\" disables)"},
			&cli.DurationFlag{Name: "resync-interval", Value: 5 * time.Minute, EnvVars: []string{"OVNFWD_RESYNC_INTERVAL"},
				Usage: "full resync period (0 disables periodic resyncs)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "log what would change, write nothing; with --bgp-asn, open no BGP session and announce nothing (/routes shows what would be announced)"},
			&cli.BoolFlag{Name: "pprof", Usage: "also serve Go profiles under /debug/pprof/ on --metrics-address"},
			&cli.StringFlag{Name: "memory-limit", Value: "off", EnvVars: []string{"OVNFWD_MEMORY_LIMIT"},
				Usage: "Go soft memory limit: off, a size such as 256MiB, or auto (a quarter above the live heap after each full pass, at least 64MiB: lowest RSS, but the collector then works hard during full passes); GOMEMLIMIT overrides it"},
			&cli.DurationFlag{Name: "nb-settle", Value: 50 * time.Millisecond,
				Usage: "wait this long after an NB change before repairing it (LXD ≥5.21.2 writes a forward in several NB transactions)"},
		),
		Action: runDaemon,
	}
}

// planFlags are the planning and judging policy flags shared by run,
// check, repair, status and explain: the deletion budget, the ARP responder
// policy and the BGP route policy (routePolicyFlags), so that every command
// judges forwards the way the daemon, given the same flags or environment,
// keeps them.
func planFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.IntFlag{Name: "deletion-budget", Value: 100, EnvVars: []string{"OVNFWD_DELETION_BUDGET"},
			Usage: "most Load_Balancer rows one pass may delete; a pass that needs more deletes none and reports it (-1: no limit)"},
		arpResponderFlag(),
	}, routePolicyFlags()...)
}

func planOptions(c *cli.Context) fwdsync.Options {
	mode, _ := arpResponderMode(c)       // the flag validates itself
	routes, _ := routePolicyFromFlags(c) // so do the route policy flags
	return fwdsync.Options{DeletionBudget: c.Int("deletion-budget"), ARPResponder: mode, Routes: routes}
}

func runDaemon(c *cli.Context) error {
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	m := newMetrics()
	memLimit, err := parseMemoryLimit(c.String("memory-limit"))
	if err != nil {
		return cli.Exit(err.Error(), exitError)
	}
	memLimit.apply()
	d := &daemon{log: log, metrics: m, q: newQueue(), dryRun: c.Bool("dry-run"), nbSettle: c.Duration("nb-settle"), pprof: c.Bool("pprof"),
		pendingSince: map[fwdsync.ForwardKey]pendingTrigger{}, memLimit: memLimit, chassis: c.String(flagChassis)}
	if d.routes, err = newRouteState(c, log, m.reg); err != nil {
		return cli.Exit(err.Error(), exitError)
	}
	if addr := c.String("metrics-address"); addr != "" {
		srv, err := d.serveHTTP(addr)
		if err != nil {
			return cli.Exit(fmt.Sprintf("--metrics-address %s: %v", addr, err), exitError)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}

	// Connect, retrying: the daemon may start before LXD or OVN.
	var cs *conns
	for try := 0; ; try++ {
		cs, err = connect(ctx, c, log, connectOpts{needSB: true, timeout: 10 * time.Second})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("waiting for LXD and OVN", zap.Error(err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff(try + 2)):
		}
	}
	defer cs.Close()
	d.cs = cs
	d.e = newEngine(cs.lxd, cs.nb, cs.sb, planOptions(c), log)
	d.e.metrics = m
	d.e.dryRun = d.dryRun
	d.e.busy = d.q.busy
	if d.e.ha, err = haFromFlags(c); err != nil {
		return cli.Exit(err.Error(), exitError)
	}
	d.gw = newGateways(log, m, c.Duration("claim-debounce"))
	if err := d.routes.Start(ctx, cs.sb); err != nil {
		return cli.Exit(err.Error(), exitError)
	}
	defer d.routes.Shutdown()
	if d.e.ha != nil {
		d.e.ha.live = d.gw.live
		d.e.ha.opts.AbsentGrace = c.Duration("ha-absent-grace")
	}
	connected := ""
	d.ready.Store(&connected)

	cs.nb.OnLoadBalancerChange(func(name string) { d.q.addName(name) })
	cs.nb.OnTopologyChange(func() { d.q.addFull("nb-topology") })
	cs.nb.OnReconnect(func() { m.reconnects.WithLabelValues("nb").Inc(); d.q.addFull("nb-reconnect") })
	cs.sb.OnChange(func(table string) {
		// A chassis came or went: every forward may be affected. Anything
		// else (load balancers, nat_addresses, nb_cfg progress) only
		// matters to forwards not verified yet.
		d.q.addReverify(table == "Chassis")
	})
	// A gateway claim moved: every forward of that network changes chassis.
	cs.sb.OnClaimChange(func(string, string) { d.q.addReverify(true) })
	cs.sb.OnReconnect(func() { m.reconnects.WithLabelValues("sb").Inc(); d.q.addFull("sb-reconnect") })

	events := make(chan lxdwatch.Event, 1024)
	go func() {
		if err := cs.lxd.Watch(ctx, events); err != nil && ctx.Err() == nil {
			log.Error("LXD event stream stopped", zap.Error(err))
		}
	}()
	go d.translate(ctx, events)
	if iv := c.Duration("resync-interval"); iv > 0 {
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
	go d.pingLiveness(ctx, c.Duration("liveness-interval"), c.Duration("liveness-timeout"))

	d.q.addFull("start")
	log.Info("ovnfwd running", zap.String("lxd", cs.lxd.Endpoint()), zap.Strings("nb", cs.nbEndpoints),
		zap.Strings("sb", cs.sbEndpoints), zap.Bool("dry-run", d.dryRun))
	d.work(ctx)
	log.Info("ovnfwd stopped")
	return nil
}

// daemon is the run loop: triggers in, one worker out.
type daemon struct {
	memLimit memoryLimit
	// chassis is --chassis as given (BGP resolves its own default).
	chassis string
	log     *zap.Logger
	metrics *metrics
	q       *queue
	cs      *conns
	e       *engine
	gw      *gateways
	ready   atomic.Pointer[string] // "" once connected; read by /readyz
	dryRun  bool
	pprof   bool
	routes  *routeState // nil: BGP off
	// nbSettle delays reconciles triggered by NB changes.
	nbSettle time.Duration
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
func (d *daemon) translate(ctx context.Context, in <-chan lxdwatch.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-in:
			switch ev.Kind {
			case lxdwatch.KindForward:
				d.q.add(workItem{key: ev.Key, fresh: true, trigger: "lxd-event", since: ev.Received, eventAt: ev.Received})
			case lxdwatch.KindResync:
				d.q.addFull("lxd-connect")
			default:
				d.q.addFull("lxd-" + ev.Kind.String())
			}
		}
	}
}

func (d *daemon) watchConnections(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var lastLXD uint64
	lxdUp := false // only a connected → disconnected transition counts
	for {
		up := d.cs.lxd.Connected()
		if lxdUp && !up {
			// A pass now fails fast and marks every forward degraded;
			// nothing is deleted until a listing completes again.
			d.q.addFull("lxd-down")
		}
		lxdUp = up
		d.metrics.setConn("lxd", up)
		d.metrics.setConn("nb", d.cs.nb.Connected())
		d.metrics.setConn("sb", d.cs.sb.Connected())
		if r := d.cs.lxd.Reconnects(); r > lastLXD {
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

// work is the single worker: full passes first, then forwards, then one
// northd barrier for the batch and the verification of what it touched;
// failures are retried with backoff.
func (d *daemon) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.q.wake:
		}
		b := d.q.take(time.Now(), d.nbSettle)
		if b.full != "" {
			d.fullPass(ctx, b.full)
		}
		items := b.items
		for name, since := range b.names {
			if key, ok := d.e.keyForLB(name); ok {
				// Re-read LXD: the NB change may be LXD's own write that
				// its event has not announced yet.
				items = append(items, workItem{key: key, fresh: true, trigger: "nb-change", since: since})
			}
		}
		items = dedupe(items)
		var done []fwdsync.ForwardKey
		for _, it := range items {
			if ctx.Err() != nil {
				return
			}
			ok, clean := d.forward(ctx, it)
			switch {
			case !ok:
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
	}
}

// observeClaimsChanged runs the claim tracker and reports whether a stable
// claim change was handled.
func (d *daemon) observeClaimsChanged(now time.Time) bool {
	before := d.gw.eventCount()
	d.observeClaims(now)
	return d.gw.eventCount() != before
}

func (d *daemon) fullPass(ctx context.Context, trigger string) {
	start := time.Now()
	pr, err := d.e.pass(ctx, !d.dryRun)
	d.metrics.reconcile.WithLabelValues(trigger).Observe(time.Since(start).Seconds())
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
	d.log.Info("full pass", zap.String("trigger", trigger), zap.Duration("took", time.Since(start)),
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
func (d *daemon) forward(ctx context.Context, it workItem) (ok, clean bool) {
	start := time.Now()
	if !it.since.IsZero() {
		p, seen := d.pendingSince[it.key]
		if !seen {
			p = pendingTrigger{since: it.since, trigger: it.trigger}
		}
		p.eventAt = earliest(p.eventAt, it.eventAt)
		d.pendingSince[it.key] = p
	}
	applied, clean, err := d.e.forwardClean(ctx, it.key, it.fresh)
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
		d.q.addAfter(it, backoff(it.tries))
		return false, false
	}
	return true, clean && !applied
}

// observe records the trigger → verified latencies of forwards that
// reached ok: from the first trigger (change_to_verified) and from the LXD
// event (event_to_verified), when there was one.
func (d *daemon) observe(sts []fwdsync.ForwardStatus) {
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
			out[i].fresh = out[i].fresh || it.fresh
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

// serveRoutes is /routes: the route state, and which member this is even
// with BGP off (status shows it per member).
func (d *daemon) serveRoutes(w http.ResponseWriter, r *http.Request) {
	st := d.routes.Status(r.Context())
	if st.Chassis == "" {
		st.Chassis = d.chassis
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

func (d *daemon) serveHTTP(addr string) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/forwards", func(w http.ResponseWriter, _ *http.Request) {
		// Every forward's last verified state, for scripts and tests.
		out := []forwardStatus{}
		if p := d.ready.Load(); p != nil && *p == "" {
			for _, s := range d.e.allStatuses() {
				out = append(out, forwardStatus{Project: projectName(s.Key.Project), Network: s.Key.Network,
					ListenAddress: s.Key.ListenAddress, State: string(s.State), Reason: s.Reason,
					Rows: d.e.verifiedRows(s.Key)})
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("/findings", func(w http.ResponseWriter, _ *http.Request) {
		// The last full verification's findings and the latest HA findings.
		out := []findingOut{}
		if p := d.ready.Load(); p != nil && *p == "" {
			out = toFindings(d.e.currentFindings())
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("/failovers", func(w http.ResponseWriter, _ *http.Request) {
		out := []failoverRecord{}
		if p := d.ready.Load(); p != nil && *p == "" {
			out = append(out, d.gw.failovers()...)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.Handle("/routes", d.routes)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if msg := d.notReady(); msg != "" {
			http.Error(w, msg, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if d.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

func (d *daemon) notReady() string {
	if p := d.ready.Load(); p == nil || *p != "" {
		return "connecting to LXD and OVN"
	}
	switch {
	case !d.cs.lxd.Connected():
		return "LXD event stream down"
	case !d.cs.nb.Connected():
		return "OVN northbound DB down"
	case !d.cs.sb.Connected():
		return "OVN southbound DB down"
	case !d.e.isSynced():
		return "initial sync not done"
	}
	return ""
}
