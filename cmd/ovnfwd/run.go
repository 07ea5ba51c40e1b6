package main

import (
	"context"
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/zapr"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/ovnfwd/ovnfwd/bgp"
	"github.com/ovnfwd/ovnfwd/engine"
	"github.com/ovnfwd/ovnfwd/ovn"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run the daemon: mirror every LXD forward into verified OVN state, continuously",
		Description: `run does a full sync at start, then reacts to LXD lifecycle events (all
projects) and to OVN northbound/southbound changes, reconciling one forward at a
time; a full resync runs after every reconnect and every --resync-interval.

Safety: ovnfwd creates a row only if no row of that name exists (an OVSDB wait
in the same transaction), aborts and re-plans when a row changed under it,
mutates router/switch load_balancer columns instead of rewriting them, deletes
nothing for a network whose LXD listing did not complete, and holds back every
deletion of a pass that would delete more than --deletion-budget rows.

Examples:
   ovnfwd run
   ovnfwd --nb unix:/run/ovn/ovnnb_db.sock --sb unix:/run/ovn/ovnsb_db.sock run --metrics-address 127.0.0.1:9478
   ovnfwd run --dry-run --log-level debug`,
		Flags: append(append(append(planFlags(), haFlags()...), bgpFlags()...),
			&cli.DurationFlag{Name: "claim-debounce", Value: 250 * time.Millisecond, EnvVars: []string{"OVNFWD_CLAIM_DEBOUNCE"},
				Usage: "act on a gateway claim change once it has lasted this long (filters the few-ms holders seen during pre-emption)"},
			&cli.DurationFlag{Name: "liveness-interval", Value: 10 * time.Second, EnvVars: []string{"OVNFWD_LIVENESS_INTERVAL"},
				Usage: "ping every chassis through NB_Global.nb_cfg this often (0 disables)"},
			&cli.Float64Flag{Name: "liveness-northd-share", Value: 0.05, EnvVars: []string{"OVNFWD_LIVENESS_NORTHD_SHARE"},
				Usage: "the most of ovn-northd's time the liveness pings may take: each ping makes northd 23.03 recompute everything (about 2.6 times the ping's measured round trip in CPU; 2.15 s at 10,000 forwards), so the writer stretches --liveness-interval to 3 × round trip ÷ this share (at most 5m); 0 keeps --liveness-interval fixed"},
			&cli.DurationFlag{Name: "liveness-timeout", Value: 5 * time.Second, EnvVars: []string{"OVNFWD_LIVENESS_TIMEOUT"},
				Usage: "a chassis whose Chassis_Private.nb_cfg has not followed a ping after this long is unresponsive"},
			&cli.StringFlag{Name: "metrics-address", Value: "127.0.0.1:9478", EnvVars: []string{"OVNFWD_METRICS_ADDRESS"},
				Usage: "serve /metrics, /healthz and /readyz on this `ADDRESS` (\"\" disables)"},
			&cli.DurationFlag{Name: "resync-interval", Value: 5 * time.Minute, EnvVars: []string{"OVNFWD_RESYNC_INTERVAL"},
				Usage: "full resync period (0 disables periodic resyncs)"},
			&cli.BoolFlag{Name: "dry-run", EnvVars: []string{"OVNFWD_DRY_RUN"}, Usage: "log what would change, write nothing; with --bgp-asn, open no BGP session and announce nothing (/routes shows what would be announced)"},
			&cli.BoolFlag{Name: "pprof", EnvVars: []string{"OVNFWD_PPROF"}, Usage: "also serve Go profiles under /debug/pprof/ on --metrics-address"},
			&cli.StringFlag{Name: "memory-limit", Value: "off", EnvVars: []string{"OVNFWD_MEMORY_LIMIT"},
				Usage: "Go soft memory limit: off, a size such as 256MiB, or auto (a quarter above the live heap after each full pass, at least 64MiB: lowest RSS, but the collector then works hard during full passes); GOMEMLIMIT overrides it"},
			&cli.BoolFlag{Name: "writer-election", Value: true, EnvVars: []string{"OVNFWD_WRITER_ELECTION"},
				Usage: "elect the one member that writes NB with an OVSDB lock on NB (every member's daemon takes part; the others stand by, verify and announce their own routes); false: this daemon always writes (one member only)"},
			&cli.StringFlag{Name: "writer-lock", Value: "ovnfwd_writer", EnvVars: []string{"OVNFWD_WRITER_LOCK"},
				Usage: "name of the OVSDB lock that elects the writer (every member must use the same)"},
			&cli.DurationFlag{Name: "writer-lease", Value: 4 * time.Second, EnvVars: []string{"OVNFWD_WRITER_LEASE"},
				Usage: "the writer stops writing when NB has not answered its lock session's echo (sent every second) for this long, and gives the lock up; a busy NB server (a 10,000-row repair on a small machine) stalls for seconds. Keep it below twice NB's inactivity probe (5s by default, a Connection row's inactivity_probe), which bounds how soon the server hands the lock to another member; above 1s"},
			&cli.DurationFlag{Name: "nb-settle", Value: 50 * time.Millisecond, EnvVars: []string{"OVNFWD_NB_SETTLE"},
				Usage: "wait this long after an NB change before repairing it, as it may be the server's own write still in progress (LXD writes a forward's OVN rows before its database): every change where the server writes a forward in several NB transactions (LXD ≥5.21.2, Incus); only a change that inserts a row with LXD ≤5.21.1, which writes each forward as a new row in one transaction (edits in place are repaired at once). A row inserted or deleted while northd is behind NB is left alone until northd caught up and 250ms more, or until the forward's event (LXD writes with --wait=sb before its database); only ovnfwd's own neighbor_responder option goes onto such a new row at once"},
			&cli.DurationFlag{Name: "nb-delete-grace", Value: time.Second, EnvVars: []string{"OVNFWD_NB_DELETE_GRACE"},
				Usage: "re-create a deleted Load_Balancer row of a forward LXD still lists only this long after its deletion: LXD and Incus delete a forward's rows before their own record and announce the deletion after it, and a row re-created in between brings the forward back until that event (0: after --nb-settle)"},
			&cli.BoolFlag{Name: "validate",
				Usage: "check the configuration (flags and OVNFWD_* variables, which carry the snap settings) and exit without connecting to anything: 0 when every value is valid, else 2 and one line naming the bad value and what is accepted"},
			&cli.BoolFlag{Name: "announce-gateway", Value: true, EnvVars: []string{"OVNFWD_ANNOUNCE_GATEWAY"},
				Usage: "when this member's chassis takes a gateway, announce it on the uplink at once: one gratuitous ARP (or NA) from the router's MAC, sent into the uplink's OVS bridge from OVN's patch port (ovs-ofctl packet-out), as ovn-controller does only a second later — until then the switches on the way keep sending the gateway's traffic to the old chassis"},
		),
		Action: runDaemon,
	}
}

// planFlags are the planning and judging policy flags shared by run,
// check, repair, status and explain: the deletion budget, the ARP responder
// policy and the BGP route policy (routePolicyFlags), so that every command
// judges forwards the way the daemon, given the same flags or environment,
// keeps them.
func planFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.IntFlag{Name: "deletion-budget", Value: 100, EnvVars: []string{"OVNFWD_DELETION_BUDGET"},
			Usage: "most Load_Balancer rows one pass may delete; a pass that needs more deletes none and reports it (-1: no limit)"},
		arpResponderFlag(),
	}, routePolicyFlags()...)
}

func planOptions(c *cli.Context) fwdsync.Options {
	mode, _ := arpResponderMode(c)       // the flag validates itself
	routes, _ := routePolicyFromFlags(c) // so do the route policy flags
	return fwdsync.Options{DeletionBudget: c.Int("deletion-budget"), ARPResponder: mode, Routes: routes}
}

func runDaemon(c *cli.Context) error {
	if err := validateRun(c); err != nil || c.Bool("validate") {
		return err
	}
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	cfg, err := daemonConfig(c, log)
	if err != nil {
		return cli.Exit(err.Error(), engine.ExitError)
	}
	d := engine.NewDaemon(cfg)
	if addr := c.String("metrics-address"); addr != "" {
		srv, err := d.Serve(addr)
		if err != nil {
			return cli.Exit(fmt.Sprintf("--metrics-address %s: %v", addr, err), engine.ExitError)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}

	// Connect, retrying: the daemon may start before LXD or OVN.
	var cs *conns
	for try := 0; ; try++ {
		cs, err = connect(ctx, c, log, connectOpts{needSB: true, timeout: 10 * time.Second})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("waiting for LXD and OVN", zap.Error(err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(engine.Backoff(try + 2)):
		}
	}
	defer cs.Close()
	src := engine.Sources{LXD: cs.lxd, NB: cs.nb, SB: cs.sb, NBEndpoints: cs.nbEndpoints, SBEndpoints: cs.sbEndpoints}
	if c.Bool("writer-election") {
		lease := c.Duration("writer-lease")
		lock, err := ovn.NewLock(ovn.LockConfig{Endpoints: cs.nbEndpoints, CA: cs.tls.ca, Cert: cs.tls.cert,
			Key: cs.tls.key, Name: c.String("writer-lock"), ProbeInterval: time.Second, ProbeTimeout: lease,
			Logger: zapr.NewLogger(log.Named("lock"))})
		if err != nil {
			return cli.Exit("--writer-lock: "+err.Error(), engine.ExitError)
		}
		src.Election = lock
	}
	if err := d.Run(ctx, src); err != nil {
		return cli.Exit(err.Error(), engine.ExitError)
	}
	return nil
}

// daemonConfig reads run's flags. Every setting is validated here, before
// anything is connected or written.
func daemonConfig(c *cli.Context, log *zap.Logger) (engine.DaemonConfig, error) {
	return daemonConfigFor(c, log, false)
}

// daemonConfigFor is daemonConfig; validating only judges the values: it
// neither asks the local OVS for the chassis nor builds the BGP speaker
// (run --validate, the snap's configure hook).
func daemonConfigFor(c *cli.Context, log *zap.Logger, validating bool) (engine.DaemonConfig, error) {
	memLimit, err := engine.ParseMemoryLimit(c.String("memory-limit"))
	if err != nil {
		return engine.DaemonConfig{}, err
	}
	ha, err := haFromFlags(c)
	if err != nil {
		return engine.DaemonConfig{}, err
	}
	share := c.Float64("liveness-northd-share")
	if share < 0 || share >= 1 {
		return engine.DaemonConfig{}, fmt.Errorf("--liveness-northd-share %v: want a share of northd's time from 0 (fixed --liveness-interval) to below 1, such as 0.05", share)
	}
	cfg := engine.DaemonConfig{
		Options: planOptions(c), HA: ha, HAAbsentGrace: c.Duration("ha-absent-grace"), DryRun: c.Bool("dry-run"),
		NBSettle: c.Duration("nb-settle"), NBDeleteGrace: c.Duration("nb-delete-grace"), ClaimDebounce: c.Duration("claim-debounce"),
		LivenessInterval: c.Duration("liveness-interval"), LivenessTimeout: c.Duration("liveness-timeout"),
		LivenessNorthdShare: share,
		ResyncInterval:      c.Duration("resync-interval"), MemoryLimit: memLimit, Chassis: c.String(flagChassis),
		Pprof: c.Bool("pprof"), Logger: log, Version: shortVersion(),
	}
	var haOpts *fwdsync.HAOptions
	if ha != nil {
		o := ha.Options
		o.AbsentGrace = cfg.HAAbsentGrace
		haOpts = &o
	}
	cfg.Policy = fwdsync.Policy(cfg.Options, haOpts, fmt.Sprintf("%s/%s", cfg.LivenessInterval, cfg.LivenessTimeout))
	if cfg.Chassis == "" && !validating {
		// Like LXD, from the local OVS: the member → chassis pair the
		// writer's HA hygiene needs, published through LXD.
		ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
		id, err := ovn.LocalChassisID(ctx, c.String(flagOVS))
		cancel()
		if err != nil {
			log.Warn("this member's chassis is unknown (set --chassis); HA hygiene falls back to hostnames", zap.Error(err))
		}
		cfg.Chassis = id
	}
	chassisID := func(context.Context) (string, error) {
		if validating {
			return "(the local chassis)", nil
		}
		if cfg.Chassis == "" {
			return "", fmt.Errorf("no local OVS system-id")
		}
		return cfg.Chassis, nil
	}
	if c.Bool("announce-gateway") && !validating {
		if cfg.Chassis == "" {
			log.Warn("--announce-gateway is off: this member's chassis is unknown (set --chassis)")
		} else {
			cfg.Announcer = ovn.UplinkAnnouncer{OVS: c.String(flagOVS)}
		}
	}
	rc, bgpOn, err := parseRouteConfig(c, chassisID)
	if err != nil || !bgpOn {
		return cfg, err
	}
	rc.DryRun = cfg.DryRun
	cfg.Routes = &rc
	if !rc.DryRun && !validating { // a dry run builds no speaker: nothing can be announced
		cfg.Speaker = bgp.New(rc.Speaker, log.Named("bgp"))
	}
	return cfg, nil
}
