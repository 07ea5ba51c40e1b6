package engine

import (
	"testing"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// check reports the address plan's findings from what LXD lists (forward
// locations, instance NIC addresses, load balancers) and the uplinks it
// reads; none is repaired, and none is judged against an uplink it could
// not read.
func TestCheckReportsAddressPlan(t *testing.T) {
	uplinks := map[string]map[string]string{"br0": {"ipv4.routes": "198.51.100.0/24,10.10.10.0/24", "ipv4.ovn.ranges": "10.99.0.100-10.99.0.254"}}
	e, l, _ := routeEngine(fwdsync.Options{}, uplinks)
	port := fwdsync.ForwardPort{Protocol: "tcp", ListenPort: "80", TargetAddress: "10.10.10.5"}
	l.St.Forwards = append(l.St.Forwards,
		fwdsync.Forward{Project: "default", Network: "ovn0", ListenAddress: "203.0.113.5", Ports: []fwdsync.ForwardPort{port}},
		fwdsync.Forward{Project: "default", Network: "ovn0", ListenAddress: "10.10.10.50", Ports: []fwdsync.ForwardPort{port}},
		fwdsync.Forward{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.30", Ports: []fwdsync.ForwardPort{port}, Location: "m2"},
	)
	l.St.Networks = append(l.St.Networks, fwdsync.Network{Project: "default", Name: "ovn2", Config: map[string]string{"network": "br0"}})
	l.St.LoadBalancers = append(l.St.LoadBalancers, fwdsync.ForwardKey{Project: "default", Network: "ovn2", ListenAddress: "198.51.100.10"})
	l.St.Instances = []fwdsync.InstanceNIC{{Project: "default", Instance: "c1", Device: "eth0",
		Network: fwdsync.NetworkRef{Project: "default", Name: "ovn0"}, Key: "ipv4.address", Address: "10.10.10.50"}}

	for _, mode := range []struct {
		name string
		o    OneShotOpts
	}{{"check", OneShotOpts{Deep: true}}, {"repair", OneShotOpts{Deep: true, Repair: true}}} {
		res := oneShot(t, e, mode.o)
		got := map[string]string{}
		for _, f := range res.Report.Findings {
			switch f.Category {
			case "listen-outside-routes", "listen-is-instance-address", "listen-overlap", "forward-has-location":
				got[f.ListenAddress+" "+f.Category] = f.Severity
			}
		}
		want := map[string]string{
			"203.0.113.5 listen-outside-routes":      "error",
			"10.10.10.50 listen-is-instance-address": "error",
			"198.51.100.10 listen-overlap":           "warning",
			"198.51.100.30 forward-has-location":     "warning",
		}
		if len(got) != len(want) {
			t.Errorf("%s: address findings %v, want %v", mode.name, got, want)
		}
		for k, sev := range want {
			if got[k] != sev {
				t.Errorf("%s: %s: severity %q, want %q (all: %v)", mode.name, k, got[k], sev, got)
			}
		}
	}

	// Uplink config unknown: routes and ovn.ranges are not judged; the
	// rest still is.
	e, l, _ = routeEngine(fwdsync.Options{}, nil)
	l.St.Forwards = append(l.St.Forwards,
		fwdsync.Forward{Project: "default", Network: "ovn0", ListenAddress: "203.0.113.5", Ports: []fwdsync.ForwardPort{port}},
		fwdsync.Forward{Project: "default", Network: "ovn0", ListenAddress: "10.99.0.150", Ports: []fwdsync.ForwardPort{port}})
	res := oneShot(t, e, OneShotOpts{Deep: true})
	for _, f := range res.Report.Findings {
		if f.Category == "listen-outside-routes" || f.Category == "listen-is-instance-address" {
			t.Errorf("judged without the uplink's config: %+v", f)
		}
	}
}
