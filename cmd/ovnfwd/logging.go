package main

import (
	"fmt"

	"github.com/ovnfwd/ovnfwd/engine"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newLogger builds the zap logger from --log-level and --log-format. Logs go
// to stderr so stdout stays clean for command output.
func newLogger(c *cli.Context) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(c.String(flagLogLevel))); err != nil {
		return nil, cli.Exit(fmt.Sprintf("--log-level %q: want debug, info, warn or error", c.String(flagLogLevel)), engine.ExitError)
	}
	var cfg zap.Config
	switch c.String(flagLogFormat) {
	case "json":
		cfg = zap.NewProductionConfig()
		// Every repair and failover line counts: a mass repair must not
		// lose most of them to sampling.
		cfg.Sampling = nil
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.Development = false
		cfg.DisableStacktrace = true
	default:
		return nil, cli.Exit(fmt.Sprintf("--log-format %q: want console or json", c.String(flagLogFormat)), engine.ExitError)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.OutputPaths = []string{"stderr"}
	cfg.ErrorOutputPaths = []string{"stderr"}
	return cfg.Build()
}
