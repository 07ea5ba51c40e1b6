package main

import (
	"flag"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

func TestScopeFromCanonicalizes(t *testing.T) {
	app := &cli.App{}
	set := flag.NewFlagSet("check", flag.ContinueOnError)
	for _, f := range scopeFlags() {
		if err := f.Apply(set); err != nil {
			t.Fatal(err)
		}
	}
	if err := set.Parse([]string{"--listen", "2001:DB8:0::1,198.51.100.10", "--listen", "[2001:db8::2]"}); err != nil {
		t.Fatal(err)
	}
	sc, err := scopeFrom(cli.NewContext(app, set, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"2001:db8::1", "198.51.100.10", "2001:db8::2"} {
		if !sc.Listen[a] {
			t.Errorf("%s not in scope %v", a, sc.Listen)
		}
	}
	set = flag.NewFlagSet("check", flag.ContinueOnError)
	for _, f := range scopeFlags() {
		_ = f.Apply(set)
	}
	_ = set.Parse([]string{"--listen", "web.example"})
	if _, err := scopeFrom(cli.NewContext(app, set, nil)); err == nil {
		t.Error("a listen address that is no IP was accepted")
	}
}

func TestAskApply(t *testing.T) {
	todo := []fwdsync.Change{{Key: fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.10"},
		Ops: []fwdsync.Op{{Kind: fwdsync.OpCreateLB, Name: "lxd-net2-lb-198.51.100.10-tcp"}}}}
	for answer, want := range map[string]bool{"y\n": true, "YES\n": true, "\n": false, "n\n": false, "": false} {
		var out strings.Builder
		if got := askApply(strings.NewReader(answer), &out, todo); got != want {
			t.Errorf("answer %q: %v, want %v", answer, got, want)
		}
		if !strings.Contains(out.String(), "create-lb lxd-net2-lb-198.51.100.10-tcp") || !strings.Contains(out.String(), "[y/N]") {
			t.Errorf("prompt does not list the change:\n%s", out.String())
		}
	}
}

func TestTrailingFlags(t *testing.T) {
	var got []string
	var project, format string
	app := &cli.App{Commands: []*cli.Command{explainCmdForTest(func(c *cli.Context) error {
		var err error
		got, err = trailingFlags(c)
		project, format = c.String("project"), c.String("format")
		return err
	})}}
	if err := app.Run([]string{"ovnfwd", "explain", "ovn0", "198.51.100.10", "--project", "web", "-f=json"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"ovn0", "198.51.100.10"}) || project != "web" || format != "json" {
		t.Errorf("args %v, project %q, format %q", got, project, format)
	}
	if err := app.Run([]string{"ovnfwd", "explain", "ovn0", "198.51.100.10", "--bogus"}); err == nil {
		t.Error("an unknown trailing flag was accepted")
	}
}

func explainCmdForTest(action cli.ActionFunc) *cli.Command {
	c := explainCommand()
	c.Action = action
	return c
}
