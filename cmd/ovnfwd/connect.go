package main

import (
	"context"
	"fmt"
	"os"
	"slices"
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
	// tls is the certificate material the OVN connections use.
	tls ovnFiles
}

// ovnFiles are the OVN TLS certificate, files or PEM text, and where they
// came from (for messages).
type ovnFiles struct{ ca, cert, key, source string }

// defaultNBSocket is where a packaged ovn-central listens.
const defaultNBSocket = "/var/run/ovn/ovnnb_db.sock"

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

	// Where OVN is, in this order: --nb (OVNFWD_NB), OVN_NB_DB (what
	// ovn-nbctl users set), LXD's own network.ovn.northbound_connection
	// (with its network.ovn.* certificates), the default OVN socket.
	ovnTLS := ovnFiles{ca: c.String(flagOVNCA), cert: c.String(flagOVNCert), key: c.String(flagOVNKey), source: "--ovn-ca/--ovn-cert/--ovn-key"}
	nbSpec, nbSource := c.String(flagNB), "--nb"
	if nbSpec == "" {
		if nbSpec = strings.TrimSpace(os.Getenv("OVN_NB_DB")); nbSpec != "" {
			nbSource = "OVN_NB_DB"
		}
	}
	if nbSpec == "" {
		lo, err := l.OVN(lctx)
		if err != nil {
			return nil, err
		}
		nbSpec, nbSource = lo.Northbound, "LXD's network.ovn.northbound_connection"
		if ovnTLS.ca == "" && ovnTLS.cert == "" && lo.CA != "" {
			ovnTLS = ovnFiles{ca: lo.CA, cert: lo.ClientCert, key: lo.Client, source: "LXD's network.ovn.ca_cert/client_cert/client_key"}
		}
	}
	if nbSpec == "" {
		if _, err := os.Stat(defaultNBSocket); err == nil {
			nbSpec, nbSource = "unix:"+defaultNBSocket, "the default socket"
		}
	}
	if nbSpec == "" {
		return nil, fmt.Errorf("no OVN northbound endpoint: no --nb, no OVN_NB_DB, LXD at %s has no network.ovn.northbound_connection, and %s does not exist; set --nb",
			l.Endpoint(), defaultNBSocket)
	}
	out.nbEndpoints, err = ovn.ParseEndpoints(nbSpec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nbSource, err)
	}
	sbSpec, sbSource := c.String(flagSB), "--sb"
	if sbSpec == "" {
		if sbSpec = strings.TrimSpace(os.Getenv("OVN_SB_DB")); sbSpec != "" {
			sbSource = "OVN_SB_DB"
		}
	}
	if sbSpec == "" {
		sbSpec, sbSource = deriveSB(nbSpec), "the SB endpoints derived from "+nbSource+" (set --sb)"
	}
	out.sbEndpoints, err = ovn.ParseEndpoints(sbSpec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sbSource, err)
	}
	if ssl := slices.ContainsFunc(append(slices.Clone(out.nbEndpoints), out.sbEndpoints...), func(e string) bool { return strings.HasPrefix(e, "ssl:") }); ssl && ovnTLS.ca == "" {
		return nil, fmt.Errorf("OVN endpoints %s are ssl: but no CA certificate is known: set --ovn-ca, --ovn-cert and --ovn-key (or LXD's network.ovn.ca_cert, client_cert and client_key)",
			strings.Join(out.nbEndpoints, ","))
	}
	out.tls = ovnTLS

	ovnLog := zapr.NewLogger(log.Named("libovsdb").WithOptions(zap.IncreaseLevel(zap.WarnLevel)))
	base := ovn.Config{CA: ovnTLS.ca, Cert: ovnTLS.cert, Key: ovnTLS.key, Logger: ovnLog, ConnectTimeout: o.timeout}

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
		return nil, fmt.Errorf("cannot reach OVN northbound DB at %s (from %s): %w (set --nb)", strings.Join(out.nbEndpoints, ","), nbSource, err)
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
