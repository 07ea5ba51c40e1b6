package lxdwatch

import (
	"context"
	"fmt"
)

// Uplink is the uplink network of an OVN network (default project), as far
// as forwards depend on it.
type Uplink struct {
	Name string
	// Type is the LXD network type: "physical" or "bridge".
	Type string
	// IngressMode is ovn.ingress_mode of a physical uplink ("l2proxy" when
	// unset); "" for other types.
	IngressMode string
	// IPv4Routes is ipv4.routes: where forward listen addresses may come from.
	IPv4Routes string
}

// Uplink reads uplink network name from the default project.
func (c *Client) Uplink(ctx context.Context, name string) (Uplink, error) {
	p, cancel := c.api(ctx, "default")
	defer cancel()
	n, _, err := p.GetNetwork(name)
	if err != nil {
		return Uplink{}, fmt.Errorf("read LXD uplink network %s: %w", name, err)
	}
	u := Uplink{Name: n.Name, Type: n.Type, IPv4Routes: n.Config["ipv4.routes"]}
	if n.Type == "physical" {
		u.IngressMode = n.Config["ovn.ingress_mode"]
		if u.IngressMode == "" {
			u.IngressMode = "l2proxy"
		}
	}
	return u, nil
}
