package sync

import (
	"reflect"
	"strings"
	"testing"
)

func TestVerify(t *testing.T) {
	v6 := Forward{Project: "default", Network: "ovn1", ListenAddress: "2001:db8::10",
		Ports: []ForwardPort{{Protocol: "tcp", ListenPort: "80", TargetAddress: "fd42:2::5"}}}
	v6Key := ForwardKey{Project: "default", Network: "ovn1", ListenAddress: "2001:db8::10"}

	// setup plans fx, applies the plan and returns the plan with an NB and
	// SB in which everything is realized (nb_cfg = sb_cfg = chassis = 7).
	type world struct {
		res Result
		in  VerifyInput
	}
	setup := func(t *testing.T, fx *fixture, o Options) world {
		res := mustPlan(t, fx.lxd, fx.nb, o)
		nb := converges(t, fx, o, res)
		nb.NBCfg, nb.SBCfg = 7, 7
		return world{res: res, in: VerifyInput{NB: nb, SB: realizedSB(res, 7)}}
	}
	lxd5 := func() *fixture { return webWorld("5.0.2") }

	tests := []struct {
		name   string
		fx     func() *fixture
		o      Options
		mutate func(w *world)
		want   []ForwardStatus
		cats   []Category
	}{
		{name: "ok", fx: lxd5, want: []ForwardStatus{{webKey, StateOK, "realized: NB rows, SB load balancer, NAT addresses and active chassis agree"}}},
		{name: "nb-only: SB is not read", fx: lxd5, mutate: func(w *world) { w.in.SB = SBState{}; w.in.NBOnly = true },
			want: []ForwardStatus{{webKey, StateOK, "NB rows agree (southbound not checked)"}}},
		{name: "ok with barrier reached", fx: lxd5, mutate: func(w *world) { w.in.Barrier = 7 },
			want: []ForwardStatus{{webKey, StateOK, "realized: NB rows, SB load balancer, NAT addresses and active chassis agree"}}},
		{name: "router-only band: SB load balancer not expected", fx: func() *fixture { return webWorld("6.1") },
			mutate: func(w *world) { w.in.SB.LoadBalancers = nil },
			want:   []ForwardStatus{{webKey, StateOK, "realized: NB rows, NAT addresses and active chassis agree (no SB load balancer for router-only rows)"}}},
		{name: "ipv6: no nat_addresses check", fx: func() *fixture { return newFixture("lxd", "5.0.2").network("default", "ovn1", 2).forward(v6) },
			mutate: func(w *world) { w.in.SB.PortBindings[1].NatAddresses = nil },
			want:   []ForwardStatus{{v6Key, StateOK, "realized: NB rows, SB load balancer, NAT addresses and active chassis agree"}}},

		{name: "broken: network unmapped",
			fx: func() *fixture {
				fx := lxd5()
				fx.lxd.Networks[0].Config["ipv4.address"] = "10.99.0.1/24"
				delete(fx.lxd.Networks[0].Config, "ipv6.address")
				return fx
			},
			want: []ForwardStatus{{webKey, StateBroken, "network default/ovn1 is not mapped to OVN: no OVN prefix found: looked for lxd-net<N>-lr-lrp-ext carrying 203.0.113.2 or 2001:db8:ff::2 with lxd-net<N>-lr-lrp-int carrying 10.99.0.1"}}},
		{name: "broken: bad forward",
			fx: func() *fixture {
				fx := newFixture("lxd", "5.0.2").network("default", "ovn1", 2)
				f := web()
				f.Ports[0].Protocol = "icmp"
				return fx.forward(f)
			},
			want: []ForwardStatus{{webKey, StateBroken, `forward 198.51.100.10 on network default/ovn1: port 0: protocol "icmp" is not tcp or udp`}}},
		{name: "broken: NB row missing", fx: lxd5,
			mutate: func(w *world) { w.in.NB.LoadBalancers = nil },
			want:   []ForwardStatus{{webKey, StateBroken, "NB load balancer row is missing"}},
			cats:   []Category{CatMissing}},
		{name: "broken: NB row detached", fx: lxd5,
			mutate: func(w *world) { w.in.NB.Routers[0].LoadBalancers = nil },
			want:   []ForwardStatus{{webKey, StateBroken, "NB row is not attached where it must be"}},
			cats:   []Category{CatDetached}},
		{name: "broken: NB VIPs differ", fx: lxd5,
			mutate: func(w *world) { w.in.NB.LoadBalancers[0].VIPs = map[string]string{"198.51.100.10:80": "10.2.0.6:80"} },
			want:   []ForwardStatus{{webKey, StateBroken, "NB VIPs differ from the forward"}},
			cats:   []Category{CatVIPMismatch}},
		{name: "broken: router gone", fx: lxd5,
			mutate: func(w *world) { w.in.NB.Routers = nil },
			want:   []ForwardStatus{{webKey, StateBroken, "Logical_Router lxd-net2-lr is missing from NB"}},
			cats:   []Category{CatUnmappedNetwork}},
		{name: "broken: gateway port absent", fx: lxd5,
			mutate: func(w *world) { w.in.SB.PortBindings = w.in.SB.PortBindings[1:] },
			want:   []ForwardStatus{{webKey, StateBroken, "gateway port cr-lxd-net2-lr-lrp-ext is not in SB"}},
			cats:   []Category{CatNoActiveChassis}},
		{name: "broken: gateway unclaimed", fx: lxd5,
			mutate: func(w *world) { w.in.SB.PortBindings[0].Chassis = "" },
			want:   []ForwardStatus{{webKey, StateBroken, "no chassis is active for gateway cr-lxd-net2-lr-lrp-ext"}},
			cats:   []Category{CatNoActiveChassis}},

		{name: "pending: northd behind, SB not there yet", fx: lxd5,
			mutate: func(w *world) { w.in.NB.NBCfg = 8; w.in.SB.LoadBalancers = nil },
			want:   []ForwardStatus{{webKey, StatePending, "waiting for ovn-northd (sb_cfg 7, nb_cfg 8): SB lacks load balancer " + webTCP}}},
		{name: "pending: northd behind the barrier", fx: lxd5,
			mutate: func(w *world) { w.in.Barrier = 9; w.in.SB.Chassis[0].NBCfg = 7 },
			want:   []ForwardStatus{{webKey, StatePending, "waiting for ovn-northd (sb_cfg 7, nb_cfg 9): active chassis ch1 has not processed the change (nb_cfg 7 < 9)"}}},
		{name: "ok: northd behind but SB already there", fx: lxd5,
			mutate: func(w *world) { w.in.NB.NBCfg = 8 },
			want:   []ForwardStatus{{webKey, StateOK, "realized: NB rows, SB load balancer, NAT addresses and active chassis agree"}}},

		{name: "degraded: SB lacks the load balancer", fx: lxd5,
			mutate: func(w *world) { w.in.SB.LoadBalancers = nil },
			want:   []ForwardStatus{{webKey, StateDegraded, "SB lacks load balancer " + webTCP}},
			cats:   []Category{CatNotRealized}},
		{name: "degraded: SB load balancer has other VIPs", fx: lxd5,
			mutate: func(w *world) { w.in.SB.LoadBalancers[0].VIPs = map[string]string{"198.51.100.10:80": "10.2.0.6:80"} },
			want:   []ForwardStatus{{webKey, StateDegraded, "SB lacks load balancer " + webTCP}},
			cats:   []Category{CatNotRealized}},
		{name: "degraded: no nat address", fx: lxd5,
			mutate: func(w *world) {
				w.in.SB.PortBindings[1].NatAddresses = []string{`00:16:3e:00:00:01 203.0.113.2 198.51.100.100 is_chassis_resident("cr-lxd-net2-lr-lrp-ext")`}
			},
			want: []ForwardStatus{{webKey, StateDegraded, "listen address is not in the gateway's NAT addresses (no GARPs)"}},
			cats: []Category{CatNoNatAddress}},
		{name: "degraded: nat address guarded by another port", fx: lxd5,
			mutate: func(w *world) {
				w.in.SB.PortBindings[1].NatAddresses = []string{`00:16:3e:00:00:01 198.51.100.10 is_chassis_resident("cr-lxd-net3-lr-lrp-ext")`}
			},
			want: []ForwardStatus{{webKey, StateDegraded, "listen address is not in the gateway's NAT addresses (no GARPs)"}},
			cats: []Category{CatNoNatAddress}},
		{name: "degraded: patch port absent", fx: lxd5,
			mutate: func(w *world) { w.in.SB.PortBindings = w.in.SB.PortBindings[:1] },
			want:   []ForwardStatus{{webKey, StateDegraded, "listen address is not in the gateway's NAT addresses (no GARPs)"}},
			cats:   []Category{CatNoNatAddress}},
		{name: "pending: chassis behind the barrier (catching up)", fx: lxd5,
			mutate: func(w *world) { w.in.Barrier = 7; w.in.SB.Chassis[0].NBCfg = 6 },
			want:   []ForwardStatus{{webKey, StatePending, "active chassis ch1 has not processed the change (nb_cfg 6 < 7)"}},
			cats:   []Category{CatChassisBehind}},
		{name: "pending: gateway claimed, not announced on the uplink yet", fx: lxd5,
			mutate: func(w *world) {
				w.in.Unannounced = map[string]string{"cr-lxd-net2-lr-lrp-ext": "claimed 120ms ago, OVN announces it 1s after its claim"}
			},
			want: []ForwardStatus{{webKey, StatePending, "gateway ch1 not announced on the uplink yet (claimed 120ms ago, OVN announces it 1s after its claim)"}},
			cats: []Category{CatChassisBehind}},
		{name: "ok: another gateway not announced yet", fx: lxd5,
			mutate: func(w *world) { w.in.Unannounced = map[string]string{"cr-lxd-net9-lr-lrp-ext": "claimed 1ms ago"} },
			want:   []ForwardStatus{{webKey, StateOK, "realized: NB rows, SB load balancer, NAT addresses and active chassis agree"}}},
		{name: "degraded: active chassis has no SB row", fx: lxd5,
			mutate: func(w *world) { w.in.SB.Chassis = nil },
			want:   []ForwardStatus{{webKey, StateDegraded, "active chassis ch1 has no SB row"}},
			cats:   []Category{CatChassisBehind}},
		{name: "degraded: ARP responder set lacks the VIP", fx: lxd5, o: Options{ARPResponder: "all", DeletionBudget: -1},
			mutate: func(w *world) { w.in.SB.AddressSets[0].Addresses = nil },
			want:   []ForwardStatus{{webKey, StateDegraded, "listen address is not in the router's ARP/ND responder set"}},
			cats:   []Category{CatNotRealized}},
		{name: "ok: ARP responder set has the VIP", fx: lxd5, o: Options{ARPResponder: "all", DeletionBudget: -1},
			want: []ForwardStatus{{webKey, StateOK, "realized: NB rows, SB load balancer, NAT addresses and active chassis agree"}}},
		{name: "degraded: extra attachment in NB", fx: lxd5,
			mutate: func(w *world) { w.in.NB.Switches[1].LoadBalancers = []string{w.in.NB.LoadBalancers[0].UUID} },
			want:   []ForwardStatus{{webKey, StateDegraded, "NB row is attached where it must not be"}},
			cats:   []Category{CatExtraAttachment}},
		{name: "degraded: stale protocol row in NB", fx: lxd5,
			mutate: func(w *world) {
				w.in.NB.LoadBalancers = append(w.in.NB.LoadBalancers, NBLoadBalancer{UUID: "x", Name: "lxd-net2-lb-198.51.100.10-udp", Protocol: "udp"})
			},
			want: []ForwardStatus{{webKey, StateDegraded, "NB has a stale row for this listen address"}},
			cats: []Category{CatStale}},
		{name: "Incus 7.3 default target only: nothing to realize", fx: func() *fixture {
			return newFixture("incus", "7.3").network("default", "ovn1", 2).forward(Forward{Project: "default", Network: "ovn1", ListenAddress: "198.51.100.10", DefaultTarget: "10.2.0.9"})
		},
			mutate: func(w *world) {
				w.in.SB.PortBindings = []SBPortBinding{{LogicalPort: "cr-incus-net2-lr-lrp-ext", Type: "chassisredirect", Chassis: "ch1"}}
			},
			want: []ForwardStatus{{webKey, StateOK, "realized: NB rows, SB load balancer, NAT addresses and active chassis agree"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			if o == (Options{}) {
				o = unlimited
			}
			w := setup(t, tt.fx(), o)
			if tt.mutate != nil {
				tt.mutate(&w)
			}
			got, findings := Verify(w.res, w.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("statuses\n got %+v\nwant %+v", got, tt.want)
			}
			// The verdicts are lossless: re-judging them against the same
			// gateway facts gives exactly Verify's answer.
			_, _, vs := VerifyVerdicts(w.res, w.in)
			if rg, rf := vs.Regate(w.in); !reflect.DeepEqual(rg, got) || !reflect.DeepEqual(rf, findings) {
				t.Errorf("Regate differs from Verify:\n got %+v %v\nwant %+v %v", rg, categories(rf), got, categories(findings))
			}
			// explain's chain agrees with Verify: the same state, and every
			// finding Verify reports sits on a failing or warning link.
			for _, st := range got {
				cst, steps := Chain(w.res, w.in, st.Key)
				if cst != st {
					t.Errorf("Chain state %+v, Verify %+v", cst, st)
				}
				onLinks := map[string]bool{}
				for _, s := range steps {
					for _, f := range s.Findings {
						if s.Outcome == OutcomeOK || s.Outcome == OutcomeSkip {
							t.Errorf("step %s is %s but carries finding %s", s.Step, s.Outcome, f.Category)
						}
						onLinks[string(f.Category)+f.Detail] = true
					}
				}
				for _, f := range findings {
					if f.Key == st.Key && !onLinks[string(f.Category)+f.Detail] {
						t.Errorf("Verify's finding %s (%s) is on no link of the chain %+v", f.Category, f.Detail, steps)
					}
				}
				if st.State == StateOK {
					for _, s := range steps {
						if s.Outcome == OutcomeFail {
							t.Errorf("ok forward, but step %s fails: %s", s.Step, s.Reason)
						}
					}
				}
			}
			if cats := categories(findings); !reflect.DeepEqual(cats, tt.cats) && !(len(cats) == 0 && len(tt.cats) == 0) {
				t.Errorf("findings %v, want %v\n%s", cats, tt.cats, describeFindings(findings))
			}
			for _, f := range findings {
				if f.Key != got[0].Key || f.Detail == "" || f.Repair == "" {
					t.Errorf("finding %+v", f)
				}
				if f.Category == CatNoActiveChassis && f.Severity != SeverityCritical {
					t.Errorf("no-active-chassis is %s", f.Severity)
				}
			}
		})
	}
}

// TestVerifyMany checks ordering over several forwards and networks.
func TestVerifyMany(t *testing.T) {
	fx := newFixture("lxd", "5.21.4").network("default", "ovn1", 2).network("default", "ovn3", 3).forward(web())
	f3 := web()
	f3.Network, f3.ListenAddress = "ovn3", "198.51.100.30"
	fx.forward(f3)
	res := mustPlan(t, fx.lxd, fx.nb, unlimited)
	nb := converges(t, fx, unlimited, res)
	sb := realizedSB(res, 1)
	for i := range sb.PortBindings {
		if sb.PortBindings[i].LogicalPort == "cr-lxd-net3-lr-lrp-ext" {
			sb.PortBindings[i].Chassis = ""
		}
	}
	got, findings := Verify(res, VerifyInput{NB: nb, SB: sb})
	if len(got) != 2 || got[0].Key != webKey || got[0].State != StateOK || got[1].State != StateBroken ||
		!strings.Contains(got[1].Reason, "cr-lxd-net3-lr-lrp-ext") {
		t.Errorf("statuses %+v", got)
	}
	if len(findings) != 1 || findings[0].Key.Network != "ovn3" {
		t.Errorf("findings %+v", findings)
	}
}

// After a gateway claim or chassis change (nothing else), Regate of the
// verdicts taken before it equals a full Verify after it.
func TestRegateAfterClaimChange(t *testing.T) {
	fx := webWorld("5.0.2")
	res := mustPlan(t, fx.lxd, fx.nb, unlimited)
	nb := converges(t, fx, unlimited, res)
	nb.NBCfg, nb.SBCfg = 7, 7
	before := VerifyInput{NB: nb, SB: realizedSB(res, 7), Barrier: 7}
	_, _, vs := VerifyVerdicts(res, before)
	if vs.Len() != 1 {
		t.Fatalf("verdicts cover %d forwards", vs.Len())
	}
	after := func(mutate func(in *VerifyInput)) VerifyInput {
		in := before
		in.SB.PortBindings = append([]SBPortBinding(nil), before.SB.PortBindings...)
		in.SB.Chassis = append([]SBChassis(nil), before.SB.Chassis...)
		mutate(&in)
		return in
	}
	cases := map[string]VerifyInput{
		"claim moves to a chassis that is current": after(func(in *VerifyInput) {
			in.SB.Chassis = append(in.SB.Chassis, SBChassis{Name: "ch2", HasChassisRow: true, NBCfg: 7})
			in.SB.PortBindings[0].Chassis = "ch2"
		}),
		"claim moves to a chassis behind the barrier": after(func(in *VerifyInput) {
			in.SB.Chassis = append(in.SB.Chassis, SBChassis{Name: "ch2", HasChassisRow: true, NBCfg: 6})
			in.SB.PortBindings[0].Chassis = "ch2"
		}),
		"claim moves to a chassis with no SB row": after(func(in *VerifyInput) { in.SB.PortBindings[0].Chassis = "ch9" }),
		"claim lost":                          after(func(in *VerifyInput) { in.SB.PortBindings[0].Chassis = "" }),
		"nb_cfg pinged since (northd behind)": after(func(in *VerifyInput) { in.NB.NBCfg = 9 }),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			want, wantF := Verify(res, in)
			got, gotF := vs.Regate(in)
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotF, wantF) {
				t.Errorf("Regate\n got %+v %v\nwant %+v %v", got, categories(gotF), want, categories(wantF))
			}
			if name == "claim moves to a chassis that is current" && got[0].State != StateOK {
				t.Errorf("state %s: %s", got[0].State, got[0].Reason)
			}
			if name == "claim moves to a chassis behind the barrier" && got[0].State != StatePending {
				t.Errorf("state %s: %s", got[0].State, got[0].Reason)
			}
		})
	}
}
