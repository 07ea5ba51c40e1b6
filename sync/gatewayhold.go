package sync

import (
	"fmt"
	"slices"
	"strings"
)

// GatewayHeldLocally judges, from this chassis's own view alone, whether it
// still holds a gateway it held when the southbound DB went away. It is the
// decision ovn-controller makes locally for an HA chassis group (the
// chassis of highest priority among those whose BFD session is up, itself
// included, is the active one), so it stays true exactly as long as
// ovn-controller on self keeps the gateway — also while SB is unreachable
// and no claim can be read.
//
// group is the gateway's NB HA chassis group; bfdUp maps a chassis name to
// whether self's BFD session to it is forwarding (a chassis missing from it
// has no BFD session with self: it cannot be seen alive). why says what
// decided, naming the chassis.
func GatewayHeldLocally(group []NBHAChassis, self string, bfdUp map[string]bool) (held bool, why string) {
	own := slices.IndexFunc(group, func(h NBHAChassis) bool { return h.ChassisName == self })
	if own < 0 {
		return false, fmt.Sprintf("chassis %s is not in the gateway's HA chassis group", self)
	}
	mine := group[own].Priority
	var higher, up []string
	for _, h := range group {
		// A chassis of equal priority counts as outranking self: how OVN
		// breaks the tie is its own business, and withdrawing is the safe
		// side (LXD gives every member its own priority).
		if h.ChassisName == self || h.Priority < mine {
			continue
		}
		higher = append(higher, h.ChassisName)
		if bfdUp[h.ChassisName] {
			up = append(up, fmt.Sprintf("%s (priority %d)", h.ChassisName, h.Priority))
		}
	}
	slices.Sort(higher)
	slices.Sort(up)
	switch {
	case len(up) > 0:
		return false, fmt.Sprintf("%s up by %s's BFD: it takes the gateway", strings.Join(up, ", "), self)
	case len(higher) == 0:
		return true, fmt.Sprintf("%s has the highest priority of the gateway's HA group", self)
	default:
		return true, fmt.Sprintf("no chassis of higher priority is up by %s's BFD (%s: down)", self, strings.Join(higher, ", "))
	}
}

// HAGroupOf returns the NB HA chassis group of router port port (by the
// port's ha_chassis_group) and the group's HA_Chassis rows, in NB's order;
// ok is false when the port has no group or the group is not in nb.
func HAGroupOf(nb NBState, port string) (g NBHAChassisGroup, members []NBHAChassis, ok bool) {
	var uuid string
	for _, p := range nb.RouterPorts {
		if p.Name == port {
			uuid = p.HAChassisGroup
		}
	}
	if uuid == "" {
		return g, nil, false
	}
	i := slices.IndexFunc(nb.HAChassisGroups, func(g NBHAChassisGroup) bool { return g.UUID == uuid })
	if i < 0 {
		return g, nil, false
	}
	g = nb.HAChassisGroups[i]
	for _, h := range nb.HAChassis {
		if slices.Contains(g.HAChassis, h.UUID) {
			members = append(members, h)
		}
	}
	return g, members, true
}
