package engine

import (
	"cmp"
	"slices"
	"strings"
	"time"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// StatusReport is status's output; its JSON/YAML shape is a contract for
// scripts (fields are only ever added).
type StatusReport struct {
	Northd   NorthdStatus    `json:"northd" yaml:"northd"`
	Networks []NetworkStatus `json:"networks" yaml:"networks"`
	// HygieneFindings are the hygiene findings of no network (LXD
	// members whose chassis is unknown, ...).
	HygieneFindings []HygieneFinding `json:"hygiene_findings" yaml:"hygiene_findings"`
	// Members are the daemons asked (--daemon), in the order given.
	Members []MemberStatus `json:"members" yaml:"members"`
	// Writers are the members whose daemon says it writes NB: one, or none
	// while the lock changes hands (more would be a bug worth reporting).
	Writers []string      `json:"writers" yaml:"writers"`
	Summary StatusSummary `json:"summary" yaml:"summary"`
}

type NorthdStatus struct {
	// NBCfg, SBCfg, HVCfg are NB_Global's; SBNBCfg is SB_Global.nb_cfg.
	NBCfg    int  `json:"nb_cfg" yaml:"nb_cfg"`
	SBCfg    int  `json:"sb_cfg" yaml:"sb_cfg"`
	HVCfg    int  `json:"hv_cfg" yaml:"hv_cfg"`
	SBNBCfg  int  `json:"sb_global_nb_cfg" yaml:"sb_global_nb_cfg"`
	CaughtUp bool `json:"caught_up" yaml:"caught_up"`
}

type NetworkStatus struct {
	Project      string         `json:"project" yaml:"project"`
	Name         string         `json:"name" yaml:"name"`
	Prefix       string         `json:"ovn_prefix" yaml:"ovn_prefix"`
	MappingError string         `json:"mapping_error,omitempty" yaml:"mapping_error,omitempty"`
	Uplink       UplinkStatus   `json:"uplink" yaml:"uplink"`
	Gateway      GatewayStatus  `json:"gateway" yaml:"gateway"`
	HAGroup      HAGroupStatus  `json:"ha_group" yaml:"ha_group"`
	Forwards     map[string]int `json:"forwards" yaml:"forwards"` // by state, every state present
	Findings     int            `json:"findings" yaml:"findings"`
	// LastFailover is the newest gateway change the daemons recorded
	// (absent when none did, or none was asked or reachable).
	LastFailover *FailoverOut `json:"last_failover,omitempty" yaml:"last_failover,omitempty"`
	// HygieneFindings are the network's HA, liveness and route findings.
	HygieneFindings []HygieneFinding `json:"hygiene_findings" yaml:"hygiene_findings"`
}

type UplinkStatus struct {
	Name string `json:"name" yaml:"name"`
	Type string `json:"type,omitempty" yaml:"type,omitempty"`
	// IngressMode is ovn.ingress_mode of a physical uplink; "" otherwise.
	IngressMode string `json:"ingress_mode,omitempty" yaml:"ingress_mode,omitempty"`
	Error       string `json:"error,omitempty" yaml:"error,omitempty"`
}

type GatewayStatus struct {
	Port string `json:"port" yaml:"port"`
	// ActiveChassis is the SB claim (chassis name), "" when unclaimed.
	ActiveChassis  string `json:"active_chassis" yaml:"active_chassis"`
	ActiveHostname string `json:"active_hostname,omitempty" yaml:"active_hostname,omitempty"`
	// LXDChassis is LXD's own view (ovn.chassis of the network state).
	LXDChassis string `json:"lxd_chassis" yaml:"lxd_chassis"`
	LXDError   string `json:"lxd_error,omitempty" yaml:"lxd_error,omitempty"`
	// Agree: LXD names the claimant (by hostname or chassis name).
	Agree bool `json:"agree" yaml:"agree"`
}

type HAGroupStatus struct {
	Name    string     `json:"name" yaml:"name"`
	UUID    string     `json:"uuid,omitempty" yaml:"uuid,omitempty"`
	Members []HAMember `json:"members" yaml:"members"`
}

type HAMember struct {
	Chassis  string `json:"chassis" yaml:"chassis"`
	Hostname string `json:"hostname,omitempty" yaml:"hostname,omitempty"`
	Priority int    `json:"priority" yaml:"priority"`
	Active   bool   `json:"active" yaml:"active"`
	// SBChassis: the chassis has an SB Chassis row.
	SBChassis bool `json:"sb_chassis" yaml:"sb_chassis"`
	// NBCfg is its Chassis_Private.nb_cfg (0 when it has none).
	NBCfg    int    `json:"nb_cfg" yaml:"nb_cfg"`
	Liveness string `json:"liveness" yaml:"liveness"` // current, behind, absent
}

type StatusSummary struct {
	Networks   int            `json:"networks" yaml:"networks"`
	Unclaimed  int            `json:"unclaimed_gateways" yaml:"unclaimed_gateways"`
	Forwards   int            `json:"forwards" yaml:"forwards"`
	ByState    map[string]int `json:"by_state" yaml:"by_state"`
	Findings   int            `json:"findings" yaml:"findings"`
	DurationMS int64          `json:"duration_ms" yaml:"duration_ms"`
	// Hygiene counts the hygiene findings, of networks and of none.
	Hygiene int `json:"hygiene_findings" yaml:"hygiene_findings"`
	// Daemons asked, and how many of them did not answer.
	Daemons            int `json:"daemons" yaml:"daemons"`
	DaemonsUnreachable int `json:"daemons_unreachable" yaml:"daemons_unreachable"`
}

// Liveness values of an HA group member.
const (
	liveCurrent = "current"
	liveBehind  = "behind"
	liveAbsent  = "absent"
)

var allStates = []fwdsync.State{fwdsync.StateOK, fwdsync.StatePending, fwdsync.StateDegraded, fwdsync.StateBroken}

// StatusInput is everything status shows, read beforehand.
type StatusInput struct {
	Networks []fwdsync.Network
	Mappings map[fwdsync.NetworkRef]fwdsync.Mapping
	Statuses []fwdsync.ForwardStatus
	Findings []fwdsync.Finding
	NB       fwdsync.NBState
	SB       fwdsync.SBState
	// LXDChassis is LXD's view of the active chassis, per network; errors
	// reading it in LXDChassisErr.
	LXDChassis    map[fwdsync.NetworkRef]string
	LXDChassisErr map[fwdsync.NetworkRef]string
	// Uplinks by name; errors reading one in UplinkErr.
	Uplinks   map[string]fwdsync.Uplink
	UplinkErr map[string]string
	// Daemons are the answers of the daemons asked (none: --no-daemon).
	Daemons []DaemonReport
	Took    time.Duration
}

// BuildStatus assembles the report from plain data (no I/O).
func BuildStatus(in StatusInput) StatusReport {
	r := StatusReport{
		Northd: NorthdStatus{NBCfg: in.NB.NBCfg, SBCfg: in.NB.SBCfg, HVCfg: in.NB.HVCfg, SBNBCfg: in.SB.NBCfg,
			CaughtUp: in.NB.SBCfg >= in.NB.NBCfg && in.SB.NBCfg >= in.NB.NBCfg},
		Networks:        []NetworkStatus{},
		HygieneFindings: []HygieneFinding{},
		Summary:         StatusSummary{ByState: map[string]int{}, Daemons: len(in.Daemons)},
	}
	for _, s := range allStates {
		r.Summary.ByState[string(s)] = 0
	}
	ports := map[string]fwdsync.SBPortBinding{}
	for _, pb := range in.SB.PortBindings {
		ports[pb.LogicalPort] = pb
	}
	chassis := map[string]fwdsync.SBChassis{}
	for _, c := range in.SB.Chassis {
		chassis[c.Name] = c
	}
	failovers := mergeFailovers(in.Daemons)
	nets := slices.Clone(in.Networks)
	slices.SortFunc(nets, func(a, b fwdsync.Network) int {
		return strings.Compare(a.Project+"/"+a.Name, b.Project+"/"+b.Name)
	})
	for _, n := range nets {
		ref := n.Ref()
		ns := NetworkStatus{Project: ProjectName(n.Project), Name: n.Name, Forwards: map[string]int{}, HygieneFindings: []HygieneFinding{}}
		for _, s := range allStates {
			ns.Forwards[string(s)] = 0
		}
		ns.Uplink.Name = n.Config["network"]
		if u, ok := in.Uplinks[ns.Uplink.Name]; ok {
			ns.Uplink.Type, ns.Uplink.IngressMode = u.Type, u.IngressMode
		}
		ns.Uplink.Error = in.UplinkErr[ns.Uplink.Name]
		m, mapped := in.Mappings[ref]
		switch {
		case !mapped:
			ns.MappingError = "not planned"
		case !m.OK():
			ns.MappingError = m.Err
		default:
			ns.Prefix = m.Prefix
		}
		ns.Gateway.LXDChassis = in.LXDChassis[ref]
		ns.Gateway.LXDError = in.LXDChassisErr[ref]
		if ns.Prefix != "" {
			ns.Gateway.Port = "cr-" + m.ExtPort
			if pb, ok := ports[ns.Gateway.Port]; ok {
				ns.Gateway.ActiveChassis = pb.Chassis
				ns.Gateway.ActiveHostname = chassis[pb.Chassis].Hostname
			}
			ns.Gateway.Agree = ns.Gateway.ActiveChassis != "" &&
				(ns.Gateway.LXDChassis == ns.Gateway.ActiveHostname || ns.Gateway.LXDChassis == ns.Gateway.ActiveChassis)
			ns.HAGroup = haGroup(in.NB, m.ExtPort, ns.Gateway.ActiveChassis, chassis)
			if ns.Gateway.ActiveChassis == "" {
				r.Summary.Unclaimed++
			}
		}
		ns.LastFailover = lastFailover(failovers, ns.Gateway.Port, ns.Project+"/"+ns.Name, chassis)
		r.Networks = append(r.Networks, ns)
	}
	index := map[fwdsync.NetworkRef]int{}
	for i, n := range nets {
		index[n.Ref()] = i
	}
	for _, s := range in.Statuses {
		r.Summary.Forwards++
		r.Summary.ByState[string(s.State)]++
		if i, ok := index[fwdsync.NetworkRef{Project: s.Key.Project, Name: s.Key.Network}]; ok {
			r.Networks[i].Forwards[string(s.State)]++
		}
	}
	for _, f := range in.Findings {
		r.Summary.Findings++
		if i, ok := index[fwdsync.NetworkRef{Project: f.Key.Project, Name: f.Key.Network}]; ok && f.Key.Network != "" {
			r.Networks[i].Findings++
		}
	}
	for _, h := range collectHygiene(in.Findings, in.Daemons) {
		i, ok := index[fwdsync.NetworkRef{Project: h.Project, Name: h.Network}]
		if !ok && h.Project == "default" {
			i, ok = index[fwdsync.NetworkRef{Name: h.Network}] // the default project may be ""
		}
		switch {
		case h.Network == "":
			r.HygieneFindings = append(r.HygieneFindings, h)
		case ok:
			r.Networks[i].HygieneFindings = append(r.Networks[i].HygieneFindings, h)
		default:
			continue // a daemon's finding of a network outside the scope
		}
		r.Summary.Hygiene++
	}
	keep := func(project, network string) bool {
		_, ok := index[fwdsync.NetworkRef{Project: project, Name: network}]
		_, okDefault := index[fwdsync.NetworkRef{Name: network}]
		return ok || (project == "default" && okDefault)
	}
	r.Members = memberStatuses(in.Daemons, keep)
	r.Writers = []string{}
	for _, m := range r.Members {
		if m.Writer {
			r.Writers = append(r.Writers, cmp.Or(m.Member, m.Daemon))
		}
	}
	for _, m := range r.Members {
		if !m.Reachable {
			r.Summary.DaemonsUnreachable++
		}
	}
	r.Summary.Networks = len(r.Networks)
	r.Summary.DurationMS = in.Took.Milliseconds()
	return r
}

// haGroup describes the NB HA chassis group of gateway port extPort, its
// members sorted by priority (highest first), judged against SB.
func haGroup(nb fwdsync.NBState, extPort, active string, chassis map[string]fwdsync.SBChassis) HAGroupStatus {
	g := HAGroupStatus{Members: []HAMember{}}
	grp, members, _ := fwdsync.HAGroupOf(nb, extPort)
	g.Name, g.UUID = grp.Name, grp.UUID
	for _, h := range members {
		c, known := chassis[h.ChassisName]
		m := HAMember{Chassis: h.ChassisName, Hostname: c.Hostname, Priority: h.Priority, Active: h.ChassisName == active,
			SBChassis: known && c.HasChassisRow, NBCfg: c.NBCfg}
		switch {
		case !m.SBChassis:
			m.Liveness = liveAbsent
		case c.NBCfg < nb.NBCfg:
			m.Liveness = liveBehind
		default:
			m.Liveness = liveCurrent
		}
		g.Members = append(g.Members, m)
	}
	slices.SortFunc(g.Members, func(a, b HAMember) int {
		if a.Priority != b.Priority {
			return b.Priority - a.Priority
		}
		return strings.Compare(a.Chassis, b.Chassis)
	})
	return g
}

// ExitCode: 1 when a gateway is unclaimed or a forward is not ok.
func (r StatusReport) ExitCode() int {
	if r.Summary.Unclaimed > 0 || r.Summary.ByState[string(fwdsync.StateOK)] < r.Summary.Forwards {
		return ExitFindings
	}
	// Its own hygiene findings count; what only a daemon reports is shown
	// but never changes status's exit code (a daemon may be unreachable).
	local := func(fs []HygieneFinding) bool {
		for _, f := range fs {
			if SevereSeverity(f.Severity) && slices.Contains(f.Sources, LocalSource) {
				return true
			}
		}
		return false
	}
	if local(r.HygieneFindings) {
		return ExitFindings
	}
	for _, n := range r.Networks {
		if n.MappingError != "" || local(n.HygieneFindings) {
			return ExitFindings
		}
	}
	return ExitOK
}

func SumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
