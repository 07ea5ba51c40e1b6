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
reports, for every network in the scope of --bgp-networks/--bgp-uplinks and
whichever member holds its gateway: lxd-bgp-also-announces (the uplink has
bgp.peers.*: LXD's own speaker announces the forwards from every member) and,
with --bgp-next-hop router (the default), route-no-next-hop (no
volatile.network.ipv4/ipv6.address for a VIP's family). Without --bgp-asn
neither is judged: LXD's own speaker is then how the forwards are announced.
check opens no BGP session.

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
			&cli.BoolFlag{Name: "deep", Usage: "also verify the southbound DB, the active gateway chassis and the HA chassis groups"},
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
		Description: `repair plans like check, then applies the changes in scope with every safety
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

// usageError turns a flag parsing error into exit 2 with a one-line reason
// on stderr (urfave/cli would print the whole help to stdout).
func usageError(c *cli.Context, err error, _ bool) error {
	return cli.Exit(fmt.Sprintf("%v (see `ovnfwd %s --help`)", err, c.Command.Name), exitError)
}

// scopeFlags are the flags shared by check and repair (status and explain
// use some of them).
func scopeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "project", Usage: "only forwards of this LXD `PROJECT`"},
		&cli.StringFlag{Name: "network", Usage: "only forwards of this LXD `NETWORK`"},
		&cli.StringSliceFlag{Name: "listen", Usage: "only the forwards with these listen `ADDRESS`es (repeat or comma-separate)"},
		&cli.BoolFlag{Name: "all-projects", Value: true, Usage: "every project (the default; --project narrows it)"},
		formatFlag(),
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing on stdout; the exit code tells (errors still go to stderr)"},
		timeoutFlag(),
	}
}

func formatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "table, json or yaml (default: table on a TTY, json otherwise)"}
}

func timeoutFlag() cli.Flag {
	return &cli.DurationFlag{Name: "timeout", Value: 5 * time.Second,
		Usage: "give up connecting to LXD and OVN after this long in total (exit 2)"}
}

// scope selects forwards by project, network and listen addresses.
type scope struct {
	project, network string
	listen           map[string]bool // canonical addresses; empty: all
}

// scopeFrom reads --project, --network and --listen.
func scopeFrom(c *cli.Context) (scope, error) {
	sc := scope{project: c.String("project"), network: c.String("network")}
	for _, l := range c.StringSlice("listen") {
		for _, a := range strings.Split(l, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			if _, err := netip.ParseAddr(strings.Trim(a, "[]")); err != nil {
				return sc, fmt.Errorf("--listen %q: not an IP address", a)
			}
			if sc.listen == nil {
				sc.listen = map[string]bool{}
			}
			sc.listen[lxdwatch.CanonicalIP(strings.Trim(a, "[]"))] = true
		}
	}
	return sc, nil
}

func (s scope) all() bool { return s.project == "" && s.network == "" && len(s.listen) == 0 }

// match reports whether a forward (or a finding's or change's key) is in
// scope. A key without a listen address concerns a whole network (an
// unmapped network, its HA chassis group) and is in scope when the network
// is and no listen address is asked for (buildReport adds the findings of
// the networks of the forwards in scope); a key without a network (an
// orphan row) only when no project or network is asked for; an empty key
// (the deletion budget) always.
func (s scope) match(k fwdsync.ForwardKey) bool {
	if k == (fwdsync.ForwardKey{}) {
		return true
	}
	if k.Network == "" && (s.project != "" || s.network != "") {
		return false
	}
	if s.project != "" && k.Network != "" && projectName(k.Project) != s.project {
		return false
	}
	if s.network != "" && k.Network != s.network {
		return false
	}
	if len(s.listen) > 0 && k.ListenAddress != "" && !s.listen[k.ListenAddress] {
		return false
	}
	if len(s.listen) > 0 && k.ListenAddress == "" {
		return false
	}
	return true
}

// oneShotOpts is what check and repair were asked to do.
type oneShotOpts struct {
	repair bool
	dryRun bool
	deep   bool // check only; repair always verifies down to the chassis
	scope  scope
	settle time.Duration
	// confirm asks before writing; nil writes without asking.
	confirm func(todo []fwdsync.Change) bool
}

// oneShotResult is a check's or repair's outcome.
type oneShotResult struct {
	report   report
	failed   []error // changes that could not be applied
	declined bool
}

// exitCode is the result's exit code (errors before the result exit 2).
func (r oneShotResult) exitCode() int {
	switch {
	case len(r.failed) > 0:
		return exitError
	case r.declined, r.report.Summary.Findings > 0, r.report.Summary.OK < r.report.Summary.Forwards:
		return exitFindings
	}
	return exitOK
}

// runOneShot is check (o.repair false) and repair, on a connected engine.
// check writes nothing: it runs a pass without apply and without barrier.
func runOneShot(ctx context.Context, e *engine, o oneShotOpts) (oneShotResult, error) {
	start := time.Now()
	var out oneShotResult
	e.observeBarrier()
	pr, err := e.pass(ctx, false)
	if err != nil {
		return out, err
	}
	if p, ok := e.lxd.(*prefetchLXD); ok && p.overlapped() && len(pr.Findings) > 0 {
		// The listing was read while NB was downloaded, not after: judge
		// the findings again from reads in the pass's own order.
		e.log.Debug("findings from overlapped reads; confirming with an ordered pass", zap.Int("findings", len(pr.Findings)))
		if pr, err = e.pass(ctx, false); err != nil {
			return out, err
		}
	}
	if !o.repair {
		out.report = buildReport(pr, o.scope, time.Since(start))
		return out, nil
	}

	todo := filterChanges(pr.Plan.Changes, o.scope)
	if o.dryRun {
		out.report = buildReport(pr, o.scope, time.Since(start))
		out.report.setChanges(todo)
		return out, nil
	}
	if len(todo) > 0 && o.confirm != nil && !o.confirm(todo) {
		out.declined = true
		out.report = buildReport(pr, o.scope, time.Since(start))
		return out, nil
	}
	applied, failed := e.applyScoped(ctx, todo, o.scope)
	out.failed = failed
	if len(applied) > 0 {
		// A barrier: northd and the active chassis must show the changes.
		e.barrier(ctx)
	}
	// Re-plan from fresh LXD and NB state (the pass verifies against the
	// barrier), then give northd and the chassis time to catch up.
	if pr, err = e.pass(ctx, false); err != nil {
		return out, err
	}
	if len(applied) > 0 {
		pr = e.settle(pr, o.settle)
	}
	out.report = buildReport(pr, o.scope, time.Since(start))
	out.report.setChanges(applied)
	return out, nil
}

// oneShotAction wires check and repair to the CLI.
func oneShotAction(c *cli.Context, repair bool) error {
	if c.Args().Present() {
		return cli.Exit(fmt.Sprintf("%s takes no arguments (got %q); use --network and --listen", c.Command.Name, c.Args().First()), exitError)
	}
	format, err := resolveFormat(c.String("format"), os.Stdout)
	if err != nil {
		return cli.Exit(err.Error(), exitError)
	}
	sc, err := scopeFrom(c)
	if err != nil {
		return cli.Exit(err.Error(), exitError)
	}
	ha, err := haFromFlags(c)
	if err != nil {
		return cli.Exit(err.Error(), exitError)
	}
	o := oneShotOpts{repair: repair, dryRun: c.Bool("dry-run"), deep: c.Bool("deep"), scope: sc, settle: c.Duration("settle")}
	if repair && !o.dryRun && !c.Bool("yes") && isTerminal(os.Stdin) && isTerminal(os.Stderr) {
		o.confirm = func(todo []fwdsync.Change) bool { return askApply(os.Stdin, os.Stderr, todo) }
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
	copts := connectOpts{readOnly: !repair || o.dryRun, needSB: o.deep || repair}
	if !repair {
		copts.prefetchCtx = ctx // check: list LXD while OVN is dialed
	}
	cs, err := connectOneShot(c, log, copts)
	if err != nil {
		return cli.Exit(err.Error(), exitError)
	}
	defer cs.Close()
	var sb sbStore
	if cs.sb != nil {
		sb = cs.sb
	}
	var src lxdSource = cs.lxd
	if cs.prefetch != nil {
		src = cs.prefetch
	}
	e := newEngine(src, cs.nb, sb, planOptions(c), log)
	e.ha = ha // HA chassis group hygiene needs SB: check --deep and repair

	res, err := runOneShot(ctx, e, o)
	if err != nil {
		return cli.Exit(err.Error(), exitError)
	}
	for _, ferr := range res.failed {
		fmt.Fprintln(os.Stderr, "ovnfwd: "+ferr.Error())
	}
	log.Debug("done", zap.Uint64("nb_transactions", cs.nb.Stats().Transactions), zap.Bool("nb_read_only", !repair || o.dryRun))
	if !c.Bool("quiet") {
		verb := "applied"
		if o.dryRun {
			verb = "would apply"
		}
		if err := writeReport(os.Stdout, format, res.report, verb); err != nil {
			return cli.Exit(err.Error(), exitError)
		}
	}
	switch code := res.exitCode(); {
	case res.declined:
		return cli.Exit("declined: nothing changed", code)
	case code != exitOK:
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
	r := report{}
	r.setChanges(todo)
	_ = writeChanges(w, r.Changes, "will apply")
	fmt.Fprintf(w, "Apply these %d changes to the OVN northbound DB? [y/N] ", len(todo))
	answer, _ := bufio.NewReader(in).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return true
	}
	return false
}

func filterChanges(chs []fwdsync.Change, sc scope) []fwdsync.Change {
	var out []fwdsync.Change
	for _, ch := range chs {
		if sc.match(ch.Key) {
			out = append(out, ch)
		}
	}
	return out
}

// buildReport turns a pass into check's report, restricted to the scope.
func buildReport(pr passResult, sc scope, took time.Duration) report {
	// The networks of the forwards in scope: their network-wide findings
	// (an unmapped network) concern those forwards.
	nets := map[fwdsync.ForwardKey]bool{}
	for _, s := range pr.Statuses {
		if sc.match(s.Key) {
			nets[fwdsync.ForwardKey{Project: s.Key.Project, Network: s.Key.Network}] = true
		}
	}
	var fs []fwdsync.Finding
	for _, f := range pr.Findings {
		if sc.match(f.Key) || (f.Key.ListenAddress == "" && nets[f.Key]) {
			fs = append(fs, f)
		}
	}
	r := report{Findings: toFindings(fs), NotOK: []forwardStatus{}}
	r.Summary.ByCategory = byCategory(fs)
	r.Summary.Findings = len(fs)
	r.Summary.ByState = map[string]int{}
	for _, s := range pr.Statuses {
		if !sc.match(s.Key) {
			continue
		}
		r.Summary.Forwards++
		r.Summary.ByState[string(s.State)]++
		if s.State == fwdsync.StateOK {
			r.Summary.OK++
			continue
		}
		r.NotOK = append(r.NotOK, forwardStatus{Project: projectName(s.Key.Project), Network: s.Key.Network,
			ListenAddress: s.Key.ListenAddress, State: string(s.State), Reason: s.Reason})
	}
	r.Summary.DurationMS = took.Milliseconds()
	return r
}
