package lxdwatch

import (
	"context"
	"fmt"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// Uplink reads uplink network name from the default project.
func (c *Client) Uplink(ctx context.Context, name string) (fwdsync.Uplink, error) {
	p, cancel := c.api(ctx, "default")
	defer cancel()
	n, _, err := p.GetNetwork(name)
	if err != nil {
		return fwdsync.Uplink{}, fmt.Errorf("read LXD uplink network %s: %w", name, err)
	}
	u := fwdsync.Uplink{Name: n.Name, Type: n.Type, IPv4Routes: n.Config["ipv4.routes"]}
	if n.Type == "physical" {
		u.IngressMode = n.Config["ovn.ingress_mode"]
		if u.IngressMode == "" {
			u.IngressMode = "l2proxy"
		}
	}
	return u, nil
}
