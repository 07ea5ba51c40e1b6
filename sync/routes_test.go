package sync

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// routeWorld is network default/ovn1 (ID 2, gateway cr-lxd-net2-lr-lrp-ext)
// and default/ovn3 (ID 3) on uplink UPLINK, with the given forwards planned
// under mode, and SB claims by gateway port.
func routeWorld(t *testing.T, mode string, claims map[string]string, fwds ...Forward) (Result, RouteInput) {
	t.Helper()
	fx := newFixture("lxd", "5.0.2").network("default", "ovn1", 2).network("default", "ovn3", 3)
	for _, f := range fwds {
		fx.forward(f)
	}
	res := mustPlan(t, fx.lxd, fx.nb, Options{ARPResponder: mode, DeletionBudget: -1})
	in := RouteInput{Desired: res.Desired, Mappings: res.Mappings, Networks: fx.lxd.Networks}
	for port, ch := range claims {
		in.SB.PortBindings = append(in.SB.PortBindings, SBPortBinding{LogicalPort: port, Type: "chassisredirect", Chassis: ch})
	}
	// A patch port of the same network must not count as a claim.
	in.SB.PortBindings = append(in.SB.PortBindings, SBPortBinding{LogicalPort: "lxd-net3-ls-ext-lsp-router", Type: "patch"})
	return res, in
}

func fwd(network, listen string) Forward {
	return Forward{Project: "default", Network: network, ListenAddress: listen,
		Ports: []ForwardPort{{Protocol: "tcp", ListenPort: "80", TargetAddress: targetFor(network, listen)}}}
}

func targetFor(network, listen string) string {
	id := map[string]int{"ovn1": 2, "ovn3": 3}[network]
	if strings.Contains(listen, ":") {
		return fmt.Sprintf("fd42:%d::5", id)
	}
	return fmt.Sprintf("10.%d.0.5", id)
}

func prefixes(rs []Route) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Prefix.String() + " via " + r.NextHop.String()
	}
	return out
}

func TestRoutesFollowTheClaim(t *testing.T) {
	fwds := []Forward{fwd("ovn1", "198.51.100.10"), fwd("ovn1", "198.51.100.9"), fwd("ovn1", "2001:db8:1::10"), fwd("ovn3", "198.51.100.30")}
	tests := []struct {
		name     string
		policy   RoutePolicy
		claims   map[string]string
		want     []string
		announce map[string]bool // network → Announced
	}{
		{
			name:   "holder of one gateway announces that network only, router next hop per family",
			policy: RoutePolicy{Chassis: "ch1"},
			claims: map[string]string{"cr-lxd-net2-lr-lrp-ext": "ch1", "cr-lxd-net3-lr-lrp-ext": "ch2"},
			want: []string{"198.51.100.9/32 via 203.0.113.2", "198.51.100.10/32 via 203.0.113.2",
				"2001:db8:1::10/128 via 2001:db8:ff::2"},
			announce: map[string]bool{"ovn1": true, "ovn3": false},
		},
		{
			name:     "another chassis announces the other network",
			policy:   RoutePolicy{Chassis: "ch2"},
			claims:   map[string]string{"cr-lxd-net2-lr-lrp-ext": "ch1", "cr-lxd-net3-lr-lrp-ext": "ch2"},
			want:     []string{"198.51.100.30/32 via 203.0.113.3"},
			announce: map[string]bool{"ovn1": false, "ovn3": true},
		},
		{
			name:   "unclaimed gateway: nothing",
			policy: RoutePolicy{Chassis: "ch1"},
			claims: map[string]string{"cr-lxd-net2-lr-lrp-ext": "", "cr-lxd-net3-lr-lrp-ext": "ch2"},
			want:   []string{},
		},
		{
			name:   "no Port_Binding at all: nothing",
			policy: RoutePolicy{Chassis: "ch1"},
			want:   []string{},
		},
		{
			name:   "next hop self leaves it to the speaker",
			policy: RoutePolicy{Chassis: "ch1", NextHop: NextHopSelf},
			claims: map[string]string{"cr-lxd-net2-lr-lrp-ext": "ch1", "cr-lxd-net3-lr-lrp-ext": "ch1"},
			want: []string{"198.51.100.9/32 via invalid IP", "198.51.100.10/32 via invalid IP",
				"198.51.100.30/32 via invalid IP", "2001:db8:1::10/128 via invalid IP"},
		},
		{
			name:   "network filter, bare name means the default project",
			policy: RoutePolicy{Chassis: "ch1", Networks: []string{"ovn3", "other/ovn1"}},
			claims: map[string]string{"cr-lxd-net2-lr-lrp-ext": "ch1", "cr-lxd-net3-lr-lrp-ext": "ch1"},
			want:   []string{"198.51.100.30/32 via 203.0.113.3"},
		},
		{
			name:   "network filter with project",
			policy: RoutePolicy{Chassis: "ch1", Networks: []string{"default/ovn1"}},
			claims: map[string]string{"cr-lxd-net2-lr-lrp-ext": "ch1", "cr-lxd-net3-lr-lrp-ext": "ch1"},
			want: []string{"198.51.100.9/32 via 203.0.113.2", "198.51.100.10/32 via 203.0.113.2",
				"2001:db8:1::10/128 via 2001:db8:ff::2"},
		},
		{
			name:   "uplink filter excludes everything on another uplink",
			policy: RoutePolicy{Chassis: "ch1", Uplinks: []string{"br9"}},
			claims: map[string]string{"cr-lxd-net2-lr-lrp-ext": "ch1", "cr-lxd-net3-lr-lrp-ext": "ch1"},
			want:   []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, in := routeWorld(t, ARPResponderAuto, tt.claims, fwds...)
			got, err := Routes(tt.policy, in)
			if err != nil {
				t.Fatal(err)
			}
			if p := prefixes(got.Routes); !slices.Equal(p, tt.want) {
				t.Fatalf("routes:\n got %q\nwant %q", p, tt.want)
			}
			for _, n := range got.Networks {
				if want, ok := tt.announce[n.Network.Name]; ok && n.Announced != want {
					t.Errorf("network %s announced=%v (%s), want %v", n.Network.Name, n.Announced, n.Reason, want)
				}
			}
			for _, r := range got.Routes {
				if r.Gateway == "" || r.Network.Name == "" {
					t.Errorf("route %s lacks its origin: %+v", r.Prefix, r)
				}
			}
		})
	}
}

func TestRoutesSettlingClaimNotAnnounced(t *testing.T) {
	claims := map[string]string{"cr-lxd-net2-lr-lrp-ext": "ch1", "cr-lxd-net3-lr-lrp-ext": "ch1"}
	_, in := routeWorld(t, ARPResponderAuto, claims, fwd("ovn1", "198.51.100.10"), fwd("ovn3", "198.51.100.30"))
	in.Settling = map[string]bool{"cr-lxd-net3-lr-lrp-ext": true}
	got, err := Routes(RoutePolicy{Chassis: "ch1"}, in)
	if err != nil {
		t.Fatal(err)
	}
	if p := prefixes(got.Routes); !slices.Equal(p, []string{"198.51.100.10/32 via 203.0.113.2"}) {
		t.Fatalf("routes %q", p)
	}
	for _, n := range got.Networks {
		if n.Network.Name == "ovn3" && (n.Announced || !strings.Contains(n.Reason, "moments ago")) {
			t.Errorf("settling network %+v", n)
		}
	}
}

func TestRoutesAttributesAndNoNextHop(t *testing.T) {
	_, in := routeWorld(t, ARPResponderAuto, map[string]string{"cr-lxd-net2-lr-lrp-ext": "ch1"},
		fwd("ovn1", "198.51.100.10"), fwd("ovn1", "2001:db8:1::10"))
	for i := range in.Networks {
		if in.Networks[i].Name == "ovn1" {
			delete(in.Networks[i].Config, "volatile.network.ipv6.address")
		}
	}
	med := uint32(50)
	got, err := Routes(RoutePolicy{Chassis: "ch1", Communities: []string{"65000:100", "no-export", "65000:1:2", "65000:100"}, MED: &med}, in)
	if err != nil {
		t.Fatal(err)
	}
	if p := prefixes(got.Routes); !slices.Equal(p, []string{"198.51.100.10/32 via 203.0.113.2"}) {
		t.Fatalf("routes %q", p)
	}
	r := got.Routes[0]
	var cs []string
	for _, c := range r.Communities {
		cs = append(cs, c.String())
	}
	if want := []string{"65000:100", "65535:65281", "65000:1:2"}; !slices.Equal(cs, want) {
		t.Errorf("communities %q, want %q", cs, want)
	}
	if r.MED == nil || *r.MED != 50 {
		t.Errorf("MED %v", r.MED)
	}
	med = 7 // the route holds its own copy
	if *r.MED != 50 {
		t.Errorf("route MED aliases the policy's")
	}
	if c := categories(got.Findings); !slices.Equal(c, []Category{CatRouteNoNextHop}) {
		t.Fatalf("findings %v", got.Findings)
	}
	if f := got.Findings[0]; !strings.Contains(f.Detail, "volatile.network.ipv6.address") || !strings.Contains(f.Detail, "2001:db8:1::10") {
		t.Errorf("finding detail %q", f.Detail)
	}
}

func TestRoutesLXDBGPAlsoAnnounces(t *testing.T) {
	_, in := routeWorld(t, ARPResponderAuto, map[string]string{"cr-lxd-net2-lr-lrp-ext": "ch2"},
		fwd("ovn1", "198.51.100.10"))
	in.Uplinks = map[string]map[string]string{"UPLINK": {
		"bgp.peers.tor1.address": "10.0.0.1", "bgp.peers.tor1.asn": "65000",
		"bgp.peers.tor2.address": "10.0.0.2", "bgp.peers.tor2.asn": "65000", "bgp.peers.tor2.password": "x",
		// LXD has no peer without both an address and an ASN.
		"bgp.peers.half.address": "10.0.0.3", "bgp.peers.other.asn": "65000",
		"ipv4.routes": "198.51.100.0/24",
	}}
	got, err := Routes(RoutePolicy{Chassis: "ch1"}, in)
	if err != nil {
		t.Fatal(err)
	}
	// Reported for the network with forwards (ovn1) even where this member
	// does not hold the gateway; not for ovn3, which has none.
	if c := categories(got.Findings); !slices.Equal(c, []Category{CatLXDBGPAlsoAnnounces}) {
		t.Fatalf("findings %+v", got.Findings)
	}
	f := got.Findings[0]
	if f.Key != (ForwardKey{Project: "default", Network: "ovn1"}) || !strings.Contains(f.Detail, "has bgp.peers.tor1, bgp.peers.tor2: ") ||
		!strings.Contains(f.Detail, "uplink UPLINK of network default/ovn1") || !strings.Contains(f.Detail, "cr-lxd-net2-lr-lrp-ext") ||
		!strings.HasPrefix(f.Repair, "none automatic: ") || !strings.Contains(f.Repair, "lxc network unset UPLINK bgp.peers.tor1.address") {
		t.Errorf("finding %+v", f)
	}

	for _, cfg := range []map[string]string{
		{"ipv4.routes": "198.51.100.0/24", "bgp.peers.old.address": "", "bgp.peers.old.asn": "65000"},
		{"bgp.peers.old.address": "10.0.0.1"},
		nil,
	} {
		in.Uplinks["UPLINK"] = cfg
		if got, _ = Routes(RoutePolicy{Chassis: "ch1"}, in); len(got.Findings) != 0 {
			t.Errorf("uplink %v without a complete BGP peer: findings %+v", cfg, got.Findings)
		}
	}
}

// RouteFindings judges every network in scope whoever holds its gateway,
// needs no chassis, and is what Routes reports for any chassis.
func TestRouteFindings(t *testing.T) {
	// ovn1: IPv4 and IPv6 forwards, no IPv6 uplink address; ovn3: IPv4 only.
	fwds := []Forward{fwd("ovn1", "198.51.100.10"), fwd("ovn1", "2001:db8:1::10"), fwd("ovn1", "2001:db8:1::11"), fwd("ovn3", "198.51.100.30")}
	claims := map[string]string{"cr-lxd-net2-lr-lrp-ext": "ch2", "cr-lxd-net3-lr-lrp-ext": ""}
	_, in := routeWorld(t, ARPResponderAuto, claims, fwds...)
	for i := range in.Networks {
		if in.Networks[i].Name == "ovn1" {
			in.Networks[i].Config["volatile.network.ipv6.address"] = "none"
		}
	}
	peers := map[string]string{"bgp.peers.tor.address": "192.0.2.1", "bgp.peers.tor.asn": "65000"}
	in.Uplinks = map[string]map[string]string{"UPLINK": peers}

	type fnd struct {
		network string
		cat     Category
	}
	summary := func(fs []Finding) []fnd {
		var out []fnd
		for _, f := range fs {
			if f.Key.ListenAddress != "" || f.Key.Project != "default" {
				t.Errorf("route finding not keyed by network: %+v", f.Key)
			}
			out = append(out, fnd{f.Key.Network, f.Category})
		}
		return out
	}
	tests := []struct {
		name   string
		policy RoutePolicy
		want   []fnd
	}{
		{"router next hop, no chassis", RoutePolicy{},
			[]fnd{{"ovn1", CatLXDBGPAlsoAnnounces}, {"ovn1", CatRouteNoNextHop}, {"ovn3", CatLXDBGPAlsoAnnounces}}},
		{"next hop self needs no router address", RoutePolicy{NextHop: NextHopSelf},
			[]fnd{{"ovn1", CatLXDBGPAlsoAnnounces}, {"ovn3", CatLXDBGPAlsoAnnounces}}},
		{"network filter", RoutePolicy{Networks: []string{"ovn3"}}, []fnd{{"ovn3", CatLXDBGPAlsoAnnounces}}},
		{"uplink filter", RoutePolicy{Uplinks: []string{"br9"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, err := RouteFindings(tt.policy, in)
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(fs); !slices.Equal(got, tt.want) {
				t.Fatalf("findings %v, want %v", got, tt.want)
			}
			// Routes reports the same findings on every member, holder or not.
			for _, ch := range []string{"ch1", "ch2"} {
				p := tt.policy
				p.Chassis = ch
				res, err := Routes(p, in)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.EqualFunc(res.Findings, fs, func(a, b Finding) bool { return a == b }) {
					t.Errorf("Routes on %s: findings %+v, RouteFindings %+v", ch, res.Findings, fs)
				}
			}
		})
	}

	fs, _ := RouteFindings(RoutePolicy{}, in)
	var nh Finding
	for _, f := range fs {
		if f.Category == CatRouteNoNextHop {
			nh = f
		}
	}
	if nh.Severity != SeverityError || !strings.Contains(nh.Detail, "network default/ovn1 has no volatile.network.ipv6.address") ||
		!strings.Contains(nh.Detail, "no member announces its 2 listen addresses of that family") || !strings.Contains(nh.Detail, "2001:db8:1::10, 2001:db8:1::11") ||
		!strings.Contains(nh.Repair, "--bgp-next-hop self") {
		t.Errorf("route-no-next-hop finding %+v", nh)
	}
	// The holder does not announce the addresses it has no next hop for.
	res, _ := Routes(RoutePolicy{Chassis: "ch2"}, in)
	if p := prefixes(res.Routes); !slices.Equal(p, []string{"198.51.100.10/32 via 203.0.113.2"}) {
		t.Errorf("routes %q", p)
	}

	// Nothing for unmapped networks or networks without planned forwards.
	in.Mappings = map[NetworkRef]Mapping{{Project: "default", Name: "ovn1"}: {Err: "ambiguous"}, {Project: "default", Name: "ovn3"}: in.Mappings[NetworkRef{Project: "default", Name: "ovn3"}]}
	in.Desired = nil
	if fs, _ := RouteFindings(RoutePolicy{}, in); len(fs) != 0 {
		t.Errorf("findings without planned forwards: %+v", fs)
	}
	// A bad shape is refused; a missing chassis is not.
	if _, err := RouteFindings(RoutePolicy{NextHop: "peer"}, in); err == nil {
		t.Error("next-hop mode peer accepted")
	}
}

func TestRoutesUnmappedAndBadInput(t *testing.T) {
	_, in := routeWorld(t, ARPResponderAuto, map[string]string{"cr-lxd-net2-lr-lrp-ext": "ch1"}, fwd("ovn1", "198.51.100.10"))
	in.Mappings = map[NetworkRef]Mapping{{Project: "default", Name: "ovn1"}: {Err: "ambiguous"}}
	got, err := Routes(RoutePolicy{Chassis: "ch1"}, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Routes) != 0 {
		t.Fatalf("unmapped network announced: %q", prefixes(got.Routes))
	}
	if n := got.Networks[0]; n.Announced || !strings.Contains(n.Reason, "ambiguous") {
		t.Errorf("network state %+v", n)
	}

	for _, p := range []RoutePolicy{{}, {Chassis: "ch1", NextHop: "peer"}, {Chassis: "ch1", Communities: []string{"70000:1"}}} {
		if _, err := Routes(p, in); err == nil {
			t.Errorf("policy %+v accepted", p)
		}
	}
}

func TestRoutesDeterministicAndDeduplicated(t *testing.T) {
	// The same listen address on two networks (possible on different
	// uplinks) is announced once, for the first network by name.
	claims := map[string]string{"cr-lxd-net2-lr-lrp-ext": "ch1", "cr-lxd-net3-lr-lrp-ext": "ch1"}
	_, in := routeWorld(t, ARPResponderAuto, claims, fwd("ovn3", "198.51.100.10"), fwd("ovn1", "198.51.100.10"))
	a, _ := Routes(RoutePolicy{Chassis: "ch1"}, in)
	slices.Reverse(in.Networks)
	b, _ := Routes(RoutePolicy{Chassis: "ch1"}, in)
	if pa, pb := prefixes(a.Routes), prefixes(b.Routes); !slices.Equal(pa, pb) || !slices.Equal(pa, []string{"198.51.100.10/32 via 203.0.113.2"}) {
		t.Fatalf("routes %q / %q", pa, pb)
	}
}

func TestRouteEqual(t *testing.T) {
	m1, m2 := uint32(1), uint32(1)
	a := Route{Prefix: netip.MustParsePrefix("198.51.100.1/32"), NextHop: netip.MustParseAddr("10.0.0.1"), MED: &m1}
	b := a
	b.MED = &m2
	if !a.Equal(b) {
		t.Error("equal MEDs by value differ")
	}
	b.Communities = []Community{{Value: 1}}
	if a.Equal(b) {
		t.Error("communities ignored")
	}
	b = a
	b.MED = nil
	if a.Equal(b) {
		t.Error("MED presence ignored")
	}
}

func TestParseCommunity(t *testing.T) {
	for in, want := range map[string]string{"65000:100": "65000:100", " 1:2 ": "1:2", "NO-EXPORT": "65535:65281",
		"4200000000:1:2": "4200000000:1:2", "graceful-shutdown": "65535:0"} {
		c, err := ParseCommunity(in)
		if err != nil || c.String() != want {
			t.Errorf("ParseCommunity(%q) = %v, %v; want %s", in, c, err, want)
		}
	}
	for _, in := range []string{"", "65536:1", "1", "a:b", "1:2:3:4", "-1:2"} {
		if _, err := ParseCommunity(in); err == nil {
			t.Errorf("ParseCommunity(%q) accepted", in)
		}
	}
}

func TestUnansweredVIPs(t *testing.T) {
	fwds := []Forward{fwd("ovn1", "198.51.100.10"), fwd("ovn1", "10.2.0.200"), fwd("ovn1", "2001:db8:1::10")}
	tests := []struct {
		mode    string
		uplinks map[string]map[string]string
		want    []string
	}{
		{ARPResponderOff, nil, []string{"198.51.100.10", "2001:db8:1::10"}},
		{ARPResponderAuto, nil, nil},
		{ARPResponderAll, nil, nil},
		{ARPResponderUnmanaged, nil, nil},
		{ARPResponderOff, map[string]map[string]string{"UPLINK": {"ovn.ingress_mode": "routed"}}, nil},
		{ARPResponderOff, map[string]map[string]string{"UPLINK": {"ovn.ingress_mode": "l2proxy"}}, []string{"198.51.100.10", "2001:db8:1::10"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q %v", tt.mode, tt.uplinks), func(t *testing.T) {
			res, in := routeWorld(t, tt.mode, nil, fwds...)
			fs := UnansweredVIPs(res, in.Networks, tt.uplinks)
			var got []string
			for _, f := range fs {
				if f.Category != CatVIPUnanswered || f.Severity != SeverityWarning {
					t.Errorf("finding %+v", f)
				}
				got = append(got, f.Key.ListenAddress)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("unanswered %q, want %q", got, tt.want)
			}
			if len(fs) > 0 && !strings.Contains(fs[0].Detail, "lxd-net2-lr") {
				t.Errorf("detail %q", fs[0].Detail)
			}
		})
	}
}
