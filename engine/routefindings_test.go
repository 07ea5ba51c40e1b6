package engine

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ovnfwd/ovnfwd/engine/enginetest"

	"go.uber.org/zap"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// uplinkLXD is the fixture's LXD with uplink networks to read (it is an
// uplinkSource, like lxdwatch.Client).
type uplinkLXD struct {
	*fakeLXD
	uplinks map[string]map[string]string
	err     error
	reads   []string
}

func (u *uplinkLXD) NetworkConfig(_ context.Context, project, name string) (map[string]string, bool, error) {
	u.reads = append(u.reads, project+"/"+name)
	if u.err != nil {
		return nil, false, u.err
	}
	c, ok := u.uplinks[name]
	return c, ok, nil
}

// lxdBGP is uplink config with one complete LXD BGP peer.
var lxdBGP = map[string]string{"ipv4.routes": "198.51.100.0/24", "ipv6.routes": "2001:db8:60::/64", "bgp.peers.tor.address": "192.0.2.1", "bgp.peers.tor.asn": "65000"}

// routeEngine is the fixture's Engine judging with opts, its LXD serving
// the given uplinks.
func routeEngine(opts fwdsync.Options, uplinks map[string]map[string]string) (*Engine, *uplinkLXD, *fakeNB) {
	l := &uplinkLXD{fakeLXD: &fakeLXD{St: enginetest.FxLXD()}, uplinks: uplinks}
	n := &fakeNB{St: enginetest.FxNB()}
	if opts.DeletionBudget == 0 {
		opts.DeletionBudget = 100
	}
	return newEngine(l, n, fxSB{NB: n}, opts, zap.NewNop()), l, n
}

func oneShot(t *testing.T, e *Engine, o OneShotOpts) OneShotResult {
	t.Helper()
	res, err := RunOneShot(context.Background(), e, o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// networkFindings are a Report's findings of one network as a whole
// (no listen address), by category.
func networkFindings(r Report, network string) map[string]FindingOut {
	out := map[string]FindingOut{}
	for _, f := range r.Findings {
		if f.Network == network && f.ListenAddress == "" {
			out[f.Category] = f
		}
	}
	return out
}

// check reports lxd-bgp-also-announces exactly when ovnfwd's BGP is on (a
// route policy) and the network's uplink has LXD BGP peers; it reads the
// uplink from LXD and writes nothing.
func TestCheckReportsLXDBGPAlsoAnnounces(t *testing.T) {
	routes := &fwdsync.RoutePolicy{NextHop: fwdsync.NextHopRouter}
	for _, tc := range []struct {
		name    string
		routes  *fwdsync.RoutePolicy
		uplinks map[string]map[string]string
		want    bool
	}{
		{"BGP on, LXD peers on the uplink", routes, map[string]map[string]string{"br0": lxdBGP}, true},
		{"BGP off: LXD's speaker is how forwards are announced", nil, map[string]map[string]string{"br0": lxdBGP}, false},
		{"BGP on, no LXD peer", routes, map[string]map[string]string{"br0": {"ipv4.routes": "198.51.100.0/24"}}, false},
		{"BGP on, uplink gone", routes, nil, false},
		{"BGP on for another uplink only", &fwdsync.RoutePolicy{Uplinks: []string{"UPLINK"}}, map[string]map[string]string{"br0": lxdBGP}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, l, n := routeEngine(fwdsync.Options{Routes: tc.routes}, tc.uplinks)
			res := oneShot(t, e, OneShotOpts{Deep: true})
			f, got := networkFindings(res.Report, "ovn0")["lxd-bgp-also-announces"]
			if got != tc.want {
				t.Fatalf("lxd-bgp-also-announces reported: %v, want %v (findings %+v)", got, tc.want, res.Report.Findings)
			}
			if !slices.Contains(l.reads, "default/br0") || !slices.Contains(l.reads, "default/UPLINK") {
				t.Errorf("uplinks read: %v", l.reads)
			}
			if n.Applied != 0 || n.St.NBCfg != 42 {
				t.Errorf("check wrote: %d changes, nb_cfg %d", n.Applied, n.St.NBCfg)
			}
			if !tc.want {
				return
			}
			if f.Project != "default" || f.Severity != "warning" || res.ExitCode() != ExitFindings ||
				!strings.Contains(f.Detail, "uplink br0 of network default/ovn0 has bgp.peers.tor") ||
				!strings.Contains(f.Repair, "lxc network unset br0 bgp.peers.tor.address") {
				t.Errorf("finding %+v (exit %d)", f, res.ExitCode())
			}
			if res.Report.Summary.ByCategory["lxd-bgp-also-announces"] != 1 {
				t.Errorf("summary %+v", res.Report.Summary)
			}
			// Scope: with the network's forwards, not with another network's.
			res = oneShot(t, e, OneShotOpts{Scope: Scope{Listen: map[string]bool{"198.51.100.10": true}}})
			if _, ok := networkFindings(res.Report, "ovn0")["lxd-bgp-also-announces"]; !ok {
				t.Errorf("--listen 198.51.100.10: the network's route finding is missing: %+v", res.Report.Findings)
			}
			res = oneShot(t, e, OneShotOpts{Scope: Scope{Project: "web", Network: "ovn1"}})
			if len(networkFindings(res.Report, "ovn0")) != 0 {
				t.Errorf("--network ovn1 reports ovn0's findings: %+v", res.Report.Findings)
			}
		})
	}
}

// check reports route-no-next-hop only for next-hop mode router, for every
// network whoever holds its gateway (the fixture's holder is ch2, and check
// has no chassis of its own): IPv6 forwards on ovn0, which has no
// volatile.network.ipv6.address (an IPv4-only uplink).
func TestCheckReportsRouteNoNextHop(t *testing.T) {
	for _, tc := range []struct {
		routes *fwdsync.RoutePolicy
		want   bool
	}{
		{&fwdsync.RoutePolicy{NextHop: fwdsync.NextHopRouter}, true},
		{&fwdsync.RoutePolicy{}, true}, // router is the default
		{&fwdsync.RoutePolicy{NextHop: fwdsync.NextHopSelf}, false},
		{nil, false}, // ovnfwd's BGP off
	} {
		e, l, _ := routeEngine(fwdsync.Options{Routes: tc.routes}, nil)
		for _, a := range []string{"2001:db8:60::10", "2001:db8:60::11"} {
			l.St.Forwards = append(l.St.Forwards, fwdsync.Forward{Project: "default", Network: "ovn0", ListenAddress: a,
				Ports: []fwdsync.ForwardPort{enginetest.FxPort("tcp", "80", "fd42:60::5", "")}})
		}
		res := oneShot(t, e, OneShotOpts{Deep: true})
		f, got := networkFindings(res.Report, "ovn0")["route-no-next-hop"]
		if got != tc.want {
			t.Fatalf("policy %+v: route-no-next-hop reported %v, want %v: %+v", tc.routes, got, tc.want, res.Report.Findings)
		}
		if got && (f.Severity != "error" || !strings.Contains(f.Detail, "network default/ovn0 has no volatile.network.ipv6.address") ||
			!strings.Contains(f.Detail, "no member announces its 2 listen addresses of that family") || !strings.Contains(f.Detail, "2001:db8:60::10, 2001:db8:60::11") ||
			!strings.Contains(f.Repair, "--bgp-next-hop self")) {
			t.Errorf("finding %+v", f)
		}
	}
}

// repair's remaining findings and status's finding count include the route
// findings (no repair can fix them).
func TestRepairAndStatusKeepRouteFindings(t *testing.T) {
	e, _, n := routeEngine(fwdsync.Options{Routes: &fwdsync.RoutePolicy{}}, map[string]map[string]string{"br0": lxdBGP})
	res := oneShot(t, e, OneShotOpts{Repair: true, Deep: true})
	if n.Applied == 0 {
		t.Fatal("repair applied nothing")
	}
	if _, ok := networkFindings(res.Report, "ovn0")["lxd-bgp-also-announces"]; !ok || res.ExitCode() != ExitFindings {
		t.Errorf("after repair: exit %d, findings %+v", res.ExitCode(), res.Report.Findings)
	}

	e.observeBarrier()
	pr, err := e.pass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	r := BuildStatus(StatusInput{Networks: enginetest.FxLXD().Networks, Mappings: pr.Plan.Mappings, Statuses: pr.Statuses, Findings: pr.Findings,
		NB: n.St, SB: enginetest.FxSBFrom(n.St)})
	for _, ns := range r.Networks {
		if ns.Name == "ovn0" && ns.Findings == 0 {
			t.Errorf("status: ovn0 has no finding after repair; want the route finding counted (findings %+v)", pr.Findings)
		}
	}
}

// vip-unanswered is judged with the uplinks' config: a routed uplink reaches
// the VIP through routing, not ARP.
func TestCheckUnansweredVIPsJudgesRoutedUplinks(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want bool
	}{{"l2proxy", true}, {"routed", false}} {
		e, _, _ := routeEngine(fwdsync.Options{ARPResponder: fwdsync.ARPResponderOff},
			map[string]map[string]string{"br0": {"ovn.ingress_mode": tc.mode}})
		res := oneShot(t, e, OneShotOpts{Deep: true})
		got := slices.Contains(categories(res.Report, "198.51.100.10"), "vip-unanswered")
		if got != tc.want {
			t.Errorf("uplink ingress %s: vip-unanswered for 198.51.100.10 %v, want %v (%v)", tc.mode, got, tc.want, res.Report.Findings)
		}
	}
}

// An uplink that cannot be read is judged with its last known config.
func TestUplinkReadFailureKeepsLastConfig(t *testing.T) {
	e, l, _ := routeEngine(fwdsync.Options{Routes: &fwdsync.RoutePolicy{}}, map[string]map[string]string{"br0": lxdBGP})
	ctx := context.Background()
	if _, err := e.pass(ctx, false); err != nil {
		t.Fatal(err)
	}
	l.err = errors.New("LXD says no")
	pr, err := e.pass(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if e.uplinkCfg["br0"]["bgp.peers.tor.asn"] != "65000" || !slices.ContainsFunc(pr.Findings, func(f fwdsync.Finding) bool {
		return f.Category == fwdsync.CatLXDBGPAlsoAnnounces
	}) {
		t.Errorf("after a failed read: uplinks %v, findings %+v", e.uplinkCfg, pr.Findings)
	}
	l.err, l.uplinks = nil, nil // the uplink is gone
	if _, err := e.pass(ctx, false); err != nil {
		t.Fatal(err)
	}
	if len(e.uplinkCfg) != 0 {
		t.Errorf("uplinks of a gone network kept: %v", e.uplinkCfg)
	}
}
