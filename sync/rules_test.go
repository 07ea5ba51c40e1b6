package sync

import "testing"

func TestRulesFor(t *testing.T) {
	lxd := func(sw bool) Rules { return Rules{Prefix: "lxd-net", AttachSwitch: sw} }
	tests := []struct {
		kind, version string
		want          Rules
	}{
		{"lxd", "4.19", lxd(true)},
		{"lxd", "5.0.2", lxd(true)},
		{"lxd", "5.0.9", lxd(true)},
		{"lxd", "5.1", lxd(true)},
		{"lxd", "5.20", lxd(true)},
		{"lxd", "5.21.0", lxd(true)},
		{"lxd", "5.21.1", lxd(true)},
		{"lxd", "5.21.2", lxd(false)},
		{"lxd", "5.21.3", lxd(false)},
		{"lxd", "5.21.4", lxd(true)},
		{"lxd", "5.21.7", lxd(true)},
		{"lxd", "6.0", lxd(false)},
		{"lxd", "6.1", lxd(false)},
		{"lxd", "6.4", lxd(false)},
		{"lxd", "6.5", lxd(true)},
		{"lxd", "6.9", lxd(true)},
		{"lxd", "7.0", lxd(true)},
		{"", "5.21.4", lxd(true)},
		{"LXD", "5.21.4 LTS", lxd(true)},
		{"lxd", "6.9-ab8fad2", lxd(true)},
		// Incus: router + ls-int always; default target in -tcp only with the
		// nbctl writer (≤ 6.0.1, 6.1, 6.2), in both rows with the libovsdb
		// writer (6.0.2+, 6.3 … 7.2), a NAT rule from 7.3.
		{"incus", "0.7", Rules{Prefix: "incus-net", AttachSwitch: true}},
		{"incus", "6.0", Rules{Prefix: "incus-net", AttachSwitch: true}},
		{"incus", "6.0.1", Rules{Prefix: "incus-net", AttachSwitch: true}},
		{"incus", "6.0.2", Rules{Prefix: "incus-net", AttachSwitch: true, DefaultTargetInUDP: true}},
		{"incus", "6.0.6", Rules{Prefix: "incus-net", AttachSwitch: true, DefaultTargetInUDP: true}},
		{"incus", "6.2", Rules{Prefix: "incus-net", AttachSwitch: true}},
		{"incus", "6.3", Rules{Prefix: "incus-net", AttachSwitch: true, DefaultTargetInUDP: true}},
		{"incus", "7.2", Rules{Prefix: "incus-net", AttachSwitch: true, DefaultTargetInUDP: true}},
		{"incus", "7.3", Rules{Prefix: "incus-net", AttachSwitch: true, DefaultTargetViaNAT: true}},
		{"incus", "7.3.1", Rules{Prefix: "incus-net", AttachSwitch: true, DefaultTargetViaNAT: true}},
	}
	for _, tt := range tests {
		t.Run(tt.kind+"-"+tt.version, func(t *testing.T) {
			got, err := RulesFor(ServerInfo{Kind: tt.kind, Version: tt.version})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Only the LXD versions whose LoadBalancerApply is one ovn-nbctl
// transaction write a forward atomically; anything unknown is not taken to.
func TestWritesForwardAtomically(t *testing.T) {
	for _, c := range []struct {
		kind, version string
		want          bool
	}{
		{"lxd", "4.19", true},
		{"lxd", "5.0.2", true},
		{"", "5.0.9", true},
		{"LXD", "5.20", true},
		{"lxd", "5.21.1", true},
		{"lxd", "5.21.2", false},
		{"lxd", "5.21.4 LTS", false},
		{"lxd", "6.1", false},
		{"lxd", "6.8", false},
		{"lxd", "4.0.9", false},
		{"incus", "6.0.1", false},
		{"incus", "6.0.5", false},
		{"lxd", "", false},
		{"lxd", "five", false},
		{"microcloud", "5.0.2", false},
	} {
		if got := WritesForwardAtomically(ServerInfo{Kind: c.kind, Version: c.version}); got != c.want {
			t.Errorf("WritesForwardAtomically(%s %s) = %v, want %v", c.kind, c.version, got, c.want)
		}
	}
}

func TestRulesForErrors(t *testing.T) {
	for _, s := range []ServerInfo{
		{Kind: "lxd", Version: ""},
		{Kind: "lxd", Version: "5"},
		{Kind: "lxd", Version: "five.0"},
		{Kind: "lxd", Version: "5.x.1"},
		{Kind: "lxd", Version: "5.0.2.1"},
		{Kind: "lxd", Version: "5..2"},
		{Kind: "lxd", Version: "4.0.9"}, // no OVN forwards yet
		{Kind: "microcloud", Version: "5.21.4"},
	} {
		if r, err := RulesFor(s); err == nil {
			t.Errorf("RulesFor(%+v) = %+v, want an error", s, r)
		}
	}
}
