//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/canonical/lxd/shared/api"

	"github.com/ovnfwd/ovnfwd/ovn"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// Route state (issue 6): every forward VIP must be reachable from the
// uplink, from the active chassis only. L2: the active gateway answers ARP
// for VIPs outside the router's subnets (neighbor_responder, --arp-responder).
// L3: one ovnfwd per chassis announces the VIPs over BGP to BIRD, only while
// its chassis holds the gateway. Listen addresses: 198.18.60.0/22.

// ---------------------------------------------------------------------------
// Southbound and northbound watchers (libovsdb monitors: fast, exact times)

// sbWatch follows the SB replica: gateway claims and the router's ARP/ND
// responder address sets (_rtr_lb_<n>_ip4/_ip6), with the time of every change.
type sbWatch struct {
	sb *ovn.SB
	mu gosync.Mutex
	// claims: every observed holder change of a gateway port.
	claims []claimChange
	// responder: per address, when it entered / left the responder sets.
	inSet     map[string]bool
	responder []responderChange
}

type claimChange struct {
	Port, From, To string
	At             time.Time
}

type responderChange struct {
	Addr    string
	Present bool
	At      time.Time
}

func (b *Bed) watchSB(t *testing.T) *sbWatch {
	t.Helper()
	eps, err := ovn.ParseEndpoints(b.Env["OVNFWD_SB"])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := waitCtx(30 * time.Second)
	defer cancel()
	sb, err := ovn.DialSB(ctx, b.WithTLS(ovn.Config{Endpoints: eps, ReadOnly: true}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	w := &sbWatch{sb: sb, inSet: map[string]bool{}}
	holders := map[string]string{}
	for _, pb := range sb.Snapshot().PortBindings {
		if pb.Type == "chassisredirect" {
			holders[pb.LogicalPort] = pb.Chassis
		}
	}
	w.inSet = responderAddrs(sb.Snapshot())
	sb.OnClaimChange(func(port, _ string) {
		now := time.Now()
		to := ""
		for _, pb := range sb.Snapshot().PortBindings {
			if pb.LogicalPort == port {
				to = pb.Chassis
			}
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if holders[port] != to {
			w.claims = append(w.claims, claimChange{Port: port, From: holders[port], To: to, At: now})
			holders[port] = to
		}
	})
	sb.OnChange(func(table string) {
		if table != "Address_Set" {
			return
		}
		now := time.Now()
		cur := responderAddrs(sb.Snapshot())
		w.mu.Lock()
		defer w.mu.Unlock()
		for a := range cur {
			if !w.inSet[a] {
				w.responder = append(w.responder, responderChange{Addr: a, Present: true, At: now})
			}
		}
		for a := range w.inSet {
			if !cur[a] {
				w.responder = append(w.responder, responderChange{Addr: a, Present: false, At: now})
			}
		}
		w.inSet = cur
	})
	return w
}

func responderAddrs(st fwdsync.SBState) map[string]bool {
	out := map[string]bool{}
	for _, as := range st.AddressSets {
		if strings.HasPrefix(as.Name, "_rtr_lb_") && (strings.HasSuffix(as.Name, "_ip4") || strings.HasSuffix(as.Name, "_ip6")) {
			for _, a := range as.Addresses {
				out[a] = true
			}
		}
	}
	return out
}

// answered reports whether addr is in a responder set now.
func (w *sbWatch) answered(addr string) bool {
	return responderAddrs(w.sb.Snapshot())[addr]
}

// responderSets names the sets holding addr (e.g. "_rtr_lb_1_ip4").
func (w *sbWatch) responderSets(addr string) []string {
	var out []string
	for _, as := range w.sb.Snapshot().AddressSets {
		if strings.HasPrefix(as.Name, "_rtr_lb_") && slices.Contains(as.Addresses, addr) {
			out = append(out, as.Name)
		}
	}
	return out
}

// claimsAfter returns the claim changes of port observed after since.
func (w *sbWatch) claimsAfter(port string, since time.Time) []claimChange {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []claimChange
	for _, c := range w.claims {
		if c.Port == port && c.At.After(since) {
			out = append(out, c)
		}
	}
	return out
}

func (w *sbWatch) responderAfter(addr string, since time.Time) []responderChange {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []responderChange
	for _, c := range w.responder {
		if c.Addr == addr && !c.At.Before(since) {
			out = append(out, c)
		}
	}
	return out
}

// nbRow is the one NB row of a name (uuid, options), via a fast NB monitor.
type nbWatch struct{ nb *ovn.NB }

func (b *Bed) watchNB(t *testing.T) *nbWatch {
	t.Helper()
	eps, err := ovn.ParseEndpoints(b.Env["OVNFWD_NB"])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := waitCtx(30 * time.Second)
	defer cancel()
	nb, err := ovn.DialNB(ctx, b.WithTLS(ovn.Config{Endpoints: eps, ReadOnly: true}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nb.Close)
	return &nbWatch{nb: nb}
}

func (w *nbWatch) row(name string) (uuid string, options map[string]string, n int) {
	rows := w.nb.SnapshotFor([]string{name}).LoadBalancers
	if len(rows) == 0 {
		return "", nil, 0
	}
	return rows[0].UUID, rows[0].Options, len(rows)
}

// routeSlate is CleanSlate made robust against rows LXD cannot delete
// (another test's duplicates make LXD's own lb-del fail): the network's NB
// rows go first, then the forwards through LXD, then LXD's leftovers.
func routeSlate(t *testing.T, b *Bed) string {
	t.Helper()
	prefix := b.Prefix(t)
	for name, rows := range b.LBsByName(t) {
		if strings.HasPrefix(name, prefix+"-lb-") {
			for _, r := range rows {
				b.NBCtl(t, "--if-exists", "lb-del", r.UUID)
			}
		}
	}
	return b.CleanSlate(t)
}

// ---------------------------------------------------------------------------
// L2: ARP responder

// With --arp-responder=auto each forward VIP (outside the router subnets)
// is in the SB responder set; after an LXD update that rewrites the row
// (LXD 5.0 deletes and recreates it without options), it is back within 1 s.
func TestARPResponderAuto(t *testing.T) {
	b := Open(t)
	prefix := routeSlate(t, b)
	net := b.Get(t, "TB_NETWORK")
	t.Cleanup(func() { routeSlate(t, b) })
	sbw, nbw := b.watchSB(t), b.watchNB(t)
	d := b.StartDaemon(t) // --arp-responder defaults to auto

	vips := []string{"198.18.60.10", "198.18.60.11"}
	created := time.Now()
	for _, v := range vips {
		b.CreateForward(t, net, api.NetworkForwardsPost{ListenAddress: v,
			NetworkForwardPut: api.NetworkForwardPut{Ports: []api.NetworkForwardPort{tcp("80", "10.10.10.5", "8080")}}})
	}
	for _, v := range vips {
		Eventually(t, 10*time.Second, 5*time.Millisecond, v+" in the ARP responder set", func() string {
			if !sbw.answered(v) {
				return "not in any _rtr_lb_*_ip4"
			}
			return ""
		})
		t.Logf("%s answered by the router's ARP responder %v after the creates began (sets %v)",
			v, time.Since(created).Round(time.Millisecond), sbw.responderSets(v))
		d.WaitState(v, "ok", 10*time.Second)
		if _, opts, n := nbw.row(prefix + "-lb-" + v + "-tcp"); n != 1 || opts["neighbor_responder"] != "all" {
			t.Fatalf("%s: NB row options %v (%d rows), want neighbor_responder=all", v, opts, n)
		}
	}
	for _, set := range sbw.responderSets(vips[0]) {
		if !strings.HasPrefix(set, "_rtr_lb_") || !strings.HasSuffix(set, "_ip4") {
			t.Errorf("unexpected responder set name %s", set)
		}
	}
	// The responder flow is guarded by the gateway: only the active chassis answers.
	flows := b.SBCtl(t, "lflow-list", prefix+"-lr")
	guarded := false
	for _, l := range strings.Split(flows, "\n") {
		if strings.Contains(l, "arp.tpa == $_rtr_lb_") && strings.Contains(l, `is_chassis_resident("cr-`+prefix+`-lr-lrp-ext")`) {
			guarded = true
		}
	}
	if !guarded {
		t.Errorf("no ARP responder flow for $_rtr_lb_… guarded by is_chassis_resident(cr-%s-lr-lrp-ext)", prefix)
	}

	// LXD rewrites the row on every update: delete + create, no options.
	for i, upd := range []api.NetworkForwardPut{
		{Ports: []api.NetworkForwardPort{tcp("80", "10.10.10.5", "8080"), tcp("443", "10.10.10.5", "8443")}},
		{Config: map[string]string{"target_address": "10.10.10.9"}, Ports: []api.NetworkForwardPort{tcp("80", "10.10.10.6", "")}},
	} {
		name := prefix + "-lb-" + vips[0] + "-tcp"
		oldUUID, _, _ := nbw.row(name)
		b.UpdateForward(t, net, vips[0], upd)
		updated := time.Now()
		back := Eventually(t, 5*time.Second, 2*time.Millisecond, "responder back after the LXD update", func() string {
			uuid, opts, n := nbw.row(name)
			switch {
			case n != 1:
				return fmt.Sprintf("%d rows", n)
			case uuid == oldUUID:
				return "LXD has not rewritten the row yet"
			case opts["neighbor_responder"] != "all":
				return "neighbor_responder not re-applied yet"
			case !sbw.answered(vips[0]):
				return "not in the responder set yet"
			}
			return ""
		})
		gap := "the SB monitor never saw it leave the set"
		var left time.Time
		for _, c := range sbw.responderAfter(vips[0], updated.Add(-2*time.Second)) {
			switch {
			case !c.Present:
				left = c.At
			case !left.IsZero():
				gap = fmt.Sprintf("it left the set at update%+v ms for %v", left.Sub(updated).Milliseconds(), c.At.Sub(left).Round(time.Millisecond))
			}
		}
		t.Logf("update %d: row rewritten by LXD (%s → new uuid); back in the responder set %v after the update returned (%s)",
			i+1, oldUUID[:8], back.Round(time.Millisecond), gap)
		if back > time.Second {
			t.Errorf("update %d: VIP back in the responder set after %v, want ≤ 1 s", i+1, back)
		}
	}
	// The other forward was never touched.
	if !sbw.answered(vips[1]) {
		t.Errorf("%s left the responder set", vips[1])
	}
}

// With --arp-responder=off the VIP is in no responder set, and check
// (with the same policy) reports it as unanswered; with auto, check wants
// to set neighbor_responder=all.
func TestARPResponderOff(t *testing.T) {
	b := Open(t)
	prefix := routeSlate(t, b)
	net := b.Get(t, "TB_NETWORK")
	t.Cleanup(func() { routeSlate(t, b) })
	sbw, nbw := b.watchSB(t), b.watchNB(t)
	d := b.StartDaemon(t, "--arp-responder", "off")
	vip := "198.18.60.20"
	b.CreateForward(t, net, api.NetworkForwardsPost{ListenAddress: vip,
		NetworkForwardPut: api.NetworkForwardPut{Ports: []api.NetworkForwardPort{tcp("80", "10.10.10.5", "")}}})
	d.WaitState(vip, "ok", 10*time.Second) // ok includes northd having caught up
	time.Sleep(300 * time.Millisecond)
	if sbw.answered(vip) {
		t.Fatalf("%s is in responder sets %v with --arp-responder=off", vip, sbw.responderSets(vip))
	}
	if _, opts, _ := nbw.row(prefix + "-lb-" + vip + "-tcp"); opts["neighbor_responder"] != "" {
		t.Fatalf("NB row options %v with --arp-responder=off", opts)
	}
	d.Stop()

	type rep struct {
		Findings []struct {
			ListenAddress string `json:"listen_address"`
			Category      string `json:"category"`
			Detail        string `json:"detail"`
		} `json:"findings"`
	}
	check := func(mode string) (rep, int) {
		out, code := runOvnfwd(t, b, "check", "--deep", "--arp-responder", mode, "--format", "json", "--listen", vip)
		var r rep
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("check --arp-responder %s: %v: %s", mode, err, out)
		}
		return r, code
	}
	r, code := check("off")
	var cats []string
	for _, f := range r.Findings {
		if f.ListenAddress == vip {
			cats = append(cats, f.Category)
			if f.Category == "vip-unanswered" {
				t.Logf("check --arp-responder off: %s", f.Detail)
			}
		}
	}
	if code != 1 || !slices.Equal(cats, []string{"vip-unanswered"}) {
		t.Fatalf("check --arp-responder off: exit %d, findings %v; want exit 1 and [vip-unanswered]", code, cats)
	}
	r, code = check("auto")
	cats = nil
	for _, f := range r.Findings {
		if f.ListenAddress == vip {
			cats = append(cats, f.Category)
		}
	}
	if code != 1 || !slices.Contains(cats, "options-mismatch") || slices.Contains(cats, "vip-unanswered") {
		t.Fatalf("check --arp-responder auto: exit %d, findings %v; want options-mismatch and no vip-unanswered", code, cats)
	}
}

// runOvnfwd runs a one-shot ovnfwd command against the bed.
func runOvnfwd(t *testing.T, b *Bed, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = b.OperatorEnv()
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// ---------------------------------------------------------------------------
// L3: BGP, one ovnfwd per chassis, BIRD as the uplink router

// member is an ovnfwd instance standing in for the LXD member of chassis chN.
type member struct {
	n     int
	proto string // BIRD's protocol for it
	args  []string
	d     *Daemon
}

func (m *member) chassis() string { return fmt.Sprintf("ch%d", m.n) }

// startMembers starts BIRD and one ovnfwd per chassis, each bound to its
// chassis and to 127.0.0.1N, and waits for the three BGP sessions.
func startMembers(t *testing.T, b *Bed, extra ...string) (*Bird, []*member) {
	t.Helper()
	return startMembersWith(t, b, nil, extra...)
}

// startMembersWith is startMembers with per-member arguments (perMember(n)
// for chassis chN, e.g. its local OVS).
func startMembersWith(t *testing.T, b *Bed, perMember func(n int) []string, extra ...string) (*Bird, []*member) {
	t.Helper()
	br := b.BirdUp(t)
	var ms []*member
	for n := 1; n <= 3; n++ {
		m := &member{n: n, proto: fmt.Sprintf("ovnfwd_ch%d", n)}
		m.args = append([]string{"--chassis", m.chassis(), "--bgp-asn", br.Env["TB_BIRD_PEER_ASN"],
			"--bgp-local-address", fmt.Sprintf("127.0.0.1%d", n), "--bgp-peer", br.PeerFlag()}, extra...)
		if perMember != nil {
			m.args = append(m.args, perMember(n)...)
		}
		m.d = b.SpawnDaemon(t, m.args...)
		ms = append(ms, m)
	}
	for _, m := range ms {
		m.d.WaitReady(30 * time.Second)
	}
	br.WaitEstablished(t, 20*time.Second, "ovnfwd_ch1", "ovnfwd_ch2", "ovnfwd_ch3")
	return br, ms
}

func (m *member) restart(t *testing.T, b *Bed) {
	t.Helper()
	m.d = b.StartDaemon(t, m.args...)
}

// holder returns the member whose chassis holds the network's gateway.
func holder(t *testing.T, b *Bed, prefix string, ms []*member) *member {
	t.Helper()
	var ch string
	Eventually(t, 30*time.Second, 50*time.Millisecond, "a chassis holds the gateway", func() string {
		if ch = b.GatewayChassis(t, prefix); ch == "" {
			return "unclaimed"
		}
		return ""
	})
	for _, m := range ms {
		if m.chassis() == ch {
			return m
		}
	}
	t.Fatalf("gateway held by %s, which no member stands for", ch)
	return nil
}

// inRange keeps BIRD routes of this test's listen addresses.
func inRange(r BirdRoute) bool { return strings.HasPrefix(r.Prefix, "198.18.6") }

// expectRoutes builds the expected RouteSet: every vip as /32 from proto
// with next hop nh (and suffix, e.g. " med 10").
func expectRoutes(vips []string, proto, nh, suffix string) []string {
	var out []string
	for _, v := range vips {
		out = append(out, fmt.Sprintf("%s/32 from %s nh %s%s", v, proto, nh, suffix))
	}
	sort.Strings(out)
	return out
}

// waitBird polls BIRD (every 2 ms) until its routes in range equal want and
// returns when that first held.
func waitBird(t *testing.T, br *Bird, timeout time.Duration, what string, want []string) time.Time {
	t.Helper()
	var at time.Time
	Eventually(t, timeout, 2*time.Millisecond, what, func() string {
		got := RouteSet(br.Routes(t), inRange)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			return fmt.Sprintf("BIRD has %q, want %q", got, want)
		}
		at = time.Now()
		return ""
	})
	return at
}

// protosOf lists the BIRD protocols in a RouteSet text.
func protosOf(set string) string {
	var out []string
	for _, l := range strings.Split(set, "\n") {
		if f := strings.Fields(l); len(f) >= 3 && !slices.Contains(out, f[2]) {
			out = append(out, f[2])
		}
	}
	return "[" + strings.Join(out, " ") + "]"
}

// settledClaim waits until the gateway claim has not changed for 3 s (at
// most 40 s) and returns the last change after since (nil: none).
func settledClaim(t *testing.T, w *sbWatch, port string, since time.Time) *claimChange {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) {
		cs := w.claimsAfter(port, since)
		lastAt := since
		if len(cs) > 0 {
			lastAt = cs[len(cs)-1].At
		}
		if time.Since(lastAt) >= 3*time.Second {
			if len(cs) == 0 {
				return nil
			}
			return &cs[len(cs)-1]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("gateway claim of %s still moving 40 s after %v: %+v", port, since, w.claimsAfter(port, since))
	return nil
}

func createForwards(t *testing.T, b *Bed, network string, vips ...string) {
	t.Helper()
	for _, v := range vips {
		b.CreateForward(t, network, api.NetworkForwardsPost{ListenAddress: v,
			NetworkForwardPut: api.NetworkForwardPut{Ports: []api.NetworkForwardPort{tcp("80", "10.10.10.5", "")}}})
	}
}

// routerAddr is the network's uplink address (the "router" next hop).
func routerAddr(t *testing.T, b *Bed, network string) string {
	t.Helper()
	n, _, err := b.LXD.GetNetwork(network)
	if err != nil {
		t.Fatal(err)
	}
	a := n.Config["volatile.network.ipv4.address"]
	if a == "" {
		t.Fatalf("network %s has no volatile.network.ipv4.address", network)
	}
	return a
}

// routesStatus is the part of /routes the tests read.
type routesStatus struct {
	Chassis  string `json:"chassis"`
	Sessions []struct {
		Peer  string `json:"peer"`
		State string `json:"state"`
	} `json:"sessions"`
	Networks []struct {
		Network   string `json:"network"`
		Holder    string `json:"holder"`
		Announced bool   `json:"announced"`
		Routes    int    `json:"routes"`
		Reason    string `json:"reason"`
	} `json:"networks"`
	Routes []struct {
		Prefix  string `json:"prefix"`
		NextHop string `json:"next_hop"`
	} `json:"routes"`
	Findings []struct {
		Category string `json:"category"`
	} `json:"findings"`
}

func (d *Daemon) routeStatus(t *testing.T) routesStatus {
	t.Helper()
	code, body, err := d.get("/routes")
	if err != nil || code != 200 {
		t.Fatalf("/routes: %d %v %s", code, err, body)
	}
	var st routesStatus
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("/routes: %v: %s", err, body)
	}
	return st
}

// BIRD receives every forward /32 from exactly the member whose chassis
// holds the gateway, with the router's uplink address as next hop; created
// forwards are announced and deleted ones withdrawn by that member alone.
func TestBGPAnnouncesFromActiveChassisOnly(t *testing.T) {
	b := Open(t)
	prefix := routeSlate(t, b)
	net := b.Get(t, "TB_NETWORK")
	t.Cleanup(func() { routeSlate(t, b) })
	vips := []string{"198.18.61.1", "198.18.61.2", "198.18.61.3"}
	createForwards(t, b, net, vips...)
	br, ms := startMembers(t, b)
	h := holder(t, b, prefix, ms)
	nh := routerAddr(t, b, net)

	waitBird(t, br, 15*time.Second, "BIRD holds every VIP from the active member", expectRoutes(vips, h.proto, nh, ""))
	for _, m := range ms {
		st := m.d.routeStatus(t)
		if len(st.Sessions) != 1 || st.Sessions[0].State != "established" || st.Chassis != m.chassis() {
			t.Errorf("%s /routes sessions %+v", m.chassis(), st.Sessions)
		}
		if want := m == h; len(st.Networks) != 1 || st.Networks[0].Announced != want || st.Networks[0].Holder != h.chassis() {
			t.Errorf("%s /routes networks %+v (holder %s)", m.chassis(), st.Networks, h.chassis())
		}
		if m != h && len(st.Routes) != 0 {
			t.Errorf("%s announces %+v while %s holds the gateway", m.chassis(), st.Routes, h.chassis())
		}
	}
	t.Logf("gateway on %s: BIRD holds %d routes, all from %s via %s", h.chassis(), len(vips), h.proto, nh)

	// Forward created → announced; deleted → withdrawn.
	start := time.Now()
	createForwards(t, b, net, "198.18.61.4")
	at := waitBird(t, br, 10*time.Second, "new forward announced", expectRoutes(append(slices.Clone(vips), "198.18.61.4"), h.proto, nh, ""))
	t.Logf("forward created → BIRD has its route after %v (from the start of the LXD create call)", at.Sub(start).Round(time.Millisecond))
	start = time.Now()
	b.DeleteForward(t, net, vips[0])
	at = waitBird(t, br, 10*time.Second, "deleted forward withdrawn", expectRoutes(append(slices.Clone(vips[1:]), "198.18.61.4"), h.proto, nh, ""))
	t.Logf("forward deleted → BIRD dropped its route after %v (from the start of the LXD delete call)", at.Sub(start).Round(time.Millisecond))
	Eventually(t, 5*time.Second, 20*time.Millisecond, "routes_announced metric", func() string {
		if n, err := h.d.Metric("ovnfwd_bgp_routes_announced"); err != nil || n != 3 {
			return fmt.Sprintf("ovnfwd_bgp_routes_announced on %s = %v, %v; want 3", h.chassis(), n, err)
		}
		return ""
	})
}

// Kill -9 the active chassis: once OVN moves the claim, BIRD's routes come
// only from the new active member; the time from the SB claim change to
// BIRD holding the new route is printed. The chassis is restarted and
// takes the gateway back (pre-emption): measured the same way.
func TestBGPFailover(t *testing.T) {
	b := Open(t)
	prefix := routeSlate(t, b)
	net := b.Get(t, "TB_NETWORK")
	t.Cleanup(func() { routeSlate(t, b) })
	vips := []string{"198.18.62.1", "198.18.62.2"}
	createForwards(t, b, net, vips...)
	sbw := b.watchSB(t)
	br, ms := startMembers(t, b)
	nh := routerAddr(t, b, net)
	gw := "cr-" + prefix + "-lr-lrp-ext"

	var measured []time.Duration
	for cycle := 1; cycle <= 2; cycle++ {
		h := holder(t, b, prefix, ms)
		waitBird(t, br, 15*time.Second, "routes from the active member", expectRoutes(vips, h.proto, nh, ""))

		// Kill -9 the active chassis (ovs-vswitchd + ovn-controller).
		killed := time.Now()
		startChassis := b.KillChassis(t, h.n)
		var claim claimChange
		Eventually(t, 20*time.Second, 5*time.Millisecond, "OVN moves the claim", func() string {
			for _, c := range sbw.claimsAfter(gw, killed) {
				if c.To != "" && c.To != h.chassis() {
					claim = c
					return ""
				}
			}
			return "claim still on " + h.chassis()
		})
		var nm *member
		for _, m := range ms {
			if m.chassis() == claim.To {
				nm = m
			}
		}
		at := waitBird(t, br, 10*time.Second, "routes only from the new active member", expectRoutes(vips, nm.proto, nh, ""))
		took := at.Sub(claim.At)
		measured = append(measured, took)
		t.Logf("cycle %d failover: kill %s → SB claim by %s after %v; SB claim → BIRD holds the routes only from %s: %v",
			cycle, h.chassis(), claim.To, claim.At.Sub(killed).Round(time.Millisecond), nm.proto, took.Round(time.Microsecond))

		// Restart the chassis. If it has the highest priority it takes the
		// gateway back (pre-emption): measured the same way, from a BIRD
		// sampler running across the restart.
		restartedAt := time.Now()
		stop := make(chan struct{})
		samples := br.Sample(inRange, stop)
		startChassis()
		last := settledClaim(t, sbw, gw, restartedAt)
		close(stop)
		cur := holder(t, b, prefix, ms)
		want := strings.Join(expectRoutes(vips, cur.proto, nh, ""), "\n")
		waitBird(t, br, 10*time.Second, "routes only from the member holding the gateway after the restart", expectRoutes(vips, cur.proto, nh, ""))
		if last == nil {
			t.Logf("cycle %d: restarted %s; the gateway stayed on %s (no pre-emption)", cycle, h.chassis(), cur.chassis())
			continue
		}
		var reached time.Time
		got := <-samples
		samplesCopy := make(chan []BirdSample, 1)
		samplesCopy <- got
		for _, sm := range got { // changes only: the first of the final run of want
			switch {
			case sm.Set != want:
				reached = time.Time{}
			case reached.IsZero():
				reached = sm.At
			}
		}
		if reached.IsZero() {
			t.Fatalf("cycle %d: BIRD never showed the routes from %s after the pre-emption", cycle, cur.proto)
		}
		took = reached.Sub(last.At)
		measured = append(measured, took)
		var seq []string
		for _, c := range sbw.claimsAfter(gw, restartedAt) {
			seq = append(seq, fmt.Sprintf("%q→%q at +%v", c.From, c.To, c.At.Sub(restartedAt).Round(time.Millisecond)))
		}
		var birdSeq []string
		for _, sm := range <-samplesCopy {
			birdSeq = append(birdSeq, fmt.Sprintf("+%v: %d routes %s", sm.At.Sub(restartedAt).Round(time.Millisecond), strings.Count(sm.Set, "/32"), protosOf(sm.Set)))
		}
		t.Logf("cycle %d pre-emption: restart %s → SB claim by %s after %v (claims %s; BIRD %s); SB claim → BIRD holds the routes only from %s: %v",
			cycle, h.chassis(), last.To, last.At.Sub(restartedAt).Round(time.Millisecond), strings.Join(seq, ", "), strings.Join(birdSeq, ", "), cur.proto, took.Round(time.Microsecond))
	}
	sorted := slices.Clone(measured)
	slices.Sort(sorted)
	t.Logf("SB claim change → BIRD (%d moves): min %v, median %v, max %v", len(sorted),
		sorted[0].Round(time.Microsecond), sorted[len(sorted)/2].Round(time.Microsecond), sorted[len(sorted)-1].Round(time.Microsecond))
	for _, d := range measured {
		if d > time.Second {
			t.Errorf("SB claim → BIRD took %v, want well under 1 s", d)
		}
	}
}

// A second OVN network (ovn-rt, a group of one chassis: LXD's own, ch1)
// is announced with its own router address; deleting the network withdraws
// all of its routes and leaves ovn0's alone.
func TestBGPNetworkDeleted(t *testing.T) {
	b := Open(t)
	prefix := routeSlate(t, b)
	net := b.Get(t, "TB_NETWORK")
	const net2 = "ovn-rt"
	del := func() {
		if _, _, err := b.LXD.GetNetwork(net2); err == nil {
			b.DeleteAllForwards(t, net2)
			b.Lxc(t, "network", "delete", net2)
		}
	}
	del()
	t.Cleanup(func() { del(); routeSlate(t, b) })
	uplink := b.Get(t, "TB_UPLINK")
	// NAT on: the subnet need not be routed by the uplink.
	b.Lxc(t, "network", "create", net2, "--type=ovn", "network="+uplink, "ipv4.address=10.10.60.1/24", "ipv4.nat=true", "ipv6.address=none")
	vips0 := []string{"198.18.63.1"}
	vips2 := []string{"198.18.63.101", "198.18.63.102"}
	createForwards(t, b, net, vips0...)
	for _, v := range vips2 {
		b.CreateForward(t, net2, api.NetworkForwardsPost{ListenAddress: v,
			NetworkForwardPut: api.NetworkForwardPut{Ports: []api.NetworkForwardPort{tcp("80", "10.10.60.5", "")}}})
	}
	br, ms := startMembers(t, b)
	h0 := holder(t, b, prefix, ms)
	prefix2 := fmt.Sprintf("%s%d", b.OVNPrefix(), b.NetworkID(t, net2))
	h2 := holder(t, b, prefix2, ms)
	nh0, nh2 := routerAddr(t, b, net), routerAddr(t, b, net2)
	want := append(expectRoutes(vips0, h0.proto, nh0, ""), expectRoutes(vips2, h2.proto, nh2, "")...)
	sort.Strings(want)
	waitBird(t, br, 15*time.Second, "both networks announced", want)
	t.Logf("%s (gateway %s) via %s and %s (gateway %s) via %s announced", net, h0.chassis(), nh0, net2, h2.chassis(), nh2)

	start := time.Now()
	b.DeleteAllForwards(t, net2) // LXD 5.0 refuses to delete a network with forwards
	b.Lxc(t, "network", "delete", net2)
	at := waitBird(t, br, 15*time.Second, "the deleted network's routes withdrawn", expectRoutes(vips0, h0.proto, nh0, ""))
	t.Logf("network %s deleted → its routes withdrawn %v after the delete began", net2, at.Sub(start).Round(time.Millisecond))
}

// Graceful stop withdraws at once; kill -9 drops the routes no later than
// the hold timer (the kernel closes the TCP session, so BIRD usually sees it
// at once); a frozen member (SIGSTOP: the session stays open, keepalives
// stop) loses its routes exactly at hold-timer expiry (3 s). Also checks
// next-hop self, communities and MED.
func TestBGPStopAndKill(t *testing.T) {
	b := Open(t)
	prefix := routeSlate(t, b)
	net := b.Get(t, "TB_NETWORK")
	t.Cleanup(func() { routeSlate(t, b) })
	vips := []string{"198.18.64.1", "198.18.64.2"}
	createForwards(t, b, net, vips...)
	// Graceful restart off: a stop withdraws (TestBGPGracefulRestart has it on).
	br, ms := startMembers(t, b, "--bgp-next-hop", "self", "--bgp-community", "65000:100", "--bgp-community", "65000:7:9", "--bgp-med", "10",
		"--bgp-graceful-restart", "0")
	h := holder(t, b, prefix, ms)
	self := fmt.Sprintf("127.0.0.1%d", h.n)
	attrs := " med 10 comm (65000,100) (65000, 7, 9)"
	want := expectRoutes(vips, h.proto, self, attrs)
	waitBird(t, br, 15*time.Second, "announced with next hop self, community and MED", want)

	// Graceful stop: withdrawn before the session closes.
	start := time.Now()
	h.d.Stop()
	at := waitBird(t, br, 5*time.Second, "withdrawn after SIGTERM", nil)
	t.Logf("SIGTERM → BIRD dropped the routes after %v", at.Sub(start).Round(time.Millisecond))
	if log := h.d.Log(); !strings.Contains(log, "BGP routes withdrawn") {
		t.Errorf("the stopped member did not log its withdrawal")
	}
	h.restart(t, b)
	waitBird(t, br, 20*time.Second, "announced again after restart", want)

	// kill -9.
	start = time.Now()
	h.d.Kill()
	at = waitBird(t, br, 6*time.Second, "dropped after kill -9", nil)
	t.Logf("kill -9 → BIRD dropped the routes after %v (hold time 3 s; the kernel closed the TCP session)", at.Sub(start).Round(time.Millisecond))
	if at.Sub(start) > 3500*time.Millisecond {
		t.Errorf("kill -9: routes dropped after %v, want ≤ hold time 3 s", at.Sub(start))
	}
	h.restart(t, b)
	waitBird(t, br, 20*time.Second, "announced again after restart", want)

	// Frozen: nothing closes the session; BIRD's hold timer must.
	freezeUntilDropped(t, br, h, want)
}

// freezeUntilDropped SIGSTOPs member h: nothing closes its session, so
// BIRD's hold timer (3 s) must end it and drop its routes, graceful restart
// or not; then h runs again and its routes (want) come back.
func freezeUntilDropped(t *testing.T, br *Bird, h *member, want []string) {
	t.Helper()
	start := time.Now()
	if err := h.d.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := true
	t.Cleanup(func() {
		if frozen {
			_ = h.d.cmd.Process.Signal(syscall.SIGCONT)
		}
	})
	at := waitBird(t, br, 8*time.Second, "dropped at hold-timer expiry", nil)
	took := at.Sub(start)
	p := br.Protocols(t)[h.proto]
	t.Logf("SIGSTOP → BIRD dropped the routes after %v (hold timer 3 s); protocol %s: %q", took.Round(time.Millisecond), h.proto, p)
	if took < 1500*time.Millisecond || took > 4500*time.Millisecond {
		t.Errorf("frozen member: routes dropped after %v, want at hold-timer expiry (~3 s)", took)
	}
	_ = h.d.cmd.Process.Signal(syscall.SIGCONT)
	frozen = false
	waitBird(t, br, 30*time.Second, "announced again once the member runs again", want)
}

// BGP graceful restart (on by default): a SIGTERM'd member (a snap
// refresh, systemctl restart) and a kill -9'd one leave their routes at
// BIRD, which keeps them through the restart without a single sample
// missing them; a member that does not come back loses them at the
// restart time (--bgp-graceful-restart, 8 s here); a frozen member is
// still dropped by BIRD's hold timer.
func TestBGPGracefulRestart(t *testing.T) {
	b := Open(t)
	prefix := routeSlate(t, b)
	net := b.Get(t, "TB_NETWORK")
	t.Cleanup(func() { routeSlate(t, b) })
	vips := []string{"198.18.66.1", "198.18.66.2"}
	createForwards(t, b, net, vips...)
	const restartTime = 8 * time.Second
	br, ms := startMembers(t, b, "--bgp-graceful-restart", restartTime.String())
	h := holder(t, b, prefix, ms)
	want := expectRoutes(vips, h.proto, routerAddr(t, b, net), "")
	wantSet := strings.Join(want, "\n")
	waitBird(t, br, 15*time.Second, "BIRD holds every VIP from the active member", want)

	restart := func(how string, stop func()) {
		t.Helper()
		samples := make(chan struct{})
		got := br.Sample(inRange, samples)
		start := time.Now()
		stop()
		Eventually(t, 10*time.Second, 20*time.Millisecond, "BIRD sees "+h.proto+" go down", func() string {
			if p := br.Protocols(t)[h.proto]; strings.Contains(p, "Established") {
				return h.proto + ": " + p
			}
			return ""
		})
		h.restart(t, b)
		br.WaitEstablished(t, 30*time.Second, h.proto)
		up := time.Since(start)
		time.Sleep(3 * time.Second) // past the new session's End-of-RIB
		close(samples)
		ss := <-got
		for _, s := range ss {
			if s.Set != wantSet {
				t.Errorf("%s: %v after the stop BIRD held %q, want %q throughout", how, s.At.Sub(start).Round(time.Millisecond), s.Set, wantSet)
			}
		}
		if len(ss) == 0 {
			t.Errorf("%s: no BIRD sample", how)
		}
		t.Logf("%s → session back after %v; BIRD held every route throughout (%d sample changes)", how, up.Round(time.Millisecond), len(ss))
	}
	restart("SIGTERM and restart", func() {
		h.d.Stop()
		if log := h.d.Log(); !strings.Contains(log, "routes left to the peers for graceful restart") || strings.Contains(log, "BGP routes withdrawn") {
			t.Errorf("the stopped member did not leave its routes to the peers")
		}
	})
	restart("kill -9 and restart", h.d.Kill)

	// No comeback: the routes go at the restart time.
	start := time.Now()
	h.d.Stop()
	waitBird(t, br, 3*time.Second, "routes kept after SIGTERM", want)
	at := waitBird(t, br, restartTime+10*time.Second, "dropped at the restart time", nil)
	took := at.Sub(start)
	t.Logf("SIGTERM, no restart → BIRD dropped the routes after %v (restart time %v)", took.Round(time.Millisecond), restartTime)
	if took < restartTime-time.Second || took > restartTime+5*time.Second {
		t.Errorf("routes dropped %v after the stop, want about the restart time %v", took, restartTime)
	}
	h.restart(t, b)
	waitBird(t, br, 20*time.Second, "announced again after restart", want)

	// Frozen: the TCP session stays open, BIRD's hold timer ends it.
	freezeUntilDropped(t, br, h, want)
}

// SB down for 10 s (kill -9 of its ovsdb-server): the member whose chassis
// holds the gateway keeps announcing it, judged by its own chassis's BFD
// view (no chassis of higher priority up), and BIRD keeps every route the
// whole time; the other members announce nothing. Before --bgp-sb-hold
// existed, every route was withdrawn 3 s into the outage.
func TestBGPRoutesSurviveSBLoss(t *testing.T) {
	b := Open(t)
	prefix := routeSlate(t, b)
	net := b.Get(t, "TB_NETWORK")
	t.Cleanup(func() { routeSlate(t, b) })
	vips := []string{"198.18.65.1", "198.18.65.2"}
	createForwards(t, b, net, vips...)
	br, ms := startMembersWith(t, b, func(n int) []string { return []string{"--ovs", b.Get(t, fmt.Sprintf("TB_CH%d_OVS_DB", n))} },
		"--bgp-sb-grace", "1s")
	h := holder(t, b, prefix, ms)
	nh := routerAddr(t, b, net)
	want := expectRoutes(vips, h.proto, nh, "")
	waitBird(t, br, 15*time.Second, "BIRD holds every VIP from the active member", want)

	stop := make(chan struct{})
	samples := br.Sample(inRange, stop)
	sbBack := false
	b.Script(t, "sb-kill")
	t.Cleanup(func() {
		if !sbBack {
			b.Script(t, "sb-start")
		}
	})
	killed := time.Now()
	time.Sleep(10 * time.Second)
	var reasons []string
	for _, m := range ms {
		st := m.d.routeStatus(t)
		if len(st.Networks) != 1 {
			t.Fatalf("%s /routes networks %+v", m.chassis(), st.Networks)
		}
		reasons = append(reasons, m.chassis()+": "+st.Networks[0].Reason)
		if want := m == h; st.Networks[0].Announced != want {
			t.Errorf("%s announced=%v after 10 s without SB (holder %s): %s", m.chassis(), st.Networks[0].Announced, h.chassis(), st.Networks[0].Reason)
		}
	}
	close(stop)
	got := <-samples
	t.Logf("SB down %v; /routes says:\n  %s", time.Since(killed).Round(time.Millisecond), strings.Join(reasons, "\n  "))
	if r := reasons[h.n-1]; !strings.Contains(r, "southbound DB unreachable") || !strings.Contains(r, "kept") {
		t.Errorf("the holder's reason does not say it keeps the routes without SB: %q", r)
	}
	wantSet := strings.Join(want, "\n")
	for _, s := range got {
		if s.Set != wantSet {
			t.Errorf("at %v into the SB outage BIRD held %q, want %q throughout", s.At.Sub(killed).Round(time.Millisecond), s.Set, wantSet)
		}
	}
	if len(got) == 0 {
		t.Error("no BIRD sample was taken during the outage")
	}
	if log := h.d.Log(); strings.Contains(log, "BGP routes withdrawn") {
		t.Errorf("the holder withdrew routes during the SB outage")
	}

	b.Script(t, "sb-start")
	sbBack = true
	Eventually(t, 30*time.Second, 100*time.Millisecond, "every member follows SB's claims again", func() string {
		for _, m := range ms {
			st := m.d.routeStatus(t)
			if len(st.Networks) != 1 || strings.Contains(st.Networks[0].Reason, "southbound DB unreachable") {
				return fmt.Sprintf("%s: %+v", m.chassis(), st.Networks)
			}
		}
		return ""
	})
	waitBird(t, br, 15*time.Second, "routes unchanged once SB is back", expectRoutes(vips, holder(t, b, prefix, ms).proto, nh, ""))
}

// ParseBirdRoutes reads BIRD 2.0's `show route all`, including a second
// route for a prefix (continuation line) and large communities.
func TestRouteBirdParse(t *testing.T) {
	out := "BIRD 2.0.12 ready.\nTable master4:\n" +
		"198.18.64.1/32       unreachable [ovnfwd_ch2 13:29:47.355 from 127.0.0.12] * (100) [AS65101i]\n" +
		"\tType: BGP univ\n\tBGP.origin: IGP\n\tBGP.as_path: 65101\n\tBGP.next_hop: 10.99.0.100\n\tBGP.med: 10\n\tBGP.local_pref: 100\n" +
		"\tBGP.community: (65000,100)\n\tBGP.large_community: (65000, 7, 9)\n" +
		"                     unreachable [ovnfwd_ch1 13:29:48.001 from 127.0.0.11] (100) [AS65101i]\n" +
		"\tType: BGP univ\n\tBGP.next_hop: 127.0.0.11\n" +
		"198.18.64.2/32       unreachable [ovnfwd_ch2 13:29:47.355 from 127.0.0.12] * (100) [AS65101i]\n" +
		"\tBGP.next_hop: 10.99.0.100\n"
	got := RouteSet(ParseBirdRoutes(out), nil)
	want := []string{
		"198.18.64.1/32 from ovnfwd_ch1 nh 127.0.0.11",
		"198.18.64.1/32 from ovnfwd_ch2 nh 10.99.0.100 med 10 comm (65000,100) (65000, 7, 9)",
		"198.18.64.2/32 from ovnfwd_ch2 nh 10.99.0.100",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("parsed\n%q\nwant\n%q", got, want)
	}
	rs := ParseBirdRoutes(out)
	if !rs[1].Primary || rs[0].Primary || rs[0].From != "127.0.0.11" {
		t.Errorf("primary/from: %+v", rs)
	}
}
