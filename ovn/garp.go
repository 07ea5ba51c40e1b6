package ovn

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// UplinkAnnouncer is engine.GatewayAnnouncer for this host's OVS. It
// sends the announcement the way ovn-controller sends its own: into the
// uplink's provider bridge from OVN's patch port, through the bridge's
// NORMAL action (ovs-ofctl packet-out). That path matters: the provider
// bridge is a learning switch too, and on a chassis that did not hold the
// gateway it has learned the router's MAC on the uplink interface, where
// the old gateway's frames came from; it drops traffic for that MAC
// arriving on the same interface until a frame from the MAC comes out of
// OVN's patch port. A frame sent straight out of the uplink interface
// would teach the upstream switch but not this bridge (measured: traffic
// then still waited for OVN's own announcement).
//
// One frame per MAC is sent: a failover moves where the router's MAC is,
// not which MAC an address has (every gateway chassis uses the same
// router port MAC), so one frame teaches every switch on the way; OVN's
// own announcements of every address follow from the second on.
//
// The patch port is looked up in the local OVS database (a libovsdb
// client, see ProviderPatchPort), and ovs-ofctl is pointed at the
// bridge's management socket beside that database's socket
// (unix:<rundir>/<bridge>.mgmt), so neither needs OVS_RUNDIR or ovs-vsctl.
type UplinkAnnouncer struct {
	// OVS is the local OVS database (unix:PATH or an absolute path to
	// db.sock); empty: found as LocalOVSEndpoint says.
	OVS string
}

// Announce sends a's first address's frame into the provider bridge of
// a.Network from the patch port of its localnet port a.Localnet.
func (u UplinkAnnouncer) Announce(ctx context.Context, a fwdsync.GatewayAnnouncement) (where string, sent int, err error) {
	mac, err := net.ParseMAC(a.MAC)
	if err != nil {
		return "", 0, fmt.Errorf("router MAC %q of %s: %w", a.MAC, a.Port, err)
	}
	if len(a.Addrs) == 0 {
		return "", 0, fmt.Errorf("%s lists no address for MAC %s", a.Port, a.MAC)
	}
	first := a.Addrs[0]
	for _, ad := range a.Addrs { // an IPv4 address if there is one (ARP)
		if ad.Is4() {
			first = ad
			break
		}
	}
	frames, err := Frames(mac, []netip.Addr{first})
	if err != nil {
		return "", 0, err
	}
	bridge, port, ofport, rundir, err := ProviderPatchPort(ctx, u.OVS, a.Network, a.Localnet)
	if err != nil {
		return "", 0, err
	}
	where = fmt.Sprintf("bridge %s from %s (OpenFlow port %s)", bridge, port, ofport)
	mgmt := "unix:" + filepath.Join(rundir, bridge+".mgmt")
	for _, f := range frames {
		if _, err := run(ctx, "ovs-ofctl", "packet-out", mgmt,
			fmt.Sprintf("in_port=%s packet=%s actions=NORMAL", ofport, hex.EncodeToString(f))); err != nil {
			return where, sent, err
		}
		sent++
	}
	return where, sent, nil
}

// Frames builds the announcement frames for mac and addrs.
func Frames(mac net.HardwareAddr, addrs []netip.Addr) ([][]byte, error) {
	var out [][]byte
	for _, a := range addrs {
		var f *ethernet.Frame
		if a.Is4() {
			p, err := arp.NewPacket(arp.OperationRequest, mac, a, net.HardwareAddr{0, 0, 0, 0, 0, 0}, a)
			if err != nil {
				return nil, fmt.Errorf("ARP for %s: %w", a, err)
			}
			pb, err := p.MarshalBinary()
			if err != nil {
				return nil, err
			}
			f = &ethernet.Frame{Destination: ethernet.Broadcast, Source: mac, EtherType: ethernet.EtherTypeARP, Payload: pb}
		} else {
			payload, err := unsolicitedNA(mac, a)
			if err != nil {
				return nil, err
			}
			f = &ethernet.Frame{Destination: net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, Source: mac, EtherType: ethernet.EtherTypeIPv6, Payload: payload}
		}
		b, err := f.MarshalBinary()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// allNodes is ff02::1, where unsolicited advertisements go (RFC 4861 7.2.6).
var allNodes = netip.MustParseAddr("ff02::1")

// unsolicitedNA is an IPv6 packet with an unsolicited, overriding
// Neighbor Advertisement for a, from a, with mac as target link-layer
// address (what pinctrl sends for IPv6 nat_addresses).
func unsolicitedNA(mac net.HardwareAddr, a netip.Addr) ([]byte, error) {
	na := &ndp.NeighborAdvertisement{Override: true, TargetAddress: a,
		Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac}}}
	icmp, err := ndp.MarshalMessageChecksum(na, a, allNodes)
	if err != nil {
		return nil, fmt.Errorf("NA for %s: %w", a, err)
	}
	// The fixed IPv6 header (RFC 8200 3): version 6, payload length, next
	// header ICMPv6 (58), hop limit 255 (required for ND), source, dest.
	h := make([]byte, 40, 40+len(icmp))
	h[0] = 6 << 4
	binary.BigEndian.PutUint16(h[4:], uint16(len(icmp)))
	h[6], h[7] = 58, 255
	src, dst := a.As16(), allNodes.As16()
	copy(h[8:24], src[:])
	copy(h[24:40], dst[:])
	return append(h, icmp...), nil
}
