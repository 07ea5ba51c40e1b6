package lxdwatch

import (
	"context"
	"fmt"

	"github.com/canonical/lxd/shared/api"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// NetworkACLs reads the named network ACLs of project (the project that
// holds the network), for explain. An ACL that cannot be read fails the
// whole read.
func (c *Client) NetworkACLs(ctx context.Context, project string, names []string) ([]fwdsync.NetworkACL, error) {
	out := make([]fwdsync.NetworkACL, 0, len(names))
	for _, name := range names {
		p, cancel := c.api(ctx, project)
		acl, _, err := p.GetNetworkACL(name)
		cancel()
		if err != nil {
			return out, fmt.Errorf("read LXD network ACL %s (project %s): %w", name, project, err)
		}
		out = append(out, fwdsync.NetworkACL{Project: project, Name: acl.Name, Ingress: aclRules(acl.Ingress), Egress: aclRules(acl.Egress)})
	}
	return out, nil
}

func aclRules(rs []api.NetworkACLRule) []fwdsync.NetworkACLRule {
	out := make([]fwdsync.NetworkACLRule, 0, len(rs))
	for _, r := range rs {
		out = append(out, fwdsync.NetworkACLRule{Action: r.Action, State: r.State, Source: r.Source, Destination: r.Destination,
			Protocol: r.Protocol, SourcePort: r.SourcePort, DestinationPort: r.DestinationPort, Description: r.Description})
	}
	return out
}
