package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
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
