package main

import (
	"flag"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestDaemonAddrs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want []string
	}{
		{nil, "", []string{defaultDaemon}},
		{[]string{"--daemon", "node1:9478", "--daemon", "http://node2:9478", "--daemon", "node1:9478"}, "", []string{"node1:9478", "http://node2:9478"}},
		{[]string{"--daemon", "node1:9478,node2:9478"}, "", []string{"node1:9478", "node2:9478"}},
		{nil, "node3:9478,node4:9478", []string{"node3:9478", "node4:9478"}},
		{[]string{"--no-daemon", "--daemon", "node1:9478"}, "", nil},
	} {
		t.Setenv("OVNFWD_DAEMON", tc.env)
		set := flag.NewFlagSet("status", flag.ContinueOnError)
		for _, f := range daemonFlags() {
			if err := f.Apply(set); err != nil {
				t.Fatal(err)
			}
		}
		if err := set.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		got, err := daemonAddrs(cli.NewContext(cli.NewApp(), set, nil))
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%v (env %q): %q, %v; want %q", tc.args, tc.env, got, err, tc.want)
		}
	}
	for _, bad := range []string{"node1", "ftp://node1:9478", "http://", "node 1:9478"} {
		set := flag.NewFlagSet("status", flag.ContinueOnError)
		for _, f := range daemonFlags() {
			_ = f.Apply(set)
		}
		_ = set.Parse([]string{"--daemon", bad})
		if _, err := daemonAddrs(cli.NewContext(cli.NewApp(), set, nil)); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("--daemon %q: %v, want an error naming it", bad, err)
		}
	}
}
