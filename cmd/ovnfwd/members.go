package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ovnfwd/ovnfwd/engine"
	"github.com/urfave/cli/v2"
)

// defaultDaemon is `ovnfwd run`'s default --metrics-address.
const defaultDaemon = "127.0.0.1:9478"

// daemonFlags select the daemons status and explain read from.
func daemonFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "daemon", EnvVars: []string{"OVNFWD_DAEMON"},
			Usage: "`ADDR` of an `ovnfwd run` --metrics-address (host:port or http://host:port) to read gateway failovers, " +
				"route state and liveness findings from; give one per LXD member (repeatable or comma-separated; default " + defaultDaemon + ", the local daemon)"},
		&cli.BoolFlag{Name: "no-daemon", Usage: "read nothing from ovnfwd run daemons"},
		&cli.DurationFlag{Name: "daemon-timeout", Value: 2 * time.Second,
			Usage: "a daemon that has not answered within this long is reported unreachable (not an error)"},
	}
}

// daemonAddrs returns the daemons to ask, in the order given; nil with
// --no-daemon. An address that is neither host:port nor an http(s) URL is
// a usage error.
func daemonAddrs(c *cli.Context) ([]string, error) {
	if c.Bool("no-daemon") {
		return nil, nil
	}
	var out []string
	for _, a := range c.StringSlice("daemon") {
		for _, p := range strings.Split(a, ",") {
			if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
				if _, err := engine.DaemonURL(p); err != nil {
					return nil, err
				}
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		out = []string{defaultDaemon}
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// Hygiene findings: HA groups, liveness and route state

// memberLine summarizes one daemon for the members table.
func memberLine(m engine.MemberStatus) string {
	if !m.Reachable {
		return m.Error
	}
	var parts []string
	if m.Ready {
		parts = append(parts, "ready")
	} else {
		parts = append(parts, "not ready: "+orDash(m.NotReady))
	}
	switch {
	case m.Writer:
		parts = append(parts, "NB writer")
	case m.Version != "": // it answered /member
		parts = append(parts, "standby")
	}
	if m.Member != "" {
		parts = append(parts, "member "+m.Member)
	}
	if m.BGP {
		parts = append(parts, fmt.Sprintf("BGP AS %d, %s announced", m.ASN, engine.Plural(m.Routes, "route")))
	} else if m.RoutesAnswered {
		parts = append(parts, "BGP off")
	}
	parts = append(parts, engine.Plural(m.Failovers, "gateway change")+" recorded")
	if m.RouteError != "" {
		parts = append(parts, "last BGP sync: "+m.RouteError)
	}
	if m.Error != "" {
		parts = append(parts, "errors: "+m.Error)
	}
	return strings.Join(parts, "; ")
}

// writeMembers prints the daemons, then (writeRouteTable) what the
// reachable ones announce and their BGP sessions.
func writeMembers(w io.Writer, ms []engine.MemberStatus) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DAEMON\tCHASSIS\tSTATE")
	var routes []engine.MemberStatus
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Daemon, orDash(m.Chassis), memberLine(m))
		if m.RoutesAnswered {
			routes = append(routes, m)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(routes) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	return writeRouteTable(w, routes)
}
