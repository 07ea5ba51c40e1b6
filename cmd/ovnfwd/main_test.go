package main

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/urfave/cli/v2"
)

func TestGlobalFlagsWorkAfterTheSubcommand(t *testing.T) {
	g := globalFlags()
	for _, tc := range []struct{ in, want []string }{
		{[]string{"ovnfwd", "check", "--nb", "unix:/x", "--deep"}, []string{"ovnfwd", "--nb", "unix:/x", "check", "--deep"}},
		{[]string{"ovnfwd", "--log-level", "debug", "status", "--sb=tcp:1.2.3.4:6642", "--network", "ovn0"},
			[]string{"ovnfwd", "--log-level", "debug", "--sb=tcp:1.2.3.4:6642", "status", "--network", "ovn0"}},
		{[]string{"ovnfwd", "explain", "ovn0", "198.51.100.10", "--lxd", "/s"}, []string{"ovnfwd", "--lxd", "/s", "explain", "ovn0", "198.51.100.10"}},
		{[]string{"ovnfwd", "check", "--", "--nb"}, []string{"ovnfwd", "check", "--", "--nb"}},
		{[]string{"ovnfwd", "--bogus", "check", "--nb", "x"}, []string{"ovnfwd", "--bogus", "check", "--nb", "x"}},
		{[]string{"ovnfwd"}, []string{"ovnfwd"}},
	} {
		if got := globalFlagsFirst(tc.in, g); !slices.Equal(got, tc.want) {
			t.Errorf("%q → %q, want %q", tc.in, got, tc.want)
		}
	}
}

// `ovnfwd --version` prints the version and exits 0 (it exited 2).
func TestVersionFlag(t *testing.T) {
	app := newApp()
	var out bytes.Buffer
	app.Writer = &out
	if err := app.Run([]string{"ovnfwd", "--version"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), shortVersion()) {
		t.Errorf("--version printed %q", out.String())
	}
}

// Every --help fits an 80-column terminal (lines ran to 430).
func TestHelpFitsTheTerminal(t *testing.T) {
	t.Setenv("COLUMNS", "80")
	saved := cli.FlagStringer
	defaultFlagStringer = saved
	cli.FlagStringer = flagHelp
	cli.HelpPrinter = func(w io.Writer, templ string, data any) {
		cli.HelpPrinterCustom(w, templ, data, map[string]any{"wrapAt": termWidth})
	}
	t.Cleanup(func() { cli.FlagStringer = saved })
	for _, args := range [][]string{{"--help"}, {"run", "--help"}, {"check", "--help"}, {"repair", "--help"}, {"status", "--help"},
		{"explain", "--help"}, {"version", "--help"}, {"completion", "--help"}} {
		app := newApp()
		var out bytes.Buffer
		app.Writer = &out
		_ = app.Run(append([]string{"ovnfwd"}, args...))
		if out.Len() == 0 {
			t.Errorf("%v printed nothing", args)
		}
		for i, l := range strings.Split(out.String(), "\n") {
			if n := utf8.RuneCountInString(l); n > 80 {
				t.Errorf("%v line %d is %d columns: %q", args, i+1, n, l)
			}
		}
	}
}
