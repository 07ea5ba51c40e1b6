package sync

import (
	"fmt"
	"testing"
)

// synthetic returns one LXD 5.0.2 network (ID 2) with n forwards of one tcp
// and one udp port each; with consistent, NB holds exactly their 2n rows,
// attached to the router and ls-int; otherwise NB has no rows at all.
func synthetic(n int, consistent bool) (LXDState, NBState) {
	fx := newFixture("lxd", "5.0.2").network("default", "ovn1", 2)
	fx.lxd.Forwards = make([]Forward, 0, n)
	if consistent {
		fx.nb.LoadBalancers = make([]NBLoadBalancer, 0, 2*n)
	}
	var attached []string
	for i := range n {
		listen := fmt.Sprintf("100.%d.%d.%d", 64+i>>16, (i>>8)&255, i&255)
		target := fmt.Sprintf("10.2.%d.%d", (i>>8)&255, i&255)
		fx.lxd.Forwards = append(fx.lxd.Forwards, Forward{Project: "default", Network: "ovn1", ListenAddress: listen,
			Ports: []ForwardPort{
				{Protocol: "tcp", ListenPort: "80", TargetAddress: target, TargetPort: "8080"},
				{Protocol: "udp", ListenPort: "53", TargetAddress: target},
			}})
		if !consistent {
			continue
		}
		for _, r := range []struct{ proto, vip, backend string }{
			{"tcp", listen + ":80", target + ":8080"},
			{"udp", listen + ":53", target + ":53"},
		} {
			uuid := fmt.Sprintf("%08d-%s", i, r.proto)
			fx.nb.LoadBalancers = append(fx.nb.LoadBalancers, NBLoadBalancer{UUID: uuid,
				Name: LBName("lxd-net2", listen, r.proto), Protocol: r.proto, VIPs: map[string]string{r.vip: r.backend}})
			attached = append(attached, uuid)
		}
	}
	fx.nb.Routers[0].LoadBalancers = attached
	fx.nb.Switches[0].LoadBalancers = attached
	return fx.lxd, fx.nb
}

func benchmarkPlan(b *testing.B, n int) {
	for _, consistent := range []bool{true, false} {
		name := "empty-nb"
		if consistent {
			name = "consistent-nb"
		}
		b.Run(name, func(b *testing.B) {
			lxd, nb := synthetic(n, consistent)
			res, err := Plan(lxd, nb, unlimited)
			if err != nil {
				b.Fatal(err)
			}
			if want := 0; consistent && len(res.Changes) != want || !consistent && len(res.Changes) != n {
				b.Fatalf("%d changes for %d forwards (consistent=%v)", len(res.Changes), n, consistent)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := Plan(lxd, nb, unlimited); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPlan10k(b *testing.B)  { benchmarkPlan(b, 10_000) }
func BenchmarkPlan100k(b *testing.B) { benchmarkPlan(b, 100_000) }

// BenchmarkVerify100k verifies 100,000 realized forwards.
func BenchmarkVerify100k(b *testing.B) {
	lxd, nb := synthetic(100_000, true)
	res, err := Plan(lxd, nb, unlimited)
	if err != nil {
		b.Fatal(err)
	}
	in := VerifyInput{NB: nb, SB: realizedSB(res, 1)}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		Verify(res, in)
	}
}

// TestPlanScales guards the linear planning: a consistent 20,000-forward
// world plans with no change, and the empty one creates every row.
func TestPlanScales(t *testing.T) {
	for _, consistent := range []bool{true, false} {
		lxd, nb := synthetic(20_000, consistent)
		res := mustPlan(t, lxd, nb, unlimited)
		switch {
		case consistent && (len(res.Changes) != 0 || len(res.Findings) != 0):
			t.Fatalf("consistent world: %d changes, %d findings", len(res.Changes), len(res.Findings))
		case !consistent && (len(res.Changes) != 20_000 || len(res.Findings) != 40_000):
			t.Fatalf("empty world: %d changes, %d findings", len(res.Changes), len(res.Findings))
		}
	}
}
