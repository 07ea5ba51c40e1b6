package sync

import (
	"net/netip"
	"strings"
	"testing"
)

// addrBed is a bed like integration's: uplink br0 (routes 198.51.100.0/24,
// 10.10.10.0/24 and 2001:db8:1::/64; ovn.ranges 10.99.0.100-10.99.0.254),
// networks ovn0 (10.10.10.1/24, router 10.99.0.100) and ovn1 (project p1,
// 10.20.20.1/24, router 10.99.0.101) on it, and ovn9 on an uplink whose
// config is unknown.
func addrBed() AddressInput {
	return AddressInput{
		Networks: []Network{
			{Name: "ovn0", Config: map[string]string{"network": "br0", "ipv4.address": "10.10.10.1/24", "volatile.network.ipv4.address": "10.99.0.100"}},
			{Project: "p1", Name: "ovn1", Config: map[string]string{"network": "br0", "ipv4.address": "10.20.20.1/24", "ipv6.address": "fd42::1/64", "volatile.network.ipv4.address": "10.99.0.101"}},
			{Name: "ovn9", Config: map[string]string{"network": "up9", "ipv4.address": "10.30.30.1/24"}},
		},
		Uplinks: map[string]map[string]string{
			"br0": {"ipv4.routes": "198.51.100.0/24, 10.10.10.0/24", "ipv6.routes": "2001:db8:1::/64", "ipv4.ovn.ranges": "10.99.0.100-10.99.0.254"},
		},
	}
}

func afwd(project, network, listen string) Forward {
	return Forward{Project: project, Network: network, ListenAddress: listen}
}

func TestAddressFindings(t *testing.T) {
	type want struct {
		listen   string
		category Category
		severity Severity
		// detail and repair must contain these.
		detail, repair []string
	}
	for _, tc := range []struct {
		name string
		mod  func(*AddressInput)
		want []want
	}{
		{name: "inside the routes: nothing", mod: func(in *AddressInput) {
			in.Forwards = []Forward{afwd("", "ovn0", "198.51.100.7"), afwd("p1", "ovn1", "198.51.100.8"), afwd("", "ovn0", "2001:db8:1::7")}
			in.LoadBalancers = []ForwardKey{{Project: "p1", Network: "ovn1", ListenAddress: "198.51.100.9"}}
		}},
		{name: "outside the routes", mod: func(in *AddressInput) {
			in.Forwards = []Forward{afwd("", "ovn0", "203.0.113.5")}
		}, want: []want{{"203.0.113.5", CatListenOutsideRoutes, SeverityError,
			[]string{"uplink br0's ipv4.routes", "has ipv4.routes=198.51.100.0/24,10.10.10.0/24", "(and ipv6.routes=2001:db8:1::/64)", "default/ovn0"},
			[]string{"lxc network set br0 ipv4.routes=198.51.100.0/24,10.10.10.0/24,203.0.113.5/32", "lxc network forward delete ovn0 203.0.113.5"}}}},
		{name: "ipv6 outside the ipv6 routes", mod: func(in *AddressInput) {
			in.Forwards = []Forward{afwd("", "ovn0", "2001:db8:2::5")}
		}, want: []want{{"2001:db8:2::5", CatListenOutsideRoutes, SeverityError,
			[]string{"ipv6.routes=2001:db8:1::/64"}, []string{"ipv6.routes=2001:db8:1::/64,2001:db8:2::5/128"}}}},
		{name: "uplink without routes", mod: func(in *AddressInput) {
			in.Uplinks["br0"] = map[string]string{}
			in.Forwards = []Forward{afwd("", "ovn0", "198.51.100.7")}
		}, want: []want{{"198.51.100.7", CatListenOutsideRoutes, SeverityError,
			[]string{"has no ipv4.routes"}, []string{"ipv4.routes=198.51.100.7/32"}}}},
		{name: "uplink config unknown: routes and ovn.ranges not judged", mod: func(in *AddressInput) {
			in.Forwards = []Forward{afwd("", "ovn9", "203.0.113.5")}
		}},
		{name: "uplink config unknown for br0: not judged", mod: func(in *AddressInput) {
			delete(in.Uplinks, "br0")
			in.Forwards = []Forward{afwd("", "ovn0", "203.0.113.5"), afwd("", "ovn0", "10.99.0.150")}
		}},
		{name: "ovn.ranges are not routes", mod: func(in *AddressInput) {
			in.Forwards = []Forward{afwd("", "ovn0", "10.99.0.150")}
		}, want: []want{
			{"10.99.0.150", CatListenIsInstanceAddress, SeverityError, []string{"inside uplink br0's ipv4.ovn.ranges (10.99.0.100-10.99.0.254)"}, []string{"ovn0 10.99.0.150"}},
			{"10.99.0.150", CatListenOutsideRoutes, SeverityError, nil, nil},
		}},
		{name: "instance NIC address", mod: func(in *AddressInput) {
			in.Forwards = []Forward{afwd("", "ovn0", "10.10.10.50"), afwd("", "ovn0", "10.10.10.51")}
			in.Instances = []InstanceNIC{
				{Project: "default", Instance: "c1", Device: "eth0", Network: NetworkRef{Name: "ovn0"}, Key: "ipv4.address", Address: "10.10.10.50"},
				// Same address on another network: not this one's.
				{Project: "p1", Instance: "c2", Device: "eth0", Network: NetworkRef{Project: "p1", Name: "ovn1"}, Key: "ipv4.address", Address: "10.10.10.51"},
			}
		}, want: []want{{"10.10.10.50", CatListenIsInstanceAddress, SeverityError,
			[]string{"ipv4.address of NIC eth0 of instance c1 (project default)"}, []string{"lxc network forward delete ovn0 10.10.10.50"}}}},
		{name: "router's internal address", mod: func(in *AddressInput) {
			in.Forwards = []Forward{afwd("", "ovn0", "10.10.10.1"), afwd("", "ovn0", "10.10.10.2")}
		}, want: []want{{"10.10.10.1", CatListenIsInstanceAddress, SeverityError,
			[]string{"router's address on network default/ovn0 (ipv4.address=10.10.10.1/24)"}, nil}}},
		{name: "another network's router uplink address", mod: func(in *AddressInput) {
			in.Uplinks["br0"]["ipv4.routes"] += ",10.99.0.0/24"
			in.Forwards = []Forward{afwd("", "ovn0", "10.99.0.101")}
		}, want: []want{{"10.99.0.101", CatListenIsInstanceAddress, SeverityError,
			[]string{"router uplink address volatile.network.ipv4.address of network p1/ovn1"}, nil}}},
		{name: "own router uplink address: LXD allows it", mod: func(in *AddressInput) {
			in.Uplinks["br0"]["ipv4.routes"] += ",10.99.0.0/24"
			in.Forwards = []Forward{afwd("", "ovn0", "10.99.0.100")}
		}},
		{name: "two networks' forwards on one uplink", mod: func(in *AddressInput) {
			in.Forwards = []Forward{afwd("", "ovn0", "198.51.100.7"), afwd("p1", "ovn1", "198.51.100.7")}
		}, want: []want{
			{"198.51.100.7", CatListenOverlap, SeverityWarning, []string{"uplink br0 is also the listen address of forward 198.51.100.7 of network p1/ovn1"}, []string{"lxc network forward delete ovn0 198.51.100.7"}},
			{"198.51.100.7", CatListenOverlap, SeverityWarning, []string{"forward 198.51.100.7 of network default/ovn0"}, nil},
		}},
		{name: "a forward and a load balancer", mod: func(in *AddressInput) {
			in.Forwards = []Forward{afwd("", "ovn0", "198.51.100.7")}
			in.LoadBalancers = []ForwardKey{{Project: "p1", Network: "ovn1", ListenAddress: "198.51.100.7"}}
		}, want: []want{{"198.51.100.7", CatListenOverlap, SeverityWarning, []string{"load balancer 198.51.100.7 of network p1/ovn1"}, nil}}},
		{name: "different uplinks share an address: fine", mod: func(in *AddressInput) {
			in.Forwards = []Forward{afwd("", "ovn0", "198.51.100.7"), afwd("", "ovn9", "198.51.100.7")}
		}},
		{name: "forward with a location", mod: func(in *AddressInput) {
			f := afwd("p1", "ovn1", "198.51.100.7")
			f.Location = "m2"
			in.Forwards = []Forward{f}
		}, want: []want{{"198.51.100.7", CatForwardHasLocation, SeverityWarning,
			[]string{`location "m2"`, "p1/ovn1"}, []string{"listen_address='198.51.100.7'", "networks.name='ovn1' AND projects.name='p1'"}}}},
		{name: "unparsable listen address: left to bad-forward", mod: func(in *AddressInput) {
			in.Forwards = []Forward{afwd("", "ovn0", "nonsense")}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := addrBed()
			tc.mod(&in)
			got := AddressFindings(in)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d findings, want %d: %+v", len(got), len(tc.want), got)
			}
			used := make([]bool, len(got))
			for _, w := range tc.want {
				var f *Finding
				for j := range got {
					if !used[j] && got[j].Key.ListenAddress == w.listen && got[j].Category == w.category {
						used[j], f = true, &got[j]
						break
					}
				}
				if f == nil {
					t.Fatalf("no %s finding for %s in %+v", w.category, w.listen, got)
				}
				if f.Severity != w.severity {
					t.Errorf("%s: severity %s, want %s", w.category, f.Severity, w.severity)
				}
				for _, s := range w.detail {
					if !strings.Contains(f.Detail, s) {
						t.Errorf("%s detail %q lacks %q", w.category, f.Detail, s)
					}
				}
				for _, s := range w.repair {
					if !strings.Contains(f.Repair, s) {
						t.Errorf("%s repair %q lacks %q", w.category, f.Repair, s)
					}
				}
				if !strings.HasPrefix(f.Repair, "none automatic") {
					t.Errorf("%s repair %q: every address finding is report-only", w.category, f.Repair)
				}
			}
		})
	}
}

func TestInRanges(t *testing.T) {
	for _, tc := range []struct {
		v    string
		addr string
		want bool
	}{
		{"10.0.0.100-10.0.0.200", "10.0.0.100", true},
		{"10.0.0.100-10.0.0.200", "10.0.0.200", true},
		{"10.0.0.100-10.0.0.200", "10.0.0.201", false},
		{"10.0.0.5, 10.0.0.100-10.0.0.200", "10.0.0.5", true},
		{"fd00::10-fd00::20", "fd00::15", true},
		{"fd00::10-fd00::20", "10.0.0.15", false},
		{"", "10.0.0.1", false},
		{"bogus", "10.0.0.1", false},
	} {
		_, got := inRanges(tc.v, mustAddr(t, tc.addr))
		if got != tc.want {
			t.Errorf("inRanges(%q, %s) = %v, want %v", tc.v, tc.addr, got, tc.want)
		}
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, ok := parseHostAddr(s)
	if !ok {
		t.Fatalf("bad address %q", s)
	}
	return a
}
