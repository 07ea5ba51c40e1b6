package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ovnfwd/ovnfwd/engine"
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
route state (vip-unanswered, lxd-bgp-also-announces, route-no-next-hop) and
the address plan (listen-outside-routes, listen-is-instance-address,
listen-overlap, forward-has-location).

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

func writeStatus(w io.Writer, format string, r engine.StatusReport) error {
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
			fmt.Fprintf(tw, "HA group\t%s (%s)\n", n.HAGroup.Name, engine.Plural(len(n.HAGroup.Members), "member"))
		} else if n.Prefix != "" {
			fmt.Fprintf(tw, "HA group\tnone on %s-lr-lrp-ext\n", n.Prefix)
		}
		line := fmt.Sprintf("%d", engine.SumCounts(n.Forwards))
		if c := countList(n.Forwards); c != "" {
			line += ": " + c
		}
		fmt.Fprintf(tw, "forwards\t%s; %s\n", line, engine.Plural(n.Findings, "finding"))
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
				fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%d\t%s\n", m.Chassis, orDash(m.Hostname), m.Priority, active, yesNo(m.SBChassis), m.NBCfg, m.Liveness)
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
	line := fmt.Sprintf("%s, %d unclaimed gateway", engine.Plural(s.Networks, "network"), s.Unclaimed)
	if s.Unclaimed != 1 {
		line += "s"
	}
	line += fmt.Sprintf(", %s", engine.Plural(s.Forwards, "forward"))
	if c := countList(s.ByState); c != "" {
		line += " (" + c + ")"
	}
	line += ", " + engine.Plural(s.Findings, "finding")
	if s.Hygiene > 0 {
		line += ", " + engine.Plural(s.Hygiene, "hygiene finding")
	}
	if s.Daemons > 0 {
		line += fmt.Sprintf(", %s (%d unreachable)", engine.Plural(s.Daemons, "daemon"), s.DaemonsUnreachable)
	}
	line += fmt.Sprintf(" in %d ms", s.DurationMS)
	_, err := fmt.Fprintln(w, line)
	return err
}

// lastFailoverText is the table's "last failover" line.
func lastFailoverText(f *engine.FailoverOut, s engine.StatusSummary) string {
	switch {
	case f != nil:
		return engine.FailoverSummary(*f)
	case s.DaemonsUnreachable == s.Daemons:
		return "unknown: no daemon answered"
	}
	return "none recorded by the daemons (since they started)"
}

// writeHygiene lists hygiene findings under a network.
func writeHygiene(w io.Writer, fs []engine.HygieneFinding) {
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
		if len(f.Sources) != 1 || f.Sources[0] != engine.LocalSource {
			fmt.Fprintf(w, "      seen by: %s\n", strings.Join(f.Sources, ", "))
		}
	}
}

func uplinkLine(u engine.UplinkStatus) string {
	s := orDash(u.Name)
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

func gatewayLine(g engine.GatewayStatus) string {
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

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func statusAction(c *cli.Context) error {
	if c.Args().Present() {
		return cli.Exit(fmt.Sprintf("status takes no arguments (got %q); use --network", c.Args().First()), engine.ExitError)
	}
	format, err := resolveFormat(c.String("format"), "table", "json", "yaml")
	if err != nil {
		return cli.Exit(err.Error(), engine.ExitError)
	}
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	ha, err := haFromFlags(c)
	if err != nil {
		return cli.Exit(err.Error(), engine.ExitError)
	}
	start := time.Now()
	// HA groups are judged as check --deep judges them; nothing is written.
	v, err := readOnlyPass(c, log, ha)
	if err != nil {
		return err
	}
	defer v.close()
	cs, e, pr, ctx, daemons := v.cs, v.e, v.pr, v.ctx, v.daemons
	in := engine.StatusInput{
		Mappings: pr.Plan.Mappings, NB: cs.nb.SnapshotFor(nil), SB: cs.sb.Snapshot(),
		LXDChassis: map[fwdsync.NetworkRef]string{}, LXDChassisErr: map[fwdsync.NetworkRef]string{},
		Uplinks: map[string]fwdsync.Uplink{}, UplinkErr: map[string]string{},
	}
	sc := engine.Scope{Project: c.String("project"), Network: c.String("network")}
	for _, n := range e.Networks() {
		if !sc.Match(fwdsync.ForwardKey{Project: n.Project, Network: n.Name}) {
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
		if sc.Match(s.Key) {
			in.Statuses = append(in.Statuses, s)
		}
	}
	for _, f := range pr.Findings {
		if sc.Match(f.Key) {
			in.Findings = append(in.Findings, f)
		}
	}
	in.Daemons = <-daemons
	engine.ScopeDaemonFindings(in.Daemons, sc)
	in.Took = time.Since(start)
	r := engine.BuildStatus(in)
	if err := writeStatus(os.Stdout, format, r); err != nil {
		return cli.Exit(err.Error(), engine.ExitError)
	}
	if code := r.ExitCode(); code != engine.ExitOK {
		return cli.Exit("", code)
	}
	return nil
}
