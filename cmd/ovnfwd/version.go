package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"

	"github.com/ovnfwd/ovnfwd/lxdwatch"
	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// shortVersion is ovnfwd's version alone (what members compare).
func shortVersion() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += "+" + s.Value[:12]
			}
		}
	}
	return v
}

func versionString() string {
	return fmt.Sprintf("ovnfwd %s (%s, %s/%s)", shortVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print ovnfwd's version and, when reachable, LXD's and OVN's, and the rule set chosen",
		Description: `version prints ovnfwd's own version, then asks LXD (server kind and version,
hence the rules ovnfwd writes rows by) and the OVN northbound DB (its schema
version), each within --timeout. What cannot be reached is said, not an error:
the exit code is 0. ovnfwd --version prints ovnfwd's version alone.`,
		Flags: []cli.Flag{timeoutFlag()},
		Action: func(c *cli.Context) error {
			w := c.App.Writer
			fmt.Fprintln(w, versionString())
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			d := c.Duration("timeout")
			ctx, cancel := context.WithTimeout(c.Context, d)
			defer cancel()
			l, err := lxdwatch.Connect(ctx, lxdwatch.Config{URL: c.String(flagLXD), ClientCert: c.String(flagLXDCert),
				ClientKey: c.String(flagLXDKey), ServerCert: c.String(flagLXDServerCert), Logger: log.Named("lxd")})
			if err != nil {
				fmt.Fprintf(w, "LXD: %v\n", err)
				return nil
			}
			si, err := l.Server(ctx)
			if err != nil {
				fmt.Fprintf(w, "LXD at %s: %v\n", l.Endpoint(), err)
				return nil
			}
			fmt.Fprintf(w, "%s %s at %s\n", serverName(si.Kind), si.Version, l.Endpoint())
			if r, err := fwdsync.RulesFor(si); err != nil {
				fmt.Fprintf(w, "rules: none: %v\n", err)
			} else {
				fmt.Fprintf(w, "rules: %s\n", r)
			}
			cs, err := connect(ctx, c, log, connectOpts{readOnly: true, timeout: d})
			if err != nil {
				fmt.Fprintf(w, "OVN northbound: %v\n", err)
				return nil
			}
			defer cs.Close()
			fmt.Fprintf(w, "OVN northbound schema %s at %s\n", cs.nb.SchemaVersion(), strings.Join(cs.nbEndpoints, ","))
			return nil
		},
	}
}

func serverName(kind string) string {
	if kind == "incus" {
		return "Incus"
	}
	return "LXD"
}
