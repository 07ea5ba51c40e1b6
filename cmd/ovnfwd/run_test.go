package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/ovnfwd/ovnfwd/engine"
)

// `run --dry-run --bgp-asn …` builds no BGP speaker at all.
func TestDaemonConfigDryRunHasNoSpeaker(t *testing.T) {
	for _, dry := range []bool{false, true} {
		var cfg engine.DaemonConfig
		var cerr error
		app := &cli.App{Name: "t", Commands: []*cli.Command{{Name: "run", Flags: runCommand().Flags,
			Action: func(c *cli.Context) error {
				cfg, cerr = daemonConfig(c, zap.NewNop())
				return nil
			}}}}
		args := []string{"t", "run", "--chassis", "ch1", "--bgp-asn", "65101", "--bgp-router-id", "192.0.2.1", "--bgp-peer", "127.0.0.1:1179,65000"}
		if dry {
			args = append(args, "--dry-run")
		}
		if err := app.Run(args); err != nil || cerr != nil {
			t.Fatal(err, cerr)
		}
		if cfg.Routes == nil || cfg.Routes.DryRun != dry || (cfg.Speaker == nil) != dry || cfg.Routes.Policy.Chassis != "ch1" {
			t.Errorf("dry-run %v: config %+v", dry, cfg)
		}
	}
}

// A writer lease that is not longer than the lock's 1 s echo interval is
// refused before anything is connected (the socket does not exist), with
// the flag named.
func TestRunRefusesShortWriterLease(t *testing.T) {
	for _, lease := range []string{"1s", "500ms", "0s"} {
		app := newApp()
		var out bytes.Buffer
		app.Writer, app.ErrWriter = &out, &out
		app.ExitErrHandler = func(*cli.Context, error) {}
		err := app.Run(globalFlagsFirst([]string{"ovnfwd", "run", "--lxd", "/nonexistent/lxd.socket", "--nb", "unix:/nonexistent/nb.sock",
			"--sb", "unix:/nonexistent/sb.sock", "--metrics-address", "", "--writer-lease", lease}, app.Flags))
		var ec cli.ExitCoder
		if !errors.As(err, &ec) || ec.ExitCode() != engine.ExitError || !strings.Contains(err.Error(), "--writer-lease") {
			t.Errorf("--writer-lease %s: %v (output %.300q); want exit %d naming --writer-lease", lease, err, out.String(), engine.ExitError)
		}
	}
}
