package sync

import (
	"net/netip"
	"slices"
	"strings"
)

// GatewayAnnouncement is what a chassis that has just taken a gateway port
// announces on one uplink: the router port's MAC with every address OVN
// lists as resident on that gateway (nat_addresses: the router's uplink
// address, NAT and load balancer addresses). ovn-controller sends the same
// gratuitous ARPs itself, but only a second after its claim (pinctrl's first
// announcement waits 1 s), and until some frame from the new gateway
// reaches it the uplink switch keeps delivering the router's MAC to the old
// one: that second is the outage a failover costs beyond OVN's own claim.
type GatewayAnnouncement struct {
	// Network is the uplink's localnet network_name (the ovn-bridge-mappings
	// key of the bridge to announce on); "" when SB has no localnet port on
	// the switch, and then there is nowhere to announce.
	Network string
	// Localnet is that localnet logical port (its patch port into the
	// uplink's bridge is where OVN's own frames to the uplink come from).
	Localnet string
	// Port is the patch port whose nat_addresses list the addresses.
	Port  string
	MAC   string
	Addrs []netip.Addr
}

// GatewayAnnouncements returns what to announce when crPort (a gateway's
// chassisredirect port) is claimed: one entry per uplink switch port whose
// nat_addresses are guarded by is_chassis_resident(crPort), sorted by
// network and MAC, addresses sorted and without duplicates.
func GatewayAnnouncements(sb SBState, crPort string) []GatewayAnnouncement {
	localnet := map[string]SBPortBinding{} // by datapath
	for _, pb := range sb.PortBindings {
		if pb.Type == "localnet" && pb.Datapath != "" && pb.NetworkName != "" {
			localnet[pb.Datapath] = pb
		}
	}
	type key struct{ network, localnet, port, mac string }
	addrs := map[key][]netip.Addr{}
	for _, pb := range sb.PortBindings {
		if pb.Type != "patch" {
			continue
		}
		for _, e := range pb.NatAddresses {
			guard, words := parseNatEntry(e)
			if guard != crPort || len(words) < 2 {
				continue
			}
			ln := localnet[pb.Datapath]
			k := key{network: ln.NetworkName, localnet: ln.LogicalPort, port: pb.LogicalPort, mac: strings.ToLower(words[0])}
			for _, w := range words[1:] {
				if a, err := netip.ParseAddr(w); err == nil {
					addrs[k] = append(addrs[k], a.Unmap())
				}
			}
		}
	}
	out := make([]GatewayAnnouncement, 0, len(addrs))
	for k, as := range addrs {
		slices.SortFunc(as, func(a, b netip.Addr) int { return a.Compare(b) })
		out = append(out, GatewayAnnouncement{Network: k.network, Localnet: k.localnet, Port: k.port, MAC: k.mac, Addrs: slices.Compact(as)})
	}
	slices.SortFunc(out, func(a, b GatewayAnnouncement) int {
		return cmpStrings(a.Network, b.Network, a.MAC, b.MAC, a.Port, b.Port)
	})
	return out
}

// cmpStrings compares pairs in order: the first unequal pair decides.
func cmpStrings(pairs ...string) int {
	for i := 0; i+1 < len(pairs); i += 2 {
		if c := strings.Compare(pairs[i], pairs[i+1]); c != 0 {
			return c
		}
	}
	return 0
}

// GatewayHolders maps every gateway (chassisredirect) port to the chassis
// that claims it ("" when unclaimed).
func GatewayHolders(sb SBState) map[string]string {
	out := map[string]string{}
	for _, pb := range sb.PortBindings {
		if pb.Type == "chassisredirect" {
			out[pb.LogicalPort] = pb.Chassis
		}
	}
	return out
}
