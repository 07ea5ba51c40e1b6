package engine

import (
	"fmt"
	"slices"
	"strings"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// ExplainACLs lists the ACLs around a forward's targets (explain; nothing
// judges them): the LXD network ACLs of the network and of the target
// instances' NICs, and the OVN ACLs on the logical switch ports that hold
// the target addresses.
type ExplainACLs struct {
	// NetworkACLs is the network's security.acls.
	NetworkACLs []string `json:"network_acls" yaml:"network_acls"`
	// DefaultIngressAction is the network's
	// security.acls.default.ingress.action ("" when unset: LXD's default).
	DefaultIngressAction string             `json:"default_ingress_action,omitempty" yaml:"default_ingress_action,omitempty"`
	Targets              []ExplainACLTarget `json:"targets" yaml:"targets"`
	// LXDACLs are the rules of every ACL named above.
	LXDACLs []fwdsync.NetworkACL `json:"lxd_acls" yaml:"lxd_acls"`
	// Errors are the reads that failed.
	Errors []string `json:"errors,omitempty" yaml:"errors,omitempty"`
	// Verdicts say plainly what stops the forward's traffic (a drop or
	// reject rule matching its protocol and port, the default ingress
	// action), or that it cannot be decided; judged textually
	// (fwdsync.JudgeACLs). Empty: nothing found that stops it.
	Verdicts []string `json:"verdicts" yaml:"verdicts"`
}

// ExplainACLTarget is one target address of the forward.
type ExplainACLTarget struct {
	Address string `json:"address" yaml:"address"`
	// NICs are the instance NICs configured with the address on the
	// network ("c1/eth0 (project default)").
	NICs []string `json:"nics" yaml:"nics"`
	// NICACLs are those NICs' security.acls.
	NICACLs []string `json:"nic_acls" yaml:"nic_acls"`
	// OVNPorts are the logical switch ports holding the address, with
	// the OVN ACLs that apply to them.
	OVNPorts []fwdsync.OVNPort `json:"ovn_ports" yaml:"ovn_ports"`
}

// ACLReaders read what ExplainACLsFor lists.
type ACLReaders struct {
	// LXDACLs reads the named LXD network ACLs of a project.
	LXDACLs func(project string, names []string) ([]fwdsync.NetworkACL, error)
	// PortACLs reads the logical switch ports holding an address, with
	// their ACLs.
	PortACLs func(address string) ([]fwdsync.OVNPort, error)
}

// ExplainACLsFor gathers the ACLs around forward f (on network n, with the
// instance NIC addresses nics) through r.
func ExplainACLsFor(f fwdsync.Forward, n fwdsync.Network, nics []fwdsync.InstanceNIC, r ACLReaders) *ExplainACLs {
	out := &ExplainACLs{NetworkACLs: splitNames(n.Config["security.acls"]), Targets: []ExplainACLTarget{}, LXDACLs: []fwdsync.NetworkACL{},
		DefaultIngressAction: n.Config["security.acls.default.ingress.action"]}
	names := slices.Clone(out.NetworkACLs)
	var targets []string
	add := func(a string) {
		if a = strings.TrimSpace(a); a != "" && !slices.Contains(targets, a) {
			targets = append(targets, a)
		}
	}
	add(f.DefaultTarget)
	for _, p := range f.Ports {
		add(p.TargetAddress)
	}
	for _, a := range targets {
		t := ExplainACLTarget{Address: a, NICs: []string{}, NICACLs: []string{}, OVNPorts: []fwdsync.OVNPort{}}
		for _, nic := range nics {
			if nic.Network == n.Ref() && nic.Address == a {
				t.NICs = append(t.NICs, fmt.Sprintf("%s/%s (project %s)", nic.Instance, nic.Device, ProjectName(nic.Project)))
				for _, acl := range splitNames(nic.ACLs) {
					if !slices.Contains(t.NICACLs, acl) {
						t.NICACLs = append(t.NICACLs, acl)
					}
					if !slices.Contains(names, acl) {
						names = append(names, acl)
					}
				}
			}
		}
		if r.PortACLs != nil {
			ports, err := r.PortACLs(a)
			if err != nil {
				out.Errors = append(out.Errors, err.Error())
			} else if ports != nil {
				t.OVNPorts = ports
			}
		}
		out.Targets = append(out.Targets, t)
	}
	if len(names) > 0 && r.LXDACLs != nil {
		acls, err := r.LXDACLs(n.Project, names)
		if err != nil {
			out.Errors = append(out.Errors, err.Error())
		}
		out.LXDACLs = append(out.LXDACLs, acls...)
	}
	out.Verdicts = judgeACLs(f, out)
	return out
}

// judgeACLs judges every way traffic of f goes to its targets against the
// ACLs around them.
func judgeACLs(f fwdsync.Forward, a *ExplainACLs) []string {
	var paths []fwdsync.ACLPath
	for _, p := range f.Ports {
		port := strings.TrimSpace(p.TargetPort)
		if port == "" {
			port = p.ListenPort
		}
		port, _, _ = strings.Cut(port, ",") // the first port of a list or range
		port, _, _ = strings.Cut(port, "-")
		paths = append(paths, fwdsync.ACLPath{Protocol: p.Protocol, Address: p.TargetAddress, Port: strings.TrimSpace(port)})
	}
	if f.DefaultTarget != "" {
		paths = append(paths, fwdsync.ACLPath{Protocol: "tcp", Address: f.DefaultTarget}, fwdsync.ACLPath{Protocol: "udp", Address: f.DefaultTarget})
	}
	out := []string{}
	for _, path := range paths {
		for _, t := range a.Targets {
			if t.Address != path.Address {
				continue
			}
			names := append(slices.Clone(a.NetworkACLs), t.NICACLs...)
			var acls []fwdsync.NetworkACL
			for _, acl := range a.LXDACLs {
				if slices.Contains(names, acl.Name) {
					acls = append(acls, acl)
				}
			}
			var ovn []fwdsync.OVNACL
			for _, p := range t.OVNPorts {
				ovn = append(ovn, p.ACLs...)
			}
			for _, v := range fwdsync.JudgeACLs(path, acls, len(names) > 0, a.DefaultIngressAction, ovn) {
				if !slices.Contains(out, v) {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

func splitNames(v string) []string {
	out := []string{}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Lines renders the ACL section of explain's table.
func (a *ExplainACLs) Lines() []string {
	if a == nil {
		return nil
	}
	none := func(s []string) string {
		if len(s) == 0 {
			return "none"
		}
		return strings.Join(s, ", ")
	}
	def := a.DefaultIngressAction
	if def == "" {
		def = "unset"
	}
	out := []string{fmt.Sprintf("network security.acls: %s (default ingress action: %s)", none(a.NetworkACLs), def)}
	if len(a.Verdicts) == 0 {
		out = append(out, "verdict: no ACL rule found that stops the forward's traffic (a textual match on protocol, port and destination)")
	}
	for _, v := range a.Verdicts {
		out = append(out, "verdict: "+v)
	}
	for _, t := range a.Targets {
		out = append(out, fmt.Sprintf("target %s: instance NICs %s; their security.acls: %s", t.Address, none(t.NICs), none(t.NICACLs)))
		if len(t.OVNPorts) == 0 {
			out = append(out, "  no OVN logical switch port holds "+t.Address)
		}
		for _, p := range t.OVNPorts {
			out = append(out, fmt.Sprintf("  OVN port %s (switch %s): %d ACLs", p.Name, p.Switch, len(p.ACLs)))
			for _, acl := range p.ACLs {
				out = append(out, fmt.Sprintf("    %s %s prio %d %s → %s", acl.On, acl.Direction, acl.Priority, acl.Match, acl.Action))
			}
		}
	}
	for _, acl := range a.LXDACLs {
		out = append(out, fmt.Sprintf("LXD ACL %s: %d ingress, %d egress rules", acl.Name, len(acl.Ingress), len(acl.Egress)))
		for _, r := range acl.Ingress {
			out = append(out, "  ingress "+ruleString(r))
		}
		for _, r := range acl.Egress {
			out = append(out, "  egress "+ruleString(r))
		}
	}
	for _, e := range a.Errors {
		out = append(out, "cannot read: "+e)
	}
	return out
}

func ruleString(r fwdsync.NetworkACLRule) string {
	parts := []string{r.Action}
	for _, kv := range [][2]string{{"source", r.Source}, {"destination", r.Destination}, {"protocol", r.Protocol},
		{"source_port", r.SourcePort}, {"destination_port", r.DestinationPort}, {"state", r.State}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return strings.Join(parts, " ")
}
