package engine

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/ovnfwd/ovnfwd/bgp"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// RouteState keeps this member's BGP announcements equal to what
// fwdsync.Routes computes from the engine's last plan and the SB gateway
// claims. It runs its own goroutine, so a claim change moves the
// announcement at once, without waiting for the worker or a full pass:
//
//	worker ── SetPlan (after every batch) ──┐
//	SB claim / reconnect callbacks ── Kick ─┼─► loop: Routes → speaker.Sync
//	ticker (SB-down grace, retries) ────────┘
//
// When SB is unreachable, the last claims are kept for RouteConfig.SBGrace;
// after it, a network this chassis held stays announced while this
// chassis's own BFD view (RouteConfig.LocalBFD, read from the local OVS)
// says ovn-controller keeps its gateway (fwdsync.GatewayHeldLocally), and
// everything is withdrawn after RouteConfig.SBHold, or at once when there
// is no local view.
//
// In a dry run (RouteConfig.dryRun) the speaker is never used: no session
// is opened and nothing is announced; route state logs what it would
// announce and withdraw, and Status shows it, marked dry_run.
//
// All methods are safe for concurrent use, and on a nil *RouteState (BGP
// off) they do nothing.
type RouteState struct {
	policy  fwdsync.RoutePolicy
	cfg     RouteConfig
	sp      RouteSpeaker
	log     *zap.Logger
	metrics *routeMetrics

	kick chan struct{}
	done chan struct{}

	mu gosync.Mutex
	sb claimSource
	// plan is the engine's last plan (copied); nothing is announced
	// before the first one.
	plan     routePlan
	havePlan bool
	// wouldAnnounce is, in a dry run, what would be announced now.
	wouldAnnounce []fwdsync.Route
	// claimAt is when the first claim event not yet acted on arrived.
	claimAt time.Time
	// sbDownSince is when the SB connection was first seen down.
	sbDownSince time.Time
	// lastSnap is the last SB snapshot read while connected: the claims
	// judged locally while SB is unreachable.
	lastSnap fwdsync.SBState
	haveSnap bool
	// nb supplies the gateways' HA chassis groups (FromEngine); groups is
	// their copy as of groupsAt, kept for when NB is unreachable too.
	nb interface {
		SnapshotFor([]string) fwdsync.NBState
	}
	groups   map[string][]fwdsync.NBHAChassis
	groupsAt time.Time
	// heldSince: gateway ports this chassis holds, since when (for the
	// announce delay).
	heldSince map[string]time.Time
	// judged: settling ran once. With graceful restart, the ports held at
	// that first look count as settled: the first sync after a restart
	// must carry every route the peers kept, or they drop them.
	judged      bool
	last        fwdsync.RouteResult
	lastSync    time.Time
	lastErr     string
	findingKeys string // to log findings when they change
	started     bool
	cancel      context.CancelFunc
}

// routePlan is the part of the engine's plan route state depends on.
type routePlan struct {
	desired  map[fwdsync.ForwardKey]fwdsync.DesiredForward
	mappings map[fwdsync.NetworkRef]fwdsync.Mapping
	networks []fwdsync.Network
	// uplinks is the uplinks' config (engine.uplinkCfg).
	uplinks map[string]map[string]string
}

// RouteSpeaker is what route state needs from the BGP speaker.
type RouteSpeaker interface {
	Start(ctx context.Context) error
	Sync(ctx context.Context, routes []fwdsync.Route) (bgp.SyncResult, error)
	Shutdown(ctx context.Context)
	// Detach ends the speaker for a restart without withdrawing anything:
	// with graceful restart on, the peers keep the routes for the restart
	// time once the process exits (it must exit soon after); without it,
	// Detach is Shutdown.
	Detach(ctx context.Context)
	Announced() []fwdsync.Route
	Sessions(ctx context.Context) []bgp.Session
	Counters() bgp.Counters
	// SetStateHook installs a callback for every session state change.
	SetStateHook(f func(peer, from, to string))
}

// claimSource is what route state needs from ovn.SB.
type claimSource interface {
	Snapshot() fwdsync.SBState
	Connected() bool
}

// claimNotifier is implemented by ovn.SB: route state follows claim
// changes and reconnects on its own.
type claimNotifier interface {
	OnClaimChange(f func(port, chassisUUID string))
	OnReconnect(f func())
}

func newRouteStateWith(rc RouteConfig, sp RouteSpeaker, log *zap.Logger, reg prometheus.Registerer) *RouteState {
	rs := &RouteState{policy: rc.Policy, cfg: rc, sp: sp, log: log, metrics: newRouteMetrics(reg),
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	if sp != nil {
		sp.SetStateHook(rs.metrics.sessionState)
		for _, p := range rc.Speaker.Peers {
			rs.metrics.sessionUp.WithLabelValues(p.String()).Set(0)
		}
	}
	return rs
}

// Start starts the speaker (not in a dry run) and the loop. sb provides the
// claims (and, if it implements claimNotifier, their changes). The loop
// runs until ctx ends; Shutdown then withdraws everything.
func (rs *RouteState) Start(ctx context.Context, sb claimSource) error {
	if rs == nil {
		return nil
	}
	if !rs.cfg.DryRun {
		if err := rs.sp.Start(ctx); err != nil {
			return err
		}
	}
	rs.mu.Lock()
	rs.sb, rs.started = sb, true
	lctx, cancel := context.WithCancel(ctx)
	rs.cancel = cancel
	rs.mu.Unlock()
	if n, ok := sb.(claimNotifier); ok {
		n.OnClaimChange(func(string, string) { rs.claimed(time.Now()) })
		n.OnReconnect(rs.Kick)
	}
	msg := "BGP route state started"
	if rs.cfg.DryRun {
		msg = "BGP route state started in a dry run: no BGP session is opened and nothing is announced"
	}
	rs.log.Info(msg, zap.String("chassis", rs.policy.Chassis), zap.Uint32("asn", rs.cfg.Speaker.ASN),
		zap.String("router-id", rs.cfg.Speaker.RouterID), zap.String("next-hop", nextHopMode(rs.policy)),
		zap.Stringers("peers", rs.cfg.Speaker.Peers))
	go rs.loop(lctx)
	return nil
}

// SetPlan hands route state the engine's current plan (desired forwards,
// mappings, LXD networks, the uplinks' config as of the last full pass).
// It copies what it keeps (the uplink configs are replaced, never changed,
// by the engine): call it from the worker.
func (rs *RouteState) SetPlan(desired map[fwdsync.ForwardKey]fwdsync.DesiredForward, mappings map[fwdsync.NetworkRef]fwdsync.Mapping,
	networks []fwdsync.Network, uplinks map[string]map[string]string) {
	if rs == nil {
		return
	}
	p := routePlan{desired: maps.Clone(desired), mappings: maps.Clone(mappings), networks: slices.Clone(networks), uplinks: maps.Clone(uplinks)}
	rs.mu.Lock()
	rs.plan, rs.havePlan = p, true
	rs.mu.Unlock()
	rs.Kick()
}

// FromEngine hands route state the engine's current plan: call it from the
// worker after every batch. Nil-safe.
func (rs *RouteState) FromEngine(e *Engine) {
	if rs == nil || e == nil {
		return
	}
	if e.nb != nil {
		rs.mu.Lock()
		rs.nb = e.nb
		rs.mu.Unlock()
	}
	rs.SetPlan(e.desired, e.mappings, e.lxdState.Networks, e.uplinkCfg)
}

// haGroupsEvery bounds how often route state copies the gateways' HA
// chassis groups out of NB while SB is reachable.
const haGroupsEvery = 5 * time.Second

// refreshGroups copies the gateways' HA chassis groups from NB, at most
// every haGroupsEvery, and keeps the last copy that had any.
func (rs *RouteState) refreshGroups(now time.Time) {
	rs.mu.Lock()
	nb, at := rs.nb, rs.groupsAt
	rs.mu.Unlock()
	if nb == nil || now.Sub(at) < haGroupsEvery {
		return
	}
	g := gatewayGroups(nb.SnapshotFor(nil))
	rs.mu.Lock()
	rs.groupsAt = now
	if len(g) > 0 {
		rs.groups = g
	}
	rs.mu.Unlock()
}

// gatewayGroups maps each SB gateway port (cr-<router port>) to the
// chassis of its router port's NB HA chassis group (fwdsync.HAGroupOf).
func gatewayGroups(nb fwdsync.NBState) map[string][]fwdsync.NBHAChassis {
	out := map[string][]fwdsync.NBHAChassis{}
	for _, p := range nb.RouterPorts {
		if _, hs, ok := fwdsync.HAGroupOf(nb, p.Name); ok {
			out["cr-"+p.Name] = hs
		}
	}
	return out
}

// Kick asks the loop to recompute and sync; it never blocks.
func (rs *RouteState) Kick() {
	if rs == nil {
		return
	}
	select {
	case rs.kick <- struct{}{}:
	default:
	}
}

// claimed records a gateway claim event (for the claim → route latency).
func (rs *RouteState) claimed(at time.Time) {
	rs.mu.Lock()
	if rs.claimAt.IsZero() {
		rs.claimAt = at
	}
	rs.mu.Unlock()
	rs.Kick()
}

// Shutdown stops the loop and ends the speaker. With graceful restart on
// (RouteConfig.Speaker.GracefulRestart) it withdraws nothing: the peers keep
// the routes for the restart time, until this member is back and has sent
// them again, and the process must exit right after. Without it, every
// route is withdrawn (BGP UPDATE withdrawals, then Cease). Call it once the
// daemon's context ended.
func (rs *RouteState) Shutdown() {
	if rs == nil {
		return
	}
	rs.mu.Lock()
	started, cancel := rs.started, rs.cancel
	rs.mu.Unlock()
	if !started {
		return
	}
	cancel()
	<-rs.done
	if rs.cfg.DryRun {
		rs.mu.Lock()
		n := len(rs.wouldAnnounce)
		rs.wouldAnnounce = nil
		rs.mu.Unlock()
		rs.log.Info("BGP route state stopped (dry run: nothing was announced)", zap.Int("would-withdraw", n))
		return
	}
	ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	n := len(rs.sp.Announced())
	if gr := rs.cfg.Speaker.GracefulRestart; gr > 0 {
		rs.sp.Detach(ctx)
		rs.log.Info("BGP route state stopped; routes left to the peers for graceful restart", zap.Int("kept", n),
			zap.Duration("restart-time", gr))
		return
	}
	rs.sp.Shutdown(ctx)
	rs.metrics.withdrawals.Add(float64(n))
	rs.metrics.routes.Set(0)
	rs.log.Info("BGP route state stopped", zap.Int("withdrawn", n))
}

func (rs *RouteState) loop(ctx context.Context) {
	defer close(rs.done)
	// The ticker notices the SB connection staying down and retries
	// failed syncs.
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-rs.kick:
		case <-t.C:
		}
		rs.reconcile(ctx, time.Now())
	}
}

// reconcile computes the routes and syncs the speaker.
func (rs *RouteState) reconcile(ctx context.Context, now time.Time) {
	rs.mu.Lock()
	if !rs.havePlan {
		rs.mu.Unlock()
		return
	}
	plan, claimAt, sb := rs.plan, rs.claimAt, rs.sb
	rs.claimAt = time.Time{}
	rs.mu.Unlock()

	var res fwdsync.RouteResult
	if !sb.Connected() {
		rs.mu.Lock()
		if rs.sbDownSince.IsZero() {
			rs.sbDownSince = now
		}
		down := now.Sub(rs.sbDownSince)
		rs.mu.Unlock()
		if down < rs.cfg.SBGrace {
			return // keep announcing what the last known claims say
		}
		res = rs.judgeLocally(ctx, plan, down)
	} else {
		rs.mu.Lock()
		rs.sbDownSince = time.Time{}
		rs.mu.Unlock()
		snap := sb.Snapshot()
		rs.mu.Lock()
		rs.lastSnap, rs.haveSnap = snap, true
		rs.mu.Unlock()
		rs.refreshGroups(now)
		var err error
		res, err = fwdsync.Routes(rs.policy, fwdsync.RouteInput{
			Desired: plan.desired, Mappings: plan.mappings, Networks: plan.networks, Uplinks: plan.uplinks, SB: snap,
			Settling: rs.settling(snap, now),
		})
		if err != nil { // the policy was validated at start: never
			rs.log.Error("route state", zap.Error(err))
			return
		}
	}

	if rs.cfg.DryRun {
		rs.dryRunSync(res, now)
		return
	}
	r, err := rs.sp.Sync(ctx, res.Routes)
	done := time.Now()
	if len(r.Withdrawn) > 0 {
		rs.log.Info("BGP routes withdrawn", zap.Int("routes", len(r.Withdrawn)), zap.String("first", r.Withdrawn[0].String()), zap.String("why", networkReasons(res, false)))
	}
	if len(r.Announced) > 0 {
		rs.log.Info("BGP routes announced", zap.Int("routes", len(r.Announced)), zap.String("first", r.Announced[0].String()), zap.String("why", networkReasons(res, true)))
	}
	rs.metrics.announcements.Add(float64(len(r.Announced)))
	rs.metrics.withdrawals.Add(float64(len(r.Withdrawn)))
	rs.metrics.routes.Set(float64(len(rs.sp.Announced())))
	if !claimAt.IsZero() && len(r.Announced)+len(r.Withdrawn) > 0 {
		rs.metrics.claimToRoute.Observe(done.Sub(claimAt).Seconds())
		rs.log.Info("gateway claim change applied to BGP", zap.Duration("took", done.Sub(claimAt)))
	}
	if err != nil {
		rs.metrics.syncErrors.Inc()
		rs.log.Warn("BGP sync incomplete; retrying", zap.Error(err))
		rs.Kick()
	}
	rs.logFindings(res.Findings)
	rs.mu.Lock()
	rs.last, rs.lastSync = res, done
	rs.lastErr = ""
	if err != nil {
		rs.lastErr = err.Error()
	}
	rs.mu.Unlock()
}

// localViewTimeout bounds one read of the local OVS for the BFD view.
const localViewTimeout = 2 * time.Second

// judgeLocally is the route result while SB has been unreachable past the
// grace: the routes of the last claims (and the current plan), kept for
// each network whose gateway this chassis still holds by its own BFD view
// (fwdsync.GatewayHeldLocally), withdrawn for the others, and for all once
// SB has been gone for SBHold or without a local view.
func (rs *RouteState) judgeLocally(ctx context.Context, plan routePlan, down time.Duration) fwdsync.RouteResult {
	rs.mu.Lock()
	snap, haveSnap, groups, last := rs.lastSnap, rs.haveSnap, rs.groups, rs.last
	rs.mu.Unlock()
	gone := "southbound DB unreachable for " + down.Round(time.Second).String()
	withdrawAll := func(why string) fwdsync.RouteResult {
		res := fwdsync.RouteResult{Networks: slices.Clone(last.Networks), Findings: last.Findings}
		for i := range res.Networks {
			res.Networks[i].Announced, res.Networks[i].Routes = false, 0
			res.Networks[i].Reason = gone + ": routes withdrawn (" + why + ")"
		}
		return res
	}
	switch {
	case rs.cfg.LocalBFD == nil:
		return withdrawAll("no local OVS view to judge the gateways by")
	case down >= rs.cfg.SBHold:
		return withdrawAll("longer than --bgp-sb-hold " + rs.cfg.SBHold.String())
	case !haveSnap:
		return withdrawAll("no claim was ever read")
	}
	lctx, cancel := context.WithTimeout(ctx, localViewTimeout)
	bfd, err := rs.cfg.LocalBFD(lctx)
	cancel()
	if err != nil {
		return withdrawAll("the local OVS could not be read: " + err.Error())
	}
	res, err := fwdsync.Routes(rs.policy, fwdsync.RouteInput{
		Desired: plan.desired, Mappings: plan.mappings, Networks: plan.networks, Uplinks: plan.uplinks, SB: snap,
	})
	if err != nil { // the policy was validated at start: never
		return withdrawAll(err.Error())
	}
	drop := map[fwdsync.NetworkRef]bool{}
	for i := range res.Networks {
		n := &res.Networks[i]
		if !n.Announced {
			n.Reason = gone + ": as last seen, " + n.Reason
			continue
		}
		held, why := fwdsync.GatewayHeldLocally(groups[n.Gateway], rs.policy.Chassis, bfd)
		if held {
			n.Reason = gone + ": kept, " + why
			continue
		}
		drop[n.Network] = true
		n.Announced, n.Routes = false, 0
		n.Reason = gone + ": routes withdrawn, " + why
	}
	if len(drop) > 0 {
		res.Routes = slices.DeleteFunc(res.Routes, func(r fwdsync.Route) bool { return drop[r.Network] })
	}
	return res
}

// settling returns the gateway ports this chassis has held for less than
// the announce delay, and schedules a recompute for when the first of them
// has lasted it. Withdrawals are never delayed.
func (rs *RouteState) settling(snap fwdsync.SBState, now time.Time) map[string]bool {
	delay := rs.cfg.AnnounceDelay
	rs.mu.Lock()
	defer rs.mu.Unlock()
	held := make(map[string]time.Time)
	var out map[string]bool
	next := time.Duration(-1)
	for _, pb := range snap.PortBindings {
		if pb.Type != "chassisredirect" || pb.Chassis != rs.policy.Chassis {
			continue
		}
		since, ok := rs.heldSince[pb.LogicalPort]
		switch {
		case !ok && !rs.judged && rs.cfg.Speaker.GracefulRestart > 0:
			since = now.Add(-delay)
		case !ok:
			since = now
		}
		held[pb.LogicalPort] = since
		if left := delay - now.Sub(since); left > 0 {
			if out == nil {
				out = map[string]bool{}
			}
			out[pb.LogicalPort] = true
			if next < 0 || left < next {
				next = left
			}
		}
	}
	rs.heldSince, rs.judged = held, true
	if next >= 0 {
		time.AfterFunc(next, rs.Kick)
	}
	return out
}

// dryRunSync is reconcile's end in a dry run: it logs what would be
// announced and withdrawn instead of telling the speaker, and keeps it for
// Status.
func (rs *RouteState) dryRunSync(res fwdsync.RouteResult, now time.Time) {
	rs.mu.Lock()
	old := rs.wouldAnnounce
	rs.mu.Unlock()
	announce, withdraw := routeDiff(old, res.Routes)
	if len(withdraw) > 0 {
		rs.log.Info("dry run: would withdraw BGP routes", zap.Int("routes", len(withdraw)), zap.Stringers("prefixes", withdraw),
			zap.String("why", networkReasons(res, false)))
	}
	if len(announce) > 0 {
		rs.log.Info("dry run: would announce BGP routes", zap.Int("routes", len(announce)), zap.Stringers("prefixes", announce),
			zap.String("why", networkReasons(res, true)))
	}
	rs.logFindings(res.Findings)
	for i := range res.Networks {
		if res.Networks[i].Announced {
			res.Networks[i].Reason += " (dry run: would be announced; nothing is sent)"
		}
	}
	rs.mu.Lock()
	rs.wouldAnnounce = slices.Clone(res.Routes)
	rs.last, rs.lastSync, rs.lastErr = res, now, ""
	rs.mu.Unlock()
}

// routeDiff returns the prefixes of want that are new or changed against
// have, and those of have that want no longer has.
func routeDiff(have, want []fwdsync.Route) (announce, withdraw []netip.Prefix) {
	old := make(map[netip.Prefix]fwdsync.Route, len(have))
	for _, r := range have {
		old[r.Prefix] = r
	}
	keep := make(map[netip.Prefix]bool, len(want))
	for _, r := range want {
		keep[r.Prefix] = true
		if o, ok := old[r.Prefix]; !ok || !o.Equal(r) {
			announce = append(announce, r.Prefix)
		}
	}
	for _, r := range have {
		if !keep[r.Prefix] {
			withdraw = append(withdraw, r.Prefix)
		}
	}
	return announce, withdraw
}

// announced is what this member announces now, or in a dry run would.
func (rs *RouteState) announced() []fwdsync.Route {
	if rs.cfg.DryRun {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		return slices.Clone(rs.wouldAnnounce)
	}
	return rs.sp.Announced()
}

// logFindings logs route findings when they change.
func (rs *RouteState) logFindings(fs []fwdsync.Finding) {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(string(f.Category) + " " + f.Detail + "\n")
	}
	rs.mu.Lock()
	changed := b.String() != rs.findingKeys
	rs.findingKeys = b.String()
	rs.mu.Unlock()
	if !changed {
		return
	}
	for _, f := range fs {
		rs.log.Warn("route state", zap.String("category", string(f.Category)),
			zap.String("network", ProjectName(f.Key.Project)+"/"+f.Key.Network), zap.String("detail", f.Detail))
	}
}

// Findings returns the findings of the last route computation (e.g.
// lxd-bgp-also-announces), for status and check output.
func (rs *RouteState) Findings() []fwdsync.Finding {
	if rs == nil {
		return nil
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return slices.Clone(rs.last.Findings)
}

// networkReasons summarizes why networks are (not) announced, for logs.
func networkReasons(res fwdsync.RouteResult, announced bool) string {
	var parts []string
	for _, n := range res.Networks {
		if n.Announced == announced {
			parts = append(parts, ProjectName(n.Network.Project)+"/"+n.Network.Name+": "+n.Reason)
		}
	}
	return strings.Join(parts, "; ")
}

func nextHopMode(p fwdsync.RoutePolicy) string {
	if p.NextHop == "" {
		return fwdsync.NextHopRouter
	}
	return p.NextHop
}

// RouteStatus is the JSON of /routes (and of `ovnfwd status`'s route part).
type RouteStatus struct {
	Enabled bool `json:"enabled"`
	// DryRun: `run --dry-run`: no BGP session is open and Routes are what
	// this member would announce; nothing is.
	DryRun   bool                 `json:"dry_run,omitempty"`
	Chassis  string               `json:"chassis,omitempty"`
	ASN      uint32               `json:"asn,omitempty"`
	RouterID string               `json:"router_id,omitempty"`
	NextHop  string               `json:"next_hop_mode,omitempty"`
	Sessions []bgp.Session        `json:"sessions"`
	Networks []RouteNetworkStatus `json:"networks"`
	Routes   []RouteEntry         `json:"routes"`
	Findings []RouteFinding       `json:"findings"`
	Counters bgp.Counters         `json:"counters"`
	LastSync *time.Time           `json:"last_sync,omitempty"`
	Error    string               `json:"error,omitempty"`
}

type RouteNetworkStatus struct {
	Project   string `json:"project"`
	Network   string `json:"network"`
	Uplink    string `json:"uplink"`
	Prefix    string `json:"prefix,omitempty"`
	Gateway   string `json:"gateway,omitempty"`
	Holder    string `json:"holder"`
	Announced bool   `json:"announced"`
	Routes    int    `json:"routes"`
	Reason    string `json:"reason"`
}

// RouteFinding is a route finding in /routes (network-level: no listen
// address).
type RouteFinding struct {
	Project  string `json:"project"`
	Network  string `json:"network"`
	Category string `json:"category"`
	Severity string `json:"severity"`
	Detail   string `json:"detail"`
	Repair   string `json:"repair"`
}

type RouteEntry struct {
	Prefix      string   `json:"prefix"`
	NextHop     string   `json:"next_hop"` // "self" for next-hop self
	Communities []string `json:"communities,omitempty"`
	MED         *uint32  `json:"med,omitempty"`
	Project     string   `json:"project"`
	Network     string   `json:"network"`
}

// Status reports what this member announces and its sessions.
func (rs *RouteState) Status(ctx context.Context) RouteStatus {
	if rs == nil {
		return RouteStatus{Sessions: []bgp.Session{}, Networks: []RouteNetworkStatus{}, Routes: []RouteEntry{}, Findings: []RouteFinding{}}
	}
	st := RouteStatus{Enabled: true, DryRun: rs.cfg.DryRun, Chassis: rs.policy.Chassis, ASN: rs.cfg.Speaker.ASN, RouterID: rs.cfg.Speaker.RouterID,
		NextHop: nextHopMode(rs.policy), Sessions: []bgp.Session{}, Networks: []RouteNetworkStatus{}, Routes: []RouteEntry{}}
	if !rs.cfg.DryRun {
		st.Sessions, st.Counters = rs.sp.Sessions(ctx), rs.sp.Counters()
	}
	for _, r := range rs.announced() {
		e := RouteEntry{Prefix: r.Prefix.String(), NextHop: "self", MED: r.MED, Project: ProjectName(r.Network.Project), Network: r.Network.Name}
		if r.NextHop.IsValid() {
			e.NextHop = r.NextHop.String()
		}
		for _, c := range r.Communities {
			e.Communities = append(e.Communities, c.String())
		}
		st.Routes = append(st.Routes, e)
	}
	rs.mu.Lock()
	last, lastSync, lastErr := rs.last, rs.lastSync, rs.lastErr
	rs.mu.Unlock()
	for _, n := range last.Networks {
		st.Networks = append(st.Networks, RouteNetworkStatus{Project: ProjectName(n.Network.Project), Network: n.Network.Name,
			Uplink: n.Uplink, Prefix: n.Prefix, Gateway: n.Gateway, Holder: n.Holder, Announced: n.Announced, Routes: n.Routes, Reason: n.Reason})
	}
	st.Findings = []RouteFinding{}
	for _, f := range last.Findings {
		st.Findings = append(st.Findings, RouteFinding{Project: ProjectName(f.Key.Project), Network: f.Key.Network,
			Category: string(f.Category), Severity: string(f.Severity), Detail: f.Detail, Repair: f.Repair})
	}
	if !lastSync.IsZero() {
		st.LastSync = &lastSync
	}
	st.Error = lastErr
	return st
}

// ServeHTTP serves Status as JSON (mounted at /routes).
func (rs *RouteState) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rs.Status(r.Context()))
}

// announcedPrefixes lists the announced (dry run: would-be announced)
// prefixes (tests, logs).
func (rs *RouteState) announcedPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, r := range rs.announced() {
		out = append(out, r.Prefix)
	}
	return out
}

// routeMetrics are the route-state metrics (namespace ovnfwd, subsystem bgp).
type routeMetrics struct {
	routes        prometheus.Gauge
	announcements prometheus.Counter
	withdrawals   prometheus.Counter
	syncErrors    prometheus.Counter
	sessionUp     *prometheus.GaugeVec   // by peer
	sessionChange *prometheus.CounterVec // by peer, state
	claimToRoute  prometheus.Histogram
}

func newRouteMetrics(reg prometheus.Registerer) *routeMetrics {
	m := &routeMetrics{
		routes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "ovnfwd", Subsystem: "bgp", Name: "routes_announced",
			Help: "Host routes this member announces (forward VIPs of networks whose gateway its chassis holds)."}),
		announcements: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "ovnfwd", Subsystem: "bgp", Name: "announcements_total",
			Help: "Routes announced (new or changed)."}),
		withdrawals: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "ovnfwd", Subsystem: "bgp", Name: "withdrawals_total",
			Help: "Routes withdrawn."}),
		syncErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "ovnfwd", Subsystem: "bgp", Name: "sync_errors_total",
			Help: "Route syncs in which some announcement or withdrawal failed (retried)."}),
		sessionUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "ovnfwd", Subsystem: "bgp", Name: "session_up",
			Help: "1 when the BGP session to the peer is established."}, []string{"peer"}),
		sessionChange: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "ovnfwd", Subsystem: "bgp", Name: "session_state_changes_total",
			Help: "BGP session state changes, by peer and new state."}, []string{"peer", "state"}),
		claimToRoute: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "ovnfwd", Subsystem: "bgp", Name: "claim_to_route_seconds",
			Help:    "From a gateway claim change reaching ovnfwd to the resulting announcements/withdrawals handed to the BGP sessions.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
	}
	if reg != nil {
		reg.MustRegister(m.routes, m.announcements, m.withdrawals, m.syncErrors, m.sessionUp, m.sessionChange, m.claimToRoute)
	}
	return m
}

func (m *routeMetrics) sessionState(peer, _, to string) {
	up := 0.0
	if to == "established" {
		up = 1
	}
	m.sessionUp.WithLabelValues(peer).Set(up)
	m.sessionChange.WithLabelValues(peer, to).Inc()
}

// RouteConfig is route state's configuration (built from `ovnfwd run`'s
// flags by cmd).
type RouteConfig struct {
	Policy  fwdsync.RoutePolicy
	Speaker bgp.Config
	// SBGrace: how long SB may be unreachable before the last claims are
	// no longer trusted as they are; SBHold: after how long every route is
	// withdrawn whatever the local view says.
	SBGrace, SBHold time.Duration
	// LocalBFD reads this chassis's BFD view from its local OVS (chassis →
	// forwarding; ovn.LocalBFD). Nil: no local view, every route is
	// withdrawn after SBGrace.
	LocalBFD      func(ctx context.Context) (map[string]bool, error)
	AnnounceDelay time.Duration
	// DryRun (`run --dry-run`): compute and log the routes, open no BGP
	// session and announce nothing.
	DryRun bool
}
