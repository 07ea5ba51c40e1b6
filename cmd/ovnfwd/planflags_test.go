package main

import (
	"slices"
	"testing"

	"github.com/urfave/cli/v2"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// check, repair and status read the route policy from the same flags and
// environment as run; a bad value exits 2 before anything is read.
func TestPlanOptionsRoutePolicy(t *testing.T) {
	parse := func(env map[string]string, args ...string) (fwdsync.Options, error) {
		for k, v := range env {
			t.Setenv(k, v)
		}
		var got fwdsync.Options
		app := &cli.App{Name: "t", Commands: []*cli.Command{{
			Name: "check", Flags: planFlags(),
			Action: func(c *cli.Context) error { got = planOptions(c); return nil },
		}}}
		err := app.Run(append([]string{"t", "check"}, args...))
		return got, err
	}
	o, err := parse(nil)
	if err != nil || o.Routes != nil || o.ARPResponder != "auto" {
		t.Fatalf("defaults: %+v, %v", o, err)
	}
	o, err = parse(nil, "--bgp-asn", "65101", "--bgp-next-hop", "Self", "--bgp-networks", "ovn0", "--bgp-uplinks", "br0")
	if err != nil || o.Routes == nil || o.Routes.NextHop != "self" || !slices.Equal(o.Routes.Networks, []string{"ovn0"}) ||
		!slices.Equal(o.Routes.Uplinks, []string{"br0"}) || o.Routes.Chassis != "" {
		t.Fatalf("flags: %+v %+v, %v", o, o.Routes, err)
	}
	o, err = parse(map[string]string{"OVNFWD_BGP_ASN": "65101"})
	if err != nil || o.Routes == nil || o.Routes.NextHop != "router" {
		t.Fatalf("environment: %+v, %v", o, err)
	}
	for _, args := range [][]string{{"--bgp-asn", "65101", "--bgp-next-hop", "peer"}, {"--bgp-asn", "4294967296"}} {
		if _, err := parse(nil, args...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
