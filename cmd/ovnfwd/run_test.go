package main

import (
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
