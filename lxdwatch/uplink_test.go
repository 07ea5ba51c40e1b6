package lxdwatch

import (
	"context"
	"testing"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

func TestUplink(t *testing.T) {
	f := newFakeLXD(t)
	f.addNetwork("default", "UPLINK", "physical", map[string]string{"ipv4.routes": "198.51.100.0/24"})
	f.addNetwork("default", "routed", "physical", map[string]string{"ovn.ingress_mode": "routed"})
	f.addNetwork("default", "br0", "bridge", map[string]string{"ipv4.routes": "198.18.0.0/16"})
	c := f.connect(t, nil)
	ctx := context.Background()

	for _, tc := range []struct {
		name string
		want fwdsync.Uplink
	}{
		{"UPLINK", fwdsync.Uplink{Name: "UPLINK", Type: "physical", IngressMode: "l2proxy", IPv4Routes: "198.51.100.0/24"}},
		{"routed", fwdsync.Uplink{Name: "routed", Type: "physical", IngressMode: "routed"}},
		{"br0", fwdsync.Uplink{Name: "br0", Type: "bridge", IPv4Routes: "198.18.0.0/16"}},
	} {
		got, err := c.Uplink(ctx, tc.name)
		if err != nil || got != tc.want {
			t.Errorf("Uplink(%s) = %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
	if _, err := c.Uplink(ctx, "gone"); err == nil {
		t.Error("Uplink of a missing network: no error")
	}
}
