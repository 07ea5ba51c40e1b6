package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ovnfwd/ovnfwd/lxdwatch"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show each OVN network's gateway, HA chassis group and forwards by state (read-only)",
		ArgsUsage: " ",
		Description: `status shows, per LXD OVN network: its OVN prefix (lxd-net<ID>), the uplink and
its ovn.ingress_mode, the chassis that holds the gateway port
cr-<prefix>-lr-lrp-ext according to the southbound DB (the claim) and according
to LXD (GET /1.0/networks/<name>/state, ovn.chassis), the members of the
network's HA chassis group with their priority and liveness, and its forwards
by state (ok, pending, degraded, broken) as check --deep would judge them.

Liveness of a member: "current" (SB Chassis row present and its
Chassis_Private.nb_cfg has reached NB_Global.nb_cfg), "behind" (it has not),
"absent" (no SB Chassis row: ovn-controller stopped or never registered). A
killed host keeps its rows and looks current until the next barrier (any
ovn-nbctl --wait, ovnfwd repair) bumps nb_cfg. status itself writes nothing.

Each network also lists its hygiene findings: HA chassis groups (ha-stale,
ha-missing, ha-priority), liveness (chassis-unresponsive, dark-everywhere) and
route state (vip-unanswered, lxd-bgp-also-announces, route-no-next-hop).

The daemons: status asks the ` + "`ovnfwd run`" + ` daemons (one per LXD member) at their
--metrics-address, all at once, for what only they see over time: the last
gateway failover of each network (from, to, how long it was unclaimed, when its
forwards were re-verified; the same change seen by several daemons is shown
once), liveness findings, and in the members section each member's chassis,
what it announces over BGP and its sessions. Without --daemon it asks the local
daemon (` + defaultDaemon + `). A daemon that does not answer within --daemon-timeout is
shown as "unreachable: <reason>"; that is not an error and does not change the
exit code. --no-daemon asks none.

Exit codes: 0 every gateway claimed and every forward ok, 1 otherwise, 2 errors.

Examples:
   ovnfwd status
   ovnfwd status --network ovn0 --format yaml
   ovnfwd status --format json | jq '.networks[] | {name, active: .gateway.active_chassis}'
   ovnfwd status --daemon node1:9478 --daemon node2:9478 --daemon node3:9478
   OVNFWD_DAEMON=node1:9478,node2:9478 ovnfwd status --format json | jq '.networks[].last_failover'
   ovnfwd status --no-daemon`,
		Flags: append(append(append([]cli.Flag{
			&cli.StringFlag{Name: "project", Usage: "only networks of this LXD `PROJECT`"},
			&cli.StringFlag{Name: "network", Usage: "only this LXD `NETWORK`"},
			formatFlag(),
			timeoutFlag(),
		}, daemonFlags()...), planFlags()...), statusHAFlags()...), // judged with the same policy as check --deep
		OnUsageError: usageError,
		Action:       statusAction,
	}
}

// statusHAFlags are the HA flags that change how status judges the groups
// (the others are about repairs).
func statusHAFlags() []cli.Flag {
	var out []cli.Flag
	for _, f := range haFlags() {
		if n := f.Names()[0]; n == "member-chassis" || n == "no-ha" {
			out = append(out, f)
		}
	}
	return out
}

// statusReport is status's output; its JSON/YAML shape is a contract for
// scripts (fields are only ever added).
type statusReport struct {
	Northd   northdStatus    `json:"northd" yaml:"northd"`
	Networks []networkStatus `json:"networks" yaml:"networks"`
	// HygieneFindings are the hygiene findings of no network (LXD
	// members whose chassis is unknown, ...).
	HygieneFindings []hygieneFinding `json:"hygiene_findings" yaml:"hygiene_findings"`
	// Members are the daemons asked (--daemon), in the order given.
	Members []memberStatus `json:"members" yaml:"members"`
	Summary statusSummary  `json:"summary" yaml:"summary"`
}

type northdStatus struct {
	// NBCfg, SBCfg, HVCfg are NB_Global's; SBNBCfg is SB_Global.nb_cfg.
	NBCfg    int  `json:"nb_cfg" yaml:"nb_cfg"`
	SBCfg    int  `json:"sb_cfg" yaml:"sb_cfg"`
	HVCfg    int  `json:"hv_cfg" yaml:"hv_cfg"`
	SBNBCfg  int  `json:"sb_global_nb_cfg" yaml:"sb_global_nb_cfg"`
	CaughtUp bool `json:"caught_up" yaml:"caught_up"`
}

type networkStatus struct {
	Project      string         `json:"project" yaml:"project"`
	Name         string         `json:"name" yaml:"name"`
	Prefix       string         `json:"ovn_prefix" yaml:"ovn_prefix"`
	MappingError string         `json:"mapping_error,omitempty" yaml:"mapping_error,omitempty"`
	Uplink       uplinkStatus   `json:"uplink" yaml:"uplink"`
	Gateway      gatewayStatus  `json:"gateway" yaml:"gateway"`
	HAGroup      haGroupStatus  `json:"ha_group" yaml:"ha_group"`
	Forwards     map[string]int `json:"forwards" yaml:"forwards"` // by state, every state present
	Findings     int            `json:"findings" yaml:"findings"`
	// LastFailover is the newest gateway change the daemons recorded
	// (absent when none did, or none was asked or reachable).
	LastFailover *failoverOut `json:"last_failover,omitempty" yaml:"last_failover,omitempty"`
	// HygieneFindings are the network's HA, liveness and route findings.
	HygieneFindings []hygieneFinding `json:"hygiene_findings" yaml:"hygiene_findings"`
}

type uplinkStatus struct {
	Name string `json:"name" yaml:"name"`
	Type string `json:"type,omitempty" yaml:"type,omitempty"`
	// IngressMode is ovn.ingress_mode of a physical uplink; "" otherwise.
	IngressMode string `json:"ingress_mode,omitempty" yaml:"ingress_mode,omitempty"`
	Error       string `json:"error,omitempty" yaml:"error,omitempty"`
}

type gatewayStatus struct {
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

type haGroupStatus struct {
	Name    string     `json:"name" yaml:"name"`
	UUID    string     `json:"uuid,omitempty" yaml:"uuid,omitempty"`
	Members []haMember `json:"members" yaml:"members"`
}

type haMember struct {
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

type statusSummary struct {
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

// statusInput is everything status shows, read beforehand.
type statusInput struct {
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
	Uplinks   map[string]lxdwatch.Uplink
	UplinkErr map[string]string
	// Daemons are the answers of the daemons asked (none: --no-daemon).
	Daemons []daemonReport
	Took    time.Duration
}

// buildStatus assembles the report from plain data (no I/O).
func buildStatus(in statusInput) statusReport {
	r := statusReport{
		Northd: northdStatus{NBCfg: in.NB.NBCfg, SBCfg: in.NB.SBCfg, HVCfg: in.NB.HVCfg, SBNBCfg: in.SB.NBCfg,
			CaughtUp: in.NB.SBCfg >= in.NB.NBCfg && in.SB.NBCfg >= in.NB.NBCfg},
		Networks:        []networkStatus{},
		HygieneFindings: []hygieneFinding{},
		Summary:         statusSummary{ByState: map[string]int{}, Daemons: len(in.Daemons)},
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
		ns := networkStatus{Project: projectName(n.Project), Name: n.Name, Forwards: map[string]int{}, HygieneFindings: []hygieneFinding{}}
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
func haGroup(nb fwdsync.NBState, extPort, active string, chassis map[string]fwdsync.SBChassis) haGroupStatus {
	g := haGroupStatus{Members: []haMember{}}
	var groupUUID string
	for _, p := range nb.RouterPorts {
		if p.Name == extPort {
			groupUUID = p.HAChassisGroup
		}
	}
	var members []string
	for _, grp := range nb.HAChassisGroups {
		if grp.UUID == groupUUID {
			g.Name, g.UUID, members = grp.Name, grp.UUID, grp.HAChassis
		}
	}
	for _, h := range nb.HAChassis {
		if !slices.Contains(members, h.UUID) {
			continue
		}
		c, known := chassis[h.ChassisName]
		m := haMember{Chassis: h.ChassisName, Hostname: c.Hostname, Priority: h.Priority, Active: h.ChassisName == active,
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
	slices.SortFunc(g.Members, func(a, b haMember) int {
		if a.Priority != b.Priority {
			return b.Priority - a.Priority
		}
		return strings.Compare(a.Chassis, b.Chassis)
	})
	return g
}

// exitCode: 1 when a gateway is unclaimed or a forward is not ok.
func (r statusReport) exitCode() int {
	if r.Summary.Unclaimed > 0 || r.Summary.ByState[string(fwdsync.StateOK)] < r.Summary.Forwards {
		return exitFindings
	}
	for _, n := range r.Networks {
		if n.MappingError != "" {
			return exitFindings
		}
	}
	return exitOK
}

func writeStatus(w io.Writer, format string, r statusReport) error {
	if format != "table" {
		return writeStructured(w, format, r)
	}
	caught := "caught up"
	if !r.Northd.CaughtUp {
		caught = "BEHIND"
	}
	fmt.Fprintf(w, "northd: NB_Global nb_cfg %d, sb_cfg %d, hv_cfg %d; SB_Global nb_cfg %d (%s)\n",
		r.Northd.NBCfg, r.Northd.SBCfg, r.Northd.HVCfg, r.Northd.SBNBCfg, caught)
	for _, n := range r.Networks {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "NETWORK\t%s/%s\n", n.Project, n.Name)
		if n.MappingError != "" {
			fmt.Fprintf(tw, "OVN prefix\tnone: %s\n", n.MappingError)
		} else {
			fmt.Fprintf(tw, "OVN prefix\t%s\n", n.Prefix)
		}
		fmt.Fprintf(tw, "uplink\t%s\n", uplinkLine(n.Uplink))
		fmt.Fprintf(tw, "gateway\t%s\n", gatewayLine(n.Gateway))
		if n.HAGroup.Name != "" {
			fmt.Fprintf(tw, "HA group\t%s (%s)\n", n.HAGroup.Name, plural(len(n.HAGroup.Members), "member"))
		} else if n.Prefix != "" {
			fmt.Fprintf(tw, "HA group\tnone on %s-lr-lrp-ext\n", n.Prefix)
		}
		line := fmt.Sprintf("%d", sumCounts(n.Forwards))
		if c := countList(n.Forwards); c != "" {
			line += ": " + c
		}
		fmt.Fprintf(tw, "forwards\t%s; %s\n", line, plural(n.Findings, "finding"))
		if r.Summary.Daemons > 0 && n.Prefix != "" {
			fmt.Fprintf(tw, "last failover\t%s\n", lastFailoverText(n.LastFailover, r.Summary))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(n.HAGroup.Members) > 0 {
			tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  CHASSIS\tHOSTNAME\tPRIORITY\tACTIVE\tSB CHASSIS\tNB_CFG\tLIVENESS")
			for _, m := range n.HAGroup.Members {
				active := ""
				if m.Active {
					active = "*"
				}
				fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%d\t%s\n", m.Chassis, dash(m.Hostname), m.Priority, active, yesNo(m.SBChassis), m.NBCfg, m.Liveness)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		writeHygiene(w, n.HygieneFindings)
	}
	if len(r.HygieneFindings) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "LXD MEMBERS (findings of no network)")
		writeHygiene(w, r.HygieneFindings)
	}
	if len(r.Members) > 0 {
		fmt.Fprintln(w)
		if err := writeMembers(w, r.Members); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	s := r.Summary
	line := fmt.Sprintf("%s, %d unclaimed gateway", plural(s.Networks, "network"), s.Unclaimed)
	if s.Unclaimed != 1 {
		line += "s"
	}
	line += fmt.Sprintf(", %s", plural(s.Forwards, "forward"))
	if c := countList(s.ByState); c != "" {
		line += " (" + c + ")"
	}
	line += ", " + plural(s.Findings, "finding")
	if s.Hygiene > 0 {
		line += ", " + plural(s.Hygiene, "hygiene finding")
	}
	if s.Daemons > 0 {
		line += fmt.Sprintf(", %s (%d unreachable)", plural(s.Daemons, "daemon"), s.DaemonsUnreachable)
	}
	line += fmt.Sprintf(" in %d ms", s.DurationMS)
	_, err := fmt.Fprintln(w, line)
	return err
}

// lastFailoverText is the table's "last failover" line.
func lastFailoverText(f *failoverOut, s statusSummary) string {
	switch {
	case f != nil:
		return failoverLine(*f)
	case s.DaemonsUnreachable == s.Daemons:
		return "unknown: no daemon answered"
	}
	return "none recorded by the daemons (since they started)"
}

// writeHygiene lists hygiene findings under a network.
func writeHygiene(w io.Writer, fs []hygieneFinding) {
	for _, f := range fs {
		what := f.Category
		if f.Chassis != "" {
			what += " " + f.Chassis
		}
		if f.ListenAddress != "" {
			what += " " + f.ListenAddress
		}
		fmt.Fprintf(w, "  %s [%s]: %s\n", what, f.Severity, f.Detail)
		fmt.Fprintf(w, "      repair: %s\n", f.Repair)
		if len(f.Sources) != 1 || f.Sources[0] != localSource {
			fmt.Fprintf(w, "      seen by: %s\n", strings.Join(f.Sources, ", "))
		}
	}
}

func uplinkLine(u uplinkStatus) string {
	s := dash(u.Name)
	switch {
	case u.Error != "":
		s += " (" + u.Error + ")"
	case u.Type == "physical":
		s += " (physical, ovn.ingress_mode " + u.IngressMode + ")"
	case u.Type != "":
		s += " (" + u.Type + ", no ovn.ingress_mode)"
	}
	return s
}

func gatewayLine(g gatewayStatus) string {
	if g.Port == "" {
		return "unknown (network not mapped)"
	}
	s := g.Port + " "
	switch {
	case g.ActiveChassis == "":
		s += "UNCLAIMED: no chassis holds it"
	case g.ActiveHostname != "" && g.ActiveHostname != g.ActiveChassis:
		s += "claimed by " + g.ActiveChassis + " (" + g.ActiveHostname + ")"
	default:
		s += "claimed by " + g.ActiveChassis
	}
	switch {
	case g.LXDError != "":
		s += "; LXD's view unknown: " + g.LXDError
	case g.LXDChassis == "":
		s += "; LXD reports no chassis"
	case g.Agree:
		s += "; LXD agrees"
	default:
		s += "; LXD says " + g.LXDChassis
	}
	return s
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func statusAction(c *cli.Context) error {
	if c.Args().Present() {
		return cli.Exit(fmt.Sprintf("status takes no arguments (got %q); use --network", c.Args().First()), exitError)
	}
	format, err := resolveFormat(c.String("format"), os.Stdout)
	if err != nil {
		return cli.Exit(err.Error(), exitError)
	}
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	ha, err := haFromFlags(c)
	if err != nil {
		return cli.Exit(err.Error(), exitError)
	}
	start := time.Now()
	// HA groups are judged as check --deep judges them; nothing is written.
	v, err := readOnlyPass(c, log, ha)
	if err != nil {
		return err
	}
	defer v.close()
	cs, e, pr, ctx, daemons := v.cs, v.e, v.pr, v.ctx, v.daemons
	in := statusInput{
		Mappings: pr.Plan.Mappings, NB: cs.nb.SnapshotFor(nil), SB: cs.sb.Snapshot(),
		LXDChassis: map[fwdsync.NetworkRef]string{}, LXDChassisErr: map[fwdsync.NetworkRef]string{},
		Uplinks: map[string]lxdwatch.Uplink{}, UplinkErr: map[string]string{},
	}
	sc := scope{project: c.String("project"), network: c.String("network")}
	for _, n := range e.lxdState.Networks {
		if !sc.match(fwdsync.ForwardKey{Project: n.Project, Network: n.Name}) {
			continue
		}
		in.Networks = append(in.Networks, n)
		if ch, err := cs.lxd.NetworkState(ctx, n.Project, n.Name); err != nil {
			in.LXDChassisErr[n.Ref()] = err.Error()
		} else {
			in.LXDChassis[n.Ref()] = ch
		}
		up := n.Config["network"]
		if _, seen := in.Uplinks[up]; up == "" || seen || in.UplinkErr[up] != "" {
			continue
		}
		if u, err := cs.lxd.Uplink(ctx, up); err != nil {
			in.UplinkErr[up] = err.Error()
		} else {
			in.Uplinks[up] = u
		}
	}
	for _, s := range pr.Statuses {
		if sc.match(s.Key) {
			in.Statuses = append(in.Statuses, s)
		}
	}
	for _, f := range pr.Findings {
		if sc.match(f.Key) {
			in.Findings = append(in.Findings, f)
		}
	}
	in.Daemons = <-daemons
	scopeDaemonFindings(in.Daemons, sc)
	in.Took = time.Since(start)
	r := buildStatus(in)
	if err := writeStatus(os.Stdout, format, r); err != nil {
		return cli.Exit(err.Error(), exitError)
	}
	if code := r.exitCode(); code != exitOK {
		return cli.Exit("", code)
	}
	return nil
}
