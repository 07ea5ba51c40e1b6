package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ovnfwd/ovnfwd/engine"
)

func TestWriteRouteTable(t *testing.T) {
	on := engine.MemberStatus{Daemon: "node1:9478", Reachable: true, RoutesAnswered: true, Chassis: "ch1", BGP: true, Routes: 2,
		Networks: []engine.MemberNetwork{{Project: "default", Network: "ovn0", Holder: "ch1", Announced: true, Routes: 2, Reason: "holds the gateway"}},
		Sessions: []engine.MemberSession{{Peer: "127.0.0.1:1179", ASN: 65000, State: "established", Since: time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC), Advertised: 2}}}
	off := engine.MemberStatus{Daemon: "node2:9478", Reachable: true, RoutesAnswered: true, Chassis: "ch2"}
	var b strings.Builder
	if err := writeRouteTable(&b, []engine.MemberStatus{on, off}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"ch1      default/ovn0  ch1             true       2", "ch2      -             -               -          0       BGP off",
		"127.0.0.1:1179  65000  established"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
