// Package sync is the pure core of ovnfwd: LXD facts and OVN facts in, a plan
// and findings out. It does no I/O, reads no clock and starts no goroutine;
// lxdwatch/ and ovn/ turn the outside world into these types and back.
//
// Import it under another name, e.g. fwdsync "github.com/ovnfwd/ovnfwd/sync".
package sync

// ---------------------------------------------------------------------------
// LXD side (filled by lxdwatch/)

// ServerInfo identifies the LXD (or Incus) daemon whose forwards are mirrored.
// The version decides names, default-target placement and attachments.
type ServerInfo struct {
	// Kind is "lxd" or "incus".
	Kind string
	// Version is the server_version string, e.g. "5.0.2", "5.21.4", "6.5".
	Version string
}

// NetworkRef names one LXD network.
type NetworkRef struct {
	Project string
	Name    string
}

// Network is an LXD network of type "ovn" (other types are not listed).
type Network struct {
	Project string
	Name    string
	// Config is the network config as LXD returns it. Keys used:
	// "network" (uplink), "ipv4.address", "ipv6.address",
	// "volatile.network.ipv4.address", "volatile.network.ipv6.address".
	Config map[string]string
}

// Ref returns the network's reference.
func (n Network) Ref() NetworkRef { return NetworkRef{Project: n.Project, Name: n.Name} }

// ForwardKey identifies one forward: listen addresses are unique per network.
// ListenAddress is in canonical net.IP.String() form.
type ForwardKey struct {
	Project       string
	Network       string
	ListenAddress string
}

// ForwardPort is one port specification of a forward, as LXD stores it.
type ForwardPort struct {
	Protocol      string // "tcp" or "udp"
	ListenPort    string // "80", "80,90-100"
	TargetAddress string
	TargetPort    string // "", "8080", "8080,9000-9010"
	Description   string
}

// Forward is an LXD network forward.
type Forward struct {
	Project       string
	Network       string
	ListenAddress string
	// DefaultTarget is config["target_address"], "" when unset.
	DefaultTarget string
	Ports         []ForwardPort
	// Location is the cluster member LXD reports for the forward, "" for
	// a network-wide one (every OVN forward LXD creates itself).
	Location string
}

// Key returns the forward's key.
func (f Forward) Key() ForwardKey {
	return ForwardKey{Project: f.Project, Network: f.Network, ListenAddress: f.ListenAddress}
}

// LXDState is one listing of LXD.
type LXDState struct {
	Server   ServerInfo
	Networks []Network
	Forwards []Forward
	// LoadBalancers are the listen addresses of LXD network load balancers.
	// They share the forwards' OVN name space; their rows are never touched.
	LoadBalancers []ForwardKey
	// Complete holds the networks whose forward (and load balancer) listing
	// completed in this pass. Nothing is deleted for a network not in it.
	Complete map[NetworkRef]bool
	// ListErrors says why the listing of a network did not complete (the
	// LXD error), for the incomplete-listing finding.
	ListErrors map[NetworkRef]string
	// Instances are the instance NIC addresses on LXD networks (any
	// type), for the address plan; nil when they could not be listed.
	Instances []InstanceNIC
}

// ---------------------------------------------------------------------------
// OVN northbound side (filled by ovn/)

// NBLoadBalancer is an NB Load_Balancer row.
type NBLoadBalancer struct {
	UUID        string
	Name        string
	Protocol    string // "" when unset (OVN then means tcp)
	VIPs        map[string]string
	Options     map[string]string
	ExternalIDs map[string]string
}

// NBRouter is an NB Logical_Router row.
type NBRouter struct {
	UUID          string
	Name          string
	LoadBalancers []string // Load_Balancer UUIDs
	Ports         []string // Logical_Router_Port UUIDs
}

// NBRouterPort is an NB Logical_Router_Port row.
type NBRouterPort struct {
	UUID     string
	Name     string
	MAC      string
	Networks []string // "10.10.10.1/24"
	// HAChassisGroup is the UUID of the NB HA_Chassis_Group, "" if none.
	HAChassisGroup string
}

// NBSwitch is an NB Logical_Switch row.
type NBSwitch struct {
	UUID          string
	Name          string
	LoadBalancers []string // Load_Balancer UUIDs
}

// NBHAChassis is an NB HA_Chassis row.
type NBHAChassis struct {
	UUID        string
	ChassisName string
	Priority    int
}

// NBHAChassisGroup is an NB HA_Chassis_Group row.
type NBHAChassisGroup struct {
	UUID      string
	Name      string
	HAChassis []string // NB HA_Chassis UUIDs
}

// NBState is a consistent snapshot of the NB tables ovnfwd reads.
type NBState struct {
	LoadBalancers   []NBLoadBalancer
	Routers         []NBRouter
	RouterPorts     []NBRouterPort
	Switches        []NBSwitch
	HAChassisGroups []NBHAChassisGroup
	HAChassis       []NBHAChassis
	NBCfg, SBCfg    int
	HVCfg           int
	NBGlobalOptions map[string]string
}

// ---------------------------------------------------------------------------
// OVN southbound side (filled by ovn/)

// SBLoadBalancer is an SB Load_Balancer row.
type SBLoadBalancer struct {
	UUID        string
	Name        string
	VIPs        map[string]string
	ExternalIDs map[string]string // "lb_id" = NB row UUID
}

// SBPortBinding is an SB Port_Binding row of interest: type "chassisredirect"
// (the cr-… gateway ports) and "patch" ports named …-ls-ext-lsp-router.
type SBPortBinding struct {
	UUID         string
	LogicalPort  string
	Type         string
	Chassis      string // chassis *name* of the claim, "" when unclaimed
	NatAddresses []string
	// Datapath is the UUID of its SB Datapath_Binding (its switch or router).
	Datapath string
	// NetworkName is a localnet port's options:network_name: the key of
	// ovn-bridge-mappings that names the uplink bridge on every chassis.
	NetworkName string
}

// SBChassis merges SB Chassis and Chassis_Private of one chassis.
type SBChassis struct {
	Name     string
	Hostname string
	// NBCfg is Chassis_Private.nb_cfg: the last NB config it processed.
	NBCfg int
	// NBCfgTimestamp is Chassis_Private.nb_cfg_timestamp (ms since epoch).
	NBCfgTimestamp int
	// HasChassisRow is false when only Chassis_Private exists.
	HasChassisRow bool
}

// SBAddressSet is an SB Address_Set row (e.g. the router's _rtr_lb_* sets).
type SBAddressSet struct {
	Name      string
	Addresses []string
}

// SBState is a consistent snapshot of the SB tables ovnfwd reads.
type SBState struct {
	LoadBalancers []SBLoadBalancer
	PortBindings  []SBPortBinding
	Chassis       []SBChassis
	AddressSets   []SBAddressSet
	// NBCfg is SB_Global.nb_cfg: the NB config northd has realized in SB.
	NBCfg int
}

// ---------------------------------------------------------------------------
// Plan (produced here, applied by ovn/)

// OpKind is one kind of NB change.
type OpKind string

const (
	// OpCreateLB creates Load_Balancer LB (Name, Protocol, VIPs, Options).
	// It must be guarded: it fails if a row named LB.Name exists by then.
	OpCreateLB OpKind = "create-lb"
	// OpUpdateLB sets Protocol, VIPs and Options of row UUID; guarded by the
	// row's previous VIPs (Old) so a concurrent change aborts it.
	OpUpdateLB OpKind = "update-lb"
	// OpDeleteLB deletes row UUID and removes it from every router and switch
	// that references it (listed in Routers/Switches by UUID).
	OpDeleteLB OpKind = "delete-lb"
	// OpAttachRouter inserts LB (UUID, or the row created by an OpCreateLB of
	// the same name in the same change) into router Target.
	OpAttachRouter OpKind = "attach-router"
	// OpDetachRouter removes LB UUID from router Target.
	OpDetachRouter OpKind = "detach-router"
	// OpAttachSwitch / OpDetachSwitch: same for Logical_Switch Target.
	OpAttachSwitch OpKind = "attach-switch"
	OpDetachSwitch OpKind = "detach-switch"

	// HA chassis group ops (see ha.go; applied by ovn.NB.ApplyHA). Name is
	// the HA_Chassis_Group name, Target its UUID, GroupHAChassis the group's
	// ha_chassis set the op was planned from (the transaction's guard).

	// OpHAAdd inserts HA_Chassis{chassis_name: Chassis, priority: Priority}
	// into group Target, as ovn-nbctl ha-chassis-group-add-chassis does.
	OpHAAdd OpKind = "ha-add"
	// OpHARemove removes HA_Chassis HAUUID (of Chassis) from group Target;
	// the unreferenced row is garbage-collected.
	OpHARemove OpKind = "ha-remove"
	// OpHASetPriority sets the priority of HA_Chassis HAUUID (of Chassis).
	OpHASetPriority OpKind = "ha-set-priority"
)

// Op is one NB change. Which fields matter depends on Kind.
type Op struct {
	Kind OpKind
	// Name is the Load_Balancer name the op is about.
	Name string
	// UUID is the Load_Balancer row UUID; "" for a row created in the same change.
	UUID     string
	Protocol string
	VIPs     map[string]string
	Options  map[string]string
	// OldVIPs guard an OpUpdateLB.
	OldVIPs map[string]string
	// Target is the router or switch UUID for attach/detach ops.
	Target     string
	TargetName string
	// Routers and Switches referencing the row (UUIDs), for OpDeleteLB.
	Routers  []string
	Switches []string

	// Chassis is the HA_Chassis chassis_name of an HA op.
	Chassis string
	// Priority is the HA_Chassis priority of OpHAAdd / OpHASetPriority.
	Priority int
	// HAUUID is the HA_Chassis row of OpHARemove / OpHASetPriority.
	HAUUID string
	// GroupHAChassis is the group's ha_chassis set (HA_Chassis UUIDs) the HA
	// op was planned from; the transaction fails unless it still is.
	GroupHAChassis []string
}

// Change is every op for one forward (or one stale listen address), applied
// as one transaction.
type Change struct {
	Key    ForwardKey
	Prefix string
	Ops    []Op
	// Deletes counts the Load_Balancer rows this change deletes.
	Deletes int
}

// SetsOnlyOptions reports whether every op of the change updates a row's
// options alone: each an OpUpdateLB whose VIPs are the row's current ones
// (OldVIPs). Such a change adds what ovnfwd owns (neighbor_responder) and
// leaves what the server wrote as it is.
func (c Change) SetsOnlyOptions() bool {
	if len(c.Ops) == 0 {
		return false
	}
	for _, op := range c.Ops {
		if op.Kind != OpUpdateLB || len(op.VIPs) != len(op.OldVIPs) {
			return false
		}
		for k, v := range op.VIPs {
			if old, ok := op.OldVIPs[k]; !ok || old != v {
				return false
			}
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// Findings and forward states

// Severity of a finding.
type Severity string

const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityError    Severity = "error"
	SeverityCritical Severity = "critical"
)

// Category of a finding. The names are a contract (JSON output, metrics).
type Category string

const (
	CatMissing          Category = "missing"           // desired row absent
	CatStale            Category = "stale"             // row of a forward LXD no longer has
	CatVIPMismatch      Category = "vip-mismatch"      // VIP map differs
	CatProtocolMismatch Category = "protocol-mismatch" // protocol column differs
	CatOptionsMismatch  Category = "options-mismatch"  // options differ (neighbor_responder)
	CatDetached         Category = "detached"          // not attached where it should be
	CatExtraAttachment  Category = "extra-attachment"  // attached where it should not be
	CatDuplicate        Category = "duplicate"         // two or more rows share the name
	CatUnmappedNetwork  Category = "unmapped-network"  // LXD network has no unique OVN prefix
	CatBadForward       Category = "bad-forward"       // LXD forward cannot be translated
	CatOrphan           Category = "orphan"            // row of an lxd-net prefix no LXD network maps to
	CatNotRealized      Category = "not-realized"      // NB ok, SB lacks it
	CatNoNatAddress     Category = "no-nat-address"    // VIP missing from nat_addresses
	CatNoActiveChassis  Category = "no-active-chassis" // cr-… port unclaimed
	CatChassisBehind    Category = "chassis-behind"    // active chassis has not processed the change
	CatIncomplete       Category = "incomplete-listing"
	CatDeletionBudget   Category = "deletion-budget"

	// HA chassis group hygiene and gateway liveness (ha.go).
	CatHAStale             Category = "ha-stale"             // group entry that must go
	CatHAMissing           Category = "ha-missing"           // member chassis absent from the group
	CatHAPriority          Category = "ha-priority"          // priority differs from LXD's
	CatDarkEverywhere      Category = "dark-everywhere"      // no gateway claims the cr-… port
	CatChassisUnresponsive Category = "chassis-unresponsive" // chassis does not follow nb_cfg
)

// Finding is one divergence, with the repair ovnfwd would make.
type Finding struct {
	Key      ForwardKey
	Category Category
	Severity Severity
	Detail   string
	Repair   string
}

// State of one forward after verification.
type State string

const (
	StateOK       State = "ok"
	StatePending  State = "pending"
	StateDegraded State = "degraded"
	StateBroken   State = "broken"
)

// Uplink is the uplink network of an OVN network (default project), as far
// as forwards depend on it.
type Uplink struct {
	Name string
	// Type is the LXD network type: "physical" or "bridge".
	Type string
	// IngressMode is ovn.ingress_mode of a physical uplink ("l2proxy" when
	// unset); "" for other types.
	IngressMode string
	// IPv4Routes is ipv4.routes: where forward listen addresses may come from.
	IPv4Routes string
}

// LogicalFlow is one SB Logical_Flow row, as `ovnfwd explain` shows it.
type LogicalFlow struct {
	UUID     string
	Priority int
	Match    string
	Actions  string
	// Datapath is the name (external_ids:name) of the flow's logical
	// datapath, or its UUID when it has no name; "" for a flow of a
	// datapath group.
	Datapath string
}
