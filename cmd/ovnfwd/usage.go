package main

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/ovnfwd/ovnfwd/engine"
)

// withUsageErrors makes every command answer a value its flag parser
// refuses with one line on stderr naming the option (or its variable), the
// value and what is accepted, and exit 2 — urfave/cli would print the whole
// help text to stdout, where the one line that matters scrolls away.
func withUsageErrors(app *cli.App) *cli.App {
	app.OnUsageError = usageError
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			c.OnUsageError = usageError
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
	return app
}

var (
	// urfave/cli and the flag package: a value from the command line, and
	// one from an environment variable.
	badFlagValue = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-+([a-z0-9-]+): `)
	badEnvValue  = regexp.MustCompile(`^could not parse "(.*)" as \w+ value from environment variable "([A-Z0-9_]+)" for flag ([a-z0-9-]+): `)
	unknownFlag  = regexp.MustCompile(`^flag provided but not defined: -+(.+)$`)
	missingValue = regexp.MustCompile(`^flag needs an argument: -+(.+)$`)
)

func usageError(c *cli.Context, err error, _ bool) error {
	where := "ovnfwd"
	if c.Command != nil && c.Command.Name != "" && (c.App == nil || c.Command.Name != c.App.Name) {
		where = "ovnfwd " + c.Command.Name
	}
	msg := err.Error()
	switch m := []string(nil); {
	case func() bool { m = badFlagValue.FindStringSubmatch(msg); return m != nil }():
		msg = fmt.Sprintf("--%s %q: %s", m[2], m[1], wantFor(c, m[2]))
	case func() bool { m = badEnvValue.FindStringSubmatch(msg); return m != nil }():
		msg = fmt.Sprintf("%s=%q (--%s): %s", m[2], m[1], m[3], wantFor(c, m[3]))
	case func() bool { m = unknownFlag.FindStringSubmatch(msg); return m != nil }():
		msg = fmt.Sprintf("unknown option --%s", m[1])
	case func() bool { m = missingValue.FindStringSubmatch(msg); return m != nil }():
		msg = fmt.Sprintf("--%s needs a value", m[1])
	}
	return cli.Exit(fmt.Sprintf("%s (see `%s --help`)", msg, where), engine.ExitError)
}

// wantFor says what option name accepts, from its type.
func wantFor(c *cli.Context, name string) string {
	var flags []cli.Flag
	if c.Command != nil {
		flags = append(flags, c.Command.Flags...)
	}
	if c.App != nil {
		flags = append(flags, c.App.Flags...)
	}
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			if w := typeWant(f); w != "" {
				return w
			}
		}
	}
	return "not a valid value"
}

// typeWant says what an option of f's type accepts; "" for free text
// (judged by the option itself).
func typeWant(f cli.Flag) string {
	switch f.(type) {
	case *cli.BoolFlag:
		return "want true or false"
	case *cli.IntFlag, *cli.Int64Flag:
		return "want a whole number"
	case *cli.UintFlag, *cli.Uint64Flag:
		return "want a whole number, 0 or more"
	case *cli.DurationFlag:
		return "want a duration such as 500ms, 30s, 5m or 1h30m"
	}
	return ""
}
