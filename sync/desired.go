package sync

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// OptionNeighborResponder is the only Load_Balancer option ovnfwd manages.
const OptionNeighborResponder = "neighbor_responder"

// ARPResponder values of Options.
const (
	ARPResponderUnmanaged = ""     // options are not compared at all
	ARPResponderOff       = "off"  // neighbor_responder absent (OVN default: reachable)
	ARPResponderAll       = "all"  // neighbor_responder=all on every row
	ARPResponderAuto      = "auto" // =all when the listen address is outside every router-port subnet
)

// Options tune planning.
type Options struct {
	// ARPResponder: "" (not managed), "off", "all" or "auto".
	ARPResponder string
	// DeletionBudget is the most Load_Balancer rows one Plan may delete; a
	// plan over budget deletes nothing. Negative means unlimited; note that
	// the zero value allows no deletion at all.
	DeletionBudget int
	// Routes is the BGP route policy ovnfwd's members announce with (its
	// Chassis may be empty); nil when ovnfwd announces nothing. The
	// planner ignores it: the route findings (RouteFindings) are judged
	// against it.
	Routes *RoutePolicy
}

func (o Options) validate() error {
	switch o.ARPResponder {
	case ARPResponderUnmanaged, ARPResponderOff, ARPResponderAll, ARPResponderAuto:
		return nil
	}
	return fmt.Errorf("unknown ARP responder mode %q (want off, all or auto)", o.ARPResponder)
}

// DesiredLB is one Load_Balancer row a forward needs.
type DesiredLB struct {
	// Name is <prefix>-lb-<listen>-<protocol>.
	Name string
	// Protocol is "tcp" or "udp", always set explicitly.
	Protocol string
	// VIPs is the exact VIP map.
	VIPs map[string]string
	// Options holds the managed option keys with their desired values: nil
	// when options are not managed (ARPResponder ""), otherwise a map in
	// which an absent key means "must not be set". Other keys of an existing
	// row are never touched.
	Options map[string]string
}

// DesiredForward is everything one forward needs in NB.
type DesiredForward struct {
	// Key has the listen address in canonical form.
	Key    ForwardKey
	Prefix string
	// LBs are the rows, -tcp before -udp; a protocol without VIPs has none.
	LBs []DesiredLB
	// RouterName is the router every row is attached to.
	RouterName string
	// SwitchNames are the switches every row is attached to (the internal
	// switch, when Rules.AttachSwitch).
	SwitchNames []string
}

// LB returns the desired row of protocol proto, or nil.
func (d *DesiredForward) LB(proto string) *DesiredLB {
	for i := range d.LBs {
		if d.LBs[i].Protocol == proto {
			return &d.LBs[i]
		}
	}
	return nil
}

// LBName returns the Load_Balancer name LXD gives the proto row of a forward.
func LBName(prefix, listen, proto string) string {
	return prefix + "-lb-" + listen + "-" + proto
}

// protocols are the row protocols, in row order.
var protocols = [2]string{"tcp", "udp"}

// DesiredRows translates forward f on mapped network m into the rows LXD
// would write under rules r, with the managed options of o. Invalid input is
// an error naming the forward.
func DesiredRows(r Rules, m Mapping, f Forward, o Options) (DesiredForward, error) {
	fail := func(format string, args ...any) (DesiredForward, error) {
		return DesiredForward{}, fmt.Errorf("forward %s on network %s/%s: %s",
			f.ListenAddress, f.Project, f.Network, fmt.Sprintf(format, args...))
	}
	if !m.OK() {
		return fail("network is not mapped: %s", m.Err)
	}
	if err := o.validate(); err != nil {
		return fail("%v", err)
	}
	listen, ok := parseHostAddr(f.ListenAddress)
	if !ok {
		return fail("invalid listen address %q", f.ListenAddress)
	}

	var vips [2]map[string]string
	for i, p := range f.Ports {
		var pi int
		switch p.Protocol {
		case "tcp":
			pi = 0
		case "udp":
			pi = 1
		default:
			return fail("port %d: protocol %q is not tcp or udp", i, p.Protocol)
		}
		target, ok := parseHostAddr(p.TargetAddress)
		if !ok {
			return fail("port %d: invalid target address %q", i, p.TargetAddress)
		}
		if target.Is4() != listen.Is4() {
			return fail("port %d: target address %s and listen address are of different IP families", i, target)
		}
		listenPorts, err := parsePortList(p.ListenPort)
		if err != nil {
			return fail("port %d: listen port: %v", i, err)
		}
		var targetPorts []uint16
		if strings.TrimSpace(p.TargetPort) != "" {
			if targetPorts, err = parsePortList(p.TargetPort); err != nil {
				return fail("port %d: target port: %v", i, err)
			}
		}
		if len(targetPorts) > 1 && len(targetPorts) != len(listenPorts) {
			return fail("port %d: %d listen ports (%s) but %d target ports (%s)",
				i, len(listenPorts), p.ListenPort, len(targetPorts), p.TargetPort)
		}
		if vips[pi] == nil {
			vips[pi] = make(map[string]string, len(listenPorts))
		}
		for j, lp := range listenPorts {
			tp := lp
			switch len(targetPorts) {
			case 0:
			case 1:
				tp = targetPorts[0]
			default:
				tp = targetPorts[j]
			}
			key := netip.AddrPortFrom(listen, lp).String()
			if _, dup := vips[pi][key]; dup {
				return fail("%s listen port %d is given twice", p.Protocol, lp)
			}
			vips[pi][key] = netip.AddrPortFrom(target, tp).String()
		}
	}

	if strings.TrimSpace(f.DefaultTarget) != "" {
		target, ok := parseHostAddr(f.DefaultTarget)
		if !ok {
			return fail("invalid default target address %q", f.DefaultTarget)
		}
		if target.Is4() != listen.Is4() {
			return fail("default target address %s and listen address are of different IP families", target)
		}
		if !r.DefaultTargetViaNAT {
			rows := 1
			if r.DefaultTargetInUDP {
				rows = 2
			}
			for pi := range rows {
				if vips[pi] == nil {
					vips[pi] = make(map[string]string, 1)
				}
				vips[pi][listen.String()] = target.String()
			}
		}
	}

	canonical := listen.String()
	d := DesiredForward{
		Key:        ForwardKey{Project: f.Project, Network: f.Network, ListenAddress: canonical},
		Prefix:     m.Prefix,
		RouterName: m.RouterName,
	}
	if r.AttachSwitch {
		d.SwitchNames = []string{m.IntSwitchName}
	}
	for pi, proto := range protocols {
		if len(vips[pi]) == 0 {
			continue
		}
		d.LBs = append(d.LBs, DesiredLB{
			Name:     LBName(m.Prefix, canonical, proto),
			Protocol: proto,
			VIPs:     vips[pi],
			Options:  desiredOptions(o.ARPResponder, listen, m.Subnets),
		})
	}
	return d, nil
}

// desiredOptions returns the managed options of a row (see DesiredLB.Options).
//
// The maps returned are shared by every row (tens of thousands): read-only.
func desiredOptions(mode string, listen netip.Addr, subnets []netip.Prefix) map[string]string {
	switch mode {
	case ARPResponderUnmanaged:
		return nil
	case ARPResponderAll:
		return optionsRespondAll
	case ARPResponderAuto:
		for _, s := range subnets {
			if s.Contains(listen) {
				return optionsNone
			}
		}
		return optionsRespondAll
	default:
		return optionsNone
	}
}

var (
	optionsRespondAll = map[string]string{OptionNeighborResponder: "all"}
	optionsNone       = map[string]string{}
)

// parseHostAddr parses a plain IP address (no zone) the way LXD names it:
// IPv4-mapped IPv6 becomes IPv4, as net.IP.String() prints it.
func parseHostAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// parsePortList expands "80,90-100" into its ports, in order.
func parsePortList(spec string) ([]uint16, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, fmt.Errorf("no port given")
	}
	var out []uint16
	for _, part := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		first, err := parsePort(lo)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", spec, err)
		}
		last := first
		if isRange {
			if last, err = parsePort(hi); err != nil {
				return nil, fmt.Errorf("%q: %v", spec, err)
			}
			if last < first {
				return nil, fmt.Errorf("%q: range %s ends before it starts", spec, part)
			}
		}
		for p := int(first); p <= int(last); p++ {
			out = append(out, uint16(p))
		}
	}
	return out, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return uint16(n), nil
}
