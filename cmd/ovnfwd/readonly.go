package main

import (
	"context"
	"time"

	"github.com/ovnfwd/ovnfwd/engine"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
)

// readOnlyView is what status and explain read before they judge: the
// daemons' reports (asked meanwhile), read-only connections to LXD, NB and
// SB, and one read-only pass of the engine.
type readOnlyView struct {
	cs      *conns
	e       *engine.Engine
	pr      engine.PassResult
	ctx     context.Context
	daemons <-chan []engine.DaemonReport
	close   func()
}

// readOnlyPass asks the daemons in the background, connects read-only and
// runs one pass that writes nothing; ha, when set, judges the HA groups as
// check --deep does. Errors are ready to return from a cli Action.
func readOnlyPass(c *cli.Context, log *zap.Logger, ha *engine.HAConfig) (*readOnlyView, error) {
	addrs, err := daemonAddrs(c)
	if err != nil {
		return nil, cli.Exit(err.Error(), engine.ExitError)
	}
	daemons := make(chan []engine.DaemonReport, 1)
	go func() { daemons <- engine.QueryDaemons(c.Context, addrs, c.Duration("daemon-timeout")) }()
	cs, err := connectOneShot(c, log, connectOpts{readOnly: true, needSB: true})
	if err != nil {
		return nil, cli.Exit(err.Error(), engine.ExitError)
	}
	e := engine.New(engine.Config{LXD: cs.lxd, NB: cs.nb, SB: cs.sb, Options: planOptions(c), HA: ha, Logger: log})
	ctx, cancel := context.WithTimeout(c.Context, 5*time.Minute)
	v := &readOnlyView{cs: cs, e: e, ctx: ctx, daemons: daemons, close: func() { cancel(); cs.Close() }}
	if v.pr, err = e.ReadOnlyPass(ctx); err != nil {
		v.close()
		return nil, cli.Exit(err.Error(), engine.ExitError)
	}
	return v, nil
}
