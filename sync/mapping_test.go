package sync

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestIndexNB(t *testing.T) {
	fx := newFixture("lxd", "5.0.2").network("default", "ovn1", 2)
	fx.lb("c", "dup", "tcp", nil, "lr-2").lb("a", "dup", "tcp", nil).lb("b", "dup", "tcp", nil, "ls-int-2", "lr-2").
		lb("x", "single", "udp", nil, "ls-ext-2", "ls-int-2")
	fx.nb.Routers = append(fx.nb.Routers, NBRouter{UUID: "lr-0", Name: "other", LoadBalancers: []string{"b"}})
	fx.nb.Routers = append(fx.nb.Routers, NBRouter{UUID: "lr-9", Name: "other"})
	idx := IndexNB(fx.nb)

	var dup []string
	for _, lb := range idx.LBsByName["dup"] {
		dup = append(dup, lb.UUID)
	}
	if !reflect.DeepEqual(dup, []string{"a", "b", "c"}) {
		t.Errorf("dup rows %v", dup)
	}
	if idx.LBByUUID["x"].Name != "single" || len(idx.LBsByName["single"]) != 1 {
		t.Error("single row not indexed")
	}
	if got := idx.LBRouters["b"]; !reflect.DeepEqual(got, []string{"lr-0", "lr-2"}) {
		t.Errorf("routers of b: %v", got)
	}
	if got := idx.LBSwitches["x"]; !reflect.DeepEqual(got, []string{"ls-ext-2", "ls-int-2"}) {
		t.Errorf("switches of x: %v", got)
	}
	if got := idx.LBRouters["a"]; got != nil {
		t.Errorf("routers of a: %v", got)
	}
	if idx.RouterByName["other"].UUID != "lr-0" || idx.RouterNames["other"] != 2 {
		t.Errorf("duplicate router names: %v %d", idx.RouterByName["other"].UUID, idx.RouterNames["other"])
	}
	if idx.PortByName["lxd-net2-lr-lrp-ext"].UUID != "lrp-ext-2" || idx.SwitchByUUID["ls-int-2"].Name != "lxd-net2-ls-int" {
		t.Error("ports or switches not indexed")
	}
}

func TestMapNetworks(t *testing.T) {
	lxdRules := Rules{Prefix: "lxd-net", AttachSwitch: true}
	ref := NetworkRef{Project: "default", Name: "ovn1"}

	t.Run("maps by addresses", func(t *testing.T) {
		fx := newFixture("lxd", "5.0.2").network("default", "ovn1", 2).network("p", "ovn7", 7)
		// A decoy: same uplink address on a router whose int port differs.
		fx.ovnNetwork(3)
		fx.nb.RouterPorts[len(fx.nb.RouterPorts)-2].Networks = []string{"203.0.113.2/24"}
		got := MapNetworks(lxdRules, fx.lxd.Networks, IndexNB(fx.nb))
		m := got[ref]
		want := Mapping{Network: ref, Prefix: "lxd-net2", RouterUUID: "lr-2", RouterName: "lxd-net2-lr",
			IntSwitchUUID: "ls-int-2", IntSwitchName: "lxd-net2-ls-int", ExtPort: "lxd-net2-lr-lrp-ext", IntPort: "lxd-net2-lr-lrp-int",
			Subnets: []netip.Prefix{
				netip.MustParsePrefix("10.2.0.0/24"), netip.MustParsePrefix("203.0.113.0/24"),
				netip.MustParsePrefix("2001:db8:ff::/64"), netip.MustParsePrefix("fd42:2::/64")}}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("got  %+v\nwant %+v", m, want)
		}
		if got[NetworkRef{Project: "p", Name: "ovn7"}].Prefix != "lxd-net7" {
			t.Errorf("ovn7: %+v", got[NetworkRef{Project: "p", Name: "ovn7"}])
		}
	})

	t.Run("stale ipv6 volatile address still maps", func(t *testing.T) {
		fx := newFixture("lxd", "5.0.2").network("default", "ovn1", 2)
		fx.lxd.Networks[0].Config["volatile.network.ipv6.address"] = "2001:db8:ff::99"
		if m := MapNetworks(lxdRules, fx.lxd.Networks, IndexNB(fx.nb))[ref]; m.Prefix != "lxd-net2" {
			t.Errorf("got %+v", m)
		}
	})

	t.Run("volatile address with prefix length, ipv4 only", func(t *testing.T) {
		fx := newFixture("lxd", "5.0.2").network("default", "ovn1", 2)
		cfg := fx.lxd.Networks[0].Config
		cfg["volatile.network.ipv4.address"] = "203.0.113.2/24"
		delete(cfg, "volatile.network.ipv6.address")
		cfg["ipv6.address"] = "none"
		if m := MapNetworks(lxdRules, fx.lxd.Networks, IndexNB(fx.nb))[ref]; m.Prefix != "lxd-net2" {
			t.Errorf("got %+v", m)
		}
	})

	t.Run("incus prefix", func(t *testing.T) {
		fx := newFixture("incus", "6.0.2").network("default", "ovn1", 2)
		m := MapNetworks(Rules{Prefix: "incus-net", AttachSwitch: true}, fx.lxd.Networks, IndexNB(fx.nb))[ref]
		if m.Prefix != "incus-net2" || m.RouterName != "incus-net2-lr" {
			t.Errorf("got %+v", m)
		}
	})

	errs := []struct {
		name  string
		setup func(fx *fixture)
		err   string
	}{
		{"no candidate", func(fx *fixture) {
			fx.lxd.Networks[0].Config["ipv4.address"] = "10.99.0.1/24"
			fx.lxd.Networks[0].Config["ipv6.address"] = "fd42:99::1/64"
		},
			"no OVN prefix found: looked for lxd-net<N>-lr-lrp-ext carrying 203.0.113.2 or 2001:db8:ff::2 with lxd-net<N>-lr-lrp-int carrying 10.99.0.1 or fd42:99::1"},
		{"ambiguous", func(fx *fixture) {
			fx.ovnNetwork(5)
			n := len(fx.nb.RouterPorts)
			fx.nb.RouterPorts[n-2].Networks = fx.nb.RouterPorts[0].Networks
			fx.nb.RouterPorts[n-1].Networks = fx.nb.RouterPorts[1].Networks
		}, "ambiguous OVN prefix: lxd-net2, lxd-net5 all match"},
		{"no volatile address", func(fx *fixture) {
			delete(fx.lxd.Networks[0].Config, "volatile.network.ipv4.address")
			delete(fx.lxd.Networks[0].Config, "volatile.network.ipv6.address")
		}, "no volatile.network.ipv4.address"},
		{"unparseable address", func(fx *fixture) { fx.lxd.Networks[0].Config["ipv4.address"] = "auto" }, `cannot parse ipv4.address "auto"`},
		{"router missing", func(fx *fixture) { fx.nb.Routers = nil }, "Logical_Router lxd-net2-lr is missing"},
		{"switch missing", func(fx *fixture) { fx.nb.Switches = fx.nb.Switches[1:] }, "Logical_Switch lxd-net2-ls-int is missing"},
		{"router name twice", func(fx *fixture) { fx.nb.Routers = append(fx.nb.Routers, NBRouter{UUID: "lr-x", Name: "lxd-net2-lr"}) },
			"2 Logical_Router rows are named lxd-net2-lr"},
		{"two networks, one prefix", func(fx *fixture) {
			fx.lxd.Networks = append(fx.lxd.Networks, Network{Project: "other", Name: "ovn1", Config: fx.lxd.Networks[0].Config})
		}, "prefix lxd-net2 matches several LXD networks (default/ovn1, other/ovn1)"},
		{"prefix not of the family shape", func(fx *fixture) {
			for i := range fx.nb.RouterPorts {
				fx.nb.RouterPorts[i].Name = strings.Replace(fx.nb.RouterPorts[i].Name, "lxd-net2", "lxd-netx2", 1)
			}
		}, "no OVN prefix found"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture("lxd", "5.0.2").network("default", "ovn1", 2)
			tt.setup(fx)
			m := MapNetworks(lxdRules, fx.lxd.Networks, IndexNB(fx.nb))[ref]
			if m.OK() || !strings.Contains(m.Err, tt.err) {
				t.Errorf("got %+v, want error containing %q", m, tt.err)
			}
			if m.Prefix != "" || m.Network != ref {
				t.Errorf("failed mapping carries %q / %v", m.Prefix, m.Network)
			}
		})
	}
}

func TestParseLBName(t *testing.T) {
	tests := []struct {
		name, prefix, addr string
		proto              int
		ok                 bool
	}{
		{"lxd-net2-lb-198.51.100.10-tcp", "lxd-net2", "198.51.100.10", 0, true},
		{"lxd-net12-lb-2001:db8::1-udp", "lxd-net12", "2001:db8::1", 1, true},
		{"lxd-net2-lb-2001:db8:0::1-udp", "", "", 0, false}, // not canonical
		{"lxd-net2-lb-::ffff:1.2.3.4-udp", "", "", 0, false},
		{"lxd-net2-lb-198.51.100.10-sctp", "", "", 0, false},
		{"lxd-net-lb-198.51.100.10-tcp", "", "", 0, false},
		{"lxd-net2-lr", "", "", 0, false},
		{"incus-net2-lb-198.51.100.10-tcp", "", "", 0, false},
		{"pf-floatingip-198.51.100.10-tcp", "", "", 0, false},
		{"lxd-net2-lb-nope-tcp", "", "", 0, false},
	}
	for _, tt := range tests {
		prefix, addr, proto, ok := ParseLBName("lxd-net", tt.name)
		if prefix != tt.prefix || addr != tt.addr || proto != tt.proto || ok != tt.ok {
			t.Errorf("ParseLBName(%q) = %q %q %d %v", tt.name, prefix, addr, proto, ok)
		}
	}
}
