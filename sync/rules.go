package sync

import (
	"fmt"
	"strconv"
	"strings"
)

// Rules are the conventions of one LXD or Incus version for the OVN rows of a
// network forward. RulesFor derives them from the server version.
//
// Read from the sources (canonical/lxd tags lxd-4.19 … lxd-6.9, lxc/incus tags
// v0.1.0 … v7.3.0):
//
//   - Attachment: lxd/network/driver_ovn.go ForwardCreate/ForwardUpdate pass
//     []OVNSwitch{n.getIntSwitchName()} to LoadBalancerApply
//     (lxd/network/openvswitch/ovn.go) in lxd-4.19 … lxd-5.21.1 (every 5.0.x and
//     the 5.1–5.20 feature releases), lxd-5.21.4+ and lxd-6.5+. In lxd-5.21.2,
//     lxd-5.21.3 and lxd-6.1 … lxd-6.4 LoadBalancerApply has no switches
//     parameter: router only. There is no LXD 6.0 release; 6.0.x is treated as
//     router only. Incus attaches router + ls-int in every version
//     (LoadBalancerApply, later NB.CreateLoadBalancer in
//     internal/server/network/ovn/ovn_nb_actions.go).
//   - Default target: forwardFlattenVIPs (driver_ovn.go) emits the port-less
//     VIP with an empty Protocol. LXD's LoadBalancerApply puts every VIP whose
//     protocol is not "udp" into the -tcp row (nbctl "lb-add <name>-tcp"; the
//     6.8+ incremental version maps "" to "tcp" explicitly). So in every LXD
//     version the default target lives in the -tcp row only; a forward with
//     only a default target gets a -tcp row and no -udp row, and a forward
//     with a default target and only udp ports gets both rows (-tcp holding
//     just the port-less VIP).
//   - Incus used the same nbctl LoadBalancerApply (default target in -tcp only)
//     up to v6.0.1 and in v6.1.0–v6.2.0. From v6.0.2 (LTS branch) and v6.3.0
//     NB.CreateLoadBalancer adds a VIP with an empty protocol to BOTH rows
//     ("if r.Protocol != "" && r.Protocol != *lb.Protocol { continue }"), so a
//     default target alone creates both rows. From v7.3.0 forwardFlattenVIPs no
//     longer takes the default target; forwardApplyDefaultTargetNAT writes a
//     router dnat rule instead.
//   - VIP format: nbctl (ovn lib/lb.c ovn_lb_vip_format) stores a port-less
//     IPv6 VIP and its backend without brackets; Incus's libovsdb writer stores
//     them bracketed ("[2001:db8::1]"). Both mean the same to northd, so VIPs
//     are compared after normalization (see vipsEqual) and written unbracketed.
type Rules struct {
	// Prefix of OVN object names, followed by the network ID:
	// "lxd-net" or "incus-net".
	Prefix string
	// AttachSwitch: rows are attached to <prefix>-ls-int as well as to the
	// router <prefix>-lr.
	AttachSwitch bool
	// DefaultTargetInUDP: the port-less default-target VIP goes into the -udp
	// row as well as into the -tcp row.
	DefaultTargetInUDP bool
	// DefaultTargetViaNAT: the server realizes the default target with a
	// router NAT rule, not a VIP; ovnfwd does not manage it.
	DefaultTargetViaNAT bool
}

// String describes the rules in one line (ovnfwd version shows it).
func (r Rules) String() string {
	attach := "router only"
	if r.AttachSwitch {
		attach = "router and internal switch"
	}
	def := "default target in the tcp row"
	switch {
	case r.DefaultTargetViaNAT:
		def = "default target as a router NAT rule (not managed)"
	case r.DefaultTargetInUDP:
		def = "default target in the tcp and udp rows"
	}
	return fmt.Sprintf("%s<ID>-lb-<listen>-<proto> rows on the %s; %s", r.Prefix, attach, def)
}

// RulesFor returns the rules of server s. Kind "" is taken as "lxd". An
// unknown kind, an unparseable version or an LXD older than 4.19 (no OVN
// forwards) is an error.
func RulesFor(s ServerInfo) (Rules, error) {
	v, err := parseVersion(s.Version)
	if err != nil {
		return Rules{}, err
	}
	switch strings.ToLower(s.Kind) {
	case "", "lxd":
		if v.less(version{4, 19, 0}) {
			return Rules{}, fmt.Errorf("LXD %s has no OVN network forwards (need 4.19 or later)", s.Version)
		}
		return Rules{Prefix: "lxd-net", AttachSwitch: lxdAttachesSwitch(v)}, nil
	case "incus":
		r := Rules{Prefix: "incus-net", AttachSwitch: true}
		switch {
		case !v.less(version{7, 3, 0}):
			r.DefaultTargetViaNAT = true
		case !v.less(version{6, 3, 0}),
			v.major == 6 && v.minor == 0 && v.patch >= 2:
			r.DefaultTargetInUDP = true
		}
		return r, nil
	default:
		return Rules{}, fmt.Errorf("unknown server kind %q (want lxd or incus)", s.Kind)
	}
}

// WritesForwardAtomically reports whether server s writes each forward's
// OVN rows in one NB transaction, so that no NB change of it is ever an
// unfinished write: LXD 4.19 … 5.21.1, whose LoadBalancerApply
// (lxd/network/openvswitch/ovn.go) is one ovn-nbctl invocation (delete by
// name, lb-add, attach). LXD 5.21.2 … 6.7 destroys, re-adds and attaches
// in separate calls, 6.8+ writes incrementally, and for Incus it is not
// established here: false, like an unknown or unparseable server, so a
// change there waits until the row has been quiet (--nb-settle).
func WritesForwardAtomically(s ServerInfo) bool {
	v, err := parseVersion(s.Version)
	if err != nil {
		return false
	}
	switch strings.ToLower(s.Kind) {
	case "", "lxd":
		return !v.less(version{4, 19, 0}) && v.less(version{5, 21, 2})
	}
	return false
}

// lxdAttachesSwitch reports whether LXD version v attaches forward rows to
// the internal switch (see Rules).
func lxdAttachesSwitch(v version) bool {
	switch {
	case v.major < 5:
		return true
	case v.major == 5 && v.minor < 21:
		return true
	case v.major == 5 && v.minor == 21:
		return v.patch <= 1 || v.patch >= 4
	case v.major == 5:
		return true
	case v.major == 6:
		return v.minor >= 5
	default:
		return true
	}
}

// version is a parsed server_version.
type version struct{ major, minor, patch int }

func (v version) less(o version) bool {
	if v.major != o.major {
		return v.major < o.major
	}
	if v.minor != o.minor {
		return v.minor < o.minor
	}
	return v.patch < o.patch
}

// parseVersion parses "MAJOR.MINOR[.PATCH]", optionally followed by a suffix
// starting with '-', '+', '~' or a space ("6.5-abc", "5.21.4 LTS").
func parseVersion(s string) (version, error) {
	core := strings.TrimSpace(s)
	if i := strings.IndexAny(core, "-+~ "); i >= 0 {
		core = core[:i]
	}
	parts := strings.Split(core, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return version{}, fmt.Errorf("unparseable server version %q", s)
	}
	var nums [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return version{}, fmt.Errorf("unparseable server version %q", s)
		}
		nums[i] = n
	}
	return version{nums[0], nums[1], nums[2]}, nil
}
