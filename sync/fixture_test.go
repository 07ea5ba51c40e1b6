package sync

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// fixture builds an LXD listing and an NB snapshot the way LXD and OVN
// shape them. Network id N gets prefix <family>N, router lr-N, switches
// ls-int-N / ls-ext-N, uplink address 203.0.113.N (+ 2001:db8:ff::N) and
// internal subnet 10.N.0.1/24 (+ fd42:N::1/64).
type fixture struct {
	lxd LXDState
	nb  NBState
}

func newFixture(kind, version string) *fixture {
	return &fixture{lxd: LXDState{
		Server:   ServerInfo{Kind: kind, Version: version},
		Complete: map[NetworkRef]bool{},
	}}
}

func (fx *fixture) family() string {
	if fx.lxd.Server.Kind == "incus" {
		return "incus-net"
	}
	return "lxd-net"
}

func (fx *fixture) prefix(id int) string { return fmt.Sprintf("%s%d", fx.family(), id) }

// network adds LXD network project/name and its OVN objects with ID id.
func (fx *fixture) network(project, name string, id int) *fixture {
	fx.lxdNetwork(project, name, id)
	fx.ovnNetwork(id)
	return fx
}

func (fx *fixture) lxdNetwork(project, name string, id int) {
	fx.lxd.Networks = append(fx.lxd.Networks, Network{Project: project, Name: name, Config: map[string]string{
		"network":                       "UPLINK",
		"ipv4.address":                  fmt.Sprintf("10.%d.0.1/24", id),
		"ipv6.address":                  fmt.Sprintf("fd42:%d::1/64", id),
		"volatile.network.ipv4.address": fmt.Sprintf("203.0.113.%d", id),
		"volatile.network.ipv6.address": fmt.Sprintf("2001:db8:ff::%d", id),
	}})
	fx.lxd.Complete[NetworkRef{Project: project, Name: name}] = true
}

func (fx *fixture) ovnNetwork(id int) {
	p := fx.prefix(id)
	fx.nb.RouterPorts = append(fx.nb.RouterPorts,
		NBRouterPort{UUID: fmt.Sprintf("lrp-ext-%d", id), Name: p + "-lr-lrp-ext",
			Networks: []string{fmt.Sprintf("203.0.113.%d/24", id), fmt.Sprintf("2001:db8:ff::%d/64", id)}},
		NBRouterPort{UUID: fmt.Sprintf("lrp-int-%d", id), Name: p + "-lr-lrp-int",
			Networks: []string{fmt.Sprintf("10.%d.0.1/24", id), fmt.Sprintf("fd42:%d::1/64", id)}},
	)
	fx.nb.Routers = append(fx.nb.Routers, NBRouter{UUID: fmt.Sprintf("lr-%d", id), Name: p + "-lr",
		Ports: []string{fmt.Sprintf("lrp-ext-%d", id), fmt.Sprintf("lrp-int-%d", id)}})
	fx.nb.Switches = append(fx.nb.Switches,
		NBSwitch{UUID: fmt.Sprintf("ls-int-%d", id), Name: p + "-ls-int"},
		NBSwitch{UUID: fmt.Sprintf("ls-ext-%d", id), Name: p + "-ls-ext"},
	)
}

func (fx *fixture) forward(f Forward) *fixture {
	fx.lxd.Forwards = append(fx.lxd.Forwards, f)
	return fx
}

// lb adds a Load_Balancer row attached to the routers ("lr-…") and switches
// ("ls-…") named by UUID in attach.
func (fx *fixture) lb(uuid, name, proto string, vips map[string]string, attach ...string) *fixture {
	fx.nb.LoadBalancers = append(fx.nb.LoadBalancers, NBLoadBalancer{UUID: uuid, Name: name, Protocol: proto, VIPs: vips})
	for _, a := range attach {
		fx.attach(uuid, a)
	}
	return fx
}

func (fx *fixture) attach(lb, target string) {
	for i := range fx.nb.Routers {
		if fx.nb.Routers[i].UUID == target {
			fx.nb.Routers[i].LoadBalancers = append(fx.nb.Routers[i].LoadBalancers, lb)
			return
		}
	}
	for i := range fx.nb.Switches {
		if fx.nb.Switches[i].UUID == target {
			fx.nb.Switches[i].LoadBalancers = append(fx.nb.Switches[i].LoadBalancers, lb)
			return
		}
	}
	panic("no router or switch " + target)
}

// web is the forward most tests use: 198.51.100.10 tcp/80 → 10.2.0.5 on
// default/ovn1 (network ID 2).
func web() Forward {
	return Forward{Project: "default", Network: "ovn1", ListenAddress: "198.51.100.10",
		Ports: []ForwardPort{{Protocol: "tcp", ListenPort: "80", TargetAddress: "10.2.0.5"}}}
}

var webKey = ForwardKey{Project: "default", Network: "ovn1", ListenAddress: "198.51.100.10"}

const webTCP = "lxd-net2-lb-198.51.100.10-tcp"

var webVIPs = map[string]string{"198.51.100.10:80": "10.2.0.5:80"}

// webWorld is LXD version v with network default/ovn1 (ID 2) and forward web.
func webWorld(v string) *fixture {
	return newFixture("lxd", v).network("default", "ovn1", 2).forward(web())
}

func mustPlan(t testing.TB, lxd LXDState, nb NBState, o Options) Result {
	t.Helper()
	res, err := Plan(lxd, nb, o)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	return res
}

// unlimited allows any number of deletions.
var unlimited = Options{DeletionBudget: -1}

// categories lists the categories of findings, in order.
func categories(fs []Finding) []Category {
	out := make([]Category, len(fs))
	for i, f := range fs {
		out[i] = f.Category
	}
	return out
}

// opKinds lists "kind name uuid→target" of every op of every change.
func opKinds(cs []Change) []string {
	var out []string
	for _, c := range cs {
		for _, op := range c.Ops {
			s := string(op.Kind) + " " + op.Name
			if op.UUID != "" {
				s += " " + op.UUID
			}
			if op.Target != "" {
				s += " → " + op.TargetName
			}
			out = append(out, s)
		}
	}
	return out
}

// apply plays changes onto nb the way the ovn adapter must: creates take a
// new UUID that later ops of the change refer to with UUID "", guards are
// checked, deletes detach from the listed routers and switches.
func apply(t testing.TB, nb *NBState, changes []Change) {
	t.Helper()
	seq := 0
	for _, c := range changes {
		created := map[string]string{}
		for _, op := range c.Ops {
			uuid := op.UUID
			if uuid == "" && op.Kind != OpCreateLB {
				if uuid = created[op.Name]; uuid == "" {
					t.Fatalf("op %s %s refers to a row not created in change %v", op.Kind, op.Name, c.Key)
				}
			}
			switch op.Kind {
			case OpCreateLB:
				for _, lb := range nb.LoadBalancers {
					if lb.Name == op.Name {
						t.Fatalf("create of %s: a row of that name exists (%s)", op.Name, lb.UUID)
					}
				}
				seq++
				id := fmt.Sprintf("new-%03d", seq)
				created[op.Name] = id
				nb.LoadBalancers = append(nb.LoadBalancers, NBLoadBalancer{UUID: id, Name: op.Name,
					Protocol: op.Protocol, VIPs: maps.Clone(op.VIPs), Options: maps.Clone(op.Options)})
			case OpUpdateLB:
				i := slices.IndexFunc(nb.LoadBalancers, func(lb NBLoadBalancer) bool { return lb.UUID == uuid })
				if i < 0 {
					t.Fatalf("update of missing row %s", uuid)
				}
				if !maps.Equal(nb.LoadBalancers[i].VIPs, op.OldVIPs) {
					t.Fatalf("update of %s: guard %v does not match %v", uuid, op.OldVIPs, nb.LoadBalancers[i].VIPs)
				}
				if op.Options == nil {
					t.Fatalf("update of %s carries nil options", uuid)
				}
				lb := &nb.LoadBalancers[i]
				lb.Protocol, lb.VIPs, lb.Options = op.Protocol, maps.Clone(op.VIPs), maps.Clone(op.Options)
			case OpDeleteLB:
				nb.LoadBalancers = slices.DeleteFunc(nb.LoadBalancers, func(lb NBLoadBalancer) bool { return lb.UUID == uuid })
				for i := range nb.Routers {
					if slices.Contains(op.Routers, nb.Routers[i].UUID) {
						nb.Routers[i].LoadBalancers = slices.DeleteFunc(nb.Routers[i].LoadBalancers, func(s string) bool { return s == uuid })
					} else if slices.Contains(nb.Routers[i].LoadBalancers, uuid) {
						t.Fatalf("delete of %s does not list router %s that references it", uuid, nb.Routers[i].Name)
					}
				}
				for i := range nb.Switches {
					if slices.Contains(op.Switches, nb.Switches[i].UUID) {
						nb.Switches[i].LoadBalancers = slices.DeleteFunc(nb.Switches[i].LoadBalancers, func(s string) bool { return s == uuid })
					} else if slices.Contains(nb.Switches[i].LoadBalancers, uuid) {
						t.Fatalf("delete of %s does not list switch %s that references it", uuid, nb.Switches[i].Name)
					}
				}
			case OpAttachRouter, OpDetachRouter:
				i := slices.IndexFunc(nb.Routers, func(r NBRouter) bool { return r.UUID == op.Target })
				if i < 0 {
					t.Fatalf("%s: no router %s", op.Kind, op.Target)
				}
				nb.Routers[i].LoadBalancers = slices.DeleteFunc(nb.Routers[i].LoadBalancers, func(s string) bool { return s == uuid })
				if op.Kind == OpAttachRouter {
					nb.Routers[i].LoadBalancers = append(nb.Routers[i].LoadBalancers, uuid)
				}
			case OpAttachSwitch, OpDetachSwitch:
				i := slices.IndexFunc(nb.Switches, func(s NBSwitch) bool { return s.UUID == op.Target })
				if i < 0 {
					t.Fatalf("%s: no switch %s", op.Kind, op.Target)
				}
				nb.Switches[i].LoadBalancers = slices.DeleteFunc(nb.Switches[i].LoadBalancers, func(s string) bool { return s == uuid })
				if op.Kind == OpAttachSwitch {
					nb.Switches[i].LoadBalancers = append(nb.Switches[i].LoadBalancers, uuid)
				}
			default:
				t.Fatalf("unknown op %s", op.Kind)
			}
		}
	}
}

// converges applies res to a copy of fx's NB and checks that a second plan
// has nothing left to do.
func converges(t *testing.T, fx *fixture, o Options, res Result) NBState {
	t.Helper()
	nb := cloneNB(fx.nb)
	apply(t, &nb, res.Changes)
	again := mustPlan(t, fx.lxd, nb, o)
	if len(again.Changes) != 0 {
		t.Fatalf("second plan still changes: %v", opKinds(again.Changes))
	}
	for _, f := range again.Findings {
		switch f.Category {
		case CatOrphan, CatIncomplete, CatUnmappedNetwork, CatBadForward:
			// Left alone on purpose.
		default:
			t.Fatalf("second plan still finds %s: %s", f.Category, f.Detail)
		}
	}
	return nb
}

func cloneNB(nb NBState) NBState {
	out := nb
	out.LoadBalancers = slices.Clone(nb.LoadBalancers)
	out.Routers = slices.Clone(nb.Routers)
	for i := range out.Routers {
		out.Routers[i].LoadBalancers = slices.Clone(out.Routers[i].LoadBalancers)
	}
	out.Switches = slices.Clone(nb.Switches)
	for i := range out.Switches {
		out.Switches[i].LoadBalancers = slices.Clone(out.Switches[i].LoadBalancers)
	}
	return out
}

// realizedSB returns an SB in which northd and chassis ch1 (nb_cfg cfg) have
// realized every desired row of res.
func realizedSB(res Result, cfg int) SBState {
	var sb SBState
	prefixes := map[string]bool{}
	nat := map[string][]string{}
	var rtr4, rtr6 []string
	for _, d := range res.Desired {
		prefixes[d.Prefix] = true
		for _, lb := range d.LBs {
			sb.LoadBalancers = append(sb.LoadBalancers, SBLoadBalancer{UUID: "sb-" + lb.Name, Name: lb.Name, VIPs: maps.Clone(lb.VIPs)})
			if lb.Options[OptionNeighborResponder] == "all" {
				if strings.Contains(d.Key.ListenAddress, ":") {
					rtr6 = append(rtr6, d.Key.ListenAddress)
				} else {
					rtr4 = append(rtr4, d.Key.ListenAddress)
				}
			}
		}
		if len(d.LBs) > 0 && !strings.Contains(d.Key.ListenAddress, ":") {
			nat[d.Prefix] = append(nat[d.Prefix], d.Key.ListenAddress)
		}
	}
	for p := range prefixes {
		sb.PortBindings = append(sb.PortBindings,
			SBPortBinding{UUID: "pb-cr-" + p, LogicalPort: "cr-" + p + "-lr-lrp-ext", Type: "chassisredirect", Chassis: "ch1"},
			SBPortBinding{UUID: "pb-patch-" + p, LogicalPort: p + "-ls-ext-lsp-router", Type: "patch",
				NatAddresses: []string{fmt.Sprintf(`00:16:3e:00:00:01 203.0.113.2 %s is_chassis_resident("cr-%s-lr-lrp-ext")`,
					strings.Join(nat[p], " "), p)}},
		)
	}
	sb.Chassis = []SBChassis{{Name: "ch1", Hostname: "host1", NBCfg: cfg, HasChassisRow: true}}
	sb.AddressSets = []SBAddressSet{
		{Name: "_rtr_lb_1_ip4", Addresses: rtr4},
		{Name: "_rtr_lb_1_ip6", Addresses: rtr6},
	}
	return sb
}
