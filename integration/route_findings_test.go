//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/canonical/lxd/shared/api"
)

// Route findings (issue 6) on the real bed: check (and status) judge the
// route state with run's BGP policy, given as run takes it (here its
// environment, OVNFWD_BGP_ASN): LXD's own BGP peers on the uplink
// (lxd-bgp-also-announces), a VIP family without a router uplink address
// (route-no-next-hop); and `run --dry-run` with BGP announces nothing to
// BIRD. Listen addresses: 198.18.68.0/23.

// routeCheck is one one-shot ovnfwd run with extra environment.
type routeCheck struct {
	code   int
	stdout string
	stderr string
	rep    struct {
		Summary struct {
			Findings   int            `json:"findings"`
			ByCategory map[string]int `json:"by_category"`
		} `json:"summary"`
		Findings []struct {
			Project       string `json:"project"`
			Network       string `json:"network"`
			ListenAddress string `json:"listen_address"`
			Category      string `json:"category"`
			Severity      string `json:"severity"`
			Detail        string `json:"detail"`
			Repair        string `json:"repair"`
		} `json:"findings"`
	}
}

// runRouteCheck runs `ovnfwd <args>` (check or repair with --format json)
// against the bed with env added, and parses its report.
func runRouteCheck(t *testing.T, b *Bed, env []string, args ...string) routeCheck {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = append(b.OperatorEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := routeCheck{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("ovnfwd %s: %v", strings.Join(args, " "), err)
	}
	if r.code == 2 {
		t.Fatalf("ovnfwd %s (env %v): exit 2: %s", strings.Join(args, " "), env, r.stderr)
	}
	if err := json.Unmarshal(out.Bytes(), &r.rep); err != nil {
		t.Fatalf("ovnfwd %s: %v: %s", strings.Join(args, " "), err, out.String())
	}
	return r
}

// networkFinding returns the network-wide finding of one category, if any.
func (r routeCheck) networkFinding(network, category string) (detail, repair string, ok bool) {
	for _, f := range r.rep.Findings {
		if f.Network == network && f.Category == category {
			if f.ListenAddress != "" || f.Project != "default" {
				return fmt.Sprintf("keyed %s/%s/%s", f.Project, f.Network, f.ListenAddress), f.Repair, true
			}
			return f.Detail, f.Repair, true
		}
	}
	return "", "", false
}

func (r routeCheck) categories() []string {
	var out []string
	for _, f := range r.rep.Findings {
		out = append(out, f.ListenAddress+" "+f.Category)
	}
	return out
}

// bgpOn is run's BGP policy as its environment gives it.
var bgpOn = []string{"OVNFWD_BGP_ASN=65101"}

// setUplinkConfig replaces the uplink network's config through the LXD API
// (PUT, as `lxc network edit` does).
//
// A clustered LXD 5.0.2 applies the change on every member; a member whose
// BGP speaker never ran (no core.bgp_address) may answer "Peer not found"
// when a peer is removed, seen after its LXD restarted. The update is then
// retried, and counts as done once LXD shows exactly cfg.
func setUplinkConfig(t *testing.T, b *Bed, uplink string, cfg map[string]string) error {
	t.Helper()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		n, etag, rerr := b.LXD.GetNetwork(uplink)
		if rerr != nil {
			t.Fatalf("read uplink %s: %v", uplink, rerr)
		}
		if attempt > 0 && maps.Equal(n.Config, cfg) {
			t.Logf("uplink %s: LXD reported %v, but holds the new config", uplink, err)
			return nil
		}
		put := n.Writable()
		put.Config = cfg
		if err = b.LXD.UpdateNetwork(uplink, put, etag); err == nil || !strings.Contains(err.Error(), "Peer not found") {
			return err
		}
		time.Sleep(time.Second)
	}
	return err
}

// With LXD BGP peers on the uplink (bgp.peers.<name>.address and .asn; LXD
// 5.0.2 accepts them without core.bgp_address: its speaker then records the
// peer but does not run), check with ovnfwd's BGP on exits 1 with an
// lxd-bgp-also-announces finding for the network, status counts it, and
// check without ovnfwd's BGP does not report it. Once the peers are gone,
// check no longer reports it (and exits 0).
func TestRouteFindingsLXDBGPAlsoAnnounces(t *testing.T) {
	b := Open(t)
	routeSlate(t, b)
	net, uplink := b.Get(t, "TB_NETWORK"), b.Get(t, "TB_UPLINK")
	t.Cleanup(func() { routeSlate(t, b) })
	n, _, err := b.LXD.GetNetwork(uplink)
	if err != nil {
		t.Fatal(err)
	}
	orig := maps.Clone(n.Config)
	for k := range orig {
		if strings.HasPrefix(k, "bgp.peers.") {
			t.Fatalf("the bed's uplink %s already has %s", uplink, k)
		}
	}
	restored := false
	t.Cleanup(func() {
		if !restored {
			if err := setUplinkConfig(t, b, uplink, orig); err != nil {
				t.Errorf("restore uplink %s: %v", uplink, err)
			}
		}
	})
	vips := []string{"198.18.68.1", "198.18.68.2"}
	createForwards(t, b, net, vips...)
	scope := []string{"--format", "json", "--arp-responder", "unmanaged", "--network", net}

	before := runRouteCheck(t, b, bgpOn, append([]string{"check"}, scope...)...)
	if before.code != 0 {
		t.Fatalf("before: check exit %d, findings %v", before.code, before.categories())
	}

	withPeers := maps.Clone(orig)
	withPeers["bgp.peers.ovnfwdtest.address"] = "192.0.2.250"
	withPeers["bgp.peers.ovnfwdtest.asn"] = "65099"
	if err := setUplinkConfig(t, b, uplink, withPeers); err != nil {
		t.Fatalf("LXD refuses BGP peers on uplink %s: %v", uplink, err)
	}
	got, _, _ := b.LXD.GetNetwork(uplink)
	t.Logf("uplink %s (%s) now has bgp.peers.ovnfwdtest.address=%s asn=%s; server core.bgp_address unset",
		uplink, got.Type, got.Config["bgp.peers.ovnfwdtest.address"], got.Config["bgp.peers.ovnfwdtest.asn"])

	r := runRouteCheck(t, b, bgpOn, append([]string{"check"}, scope...)...)
	detail, repair, ok := r.networkFinding(net, "lxd-bgp-also-announces")
	if r.code != 1 || !ok {
		t.Fatalf("check with OVNFWD_BGP_ASN and LXD peers: exit %d, findings %v; want exit 1 and lxd-bgp-also-announces for %s",
			r.code, r.categories(), net)
	}
	for _, want := range []string{"uplink " + uplink + " of network default/" + net, "bgp.peers.ovnfwdtest", "2 forwards", "cr-" + b.Prefix(t) + "-lr-lrp-ext"} {
		if !strings.Contains(detail, want) {
			t.Errorf("detail %q lacks %q", detail, want)
		}
	}
	if !strings.Contains(repair, "lxc network unset "+uplink+" bgp.peers.ovnfwdtest.address") {
		t.Errorf("repair %q", repair)
	}
	if r.rep.Summary.ByCategory["lxd-bgp-also-announces"] != 1 {
		t.Errorf("summary by category %v", r.rep.Summary.ByCategory)
	}
	t.Logf("check: exit %d; lxd-bgp-also-announces: %s; repair: %s", r.code, detail, repair)

	// The flag form, and repair's remaining findings, say the same.
	r = runRouteCheck(t, b, nil, append([]string{"check", "--bgp-asn", "65101"}, scope...)...)
	if _, _, ok := r.networkFinding(net, "lxd-bgp-also-announces"); !ok || r.code != 1 {
		t.Errorf("check --bgp-asn: exit %d, findings %v", r.code, r.categories())
	}
	r = runRouteCheck(t, b, bgpOn, append([]string{"repair", "--yes", "--no-ha"}, scope...)...)
	if _, _, ok := r.networkFinding(net, "lxd-bgp-also-announces"); !ok || r.code != 1 {
		t.Errorf("repair: exit %d, remaining findings %v; want lxd-bgp-also-announces to remain", r.code, r.categories())
	}

	// Without ovnfwd's BGP, LXD's speaker is how forwards are announced.
	r = runRouteCheck(t, b, nil, append([]string{"check"}, scope...)...)
	if _, _, ok := r.networkFinding(net, "lxd-bgp-also-announces"); ok || r.code != 0 {
		t.Errorf("check without ovnfwd's BGP: exit %d, findings %v; want exit 0 and no lxd-bgp-also-announces", r.code, r.categories())
	}

	// status counts it for the network.
	statusFindings := func(env []string) int {
		cmd := exec.Command(Binary(t), "status", "--format", "json", "--arp-responder", "unmanaged", "--network", net)
		cmd.Env = append(b.OperatorEnv(), env...)
		out, _ := cmd.Output()
		var st struct {
			Networks []struct {
				Name     string `json:"name"`
				Findings int    `json:"findings"`
			} `json:"networks"`
		}
		if err := json.Unmarshal(out, &st); err != nil || len(st.Networks) != 1 {
			t.Fatalf("status: %v: %s", err, out)
		}
		return st.Networks[0].Findings
	}
	if on, off := statusFindings(bgpOn), statusFindings(nil); on != off+1 {
		t.Errorf("status findings of %s: %d with OVNFWD_BGP_ASN, %d without; want one more (lxd-bgp-also-announces)", net, on, off)
	}

	// Peers removed: no longer reported.
	if err := setUplinkConfig(t, b, uplink, orig); err != nil {
		t.Fatalf("unset BGP peers: %v", err)
	}
	restored = true
	r = runRouteCheck(t, b, bgpOn, append([]string{"check"}, scope...)...)
	if _, _, ok := r.networkFinding(net, "lxd-bgp-also-announces"); ok || r.code != 0 {
		t.Fatalf("after unsetting the peers: exit %d, findings %v; want exit 0", r.code, r.categories())
	}
}

// A forward of a family the network has no router uplink address for (an
// IPv6 forward on the IPv4-only ovn0, put into LXD's database as LXD cannot
// be asked for it here): with next hop router, check reports
// route-no-next-hop for the network naming the address; with next hop self
// it does not.
func TestRouteFindingsNoNextHop(t *testing.T) {
	b := Open(t)
	routeSlate(t, b)
	net := b.Get(t, "TB_NETWORK")
	t.Cleanup(func() { routeSlate(t, b) })
	const v6 = "2001:db8:68::10"
	n, _, err := b.LXD.GetNetwork(net)
	if err != nil {
		t.Fatal(err)
	}
	if a := n.Config["volatile.network.ipv6.address"]; a != "" {
		t.Fatalf("%s has volatile.network.ipv6.address %q; the test needs an IPv4-only network", net, a)
	}
	createForwards(t, b, net, "198.18.68.10")
	b.SeedForwards(t, net, []string{v6}, []api.NetworkForwardPort{{Protocol: "tcp", ListenPort: "80", TargetAddress: "fd42:68::5"}})
	t.Cleanup(func() {
		b.LXDSQL(t, fmt.Sprintf("DELETE FROM networks_forwards WHERE listen_address='%s'", v6))
	})
	scope := []string{"--format", "json", "--arp-responder", "unmanaged", "--network", net}

	r := runRouteCheck(t, b, bgpOn, append([]string{"check"}, scope...)...)
	detail, repair, ok := r.networkFinding(net, "route-no-next-hop")
	if r.code != 1 || !ok {
		t.Fatalf("check, next hop router: exit %d, findings %v; want route-no-next-hop for %s", r.code, r.categories(), net)
	}
	for _, want := range []string{"network default/" + net + " has no volatile.network.ipv6.address", "1 listen address", v6} {
		if !strings.Contains(detail, want) {
			t.Errorf("detail %q lacks %q", detail, want)
		}
	}
	if strings.Contains(detail, "198.18.68.10") || !strings.Contains(repair, "--bgp-next-hop self") {
		t.Errorf("detail %q / repair %q", detail, repair)
	}
	t.Logf("check: %s; repair: %s", detail, repair)

	r = runRouteCheck(t, b, append([]string{"OVNFWD_BGP_NEXT_HOP=self"}, bgpOn...), append([]string{"check"}, scope...)...)
	if _, _, ok := r.networkFinding(net, "route-no-next-hop"); ok {
		t.Errorf("next hop self: route-no-next-hop reported: %v", r.categories())
	}
	r = runRouteCheck(t, b, nil, append([]string{"check"}, scope...)...)
	if _, _, ok := r.networkFinding(net, "route-no-next-hop"); ok {
		t.Errorf("ovnfwd's BGP off: route-no-next-hop reported: %v", r.categories())
	}
}

// `run --dry-run` with BGP, as the member whose chassis holds the gateway:
// no session comes up, BIRD receives no route, /routes shows what it would
// announce (dry_run), the log says so. The same member without --dry-run
// does announce them (the setup is not vacuous).
func TestRouteDryRunAnnouncesNothing(t *testing.T) {
	b := Open(t)
	prefix := routeSlate(t, b)
	net := b.Get(t, "TB_NETWORK")
	t.Cleanup(func() { routeSlate(t, b) })
	vips := []string{"198.18.69.1", "198.18.69.2"}
	createForwards(t, b, net, vips...)
	br := b.BirdUp(t)
	if got := RouteSet(br.Routes(t), inRange); len(got) != 0 {
		t.Fatalf("BIRD already holds %q", got)
	}
	var ch string
	Eventually(t, 30*time.Second, 50*time.Millisecond, "a chassis holds the gateway", func() string {
		if ch = b.GatewayChassis(t, prefix); ch == "" {
			return "unclaimed"
		}
		return ""
	})
	m := &member{proto: "ovnfwd_" + ch}
	if _, err := fmt.Sscanf(ch, "ch%d", &m.n); err != nil {
		t.Fatalf("gateway chassis %q", ch)
	}
	m.args = []string{"--chassis", ch, "--bgp-asn", br.Env["TB_BIRD_PEER_ASN"],
		"--bgp-local-address", fmt.Sprintf("127.0.0.1%d", m.n), "--bgp-peer", br.PeerFlag()}
	nh := routerAddr(t, b, net)

	d := b.StartDaemon(t, append([]string{"--dry-run"}, m.args...)...)
	var st struct {
		DryRun   bool `json:"dry_run"`
		Sessions []struct {
			State string `json:"state"`
		} `json:"sessions"`
		Networks []struct {
			Announced bool   `json:"announced"`
			Reason    string `json:"reason"`
		} `json:"networks"`
		Routes []struct {
			Prefix  string `json:"prefix"`
			NextHop string `json:"next_hop"`
		} `json:"routes"`
	}
	Eventually(t, 15*time.Second, 20*time.Millisecond, "/routes shows the would-be routes", func() string {
		code, body, err := d.get("/routes")
		if err != nil || code != 200 {
			return fmt.Sprintf("/routes: %d %v", code, err)
		}
		if err := json.Unmarshal(body, &st); err != nil {
			return err.Error()
		}
		if !st.DryRun || len(st.Routes) != len(vips) {
			return string(body)
		}
		return ""
	})
	for _, r := range st.Routes {
		if r.NextHop != nh {
			t.Errorf("would-be route %+v, want next hop %s", r, nh)
		}
	}
	if len(st.Sessions) != 0 || len(st.Networks) != 1 || !strings.Contains(st.Networks[0].Reason, "dry run") {
		t.Errorf("/routes sessions %+v networks %+v", st.Sessions, st.Networks)
	}
	// Give a real speaker ample time (sessions come up within ~1 s here).
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		if got := RouteSet(br.Routes(t), inRange); len(got) != 0 {
			t.Fatalf("dry run: BIRD received %q", got)
		}
		if p := br.Protocols(t)[m.proto]; strings.HasPrefix(p, "Established") {
			t.Fatalf("dry run: BIRD protocol %s is %q", m.proto, p)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n, err := d.Metric("ovnfwd_bgp_routes_announced"); err != nil || n != 0 {
		t.Errorf("ovnfwd_bgp_routes_announced = %v, %v in a dry run", n, err)
	}
	log := d.Log()
	if !strings.Contains(log, "dry run: would announce BGP routes") || !strings.Contains(log, vips[0]+"/32") {
		t.Errorf("the dry run did not log what it would announce")
	}
	t.Logf("dry run on %s: /routes would announce %d routes via %s; BIRD protocol %s %q, no route received in 4 s",
		ch, len(st.Routes), nh, m.proto, br.Protocols(t)[m.proto])
	d.Stop()
	if strings.Contains(d.Log(), "BGP routes withdrawn") {
		t.Errorf("the dry run logged a withdrawal")
	}

	// The same member for real announces them.
	b.StartDaemon(t, m.args...)
	at := time.Now()
	waitBird(t, br, 15*time.Second, "the member without --dry-run announces", expectRoutes(vips, m.proto, nh, ""))
	t.Logf("without --dry-run BIRD holds the routes %v after the member became ready", time.Since(at).Round(time.Millisecond))
}
