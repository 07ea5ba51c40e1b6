package sync

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Mapping ties one LXD network to its OVN objects. The network's numeric ID
// is not in the REST API, so the prefix is found through addresses: the
// uplink address (volatile.network.ipv4/ipv6.address) sits on
// <prefix>-lr-lrp-ext and the internal gateway address (ipv4/ipv6.address) on
// <prefix>-lr-lrp-int. One address of each kind must match (either family).
type Mapping struct {
	Network NetworkRef
	// Prefix is "lxd-net<ID>" / "incus-net<ID>"; empty when Err is set.
	Prefix string
	// RouterUUID / RouterName: <prefix>-lr.
	RouterUUID, RouterName string
	// IntSwitchUUID / IntSwitchName: <prefix>-ls-int.
	IntSwitchUUID, IntSwitchName string
	// ExtPort / IntPort: names of <prefix>-lr-lrp-ext / <prefix>-lr-lrp-int.
	ExtPort, IntPort string
	// Subnets are the subnets of every port of the router, sorted.
	Subnets []netip.Prefix
	// Err says why the network maps to no unique prefix; the network's
	// forwards are then left alone.
	Err string
}

// OK reports whether the network mapped to exactly one prefix.
func (m Mapping) OK() bool { return m.Err == "" }

// prefixPorts are the addresses on the gateway ports of one prefix.
type prefixPorts struct {
	ext, internal []netip.Addr
}

// MapNetworks maps each network to the one prefix whose gateway ports carry
// its addresses. Zero or several matching prefixes, a prefix matching several
// networks, or a missing <prefix>-lr / <prefix>-ls-int give a Mapping with Err
// set: the mapping never guesses.
func MapNetworks(r Rules, nets []Network, idx *NBIndex) map[NetworkRef]Mapping {
	ports := make(map[string]*prefixPorts)
	for name, p := range idx.PortByName {
		var prefix string
		var ext bool
		switch {
		case strings.HasSuffix(name, "-lr-lrp-ext"):
			prefix, ext = strings.TrimSuffix(name, "-lr-lrp-ext"), true
		case strings.HasSuffix(name, "-lr-lrp-int"):
			prefix = strings.TrimSuffix(name, "-lr-lrp-int")
		default:
			continue
		}
		if !isNetworkPrefix(r.Prefix, prefix) {
			continue
		}
		pp := ports[prefix]
		if pp == nil {
			pp = &prefixPorts{}
			ports[prefix] = pp
		}
		for _, n := range p.Networks {
			a, ok := parseAddrMaybeCIDR(n)
			if !ok {
				continue
			}
			if ext {
				pp.ext = append(pp.ext, a)
			} else {
				pp.internal = append(pp.internal, a)
			}
		}
	}
	byExt := make(map[netip.Addr][]string)
	for prefix, pp := range ports {
		for _, a := range pp.ext {
			byExt[a] = append(byExt[a], prefix)
		}
	}

	out := make(map[NetworkRef]Mapping, len(nets))
	users := make(map[string][]NetworkRef)
	for _, n := range nets {
		m := mapNetwork(r, n, idx, ports, byExt)
		out[n.Ref()] = m
		if m.OK() {
			users[m.Prefix] = append(users[m.Prefix], n.Ref())
		}
	}
	for prefix, refs := range users {
		if len(refs) < 2 {
			continue
		}
		slices.SortFunc(refs, compareNetworkRef)
		names := make([]string, len(refs))
		for i, ref := range refs {
			names[i] = ref.Project + "/" + ref.Name
		}
		for _, ref := range refs {
			out[ref] = Mapping{Network: ref, Err: fmt.Sprintf("prefix %s matches several LXD networks (%s)", prefix, strings.Join(names, ", "))}
		}
	}
	return out
}

// mapNetwork finds the prefix of one network.
func mapNetwork(r Rules, n Network, idx *NBIndex, ports map[string]*prefixPorts, byExt map[netip.Addr][]string) Mapping {
	m := Mapping{Network: n.Ref()}
	var ext, internal []netip.Addr
	for _, key := range []string{"volatile.network.ipv4.address", "volatile.network.ipv6.address"} {
		v := strings.TrimSpace(n.Config[key])
		if v == "" || v == "none" {
			continue
		}
		a, ok := parseAddrMaybeCIDR(v)
		if !ok {
			m.Err = fmt.Sprintf("cannot parse %s %q", key, v)
			return m
		}
		ext = append(ext, a)
	}
	for _, key := range []string{"ipv4.address", "ipv6.address"} {
		v := strings.TrimSpace(n.Config[key])
		if v == "" || v == "none" {
			continue
		}
		a, ok := parseAddrMaybeCIDR(v)
		if !ok {
			m.Err = fmt.Sprintf("cannot parse %s %q", key, v)
			return m
		}
		internal = append(internal, a)
	}
	if len(ext) == 0 {
		m.Err = "network has no volatile.network.ipv4.address or volatile.network.ipv6.address to find its OVN router by"
		return m
	}

	// A candidate carries one of the uplink addresses on its -lrp-ext and,
	// when the network has internal addresses, one of them on its -lrp-int.
	// Any rather than all keeps a network mapped through a stale volatile
	// address of one family; ambiguity is still refused below.
	var candidates []string
	for _, a := range ext {
		for _, prefix := range byExt[a] {
			pp := ports[prefix]
			if (len(internal) == 0 || containsAny(pp.internal, internal)) && !slices.Contains(candidates, prefix) {
				candidates = append(candidates, prefix)
			}
		}
	}
	slices.Sort(candidates)
	looked := fmt.Sprintf("%s<N>-lr-lrp-ext carrying %s", r.Prefix, joinAddrs(ext))
	if len(internal) > 0 {
		looked += fmt.Sprintf(" with %s<N>-lr-lrp-int carrying %s", r.Prefix, joinAddrs(internal))
	}
	switch len(candidates) {
	case 0:
		m.Err = "no OVN prefix found: looked for " + looked
		return m
	case 1:
	default:
		m.Err = fmt.Sprintf("ambiguous OVN prefix: %s all match %s", strings.Join(candidates, ", "), looked)
		return m
	}

	prefix := candidates[0]
	routerName, switchName := prefix+"-lr", prefix+"-ls-int"
	router, sw := idx.RouterByName[routerName], idx.SwitchByName[switchName]
	switch {
	case router == nil:
		m.Err = fmt.Sprintf("prefix %s matches but Logical_Router %s is missing", prefix, routerName)
		return m
	case idx.RouterNames[routerName] > 1:
		m.Err = fmt.Sprintf("prefix %s matches but %d Logical_Router rows are named %s", prefix, idx.RouterNames[routerName], routerName)
		return m
	case sw == nil:
		m.Err = fmt.Sprintf("prefix %s matches but Logical_Switch %s is missing", prefix, switchName)
		return m
	case idx.SwitchNames[switchName] > 1:
		m.Err = fmt.Sprintf("prefix %s matches but %d Logical_Switch rows are named %s", prefix, idx.SwitchNames[switchName], switchName)
		return m
	}
	m.Prefix = prefix
	m.RouterUUID, m.RouterName = router.UUID, router.Name
	m.IntSwitchUUID, m.IntSwitchName = sw.UUID, sw.Name
	m.ExtPort, m.IntPort = prefix+"-lr-lrp-ext", prefix+"-lr-lrp-int"
	m.Subnets = routerSubnets(router, idx, m.ExtPort, m.IntPort)
	return m
}

// routerSubnets returns the subnets of every port of router (and of the named
// gateway ports, should the router's port list be incomplete), sorted.
func routerSubnets(router *NBRouter, idx *NBIndex, extra ...string) []netip.Prefix {
	var lrps []*NBRouterPort
	for _, uuid := range router.Ports {
		if p := idx.PortByUUID[uuid]; p != nil {
			lrps = append(lrps, p)
		}
	}
	for _, name := range extra {
		if p := idx.PortByName[name]; p != nil {
			lrps = append(lrps, p)
		}
	}
	seen := make(map[netip.Prefix]bool)
	var out []netip.Prefix
	for _, p := range lrps {
		for _, n := range p.Networks {
			pfx, err := netip.ParsePrefix(strings.TrimSpace(n))
			if err != nil {
				continue
			}
			pfx = pfx.Masked()
			if !seen[pfx] {
				seen[pfx] = true
				out = append(out, pfx)
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out
}

// isNetworkPrefix reports whether s is family followed by one or more digits
// ("lxd-net12").
func isNetworkPrefix(family, s string) bool {
	digits, ok := strings.CutPrefix(s, family)
	if !ok || digits == "" {
		return false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return false
		}
	}
	return true
}

// parseAddrMaybeCIDR parses "10.0.0.1" or "10.0.0.1/24" into the address.
func parseAddrMaybeCIDR(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Addr{}, false
		}
		return p.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func containsAny(have, want []netip.Addr) bool {
	for _, a := range want {
		if slices.Contains(have, a) {
			return true
		}
	}
	return false
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, " or ")
}

func compareNetworkRef(a, b NetworkRef) int {
	if c := strings.Compare(a.Project, b.Project); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}
