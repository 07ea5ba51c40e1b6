//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canonical/lxd/shared/api"
)

// Address plan findings on the real bed (LXD 5.0.2): each case is created
// through LXD's API where LXD allows it, else through its database, seen
// in `ovnfwd check --format json` (and left alone by repair), and gone
// after the fix. Listen addresses: 198.18.70.0/24, 203.0.113.0/24, the
// network's own subnet and the uplink's ovn.ranges.

var addrScope = []string{"--format", "json", "--arp-responder", "unmanaged"}

// addrFinding returns the finding of one category for one listen address.
func (r routeCheck) addrFinding(listen, category string) (detail, repair string, ok bool) {
	for _, f := range r.rep.Findings {
		if f.ListenAddress == listen && f.Category == category {
			return f.Detail, f.Repair, true
		}
	}
	return "", "", false
}

func addrCheck(t *testing.T, b *Bed, args ...string) routeCheck {
	t.Helper()
	return runRouteCheck(t, b, nil, append(append([]string{"check"}, addrScope...), args...)...)
}

func wantContains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s %q lacks %q", what, s, sub)
		}
	}
}

// A forward outside the uplink's ipv4.routes (LXD refuses it through its
// API, so it is written into LXD's database) is listen-outside-routes,
// naming the uplink's routes; repair leaves it; once the uplink routes it
// (lxc network set br0 ipv4.routes=…,203.0.113.9/32) the finding is gone.
func TestAddressListenOutsideRoutes(t *testing.T) {
	b := Open(t)
	routeSlate(t, b)
	t.Cleanup(func() { routeSlate(t, b) })
	net, uplink := b.Get(t, "TB_NETWORK"), b.Get(t, "TB_UPLINK")
	n, _, err := b.LXD.GetNetwork(uplink)
	if err != nil {
		t.Fatal(err)
	}
	orig := maps.Clone(n.Config)
	t.Cleanup(func() {
		if err := setUplinkConfig(t, b, uplink, orig); err != nil {
			t.Errorf("restore uplink %s: %v", uplink, err)
		}
	})

	createForwards(t, b, net, "198.18.70.1")
	err = b.LXD.CreateNetworkForward(net, api.NetworkForwardsPost{ListenAddress: "203.0.113.9"})
	if err == nil || !strings.Contains(err.Error(), "routes") {
		t.Fatalf("LXD created a forward outside the uplink's routes (err %v)", err)
	}
	b.SeedForwards(t, net, []string{"203.0.113.9"}, []api.NetworkForwardPort{tcp("80", "10.10.10.5", "")})

	r := addrCheck(t, b, "--network", net)
	detail, repair, ok := r.addrFinding("203.0.113.9", "listen-outside-routes")
	if r.code != 1 || !ok {
		t.Fatalf("check: exit %d, findings %v; want exit 1 and listen-outside-routes for 203.0.113.9", r.code, r.categories())
	}
	if _, _, ok := r.addrFinding("198.18.70.1", "listen-outside-routes"); ok {
		t.Errorf("198.18.70.1 (inside %s) reported outside the routes", orig["ipv4.routes"])
	}
	wantContains(t, "detail", detail, "uplink "+uplink+"'s ipv4.routes", "has ipv4.routes="+orig["ipv4.routes"])
	wantContains(t, "repair", repair, "lxc network set "+uplink+" ipv4.routes="+orig["ipv4.routes"]+",203.0.113.9/32")
	for _, f := range r.rep.Findings {
		if f.Category == "listen-outside-routes" && f.Severity != "error" {
			t.Errorf("severity %s", f.Severity)
		}
	}
	t.Logf("check: exit %d; listen-outside-routes: %s; repair: %s", r.code, detail, repair)

	rr := runRouteCheck(t, b, nil, append([]string{"repair", "--yes", "--no-ha", "--network", net}, addrScope...)...)
	if _, _, ok := rr.addrFinding("203.0.113.9", "listen-outside-routes"); !ok {
		t.Errorf("repair: remaining findings %v; want listen-outside-routes to remain (report-only)", rr.categories())
	}

	// The fix the hint gives.
	fixed := maps.Clone(orig)
	fixed["ipv4.routes"] = orig["ipv4.routes"] + ",203.0.113.9/32"
	// LXD 5.0.2 restarts the bridge's dnsmasq on a routes change, and the
	// new one sometimes finds the old one still on its socket ("Address
	// already in use"): LXD then reverts the change. Try again.
	for i := 0; ; i++ {
		err := setUplinkConfig(t, b, uplink, fixed)
		if err == nil {
			break
		}
		if i == 5 || !strings.Contains(err.Error(), "already in use") {
			t.Fatalf("LXD refuses %s ipv4.routes=%s: %v", uplink, fixed["ipv4.routes"], err)
		}
		t.Logf("uplink update, try %d: %v", i+1, err)
		time.Sleep(time.Second)
	}
	r = addrCheck(t, b, "--network", net)
	if _, _, ok := r.addrFinding("203.0.113.9", "listen-outside-routes"); ok || r.code != 0 {
		t.Errorf("after the fix: exit %d, findings %v; want exit 0 and no listen-outside-routes", r.code, r.categories())
	}
}

// A forward on an instance NIC's address (LXD 5.0.2 allows it through its
// API on a network with ipv4.nat=false), on the router's internal address
// (also allowed) and inside the uplink's ipv4.ovn.ranges (only through the
// database) is listen-is-instance-address; readdressing the instance and
// deleting the others clear them.
func TestAddressListenIsInstanceAddress(t *testing.T) {
	b := Open(t)
	routeSlate(t, b)
	t.Cleanup(func() { routeSlate(t, b) })
	net := b.Get(t, "TB_NETWORK")
	pool, inst := "addrtest", "addrc1"
	if b.Cluster() {
		// A clustered LXD creates a pool on every member first (pending).
		for _, m := range strings.Fields(b.Get(t, "TB_MEMBERS")) {
			b.Lxc(t, "storage", "create", pool, "dir", "--target", m)
		}
	}
	b.Lxc(t, "storage", "create", pool, "dir")
	t.Cleanup(func() {
		b.Lxc(t, "delete", "--force", inst)
		b.Lxc(t, "storage", "delete", pool)
	})
	b.Lxc(t, "init", "--empty", inst, "--storage", pool, "--network", net)
	b.Lxc(t, "config", "device", "set", inst, "eth0", "ipv4.address=10.10.10.50")

	n, _, err := b.LXD.GetNetwork(net)
	if err != nil {
		t.Fatal(err)
	}
	gw, _, _ := strings.Cut(n.Config["ipv4.address"], "/")
	createForwards(t, b, net, "10.10.10.50", gw, "198.18.70.2")
	b.SeedForwards(t, net, []string{"10.99.0.150"}, []api.NetworkForwardPort{tcp("80", "10.10.10.5", "")})

	r := addrCheck(t, b, "--network", net)
	if r.code != 1 {
		t.Errorf("check: exit %d, want 1", r.code)
	}
	for _, c := range []struct{ listen, want string }{
		{"10.10.10.50", "the ipv4.address of NIC eth0 of instance " + inst + " (project default)"},
		{gw, "the router's address on network default/" + net + " (ipv4.address=" + n.Config["ipv4.address"] + ")"},
		{"10.99.0.150", "inside uplink " + b.Get(t, "TB_UPLINK") + "'s ipv4.ovn.ranges"},
	} {
		detail, repair, ok := r.addrFinding(c.listen, "listen-is-instance-address")
		if !ok {
			t.Errorf("no listen-is-instance-address for %s in %v", c.listen, r.categories())
			continue
		}
		wantContains(t, "detail", detail, c.want)
		wantContains(t, "repair", repair, "none automatic", "lxc network forward delete "+net+" "+c.listen)
		t.Logf("%s: %s", c.listen, detail)
	}
	if _, _, ok := r.addrFinding("198.18.70.2", "listen-is-instance-address"); ok {
		t.Errorf("198.18.70.2 reported as an instance address")
	}

	// The fixes: readdress the instance, delete the others.
	b.Lxc(t, "config", "device", "set", inst, "eth0", "ipv4.address=10.10.10.51")
	b.DeleteForward(t, net, gw)
	b.LXDSQL(t, fmt.Sprintf("DELETE FROM networks_forwards WHERE listen_address='10.99.0.150' AND network_id=%d", b.NetworkID(t, net)))
	r = addrCheck(t, b, "--network", net)
	for _, f := range r.rep.Findings {
		if f.Category == "listen-is-instance-address" {
			t.Errorf("after the fixes: %s %s: %s", f.ListenAddress, f.Category, f.Detail)
		}
	}
	if r.code != 0 {
		t.Errorf("after the fixes: exit %d, findings %v", r.code, r.categories())
	}
}

// A second OVN network on the same uplink with a forward on the first's
// listen address (LXD refuses it through its API, so it is written into
// LXD's database): both forwards are listen-overlap; deleting one clears
// both. (LXD 5.0.2 has no network load balancers: that case is unit-tested.)
func TestAddressListenOverlap(t *testing.T) {
	b := Open(t)
	routeSlate(t, b)
	t.Cleanup(func() { routeSlate(t, b) })
	net, uplink := b.Get(t, "TB_NETWORK"), b.Get(t, "TB_UPLINK")
	other := "ovnaddr1"
	b.Lxc(t, "network", "create", other, "--type=ovn", "network="+uplink, "ipv4.address=10.10.30.1/24", "ipv4.nat=true", "ipv6.address=none")
	t.Cleanup(func() {
		b.LXDSQL(t, fmt.Sprintf("DELETE FROM networks_forwards WHERE network_id=%d", b.NetworkID(t, other)))
		b.Lxc(t, "network", "delete", other)
	})
	createForwards(t, b, net, "198.18.70.5", "198.18.70.6")
	if err := b.LXD.CreateNetworkForward(other, api.NetworkForwardsPost{ListenAddress: "198.18.70.5"}); err == nil {
		t.Fatalf("LXD created an overlapping forward")
	} else {
		t.Logf("LXD refuses it: %v", err)
	}
	b.SeedForwards(t, other, []string{"198.18.70.5"}, []api.NetworkForwardPort{tcp("80", "10.10.30.5", "")})

	r := addrCheck(t, b)
	if r.code != 1 {
		t.Errorf("check: exit %d, want 1", r.code)
	}
	for _, f := range r.rep.Findings {
		if f.Category != "listen-overlap" {
			continue
		}
		if f.ListenAddress != "198.18.70.5" || f.Severity != "warning" {
			t.Errorf("listen-overlap %s/%s %s (%s)", f.Network, f.ListenAddress, f.Severity, f.Detail)
		}
	}
	seen := map[string]string{}
	for _, f := range r.rep.Findings {
		if f.Category == "listen-overlap" {
			seen[f.Network] = f.Detail
		}
	}
	wantContains(t, "detail", seen[net], "on uplink "+uplink, "forward 198.18.70.5 of network default/"+other)
	wantContains(t, "detail", seen[other], "forward 198.18.70.5 of network default/"+net)
	if len(seen) != 2 {
		t.Errorf("listen-overlap on networks %v, want %s and %s", seen, net, other)
	}
	t.Logf("%s: %s", net, seen[net])

	b.LXDSQL(t, fmt.Sprintf("DELETE FROM networks_forwards WHERE network_id=%d", b.NetworkID(t, other)))
	r = addrCheck(t, b)
	for _, f := range r.rep.Findings {
		if f.Category == "listen-overlap" {
			t.Errorf("after the fix: %s/%s listen-overlap", f.Network, f.ListenAddress)
		}
	}
}

// A forward with a member (node_id; LXD reports it as location) is
// forward-has-location; running the query of its hint clears it.
func TestAddressForwardHasLocation(t *testing.T) {
	b := Open(t)
	routeSlate(t, b)
	t.Cleanup(func() { routeSlate(t, b) })
	net := b.Get(t, "TB_NETWORK")
	createForwards(t, b, net, "198.18.70.8", "198.18.70.9")
	b.LXDSQL(t, fmt.Sprintf("UPDATE networks_forwards SET node_id=(SELECT id FROM nodes ORDER BY id LIMIT 1) WHERE listen_address='198.18.70.8' AND network_id=%d", b.NetworkID(t, net)))
	f, _, err := b.LXD.GetNetworkForward(net, "198.18.70.8")
	if err != nil || f.Location == "" {
		t.Fatalf("LXD reports location %q (err %v) for a forward with a node_id", f.Location, err)
	}

	r := addrCheck(t, b, "--network", net)
	detail, repair, ok := r.addrFinding("198.18.70.8", "forward-has-location")
	if r.code != 1 || !ok {
		t.Fatalf("check: exit %d, findings %v; want exit 1 and forward-has-location", r.code, r.categories())
	}
	if _, _, ok := r.addrFinding("198.18.70.9", "forward-has-location"); ok {
		t.Errorf("198.18.70.9 has no location")
	}
	wantContains(t, "detail", detail, fmt.Sprintf("location %q", f.Location), "default/"+net)
	t.Logf("forward-has-location: %s; repair: %s", detail, repair)

	// status lists it under the network, the daemon's /findings has it.
	cmd := exec.Command(Binary(t), append([]string{"status", "--network", net}, addrScope...)...)
	cmd.Env = b.OperatorEnv()
	out, _ := cmd.Output()
	type hygiene struct {
		ListenAddress string `json:"listen_address"`
		Category      string `json:"category"`
	}
	var st struct {
		Networks []struct {
			Name            string    `json:"name"`
			HygieneFindings []hygiene `json:"hygiene_findings"`
		} `json:"networks"`
	}
	if err := json.Unmarshal(out, &st); err != nil || len(st.Networks) != 1 {
		t.Fatalf("status: %v: %s", err, out)
	}
	if !slices.ContainsFunc(st.Networks[0].HygieneFindings, func(h hygiene) bool {
		return h.ListenAddress == "198.18.70.8" && h.Category == "forward-has-location"
	}) {
		t.Errorf("status of %s lists %+v; want forward-has-location for 198.18.70.8", net, st.Networks[0].HygieneFindings)
	}
	d := b.StartDaemon(t)
	fs, err := d.findings()
	if err != nil || !slices.ContainsFunc(fs, func(f Finding) bool { return f.Category == "forward-has-location" && f.Network == net }) {
		t.Errorf("daemon /findings: %+v (err %v); want forward-has-location", fs, err)
	}
	d.Stop()

	// The hint's query, as given.
	_, q, ok := strings.Cut(repair, `lxd sql global "`)
	q, _, ok2 := strings.Cut(q, `"`)
	if !ok || !ok2 {
		t.Fatalf("repair %q has no lxd sql global query", repair)
	}
	b.LXDSQL(t, q)
	r = addrCheck(t, b, "--network", net)
	if _, _, ok := r.addrFinding("198.18.70.8", "forward-has-location"); ok || r.code != 0 {
		t.Errorf("after the hint's query: exit %d, findings %v", r.code, r.categories())
	}
}

// explain lists the ACLs around a forward's target: the network's LXD ACL
// (security.acls, with its rules), the target NIC's security.acls, and the
// OVN ACLs on the logical switch port holding the target address (here a
// port added by hand to the switch and to LXD's port group of the ACL, as
// no instance runs on the single bed).
func TestAddressExplainACLs(t *testing.T) {
	b := Open(t)
	routeSlate(t, b)
	t.Cleanup(func() { routeSlate(t, b) })
	net := b.Get(t, "TB_NETWORK")
	prefix := b.Prefix(t)
	const acl, port, target = "addrweb", "addrtestport", "10.10.10.5"
	b.Lxc(t, "network", "acl", "create", acl)
	b.Lxc(t, "network", "acl", "rule", "add", acl, "ingress", "action=allow", "protocol=tcp", "destination_port=80")
	b.Lxc(t, "network", "set", net, "security.acls="+acl)
	t.Cleanup(func() {
		b.NBCtl(t, "--if-exists", "lsp-del", port)
		b.Lxc(t, "network", "unset", net, "security.acls")
		b.Lxc(t, "network", "acl", "delete", acl)
	})
	createForwards(t, b, net, "198.18.70.20") // tcp 80 → 10.10.10.5
	b.NBCtl(t, "lsp-add", prefix+"-ls-int", port, "--", "lsp-set-addresses", port, "00:16:3e:00:00:05 "+target)
	pgs := b.NBCtl(t, "--bare", "--columns=name", "find", "Port_Group", "acls!=[]")
	var pg string
	for _, name := range strings.Fields(pgs) {
		// lxd_acl<ID> / incus_acl<ID>; not the per-network groups.
		if strings.HasPrefix(name, b.Stack()+"_acl") && !strings.Contains(name, "_net") {
			pg = name
		}
	}
	if pg == "" {
		t.Fatalf("LXD created no ACL port group (port groups with ACLs: %q)", pgs)
	}
	uuid := strings.TrimSpace(b.NBCtl(t, "--bare", "--columns=_uuid", "find", "Logical_Switch_Port", "name="+port))
	b.NBCtl(t, "add", "Port_Group", pg, "ports", uuid)

	cmd := exec.Command(Binary(t), "explain", net, "198.18.70.20", "--no-daemon", "--format", "json")
	cmd.Env = b.OperatorEnv()
	out, _ := cmd.Output()
	var x struct {
		ACLs *struct {
			NetworkACLs []string `json:"network_acls"`
			Targets     []struct {
				Address  string `json:"address"`
				OVNPorts []struct {
					Name   string `json:"name"`
					Switch string `json:"switch"`
					ACLs   []struct {
						On, Direction, Match, Action string
						Priority                     int
					} `json:"acls"`
				} `json:"ovn_ports"`
			} `json:"targets"`
			LXDACLs []struct {
				Name    string `json:"name"`
				Ingress []struct {
					Action          string `json:"action"`
					DestinationPort string `json:"destination_port"`
				} `json:"ingress"`
			} `json:"lxd_acls"`
			Errors []string `json:"errors"`
		} `json:"acls"`
	}
	if err := json.Unmarshal(out, &x); err != nil || x.ACLs == nil {
		t.Fatalf("explain: %v: %s", err, out)
	}
	a := x.ACLs
	if !slices.Equal(a.NetworkACLs, []string{acl}) || len(a.Errors) != 0 {
		t.Errorf("network_acls %v, errors %v", a.NetworkACLs, a.Errors)
	}
	if len(a.LXDACLs) != 1 || a.LXDACLs[0].Name != acl || len(a.LXDACLs[0].Ingress) != 1 || a.LXDACLs[0].Ingress[0].DestinationPort != "80" {
		t.Errorf("lxd_acls %+v", a.LXDACLs)
	}
	if len(a.Targets) != 1 || a.Targets[0].Address != target || len(a.Targets[0].OVNPorts) != 1 {
		t.Fatalf("targets %+v", a.Targets)
	}
	p := a.Targets[0].OVNPorts[0]
	if p.Name != port || p.Switch != prefix+"-ls-int" {
		t.Errorf("port %s on switch %s", p.Name, p.Switch)
	}
	found := false
	for _, r := range p.ACLs {
		if r.On == "port_group "+pg && strings.Contains(r.Match, "tcp.dst == 80") && strings.HasPrefix(r.Action, "allow") {
			found = true
		}
	}
	if !found {
		t.Errorf("no allow tcp.dst == 80 ACL of port group %s in %+v", pg, p.ACLs)
	}
	t.Logf("port %s: %d ACLs (port group %s, switch %s)", p.Name, len(p.ACLs), pg, p.Switch)

	// The table shows the section.
	cmd = exec.Command(Binary(t), "explain", net, "198.18.70.20", "--no-daemon", "--format", "table")
	cmd.Env = b.OperatorEnv()
	out, _ = cmd.Output()
	for _, want := range []string{"ACLs around the targets", "network security.acls: " + acl, "OVN port " + port, "LXD ACL " + acl + ": 1 ingress"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("explain table lacks %q:\n%s", want, out)
		}
	}

	// A drop rule for the forward's port (issue 15): explain names it, and
	// the OVN ACL LXD makes of it, as what blocks the forward.
	verdicts := func() []string {
		cmd := exec.Command(Binary(t), "explain", net, "198.18.70.20", "--no-daemon", "--format", "json")
		cmd.Env = b.OperatorEnv()
		out, _ := cmd.Output()
		var v struct {
			ACLs *struct {
				Verdicts []string `json:"verdicts"`
			} `json:"acls"`
		}
		if err := json.Unmarshal(out, &v); err != nil || v.ACLs == nil {
			t.Fatalf("explain: %v: %s", err, out)
		}
		return v.ACLs.Verdicts
	}
	for _, v := range verdicts() {
		if strings.HasPrefix(v, "blocked: LXD ACL") || strings.Contains(v, "default ingress action") {
			t.Errorf("allowed forward judged blocked: %s", v)
		}
	}
	b.Lxc(t, "network", "acl", "rule", "add", acl, "ingress", "action=drop", "protocol=tcp", "destination_port=80")
	var lxdBlock, ovnBlock bool
	Eventually(t, 10*time.Second, 200*time.Millisecond, "explain names the drop rule", func() string {
		vs := verdicts()
		lxdBlock, ovnBlock = false, false
		for _, v := range vs {
			lxdBlock = lxdBlock || strings.HasPrefix(v, "blocked: LXD ACL "+acl+" ingress rule 2 (action=drop protocol=tcp destination_port=80) drops tcp/80 to "+target)
			ovnBlock = ovnBlock || (strings.HasPrefix(v, "blocked: OVN ACL on port_group "+pg) && strings.Contains(v, "tcp.dst == 80"))
		}
		if !lxdBlock || !ovnBlock {
			return fmt.Sprintf("verdicts %q", vs)
		}
		return ""
	})

}
