package sync

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ACLs around a forward's target, as `ovnfwd explain` lists them (read
// only; nothing judges them).

// NetworkACLRule is one rule of an LXD network ACL.
type NetworkACLRule struct {
	Action          string `json:"action" yaml:"action"`
	State           string `json:"state" yaml:"state"`
	Source          string `json:"source,omitempty" yaml:"source,omitempty"`
	Destination     string `json:"destination,omitempty" yaml:"destination,omitempty"`
	Protocol        string `json:"protocol,omitempty" yaml:"protocol,omitempty"`
	SourcePort      string `json:"source_port,omitempty" yaml:"source_port,omitempty"`
	DestinationPort string `json:"destination_port,omitempty" yaml:"destination_port,omitempty"`
	Description     string `json:"description,omitempty" yaml:"description,omitempty"`
}

// NetworkACL is an LXD network ACL (security.acls names one).
type NetworkACL struct {
	Project string           `json:"project" yaml:"project"`
	Name    string           `json:"name" yaml:"name"`
	Ingress []NetworkACLRule `json:"ingress" yaml:"ingress"`
	Egress  []NetworkACLRule `json:"egress" yaml:"egress"`
}

// OVNACL is an NB ACL row that applies to a logical switch port, through a
// port group holding it or its logical switch.
type OVNACL struct {
	// On is "port_group <name>" or "switch <name>".
	On        string `json:"on" yaml:"on"`
	Direction string `json:"direction" yaml:"direction"`
	Priority  int    `json:"priority" yaml:"priority"`
	Match     string `json:"match" yaml:"match"`
	Action    string `json:"action" yaml:"action"`
	Name      string `json:"name,omitempty" yaml:"name,omitempty"`
}

// OVNPort is an NB Logical_Switch_Port holding an address, with the ACLs
// that apply to it (sorted: direction, priority highest first, match).
type OVNPort struct {
	Name      string   `json:"name" yaml:"name"`
	Switch    string   `json:"switch,omitempty" yaml:"switch,omitempty"`
	Addresses []string `json:"addresses" yaml:"addresses"`
	ACLs      []OVNACL `json:"acls" yaml:"acls"`
}

// ACLPath is one way traffic to a forward's target goes: its protocol,
// the target's address and port ("" for a default target: every port).
type ACLPath struct {
	Protocol, Address, Port string
}

// JudgeACLs says plainly, by a textual match on protocol, port and
// destination, whether the LXD ACLs applied to a target (acls: those named
// by the network's and the target NIC's security.acls; applied: whether
// any is) and the OVN ACLs on its port let path through: a drop or reject
// rule that matches it, or the default ingress action when ACLs apply and
// no rule allows it. It also says when it cannot decide (a destination
// given by name or set, an OVN match it cannot read). No line: nothing
// found that stops it.
func JudgeACLs(path ACLPath, acls []NetworkACL, applied bool, defaultIngress string, ovn []OVNACL) []string {
	var out []string
	allowed := false
	what := path.Protocol + "/" + path.Port
	if path.Port == "" {
		what = path.Protocol + " (every port)"
	}
	for _, acl := range acls {
		for i, r := range acl.Ingress {
			match, sure := ruleMatches(r, path)
			switch {
			case !match:
			case !sure:
				out = append(out, fmt.Sprintf("cannot decide: LXD ACL %s ingress rule %d (%s) has a destination %q given by name or set", acl.Name, i+1, ruleText(r), r.Destination))
			case r.Action == "drop" || r.Action == "reject":
				out = append(out, fmt.Sprintf("blocked: LXD ACL %s ingress rule %d (%s) %ss %s to %s", acl.Name, i+1, ruleText(r), r.Action, what, path.Address))
			case r.Action == "allow" || r.Action == "allow-stateless":
				allowed = true
			}
		}
	}
	if applied && !allowed {
		def := defaultIngress
		if def == "" {
			def = "reject" // LXD's default once an ACL applies
		}
		if def != "allow" {
			out = append(out, fmt.Sprintf("blocked: no LXD ACL rule allows %s to %s, so the default ingress action %s applies (security.acls.default.ingress.action)", what, path.Address, def))
		}
	}
	dst := path.Protocol + ".dst == " + path.Port
	for _, a := range ovn {
		if a.Direction != "to-lport" || (a.Action != "drop" && a.Action != "reject") {
			continue
		}
		switch {
		case path.Port != "" && strings.Contains(a.Match, dst):
			out = append(out, fmt.Sprintf("blocked: OVN ACL on %s (priority %d, %s) %ss it", a.On, a.Priority, a.Match, a.Action))
		case !strings.Contains(a.Match, ".dst"):
			out = append(out, fmt.Sprintf("cannot decide: OVN ACL on %s (priority %d, %s) %ss without a port condition", a.On, a.Priority, a.Match, a.Action))
		}
	}
	return out
}

// ruleMatches reports whether an ingress rule matches path textually;
// sure is false when its destination names something it cannot resolve.
func ruleMatches(r NetworkACLRule, path ACLPath) (match, sure bool) {
	if r.Protocol != "" && r.Protocol != path.Protocol {
		return false, true
	}
	if r.DestinationPort != "" && !portListHas(r.DestinationPort, path.Port) {
		return false, true
	}
	if r.Destination == "" {
		return true, true
	}
	addr, err := netip.ParseAddr(path.Address)
	for _, d := range strings.Split(r.Destination, ",") {
		d = strings.TrimSpace(d)
		if p, perr := netip.ParsePrefix(d); perr == nil && err == nil {
			if p.Contains(addr) {
				return true, true
			}
			continue
		}
		if a, aerr := netip.ParseAddr(d); aerr == nil && err == nil {
			if a == addr {
				return true, true
			}
			continue
		}
		return true, false // @internal, $set, a range: not resolved here
	}
	return false, true
}

// portListHas reports whether "80,8000-8080" holds port ("": every port,
// which a port list holds only partly, so it does not).
func portListHas(list, port string) bool {
	p, err := strconv.Atoi(port)
	if err != nil {
		return false
	}
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		l, err1 := strconv.Atoi(lo)
		h := l
		var err2 error
		if isRange {
			h, err2 = strconv.Atoi(hi)
		}
		if err1 == nil && err2 == nil && p >= l && p <= h {
			return true
		}
	}
	return false
}

func ruleText(r NetworkACLRule) string {
	parts := []string{"action=" + r.Action}
	for _, kv := range [][2]string{{"protocol", r.Protocol}, {"destination", r.Destination}, {"destination_port", r.DestinationPort}, {"source", r.Source}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return strings.Join(parts, " ")
}
