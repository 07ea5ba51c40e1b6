package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/ovnfwd/ovnfwd/engine"
)

// badOf is a value the option's type refuses, and what the one-line error
// must then say is accepted; "" for options of free text.
func badOf(f cli.Flag) (bad, want string) {
	switch f.(type) {
	case *cli.BoolFlag:
		return "maybe", "want true or false"
	case *cli.IntFlag, *cli.Int64Flag:
		return "lots", "want a whole number"
	case *cli.UintFlag, *cli.Uint64Flag:
		return "-3", "want a whole number, 0 or more"
	case *cli.DurationFlag:
		return "soon", "want a duration"
	}
	return "", ""
}

// Every typed option of every command, given a value of the wrong kind on
// the command line or in its OVNFWD_ variable, exits 2 with one line on
// stderr naming it, the value and what is accepted, and nothing on stdout
// (not the whole help text); nothing is connected to (the endpoints do not
// exist).
func TestEveryBadOptionIsOneLine(t *testing.T) {
	t.Setenv("OVNFWD_LXD", "/nonexistent/lxd.socket")
	t.Setenv("OVNFWD_NB", "unix:/nonexistent/nb.sock")
	t.Setenv("OVNFWD_SB", "unix:/nonexistent/sb.sock")
	type tc struct{ cmd, flag, env, bad, want string }
	var cases []tc
	seen := 0
	for _, c := range append([]*cli.Command{{Name: ""}}, newApp().Commands...) {
		flags := globalFlags()
		if c.Name != "" {
			flags = c.Flags
		}
		for _, f := range flags {
			bad, want := badOf(f)
			if bad == "" {
				continue
			}
			env := ""
			if e, ok := f.(interface{ GetEnvVars() []string }); ok && len(e.GetEnvVars()) > 0 {
				env = e.GetEnvVars()[0]
			}
			cases = append(cases, tc{c.Name, f.Names()[0], env, bad, want})
		}
	}
	for _, c := range cases {
		for _, viaEnv := range []bool{false, true} {
			if viaEnv && c.env == "" {
				continue
			}
			args := []string{"ovnfwd"}
			if c.cmd != "" {
				args = append(args, c.cmd)
			}
			name := fmt.Sprintf("%s --%s", c.cmd, c.flag)
			if viaEnv {
				t.Setenv(c.env, c.bad)
				name = fmt.Sprintf("%s %s", c.cmd, c.env)
			} else {
				args = append(args, "--"+c.flag+"="+c.bad)
			}
			if c.cmd == "run" {
				args = append(args, "--validate")
			}
			app := newApp()
			var stdout, stderr bytes.Buffer
			app.Writer, app.ErrWriter = &stdout, &stderr
			var exitErr error
			app.ExitErrHandler = func(_ *cli.Context, err error) { exitErr = err }
			err := app.Run(globalFlagsFirst(args, app.Flags))
			if err == nil {
				err = exitErr
			}
			if viaEnv {
				t.Setenv(c.env, "")
			}
			var ec cli.ExitCoder
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			named := "--" + c.flag
			if viaEnv {
				named = c.env
			}
			switch {
			case !errors.As(err, &ec) || ec.ExitCode() != engine.ExitError:
				t.Errorf("%s=%q: %v; want exit %d", name, c.bad, err, engine.ExitError)
			case strings.Contains(msg, "\n") || !strings.Contains(msg, named) || !strings.Contains(msg, fmt.Sprintf("%q", c.bad)) || !strings.Contains(msg, c.want):
				t.Errorf("%s=%q: message %q; want one line naming %s, the value and %q", name, c.bad, msg, named, c.want)
			case stdout.Len() > 0:
				t.Errorf("%s=%q: printed %d bytes on stdout", name, c.bad, stdout.Len())
			}
			seen++
		}
	}
	if seen < 40 {
		t.Errorf("only %d option × source cases: the command table changed?", seen)
	}
}
