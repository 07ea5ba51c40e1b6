package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/ovnfwd/ovnfwd/engine"
	"github.com/ovnfwd/ovnfwd/ovn"
)

// validateRun judges every value `run` takes (flags, OVNFWD_* variables,
// through them the snap settings) without connecting to anything: the one
// validator behind `run` itself, `run --validate` and the snap's configure
// hook. It returns the first bad value as an exit-2 error naming the flag,
// the value and what is accepted.
func validateRun(c *cli.Context) error {
	if _, err := newLogger(c); err != nil {
		return err
	}
	if _, err := daemonConfigFor(c, zap.NewNop(), true); err != nil {
		return cli.Exit(err.Error(), engine.ExitError)
	}
	if lease := c.Duration("writer-lease"); lease <= time.Second {
		return cli.Exit(fmt.Sprintf("--writer-lease %v: must exceed the lock session's 1s echo interval (default 4s)", lease), engine.ExitError)
	}
	if a := c.String("metrics-address"); a != "" {
		_, port, err := net.SplitHostPort(a)
		if n, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || n == 0 {
			return cli.Exit(fmt.Sprintf("--metrics-address %q: want HOST:PORT with a port from 1 to 65535, such as 127.0.0.1:9478 or :9478 (\"\" disables)", a), engine.ExitError)
		}
	}
	for _, f := range c.Command.Flags {
		if df, ok := f.(*cli.DurationFlag); ok {
			if d := c.Duration(df.Name); d < 0 {
				return cli.Exit(fmt.Sprintf("--%s %v: a duration cannot be negative", df.Name, d), engine.ExitError)
			}
		}
	}
	for _, f := range []string{flagNB, flagSB} {
		if s := strings.TrimSpace(c.String(f)); s != "" {
			if _, err := ovn.ParseEndpoints(s); err != nil {
				return cli.Exit(fmt.Sprintf("--%s %q: %v", f, s, err), engine.ExitError)
			}
		}
	}
	if o := c.String(flagOVS); o != "" {
		if _, err := ovn.LocalOVSEndpoint(o); err != nil {
			return cli.Exit(fmt.Sprintf("--%s %q: %v", flagOVS, o, err), engine.ExitError)
		}
	}
	if l := c.String(flagLXD); l != "" && !strings.HasPrefix(l, "/") && !strings.HasPrefix(l, "https://") {
		return cli.Exit(fmt.Sprintf("--%s %q: want the absolute path of LXD's unix socket or an https:// URL", flagLXD, l), engine.ExitError)
	} else if strings.HasPrefix(l, "https://") && (c.String(flagLXDCert) == "" || c.String(flagLXDKey) == "") {
		return cli.Exit(fmt.Sprintf("--%s %q: LXD's API over https knows a client by its certificate: give --%s and --%s (trusted with lxc config trust add)", flagLXD, l, flagLXDCert, flagLXDKey), engine.ExitError)
	}
	for _, pair := range [][2]string{{flagLXDCert, flagLXDKey}, {flagOVNCert, flagOVNKey}} {
		if (c.String(pair[0]) == "") != (c.String(pair[1]) == "") {
			return cli.Exit(fmt.Sprintf("--%s and --%s go together: give both or neither", pair[0], pair[1]), engine.ExitError)
		}
	}
	for _, f := range []string{flagLXDCert, flagLXDKey, flagLXDServerCert, flagOVNCA, flagOVNCert, flagOVNKey} {
		if p := c.String(f); p != "" {
			fh, err := os.Open(p)
			if err != nil {
				return cli.Exit(fmt.Sprintf("--%s %q: %v", f, p, err), engine.ExitError)
			}
			_ = fh.Close()
		}
	}
	return nil
}
