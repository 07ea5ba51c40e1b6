package lxdwatch

import (
	"context"
	"slices"
	"sort"
	"strings"

	"github.com/canonical/lxd/shared/api"
	"go.uber.org/zap"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// instanceNICs lists the configured addresses of every instance NIC on a
// managed network (NIC config ipv4.address / ipv6.address of the expanded
// devices), all projects, for the address plan. It reads the instance
// list at recursion=1 only: LXD answers that from its database, without
// asking each instance for its state (recursion=2 would, and an address an
// instance got from DHCP is then not seen). networkProjects are the
// projects that hold their own networks (List's); the instances of any
// other project use the default project's networks. It returns nil (and
// logs) when the instances cannot be listed.
func (c *Client) instanceNICs(ctx context.Context, networkProjects []string) []fwdsync.InstanceNIC {
	var insts []api.Instance
	if c.hasExtension("instance_all_projects") {
		p, cancel := c.api(ctx, "")
		var err error
		insts, err = p.GetInstancesAllProjects(api.InstanceTypeAny)
		cancel()
		if err != nil {
			c.log.Warn("cannot list LXD instances; listen addresses are not judged against instance addresses this pass", zap.Error(err))
			return nil
		}
	} else {
		p, cancel := c.api(ctx, "")
		list, err := p.GetProjects()
		cancel()
		if err != nil {
			c.log.Warn("cannot list LXD projects for their instances; listen addresses are not judged against instance addresses this pass", zap.Error(err))
			return nil
		}
		for _, pr := range list {
			project := pr.Name
			p, cancel := c.api(ctx, project)
			list, err := p.GetInstances(api.InstanceTypeAny)
			cancel()
			if err != nil {
				c.log.Warn("cannot list LXD instances; listen addresses are not judged against instance addresses this pass",
					zap.String("project", project), zap.Error(err))
				return nil
			}
			for i := range list {
				if list[i].Project == "" {
					list[i].Project = project
				}
			}
			insts = append(insts, list...)
		}
	}
	return instanceNICs(insts, networkProjects)
}

// instanceNICs converts instances: one InstanceNIC per NIC address.
func instanceNICs(insts []api.Instance, networkProjects []string) []fwdsync.InstanceNIC {
	out := []fwdsync.InstanceNIC{} // listed: not nil
	for _, inst := range insts {
		project := inst.Project
		if project == "" {
			project = "default"
		}
		netProject := "default"
		if slices.Contains(networkProjects, project) {
			netProject = project
		}
		devs := inst.ExpandedDevices
		if devs == nil {
			devs = inst.Devices
		}
		names := make([]string, 0, len(devs))
		for name := range devs {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, dev := range names {
			cfg := devs[dev]
			network := strings.TrimSpace(cfg["network"])
			if cfg["type"] != "nic" || network == "" {
				continue
			}
			for _, key := range []string{"ipv4.address", "ipv6.address"} {
				addr := strings.TrimSpace(cfg[key])
				if addr == "" || addr == "none" {
					continue
				}
				out = append(out, fwdsync.InstanceNIC{
					Project: project, Instance: inst.Name, Device: dev,
					Network: fwdsync.NetworkRef{Project: netProject, Name: network},
					Key:     key, Address: CanonicalIP(addr), ACLs: cfg["security.acls"],
				})
			}
		}
	}
	return out
}
