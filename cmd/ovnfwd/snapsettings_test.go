package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// Every run option (and global option) is a snap setting: it has an
// OVNFWD_ variable named after it, which `snap-settings env` exports.
// Exceptions are spelled out.
func TestEveryRunOptionIsASetting(t *testing.T) {
	special := map[string]string{flagBGPPeer: envBGPPeers, flagBGPCommunity: "OVNFWD_BGP_COMMUNITIES"}
	notSettings := map[string]bool{"validate": true} // an action, not a setting
	sf := settingFlags()
	for _, f := range append(globalFlags(), runCommand().Flags...) {
		name := f.Names()[0]
		if notSettings[name] {
			if _, ok := sf[name]; ok {
				t.Errorf("--%s is a setting", name)
			}
			continue
		}
		s, ok := sf[name]
		if !ok {
			t.Errorf("--%s has no environment variable, so no snap setting sets it", name)
			continue
		}
		want := "OVNFWD_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if w, ok := special[name]; ok {
			want = w
		}
		if s.env != want {
			t.Errorf("--%s: variable %s, want %s", name, s.env, want)
		}
	}
}

// sampleSetting is a value of the option's type, as snapd would hold it.
func sampleSetting(f cli.Flag) any {
	switch f.(type) {
	case *cli.BoolFlag:
		return true
	case *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag:
		return json.Number("7")
	case *cli.Float64Flag:
		return json.Number("0.25")
	case *cli.DurationFlag:
		return "3s"
	case *cli.StringSliceFlag:
		return []any{"a=b", "c"}
	default:
		return "it's a value, with 'quotes'"
	}
}

// Each setting reaches its option: the exports, evaluated by sh as the
// wrapper does, set the variable the option reads, and `run` sees the
// option set.
func TestSnapSettingsReachTheirOptions(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal("the snap's wrapper is sh; no sh here: ", err)
	}
	settings := map[string]any{}
	for name, s := range settingFlags() {
		settings[name] = sampleSetting(s.flag)
	}
	// Options that judge their value as they parse it.
	for name, v := range map[string]any{"arp-responder": "auto", "bgp-next-hop": "self", flagLogLevel: "debug", flagLogFormat: "json"} {
		settings[name] = v
	}
	env, errs := snapSettingsEnv(settings)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	exports := shellExports(env, func(string) (string, bool) { return "", false })
	out, err := exec.Command(sh, "-c", exports+`env -0`).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range strings.Split(string(out), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "OVNFWD_") {
			got[k] = v
		}
	}
	for k, v := range env {
		if got[k] != v {
			t.Errorf("%s: sh evaluated %q, want %q", k, got[k], v)
		}
	}
	// Through the variables, every option is set.
	for k, v := range env {
		t.Setenv(k, v)
	}
	seen := map[string]bool{}
	app := newApp()
	var runErr error
	app.ExitErrHandler = func(_ *cli.Context, err error) { runErr = err }
	for _, cmd := range app.Commands {
		if cmd.Name == "run" {
			cmd.Action = func(c *cli.Context) error {
				for name := range settingFlags() {
					seen[name] = c.IsSet(name)
				}
				return nil
			}
		}
	}
	if err := app.Run([]string{"ovnfwd", "run"}); err != nil || runErr != nil {
		t.Fatal(err, runErr)
	}
	for name := range settingFlags() {
		if name == flagBGPPeer {
			if got := peerSpecs(nil); len(got) != 1 || got[0] != "it's a value, with 'quotes'" {
				t.Errorf("bgp-peer via %s: %q", envBGPPeers, got)
			}
			continue
		}
		if !seen[name] {
			t.Errorf("setting %s=%v did not set --%s", name, settings[name], name)
		}
	}
}

// The environment wins over a setting (as for every other default of the
// wrapper), and a value is quoted for sh whatever it holds.
func TestShellExports(t *testing.T) {
	env := map[string]string{"OVNFWD_A": "x'y\nz", "OVNFWD_B": "set", "OVNFWD_C": "$(touch /tmp/pwned)"}
	got := shellExports(env, func(k string) (string, bool) {
		if k == "OVNFWD_B" {
			return "already", true
		}
		return "", false
	})
	want := "export OVNFWD_A='x'\\''y\nz'\nexport OVNFWD_C='$(touch /tmp/pwned)'\n"
	if got != want {
		t.Errorf("exports:\n%s\nwant:\n%s", got, want)
	}
}

// Values that are not an option's value are named, one line each.
func TestSnapSettingsEnvRefuses(t *testing.T) {
	_, errs := snapSettingsEnv(map[string]any{
		"log-level":   map[string]any{"a": "b"},
		"bgp-peer":    []any{[]any{"x"}},
		"no-such-opt": "1",
		"chassis":     nil, // unset
	})
	if len(errs) != 3 || !strings.Contains(strings.Join(errs, "\n"), "snap setting no-such-opt: not an option of ovnfwd run") {
		t.Errorf("errors %q", errs)
	}
}
