package sync

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// FuzzParseLBName: whatever a name is, a name ParseLBName accepts renders
// back to itself through LBName, with a prefix of the family and digits
// only and a canonical plain address; and every name the planner could
// give a row (any prefix number, any address as the planner canonicalizes
// it, either protocol) parses back to its parts.
func FuzzParseLBName(f *testing.F) {
	f.Add("lxd-net", "lxd-net2-lb-198.51.100.10-tcp", uint32(2), []byte{198, 51, 100, 10}, false)
	f.Fuzz(func(t *testing.T, family, name string, id uint32, ip []byte, udp bool) {
		for _, fam := range []string{family, "lxd-net", "incus-net"} {
			prefix, addr, pi, ok := ParseLBName(fam, name)
			if !ok {
				if prefix != "" || addr != "" || pi != 0 {
					t.Fatalf("ParseLBName(%q, %q) rejects but returns %q %q %d", fam, name, prefix, addr, pi)
				}
				continue
			}
			if pi != 0 && pi != 1 {
				t.Fatalf("protocol index %d", pi)
			}
			if got := LBName(prefix, addr, protocols[pi]); got != name {
				t.Fatalf("ParseLBName(%q, %q) = %q %q %d; LBName renders %q", fam, name, prefix, addr, pi, got)
			}
			digits, ok := strings.CutPrefix(prefix, fam)
			if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" {
				t.Fatalf("%q: prefix %q is not %q+digits", name, prefix, fam)
			}
			a, err := netip.ParseAddr(addr)
			if err != nil || a.String() != addr || a.Zone() != "" || a.Is4In6() {
				t.Fatalf("%q: address %q is not canonical", name, addr)
			}
		}

		// The other way: rows the planner names.
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			return
		}
		a = a.Unmap() // DesiredRows' listen address (parseHostAddr)
		fam := "lxd-net"
		if udp {
			fam = "incus-net"
		}
		prefix := fam + uitoa(id)
		for pi, proto := range protocols {
			n := LBName(prefix, a.String(), proto)
			gp, ga, gpi, ok := ParseLBName(fam, n)
			if !ok || gp != prefix || ga != a.String() || gpi != pi {
				t.Fatalf("ParseLBName(%q) = %q %q %d %v", n, gp, ga, gpi, ok)
			}
			// Another family never claims it.
			other := "incus-net"
			if fam == other {
				other = "lxd-net"
			}
			if _, _, _, ok := ParseLBName(other, n); ok {
				t.Fatalf("ParseLBName(%q, %q) accepts it", other, n)
			}
		}
	})
}

func uitoa(n uint32) string {
	if n == 0 {
		return "0"
	}
	var b [10]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// fuzzServers are the server kinds and versions FuzzPlanForward plans for
// (every Rules variant), with the ARP responder modes.
var fuzzServers = []ServerInfo{
	{Kind: "lxd", Version: "5.0.2"}, {Kind: "lxd", Version: "5.21.2"}, {Kind: "lxd", Version: "6.1"},
	{Kind: "incus", Version: "6.0.1"}, {Kind: "incus", Version: "6.5"}, {Kind: "incus", Version: "7.3"},
}

var fuzzARPModes = []string{ARPResponderUnmanaged, ARPResponderOff, ARPResponderAll, ARPResponderAuto}

// FuzzPlanForward plans one fuzzed LXD forward (listen address, default
// target, two port specs: protocols, listen ports and ranges, target
// addresses and ports) on a mapped network, next to NB rows the plan must
// leave alone: rows of another family, of an unmapped prefix, of a prefix
// that only starts like the network's, of non-canonical names, and one
// row of a fuzzed name. Properties:
//   - DesiredRows either fails (then the plan has a bad-forward finding
//     for the forward and no change for it) or gives rows whose names parse
//     back (ParseLBName) to the network's prefix, the canonical listen
//     address and the row's protocol, and whose VIP keys are all
//     listen:port with a port of the forward's listen ports of that
//     protocol, or the bare listen address for a default target;
//   - the plan's desired rows are DesiredRows' rows;
//   - no op of the plan names or touches a row whose name does not parse
//     to the mapped network's prefix (foreign rows never change).
func FuzzPlanForward(f *testing.F) {
	f.Add("198.51.100.10", "", "tcp", "80,443", "10.2.0.5", "", "udp", "5000-5002", "10.2.0.6", "6000-6002", uint8(0), "lxd-net2-lb-198.51.100.10-udp")
	f.Fuzz(func(t *testing.T, listen, defTarget, proto1, lp1, ta1, tp1, proto2, lp2, ta2, tp2 string, variant uint8, existing string) {
		server := fuzzServers[int(variant)%len(fuzzServers)]
		opts := Options{ARPResponder: fuzzARPModes[int(variant/8)%len(fuzzARPModes)], DeletionBudget: -1}
		fx := newFixture(server.Kind, server.Version).network("default", "ovn1", 2)
		fx.ovnNetwork(3) // an NB network no LXD network maps to
		fam := fx.family()
		otherFam := "incus-net"
		if fam == otherFam {
			otherFam = "lxd-net"
		}
		fwd := Forward{Project: "default", Network: "ovn1", ListenAddress: listen, DefaultTarget: defTarget}
		if proto1 != "" || lp1 != "" {
			fwd.Ports = append(fwd.Ports, ForwardPort{Protocol: proto1, ListenPort: lp1, TargetAddress: ta1, TargetPort: tp1})
		}
		if proto2 != "" || lp2 != "" {
			fwd.Ports = append(fwd.Ports, ForwardPort{Protocol: proto2, ListenPort: lp2, TargetAddress: ta2, TargetPort: tp2})
		}
		fx.forward(fwd)

		canon := strings.TrimSpace(listen)
		if a, ok := parseHostAddr(listen); ok {
			canon = a.String()
		}
		// Rows the plan must never touch, all attached to the network's router.
		foreign := map[string]string{
			"foreign-family":  otherFam + "2-lb-" + canon + "-tcp",
			"foreign-orphan":  fam + "3-lb-" + canon + "-tcp",
			"foreign-prefix":  fam + "20-lb-" + canon + "-udp",
			"foreign-raw":     fam + "2-lb-" + listen + "-tcp",
			"foreign-sctp":    fam + "2-lb-" + canon + "-sctp",
			"foreign-lxd-lb":  fam + "2-lb-" + canon,
			"foreign-fuzzed":  existing,
			"foreign-network": "lxd-net2-lr-lrp-ext",
		}
		vips := map[string]string{canon + ":1": "10.2.0.9:1"}
		for uuid, name := range foreign {
			fx.lb(uuid, name, "tcp", vips, "lr-2", "ls-int-2")
		}
		// A row of the forward's own name with other VIPs, to update.
		own := fam + "2-lb-" + canon + "-tcp"
		fx.lb("own", own, "tcp", vips, "lr-2")

		r, err := RulesFor(server)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Plan(fx.lxd, fx.nb, opts)
		if err != nil {
			t.Fatalf("Plan: %v", err)
		}
		m := res.Mappings[NetworkRef{Project: "default", Name: "ovn1"}]
		if !m.OK() || m.Prefix != fam+"2" {
			t.Fatalf("mapping %+v", m)
		}
		key := canonicalKey(fwd.Key())
		d, derr := DesiredRows(r, m, fwd, opts)
		if derr != nil {
			if !slices.ContainsFunc(res.Findings, func(f Finding) bool { return f.Key == key && f.Category == CatBadForward }) {
				t.Fatalf("DesiredRows: %v; no bad-forward finding in %+v", derr, res.Findings)
			}
			if _, ok := res.Desired[key]; ok {
				t.Fatalf("bad forward %v planned", key)
			}
		} else {
			checkDesired(t, fwd, m, d)
			if got, ok := res.Desired[key]; !ok || !desiredEqual(got, d) {
				t.Fatalf("plan's desired rows %+v, DesiredRows %+v", got, d)
			}
		}

		// Which row names the plan may touch: the mapped prefix's.
		touchable := map[string]bool{}
		for _, lb := range fx.nb.LoadBalancers {
			if p, _, _, ok := ParseLBName(fam, lb.Name); ok && p == m.Prefix {
				touchable[lb.UUID] = true
			}
		}
		for _, c := range res.Changes {
			if c.Key.Project != "default" || c.Key.Network != "ovn1" || c.Prefix != m.Prefix {
				t.Fatalf("change of %+v (prefix %s)", c.Key, c.Prefix)
			}
			if derr != nil && c.Key == key {
				t.Fatalf("bad forward %v has a change: %+v", key, c)
			}
			for _, op := range c.Ops {
				if p, _, _, ok := ParseLBName(fam, op.Name); !ok || p != m.Prefix {
					t.Fatalf("op %s on foreign name %q", op.Kind, op.Name)
				}
				if op.UUID != "" && !touchable[op.UUID] {
					t.Fatalf("op %s %s touches foreign row %s", op.Kind, op.Name, op.UUID)
				}
			}
		}
	})
}

// checkDesired checks DesiredRows' rows for fwd (see FuzzPlanForward).
func checkDesired(t *testing.T, fwd Forward, m Mapping, d DesiredForward) {
	t.Helper()
	listen, ok := parseHostAddr(fwd.ListenAddress)
	if !ok {
		t.Fatalf("listen %q accepted", fwd.ListenAddress)
	}
	if d.Key.ListenAddress != listen.String() {
		t.Fatalf("key %q, want canonical %q", d.Key.ListenAddress, listen)
	}
	allowed := [2]map[uint16]bool{{}, {}}
	for _, p := range fwd.Ports {
		ports, err := parsePortList(p.ListenPort)
		if err != nil {
			t.Fatalf("port %q accepted: %v", p.ListenPort, err)
		}
		pi := slices.Index(protocols[:], p.Protocol)
		for _, lp := range ports {
			allowed[pi][lp] = true
		}
	}
	for _, lb := range d.LBs {
		prefix, addr, pi, ok := ParseLBName(strings.TrimRight(m.Prefix, "0123456789"), lb.Name)
		if !ok || prefix != m.Prefix || addr != listen.String() || protocols[pi] != lb.Protocol {
			t.Fatalf("row %q (%s) parses to %q %q %d %v", lb.Name, lb.Protocol, prefix, addr, pi, ok)
		}
		if len(lb.VIPs) == 0 {
			t.Fatalf("row %q without VIPs", lb.Name)
		}
		for k, v := range lb.VIPs {
			if k == listen.String() {
				if strings.TrimSpace(fwd.DefaultTarget) == "" {
					t.Fatalf("port-less VIP %q without a default target", k)
				}
				continue
			}
			ap, err := netip.ParseAddrPort(k)
			if err != nil || ap.Addr() != listen || !allowed[pi][ap.Port()] || ap.String() != k {
				t.Fatalf("row %q: VIP %q is not listen:port of its %s ports", lb.Name, k, lb.Protocol)
			}
			if b, err := netip.ParseAddrPort(v); err != nil || b.Addr().Is4() != listen.Is4() || b.Port() == 0 {
				t.Fatalf("row %q: backend %q", lb.Name, v)
			}
		}
	}
}

func desiredEqual(a, b DesiredForward) bool {
	if a.Key != b.Key || a.Prefix != b.Prefix || a.RouterName != b.RouterName || !slices.Equal(a.SwitchNames, b.SwitchNames) || len(a.LBs) != len(b.LBs) {
		return false
	}
	for i := range a.LBs {
		x, y := a.LBs[i], b.LBs[i]
		if x.Name != y.Name || x.Protocol != y.Protocol || !vipsEqual(x.VIPs, y.VIPs) || len(x.Options) != len(y.Options) {
			return false
		}
	}
	return true
}
