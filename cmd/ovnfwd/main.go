// Command ovnfwd keeps LXD network forwards working in OVN: it mirrors every
// forward into verified OVN northbound state, verifies it down to the
// southbound DB and the active gateway chassis, and repairs drift.
package main

import (
	"fmt"
	"os"

	"github.com/ovnfwd/ovnfwd/engine"
	"github.com/urfave/cli/v2"
)

func newApp() *cli.App {
	return &cli.App{
		Name:  "ovnfwd",
		Usage: "keep LXD network forwards working in OVN",
		Description: `ovnfwd runs beside LXD on each cluster member. It mirrors every LXD network
forward into the OVN Load_Balancer rows LXD would write, verifies them down to
the southbound DB and the active gateway chassis, and repairs drift.

Connections default to what LXD itself uses: the local LXD unix socket and
LXD's network.ovn.northbound_connection for the OVN northbound DB.`,
		Flags:                globalFlags(),
		EnableBashCompletion: true,
		Commands: []*cli.Command{
			runCommand(),
			checkCommand(),
			repairCommand(),
			statusCommand(),
			explainCommand(),
			versionCommand(),
			completionCommand(),
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
	}
}

// exit ends the process; a profiling build (-tags benchprof) wraps it to
// write its profiles first.
var exit = os.Exit

func main() {
	app := newApp()
	app.ErrWriter = os.Stderr
	if err := app.Run(os.Args); err != nil {
		exit(engine.ExitError)
	}
	exit(engine.ExitOK)
}
