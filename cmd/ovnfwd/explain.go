package main

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ovnfwd/ovnfwd/engine"
	"github.com/ovnfwd/ovnfwd/lxdwatch"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

func explainCommand() *cli.Command {
	return &cli.Command{
		Name:      "explain",
		Usage:     "walk the verification chain of one forward, step by step, with evidence",
		ArgsUsage: "<network> <listen-address>",
		Description: `explain follows one forward from LXD down to the chassis that must answer for
its listen address, and prints each step with ✓ (holds), ✗ (broken), ! (holds
with a warning) or – (does not apply), and the evidence it read:

   1. LXD: the forward, its ports and default target
   2. the network's OVN prefix (lxd-net<ID>), router and internal switch
   3. NB: the Load_Balancer rows (UUIDs, VIPs, attachments)
   4. northd: NB_Global nb_cfg/sb_cfg and SB_Global nb_cfg
   5. SB: the Load_Balancer rows northd made (external_ids:lb_id)
   6. SB: the lr_in_dnat logical flows with ct_lb_mark for each VIP
   7. SB: the VIP in the gateway's nat_addresses (GARPs)
   8. SB: ARP/ND responder address set membership (_rtr_lb_*)
   9. SB: the chassis claiming cr-<prefix>-lr-lrp-ext, LXD's own view, the HA
      group's members with their liveness, and from the ovnfwd run daemons:
      the network's last gateway failover and whether a daemon finds the
      active chassis unresponsive
  10. that chassis's Chassis_Private.nb_cfg against NB_Global.nb_cfg

The first failing step says what to do. explain is read-only: it writes no
barrier, so step 10 compares with the last NB config anyone published.

After the steps, explain lists the ACLs around the forward's targets ("acls"
in JSON): the network's LXD security.acls and its default ingress action,
each target instance NIC's security.acls, the rules of those LXD ACLs, and
the NB ACLs on the logical switch ports that hold a target address (through
the port groups holding the port, or its switch). Its verdicts say plainly
when a drop or reject rule matches the forward's protocol and port, when no
rule allows it and the default ingress action applies, or when it cannot
decide (a destination given by name or set, an OVN drop without a port
condition): a textual match, not a packet trace.

The daemons are asked as status asks them (--daemon, default the local
daemon ` + defaultDaemon + `; --no-daemon): one that does not answer within
--daemon-timeout is shown as unreachable in step 9 and changes nothing else.

Exit codes: 0 the whole chain holds, 1 a step fails, 2 errors.

Examples:
   ovnfwd explain ovn0 198.51.100.10
   ovnfwd explain --project web ovn0 2001:db8::10
   ovnfwd explain ovn0 198.51.100.10 --format json | jq '.steps[] | select(.status=="fail")'
   ovnfwd explain ovn0 198.51.100.10 --daemon node1:9478 --daemon node2:9478
   ovnfwd explain ovn0 198.51.100.10 --format json | jq .last_failover`,
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "project", Value: "default", Usage: "LXD `PROJECT` of the network"},
			formatFlag(),
			timeoutFlag(),
		}, daemonFlags()...), planFlags()...), // judged with the same policy as check
		OnUsageError: usageError,
		Action:       explainAction,
	}
}

var stepSymbol = map[string]string{engine.StepOK: "✓", engine.StepFail: "✗", engine.StepWarn: "!", engine.StepSkip: "–"}

func writeExplanation(w io.Writer, format string, x engine.Explanation) error {
	if format != "table" {
		return writeStructured(w, format, x)
	}
	fmt.Fprintf(w, "Forward %s/%s/%s: %s — %s\n\n", x.Project, x.Network, x.ListenAddress, x.State, x.Reason)
	for _, s := range x.Steps {
		fmt.Fprintf(w, "%2d %s %s\n", s.Step, stepSymbol[s.Status], s.Title)
		for _, e := range s.Evidence {
			fmt.Fprintf(w, "     %s\n", e)
		}
		if s.Action != "" && s.Status != engine.StepOK && s.Status != engine.StepSkip {
			fmt.Fprintf(w, "     → %s\n", s.Action)
		}
	}
	if lines := x.ACLs.Lines(); len(lines) > 0 {
		fmt.Fprintln(w, "\nACLs around the targets (judged by a textual match on protocol, port and destination):")
		for _, l := range lines {
			fmt.Fprintf(w, "   %s\n", l)
		}
	}
	fmt.Fprintln(w)
	if x.FirstFailure > 0 {
		_, err := fmt.Fprintf(w, "First failing step: %d. Next: %s\n", x.FirstFailure, x.Next)
		return err
	}
	_, err := fmt.Fprintln(w, "Every step holds.")
	return err
}

func explainAction(c *cli.Context) error {
	args, err := trailingFlags(c)
	if err != nil {
		return cli.Exit(err.Error(), engine.ExitError)
	}
	if len(args) != 2 {
		return cli.Exit("usage: ovnfwd explain <network> <listen-address> [--project P] [--format F]", engine.ExitError)
	}
	network, listen := args[0], strings.Trim(args[1], "[]")
	if _, err := netip.ParseAddr(listen); err != nil {
		return cli.Exit(fmt.Sprintf("listen address %q: not an IP address", args[1]), engine.ExitError)
	}
	key := fwdsync.ForwardKey{Project: c.String("project"), Network: network, ListenAddress: lxdwatch.CanonicalIP(listen)}
	format, err := resolveFormat(c.String("format"), "table", "json", "yaml")
	if err != nil {
		return cli.Exit(err.Error(), engine.ExitError)
	}
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	v, err := readOnlyPass(c, log, nil)
	if err != nil {
		return err
	}
	defer v.close()
	cs, e, pr, ctx, daemons := v.cs, v.e, v.pr, v.ctx, v.daemons
	in := engine.ExplainInput{Key: key, NB: cs.nb.Snapshot(), SB: cs.sb.Snapshot(), Rules: pr.Plan.Rules}
	ref := fwdsync.NetworkRef{Project: key.Project, Name: key.Network}
	for _, n := range e.Networks() {
		in.NetworkListed = in.NetworkListed || n.Ref() == ref
	}
	in.Mapping = pr.Plan.Mappings[ref]
	for _, f := range e.Forwards() {
		if f.Key() == key {
			f := f
			in.Forward = &f
		}
	}
	if d, ok := pr.Plan.Desired[key]; ok {
		in.Desired = &d
	}
	in.Unplanned = pr.Plan.Unplanned[key]
	in.Status = fwdsync.ForwardStatus{Key: key}
	for _, s := range pr.Statuses {
		if s.Key == key {
			in.Status = s
		}
	}
	if in.Status.State == "" && in.Forward == nil {
		in.Status.State, in.Status.Reason = fwdsync.StateBroken, "LXD has no such forward"
	}
	for _, f := range pr.Findings {
		if f.Key == key || (f.Key.ListenAddress == "" && f.Key.Network == key.Network && f.Key.Project == key.Project) {
			in.Findings = append(in.Findings, f)
		}
	}
	if in.NetworkListed {
		if ch, err := cs.lxd.NetworkState(ctx, key.Project, key.Network); err != nil {
			in.LXDChassisErr = err.Error()
		} else {
			in.LXDChassis = ch
		}
	}
	if in.Flows, err = cs.sb.StageFlows(ctx, "lr_in_dnat", key.ListenAddress); err != nil {
		in.FlowsErr = err.Error()
	}
	if in.Forward != nil {
		for _, n := range e.Networks() {
			if n.Ref() == ref {
				in.ACLs = engine.ExplainACLsFor(*in.Forward, n, e.Instances(), engine.ACLReaders{
					LXDACLs: func(project string, names []string) ([]fwdsync.NetworkACL, error) {
						return cs.lxd.NetworkACLs(ctx, project, names)
					},
					PortACLs: func(address string) ([]fwdsync.OVNPort, error) { return cs.nb.PortACLs(ctx, address) },
				})
			}
		}
	}
	in.Daemons = <-daemons
	x := engine.BuildExplanation(in)
	if err := writeExplanation(os.Stdout, format, x); err != nil {
		return cli.Exit(err.Error(), engine.ExitError)
	}
	if x.FirstFailure > 0 || x.State != string(fwdsync.StateOK) {
		return cli.Exit("", engine.ExitFindings)
	}
	return nil
}

// trailingFlags returns the positional arguments and applies the command's
// flags that follow them (urfave/cli stops parsing flags at the first
// argument, but "explain ovn0 198.51.100.10 --project web" is natural).
func trailingFlags(c *cli.Context) ([]string, error) {
	var pos []string
	args := c.Args().Slice()
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		var flag cli.Flag
		for _, f := range c.Command.Flags {
			if slices.Contains(f.Names(), name) {
				flag = f
			}
		}
		if flag == nil {
			return nil, fmt.Errorf("flag provided but not defined: %s", a)
		}
		if _, isBool := flag.(*cli.BoolFlag); isBool && !hasValue {
			value, hasValue = "true", true
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag needs an argument: %s", a)
			}
			i++
			value = args[i]
		}
		if err := c.Set(flag.Names()[0], value); err != nil {
			return nil, fmt.Errorf("%s: %w", a, err)
		}
	}
	return pos, nil
}
