package main

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ovnfwd/ovnfwd/bgp"
	"github.com/ovnfwd/ovnfwd/engine"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// parseFlags runs args through a command with the route-state flags and
// returns what parseRouteConfig made of them.
func parseFlags(t *testing.T, chassisID func(context.Context) (string, error), args ...string) (engine.RouteConfig, bool, string, error) {
	t.Helper()
	var rc engine.RouteConfig
	var on bool
	var arp string
	var perr error
	app := &cli.App{Name: "t", Commands: []*cli.Command{{
		Name: "run", Flags: append(bgpFlags(), planFlags()...),
		Action: func(c *cli.Context) error {
			rc, on, perr = parseRouteConfig(c, chassisID)
			if perr == nil {
				arp, perr = arpResponderMode(c)
			}
			return nil
		},
	}}}
	if err := app.Run(append([]string{"t", "run"}, args...)); err != nil {
		return rc, on, arp, err // a flag's own validation
	}
	return rc, on, arp, perr
}

func noChassis(context.Context) (string, error) { return "", errors.New("no OVS here") }

func TestRouteFlagsDefaultsAndFull(t *testing.T) {
	rc, on, arp, err := parseFlags(t, noChassis)
	if err != nil || on || arp != "auto" {
		t.Fatalf("defaults: on=%v arp=%q err=%v", on, arp, err)
	}

	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rc, on, arp, err = parseFlags(t, noChassis,
		"--chassis", "ch2", "--bgp-asn", "65101", "--bgp-local-address", "127.0.0.12",
		"--bgp-peer", "127.0.0.1:1179,65000", "--bgp-peer", "[2001:db8::1]:179,65001,s3cret", "--bgp-peer", "10.0.0.1,4200000000,@"+pwFile,
		"--bgp-hold-time", "9s", "--bgp-keepalive", "3s", "--bgp-next-hop", "SELF", "--bgp-community", "65000:1,no-export",
		"--bgp-med", "10", "--bgp-networks", "ovn0,web/ovn1", "--bgp-uplinks", "br0", "--arp-responder", "off")
	if err != nil || !on {
		t.Fatalf("on=%v err=%v", on, err)
	}
	sc := rc.Speaker
	if sc.ASN != 65101 || sc.RouterID != "127.0.0.12" || sc.ListenPort != -1 || sc.HoldTime != 9*time.Second || sc.Keepalive != 3*time.Second {
		t.Errorf("speaker config %+v", sc)
	}
	want := []bgp.Peer{
		{Address: netip.MustParseAddr("127.0.0.1"), Port: 1179, ASN: 65000},
		{Address: netip.MustParseAddr("2001:db8::1"), Port: 179, ASN: 65001, Password: "s3cret"},
		{Address: netip.MustParseAddr("10.0.0.1"), ASN: 4200000000, Password: "from-file"},
	}
	for i, p := range sc.Peers {
		p.LocalAddress = netip.Addr{}
		if p != want[i] {
			t.Errorf("peer %d: %+v, want %+v", i, p, want[i])
		}
	}
	if sc.Peers[0].LocalAddress != netip.MustParseAddr("127.0.0.12") {
		t.Errorf("local address %v", sc.Peers[0].LocalAddress)
	}
	pol := rc.Policy
	if pol.Chassis != "ch2" || pol.NextHop != "self" || pol.MED == nil || *pol.MED != 10 ||
		strings.Join(pol.Communities, " ") != "65000:1 no-export" || strings.Join(pol.Networks, " ") != "ovn0 web/ovn1" ||
		strings.Join(pol.Uplinks, " ") != "br0" || arp != "off" {
		t.Errorf("policy %+v arp %q", pol, arp)
	}
}

func TestRouteFlagsChassisFromOVSAndEnvPeers(t *testing.T) {
	t.Setenv(envBGPPeers, "127.0.0.1:1179,65000; 127.0.0.2,65000")
	rc, on, _, err := parseFlags(t, func(context.Context) (string, error) { return "ch3", nil },
		"--bgp-asn", "65101", "--bgp-router-id", "192.0.2.1")
	if err != nil || !on {
		t.Fatalf("on=%v err=%v", on, err)
	}
	if rc.Policy.Chassis != "ch3" || len(rc.Speaker.Peers) != 2 || rc.Speaker.RouterID != "192.0.2.1" || rc.Policy.NextHop != fwdsync.NextHopRouter {
		t.Errorf("config %+v", rc)
	}
}

func TestRouteFlagsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--bgp-peer", "127.0.0.1,65000"}, "without --bgp-asn"},
		{[]string{"--bgp-asn", "65101", "--chassis", "ch1", "--bgp-router-id", "1.1.1.1"}, "at least one --bgp-peer"},
		{[]string{"--bgp-asn", "65101", "--bgp-peer", "127.0.0.1,65000", "--bgp-router-id", "1.1.1.1"}, "local chassis name is unknown"},
		{[]string{"--bgp-asn", "65101", "--chassis", "ch1", "--bgp-peer", "127.0.0.1,65000"}, "--bgp-router-id is needed"},
		{[]string{"--bgp-asn", "65101", "--chassis", "ch1", "--bgp-peer", "127.0.0.1,65000", "--bgp-router-id", "::1"}, "want an IPv4"},
		{[]string{"--bgp-asn", "65101", "--chassis", "ch1", "--bgp-local-address", "127.0.0.11", "--bgp-peer", "127.0.0.1"}, "no ASN"},
		{[]string{"--bgp-asn", "65101", "--chassis", "ch1", "--bgp-local-address", "127.0.0.11", "--bgp-peer", "host,65000,pw"}, "invalid address"},
		{[]string{"--bgp-asn", "65101", "--chassis", "ch1", "--bgp-local-address", "127.0.0.11", "--bgp-peer", "127.0.0.1,x,topsecret"}, "127.0.0.1,x,***"},
		{[]string{"--bgp-asn", "65101", "--chassis", "ch1", "--bgp-local-address", "127.0.0.11", "--bgp-peer", "127.0.0.1,1", "--bgp-hold-time", "2s"}, "0 or at least 3 s"},
		{[]string{"--bgp-asn", "65101", "--chassis", "ch1", "--bgp-local-address", "127.0.0.11", "--bgp-peer", "127.0.0.1,1", "--bgp-keepalive", "3s"}, "below --bgp-hold-time"},
		{[]string{"--bgp-asn", "65101", "--chassis", "ch1", "--bgp-local-address", "127.0.0.11", "--bgp-peer", "127.0.0.1,1", "--bgp-hold-time", "3500ms"}, "whole seconds"},
		{[]string{"--bgp-asn", "65101", "--chassis", "ch1", "--bgp-local-address", "127.0.0.11", "--bgp-peer", "127.0.0.1,1", "--bgp-next-hop", "peer"}, "next-hop mode"},
		{[]string{"--bgp-asn", "65101", "--chassis", "ch1", "--bgp-local-address", "127.0.0.11", "--bgp-peer", "127.0.0.1,1", "--bgp-community", "1:2:3:4"}, "invalid BGP community"},
		{[]string{"--arp-responder", "sometimes"}, "want auto, all, off or unmanaged"},
	} {
		_, _, _, err := parseFlags(t, noChassis, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "topsecret") {
			t.Errorf("%v: error shows the password: %v", tc.args, err)
		}
	}
}
