package sync

import (
	"fmt"
	"testing"
)

// SB as the bed's OVN 23.03 has it for an LXD network: the uplink-side
// patch port lists the router's address and the VIPs under the gateway's
// guard, the internal one lists the VIPs without a guard, and the
// localnet port names the uplink.
func announceSB() SBState {
	return SBState{PortBindings: []SBPortBinding{
		{LogicalPort: "cr-lxd-net2-lr-lrp-ext", Type: "chassisredirect", Chassis: "ch3", Datapath: "dp-lr"},
		{LogicalPort: "lxd-net2-ls-int-lsp-router", Type: "patch", Datapath: "dp-int",
			NatAddresses: []string{"00:16:3e:ec:9c:fb 198.51.100.245 198.51.100.246"}},
		{LogicalPort: "lxd-net2-ls-ext-lsp-router", Type: "patch", Datapath: "dp-ext", NatAddresses: []string{
			`00:16:3E:EC:9C:FB 10.99.0.100 is_chassis_resident("cr-lxd-net2-lr-lrp-ext")`,
			`00:16:3e:ec:9c:fb 198.51.100.246 198.51.100.245 10.99.0.100 is_chassis_resident("cr-lxd-net2-lr-lrp-ext")`,
		}},
		{LogicalPort: "lxd-net2-ls-ext-lsp-provider", Type: "localnet", Datapath: "dp-ext", NetworkName: "UPLINK"},
		// Another network's gateway on another uplink.
		{LogicalPort: "lxd-net3-ls-ext-lsp-router", Type: "patch", Datapath: "dp-ext3", NatAddresses: []string{
			`00:16:3e:00:00:03 10.98.0.100 2001:db8::100 is_chassis_resident("cr-lxd-net3-lr-lrp-ext")`,
		}},
	}}
}

func TestGatewayAnnouncements(t *testing.T) {
	for _, c := range []struct {
		port, want string
	}{
		{"cr-lxd-net2-lr-lrp-ext", "[{UPLINK lxd-net2-ls-ext-lsp-provider lxd-net2-ls-ext-lsp-router 00:16:3e:ec:9c:fb [10.99.0.100 198.51.100.245 198.51.100.246]}]"},
		// No localnet port on its switch: nowhere to announce (Network "").
		{"cr-lxd-net3-lr-lrp-ext", "[{  lxd-net3-ls-ext-lsp-router 00:16:3e:00:00:03 [10.98.0.100 2001:db8::100]}]"},
		{"cr-lxd-net9-lr-lrp-ext", "[]"},
	} {
		if got := fmt.Sprint(GatewayAnnouncements(announceSB(), c.port)); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.port, got, c.want)
		}
	}
}
