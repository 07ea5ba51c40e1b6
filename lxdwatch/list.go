package lxdwatch

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/canonical/lxd/shared/api"
	"go.uber.org/zap"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// listWorkers is how many networks are listed concurrently.
const listWorkers = 4

// List reads every OVN network of every project with its forwards and load
// balancers. A network is in Complete only if both its forward and load
// balancer listings succeeded; a failure on one network or project is logged
// and does not lose the others. List fails only when nothing could be listed
// (the server or project list, or every project's networks).
func (c *Client) List(ctx context.Context) (fwdsync.LXDState, error) {
	st := fwdsync.LXDState{Complete: map[fwdsync.NetworkRef]bool{}}

	srv, err := c.refreshServer(ctx)
	if err != nil {
		return st, fmt.Errorf("read LXD server info at %s: %w", c.endpoint, err)
	}
	st.Server = serverInfo(srv)

	projects, err := c.networkProjects(ctx)
	if err != nil {
		return st, err
	}

	// Networks, project by project (GetNetworksAllProjects needs an API
	// extension LXD 5.0 lacks).
	seen := map[fwdsync.NetworkRef]bool{}
	failed := 0
	for _, project := range projects {
		nets, err := c.networks(ctx, project)
		if err != nil {
			failed++
			c.log.Warn("cannot list LXD networks; its networks are left out of this pass",
				zap.String("project", project), zap.Error(err))
			continue
		}
		for _, n := range nets {
			if seen[n.Ref()] {
				continue
			}
			seen[n.Ref()] = true
			st.Networks = append(st.Networks, n)
		}
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	if failed == len(projects) {
		return st, fmt.Errorf("cannot list networks of any LXD project at %s (see log)", c.endpoint)
	}
	sort.Slice(st.Networks, func(i, j int) bool { return refLess(st.Networks[i].Ref(), st.Networks[j].Ref()) })

	// Forwards and load balancers, a few networks at a time.
	withLB := c.hasExtension("network_load_balancer")
	type result struct {
		forwards []fwdsync.Forward
		lbs      []fwdsync.ForwardKey
		ok       bool
		err      error
	}
	results := make([]result, len(st.Networks))
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(listWorkers, len(st.Networks)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				ref := st.Networks[i].Ref()
				fwds, err := c.forwards(ctx, ref)
				if err != nil {
					c.log.Warn("cannot list LXD network forwards; network marked incomplete",
						zap.String("project", ref.Project), zap.String("network", ref.Name), zap.Error(err))
					results[i].err = fmt.Errorf("listing its forwards: %w", err)
					continue
				}
				results[i].forwards = fwds
				if withLB {
					lbs, err := c.loadBalancers(ctx, ref)
					if err != nil {
						c.log.Warn("cannot list LXD network load balancers; network marked incomplete",
							zap.String("project", ref.Project), zap.String("network", ref.Name), zap.Error(err))
						results[i].err = fmt.Errorf("listing its load balancers: %w", err)
						continue
					}
					results[i].lbs = lbs
				}
				results[i].ok = true
			}
		}()
	}
	for i := range st.Networks {
		work <- i
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return st, err
	}

	for i, r := range results {
		st.Forwards = append(st.Forwards, r.forwards...)
		st.LoadBalancers = append(st.LoadBalancers, r.lbs...)
		if r.ok {
			st.Complete[st.Networks[i].Ref()] = true
		} else if r.err != nil {
			if st.ListErrors == nil {
				st.ListErrors = map[fwdsync.NetworkRef]string{}
			}
			st.ListErrors[st.Networks[i].Ref()] = r.err.Error()
		}
	}
	slices.SortFunc(st.Forwards, func(a, b fwdsync.Forward) int { return fwdsync.CompareKeys(a.Key(), b.Key()) })
	slices.SortFunc(st.LoadBalancers, fwdsync.CompareKeys)
	st.Instances = c.instanceNICs(ctx, projects)
	return st, nil
}

// networkProjects lists the projects that hold networks: "default" and every
// project with features.networks=true (the networks of the others live in
// "default").
func (c *Client) networkProjects(ctx context.Context) ([]string, error) {
	p, cancel := c.api(ctx, "")
	defer cancel()
	projects, err := p.GetProjects()
	if err != nil {
		return nil, fmt.Errorf("list LXD projects at %s: %w", c.endpoint, err)
	}
	names := []string{"default"}
	for _, pr := range projects {
		if pr.Name != "default" && pr.Config["features.networks"] == "true" {
			names = append(names, pr.Name)
		}
	}
	sort.Strings(names[1:])
	return names, nil
}

// networks lists the OVN networks of one project.
func (c *Client) networks(ctx context.Context, project string) ([]fwdsync.Network, error) {
	p, cancel := c.api(ctx, project)
	defer cancel()
	nets, err := p.GetNetworks()
	if err != nil {
		return nil, err
	}
	var out []fwdsync.Network
	for _, n := range nets {
		if n.Type != "ovn" {
			continue
		}
		out = append(out, convertNetwork(project, n))
	}
	return out, nil
}

func (c *Client) forwards(ctx context.Context, ref fwdsync.NetworkRef) ([]fwdsync.Forward, error) {
	p, cancel := c.api(ctx, ref.Project)
	defer cancel()
	fwds, err := p.GetNetworkForwards(ref.Name)
	if err != nil {
		return nil, err
	}
	out := make([]fwdsync.Forward, 0, len(fwds))
	for _, f := range fwds {
		out = append(out, convertForward(ref, f))
	}
	return out, nil
}

func (c *Client) loadBalancers(ctx context.Context, ref fwdsync.NetworkRef) ([]fwdsync.ForwardKey, error) {
	p, cancel := c.api(ctx, ref.Project)
	defer cancel()
	lbs, err := p.GetNetworkLoadBalancers(ref.Name)
	if err != nil {
		return nil, err
	}
	out := make([]fwdsync.ForwardKey, 0, len(lbs))
	for _, lb := range lbs {
		out = append(out, fwdsync.ForwardKey{Project: ref.Project, Network: ref.Name, ListenAddress: CanonicalIP(lb.ListenAddress)})
	}
	return out, nil
}

// Forward re-reads one forward. exists is false (with a nil error) when LXD
// answers 404 for it or its network.
func (c *Client) Forward(ctx context.Context, project, network, listen string) (*fwdsync.Forward, bool, error) {
	p, cancel := c.api(ctx, project)
	defer cancel()
	f, _, err := p.GetNetworkForward(network, listen)
	if isNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read LXD forward %s in network %s (project %s): %w", listen, network, project, err)
	}
	out := convertForward(fwdsync.NetworkRef{Project: project, Name: network}, *f)
	return &out, true, nil
}

// Network re-reads one network. exists is false (with a nil error) when LXD
// answers 404 or the network is not of type "ovn" (List leaves those out).
func (c *Client) Network(ctx context.Context, project, name string) (*fwdsync.Network, bool, error) {
	p, cancel := c.api(ctx, project)
	defer cancel()
	n, _, err := p.GetNetwork(name)
	if isNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read LXD network %s (project %s): %w", name, project, err)
	}
	if n.Type != "ovn" {
		return nil, false, nil
	}
	out := convertNetwork(project, *n)
	return &out, true, nil
}

// NetworkState returns the chassis holding the network's gateway
// (GET /1.0/networks/<name>/state, field ovn.chassis); "" when LXD does not
// report it.
func (c *Client) NetworkState(ctx context.Context, project, name string) (string, error) {
	p, cancel := c.api(ctx, project)
	defer cancel()
	st, err := p.GetNetworkState(name)
	if err != nil {
		return "", fmt.Errorf("read LXD network state of %s (project %s): %w", name, project, err)
	}
	if st.OVN == nil {
		return "", nil
	}
	return st.OVN.Chassis, nil
}

// Member is one LXD cluster member.
// Members lists the cluster members. A server that is not clustered returns
// one member named after the server.
func (c *Client) Members(ctx context.Context) ([]fwdsync.Member, error) {
	s := c.cachedServer()
	if s == nil || !s.Environment.ServerClustered {
		var err error
		if s, err = c.refreshServer(ctx); err != nil {
			return nil, fmt.Errorf("read LXD server info at %s: %w", c.endpoint, err)
		}
	}
	if !s.Environment.ServerClustered {
		return []fwdsync.Member{{Name: s.Environment.ServerName, Status: "Online"}}, nil
	}
	p, cancel := c.api(ctx, "")
	defer cancel()
	ms, err := p.GetClusterMembers()
	if err != nil {
		return nil, fmt.Errorf("list LXD cluster members at %s: %w", c.endpoint, err)
	}
	out := make([]fwdsync.Member, 0, len(ms))
	for i, m := range ms {
		out = append(out, fwdsync.Member{Name: m.ServerName, Roles: m.Roles, Status: m.Status, ID: int64(i),
			Published: published(m.Config)})
	}
	return out, nil
}

// MemberKeyPrefix prefixes the cluster member config keys (LXD's free-form
// user.* namespace) in which each member's ovnfwd publishes itself.
const MemberKeyPrefix = "user.ovnfwd."

// published returns a member's user.ovnfwd.* keys, without the prefix.
func published(cfg map[string]string) map[string]string {
	var out map[string]string
	for k, v := range cfg {
		if name, ok := strings.CutPrefix(k, MemberKeyPrefix); ok {
			if out == nil {
				out = map[string]string{}
			}
			out[name] = v
		}
	}
	return out
}

// Publish writes kv (names without the user.ovnfwd. prefix) into this
// member's cluster member config, so that the other members' ovnfwd read it
// from LXD: its chassis, version and policy. It changes nothing when the
// values are already there, keeps every other key, and does nothing on a
// server that is not clustered (member is then ""). It returns this
// server's member name.
func (c *Client) Publish(ctx context.Context, kv map[string]string) (member string, err error) {
	s, err := c.refreshServer(ctx)
	if err != nil {
		return "", fmt.Errorf("read LXD server info at %s: %w", c.endpoint, err)
	}
	if !s.Environment.ServerClustered {
		return "", nil
	}
	name := s.Environment.ServerName
	p, cancel := c.api(ctx, "")
	defer cancel()
	m, etag, err := p.GetClusterMember(name)
	if err != nil {
		return name, fmt.Errorf("read LXD cluster member %s: %w", name, err)
	}
	put := m.Writable()
	if put.Config == nil {
		put.Config = map[string]string{}
	}
	changed := false
	for k, v := range kv {
		if put.Config[MemberKeyPrefix+k] != v {
			put.Config[MemberKeyPrefix+k] = v
			changed = true
		}
	}
	if !changed {
		return name, nil
	}
	if err := p.UpdateClusterMember(name, put, etag); err != nil {
		return name, fmt.Errorf("publish ovnfwd's %s keys on LXD cluster member %s: %w", MemberKeyPrefix+"*", name, err)
	}
	return name, nil
}

func convertNetwork(project string, n api.Network) fwdsync.Network {
	cfg := make(map[string]string, len(n.Config))
	for k, v := range n.Config {
		cfg[k] = v
	}
	return fwdsync.Network{Project: project, Name: n.Name, Config: cfg}
}

func convertForward(ref fwdsync.NetworkRef, f api.NetworkForward) fwdsync.Forward {
	out := fwdsync.Forward{
		Project:       ref.Project,
		Network:       ref.Name,
		ListenAddress: CanonicalIP(f.ListenAddress),
		DefaultTarget: f.Config["target_address"],
		Ports:         make([]fwdsync.ForwardPort, 0, len(f.Ports)),
		Location:      f.Location,
	}
	for _, p := range f.Ports {
		out.Ports = append(out.Ports, fwdsync.ForwardPort{
			Protocol:      p.Protocol,
			ListenPort:    p.ListenPort,
			TargetAddress: p.TargetAddress,
			TargetPort:    p.TargetPort,
			Description:   p.Description,
		})
	}
	return out
}

// CanonicalIP returns addr in net.IP.String() form, or addr unchanged when it
// is not an IP address.
func CanonicalIP(addr string) string {
	ip := net.ParseIP(strings.TrimSpace(addr))
	if ip == nil {
		return addr
	}
	return ip.String()
}

func isNotFound(err error) bool {
	return err != nil && api.StatusErrorCheck(err, http.StatusNotFound)
}

func refLess(a, b fwdsync.NetworkRef) bool {
	if a.Project != b.Project {
		return a.Project < b.Project
	}
	return a.Name < b.Name
}
