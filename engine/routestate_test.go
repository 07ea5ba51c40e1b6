package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/ovnfwd/ovnfwd/bgp"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// fakeSpeaker records syncs; it holds the routes like the real one.
type fakeSpeaker struct {
	mu       gosync.Mutex
	rib      map[netip.Prefix]fwdsync.Route
	syncs    int
	shutdown bool
	detached bool
	synced   chan struct{}
}

func newFakeSpeaker() *fakeSpeaker {
	return &fakeSpeaker{rib: map[netip.Prefix]fwdsync.Route{}, synced: make(chan struct{}, 100)}
}

func (f *fakeSpeaker) Start(context.Context) error { return nil }

func (f *fakeSpeaker) Sync(_ context.Context, routes []fwdsync.Route) (bgp.SyncResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var res bgp.SyncResult
	want := map[netip.Prefix]bool{}
	for _, r := range routes {
		want[r.Prefix] = true
		if old, ok := f.rib[r.Prefix]; !ok || !old.Equal(r) {
			f.rib[r.Prefix] = r
			res.Announced = append(res.Announced, r.Prefix)
		}
	}
	for p := range f.rib {
		if !want[p] {
			delete(f.rib, p)
			res.Withdrawn = append(res.Withdrawn, p)
		}
	}
	f.syncs++
	f.synced <- struct{}{}
	return res, nil
}

func (f *fakeSpeaker) Shutdown(context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shutdown = true
	f.rib = map[netip.Prefix]fwdsync.Route{}
}

func (f *fakeSpeaker) Detach(context.Context) {
	f.mu.Lock()
	f.detached = true
	f.mu.Unlock()
}

func (f *fakeSpeaker) Announced() []fwdsync.Route {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fwdsync.Route
	for _, r := range f.rib {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b fwdsync.Route) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	return out
}

func (f *fakeSpeaker) Sessions(context.Context) []bgp.Session {
	return []bgp.Session{{Peer: "127.0.0.1:1179", ASN: 65000, State: "established"}}
}

func (f *fakeSpeaker) Counters() bgp.Counters                   { return bgp.Counters{} }
func (f *fakeSpeaker) SetStateHook(func(peer, from, to string)) {}

func (f *fakeSpeaker) prefixes() []string {
	var out []string
	for _, r := range f.Announced() {
		out = append(out, r.Prefix.String()+" via "+r.NextHop.String())
	}
	return out
}

// fakeSB is a claim source whose claims and connection the test sets.
type fakeSB struct {
	mu      gosync.Mutex
	claims  map[string]string
	down    bool
	onClaim []func(string, string)
}

func (f *fakeSB) Snapshot() fwdsync.SBState {
	f.mu.Lock()
	defer f.mu.Unlock()
	var st fwdsync.SBState
	for port, ch := range f.claims {
		st.PortBindings = append(st.PortBindings, fwdsync.SBPortBinding{LogicalPort: port, Type: "chassisredirect", Chassis: ch})
	}
	return st
}

func (f *fakeSB) Connected() bool { f.mu.Lock(); defer f.mu.Unlock(); return !f.down }

func (f *fakeSB) setDown(down bool) { f.mu.Lock(); f.down = down; f.mu.Unlock() }

func (f *fakeSB) OnClaimChange(cb func(string, string)) {
	f.mu.Lock()
	f.onClaim = append(f.onClaim, cb)
	f.mu.Unlock()
}

func (f *fakeSB) OnReconnect(func()) {}

func (f *fakeSB) claim(port, ch string) {
	f.mu.Lock()
	f.claims[port] = ch
	cbs := slices.Clone(f.onClaim)
	f.mu.Unlock()
	for _, cb := range cbs {
		cb(port, ch)
	}
}

// metric returns the first sample of a metric family, or nil.
func metric(t *testing.T, reg *prometheus.Registry, name string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) > 0 {
			return mf.Metric[0]
		}
	}
	return nil
}

// routeFixture: LXD network default/ovn0 (prefix lxd-net2, uplink br0,
// router uplink address 10.99.0.100) with two forwards.
func routeFixture() routePlan {
	ref := fwdsync.NetworkRef{Project: "default", Name: "ovn0"}
	k1 := fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.10"}
	k2 := fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.11"}
	return routePlan{
		desired: map[fwdsync.ForwardKey]fwdsync.DesiredForward{k1: {Key: k1, Prefix: "lxd-net2"}, k2: {Key: k2, Prefix: "lxd-net2"}},
		mappings: map[fwdsync.NetworkRef]fwdsync.Mapping{ref: {Network: ref, Prefix: "lxd-net2", RouterName: "lxd-net2-lr",
			Subnets: []netip.Prefix{netip.MustParsePrefix("10.10.10.0/24"), netip.MustParsePrefix("10.99.0.0/24")}}},
		networks: []fwdsync.Network{{Project: "default", Name: "ovn0", Config: map[string]string{
			"network": "br0", "ipv4.address": "10.10.10.1/24", "volatile.network.ipv4.address": "10.99.0.100"}}},
	}
}

func newTestRouteState(t *testing.T, chassis string) (*RouteState, *fakeSpeaker, *fakeSB, *prometheus.Registry) {
	t.Helper()
	sp := newFakeSpeaker()
	sb := &fakeSB{claims: map[string]string{"cr-lxd-net2-lr-lrp-ext": "ch1"}}
	reg := prometheus.NewRegistry()
	rs := newRouteStateWith(RouteConfig{Policy: fwdsync.RoutePolicy{Chassis: chassis}, SBGrace: 3 * time.Second,
		Speaker: bgp.Config{ASN: 65101, RouterID: "127.0.0.11"}}, sp, zap.NewNop(), reg)
	rs.sb = sb
	return rs, sp, sb, reg
}

func TestRouteStateFollowsPlanAndClaims(t *testing.T) {
	rs, sp, sb, reg := newTestRouteState(t, "ch1")
	ctx := context.Background()
	now := time.Now()

	rs.reconcile(ctx, now)
	if sp.syncs != 0 {
		t.Fatal("synced before the first plan: would withdraw nothing but announce nothing either")
	}
	p := routeFixture()
	rs.SetPlan(p.desired, p.mappings, p.networks, nil)
	rs.reconcile(ctx, now)
	if got := sp.prefixes(); !slices.Equal(got, []string{"198.51.100.10/32 via 10.99.0.100", "198.51.100.11/32 via 10.99.0.100"}) {
		t.Fatalf("announced %q", got)
	}

	// The plan is copied: the Engine's later map edits do not leak in.
	delete(p.desired, fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.11"})
	rs.reconcile(ctx, now)
	if len(sp.Announced()) != 2 {
		t.Fatal("route state shares the engine's map")
	}
	// The Engine deleted a forward: withdrawn.
	rs.SetPlan(p.desired, p.mappings, p.networks, nil)
	rs.reconcile(ctx, now)
	if got := sp.prefixes(); !slices.Equal(got, []string{"198.51.100.10/32 via 10.99.0.100"}) {
		t.Fatalf("after forward delete: %q", got)
	}

	// The claim moves away: everything withdrawn, latency observed.
	sb.claim("cr-lxd-net2-lr-lrp-ext", "ch2")
	rs.claimed(time.Now()) // what Start registers with the SB
	rs.reconcile(ctx, time.Now())
	if got := sp.prefixes(); len(got) != 0 {
		t.Fatalf("after the claim moved: %q", got)
	}
	if m := metric(t, reg, "ovnfwd_bgp_claim_to_route_seconds"); m == nil || m.GetHistogram().GetSampleCount() != 1 {
		t.Errorf("claim latency histogram: %v", m)
	}
	if m := metric(t, reg, "ovnfwd_bgp_withdrawals_total"); m.GetCounter().GetValue() != 2 {
		t.Errorf("withdrawals_total %v", m)
	}
	st := rs.Status(ctx)
	if len(st.Networks) != 1 || st.Networks[0].Announced || st.Networks[0].Holder != "ch2" {
		t.Errorf("status networks %+v", st.Networks)
	}

	// Network deleted in LXD (gone from the plan): nothing, even when the
	// claim comes back.
	sb.claim("cr-lxd-net2-lr-lrp-ext", "ch1")
	rs.SetPlan(nil, nil, nil, nil)
	rs.reconcile(ctx, time.Now())
	if got := sp.prefixes(); len(got) != 0 {
		t.Fatalf("deleted network announced: %q", got)
	}
}

func TestRouteStateSBDownGrace(t *testing.T) {
	rs, sp, sb, _ := newTestRouteState(t, "ch1")
	ctx := context.Background()
	p := routeFixture()
	rs.SetPlan(p.desired, p.mappings, p.networks, nil)
	t0 := time.Now()
	rs.reconcile(ctx, t0)
	if len(sp.Announced()) != 2 {
		t.Fatal("not announced")
	}
	sb.setDown(true)
	rs.reconcile(ctx, t0.Add(time.Second))
	rs.reconcile(ctx, t0.Add(3*time.Second))
	if len(sp.Announced()) != 2 {
		t.Fatal("withdrawn within the grace period")
	}
	rs.reconcile(ctx, t0.Add(4*time.Second+time.Millisecond))
	if len(sp.Announced()) != 0 {
		t.Fatal("still announced after the SB was down past the grace period")
	}
	if st := rs.Status(ctx); st.Networks[0].Announced || st.Networks[0].Reason == "" {
		t.Errorf("status %+v", st.Networks)
	}
	sb.setDown(false)
	rs.reconcile(ctx, t0.Add(5*time.Second))
	if len(sp.Announced()) != 2 {
		t.Fatal("not re-announced once SB is back")
	}
}

func TestRouteStateLoopUplinksAndShutdown(t *testing.T) {
	rs, sp, sb, _ := newTestRouteState(t, "ch1")
	ctx, cancel := context.WithCancel(context.Background())
	ups := map[string]map[string]string{"br0": {"bgp.peers.tor.address": "10.99.0.1", "bgp.peers.tor.asn": "65000"}}
	if err := rs.Start(ctx, sb); err != nil {
		t.Fatal(err)
	}
	p := routeFixture()
	rs.FromEngine(&Engine{desired: p.desired, mappings: p.mappings, lxdState: fwdsync.LXDState{Networks: p.networks}, uplinkCfg: ups})
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
			select {
			case <-sp.synced:
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	waitFor("announced by the loop", func() bool { return len(sp.Announced()) == 2 })
	waitFor("uplink finding", func() bool {
		fs := rs.Findings()
		return len(fs) == 1 && fs[0].Category == fwdsync.CatLXDBGPAlsoAnnounces
	})
	// A claim change is acted on without any plan update.
	sb.claim("cr-lxd-net2-lr-lrp-ext", "ch3")
	waitFor("withdrawn after the claim moved", func() bool { return len(sp.Announced()) == 0 })
	sb.claim("cr-lxd-net2-lr-lrp-ext", "ch1")
	waitFor("back", func() bool { return len(sp.Announced()) == 2 })

	rec := httptest.NewRecorder()
	rs.ServeHTTP(rec, httptest.NewRequest("GET", "/routes", nil))
	var st RouteStatus
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Enabled || st.Chassis != "ch1" || len(st.Routes) != 2 || st.Routes[0].NextHop != "10.99.0.100" ||
		len(st.Findings) != 1 || st.Findings[0].Category != "lxd-bgp-also-announces" || len(st.Sessions) != 1 {
		t.Errorf("/routes %s", rec.Body.String())
	}

	cancel()
	rs.Shutdown()
	if !sp.shutdown || len(sp.Announced()) != 0 {
		t.Error("Shutdown did not withdraw")
	}
	rs.Shutdown() // twice is fine
}

func TestRouteStateNil(t *testing.T) {
	var rs *RouteState
	rs.SetPlan(nil, nil, nil, nil)
	rs.FromEngine(nil)
	rs.Kick()
	rs.Shutdown()
	if err := rs.Start(context.Background(), &fakeSB{}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	rs.ServeHTTP(rec, httptest.NewRequest("GET", "/routes", nil))
	if rec.Body.String() != `{"enabled":false,"sessions":[],"networks":[],"routes":[],"findings":[],"counters":{"announcements":0,"withdrawals":0,"errors":0}}`+"\n" {
		t.Errorf("disabled /routes: %s", rec.Body.String())
	}
}

func TestRouteStateAnnounceDelay(t *testing.T) {
	rs, sp, sb, _ := newTestRouteState(t, "ch1")
	rs.cfg.AnnounceDelay = 200 * time.Millisecond
	ctx := context.Background()
	p := routeFixture()
	rs.SetPlan(p.desired, p.mappings, p.networks, nil)
	t0 := time.Now()
	rs.reconcile(ctx, t0)
	if len(sp.Announced()) != 0 {
		t.Fatal("announced before the claim lasted the delay")
	}
	if st := rs.Status(ctx); len(st.Networks) != 1 || st.Networks[0].Announced {
		t.Errorf("status %+v", st.Networks)
	}
	rs.reconcile(ctx, t0.Add(199*time.Millisecond))
	if len(sp.Announced()) != 0 {
		t.Fatal("announced before the delay")
	}
	rs.reconcile(ctx, t0.Add(200*time.Millisecond))
	if len(sp.Announced()) != 2 {
		t.Fatal("not announced once the claim lasted")
	}
	// Withdrawal is immediate; a claim that comes back starts over.
	sb.claim("cr-lxd-net2-lr-lrp-ext", "ch2")
	rs.reconcile(ctx, t0.Add(300*time.Millisecond))
	if len(sp.Announced()) != 0 {
		t.Fatal("not withdrawn at once")
	}
	sb.claim("cr-lxd-net2-lr-lrp-ext", "ch1")
	rs.reconcile(ctx, t0.Add(310*time.Millisecond))
	rs.reconcile(ctx, t0.Add(500*time.Millisecond))
	if len(sp.Announced()) != 0 {
		t.Fatal("the returning claim was announced before it lasted the delay")
	}
	rs.reconcile(ctx, t0.Add(510*time.Millisecond))
	if len(sp.Announced()) != 2 {
		t.Fatal("not re-announced")
	}
}

// callRecorder is a speaker that only records that it was called.
type callRecorder struct {
	mu    gosync.Mutex
	calls []string
}

func (r *callRecorder) record(m string) {
	r.mu.Lock()
	r.calls = append(r.calls, m)
	r.mu.Unlock()
}

func (r *callRecorder) Start(context.Context) error { r.record("Start"); return nil }

func (r *callRecorder) Sync(context.Context, []fwdsync.Route) (bgp.SyncResult, error) {
	r.record("Sync")
	return bgp.SyncResult{}, nil
}

func (r *callRecorder) Shutdown(context.Context) { r.record("Shutdown") }
func (r *callRecorder) Detach(context.Context)   { r.record("Detach") }

func (r *callRecorder) Announced() []fwdsync.Route { r.record("Announced"); return nil }

func (r *callRecorder) Sessions(context.Context) []bgp.Session { r.record("Sessions"); return nil }

func (r *callRecorder) Counters() bgp.Counters                   { r.record("Counters"); return bgp.Counters{} }
func (r *callRecorder) SetStateHook(func(peer, from, to string)) {}

// A dry run never touches the speaker (no session, no announcement, no
// withdrawal): it logs what it would announce and withdraw, and /routes
// shows it, marked dry_run.
func TestRouteStateDryRunAnnouncesNothing(t *testing.T) {
	sp := &callRecorder{}
	core, logs := observer.New(zap.InfoLevel)
	reg := prometheus.NewRegistry()
	rs := newRouteStateWith(RouteConfig{Policy: fwdsync.RoutePolicy{Chassis: "ch1"}, SBGrace: 3 * time.Second, DryRun: true,
		Speaker: bgp.Config{ASN: 65101, RouterID: "127.0.0.11"}}, sp, zap.New(core), reg)
	sb := &fakeSB{claims: map[string]string{"cr-lxd-net2-lr-lrp-ext": "ch1"}}
	ctx, cancel := context.WithCancel(context.Background())
	if err := rs.Start(ctx, sb); err != nil {
		t.Fatal(err)
	}
	p := routeFixture()
	ups := map[string]map[string]string{"br0": {"bgp.peers.tor.address": "10.99.0.1", "bgp.peers.tor.asn": "65000"}}
	rs.FromEngine(&Engine{desired: p.desired, mappings: p.mappings, lxdState: fwdsync.LXDState{Networks: p.networks}, uplinkCfg: ups})
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("would-be announcements computed", func() bool { return len(rs.announcedPrefixes()) == 2 })

	rec := httptest.NewRecorder()
	rs.ServeHTTP(rec, httptest.NewRequest("GET", "/routes", nil))
	var st RouteStatus
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Enabled || !st.DryRun || len(st.Routes) != 2 || st.Routes[0].NextHop != "10.99.0.100" || len(st.Sessions) != 0 ||
		len(st.Networks) != 1 || !strings.Contains(st.Networks[0].Reason, "dry run") ||
		len(st.Findings) != 1 || st.Findings[0].Category != "lxd-bgp-also-announces" {
		t.Errorf("/routes %s", rec.Body.String())
	}
	if !strings.Contains(rec.Body.String(), `"dry_run":true`) {
		t.Errorf("/routes does not say dry_run: %s", rec.Body.String())
	}
	if e := logs.FilterMessage("dry run: would announce BGP routes").All(); len(e) != 1 ||
		!strings.Contains(fmt.Sprint(e[0].ContextMap()["prefixes"]), "198.51.100.10/32") {
		t.Errorf("would-announce log: %+v", e)
	}

	sb.claim("cr-lxd-net2-lr-lrp-ext", "ch2")
	waitFor("would-be withdrawal after the claim moved", func() bool { return len(rs.announcedPrefixes()) == 0 })
	if e := logs.FilterMessage("dry run: would withdraw BGP routes").All(); len(e) != 1 {
		t.Errorf("would-withdraw log: %+v", e)
	}
	cancel()
	rs.Shutdown()
	if len(sp.calls) != 0 {
		t.Errorf("dry run called the Speaker: %v", sp.calls)
	}
	for _, m := range []string{"ovnfwd_bgp_routes_announced", "ovnfwd_bgp_announcements_total", "ovnfwd_bgp_withdrawals_total"} {
		if v := metric(t, reg, m); v != nil && v.GetGauge().GetValue()+v.GetCounter().GetValue() != 0 {
			t.Errorf("%s = %v in a dry run", m, v)
		}
	}
}

// With BGP off, /routes still names the member's chassis (--chassis), so
// status can tell the members apart.
func TestRoutesNameTheChassisWithBGPOff(t *testing.T) {
	d := &Daemon{chassis: "ch7"}
	rec := httptest.NewRecorder()
	d.serveRoutes(rec, httptest.NewRequest("GET", "/routes", nil))
	var st RouteStatus
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Enabled || st.Chassis != "ch7" {
		t.Fatalf("/routes with BGP off = %s (%v)", rec.Body.String(), err)
	}
}

// fakeHANB is the NB side route state reads the gateways' HA groups from.
type fakeHANB struct {
	mu gosync.Mutex
	st fwdsync.NBState
}

func (f *fakeHANB) SnapshotFor([]string) fwdsync.NBState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

// haFixture: routeFixture's gateway in HA group g1 of ch2 (2000), ch1
// (1000) and ch3 (500), and a router port without a group.
func haFixture() *fakeHANB {
	return &fakeHANB{st: fwdsync.NBState{
		RouterPorts:     []fwdsync.NBRouterPort{{Name: "lxd-net2-lr-lrp-ext", HAChassisGroup: "g1"}, {Name: "other-lrp", HAChassisGroup: ""}},
		HAChassisGroups: []fwdsync.NBHAChassisGroup{{UUID: "g1", Name: "lxd-net2", HAChassis: []string{"h1", "h2", "h3"}}},
		HAChassis: []fwdsync.NBHAChassis{{UUID: "h1", ChassisName: "ch1", Priority: 1000}, {UUID: "h2", ChassisName: "ch2", Priority: 2000},
			{UUID: "h3", ChassisName: "ch3", Priority: 500}},
	}}
}

// With SB unreachable past the grace, a network this chassis held stays
// announced while its own BFD view says no chassis of higher priority is
// up (ovn-controller's own rule), is withdrawn when one is, and everything
// is withdrawn after --bgp-sb-hold or when the local OVS cannot be read.
// The HA groups are those read while NB was reachable.
func TestRouteStateSBDownLocalView(t *testing.T) {
	rs, sp, sb, _ := newTestRouteState(t, "ch1")
	var bfdMu gosync.Mutex
	bfd, bfdErr := map[string]bool{}, error(nil)
	setBFD := func(m map[string]bool, err error) { bfdMu.Lock(); bfd, bfdErr = m, err; bfdMu.Unlock() }
	reads := 0
	rs.cfg.SBHold = time.Minute
	rs.cfg.LocalBFD = func(context.Context) (map[string]bool, error) {
		bfdMu.Lock()
		defer bfdMu.Unlock()
		reads++
		return maps.Clone(bfd), bfdErr
	}
	nb := haFixture()
	rs.nb = nb
	ctx := context.Background()
	p := routeFixture()
	rs.SetPlan(p.desired, p.mappings, p.networks, nil)
	t0 := time.Now()
	rs.reconcile(ctx, t0)
	if len(sp.Announced()) != 2 {
		t.Fatal("not announced")
	}
	// NB goes away with SB: the groups read before are what counts.
	nb.mu.Lock()
	nb.st = fwdsync.NBState{}
	nb.mu.Unlock()
	sb.setDown(true)
	reason := func() string { return rs.Status(ctx).Networks[0].Reason }

	setBFD(map[string]bool{"ch2": false, "ch3": true}, nil)
	rs.reconcile(ctx, t0.Add(time.Second))
	if reads != 0 {
		t.Errorf("the local view was read within the grace (%d reads)", reads)
	}
	rs.reconcile(ctx, t0.Add(4*time.Second))
	if n := len(sp.Announced()); n != 2 || !strings.Contains(reason(), "kept") || !strings.Contains(reason(), "ch2: down") {
		t.Fatalf("SB down, ch2 (higher priority) down by BFD: %d routes, reason %q; want both kept", n, reason())
	}
	if reads == 0 {
		t.Error("kept without reading the local view")
	}

	setBFD(map[string]bool{"ch2": true, "ch3": true}, nil)
	rs.reconcile(ctx, t0.Add(10*time.Second))
	if n := len(sp.Announced()); n != 0 || !strings.Contains(reason(), "ch2 (priority 2000) up") {
		t.Fatalf("ch2 up again by BFD: %d routes, reason %q; want withdrawn, naming ch2", n, reason())
	}
	setBFD(map[string]bool{"ch2": false}, nil)
	rs.reconcile(ctx, t0.Add(11*time.Second))
	if len(sp.Announced()) != 2 {
		t.Fatal("ch2 down again: ch1 is the highest live chassis again, not re-announced")
	}

	setBFD(nil, errors.New("connect to the local OVS database unix:/x: no such file"))
	rs.reconcile(ctx, t0.Add(12*time.Second))
	if n := len(sp.Announced()); n != 0 || !strings.Contains(reason(), "local OVS could not be read") {
		t.Fatalf("local OVS unreadable: %d routes, reason %q; want withdrawn", n, reason())
	}
	setBFD(map[string]bool{"ch2": false}, nil)
	rs.reconcile(ctx, t0.Add(13*time.Second))
	if len(sp.Announced()) != 2 {
		t.Fatal("local OVS readable again: not re-announced")
	}

	rs.reconcile(ctx, t0.Add(61*time.Second))
	if n := len(sp.Announced()); n != 0 || !strings.Contains(reason(), "--bgp-sb-hold") {
		t.Fatalf("SB down past --bgp-sb-hold: %d routes, reason %q; want withdrawn", n, reason())
	}

	sb.setDown(false)
	rs.reconcile(ctx, t0.Add(62*time.Second))
	if len(sp.Announced()) != 2 {
		t.Fatal("not re-announced once SB is back")
	}
}

// A member that did not hold the gateway when SB went away never starts
// announcing it from its local view, whatever BFD says.
func TestRouteStateSBDownNonHolderStaysQuiet(t *testing.T) {
	rs, sp, sb, _ := newTestRouteState(t, "ch2")
	rs.cfg.SBHold = time.Minute
	rs.cfg.LocalBFD = func(context.Context) (map[string]bool, error) { return map[string]bool{}, nil }
	rs.nb = haFixture()
	ctx := context.Background()
	p := routeFixture()
	rs.SetPlan(p.desired, p.mappings, p.networks, nil)
	t0 := time.Now()
	rs.reconcile(ctx, t0)
	sb.setDown(true)
	for _, d := range []time.Duration{time.Second, 4 * time.Second, 30 * time.Second} {
		rs.reconcile(ctx, t0.Add(d))
		if n := len(sp.Announced()); n != 0 {
			t.Fatalf("after %s without SB, the member whose chassis did not hold the gateway announces %d routes", d, n)
		}
	}
}

// With graceful restart the first sync after a start carries every route
// of a gateway already held (the peers kept them and drop what it lacks),
// later claims still wait for the announce delay, and Shutdown leaves the
// routes to the peers (Detach) instead of withdrawing them.
func TestRouteStateGracefulRestart(t *testing.T) {
	rs, sp, sb, _ := newTestRouteState(t, "ch1")
	rs.cfg.AnnounceDelay = 200 * time.Millisecond
	rs.cfg.Speaker.GracefulRestart = 120 * time.Second
	ctx := context.Background()
	p := routeFixture()
	rs.SetPlan(p.desired, p.mappings, p.networks, nil)
	t0 := time.Now()
	rs.reconcile(ctx, t0)
	if len(sp.Announced()) != 2 {
		t.Fatal("the first sync after a restart left out a gateway held at start")
	}
	sb.claim("cr-lxd-net2-lr-lrp-ext", "ch2")
	rs.reconcile(ctx, t0.Add(100*time.Millisecond))
	sb.claim("cr-lxd-net2-lr-lrp-ext", "ch1")
	rs.reconcile(ctx, t0.Add(110*time.Millisecond))
	if len(sp.Announced()) != 0 {
		t.Fatal("a claim taken after the start was announced before it lasted the delay")
	}
	rs.reconcile(ctx, t0.Add(310*time.Millisecond))
	if len(sp.Announced()) != 2 {
		t.Fatal("not announced once the claim lasted")
	}

	// As if Start had run and its loop had ended.
	rs.mu.Lock()
	rs.started, rs.cancel, rs.done = true, func() {}, make(chan struct{})
	close(rs.done)
	rs.mu.Unlock()
	rs.Shutdown()
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if !sp.detached || sp.shutdown || len(sp.rib) != 2 {
		t.Errorf("Shutdown with graceful restart: detached %v, shutdown %v, %d routes left; want detached with both routes",
			sp.detached, sp.shutdown, len(sp.rib))
	}
}
