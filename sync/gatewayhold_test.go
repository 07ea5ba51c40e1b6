package sync

import (
	"strings"
	"testing"
)

func TestGatewayHeldLocally(t *testing.T) {
	group := []NBHAChassis{{ChassisName: "ch1", Priority: 1138}, {ChassisName: "ch2", Priority: 2000}, {ChassisName: "ch3", Priority: 1000}}
	for _, c := range []struct {
		name  string
		group []NBHAChassis
		self  string
		bfd   map[string]bool
		held  bool
		why   string
	}{
		{"highest priority holds whatever BFD says", group, "ch2", map[string]bool{"ch1": true, "ch3": true}, true, "ch2 has the highest priority"},
		{"every higher one down", group, "ch3", map[string]bool{"ch1": false, "ch2": false}, true, "(ch1, ch2: down)"},
		{"no BFD session counts as down", group, "ch3", map[string]bool{}, true, "(ch1, ch2: down)"},
		{"a higher one up takes it", group, "ch3", map[string]bool{"ch1": false, "ch2": true}, false, "ch2 (priority 2000) up by ch3's BFD"},
		{"lower ones do not matter", group, "ch1", map[string]bool{"ch2": false, "ch3": true}, true, "(ch2: down)"},
		{"not in the group", group, "ch4", map[string]bool{}, false, "ch4 is not in the gateway's HA chassis group"},
		{"empty group", nil, "ch1", nil, false, "not in the gateway's HA chassis group"},
		{"equal priority up outranks", []NBHAChassis{{ChassisName: "a", Priority: 5}, {ChassisName: "b", Priority: 5}}, "a", map[string]bool{"b": true}, false, "b (priority 5) up"},
		{"equal priority down", []NBHAChassis{{ChassisName: "a", Priority: 5}, {ChassisName: "b", Priority: 5}}, "b", map[string]bool{"a": false}, true, "(a: down)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			held, why := GatewayHeldLocally(c.group, c.self, c.bfd)
			if held != c.held || !strings.Contains(why, c.why) {
				t.Errorf("GatewayHeldLocally = %v, %q; want %v, …%q…", held, why, c.held, c.why)
			}
		})
	}
}

func TestHAGroupOf(t *testing.T) {
	nb := NBState{
		RouterPorts:     []NBRouterPort{{Name: "p-ext", HAChassisGroup: "g1"}, {Name: "p-int"}, {Name: "p-lost", HAChassisGroup: "gone"}},
		HAChassisGroups: []NBHAChassisGroup{{UUID: "g1", Name: "lxd-net2", HAChassis: []string{"h1", "h3"}}},
		HAChassis:       []NBHAChassis{{UUID: "h1", ChassisName: "ch1"}, {UUID: "h2", ChassisName: "ch2"}, {UUID: "h3", ChassisName: "ch3"}},
	}
	g, ms, ok := HAGroupOf(nb, "p-ext")
	if !ok || g.Name != "lxd-net2" || len(ms) != 2 || ms[0].ChassisName != "ch1" || ms[1].ChassisName != "ch3" {
		t.Errorf("HAGroupOf(p-ext) = %+v, %+v, %v", g, ms, ok)
	}
	for _, port := range []string{"p-int", "p-lost", "absent"} {
		if _, ms, ok := HAGroupOf(nb, port); ok || ms != nil {
			t.Errorf("HAGroupOf(%s) = %v, %v; want none", port, ms, ok)
		}
	}
}
