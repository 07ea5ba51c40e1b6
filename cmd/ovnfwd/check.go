package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "check, read-only, that OVN holds every LXD forward exactly as LXD would write it",
		Description: `check lists every forward from LXD, reads OVN and reports each divergence with
the repair ovnfwd would make. It never writes, neither to LXD nor to OVN (the NB
connection is opened read-only), so read-only credentials are enough.

With --deep it also follows each forward down the southbound DB: the realized
Load_Balancer row, the VIP in the gateway port's nat_addresses, and a chassis
holding the network's gateway port.

Exit codes: 0 consistent, 1 findings, 2 could not check (LXD or OVN unreachable,
bad flags).

Examples:
   ovnfwd check
   ovnfwd check --deep --format json | jq '.findings[] | select(.severity=="critical")'
   ovnfwd check --project web --network ovn0 --listen 198.51.100.10
   ovnfwd check --quiet || echo "forwards need attention"`,
		Flags: append(append(scopeFlags(), planFlags()...),
			&cli.BoolFlag{Name: "deep", Usage: "also verify the southbound DB and the active gateway chassis"},
		),
		Action: func(c *cli.Context) error { return oneShot(c, false) },
	}
}

func repairCommand() *cli.Command {
	return &cli.Command{
		Name:  "repair",
		Usage: "apply the repairs check reports, once, then verify",
		Description: `repair plans like check, then applies the plan with every safety rail of the
daemon: a row is created only if no row of that name exists, an update aborts
if the row changed meanwhile (the forward is re-planned), router and switch
columns are mutated rather than rewritten, nothing is deleted for a network
whose LXD listing failed, and a plan with more deletions than --deletion-budget
deletes nothing. It then verifies the result down to the southbound DB.

On a TTY it asks before writing unless --yes is given.
Exit codes: 0 consistent afterwards, 1 findings remain, 2 errors.

Examples:
   ovnfwd repair --dry-run
   ovnfwd repair --yes --format json`,
		Flags: append(append(scopeFlags(), planFlags()...),
			&cli.BoolFlag{Name: "dry-run", Usage: "print the changes, write nothing"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
			&cli.DurationFlag{Name: "settle", Value: 10 * time.Second, Usage: "after writing, wait up to this long for northd and the active chassis to realize the changes"},
		),
		Action: func(c *cli.Context) error { return oneShot(c, true) },
	}
}

func scopeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "project", Usage: "only forwards of this LXD `PROJECT`"},
		&cli.StringFlag{Name: "network", Usage: "only forwards of this LXD `NETWORK`"},
		&cli.StringFlag{Name: "listen", Usage: "only the forward with this listen `ADDRESS`"},
		&cli.BoolFlag{Name: "all-projects", Value: true, Usage: "every project (the default; --project narrows it)"},
		&cli.StringFlag{Name: "format", Usage: "table, json or yaml (default: table on a TTY, json otherwise)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing; the exit code tells"},
		&cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, Usage: "give up connecting after this long (exit 2)"},
	}
}

type scope struct{ project, network, listen string }

func (s scope) match(k fwdsync.ForwardKey) bool {
	if s.project != "" && projectName(k.Project) != s.project {
		return false
	}
	if s.network != "" && k.Network != s.network {
		return false
	}
	if s.listen != "" && k.ListenAddress != s.listen {
		return false
	}
	return true
}

// oneShot is check (repair=false) and repair.
func oneShot(c *cli.Context, repair bool) error {
	format, err := resolveFormat(c.String("format"), os.Stdout)
	if err != nil {
		return cli.Exit(err.Error(), exitError)
	}
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	start := time.Now()
	ctx := c.Context
	dryRun := c.Bool("dry-run")
	readOnly := !repair || dryRun
	cs, err := connect(ctx, c, log, connectOpts{readOnly: readOnly, needSB: c.Bool("deep") || repair, timeout: c.Duration("timeout")})
	if err != nil {
		return cli.Exit(err.Error(), exitError)
	}
	defer cs.Close()
	var sb sbStore
	if cs.sb != nil {
		sb = cs.sb
	}
	e := newEngine(cs.lxd, cs.nb, sb, planOptions(c), log)
	sc := scope{project: c.String("project"), network: c.String("network"), listen: c.String("listen")}

	pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	pr, err := e.pass(pctx, false)
	if err != nil {
		return cli.Exit(err.Error(), exitError)
	}
	var applied []fwdsync.Change
	if repair {
		todo := filterChanges(pr.Plan.Changes, sc)
		if len(todo) > 0 && !dryRun && !c.Bool("yes") && isTerminal(os.Stdin) {
			fmt.Fprintf(os.Stderr, "ovnfwd will apply %d changes (see `ovnfwd repair --dry-run`). Continue? [y/N] ", len(todo))
			var answer string
			_, _ = fmt.Scanln(&answer)
			if answer != "y" && answer != "Y" && answer != "yes" {
				return cli.Exit("nothing changed", exitFindings)
			}
		}
		if dryRun {
			applied = todo
		} else {
			e.dryRun = false
			pr, err = e.pass(pctx, true)
			if err != nil {
				return cli.Exit(err.Error(), exitError)
			}
			applied = filterChanges(pr.Applied, sc)
			if len(pr.Applied) > 0 {
				// northd and the active chassis take a moment: wait for the
				// SB part of the chain to settle before judging it.
				deadline := time.Now().Add(c.Duration("settle"))
				for time.Now().Before(deadline) && transient(pr) {
					time.Sleep(100 * time.Millisecond)
					pr.Statuses, pr.Findings = e.verify(pr.Plan, nil)
				}
			}
			if len(pr.Failed) > 0 {
				for _, ferr := range pr.Failed {
					fmt.Fprintln(os.Stderr, "ovnfwd: "+ferr.Error())
				}
			}
		}
	}
	r := buildReport(pr, sc, time.Since(start))
	if repair {
		r.Changes = toChanges(applied)
		r.Summary.Changes = len(applied)
	}
	if !c.Bool("quiet") {
		verb := "applied"
		if dryRun {
			verb = "would apply"
		}
		if err := writeReport(os.Stdout, format, r, verb); err != nil {
			return cli.Exit(err.Error(), exitError)
		}
	}
	switch {
	case repair && len(pr.Failed) > 0:
		return cli.Exit("", exitError)
	case r.Summary.Findings > 0:
		return cli.Exit("", exitFindings)
	}
	return nil
}

// transient reports whether some forward waits for northd or the chassis.
func transient(pr passResult) bool {
	for _, s := range pr.Statuses {
		if s.State == fwdsync.StatePending {
			return true
		}
	}
	for _, f := range pr.Findings {
		switch f.Category {
		case fwdsync.CatNotRealized, fwdsync.CatNoNatAddress, fwdsync.CatChassisBehind:
			return true
		}
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

func buildReport(pr passResult, sc scope, took time.Duration) report {
	var fs []fwdsync.Finding
	for _, f := range pr.Findings {
		if sc.match(f.Key) || (f.Key.ListenAddress == "" && sc.listen == "" && sc.match(f.Key)) {
			fs = append(fs, f)
		}
	}
	r := report{Findings: toFindings(fs)}
	r.Summary.ByCategory = byCategory(fs)
	r.Summary.Findings = len(fs)
	for _, s := range pr.Statuses {
		if !sc.match(s.Key) {
			continue
		}
		r.Summary.Forwards++
		if s.State == fwdsync.StateOK {
			r.Summary.OK++
		}
	}
	r.Summary.DurationMS = took.Milliseconds()
	return r
}
