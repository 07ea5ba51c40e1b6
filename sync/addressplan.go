package sync

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Address plan: where a forward's listen address may come from on its
// uplink (lxd-ovn-facts.md §2). LXD checks these rules only when a forward
// is created through its API; a forward that predates a change of the
// uplink, or that was written into LXD's database, can break them. None is
// repaired automatically: each finding names the object and the fix.

// Address plan findings (categories are a contract, see types.go).
const (
	// CatListenOutsideRoutes: the listen address is in none of the
	// uplink's ipv4.routes / ipv6.routes, the only subnets LXD takes
	// forward listen addresses from (ipv4.ovn.ranges is not one of them:
	// LXD allocates the OVN routers' uplink addresses from it). Judged only
	// when the uplink's config was read.
	CatListenOutsideRoutes Category = "listen-outside-routes"
	// CatListenIsInstanceAddress: the listen address is an address already
	// in use on the network: an instance NIC's configured address, the
	// network's router address (its internal ipv4.address / ipv6.address,
	// or another network's uplink address volatile.network.ipv4.address /
	// ipv6.address on the same uplink), or inside the uplink's
	// ipv4.ovn.ranges / ipv6.ovn.ranges (router uplink addresses, the
	// network's own excepted, as LXD allows it).
	CatListenIsInstanceAddress Category = "listen-is-instance-address"
	// CatListenOverlap: another network's forward, or a network load
	// balancer, on the same uplink has the same listen address.
	CatListenOverlap Category = "listen-overlap"
	// CatForwardHasLocation: an OVN network forward carries a cluster
	// member (LXD's location): OVN forwards are network-wide, so it came
	// through LXD's database.
	CatForwardHasLocation Category = "forward-has-location"
)

// InstanceNIC is the configured address of one instance NIC on an LXD
// network (the NIC's ipv4.address or ipv6.address, from the instance's
// expanded devices).
type InstanceNIC struct {
	// Project is the instance's project, Instance its name, Device the
	// NIC's device name (eth0).
	Project  string
	Instance string
	Device   string
	// Network is the network the NIC is on (in the project that holds
	// the instance project's networks).
	Network NetworkRef
	// Key is the config key the address comes from: "ipv4.address" or
	// "ipv6.address".
	Key string
	// Address is in canonical form.
	Address string
	// ACLs is the NIC's security.acls (comma-separated names), for explain.
	ACLs string
}

// AddressInput is what the address plan is judged from.
type AddressInput struct {
	// Networks are LXD's OVN networks, Forwards and LoadBalancers their
	// forwards and load balancers (LXDState).
	Networks      []Network
	Forwards      []Forward
	LoadBalancers []ForwardKey
	// Instances are the instance NIC addresses (LXDState.Instances).
	Instances []InstanceNIC
	// Uplinks holds the config of uplink networks (default project) by
	// name; an uplink that is missing is unknown, and the rules that need
	// its config are not judged for its networks.
	Uplinks map[string]map[string]string
}

// AddressFindings judges every forward's listen address against its
// uplink's address plan: listen-outside-routes, listen-is-instance-address,
// listen-overlap and forward-has-location (see their categories). Findings
// are keyed by the forward; they are sorted.
func AddressFindings(in AddressInput) []Finding {
	nets := make(map[NetworkRef]Network, len(in.Networks))
	for _, n := range in.Networks {
		nets[n.Ref()] = n
	}
	uplinkOf := func(ref NetworkRef) string {
		return strings.TrimSpace(nets[ref].Config["network"])
	}

	// Who uses which address on which uplink: forwards and load balancers
	// (listen-overlap), router uplink addresses (listen-is-instance-address).
	type user struct {
		key  ForwardKey
		lb   bool
		what string
	}
	type upAddr struct {
		uplink string
		addr   netip.Addr
	}
	users := map[upAddr][]user{}
	for _, f := range in.Forwards {
		if a, ok := parseHostAddr(f.ListenAddress); ok {
			ua := upAddr{uplinkOf(NetworkRef{Project: f.Project, Name: f.Network}), a}
			users[ua] = append(users[ua], user{key: f.Key(), what: "forward"})
		}
	}
	for _, k := range in.LoadBalancers {
		if a, ok := parseHostAddr(k.ListenAddress); ok {
			ua := upAddr{uplinkOf(NetworkRef{Project: k.Project, Name: k.Network}), a}
			users[ua] = append(users[ua], user{key: k, lb: true, what: "load balancer"})
		}
	}
	routers := map[upAddr][]string{} // uplink address → "key of network"
	for _, n := range in.Networks {
		up := strings.TrimSpace(n.Config["network"])
		for _, key := range []string{"volatile.network.ipv4.address", "volatile.network.ipv6.address"} {
			if a, ok := parseAddrMaybeCIDR(n.Config[key]); ok {
				ua := upAddr{up, a}
				routers[ua] = append(routers[ua], key+" of network "+netName(n.Ref()))
			}
		}
	}
	nics := map[NetworkRef]map[netip.Addr][]InstanceNIC{}
	for _, nic := range in.Instances {
		a, ok := parseAddrMaybeCIDR(nic.Address)
		if !ok {
			continue
		}
		if nics[nic.Network] == nil {
			nics[nic.Network] = map[netip.Addr][]InstanceNIC{}
		}
		nics[nic.Network][a] = append(nics[nic.Network][a], nic)
	}

	var out []Finding
	for _, f := range in.Forwards {
		ref := NetworkRef{Project: f.Project, Name: f.Network}
		n, known := nets[ref]
		if !known {
			continue
		}
		k := f.Key()
		name := netName(ref)
		uplink := uplinkOf(ref)

		if loc := strings.TrimSpace(f.Location); loc != "" {
			out = append(out, Finding{
				Key: k, Category: CatForwardHasLocation, Severity: SeverityWarning,
				Detail: fmt.Sprintf("forward %s of OVN network %s carries cluster member location %q: OVN forwards are network-wide and LXD creates them without a member, so this one came through LXD's database; LXD's unique index (network, member, listen address) then admits another forward with the same listen address on another member, which LXD and ovnfwd cannot tell apart",
					f.ListenAddress, name, loc),
				Repair: fmt.Sprintf("none automatic: clear the member (lxd sql global \"UPDATE networks_forwards SET node_id=NULL WHERE listen_address='%s' AND network_id=(SELECT networks.id FROM networks JOIN projects ON projects.id=networks.project_id WHERE networks.name='%s' AND projects.name='%s')\"), or delete the forward and create it again without --target",
					f.ListenAddress, ref.Name, projectOrDefault(ref.Project)),
			})
		}

		addr, ok := parseHostAddr(f.ListenAddress)
		if !ok {
			continue // bad-forward
		}
		fam, suffix := "ipv4", "/32"
		if addr.Is6() {
			fam, suffix = "ipv6", "/128"
		}
		cfg, uplinkKnown := in.Uplinks[uplink]

		// listen-outside-routes
		if uplink != "" && uplinkKnown {
			routesKey := fam + ".routes"
			routes := splitList(cfg[routesKey])
			inside := false
			for _, r := range routes {
				if p, err := netip.ParsePrefix(r); err == nil && p.Masked().Contains(addr) {
					inside = true
					break
				}
			}
			if !inside {
				has := "has no " + routesKey
				set := addr.String() + suffix
				if len(routes) > 0 {
					has = "has " + routesKey + "=" + strings.Join(routes, ",")
					set = strings.Join(routes, ",") + "," + set
				}
				if other := splitList(cfg[otherFamily(fam)+".routes"]); len(other) > 0 {
					has += " (and " + otherFamily(fam) + ".routes=" + strings.Join(other, ",") + ")"
				}
				out = append(out, Finding{
					Key: k, Category: CatListenOutsideRoutes, Severity: SeverityError,
					Detail: fmt.Sprintf("listen address %s of network %s is in none of uplink %s's %s: uplink %s %s; LXD takes listen addresses only from them (it refuses this one for a new forward), so the forward predates a change of the uplink or came through LXD's database, and the uplink's upstream need not route it to the OVN router",
						f.ListenAddress, name, uplink, routesKey, uplink, has),
					Repair: fmt.Sprintf("none automatic: add it to the uplink's routes (lxc network set %s %s=%s), or move the forward to a listen address inside them (lxc network forward delete %s %s, then create it there)",
						uplink, routesKey, set, ref.Name, f.ListenAddress),
				})
			}
		}

		// listen-is-instance-address
		var uses []string
		for _, nic := range nics[ref][addr] {
			uses = append(uses, fmt.Sprintf("the %s of NIC %s of instance %s (project %s)", nic.Key, nic.Device, nic.Instance, projectOrDefault(nic.Project)))
		}
		if gw, ok := parseAddrMaybeCIDR(n.Config[fam+".address"]); ok && gw == addr {
			uses = append(uses, fmt.Sprintf("the router's address on network %s (%s.address=%s)", name, fam, n.Config[fam+".address"]))
		}
		own := ""
		if a, ok := parseAddrMaybeCIDR(n.Config["volatile.network."+fam+".address"]); ok && a == addr {
			own = "volatile.network." + fam + ".address of network " + name
		}
		routerUse := false
		for _, r := range routers[upAddr{uplink, addr}] {
			if r != own {
				uses = append(uses, "the router uplink address "+r)
				routerUse = true
			}
		}
		if uplinkKnown && !routerUse && own == "" {
			rangesKey := fam + ".ovn.ranges"
			if r, ok := inRanges(cfg[rangesKey], addr); ok {
				uses = append(uses, fmt.Sprintf("inside uplink %s's %s (%s), from which LXD allocates OVN routers' uplink addresses", uplink, rangesKey, r))
			}
		}
		if len(uses) > 0 {
			out = append(out, Finding{
				Key: k, Category: CatListenIsInstanceAddress, Severity: SeverityError,
				Detail: fmt.Sprintf("listen address %s of network %s is %s: the forward's load balancer takes that address's traffic (for its ports) away from what owns it",
					f.ListenAddress, name, strings.Join(uses, ", and ")),
				Repair: fmt.Sprintf("none automatic: move the forward to a free listen address inside uplink %s's %s.routes (lxc network forward delete %s %s, then create it there), or give the instance (router) another address",
					uplink, fam, ref.Name, f.ListenAddress),
			})
		}

		// listen-overlap
		if uplink != "" {
			var others []string
			for _, u := range users[upAddr{uplink, addr}] {
				if !u.lb && u.key == k {
					continue
				}
				others = append(others, u.what+" "+u.key.ListenAddress+" of network "+netName(NetworkRef{Project: u.key.Project, Name: u.key.Network}))
			}
			if len(others) > 0 {
				slices.Sort(others)
				out = append(out, Finding{
					Key: k, Category: CatListenOverlap, Severity: SeverityWarning,
					Detail: fmt.Sprintf("listen address %s of network %s on uplink %s is also the listen address of %s: one uplink address, several OVN routers (or load balancers) answering for it; which one the uplink reaches depends on who answered last",
						f.ListenAddress, name, uplink, strings.Join(others, ", ")),
					Repair: fmt.Sprintf("none automatic: keep the address on one network only (lxc network forward delete %s %s, or delete the other forward or load balancer)",
						ref.Name, f.ListenAddress),
				})
			}
		}
	}
	sortFindings(out)
	return out
}

// netName is "project/name".
func netName(ref NetworkRef) string { return projectOrDefault(ref.Project) + "/" + ref.Name }

func otherFamily(fam string) string {
	if fam == "ipv4" {
		return "ipv6"
	}
	return "ipv4"
}

// splitList splits LXD's comma-separated list values.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// inRanges reports whether addr is in one of LXD's IP ranges
// ("10.0.0.100-10.0.0.254,10.0.1.5"), and which.
func inRanges(v string, addr netip.Addr) (string, bool) {
	for _, r := range splitList(v) {
		lo, hi, isRange := strings.Cut(r, "-")
		a, err := netip.ParseAddr(strings.TrimSpace(lo))
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = netip.ParseAddr(strings.TrimSpace(hi)); err != nil {
				continue
			}
		}
		a, b = a.Unmap(), b.Unmap()
		if a.BitLen() == addr.BitLen() && a.Compare(addr) <= 0 && addr.Compare(b) <= 0 {
			return r, true
		}
	}
	return "", false
}
