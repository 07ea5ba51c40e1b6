package sync

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

const (
	createWeb = "create-lb " + webTCP
	attachLR  = "attach-router " + webTCP + " → lxd-net2-lr"
	attachLS  = "attach-switch " + webTCP + " → lxd-net2-ls-int"
)

func TestPlan(t *testing.T) {
	// consistent is web() with its row in place for LXD 5.0.2.
	consistent := func() *fixture { return webWorld("5.0.2").lb("u1", webTCP, "tcp", webVIPs, "lr-2", "ls-int-2") }
	tests := []struct {
		name  string
		fx    func() *fixture
		o     Options
		ops   []string
		cats  []Category
		check func(t *testing.T, res Result)
		// noConverge skips the apply-and-replan check.
		noConverge bool
	}{
		{name: "consistent: nothing to do", fx: consistent},
		{name: "missing row is created and attached", fx: func() *fixture { return webWorld("5.0.2") },
			ops: []string{createWeb, attachLR, attachLS}, cats: []Category{CatMissing},
			check: func(t *testing.T, res Result) {
				c := res.Changes[0]
				if c.Key != webKey || c.Prefix != "lxd-net2" || c.Deletes != 0 {
					t.Errorf("change %+v", c)
				}
				op := c.Ops[0]
				if op.Protocol != "tcp" || !reflect.DeepEqual(op.VIPs, webVIPs) || op.Options != nil || op.UUID != "" {
					t.Errorf("create op %+v", op)
				}
				if c.Ops[1].Target != "lr-2" || c.Ops[2].Target != "ls-int-2" || c.Ops[1].UUID != "" {
					t.Errorf("attach ops %+v %+v", c.Ops[1], c.Ops[2])
				}
				f := res.Findings[0]
				if f.Key != webKey || f.Severity != SeverityError || !strings.Contains(f.Detail, webTCP) || !strings.Contains(f.Repair, "create") {
					t.Errorf("finding %+v", f)
				}
			}},
		{name: "VIPs differ: update guarded by old VIPs",
			fx: func() *fixture {
				return webWorld("5.0.2").lb("u1", webTCP, "tcp", map[string]string{"198.51.100.10:80": "10.2.0.4:80", "198.51.100.10:81": "10.2.0.4:81"}, "lr-2", "ls-int-2")
			},
			ops: []string{"update-lb " + webTCP + " u1"}, cats: []Category{CatVIPMismatch},
			check: func(t *testing.T, res Result) {
				op := res.Changes[0].Ops[0]
				if op.OldVIPs["198.51.100.10:81"] != "10.2.0.4:81" || !reflect.DeepEqual(op.VIPs, webVIPs) || op.Protocol != "tcp" {
					t.Errorf("update %+v", op)
				}
				d := res.Findings[0].Detail
				if !strings.Contains(d, "u1") || !strings.Contains(d, "unexpected 198.51.100.10:81=10.2.0.4:81") ||
					!strings.Contains(d, "198.51.100.10:80=10.2.0.4:80 (want 10.2.0.5:80)") {
					t.Errorf("detail %q", d)
				}
			}},
		{name: "protocol differs", fx: func() *fixture { return webWorld("5.0.2").lb("u1", webTCP, "udp", webVIPs, "lr-2", "ls-int-2") },
			ops: []string{"update-lb " + webTCP + " u1"}, cats: []Category{CatProtocolMismatch}},
		{name: "unset protocol on a tcp row is tcp", fx: func() *fixture { return webWorld("5.0.2").lb("u1", webTCP, "", webVIPs, "lr-2", "ls-int-2") }},
		{name: "neighbor_responder=all set, other options kept",
			fx: func() *fixture {
				fx := consistent()
				fx.nb.LoadBalancers[0].Options = map[string]string{"reject": "true"}
				return fx
			},
			o:   Options{ARPResponder: "all", DeletionBudget: -1},
			ops: []string{"update-lb " + webTCP + " u1"}, cats: []Category{CatOptionsMismatch},
			check: func(t *testing.T, res Result) {
				want := map[string]string{"reject": "true", "neighbor_responder": "all"}
				if got := res.Changes[0].Ops[0].Options; !reflect.DeepEqual(got, want) {
					t.Errorf("options %v", got)
				}
				if res.Findings[0].Severity != SeverityWarning || !strings.Contains(res.Findings[0].Detail, "neighbor_responder unset, want neighbor_responder=all") {
					t.Errorf("finding %+v", res.Findings[0])
				}
			}},
		{name: "neighbor_responder removed when off",
			fx: func() *fixture {
				fx := consistent()
				fx.nb.LoadBalancers[0].Options = map[string]string{"neighbor_responder": "all", "hairpin_snat_ip": "1.1.1.1"}
				return fx
			},
			o:   Options{ARPResponder: "off", DeletionBudget: -1},
			ops: []string{"update-lb " + webTCP + " u1"}, cats: []Category{CatOptionsMismatch},
			check: func(t *testing.T, res Result) {
				if got := res.Changes[0].Ops[0].Options; !reflect.DeepEqual(got, map[string]string{"hairpin_snat_ip": "1.1.1.1"}) {
					t.Errorf("options %v", got)
				}
			}},
		{name: "neighbor_responder=reachable is not off",
			fx: func() *fixture {
				fx := consistent()
				fx.nb.LoadBalancers[0].Options = map[string]string{"neighbor_responder": "reachable"}
				return fx
			},
			o:   Options{ARPResponder: "off", DeletionBudget: -1},
			ops: []string{"update-lb " + webTCP + " u1"}, cats: []Category{CatOptionsMismatch},
			check: func(t *testing.T, res Result) {
				if got := res.Changes[0].Ops[0].Options; got == nil || len(got) != 0 {
					t.Errorf("options %#v, want empty non-nil", got)
				}
			}},
		{name: "auto: listen outside router subnets gets all", fx: consistent, o: Options{ARPResponder: "auto"},
			ops: []string{"update-lb " + webTCP + " u1"}, cats: []Category{CatOptionsMismatch}},
		{name: "options not managed are not compared",
			fx: func() *fixture {
				fx := consistent()
				fx.nb.LoadBalancers[0].Options = map[string]string{"neighbor_responder": "all"}
				return fx
			}},
		{name: "create carries managed options", fx: func() *fixture { return webWorld("5.0.2") }, o: Options{ARPResponder: "all"},
			ops: []string{createWeb, attachLR, attachLS}, cats: []Category{CatMissing},
			check: func(t *testing.T, res Result) {
				if got := res.Changes[0].Ops[0].Options; !reflect.DeepEqual(got, map[string]string{"neighbor_responder": "all"}) {
					t.Errorf("options %v", got)
				}
			}},
		{name: "detached from router", fx: func() *fixture { return webWorld("5.0.2").lb("u1", webTCP, "tcp", webVIPs, "ls-int-2") },
			ops: []string{"attach-router " + webTCP + " u1 → lxd-net2-lr"}, cats: []Category{CatDetached}},
		{name: "detached from ls-int", fx: func() *fixture { return webWorld("5.21.4").lb("u1", webTCP, "tcp", webVIPs, "lr-2") },
			ops: []string{"attach-switch " + webTCP + " u1 → lxd-net2-ls-int"}, cats: []Category{CatDetached}},
		{name: "fully detached", fx: func() *fixture { return webWorld("6.5").lb("u1", webTCP, "tcp", webVIPs) },
			ops:  []string{"attach-router " + webTCP + " u1 → lxd-net2-lr", "attach-switch " + webTCP + " u1 → lxd-net2-ls-int"},
			cats: []Category{CatDetached, CatDetached}},
		{name: "ls-int attachment in a router-only band", fx: func() *fixture { return webWorld("5.21.2").lb("u1", webTCP, "tcp", webVIPs, "lr-2", "ls-int-2") },
			ops: []string{"detach-switch " + webTCP + " u1 → lxd-net2-ls-int"}, cats: []Category{CatExtraAttachment},
			check: func(t *testing.T, res Result) {
				if !strings.Contains(res.Findings[0].Detail, "belongs on router lxd-net2-lr only") || res.Findings[0].Severity != SeverityWarning {
					t.Errorf("finding %+v", res.Findings[0])
				}
			}},
		{name: "attached to another router and switch",
			fx: func() *fixture {
				fx := newFixture("lxd", "5.0.2").network("default", "ovn1", 2).network("default", "ovn3", 3).forward(web())
				return fx.lb("u1", webTCP, "tcp", webVIPs, "lr-2", "ls-int-2", "lr-3", "ls-ext-2")
			},
			ops: []string{
				"detach-router " + webTCP + " u1 → lxd-net3-lr",
				"detach-switch " + webTCP + " u1 → lxd-net2-ls-ext",
			},
			cats: []Category{CatExtraAttachment, CatExtraAttachment}},
		{name: "duplicates: the attached matching row survives",
			fx: func() *fixture {
				return webWorld("5.0.2").
					lb("u3", webTCP, "tcp", map[string]string{"198.51.100.10:80": "10.2.0.4:80"}, "lr-2").
					lb("u2", webTCP, "tcp", webVIPs, "lr-2", "ls-int-2").
					lb("u1", webTCP, "tcp", webVIPs)
			},
			ops:  []string{"delete-lb " + webTCP + " u1", "delete-lb " + webTCP + " u3"},
			cats: []Category{CatDuplicate},
			check: func(t *testing.T, res Result) {
				c := res.Changes[0]
				if c.Deletes != 2 || res.Deletes != 2 {
					t.Errorf("deletes %d/%d", c.Deletes, res.Deletes)
				}
				if got := c.Ops[1].Routers; !reflect.DeepEqual(got, []string{"lr-2"}) {
					t.Errorf("delete of u3 detaches from %v", got)
				}
				if c.Ops[0].Routers != nil || c.Ops[0].Switches != nil {
					t.Errorf("delete of u1 detaches from %v %v", c.Ops[0].Routers, c.Ops[0].Switches)
				}
				d := res.Findings[0].Detail
				if !strings.Contains(d, "3 Load_Balancer rows are named") || !strings.Contains(d, "u1, u2, u3") ||
					!strings.Contains(res.Findings[0].Repair, "keep u2, delete u1, u3") {
					t.Errorf("finding %+v", res.Findings[0])
				}
			}},
		{name: "duplicates: none right, lowest UUID survives and is repaired",
			fx: func() *fixture {
				return webWorld("5.0.2").
					lb("u2", webTCP, "tcp", map[string]string{"198.51.100.10:80": "10.2.0.3:80"}, "lr-2", "ls-int-2").
					lb("u1", webTCP, "tcp", map[string]string{"198.51.100.10:80": "10.2.0.4:80"})
			},
			ops: []string{
				"delete-lb " + webTCP + " u2",
				"update-lb " + webTCP + " u1",
				"attach-router " + webTCP + " u1 → lxd-net2-lr",
				"attach-switch " + webTCP + " u1 → lxd-net2-ls-int",
			},
			cats: []Category{CatDetached, CatDetached, CatDuplicate, CatVIPMismatch},
			check: func(t *testing.T, res Result) {
				op := res.Changes[0].Ops[0]
				if !reflect.DeepEqual(op.Routers, []string{"lr-2"}) || !reflect.DeepEqual(op.Switches, []string{"ls-int-2"}) {
					t.Errorf("delete detaches from %v %v", op.Routers, op.Switches)
				}
			}},
		{name: "stale row of a deleted forward",
			fx: func() *fixture {
				return consistent().lb("s1", "lxd-net2-lb-198.51.100.99-udp", "udp", map[string]string{"198.51.100.99:53": "10.2.0.7:53"}, "lr-2", "ls-int-2")
			},
			ops: []string{"delete-lb lxd-net2-lb-198.51.100.99-udp s1"}, cats: []Category{CatStale},
			check: func(t *testing.T, res Result) {
				c := res.Changes[0]
				if c.Key != (ForwardKey{Project: "default", Network: "ovn1", ListenAddress: "198.51.100.99"}) || c.Prefix != "lxd-net2" || c.Deletes != 1 {
					t.Errorf("change %+v", c)
				}
				if !reflect.DeepEqual(c.Ops[0].Routers, []string{"lr-2"}) || !reflect.DeepEqual(c.Ops[0].Switches, []string{"ls-int-2"}) {
					t.Errorf("delete %+v", c.Ops[0])
				}
				if f := res.Findings[0]; !strings.Contains(f.Detail, "s1") || !strings.Contains(f.Detail, "198.51.100.99:53=10.2.0.7:53") {
					t.Errorf("finding %+v", f)
				}
			}},
		{name: "stale protocol row of a live forward",
			fx: func() *fixture {
				return consistent().lb("s1", "lxd-net2-lb-198.51.100.10-udp", "udp", map[string]string{"198.51.100.10:53": "10.2.0.5:53"}, "lr-2")
			},
			ops: []string{"delete-lb lxd-net2-lb-198.51.100.10-udp s1"}, cats: []Category{CatStale},
			check: func(t *testing.T, res Result) {
				if res.Changes[0].Key != webKey || !strings.Contains(res.Findings[0].Detail, "the forward has no udp VIPs") {
					t.Errorf("%+v %+v", res.Changes[0], res.Findings[0])
				}
			}},
		{name: "incomplete listing holds deletions, not creations",
			fx: func() *fixture {
				fx := webWorld("5.0.2").
					lb("s1", "lxd-net2-lb-198.51.100.99-tcp", "tcp", nil, "lr-2").
					lb("s2", "lxd-net2-lb-198.51.100.10-udp", "udp", nil, "lr-2")
				fx.lxd.Complete = map[NetworkRef]bool{}
				return fx
			},
			ops: []string{createWeb, attachLR, attachLS}, cats: []Category{CatIncomplete, CatMissing, CatIncomplete},
			check: func(t *testing.T, res Result) {
				if res.Deletes != 0 {
					t.Errorf("deletes %d", res.Deletes)
				}
				if f := res.Findings[2]; !strings.Contains(f.Detail, "lxd-net2-lb-198.51.100.99-tcp (s1)") || !strings.Contains(f.Detail, "incomplete") {
					t.Errorf("finding %+v", f)
				}
			}},
		{name: "network LXD could not list: one network finding, nothing deleted",
			fx: func() *fixture {
				fx := webWorld("5.0.2").
					lb("s1", "lxd-net2-lb-198.51.100.99-tcp", "tcp", nil, "lr-2")
				fx.lxd.Forwards = nil
				ref := NetworkRef{Project: "default", Name: "ovn0"}
				fx.lxd.Complete = map[NetworkRef]bool{}
				fx.lxd.ListErrors = map[NetworkRef]string{ref: "listing its forwards: Failed unmarshalling ports"}
				return fx
			},
			ops: nil, cats: []Category{CatIncomplete, CatIncomplete},
			check: func(t *testing.T, res Result) {
				f := res.Findings[0]
				if f.Key != (ForwardKey{Project: "default", Network: "ovn0"}) || f.Severity != SeverityError ||
					!strings.Contains(f.Detail, "Failed unmarshalling ports") || !strings.Contains(f.Detail, "none of them was checked") {
					t.Errorf("network finding %+v", f)
				}
				if res.Deletes != 0 {
					t.Errorf("deletes %d", res.Deletes)
				}
			}},
		{name: "deletion budget exceeded: every delete held back",
			fx: func() *fixture {
				return webWorld("5.0.2").
					lb("s1", "lxd-net2-lb-198.51.100.98-tcp", "tcp", nil, "lr-2").
					lb("s2", "lxd-net2-lb-198.51.100.99-tcp", "tcp", nil, "lr-2").
					lb("s3", "lxd-net2-lb-198.51.100.10-udp", "udp", nil)
			},
			o:   Options{DeletionBudget: 2},
			ops: []string{createWeb, attachLR, attachLS}, cats: []Category{CatDeletionBudget, CatMissing, CatStale, CatStale, CatStale},
			check: func(t *testing.T, res Result) {
				if !res.BudgetExceeded || res.Deletes != 0 || res.Changes[0].Deletes != 0 {
					t.Errorf("budget %v deletes %d", res.BudgetExceeded, res.Deletes)
				}
				f := res.Findings[0]
				if f.Severity != SeverityError || !strings.Contains(f.Detail, "would delete 3") || !strings.Contains(f.Detail, "budget is 2") {
					t.Errorf("finding %+v", f)
				}
			},
			noConverge: true},
		{name: "deletion budget met", o: Options{DeletionBudget: 1},
			fx:  func() *fixture { return consistent().lb("s1", "lxd-net2-lb-198.51.100.99-tcp", "tcp", nil, "lr-2") },
			ops: []string{"delete-lb lxd-net2-lb-198.51.100.99-tcp s1"}, cats: []Category{CatStale}},
		{name: "zero budget deletes nothing", o: Options{},
			fx:  func() *fixture { return consistent().lb("s1", "lxd-net2-lb-198.51.100.99-tcp", "tcp", nil, "lr-2") },
			ops: nil, cats: []Category{CatDeletionBudget, CatStale}, noConverge: true},
		{name: "foreign rows are never touched nor reported",
			fx: func() *fixture {
				return consistent().
					lb("f1", "pf-floatingip-198.51.100.10-tcp", "tcp", nil, "lr-2").
					lb("f2", "lxd-net2-lb-garbage-tcp", "tcp", nil, "lr-2").
					lb("f3", "lxd-net2-lb-2001:db8:0::1-tcp", "tcp", nil).
					lb("f4", "incus-net2-lb-198.51.100.10-tcp", "tcp", nil).
					lb("f5", "lxd-net2-lb-198.51.100.10-sctp", "sctp", nil).
					lb("f6", "", "tcp", nil, "ls-int-2")
			}},
		{name: "orphan rows are reported, not touched",
			fx: func() *fixture {
				return consistent().lb("o1", "lxd-net9-lb-198.51.100.10-tcp", "tcp", nil)
			},
			cats: []Category{CatOrphan},
			check: func(t *testing.T, res Result) {
				f := res.Findings[0]
				if f.Severity != SeverityInfo || !strings.Contains(f.Detail, "lxd-net9") || f.Key.ListenAddress != "198.51.100.10" {
					t.Errorf("finding %+v", f)
				}
			}},
		{name: "rows of LXD network load balancers are never touched",
			fx: func() *fixture {
				fx := consistent().
					lb("b1", "lxd-net2-lb-198.51.100.20-tcp", "tcp", map[string]string{"198.51.100.20:80": "10.2.0.8:80,10.2.0.9:80"}).
					lb("b2", "lxd-net2-lb-198.51.100.20-tcp", "tcp", nil, "ls-ext-2")
				fx.lxd.LoadBalancers = []ForwardKey{{Project: "default", Network: "ovn1", ListenAddress: "198.51.100.20"}}
				return fx
			}},
		{name: "unmapped network: finding, no change",
			fx: func() *fixture {
				fx := consistent()
				fx.lxd.Networks[0].Config["ipv4.address"] = "10.99.0.1/24"
				delete(fx.lxd.Networks[0].Config, "ipv6.address")
				fx.nb.LoadBalancers[0].VIPs = nil
				return fx
			},
			cats: []Category{CatOrphan, CatUnmappedNetwork},
			check: func(t *testing.T, res Result) {
				if !strings.Contains(res.Unplanned[webKey], "not mapped") || len(res.Desired) != 0 {
					t.Errorf("unplanned %v desired %v", res.Unplanned, res.Desired)
				}
				if f := res.Findings[1]; f.Key != (ForwardKey{Project: "default", Network: "ovn1"}) || !strings.Contains(f.Detail, "10.99.0.1") {
					t.Errorf("finding %+v", f)
				}
			}},
		{name: "forward on an unlisted network",
			fx: func() *fixture {
				fx := consistent()
				f := web()
				f.Network = "bridge0"
				fx.forward(f)
				f.ListenAddress = "198.51.100.11"
				return fx.forward(f)
			},
			cats: []Category{CatUnmappedNetwork},
			check: func(t *testing.T, res Result) {
				if len(res.Unplanned) != 2 {
					t.Errorf("unplanned %v", res.Unplanned)
				}
			}},
		{name: "bad forward: finding, its rows left alone",
			fx: func() *fixture {
				fx := newFixture("lxd", "5.0.2").network("default", "ovn1", 2)
				f := web()
				f.Ports[0].TargetPort = "8080,8081"
				return fx.forward(f).lb("u1", webTCP, "tcp", map[string]string{"x": "y"})
			},
			cats: []Category{CatBadForward},
			check: func(t *testing.T, res Result) {
				f := res.Findings[0]
				if f.Key != webKey || f.Severity != SeverityError || !strings.Contains(f.Detail, "forward 198.51.100.10 on network default/ovn1") {
					t.Errorf("finding %+v", f)
				}
				if _, ok := res.Unplanned[webKey]; !ok {
					t.Error("bad forward not in Unplanned")
				}
			}},
		{name: "forward listed twice is bad", fx: func() *fixture { return webWorld("5.0.2").forward(web()) },
			cats: []Category{CatBadForward}},
		{name: "forward on a load balancer address is bad",
			fx: func() *fixture {
				fx := consistent()
				fx.lxd.LoadBalancers = []ForwardKey{webKey}
				fx.nb.LoadBalancers[0].VIPs = nil
				return fx
			},
			cats: []Category{CatBadForward}},
		{name: "ipv6 forward created",
			fx: func() *fixture {
				return newFixture("lxd", "6.9").network("default", "ovn1", 2).forward(Forward{Project: "default", Network: "ovn1",
					ListenAddress: "2001:db8::10", Ports: []ForwardPort{{Protocol: "udp", ListenPort: "53", TargetAddress: "fd42:2::5"}}})
			},
			ops: []string{
				"create-lb lxd-net2-lb-2001:db8::10-udp",
				"attach-router lxd-net2-lb-2001:db8::10-udp → lxd-net2-lr",
				"attach-switch lxd-net2-lb-2001:db8::10-udp → lxd-net2-ls-int",
			},
			cats: []Category{CatMissing},
			check: func(t *testing.T, res Result) {
				if got := res.Changes[0].Ops[0].VIPs; !reflect.DeepEqual(got, map[string]string{"[2001:db8::10]:53": "[fd42:2::5]:53"}) {
					t.Errorf("VIPs %v", got)
				}
			}},
		{name: "Incus 6.3 bracketed port-less IPv6 VIPs are equal",
			fx: func() *fixture {
				fx := newFixture("incus", "6.3").network("default", "ovn1", 2).forward(Forward{Project: "default", Network: "ovn1",
					ListenAddress: "2001:db8::10", DefaultTarget: "fd42:2::9"})
				vips := map[string]string{"[2001:db8::10]": "[fd42:2::9]"}
				return fx.lb("t", "incus-net2-lb-2001:db8::10-tcp", "tcp", vips, "lr-2", "ls-int-2").
					lb("u", "incus-net2-lb-2001:db8::10-udp", "udp", vips, "lr-2", "ls-int-2")
			}},
		{name: "Incus 7.3: port-less VIP no longer wanted",
			fx: func() *fixture {
				fx := newFixture("incus", "7.3").network("default", "ovn1", 2).forward(Forward{Project: "default", Network: "ovn1",
					ListenAddress: "198.51.100.10", DefaultTarget: "10.2.0.9", Ports: web().Ports})
				return fx.lb("t", "incus-net2-lb-198.51.100.10-tcp", "tcp", map[string]string{"198.51.100.10": "10.2.0.9", "198.51.100.10:80": "10.2.0.5:80"}, "lr-2", "ls-int-2").
					lb("u", "incus-net2-lb-198.51.100.10-udp", "udp", map[string]string{"198.51.100.10": "10.2.0.9"}, "lr-2", "ls-int-2")
			},
			o:    unlimited,
			ops:  []string{"update-lb incus-net2-lb-198.51.100.10-tcp t", "delete-lb incus-net2-lb-198.51.100.10-udp u"},
			cats: []Category{CatStale, CatVIPMismatch}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := tt.fx()
			o := tt.o
			if o == (Options{}) && !strings.Contains(tt.name, "zero budget") {
				o = unlimited
			}
			res := mustPlan(t, fx.lxd, fx.nb, o)
			if got := opKinds(res.Changes); !reflect.DeepEqual(got, tt.ops) {
				t.Errorf("ops\n got %q\nwant %q", got, tt.ops)
			}
			if got := categories(res.Findings); !reflect.DeepEqual(got, tt.cats) && !(len(got) == 0 && len(tt.cats) == 0) {
				t.Errorf("findings\n got %v\nwant %v\n%s", got, tt.cats, describeFindings(res.Findings))
			}
			for _, f := range res.Findings {
				if f.Detail == "" || f.Repair == "" || f.Severity == "" {
					t.Errorf("incomplete finding %+v", f)
				}
			}
			for _, c := range res.Changes {
				if len(c.Ops) == 0 {
					t.Errorf("empty change %+v", c)
				}
			}
			if tt.check != nil {
				tt.check(t, res)
			}
			if !tt.noConverge {
				converges(t, fx, o, res)
			}
		})
	}
}

func describeFindings(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + string(f.Category) + ": " + f.Detail + "\n")
	}
	return b.String()
}

// TestPlanBands checks create and attachment per LXD/Incus version: a
// missing row is created where the version attaches it, a row attached the
// way the version does is left alone, and a row with the other band's
// attachments is repaired.
func TestPlanBands(t *testing.T) {
	tests := []struct {
		kind, version string
		switchToo     bool
	}{
		{"lxd", "5.0.2", true}, {"lxd", "5.20", true}, {"lxd", "5.21.1", true},
		{"lxd", "5.21.2", false}, {"lxd", "5.21.3", false}, {"lxd", "5.21.4", true},
		{"lxd", "6.0", false}, {"lxd", "6.1", false}, {"lxd", "6.4", false},
		{"lxd", "6.5", true}, {"lxd", "6.9", true},
		{"incus", "6.0", true}, {"incus", "7.3", true},
	}
	for _, tt := range tests {
		t.Run(tt.kind+"-"+tt.version, func(t *testing.T) {
			fx := newFixture(tt.kind, tt.version).network("default", "ovn1", 2).forward(web())
			name := fx.prefix(2) + "-lb-198.51.100.10-tcp"
			res := mustPlan(t, fx.lxd, fx.nb, unlimited)
			want := []string{"create-lb " + name, "attach-router " + name + " → " + fx.prefix(2) + "-lr"}
			if tt.switchToo {
				want = append(want, "attach-switch "+name+" → "+fx.prefix(2)+"-ls-int")
			}
			if got := opKinds(res.Changes); !reflect.DeepEqual(got, want) {
				t.Fatalf("ops %q, want %q", got, want)
			}
			nb := converges(t, fx, unlimited, res)

			// The row attached as the version does it needs nothing.
			wantSwitches := 0
			if tt.switchToo {
				wantSwitches = 1
			}
			if n := len(IndexNB(nb).LBSwitches[nb.LoadBalancers[0].UUID]); n != wantSwitches {
				t.Errorf("row attached to %d switches, want %d", n, wantSwitches)
			}

			// The other band's attachments are repaired.
			other := fx
			other.lb("u1", name, "tcp", webVIPs, "lr-2")
			if !tt.switchToo {
				other.attach("u1", "ls-int-2")
			}
			res = mustPlan(t, other.lxd, other.nb, unlimited)
			op := "attach-switch " + name + " u1 → " + fx.prefix(2) + "-ls-int"
			cat := CatDetached
			if !tt.switchToo {
				op, cat = "detach-switch "+name+" u1 → "+fx.prefix(2)+"-ls-int", CatExtraAttachment
			}
			if got := opKinds(res.Changes); !reflect.DeepEqual(got, []string{op}) {
				t.Errorf("ops %q, want %q", got, op)
			}
			if got := categories(res.Findings); !reflect.DeepEqual(got, []Category{cat}) {
				t.Errorf("findings %v", got)
			}
			converges(t, other, unlimited, res)
		})
	}
}

// TestPlanDefaultTarget checks which rows a default target makes per server.
func TestPlanDefaultTarget(t *testing.T) {
	udpOnly := Forward{Project: "default", Network: "ovn1", ListenAddress: "198.51.100.10", DefaultTarget: "10.2.0.9",
		Ports: []ForwardPort{{Protocol: "udp", ListenPort: "53", TargetAddress: "10.2.0.5"}}}
	defOnly := Forward{Project: "default", Network: "ovn1", ListenAddress: "198.51.100.10", DefaultTarget: "10.2.0.9"}
	tests := []struct {
		kind, version string
		f             Forward
		rows          map[string]map[string]string // suffix → VIPs
	}{
		{"lxd", "5.0.2", defOnly, map[string]map[string]string{"tcp": {"198.51.100.10": "10.2.0.9"}}},
		{"lxd", "6.9", udpOnly, map[string]map[string]string{
			"tcp": {"198.51.100.10": "10.2.0.9"},
			"udp": {"198.51.100.10:53": "10.2.0.5:53"}}},
		{"incus", "6.0", defOnly, map[string]map[string]string{"tcp": {"198.51.100.10": "10.2.0.9"}}},
		{"incus", "6.0.2", defOnly, map[string]map[string]string{
			"tcp": {"198.51.100.10": "10.2.0.9"},
			"udp": {"198.51.100.10": "10.2.0.9"}}},
		{"incus", "7.2", udpOnly, map[string]map[string]string{
			"tcp": {"198.51.100.10": "10.2.0.9"},
			"udp": {"198.51.100.10": "10.2.0.9", "198.51.100.10:53": "10.2.0.5:53"}}},
		{"incus", "7.3", udpOnly, map[string]map[string]string{"udp": {"198.51.100.10:53": "10.2.0.5:53"}}},
		{"incus", "7.3", defOnly, map[string]map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.kind+"-"+tt.version+"-"+tt.f.DefaultTarget+"-"+string(rune('0'+len(tt.f.Ports))), func(t *testing.T) {
			fx := newFixture(tt.kind, tt.version).network("default", "ovn1", 2).forward(tt.f)
			res := mustPlan(t, fx.lxd, fx.nb, unlimited)
			got := map[string]map[string]string{}
			for _, c := range res.Changes {
				for _, op := range c.Ops {
					if op.Kind == OpCreateLB {
						got[op.Protocol] = op.VIPs
					}
				}
			}
			if !reflect.DeepEqual(got, tt.rows) {
				t.Errorf("rows %v, want %v", got, tt.rows)
			}
			converges(t, fx, unlimited, res)
		})
	}
}

func TestPlanErrors(t *testing.T) {
	fx := webWorld("5.0.2")
	fx.lxd.Server.Version = "latest"
	if _, err := Plan(fx.lxd, fx.nb, unlimited); err == nil {
		t.Error("unknown version accepted")
	}
	fx = webWorld("5.0.2")
	if _, err := Plan(fx.lxd, fx.nb, Options{ARPResponder: "yes"}); err == nil {
		t.Error("unknown ARP mode accepted")
	}
}

// TestPlanDeterministic shuffles every input list: the result must not move.
func TestPlanDeterministic(t *testing.T) {
	build := func() *fixture {
		fx := newFixture("lxd", "5.0.2").network("default", "ovn1", 2).network("p", "ovn3", 3)
		for i, addr := range []string{"198.51.100.10", "198.51.100.11", "198.51.100.12", "2001:db8::1"} {
			target := "10.2.0.5"
			if strings.Contains(addr, ":") {
				target = "fd42:2::5"
			}
			fx.forward(Forward{Project: "default", Network: "ovn1", ListenAddress: addr,
				Ports: []ForwardPort{{Protocol: "tcp", ListenPort: "80", TargetAddress: target}, {Protocol: "udp", ListenPort: "53", TargetAddress: target}}})
			if i%2 == 0 {
				fx.lb("d"+addr, "lxd-net2-lb-"+addr+"-tcp", "tcp", nil, "lr-3")
			}
		}
		fx.lb("s1", "lxd-net3-lb-198.51.100.50-tcp", "tcp", nil, "lr-3").
			lb("s2", "lxd-net3-lb-198.51.100.51-udp", "udp", nil).
			lb("d2", "lxd-net2-lb-198.51.100.10-tcp", "tcp", nil).
			lb("o", "lxd-net8-lb-198.51.100.10-tcp", "tcp", nil)
		return fx
	}
	want := mustPlan(t, build().lxd, build().nb, unlimited)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		fx := build()
		shuffle := func(n int, swap func(i, j int)) { rng.Shuffle(n, swap) }
		shuffle(len(fx.lxd.Forwards), func(i, j int) { fx.lxd.Forwards[i], fx.lxd.Forwards[j] = fx.lxd.Forwards[j], fx.lxd.Forwards[i] })
		shuffle(len(fx.lxd.Networks), func(i, j int) { fx.lxd.Networks[i], fx.lxd.Networks[j] = fx.lxd.Networks[j], fx.lxd.Networks[i] })
		shuffle(len(fx.nb.LoadBalancers), func(i, j int) {
			fx.nb.LoadBalancers[i], fx.nb.LoadBalancers[j] = fx.nb.LoadBalancers[j], fx.nb.LoadBalancers[i]
		})
		shuffle(len(fx.nb.Routers), func(i, j int) { fx.nb.Routers[i], fx.nb.Routers[j] = fx.nb.Routers[j], fx.nb.Routers[i] })
		shuffle(len(fx.nb.RouterPorts), func(i, j int) {
			fx.nb.RouterPorts[i], fx.nb.RouterPorts[j] = fx.nb.RouterPorts[j], fx.nb.RouterPorts[i]
		})
		got := mustPlan(t, fx.lxd, fx.nb, unlimited)
		if !reflect.DeepEqual(got.Changes, want.Changes) || !reflect.DeepEqual(got.Findings, want.Findings) {
			t.Fatalf("plan depends on input order:\n got %q\nwant %q", opKinds(got.Changes), opKinds(want.Changes))
		}
	}
}

func TestPlanForwards(t *testing.T) {
	other := Forward{Project: "default", Network: "ovn1", ListenAddress: "198.51.100.11",
		Ports: []ForwardPort{{Protocol: "tcp", ListenPort: "22", TargetAddress: "10.2.0.6"}}}
	gone := ForwardKey{Project: "default", Network: "ovn1", ListenAddress: "198.51.100.99"}
	lbKey := ForwardKey{Project: "default", Network: "ovn1", ListenAddress: "198.51.100.20"}
	build := func() *fixture {
		fx := webWorld("5.0.2").forward(other).
			lb("g1", "lxd-net2-lb-198.51.100.99-tcp", "tcp", nil, "lr-2").
			lb("s1", "lxd-net2-lb-198.51.100.98-tcp", "tcp", nil, "lr-2").
			lb("b1", "lxd-net2-lb-198.51.100.20-tcp", "tcp", nil).
			lb("o1", "lxd-net9-lb-198.51.100.10-tcp", "tcp", nil)
		fx.lxd.LoadBalancers = []ForwardKey{lbKey}
		return fx
	}

	t.Run("only the listed forward", func(t *testing.T) {
		fx := build()
		res, err := PlanForwards(fx.lxd, fx.nb, unlimited, []ForwardKey{webKey})
		if err != nil {
			t.Fatal(err)
		}
		if got := opKinds(res.Changes); !reflect.DeepEqual(got, []string{createWeb, attachLR, attachLS}) {
			t.Errorf("ops %q", got)
		}
		if got := categories(res.Findings); !reflect.DeepEqual(got, []Category{CatMissing}) {
			t.Errorf("findings %v", got)
		}
		if len(res.Desired) != 1 {
			t.Errorf("desired %v", res.Desired)
		}
	})

	t.Run("a listed key LXD no longer has is stale", func(t *testing.T) {
		fx := build()
		res, err := PlanForwards(fx.lxd, fx.nb, unlimited, []ForwardKey{gone, lbKey})
		if err != nil {
			t.Fatal(err)
		}
		if got := opKinds(res.Changes); !reflect.DeepEqual(got, []string{"delete-lb lxd-net2-lb-198.51.100.99-tcp g1"}) {
			t.Errorf("ops %q", got)
		}
		if res.Changes[0].Key != gone {
			t.Errorf("key %v", res.Changes[0].Key)
		}
	})

	t.Run("incomplete listing holds it", func(t *testing.T) {
		fx := build()
		fx.lxd.Complete = nil
		res, _ := PlanForwards(fx.lxd, fx.nb, unlimited, []ForwardKey{gone})
		if len(res.Changes) != 0 || !reflect.DeepEqual(categories(res.Findings), []Category{CatIncomplete}) {
			t.Errorf("ops %q findings %v", opKinds(res.Changes), categories(res.Findings))
		}
	})

	t.Run("partial NB snapshot", func(t *testing.T) {
		fx := build()
		// Only the rows of the listed forward, which is consistent.
		nb := fx.nb
		nb.LoadBalancers = []NBLoadBalancer{{UUID: "u1", Name: webTCP, Protocol: "tcp", VIPs: webVIPs}}
		nb.Routers = []NBRouter{{UUID: "lr-2", Name: "lxd-net2-lr", LoadBalancers: []string{"u1"}, Ports: []string{"lrp-ext-2", "lrp-int-2"}}}
		nb.Switches = []NBSwitch{{UUID: "ls-int-2", Name: "lxd-net2-ls-int", LoadBalancers: []string{"u1"}}}
		res, _ := PlanForwards(fx.lxd, nb, unlimited, []ForwardKey{webKey})
		if len(res.Changes) != 0 || len(res.Findings) != 0 {
			t.Errorf("ops %q findings %v", opKinds(res.Changes), categories(res.Findings))
		}
	})

	t.Run("non-canonical key", func(t *testing.T) {
		fx := newFixture("lxd", "5.0.2").network("default", "ovn1", 2).
			lb("g1", "lxd-net2-lb-2001:db8::10-tcp", "tcp", nil)
		res, _ := PlanForwards(fx.lxd, fx.nb, unlimited, []ForwardKey{{Project: "default", Network: "ovn1", ListenAddress: "2001:db8:0:0::10"}})
		if got := opKinds(res.Changes); !reflect.DeepEqual(got, []string{"delete-lb lxd-net2-lb-2001:db8::10-tcp g1"}) {
			t.Errorf("ops %q", got)
		}
	})

	t.Run("empty scope plans nothing", func(t *testing.T) {
		fx := build()
		res, _ := PlanForwards(fx.lxd, fx.nb, unlimited, nil)
		if len(res.Changes) != 0 || len(res.Findings) != 0 || len(res.Desired) != 0 {
			t.Errorf("ops %q findings %v", opKinds(res.Changes), categories(res.Findings))
		}
	})

	t.Run("full plan of the same world", func(t *testing.T) {
		fx := build()
		res := mustPlan(t, fx.lxd, fx.nb, unlimited)
		want := []string{
			createWeb, attachLR, attachLS,
			"create-lb lxd-net2-lb-198.51.100.11-tcp",
			"attach-router lxd-net2-lb-198.51.100.11-tcp → lxd-net2-lr",
			"attach-switch lxd-net2-lb-198.51.100.11-tcp → lxd-net2-ls-int",
			"delete-lb lxd-net2-lb-198.51.100.98-tcp s1",
			"delete-lb lxd-net2-lb-198.51.100.99-tcp g1",
		}
		if got := opKinds(res.Changes); !reflect.DeepEqual(got, want) {
			t.Errorf("ops\n got %q\nwant %q", got, want)
		}
		converges(t, fx, unlimited, res)
	})
}
