package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/ovnfwd/ovnfwd/engine"
	"github.com/ovnfwd/ovnfwd/lxdwatch"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "check, read-only, that OVN holds every LXD forward exactly as LXD would write it",
		ArgsUsage: " ",
		Description: `check lists every forward from LXD (all projects), reads the OVN northbound DB
and reports each divergence with the repair ovnfwd would make. It never writes,
neither to LXD nor to OVN: the northbound connection is opened read-only and no
barrier is written, so read-only credentials are enough.

With --deep it also follows each forward down the southbound DB: the realized
Load_Balancer row, the VIP in the gateway port's nat_addresses, a chassis
holding the network's gateway port, and whether that chassis has processed the
last NB config anyone published (NB_Global.nb_cfg).

Route state is judged with the policy run uses, from the same flags or
environment. --arp-responder: a VIP nobody answers ARP/ND for is
vip-unanswered (not on an uplink with ovn.ingress_mode=routed, which routes to
the router instead; check reads the uplinks' config from LXD). With --bgp-asn
(OVNFWD_BGP_ASN), i.e. when run announces the forwards over BGP, check also
reports, for every network in the engine.Scope of --bgp-networks/--bgp-uplinks and
whichever member holds its gateway: lxd-bgp-also-announces (the uplink has
bgp.peers.*: LXD's own speaker announces the forwards from every member) and,
with --bgp-next-hop router (the default), route-no-next-hop (no
volatile.network.ipv4/ipv6.address for a VIP's family). Without --bgp-asn
neither is judged: LXD's own speaker is then how the forwards are announced.
check opens no BGP session.

The address plan (report-only): listen-outside-routes (a listen address in
none of the uplink's ipv4.routes/ipv6.routes, when the uplink's config could
be read), listen-is-instance-address (an instance NIC's configured address on
the network, a router address, or inside the uplink's ipv4.ovn.ranges),
listen-overlap (a listen address another network's forward or a load balancer
on the same uplink also has) and forward-has-location (an OVN forward with a
cluster member, which only LXD's database can give it).

Output: one line per finding (forward, category, severity, detail, repair), the
forwards that are not ok with their state, and a summary line. --format json
prints {"summary": {"forwards", "ok", "findings", "by_category", "by_state",
"duration_ms"}, "findings": [{"project", "network", "listen_address",
"category", "severity", "detail", "repair"}], "not_ok": [{"project", "network",
"listen_address", "state", "reason"}]};
the category names are listed in the README.

Exit codes: 0 every forward ok and no finding, 1 findings (or a forward not
ok), 2 could not check (LXD or OVN unreachable, bad flags), with a one-line
reason on stderr naming the endpoint.

Examples:
   ovnfwd check
   ovnfwd check --deep --format json | jq '.findings[] | select(.severity=="critical")'
   ovnfwd check --project web --network ovn0 --listen 198.51.100.10
   ovnfwd check --quiet --deep || echo "forwards need attention"
   OVNFWD_BGP_ASN=65101 ovnfwd check --format json | jq '.findings[] | select(.category=="lxd-bgp-also-announces")'
   ovnfwd --nb tcp:10.0.0.2:6641 --sb tcp:10.0.0.2:6642 check --timeout 3s`,
		Flags: append(append(append(scopeFlags(), planFlags()...), haFlags()...),
			&cli.BoolFlag{Name: "deep", Usage: "also verify each forward in the southbound DB and on the active gateway chassis (HA chassis groups are judged either way, as repair judges them)"},
		),
		OnUsageError: usageError,
		Action:       func(c *cli.Context) error { return oneShotAction(c, false) },
	}
}

func repairCommand() *cli.Command {
	return &cli.Command{
		Name:      "repair",
		Usage:     "apply the repairs check reports, once, then verify",
		ArgsUsage: " ",
		Description: `repair plans like check, then applies the changes in engine.Scope with every safety
rail of the daemon: a row is created only if no row of that name exists, an
update aborts if the row changed meanwhile (the forward is then re-planned from
fresh state, up to three times), router and switch columns are mutated rather
than rewritten, nothing is deleted for a network whose LXD listing failed, and
a plan with more deletions than --deletion-budget deletes nothing. It then
bumps NB_Global.nb_cfg (a barrier) and verifies the result down to the
southbound DB and the active chassis, waiting up to --settle for them.

--dry-run prints exactly the changes it would apply and writes nothing. On a
TTY repair lists the changes and asks before writing, unless --yes is given.
It prints what it changed and the findings that remain (same formats as check,
plus "changes": [{"project", "network", "listen_address", "ops"}]).

Exit codes: 0 consistent afterwards, 1 findings remain (or the confirmation was
declined), 2 errors (unreachable, a change failed).

Examples:
   ovnfwd repair --dry-run
   ovnfwd repair --network ovn0 --listen 198.51.100.10 --yes
   ovnfwd repair --yes --format json | jq '.changes'
   ovnfwd repair --yes --deletion-budget 500`,
		Flags: append(append(append(scopeFlags(), planFlags()...), haFlags()...),
			&cli.BoolFlag{Name: "dry-run", Usage: "print the changes, write nothing"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
			&cli.DurationFlag{Name: "settle", Value: 10 * time.Second, Usage: "after writing, wait up to this long for northd and the active chassis to realize the changes"},
		),
		OnUsageError: usageError,
		Action:       func(c *cli.Context) error { return oneShotAction(c, true) },
	}
}

// scopeFlags are the flags shared by check and repair (status and explain
// use some of them).
func scopeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "project", Usage: "only forwards of this LXD `PROJECT`"},
		&cli.StringFlag{Name: "network", Usage: "only forwards of this LXD `NETWORK`"},
		&cli.StringSliceFlag{Name: "listen", Usage: "only the forwards with these listen `ADDRESS`es (repeat or comma-separate)"},
		&cli.BoolFlag{Name: "all-projects", Value: true, Usage: "every project (the default; --project narrows it)"},
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "table (fits the terminal: $COLUMNS, else its width, else 80), compact (one line per row), csv (the findings), json or yaml; the same on a terminal or not"},
		&cli.BoolFlag{Name: "wide", Usage: "table: also the REPAIR column, one line per row (nothing wraps)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing on stdout; the exit code tells (errors still go to stderr)"},
		timeoutFlag(),
	}
}

func formatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "table, json or yaml (default table, on a terminal or not)"}
}

func timeoutFlag() cli.Flag {
	return &cli.DurationFlag{Name: "timeout", Value: 5 * time.Second,
		Usage: "give up connecting to LXD and OVN after this long in total (exit 2); once OVN has answered, downloading its tables may take up to 2 min more (50,000 forwards on a busy server)"}
}

// scopeFrom reads --project, --network and --listen.
func scopeFrom(c *cli.Context) (engine.Scope, error) {
	sc := engine.Scope{Project: c.String("project"), Network: c.String("network")}
	for _, l := range c.StringSlice("listen") {
		for _, a := range strings.Split(l, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			if _, err := netip.ParseAddr(strings.Trim(a, "[]")); err != nil {
				return sc, fmt.Errorf("--listen %q: not an IP address", a)
			}
			if sc.Listen == nil {
				sc.Listen = map[string]bool{}
			}
			sc.Listen[lxdwatch.CanonicalIP(strings.Trim(a, "[]"))] = true
		}
	}
	return sc, nil
}

// oneShotAction wires check and repair to the CLI.
func oneShotAction(c *cli.Context, repair bool) error {
	if c.Args().Present() {
		return cli.Exit(fmt.Sprintf("%s takes no arguments (got %q); use --network and --listen", c.Command.Name, c.Args().First()), engine.ExitError)
	}
	format, err := resolveFormat(c.String("format"))
	if err != nil {
		return cli.Exit(err.Error(), engine.ExitError)
	}
	sc, err := scopeFrom(c)
	if err != nil {
		return cli.Exit(err.Error(), engine.ExitError)
	}
	ha, err := haFromFlags(c)
	if err != nil {
		return cli.Exit(err.Error(), engine.ExitError)
	}
	o := engine.OneShotOpts{Repair: repair, DryRun: c.Bool("dry-run"), Deep: c.Bool("deep"), Scope: sc, Settle: c.Duration("settle")}
	if repair && !o.DryRun && !c.Bool("yes") && isTerminal(os.Stdin) && isTerminal(os.Stderr) {
		o.Confirm = func(todo []fwdsync.Change) bool { return askApply(os.Stdin, os.Stderr, todo) }
	}
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	if c.Bool("quiet") {
		log = log.WithOptions(zap.IncreaseLevel(zap.ErrorLevel))
	}
	ctx, cancel := context.WithTimeout(c.Context, 5*time.Minute)
	defer cancel()
	// SB always: check judges the HA groups repair would change; without
	// --deep only their part of SB is read, and forwards are verified in NB.
	copts := connectOpts{readOnly: !repair || o.DryRun, needSB: true, sbGatewayOnly: !o.Deep && !repair}
	if !repair {
		copts.prefetchCtx = ctx // check: list LXD while OVN is dialed
	}
	cs, err := connectOneShot(c, log, copts)
	if err != nil {
		return cli.Exit(err.Error(), engine.ExitError)
	}
	defer cs.Close()
	e := engine.New(engine.Config{LXD: cs.lxd, NB: cs.nb, SB: cs.sb, NBOnly: copts.sbGatewayOnly, Options: planOptions(c),
		HA: ha, Logger: log, Prefetch: cs.prefetch})

	res, err := engine.RunOneShot(ctx, e, o)
	if err != nil {
		return cli.Exit(err.Error(), engine.ExitError)
	}
	for _, ferr := range res.Failed {
		fmt.Fprintln(os.Stderr, "ovnfwd: "+ferr.Error())
	}
	log.Debug("done", zap.Uint64("nb_transactions", cs.nb.Stats().Transactions), zap.Bool("nb_read_only", !repair || o.DryRun))
	if !c.Bool("quiet") {
		verb := "applied"
		if o.DryRun {
			verb = "would apply"
		}
		if err := writeReportWidth(os.Stdout, format, res.Report, verb, termWidth(), c.Bool("wide")); err != nil {
			return cli.Exit(err.Error(), engine.ExitError)
		}
	}
	switch code := res.ExitCode(); {
	case res.Declined:
		return cli.Exit("declined: nothing changed", code)
	case code != engine.ExitOK:
		return cli.Exit("", code)
	}
	return nil
}

// connectOneShot connects for a one-shot command within --timeout in total,
// so that an unreachable LXD or OVN exits 2 quickly, naming the endpoint.
func connectOneShot(c *cli.Context, log *zap.Logger, o connectOpts) (*conns, error) {
	d := c.Duration("timeout")
	if d <= 0 {
		d = 5 * time.Second
	}
	o.timeout = d
	ctx, cancel := context.WithTimeout(c.Context, d)
	defer cancel()
	return connect(ctx, c, log, o)
}

// askApply lists the changes on w and asks whether to apply them.
func askApply(in io.Reader, w io.Writer, todo []fwdsync.Change) bool {
	r := engine.Report{}
	r.SetChanges(todo)
	_ = writeChanges(w, r.Changes, "will apply")
	fmt.Fprintf(w, "Apply these %d changes to the OVN northbound DB? [y/N] ", len(todo))
	answer, _ := bufio.NewReader(in).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return true
	}
	return false
}
