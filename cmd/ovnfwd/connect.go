package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/zapr"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/ovnfwd/ovnfwd/engine"
	"github.com/ovnfwd/ovnfwd/lxdwatch"
	"github.com/ovnfwd/ovnfwd/ovn"
)

// conns are the three sources of truth every subcommand talks to.
type conns struct {
	lxd *lxdwatch.Client
	nb  *ovn.NB
	sb  *ovn.SB
	// Endpoints, for messages.
	nbEndpoints, sbEndpoints []string
	// prefetch: the LXD listing started before the OVN dials (check).
	prefetch *engine.Prefetch
}

func (c *conns) Close() {
	if c.nb != nil {
		c.nb.Close()
	}
	if c.sb != nil {
		c.sb.Close()
	}
}

// connectOpts select what a subcommand needs.
type connectOpts struct {
	readOnly bool // never write to NB (check, status, explain)
	needSB   bool // connect the southbound DB too
	// sbGatewayOnly: SB for HA groups and claims only (check without --deep)
	sbGatewayOnly bool
	timeout       time.Duration // bound on each connection attempt; 0 = until ctx ends
	// prefetchCtx, when set, starts listing LXD's forwards as soon as LXD
	// is connected, under this context, while NB and SB are dialed.
	prefetchCtx context.Context
}

// connect dials LXD, then NB (default: LXD's network.ovn.northbound_connection)
// and SB. Every error names the endpoint and the flag that sets it.
func connect(ctx context.Context, c *cli.Context, log *zap.Logger, o connectOpts) (*conns, error) {
	out := &conns{}
	lctx, cancel := withTimeout(ctx, o.timeout)
	defer cancel()
	l, err := lxdwatch.Connect(lctx, lxdwatch.Config{
		URL:        c.String(flagLXD),
		ClientCert: c.String(flagLXDCert),
		ClientKey:  c.String(flagLXDKey),
		ServerCert: c.String(flagLXDServerCert),
		Logger:     log.Named("lxd"),
	})
	if err != nil {
		return nil, err
	}
	out.lxd = l

	nbSpec := c.String(flagNB)
	if nbSpec == "" {
		nbSpec, err = l.NorthboundConnection(lctx)
		if err != nil {
			return nil, err
		}
		if nbSpec == "" {
			return nil, fmt.Errorf("no OVN northbound endpoint: LXD at %s has no network.ovn.northbound_connection; set --nb", l.Endpoint())
		}
	}
	out.nbEndpoints, err = ovn.ParseEndpoints(nbSpec)
	if err != nil {
		return nil, fmt.Errorf("--nb: %w", err)
	}
	sbSpec := c.String(flagSB)
	if sbSpec == "" {
		sbSpec = deriveSB(nbSpec)
	}
	out.sbEndpoints, err = ovn.ParseEndpoints(sbSpec)
	if err != nil {
		return nil, fmt.Errorf("--sb: %w", err)
	}

	ovnLog := zapr.NewLogger(log.Named("libovsdb").WithOptions(zap.IncreaseLevel(zap.WarnLevel)))
	base := ovn.Config{CA: c.String(flagOVNCA), Cert: c.String(flagOVNCert), Key: c.String(flagOVNKey), Logger: ovnLog, ConnectTimeout: o.timeout}

	if o.prefetchCtx != nil {
		out.prefetch = engine.StartPrefetch(o.prefetchCtx, l)
	}
	// NB and SB are dialed at once: each dial downloads its monitored
	// tables, which takes most of a second at 10,000 forwards.
	var sbErr error
	sbDone := make(chan struct{})
	go func() {
		defer close(sbDone)
		if !o.needSB {
			return
		}
		sctx, scancel := withTimeout(ctx, o.timeout)
		defer scancel()
		sbCfg := base
		sbCfg.Endpoints, sbCfg.ReadOnly, sbCfg.GatewayOnly = out.sbEndpoints, true, o.sbGatewayOnly
		out.sb, sbErr = ovn.DialSB(sctx, sbCfg)
	}()
	nctx, ncancel := withTimeout(ctx, o.timeout)
	defer ncancel()
	nbCfg := base
	nbCfg.Endpoints, nbCfg.ReadOnly = out.nbEndpoints, o.readOnly
	out.nb, err = ovn.DialNB(nctx, nbCfg)
	<-sbDone
	if err != nil {
		if out.sb != nil {
			out.sb.Close()
		}
		return nil, fmt.Errorf("cannot reach OVN northbound DB at %s: %w (set --nb)", strings.Join(out.nbEndpoints, ","), err)
	}
	if sbErr != nil {
		out.nb.Close()
		return nil, fmt.Errorf("cannot reach OVN southbound DB at %s: %w (set --sb)", strings.Join(out.sbEndpoints, ","), sbErr)
	}
	return out, nil
}

func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// deriveSB guesses the southbound endpoints from the northbound ones the way
// OVN deployments name them: port 6641 → 6642, ovnnb_db.sock → ovnsb_db.sock,
// nb.sock → sb.sock.
func deriveSB(nb string) string {
	parts := strings.Split(nb, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		switch {
		case strings.HasPrefix(p, "unix:"):
			p = strings.Replace(p, "ovnnb_db.sock", "ovnsb_db.sock", 1)
			if strings.HasSuffix(p, "/nb.sock") {
				p = strings.TrimSuffix(p, "nb.sock") + "sb.sock"
			}
		default:
			if strings.HasSuffix(p, ":6641") {
				p = strings.TrimSuffix(p, "6641") + "6642"
			}
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}
