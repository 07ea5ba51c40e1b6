package sync

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Route state: how the uplink reaches a forward's listen address (lxd-ovn-facts.md §2,
// ovn-failover-facts.md §1–2). On an l2proxy uplink the active gateway answers
// ARP/ND for the VIP (neighbor_responder, see desired.go); on a routed uplink
// this ovnfwd instance announces a host route per VIP over BGP, but only while
// its own chassis holds the network's gateway port cr-<prefix>-lr-lrp-ext.

// Route findings (categories are a contract, see types.go).
const (
	// CatVIPUnanswered: the listen address is outside every subnet of the
	// network's router and its rows do not ask for neighbor_responder=all,
	// so no chassis answers ARP/ND for it; after the few GARPs that follow
	// a claim the uplink loses it.
	CatVIPUnanswered Category = "vip-unanswered"
	// CatLXDBGPAlsoAnnounces: the uplink has BGP peers (bgp.peers.<name>.
	// address and .asn), so LXD's own BGP speaker announces the network's
	// forwards from every member; announcing only from the active chassis
	// is then ineffective. Judged only where ovnfwd announces (a route
	// policy is given): without ovnfwd's BGP, LXD's speaker is how the
	// forwards are announced, which is no finding.
	CatLXDBGPAlsoAnnounces Category = "lxd-bgp-also-announces"
	// CatRouteNoNextHop: next-hop mode "router" but the network has no
	// uplink address of the VIP's family: no member announces the VIP.
	CatRouteNoNextHop Category = "route-no-next-hop"
)

// Next-hop modes of RoutePolicy.
const (
	// NextHopRouter: the OVN router's uplink address,
	// volatile.network.ipv4.address / volatile.network.ipv6.address.
	NextHopRouter = "router"
	// NextHopSelf: the BGP session's local address (the speaker fills it in).
	NextHopSelf = "self"
)

// RoutePolicy is what one ovnfwd instance announces.
type RoutePolicy struct {
	// Chassis is this member's OVN chassis name (its OVS
	// external_ids:system-id): only networks whose gateway port it holds
	// are announced.
	Chassis string
	// NextHop is NextHopRouter (default when "") or NextHopSelf.
	NextHop string
	// Communities are attached to every route: "ASN:VALUE" (standard),
	// "A:B:C" (large) or a well-known name (no-export, no-advertise,
	// no-export-subconfed, blackhole, graceful-shutdown).
	Communities []string
	// MED, when set, is the MULTI_EXIT_DISC of every route.
	MED *uint32
	// Networks limits the announced networks: "project/name", or "name" for
	// the default project. Empty: every network.
	Networks []string
	// Uplinks limits the announced networks to those on these uplinks
	// (LXD network config "network"). Empty: every uplink.
	Uplinks []string
}

// Validate checks the policy's values.
func (p RoutePolicy) Validate() error {
	if strings.TrimSpace(p.Chassis) == "" {
		return fmt.Errorf("no chassis name: announcements follow the gateway claims of one chassis")
	}
	return p.validateShape()
}

// validateShape checks everything but the chassis: what RouteFindings
// needs, which judges for every member at once.
func (p RoutePolicy) validateShape() error {
	switch p.NextHop {
	case "", NextHopRouter, NextHopSelf:
	default:
		return fmt.Errorf("unknown next-hop mode %q (want router or self)", p.NextHop)
	}
	for _, c := range p.Communities {
		if _, err := ParseCommunity(c); err != nil {
			return err
		}
	}
	return nil
}

// Community is one parsed BGP community.
type Community struct {
	// Large is set for an RFC 8092 large community (Global:Local1:Local2).
	Large bool
	// Value is a standard community (ASN<<16 | value).
	Value uint32
	// Global, Local1, Local2 are the parts of a large community.
	Global, Local1, Local2 uint32
}

var wellKnownCommunities = map[string]uint32{
	"graceful-shutdown":   0xFFFF0000,
	"blackhole":           0xFFFF029A,
	"no-export":           0xFFFFFF01,
	"no-advertise":        0xFFFFFF02,
	"no-export-subconfed": 0xFFFFFF03,
}

// ParseCommunity parses "65000:100", "65000:1:2" or a well-known name.
func ParseCommunity(s string) (Community, error) {
	s = strings.TrimSpace(s)
	if v, ok := wellKnownCommunities[strings.ToLower(s)]; ok {
		return Community{Value: v}, nil
	}
	parts := strings.Split(s, ":")
	bad := func() (Community, error) {
		return Community{}, fmt.Errorf("invalid BGP community %q (want ASN:VALUE, GLOBAL:LOCAL1:LOCAL2 or a well-known name)", s)
	}
	switch len(parts) {
	case 2:
		hi, err1 := strconv.ParseUint(parts[0], 10, 16)
		lo, err2 := strconv.ParseUint(parts[1], 10, 16)
		if err1 != nil || err2 != nil {
			return bad()
		}
		return Community{Value: uint32(hi)<<16 | uint32(lo)}, nil
	case 3:
		var v [3]uint32
		for i, p := range parts {
			n, err := strconv.ParseUint(p, 10, 32)
			if err != nil {
				return bad()
			}
			v[i] = uint32(n)
		}
		return Community{Large: true, Global: v[0], Local1: v[1], Local2: v[2]}, nil
	}
	return bad()
}

// String prints the community in its canonical form.
func (c Community) String() string {
	if c.Large {
		return fmt.Sprintf("%d:%d:%d", c.Global, c.Local1, c.Local2)
	}
	return fmt.Sprintf("%d:%d", c.Value>>16, c.Value&0xFFFF)
}

// RouteInput is what route state is computed from: the plan's view of LXD
// and NB, the uplinks' config and the SB claims.
type RouteInput struct {
	// Desired are the planned forwards (Result.Desired): a forward that
	// cannot be translated into rows is not announced.
	Desired map[ForwardKey]DesiredForward
	// Mappings are the networks' OVN prefixes (Result.Mappings).
	Mappings map[NetworkRef]Mapping
	// Networks are LXD's OVN networks (for the uplink name and the
	// router's uplink addresses).
	Networks []Network
	// Uplinks holds the config of uplink networks (default project) by
	// name; a missing uplink is treated as having no BGP config.
	Uplinks map[string]map[string]string
	// SB provides the gateway claims (chassisredirect Port_Bindings).
	SB SBState
	// Settling holds gateway ports this chassis has held for less than the
	// caller's announce delay: not announced yet (the caller measures the
	// time; a holder that lasts a few ms during pre-emption never is).
	Settling map[string]bool
}

// Route is one host route to announce.
type Route struct {
	// Prefix is the listen address as a /32 or /128.
	Prefix netip.Prefix
	// NextHop is the router's uplink address; invalid (zero) for
	// NextHopSelf.
	NextHop     netip.Addr
	Communities []Community
	MED         *uint32
	// Network and Gateway say where the route comes from.
	Network NetworkRef
	Gateway string
}

// Equal reports whether two routes announce the same thing.
func (r Route) Equal(o Route) bool {
	return r.Prefix == o.Prefix && r.NextHop == o.NextHop &&
		slices.Equal(r.Communities, o.Communities) &&
		((r.MED == nil && o.MED == nil) || (r.MED != nil && o.MED != nil && *r.MED == *o.MED))
}

// RouteNetwork is the route state of one network.
type RouteNetwork struct {
	Network NetworkRef
	Uplink  string
	// Prefix is the network's OVN prefix ("" when unmapped).
	Prefix string
	// Gateway is the network's gateway port, Holder the chassis that
	// claims it ("" when nobody does).
	Gateway, Holder string
	// Announced: this instance's chassis holds the gateway and the
	// network's VIPs are announced.
	Announced bool
	// Routes counts the routes announced for the network.
	Routes int
	// Reason says why the network is (not) announced.
	Reason string
}

// RouteResult is the route state of one instance.
type RouteResult struct {
	// Routes are sorted by prefix; a prefix appears once.
	Routes   []Route
	Networks []RouteNetwork
	Findings []Finding
}

// Routes computes the routes this instance must announce: a /32 or /128 per
// listen address of every planned forward of every network in scope whose
// gateway port cr-<prefix>-lr-lrp-ext is claimed by p.Chassis, with the
// next hop of p.NextHop. Its findings are RouteFindings' for the same
// input, whoever holds the gateways.
func Routes(p RoutePolicy, in RouteInput) (RouteResult, error) {
	var out RouteResult
	if err := p.Validate(); err != nil {
		return out, err
	}
	comms := make([]Community, 0, len(p.Communities))
	for _, c := range p.Communities {
		cm, _ := ParseCommunity(c) // validated
		if !slices.Contains(comms, cm) {
			comms = append(comms, cm)
		}
	}
	if len(comms) == 0 {
		comms = nil
	}
	var med *uint32
	if p.MED != nil {
		v := *p.MED
		med = &v
	}

	holders := GatewayHolders(in.SB)
	vips := make(map[NetworkRef][]ForwardKey)
	for k := range in.Desired {
		ref := NetworkRef{Project: k.Project, Name: k.Network}
		vips[ref] = append(vips[ref], k)
	}

	nets := slices.Clone(in.Networks)
	slices.SortFunc(nets, func(a, b Network) int { return compareNetworkRef(a.Ref(), b.Ref()) })
	seen := make(map[netip.Prefix]bool)
	for _, n := range nets {
		ref := n.Ref()
		uplink := strings.TrimSpace(n.Config["network"])
		if !p.networkInScope(ref, uplink) {
			continue
		}
		rn := RouteNetwork{Network: ref, Uplink: uplink}
		m, ok := in.Mappings[ref]
		if !ok || !m.OK() {
			rn.Reason = "network is not mapped to an OVN prefix"
			if ok {
				rn.Reason += ": " + m.Err
			}
			out.Networks = append(out.Networks, rn)
			continue
		}
		rn.Prefix = m.Prefix
		rn.Gateway = GatewayPort(m.Prefix)
		rn.Holder = holders[rn.Gateway]
		keys := vips[ref]
		slices.SortFunc(keys, CompareKeys)

		switch {
		case rn.Holder == "":
			rn.Reason = "no chassis holds " + rn.Gateway
		case rn.Holder != p.Chassis:
			rn.Reason = "gateway " + rn.Gateway + " is held by " + rn.Holder
		case in.Settling[rn.Gateway]:
			rn.Reason = "gateway " + rn.Gateway + " was claimed by this chassis moments ago: announcing once the claim lasts"
		default:
			rn.Announced = true
			rn.Reason = "gateway " + rn.Gateway + " is held by this chassis"
		}
		if !rn.Announced {
			out.Networks = append(out.Networks, rn)
			continue
		}

		for _, k := range keys {
			addr, ok := parseHostAddr(k.ListenAddress)
			if !ok {
				continue
			}
			r := Route{Prefix: netip.PrefixFrom(addr, addr.BitLen()), Communities: comms, MED: med, Network: ref, Gateway: rn.Gateway}
			if p.NextHop != NextHopSelf {
				nh, ok := routerNextHop(n, addr.Is4())
				if !ok {
					continue // route-no-next-hop, reported by networkFindings
				}
				r.NextHop = nh
			}
			if seen[r.Prefix] {
				// Two networks with one listen address (only possible on
				// different uplinks): the first network by name wins.
				continue
			}
			seen[r.Prefix] = true
			out.Routes = append(out.Routes, r)
			rn.Routes++
		}
		out.Networks = append(out.Networks, rn)
	}
	slices.SortFunc(out.Routes, func(a, b Route) int { return comparePrefix(a.Prefix, b.Prefix) })
	out.Findings, _ = RouteFindings(p, in) // the policy is valid
	return out, nil
}

// RouteFindings reports what keeps the route policy from working, for every
// mapped network in p's scope whatever chassis holds its gateway (so
// p.Chassis may be empty, and in.SB and in.Settling are not used):
//
//   - CatLXDBGPAlsoAnnounces: the network has planned forwards and its
//     uplink (in.Uplinks) has bgp.peers.* keys;
//   - CatRouteNoNextHop: next-hop mode router and planned forwards of a
//     family for which the network has no uplink address.
//
// `ovnfwd check` and `status` judge with it, without announcing anything;
// Routes reports exactly these findings too.
func RouteFindings(p RoutePolicy, in RouteInput) ([]Finding, error) {
	if err := p.validateShape(); err != nil {
		return nil, err
	}
	vips := make(map[NetworkRef][]ForwardKey)
	for k := range in.Desired {
		ref := NetworkRef{Project: k.Project, Name: k.Network}
		vips[ref] = append(vips[ref], k)
	}
	var out []Finding
	for _, n := range in.Networks {
		ref := n.Ref()
		uplink := strings.TrimSpace(n.Config["network"])
		m, ok := in.Mappings[ref]
		if !ok || !m.OK() || !p.networkInScope(ref, uplink) {
			continue
		}
		keys := vips[ref]
		slices.SortFunc(keys, CompareKeys)
		out = append(out, p.networkFindings(n, GatewayPort(m.Prefix), keys, in.Uplinks[uplink])...)
	}
	sortFindings(out)
	return out, nil
}

// networkFindings are the route findings of one network in scope with
// gateway port gateway, whose planned forwards are keys (sorted) and whose
// uplink has config uplinkCfg (nil when unknown).
func (p RoutePolicy) networkFindings(n Network, gateway string, keys []ForwardKey, uplinkCfg map[string]string) []Finding {
	if len(keys) == 0 {
		return nil
	}
	ref := n.Ref()
	netKey := ForwardKey{Project: ref.Project, Network: ref.Name}
	name := projectOrDefault(ref.Project) + "/" + ref.Name
	uplink := strings.TrimSpace(n.Config["network"])
	var out []Finding
	if peers := bgpPeerKeys(uplinkCfg); len(peers) > 0 {
		out = append(out, Finding{
			Key: netKey, Category: CatLXDBGPAlsoAnnounces, Severity: SeverityWarning,
			Detail: fmt.Sprintf("uplink %s of network %s has %s: LXD's own BGP speaker announces the network's %s from every cluster member that has core.bgp_address set, so ovnfwd announcing them only from the member whose chassis holds %s is ineffective",
				uplink, name, strings.Join(peers, ", "), countOf(len(keys), "forward", "forwards"), gateway),
			Repair: "none automatic: remove LXD's BGP peers from uplink " + uplink + " (lxc network unset " + uplink + " " + peers[0] + ".address, and so on for each peer), or leave this uplink to LXD's BGP (ovnfwd --bgp-uplinks without " + uplink + ")",
		})
	}
	if p.NextHop == NextHopSelf {
		return out
	}
	var missing [2][]string // by family: v4, v6
	for _, k := range keys {
		addr, ok := parseHostAddr(k.ListenAddress)
		if !ok {
			continue
		}
		if _, ok := routerNextHop(n, addr.Is4()); !ok {
			fam := 0
			if addr.Is6() {
				fam = 1
			}
			missing[fam] = append(missing[fam], k.ListenAddress)
		}
	}
	for fam, addrs := range missing {
		if len(addrs) == 0 {
			continue
		}
		key := "volatile.network.ipv4.address"
		if fam == 1 {
			key = "volatile.network.ipv6.address"
		}
		shown := strings.Join(addrs[:min(len(addrs), 4)], ", ")
		if len(addrs) > 4 {
			shown += ", …"
		}
		out = append(out, Finding{
			Key: netKey, Category: CatRouteNoNextHop, Severity: SeverityError,
			Detail: fmt.Sprintf("next-hop mode router but network %s has no %s (the OVN router's uplink address of that family): no member announces its %s of that family (%s)",
				name, key, countOf(len(addrs), "listen address", "listen addresses"), shown),
			Repair: "none automatic: give network " + name + " an uplink address of that family (an uplink subnet of that family, so LXD sets " + key + "), or announce with --bgp-next-hop self",
		})
	}
	return out
}

// countOf is "1 forward", "2 forwards".
func countOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// networkInScope applies the Networks and Uplinks filters.
func (p RoutePolicy) networkInScope(ref NetworkRef, uplink string) bool {
	if len(p.Uplinks) > 0 && !slices.Contains(p.Uplinks, uplink) {
		return false
	}
	if len(p.Networks) == 0 {
		return true
	}
	for _, s := range p.Networks {
		proj, name, ok := strings.Cut(strings.TrimSpace(s), "/")
		if !ok {
			proj, name = "default", proj
		}
		if projectOrDefault(proj) == projectOrDefault(ref.Project) && name == ref.Name {
			return true
		}
	}
	return false
}

// routerNextHop is the router's uplink address of one family.
func routerNextHop(n Network, v4 bool) (netip.Addr, bool) {
	key := "volatile.network.ipv6.address"
	if v4 {
		key = "volatile.network.ipv4.address"
	}
	v := strings.TrimSpace(n.Config[key])
	if v == "" || v == "none" {
		return netip.Addr{}, false
	}
	a, ok := parseAddrMaybeCIDR(v)
	if !ok || a.Is4() != v4 {
		return netip.Addr{}, false
	}
	return a, true
}

// bgpPeerKeys lists the BGP peers LXD has on an uplink ("bgp.peers.<name>"),
// sorted: like LXD, a peer counts when both bgp.peers.<name>.address and
// bgp.peers.<name>.asn are set.
func bgpPeerKeys(cfg map[string]string) []string {
	var out []string
	for k := range cfg {
		rest, ok := strings.CutPrefix(k, "bgp.peers.")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, ".")
		peer := "bgp.peers." + name
		if strings.TrimSpace(cfg[peer+".address"]) == "" || strings.TrimSpace(cfg[peer+".asn"]) == "" || slices.Contains(out, peer) {
			continue
		}
		out = append(out, peer)
	}
	slices.Sort(out)
	return out
}

func projectOrDefault(p string) string {
	if p == "" {
		return "default"
	}
	return p
}

func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), a.Bits()-b.Bits())
}

// UnansweredVIPs reports the planned forwards whose listen address nobody
// answers ARP/ND for: managed options (Options.ARPResponder not "") that
// leave neighbor_responder unset, and a listen address outside every
// router-port subnet (OVN's default "reachable" answers only inside them).
// Networks whose uplink has ovn.ingress_mode=routed are skipped: the
// uplink routes to the router there instead of resolving the VIP. uplinks
// (config by uplink name) may be nil.
func UnansweredVIPs(res Result, networks []Network, uplinks map[string]map[string]string) []Finding {
	uplinkOf := make(map[NetworkRef]string, len(networks))
	for _, n := range networks {
		uplinkOf[n.Ref()] = strings.TrimSpace(n.Config["network"])
	}
	var out []Finding
	for k, d := range res.Desired {
		if len(d.LBs) == 0 {
			continue
		}
		answered, managed := false, true
		for _, lb := range d.LBs {
			if lb.Options == nil {
				managed = false
			}
			if lb.Options[OptionNeighborResponder] == "all" {
				answered = true
			}
		}
		if !managed || answered {
			continue
		}
		ref := NetworkRef{Project: k.Project, Name: k.Network}
		if cfg := uplinks[uplinkOf[ref]]; cfg["ovn.ingress_mode"] == "routed" {
			continue
		}
		addr, ok := parseHostAddr(k.ListenAddress)
		if !ok {
			continue
		}
		m := res.Mappings[ref]
		if slices.ContainsFunc(m.Subnets, func(s netip.Prefix) bool { return s.Contains(addr) }) {
			continue
		}
		what := "ARP"
		if addr.Is6() {
			what = "ND"
		}
		out = append(out, Finding{
			Key: k, Category: CatVIPUnanswered, Severity: SeverityWarning,
			Detail: fmt.Sprintf("%s is outside every subnet of router %s and its rows do not set neighbor_responder=all: no chassis answers %s for it, the uplink reaches it only for ~30 s after a gateway claim (GARPs)",
				k.ListenAddress, m.RouterName, what),
			Repair: "none with --arp-responder=off: use --arp-responder=auto (or all)",
		})
	}
	sortFindings(out)
	return out
}
