// Command ovnfwd keeps LXD network forwards working in OVN: it mirrors every
// forward into verified OVN northbound state, verifies it down to the
// southbound DB and the active gateway chassis, and repairs drift.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ovnfwd/ovnfwd/engine"
	"github.com/urfave/cli/v2"
)

func newApp() *cli.App {
	return withUsageErrors(&cli.App{
		Name:  "ovnfwd",
		Usage: "keep LXD network forwards working in OVN",
		Description: `ovnfwd runs beside LXD on each cluster member. It mirrors every LXD network
forward into the OVN Load_Balancer rows LXD would write, verifies them down to
the southbound DB and the active gateway chassis, and repairs drift.

Connections default to what LXD itself uses: the local LXD unix socket and
LXD's network.ovn.northbound_connection for the OVN northbound DB.`,
		Flags:                globalFlags(),
		Version:              shortVersion(),
		EnableBashCompletion: true,
		Commands: []*cli.Command{
			runCommand(),
			checkCommand(),
			repairCommand(),
			statusCommand(),
			explainCommand(),
			versionCommand(),
			completionCommand(),
			manCommand(),
			snapSettingsCommand(),
		},
		ExitErrHandler: func(c *cli.Context, err error) {
			if err == nil {
				return
			}
			if ec, ok := err.(cli.ExitCoder); ok {
				if msg := ec.Error(); msg != "" {
					fmt.Fprintln(c.App.ErrWriter, "ovnfwd: "+msg)
				}
				exit(ec.ExitCode())
			}
			fmt.Fprintln(c.App.ErrWriter, "ovnfwd: "+err.Error())
			exit(engine.ExitError)
		},
	})
}

// exit ends the process; a profiling build (-tags benchprof) wraps it to
// write its profiles first.
var exit = os.Exit

func main() {
	// Help wraps at the terminal's width (flag usages ran to 430 columns).
	cli.HelpPrinter = func(w io.Writer, templ string, data any) {
		cli.HelpPrinterCustom(w, templ, data, map[string]any{"wrapAt": termWidth})
	}
	defaultFlagStringer = cli.FlagStringer
	cli.FlagStringer = flagHelp
	app := newApp()
	app.ErrWriter = os.Stderr
	if err := app.Run(globalFlagsFirst(os.Args, app.Flags)); err != nil {
		exit(engine.ExitError)
	}
	exit(engine.ExitOK)
}

// globalFlagsFirst moves the global flags given after the subcommand
// (`ovnfwd check --nb X`) in front of it, where urfave/cli parses them, so
// that they work in either place, as lxc's do. Everything after "--" is
// left alone.
func globalFlagsFirst(args []string, global []cli.Flag) []string {
	if len(args) < 2 {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range global {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	name := func(a string) (string, bool) {
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			return "", false
		}
		n := strings.TrimLeft(a, "-")
		n, _, _ = strings.Cut(n, "=")
		_, ok := takesValue[n]
		return n, ok
	}
	// The subcommand is the first argument that is neither a global flag
	// nor its value.
	sub := -1
	for i := 1; i < len(args); i++ {
		a := args[i]
		if n, ok := name(a); ok {
			if takesValue[n] && !strings.Contains(a, "=") {
				i++
			}
			continue
		}
		if strings.HasPrefix(a, "-") {
			return args // an unknown flag before the subcommand: let cli say so
		}
		sub = i
		break
	}
	if sub < 0 {
		return args
	}
	var moved, rest []string
	for i := sub + 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		if n, ok := name(a); ok {
			moved = append(moved, a)
			if takesValue[n] && !strings.Contains(a, "=") && i+1 < len(args) {
				moved = append(moved, args[i+1])
				i++
			}
			continue
		}
		rest = append(rest, a)
	}
	out := append(append([]string{}, args[:sub]...), moved...)
	out = append(out, args[sub])
	return append(out, rest...)
}

// defaultFlagStringer is urfave/cli's own (flagHelp reformats its output).
var defaultFlagStringer cli.FlagStringFunc

// flagHelp renders a flag in --help as its names on one line and its usage
// wrapped under it, so that help fits the terminal.
func flagHelp(f cli.Flag) string {
	names, usage, _ := strings.Cut(defaultFlagStringer(f), "\t")
	lines := []string{names}
	for _, l := range wrap(usage, max(termWidth()-16, 30)) {
		lines = append(lines, "      "+l)
	}
	return strings.Join(lines, "\n")
}
