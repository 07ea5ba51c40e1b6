package sync

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
