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

// run --validate judges the configuration and connects to nothing: with
// every endpoint missing it exits 0 for good values, 2 naming a bad one.
func TestRunValidate(t *testing.T) {
	base := []string{"ovnfwd", "run", "--validate", "--lxd", "/nonexistent/lxd.socket", "--nb", "unix:/nonexistent/nb.sock",
		"--sb", "unix:/nonexistent/sb.sock"}
	for _, tc := range []struct {
		args  []string
		blame string // "" = valid
	}{
		{nil, ""},
		{[]string{"--bgp-asn", "65001", "--bgp-router-id", "10.0.0.2", "--bgp-peer", "10.0.0.1,65000"}, ""}, // no chassis known: fine here
		{[]string{"--bgp-asn", "65001", "--bgp-peer", "10.0.0.1,65000"}, "--bgp-router-id"},
		{[]string{"--writer-lease", "900ms"}, "--writer-lease"},
		{[]string{"--metrics-address", "localhost"}, "--metrics-address"},
		{[]string{"--resync-interval", "-1m"}, "--resync-interval"},
		{[]string{"--ovn-cert", "/etc/hostname"}, "--ovn-cert"},
		{[]string{"--lxd", "https://10.0.0.5:8443"}, "--lxd"},
		{[]string{"--memory-limit", "plenty"}, "memory"},
		{[]string{"--ovs", "tcp:127.0.0.1:6640"}, "--ovs"},
		{[]string{"--ovs", "unix:/run/openvswitch/db.sock"}, ""}, // syntax only: need not exist here
	} {
		app := newApp()
		var out bytes.Buffer
		app.Writer, app.ErrWriter = &out, &out
		var exitErr error
		app.ExitErrHandler = func(_ *cli.Context, err error) { exitErr = err }
		err := app.Run(globalFlagsFirst(append(append([]string{}, base...), tc.args...), app.Flags))
		if err == nil {
			err = exitErr
		}
		if tc.blame == "" {
			if err != nil {
				t.Errorf("%q: %v; want valid", tc.args, err)
			}
			continue
		}
		var ec cli.ExitCoder
		if !errors.As(err, &ec) || ec.ExitCode() != engine.ExitError || !strings.Contains(err.Error(), tc.blame) {
			t.Errorf("%q: %v; want exit %d naming %s", tc.args, err, engine.ExitError, tc.blame)
		}
	}
}
