package lxdwatch

import (
	"context"
	"fmt"
)

// NetworkConfig reads the whole config of one LXD network of any type, e.g.
// an uplink's bgp.peers.* keys. exists is false (with a nil error) when LXD
// answers 404.
func (c *Client) NetworkConfig(ctx context.Context, project, name string) (cfg map[string]string, exists bool, err error) {
	p, cancel := c.api(ctx, project)
	defer cancel()
	n, _, err := p.GetNetwork(name)
	if isNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read LXD network %s/%s: %w", project, name, err)
	}
	cfg = make(map[string]string, len(n.Config))
	for k, v := range n.Config {
		cfg[k] = v
	}
	return cfg, true, nil
}
