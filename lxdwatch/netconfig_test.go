package lxdwatch

import (
	"context"
	"testing"
)

func TestNetworkConfig(t *testing.T) {
	f := newFakeLXD(t)
	f.addNetwork("default", "UPLINK", "physical", map[string]string{"bgp.peers.tor.address": "10.0.0.1", "bgp.peers.tor.asn": "65000"})
	c := f.connect(t, nil)
	ctx := context.Background()

	cfg, ok, err := c.NetworkConfig(ctx, "default", "UPLINK")
	if err != nil || !ok || cfg["bgp.peers.tor.asn"] != "65000" || len(cfg) != 2 {
		t.Fatalf("NetworkConfig = %v, %v, %v", cfg, ok, err)
	}
	if cfg, ok, err := c.NetworkConfig(ctx, "default", "gone"); err != nil || ok || cfg != nil {
		t.Fatalf("missing network: %v, %v, %v", cfg, ok, err)
	}
}
