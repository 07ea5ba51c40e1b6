package ovn

import (
	"context"
	"testing"
	"time"

	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovnfwd/ovnfwd/ovn/sbdb"
)

func TestStageFlows(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ep string, _ bool) {
		raw := rawSB(t, ep)
		dp := raw.insert(sbdb.DatapathBindingTable, ovsdb.Row{"tunnel_key": 1,
			"external_ids": ovsMap(map[string]string{"name": "lxd-net1-lr"})})
		flow := func(stage string, prio int, match, actions string) {
			raw.insert(sbdb.LogicalFlowTable, ovsdb.Row{
				"logical_datapath": uuidRef(dp), "pipeline": "ingress", "table_id": 6, "priority": prio,
				"match": match, "actions": actions,
				"external_ids": ovsMap(map[string]string{"stage-name": stage, "source": "northd.c:1"}),
			})
		}
		cr := `is_chassis_resident("cr-lxd-net1-lr-lrp-ext")`
		flow("lr_in_dnat", 110, "ct.new && !ct.rel && ip4 && ip4.dst == 198.51.100.1 && tcp && tcp.dst == 80 && "+cr, "ct_lb_mark(backends=10.0.0.2:8080);")
		flow("lr_in_dnat", 110, "ct.new && !ct.rel && ip4 && ip4.dst == 198.51.100.1 && "+cr, "ct_lb_mark(backends=10.0.0.9);")
		flow("lr_in_dnat", 110, "ct.new && !ct.rel && ip4 && ip4.dst == 198.51.100.10 && "+cr, "ct_lb_mark(backends=10.0.0.7);")
		flow("lr_in_dnat", 0, "1", "next;")
		flow("lr_in_unsnat", 120, "ip4 && ip4.dst == 198.51.100.1", "next;")

		sb := dialTestSB(t, ep)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, err := sb.StageFlows(ctx, "lr_in_dnat", "198.51.100.1")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("flows = %+v, want the two lr_in_dnat flows of 198.51.100.1", got)
		}
		for _, f := range got {
			if f.Datapath != "lxd-net1-lr" || f.Priority != 110 || f.UUID == "" {
				t.Errorf("flow %+v: want datapath lxd-net1-lr, priority 110 and a UUID", f)
			}
		}
		// Sorted by match within a datapath and priority.
		if got[0].Actions != "ct_lb_mark(backends=10.0.0.9);" || got[1].Actions != "ct_lb_mark(backends=10.0.0.2:8080);" {
			t.Errorf("order: %q, %q", got[0].Match, got[1].Match)
		}
		if len(sb.Snapshot().LoadBalancers) != 0 {
			t.Error("a one-off select must not change the replica")
		}
	})
}

func TestMentionsAddress(t *testing.T) {
	for _, c := range []struct {
		match, addr string
		want        bool
	}{
		{"ip4.dst == 198.51.100.1 && tcp", "198.51.100.1", true},
		{"ip4.dst == 198.51.100.10 && tcp", "198.51.100.1", false},
		{"ip4.dst == 198.51.100.1", "198.51.100.1", true},
		{"ip4.dst == 198.51.100.1", "98.51.100.1", false},
		{"ip6.dst == 2001:db8::1 && udp", "2001:db8::1", true},
		{"ip6.dst == 2001:db8::10", "2001:db8::1", false},
		{"ip6.dst == 2001:db8::1 && ip6.dst == 2001:db8::10", "2001:db8::10", true},
		{"anything", "", true},
	} {
		if got := MentionsAddress(c.match, c.addr); got != c.want {
			t.Errorf("MentionsAddress(%q, %q) = %v, want %v", c.match, c.addr, got, c.want)
		}
	}
}
