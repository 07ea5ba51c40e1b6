package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ovnfwd/ovnfwd/engine"
)

// The snap's settings are `run`'s options: `snap set ovnfwd bgp-asn=65001`
// is --bgp-asn 65001. The snap's scripts do not know them; they ask this
// hidden command, so the binary is the only validator and the only list:
//
//	configure hook:  ovnfwd snap-settings check   (one line per bad setting, exit 2)
//	daemon wrapper:  eval "$(ovnfwd snap-settings env)"
//
// Both read the settings with `snapctl get -d <every option name>`.
func snapSettingsCommand() *cli.Command {
	return &cli.Command{
		Name:   "snap-settings",
		Usage:  "the snap's settings (snap set ovnfwd OPTION=VALUE, OPTION being a run option without --)",
		Hidden: true,
		Subcommands: []*cli.Command{
			{
				Name:  "check",
				Usage: "judge the snap settings as run would; one line per bad setting, exit 2 if any",
				Action: func(c *cli.Context) error {
					settings, err := readSnapSettings(c.Context)
					if err != nil {
						return cli.Exit(err.Error(), engine.ExitError)
					}
					if errs := checkSnapSettings(settings); len(errs) > 0 {
						for _, e := range errs {
							fmt.Fprintln(c.App.ErrWriter, "ovnfwd: "+e)
						}
						return cli.Exit("", engine.ExitError)
					}
					return nil
				},
			},
			{
				Name:  "env",
				Usage: "print the settings as shell exports of the OVNFWD_* variables run reads (variables already set are left alone)",
				Flags: []cli.Flag{&cli.BoolFlag{Name: "if-readable",
					Usage: "print nothing when snapctl cannot be used (the CLI, run by an ordinary user, goes by its flags alone)"}},
				Action: func(c *cli.Context) error {
					settings, err := readSnapSettings(c.Context)
					if err != nil {
						if c.Bool("if-readable") {
							return nil
						}
						return cli.Exit("snap settings not read: "+err.Error(), engine.ExitError)
					}
					env, errs := snapSettingsEnv(settings)
					if len(errs) > 0 {
						for _, e := range errs {
							fmt.Fprintln(c.App.ErrWriter, "ovnfwd: "+e)
						}
						return cli.Exit("", engine.ExitError)
					}
					_, err = io.WriteString(c.App.Writer, shellExports(env, os.LookupEnv))
					return err
				},
			},
		},
	}
}

// settingFlag is one option a snap setting of the same name sets.
type settingFlag struct {
	flag cli.Flag
	env  string // the variable run reads it from
	sep  string // how list values are joined in env
}

// settingFlags are the options a snap setting may set: every global and
// run option that has an environment variable.
func settingFlags() map[string]settingFlag {
	out := map[string]settingFlag{}
	for _, f := range append(globalFlags(), runCommand().Flags...) {
		name := f.Names()[0]
		if name == flagBGPPeer {
			out[name] = settingFlag{flag: f, env: envBGPPeers, sep: "\n"}
			continue
		}
		ev, ok := f.(interface{ GetEnvVars() []string })
		if !ok || len(ev.GetEnvVars()) == 0 {
			continue
		}
		out[name] = settingFlag{flag: f, env: ev.GetEnvVars()[0], sep: ","}
	}
	return out
}

// readSnapSettings asks snapctl for every option name at once; unset ones
// are left out of its document.
func readSnapSettings(ctx context.Context) (map[string]any, error) {
	names := slices.Sorted(maps.Keys(settingFlags()))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "snapctl", append([]string{"get", "-d"}, names...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("snapctl get: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	settings := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&settings); err != nil {
		return nil, fmt.Errorf("snapctl get -d printed %.200q: %v", out, err)
	}
	return settings, nil
}

// settingValue turns a setting's JSON value into the option's text; lists
// are joined with sep. ok is false for null (as if unset).
func settingValue(v any, sep string) (s string, ok bool, err error) {
	switch x := v.(type) {
	case nil:
		return "", false, nil
	case string:
		return x, true, nil
	case json.Number:
		return x.String(), true, nil
	case bool:
		return strconv.FormatBool(x), true, nil
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			p, ok, err := settingValue(e, sep)
			if err != nil {
				return "", false, err
			}
			if _, nested := e.([]any); nested || !ok {
				return "", false, fmt.Errorf("a list may hold only strings, numbers and booleans")
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, sep), true, nil
	default:
		return "", false, fmt.Errorf("a value, not a group of settings (set it as OPTION=VALUE)")
	}
}

// snapSettingsEnv maps the settings to the variables run reads.
func snapSettingsEnv(settings map[string]any) (env map[string]string, errs []string) {
	flags := settingFlags()
	env = map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		sf, known := flags[name]
		if !known {
			errs = append(errs, fmt.Sprintf("snap setting %s: not an option of ovnfwd run", name))
			continue
		}
		s, ok, err := settingValue(settings[name], sf.sep)
		if err != nil {
			errs = append(errs, fmt.Sprintf("snap setting %s: %v", name, err))
			continue
		}
		if ok {
			env[sf.env] = s
		}
	}
	return env, errs
}

// checkSnapSettings judges the settings: first each value against its
// option's type (every bad one is reported), then all of them together as
// `run --validate` would.
func checkSnapSettings(settings map[string]any) []string {
	env, errs := snapSettingsEnv(settings)
	flags := settingFlags()
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		sf, known := flags[name]
		if !known {
			continue
		}
		v, ok := env[sf.env]
		if !ok {
			continue
		}
		if msg := typeCheck(sf.flag, v); msg != "" {
			errs = append(errs, fmt.Sprintf("snap setting %s=%q: %s", name, v, msg))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	// Together, through the variables, exactly as the daemon reads them.
	app := newApp()
	app.ErrWriter, app.Writer = io.Discard, io.Discard
	var verr error
	app.ExitErrHandler = func(_ *cli.Context, err error) { verr = err }
	for _, cmd := range app.Commands {
		if cmd.Name == "run" {
			cmd.Action = func(c *cli.Context) error { return validateRun(c) }
		}
	}
	restore := setEnv(env)
	defer restore()
	if err := app.Run([]string{"ovnfwd", "run"}); err != nil && verr == nil {
		verr = err
	}
	if verr != nil {
		return []string{"snap settings: " + settingNames(verr.Error())}
	}
	return nil
}

// typeCheck parses v as the option's type; "" when it parses.
func typeCheck(f cli.Flag, v string) string {
	want := typeWant(f)
	if want == "" {
		return "" // text: judged with the others
	}
	fs := flag.NewFlagSet("setting", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := f.Apply(fs); err != nil {
		return err.Error()
	}
	if err := fs.Set(f.Names()[0], v); err != nil {
		return want
	}
	return ""
}

// settingNames rewrites "--option" in a message to the setting's name.
func settingNames(msg string) string {
	names := slices.Collect(maps.Keys(settingFlags()))
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	for _, n := range names {
		msg = strings.ReplaceAll(msg, "--"+n, n)
	}
	return msg
}

// setEnv sets the variables for this process and returns what undoes it.
func setEnv(env map[string]string) (restore func()) {
	type old struct {
		v   string
		set bool
	}
	saved := map[string]old{}
	for k, v := range env {
		prev, set := os.LookupEnv(k)
		saved[k] = old{prev, set}
		_ = os.Setenv(k, v)
	}
	return func() {
		for k, o := range saved {
			if o.set {
				_ = os.Setenv(k, o.v)
			} else {
				_ = os.Unsetenv(k)
			}
		}
	}
}

// shellExports prints `export NAME='value'` for each variable not set
// already (the environment wins, as for the wrapper's other defaults).
func shellExports(env map[string]string, lookup func(string) (string, bool)) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if cur, set := lookup(k); set && cur != "" {
			continue
		}
		fmt.Fprintf(&b, "export %s='%s'\n", k, strings.ReplaceAll(env[k], "'", `'\''`))
	}
	return b.String()
}
