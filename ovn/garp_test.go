package ovn

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

var routerMAC = net.HardwareAddr{0x00, 0x16, 0x3e, 0xec, 0x9c, 0xfb}

// The frames are what ovn-controller's pinctrl sends for nat_addresses: a
// broadcast ARP request with sender = target, and an unsolicited,
// overriding NA to all-nodes with the MAC as target link-layer address.
func TestFrames(t *testing.T) {
	v4, v6 := netip.MustParseAddr("198.51.100.245"), netip.MustParseAddr("2001:db8::100")
	frames, err := Frames(routerMAC, []netip.Addr{v4, v6})
	if err != nil || len(frames) != 2 {
		t.Fatalf("Frames: %d, %v", len(frames), err)
	}
	var f ethernet.Frame
	if err := f.UnmarshalBinary(frames[0]); err != nil {
		t.Fatal(err)
	}
	var p arp.Packet
	if err := p.UnmarshalBinary(f.Payload); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.Destination, ethernet.Broadcast) || !bytes.Equal(f.Source, routerMAC) || f.EtherType != ethernet.EtherTypeARP ||
		p.Operation != arp.OperationRequest || !bytes.Equal(p.SenderHardwareAddr, routerMAC) || p.SenderIP != v4 || p.TargetIP != v4 ||
		p.TargetHardwareAddr.String() != "00:00:00:00:00:00" {
		t.Errorf("GARP frame %+v, ARP %+v", f, p)
	}

	if err := f.UnmarshalBinary(frames[1]); err != nil {
		t.Fatal(err)
	}
	ip := f.Payload
	if f.EtherType != ethernet.EtherTypeIPv6 || f.Destination.String() != "33:33:00:00:00:01" || len(ip) < 40 ||
		ip[0]>>4 != 6 || ip[6] != 58 || ip[7] != 255 || int(ip[4])<<8|int(ip[5]) != len(ip)-40 {
		t.Fatalf("NA frame: ether %v → %v, IPv6 header % x", f.EtherType, f.Destination, ip[:min(40, len(ip))])
	}
	src, _ := netip.AddrFromSlice(ip[8:24])
	dst, _ := netip.AddrFromSlice(ip[24:40])
	m, err := ndp.ParseMessage(ip[40:])
	if err != nil {
		t.Fatal(err)
	}
	na, ok := m.(*ndp.NeighborAdvertisement)
	if !ok || src != v6 || dst != allNodes || !na.Override || na.Solicited || na.TargetAddress != v6 || len(na.Options) != 1 {
		t.Fatalf("NA %s → %s: %+v", src, dst, m)
	}
	if lla, ok := na.Options[0].(*ndp.LinkLayerAddress); !ok || lla.Direction != ndp.Target || !bytes.Equal(lla.Addr, routerMAC) {
		t.Errorf("NA option %+v", na.Options[0])
	}
}

func TestBridgeFor(t *testing.T) {
	for _, c := range []struct{ mappings, network, want string }{
		{"UPLINK:lxdovn1", "UPLINK", "lxdovn1"},
		{"physnet1:br-ex, UPLINK:lxdovn2", "UPLINK", "lxdovn2"},
		{"physnet1:br-ex", "UPLINK", ""},
		{"", "UPLINK", ""},
		{"UPLINK:", "UPLINK", ""},
	} {
		if got, ok := BridgeFor(c.mappings, c.network); got != c.want || ok != (c.want != "") {
			t.Errorf("BridgeFor(%q, %q) = %q, %v", c.mappings, c.network, got, ok)
		}
	}
}

// Announce sends the frame into the uplink's provider bridge from OVN's
// patch port, through NORMAL: the bridge learns the router's MAC on the
// patch port (not on the uplink interface, where a frame sent straight out
// of it would leave the old entry). Against a real ovs-vswitchd
// (userspace datapath), in a network namespace of the test's own.
func TestUplinkAnnouncerRealOVS(t *testing.T) {
	if os.Geteuid() != 0 {
		missingTool(t, "ovs-vswitchd in a new network namespace needs root")
	}
	vswitchd, vsctl, appctl := findBinary("ovs-vswitchd"), findBinary("ovs-vsctl"), findBinary("ovs-appctl")
	schema := "/usr/share/openvswitch/vswitch.ovsschema"
	if vswitchd == "" || vsctl == "" || appctl == "" || findBinary("ovs-ofctl") == "" || !fileExists(schema) {
		missingTool(t, "Open vSwitch (ovs-vswitchd, ovs-vsctl, ovs-ofctl, vswitch.ovsschema) is not installed")
	}
	srv := startRealServer(t, schema)
	// The announcer is given the database socket and finds the bridge's
	// <bridge>.mgmt beside it: no OVS_RUNDIR (checked with it set, below).
	t.Setenv("OVS_RUNDIR", "")
	os.Unsetenv("OVS_RUNDIR")
	vs := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(vsctl, append([]string{"--no-wait", "--db=" + srv.endpoint()}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ovs-vsctl %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	vs("init")
	ns := fmt.Sprintf("ovnfwd-ovs-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	ctl := srv.dir + "/vswitchd.ctl"
	cmd := exec.Command("ip", "netns", "exec", ns, vswitchd, srv.endpoint(), "--unixctl="+ctl,
		"--log-file="+srv.dir+"/ovs-vswitchd.log", "-vconsole:off", "--no-chdir")
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+srv.dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitSocket(t, ctl)

	// What ovn-controller and LXD build: the provider bridge with the
	// uplink interface and the patch port of localnet port ln, whose peer
	// on br-int carries the same external_ids.
	vs("add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev")
	vs("add-br", "lxdovn1", "--", "set", "bridge", "lxdovn1", "datapath_type=netdev")
	vs("add-port", "br-int", "patch-br-int-to-ln", "--", "set", "interface", "patch-br-int-to-ln", "type=patch", "options:peer=patch-ln-to-br-int",
		"--", "set", "port", "patch-br-int-to-ln", "external_ids:ovn-localnet-port=ln")
	vs("add-port", "lxdovn1", "patch-ln-to-br-int", "--", "set", "interface", "patch-ln-to-br-int", "type=patch", "options:peer=patch-br-int-to-ln",
		"--", "set", "port", "patch-ln-to-br-int", "external_ids:ovn-localnet-port=ln")
	vs("set", "open_vswitch", ".", "external_ids:ovn-bridge-mappings=other:br-other,UPLINK:lxdovn1")

	ann := fwdsync.GatewayAnnouncement{Network: "UPLINK", Localnet: "ln", Port: "lxd-net2-ls-ext-lsp-router", MAC: routerMAC.String(),
		Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::100"), netip.MustParseAddr("10.99.0.100"), netip.MustParseAddr("198.51.100.245")}}
	ctx := context.Background()
	var where string
	var sent int
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		// ovs-vswitchd numbers the patch port a moment after it is added.
		if where, sent, err = (UplinkAnnouncer{OVS: srv.sock}).Announce(ctx, ann); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	ofport := vs("get", "Interface", "patch-ln-to-br-int", "ofport")
	if err != nil || sent != 1 || !strings.Contains(where, "bridge lxdovn1 from patch-ln-to-br-int (OpenFlow port "+ofport+")") {
		t.Fatalf("Announce: %q, %d frames, %v", where, sent, err)
	}
	out, err := exec.Command(appctl, "--target="+ctl, "fdb/show", "lxdovn1").CombinedOutput()
	if err != nil {
		t.Fatalf("fdb/show: %v: %s", err, out)
	}
	learned := false
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[2] == routerMAC.String() {
			learned = f[0] == ofport
			t.Logf("lxdovn1 FDB: %s", line)
		}
	}
	if !learned {
		t.Errorf("lxdovn1 has not learned %s on the patch port (OpenFlow port %s):\n%s", routerMAC, ofport, out)
	}

	// ovs-ofctl is given the management socket beside the database socket
	// it was told (here a link in another directory, which has none).
	other := sockDir(t)
	if err := os.Symlink(srv.sock, other+"/db.sock"); err != nil {
		t.Fatal(err)
	}
	if _, sent, err := (UplinkAnnouncer{OVS: "unix:" + other + "/db.sock"}).Announce(ctx, ann); sent != 0 || err == nil ||
		!strings.Contains(err.Error(), "ovs-ofctl packet-out unix:"+other+"/lxdovn1.mgmt in_port="+ofport+" packet=") {
		t.Errorf("Announce through %s/db.sock: %d frames, %v; want ovs-ofctl to fail on %s/lxdovn1.mgmt", other, sent, err, other)
	}

	// Found through OVS_RUNDIR, as the OVS tools find it.
	t.Setenv("OVS_RUNDIR", srv.dir)
	if where, sent, err := (UplinkAnnouncer{}).Announce(ctx, ann); err != nil || sent != 1 || !strings.Contains(where, "bridge lxdovn1 from patch-ln-to-br-int") {
		t.Errorf("Announce with OVS_RUNDIR: %q, %d frames, %v", where, sent, err)
	}
	for _, c := range []struct {
		network, localnet, want string
	}{
		{"NOPE", "ln", `no ovn-bridge-mappings entry for uplink network "NOPE"`},
		{"other", "ln", `the local OVS has no bridge br-other, which its ovn-bridge-mappings maps uplink network "other" to`},
		{"UPLINK", "ln2", "bridge lxdovn1 has no patch port of localnet port ln2"},
	} {
		a := ann
		a.Network, a.Localnet = c.network, c.localnet
		if _, _, err := (UplinkAnnouncer{}).Announce(ctx, a); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s/%s: %v, want an error containing %q", c.network, c.localnet, err, c.want)
		}
	}
}
