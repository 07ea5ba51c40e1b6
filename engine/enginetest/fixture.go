package enginetest

import (
	"context"
	"slices"
	"strings"
	"time"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// The fixture is a drifted LXD 5.0.2 + OVN 23.03 world for the one-shot
// commands' tests and golden files: network default/ovn0 (prefix lxd-net2,
// gateway on ch2) with forwards in every NB state, an unmapped network
// web/ovn1, an orphan and a foreign row.

const (
	FxRouter  = "a0000000-0000-4000-8000-000000000001"
	FxPortExt = "a0000000-0000-4000-8000-000000000002"
	FxPortInt = "a0000000-0000-4000-8000-000000000003"
	FxLSInt   = "a0000000-0000-4000-8000-000000000004"
	FxLSExt   = "a0000000-0000-4000-8000-000000000005"
	FxGroup   = "a0000000-0000-4000-8000-000000000006"
	FxHA1     = "a0000000-0000-4000-8000-000000000007"
	FxHA2     = "a0000000-0000-4000-8000-000000000008"
	FxHA3     = "a0000000-0000-4000-8000-000000000009"

	FxLB10  = "b0000000-0000-4000-8000-000000000010"
	FxLB11  = "b0000000-0000-4000-8000-000000000011"
	FxLB12  = "b0000000-0000-4000-8000-000000000012"
	FxLB13a = "b0000000-0000-4000-8000-00000000013a"
	FxLB13b = "b0000000-0000-4000-8000-00000000013b"
	FxLB99  = "b0000000-0000-4000-8000-000000000099"
	FxLBOrp = "b0000000-0000-4000-8000-0000000000e0"
	FxLBFor = "b0000000-0000-4000-8000-0000000000f0"

	FxCR    = "cr-lxd-net2-lr-lrp-ext"
	FxPatch = "lxd-net2-ls-ext-lsp-router"
	FxMAC   = "00:16:3e:48:f8:79"
)

func FxPort(proto, listen, target, targetPort string) fwdsync.ForwardPort {
	return fwdsync.ForwardPort{Protocol: proto, ListenPort: listen, TargetAddress: target, TargetPort: targetPort}
}

// FxLXD is LXD's side: default/ovn0 with six forwards, web/ovn1 unmapped.
func FxLXD() fwdsync.LXDState {
	fwd := func(listen, def string, ports ...fwdsync.ForwardPort) fwdsync.Forward {
		return fwdsync.Forward{Project: "default", Network: "ovn0", ListenAddress: listen, DefaultTarget: def, Ports: ports}
	}
	return fwdsync.LXDState{
		Server: fwdsync.ServerInfo{Kind: "lxd", Version: "5.0.2"},
		Networks: []fwdsync.Network{
			{Project: "default", Name: "ovn0", Config: map[string]string{
				"network": "br0", "ipv4.address": "10.10.10.1/24", "volatile.network.ipv4.address": "10.99.0.100"}},
			{Project: "web", Name: "ovn1", Config: map[string]string{
				"network": "UPLINK", "ipv4.address": "10.20.0.1/24", "volatile.network.ipv4.address": "10.99.0.101"}},
		},
		Forwards: []fwdsync.Forward{
			// ok
			fwd("198.51.100.10", "10.10.10.9", FxPort("tcp", "80", "10.10.10.5", "8080")),
			// tcp VIPs differ, udp row missing
			fwd("198.51.100.11", "", FxPort("tcp", "80", "10.10.10.6", "8080"), FxPort("udp", "53", "10.10.10.6", "")),
			// detached from ls-int, attached to ls-ext
			fwd("198.51.100.12", "", FxPort("tcp", "443", "10.10.10.7", "")),
			// two rows of one name
			fwd("198.51.100.13", "", FxPort("tcp", "22", "10.10.10.8", "")),
			// bad: 2 listen ports, 3 target ports
			fwd("198.51.100.14", "", FxPort("tcp", "80-81", "10.10.10.9", "8080-8082")),
			{Project: "web", Network: "ovn1", ListenAddress: "198.51.100.20",
				Ports: []fwdsync.ForwardPort{FxPort("tcp", "80", "10.20.0.5", "")}},
		},
		Complete: map[fwdsync.NetworkRef]bool{{Project: "default", Name: "ovn0"}: true, {Project: "web", Name: "ovn1"}: true},
	}
}

// FxNB is NB as it drifted.
func FxNB() fwdsync.NBState {
	lb := func(uuid, name, proto string, vips ...string) fwdsync.NBLoadBalancer {
		m := map[string]string{}
		for i := 0; i+1 < len(vips); i += 2 {
			m[vips[i]] = vips[i+1]
		}
		return fwdsync.NBLoadBalancer{UUID: uuid, Name: name, Protocol: proto, VIPs: m}
	}
	return fwdsync.NBState{
		LoadBalancers: []fwdsync.NBLoadBalancer{
			lb(FxLB10, "lxd-net2-lb-198.51.100.10-tcp", "tcp", "198.51.100.10", "10.10.10.9", "198.51.100.10:80", "10.10.10.5:8080"),
			lb(FxLB11, "lxd-net2-lb-198.51.100.11-tcp", "tcp", "198.51.100.11:80", "10.10.10.6:80"),
			lb(FxLB12, "lxd-net2-lb-198.51.100.12-tcp", "tcp", "198.51.100.12:443", "10.10.10.7:443"),
			lb(FxLB13a, "lxd-net2-lb-198.51.100.13-tcp", "tcp", "198.51.100.13:22", "10.10.10.8:22"),
			lb(FxLB13b, "lxd-net2-lb-198.51.100.13-tcp", "tcp", "198.51.100.13:22", "10.10.10.8:22"),
			lb(FxLB99, "lxd-net2-lb-198.51.100.99-tcp", "tcp", "198.51.100.99:80", "10.10.10.99:80"),
			lb(FxLBOrp, "lxd-net9-lb-198.51.100.50-tcp", "tcp", "198.51.100.50:80", "10.30.0.5:80"),
			lb(FxLBFor, "my-lb", "tcp", "192.0.2.80:80", "10.10.10.50:80"),
		},
		Routers: []fwdsync.NBRouter{{UUID: FxRouter, Name: "lxd-net2-lr", Ports: []string{FxPortExt, FxPortInt},
			LoadBalancers: []string{FxLB10, FxLB11, FxLB12, FxLB13a, FxLB13b, FxLB99, FxLBFor}}},
		RouterPorts: []fwdsync.NBRouterPort{
			{UUID: FxPortExt, Name: "lxd-net2-lr-lrp-ext", MAC: FxMAC, Networks: []string{"10.99.0.100/24"}, HAChassisGroup: FxGroup},
			{UUID: FxPortInt, Name: "lxd-net2-lr-lrp-int", MAC: FxMAC, Networks: []string{"10.10.10.1/24"}},
		},
		Switches: []fwdsync.NBSwitch{
			{UUID: FxLSExt, Name: "lxd-net2-ls-ext", LoadBalancers: []string{FxLB12}},
			{UUID: FxLSInt, Name: "lxd-net2-ls-int", LoadBalancers: []string{FxLB10, FxLB11, FxLB13a, FxLB13b, FxLB99}},
		},
		HAChassisGroups: []fwdsync.NBHAChassisGroup{{UUID: FxGroup, Name: "lxd-net2", HAChassis: []string{FxHA1, FxHA2, FxHA3}}},
		HAChassis: []fwdsync.NBHAChassis{
			{UUID: FxHA1, ChassisName: "ch1", Priority: 1138},
			{UUID: FxHA2, ChassisName: "ch2", Priority: 2000},
			{UUID: FxHA3, ChassisName: "ch3", Priority: 1000},
		},
		NBCfg: 42, SBCfg: 42, HVCfg: 30,
	}
}

// FxSBFrom is what northd and the chassis would show for nb: SB
// Load_Balancer rows for switch-attached rows, the router's VIPs in the
// patch port's nat_addresses, ch2 holding the gateway, ch1 and ch2 caught
// up with nb, ch3 gone (only its Chassis_Private row, stuck at 30).
func FxSBFrom(nb fwdsync.NBState) fwdsync.SBState {
	sb := fwdsync.SBState{NBCfg: nb.SBCfg}
	onSwitch, onRouter := map[string]bool{}, map[string]bool{}
	for _, s := range nb.Switches {
		for _, u := range s.LoadBalancers {
			onSwitch[u] = true
		}
	}
	for _, r := range nb.Routers {
		for _, u := range r.LoadBalancers {
			onRouter[u] = true
		}
	}
	var nat []string
	for _, lb := range nb.LoadBalancers {
		if onSwitch[lb.UUID] {
			sb.LoadBalancers = append(sb.LoadBalancers, fwdsync.SBLoadBalancer{
				UUID: strings.Replace(lb.UUID, "b0000000", "c0000000", 1), Name: lb.Name, VIPs: lb.VIPs,
				ExternalIDs: map[string]string{"lb_id": lb.UUID}})
		}
		if onRouter[lb.UUID] && strings.HasPrefix(lb.Name, "lxd-net2-") {
			for vip := range lb.VIPs {
				a, _ := fwdsync.SplitVIP(vip)
				if !slices.Contains(nat, a) {
					nat = append(nat, a)
				}
			}
		}
	}
	slices.Sort(nat)
	sb.PortBindings = []fwdsync.SBPortBinding{
		{UUID: "d0000000-0000-4000-8000-000000000001", LogicalPort: FxCR, Type: "chassisredirect", Chassis: "ch2"},
		{UUID: "d0000000-0000-4000-8000-000000000002", LogicalPort: FxPatch, Type: "patch",
			NatAddresses: []string{FxMAC + " 10.99.0.100 " + strings.Join(nat, " ") + ` is_chassis_resident("` + FxCR + `")`}},
	}
	sb.Chassis = []fwdsync.SBChassis{
		{Name: "ch1", Hostname: "node1", NBCfg: nb.NBCfg, NBCfgTimestamp: 1795784698181, HasChassisRow: true},
		{Name: "ch2", Hostname: "node2", NBCfg: nb.NBCfg, NBCfgTimestamp: 1795784698182, HasChassisRow: true},
		{Name: "ch3", NBCfg: 30, NBCfgTimestamp: 1795784000000},
	}
	return sb
}

// SB follows an NB the way northd and live chassis would.
type SB struct{ NB *NB }

// Snapshot derives SB from the NB's rows.
func (s SB) Snapshot() fwdsync.SBState { return FxSBFrom(s.NB.St) }

// SnapshotFor is the whole snapshot: a superset serves every subset.
func (s SB) SnapshotFor([]string) fwdsync.SBState { return s.Snapshot() }

// GatewaySnapshot is the whole snapshot.
func (s SB) GatewaySnapshot() fwdsync.SBState { return s.Snapshot() }

// WaitNBCfg: the derived SB has always caught up.
func (s SB) WaitNBCfg(context.Context, int, time.Duration) bool { return true }

// RowsGeneration follows the NB's.
func (s SB) RowsGeneration() uint64 { return s.NB.gen }

// FxFlows are the lr_in_dnat flows northd makes for forward .10.
func FxFlows() []fwdsync.LogicalFlow {
	guard := ` && is_chassis_resident("` + FxCR + `")`
	return []fwdsync.LogicalFlow{
		{UUID: "e0000000-0000-4000-8000-000000000001", Priority: 120, Datapath: "lxd-net2-lr",
			Match:   "ct.new && !ct.rel && ip4 && ip4.dst == 198.51.100.10 && tcp && tcp.dst == 80" + guard,
			Actions: "ct_lb_mark(backends=10.10.10.5:8080);"},
		{UUID: "e0000000-0000-4000-8000-000000000002", Priority: 110, Datapath: "lxd-net2-lr",
			Match:   "ct.new && !ct.rel && ip4 && ip4.dst == 198.51.100.10" + guard,
			Actions: "ct_lb_mark(backends=10.10.10.9);"},
	}
}
