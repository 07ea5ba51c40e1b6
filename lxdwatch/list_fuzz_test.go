package lxdwatch

import (
	"encoding/json"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/canonical/lxd/shared/api"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// inPortSpec reports whether port p is one of a "80,90-100" spec's ports
// (spaces allowed, as LXD allows them).
func inPortSpec(spec string, p uint16) bool {
	for _, part := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(strings.TrimSpace(hi), 10, 16); err != nil {
				continue
			}
		}
		if uint64(p) >= a && uint64(p) <= b {
			return true
		}
	}
	return false
}

// FuzzConvertForward decodes a forward as LXD's API sends it, converts it
// (convertForward) and plans its rows (sync.DesiredRows on a mapped
// network) under every Rules variant. Properties: the listen address the
// conversion and the events use (CanonicalIP) is the one the planner keys
// the forward by, whenever the planner accepts it; DesiredRows fails (a
// bad-forward finding) or gives rows named <prefix>-lb-<listen>-<proto>
// whose VIP keys are all listen:port with a port of one of the forward's
// listen-port specs of that protocol, or the bare listen address of a
// default target.
func FuzzConvertForward(f *testing.F) {
	f.Add([]byte(`{"listen_address":"198.51.100.10","config":{"target_address":"10.2.0.9"},"ports":[{"protocol":"tcp","listen_port":"80,8000-8002","target_address":"10.2.0.5","target_port":"8080,9000-9002"}]}`))
	m := fwdsync.Mapping{Network: fwdsync.NetworkRef{Project: "p", Name: "ovn1"}, Prefix: "lxd-net2",
		RouterUUID: "lr", RouterName: "lxd-net2-lr", IntSwitchUUID: "ls", IntSwitchName: "lxd-net2-ls-int",
		Subnets: []netip.Prefix{netip.MustParsePrefix("10.2.0.1/24"), netip.MustParsePrefix("fd42:2::1/64")}}
	rules := []fwdsync.Rules{
		{Prefix: "lxd-net", AttachSwitch: true},
		{Prefix: "lxd-net"},
		{Prefix: "lxd-net", AttachSwitch: true, DefaultTargetInUDP: true},
		{Prefix: "lxd-net", AttachSwitch: true, DefaultTargetViaNAT: true},
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var af api.NetworkForward
		if json.Unmarshal(body, &af) != nil {
			return
		}
		fwd := convertForward(m.Network, af)
		if fwd.Project != "p" || fwd.Network != "ovn1" || len(fwd.Ports) != len(af.Ports) || fwd.DefaultTarget != af.Config["target_address"] {
			t.Fatalf("converted %+v from %+v", fwd, af)
		}
		if CanonicalIP(fwd.ListenAddress) != fwd.ListenAddress {
			t.Fatalf("CanonicalIP not idempotent on %q", fwd.ListenAddress)
		}
		for _, r := range rules {
			d, err := fwdsync.DesiredRows(r, m, fwd, fwdsync.Options{ARPResponder: fwdsync.ARPResponderAuto})
			if err != nil {
				continue
			}
			listen := d.Key.ListenAddress
			if listen != fwd.ListenAddress {
				t.Fatalf("planner keys %q, conversion/events %q (from %q)", listen, fwd.ListenAddress, af.ListenAddress)
			}
			if ip := net.ParseIP(listen); ip == nil || ip.String() != listen {
				t.Fatalf("listen %q", listen)
			}
			for _, lb := range d.LBs {
				prefix, addr, pi, ok := fwdsync.ParseLBName("lxd-net", lb.Name)
				if !ok || prefix != "lxd-net2" || addr != listen || []string{"tcp", "udp"}[pi] != lb.Protocol {
					t.Fatalf("row %q (%s)", lb.Name, lb.Protocol)
				}
				for k := range lb.VIPs {
					if k == listen {
						continue // a default target
					}
					ap, err := netip.ParseAddrPort(k)
					if err != nil || ap.Addr().String() != listen {
						t.Fatalf("row %q: VIP %q", lb.Name, k)
					}
					found := false
					for _, p := range fwd.Ports {
						if p.Protocol == lb.Protocol && inPortSpec(p.ListenPort, ap.Port()) {
							found = true
						}
					}
					if !found {
						t.Fatalf("row %q: VIP %q outside the forward's %s ports", lb.Name, k, lb.Protocol)
					}
				}
			}
		}
	})
}
