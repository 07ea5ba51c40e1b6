package engine

import (
	"strings"
	"testing"

	"github.com/ovnfwd/ovnfwd/engine/enginetest"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

func stepByID(x Explanation, id string) ExplainStep {
	for _, s := range x.Steps {
		if s.ID == id {
			return s
		}
	}
	return ExplainStep{}
}

func TestExplainOKForward(t *testing.T) {
	x := BuildExplanation(fxExplainInput(t, "198.51.100.10"))
	if x.FirstFailure != 0 || x.State != "ok" || len(x.Steps) != 10 {
		t.Fatalf("explanation: first failure %d, state %s, %d steps", x.FirstFailure, x.State, len(x.Steps))
	}
	for i, s := range x.Steps {
		if s.Step != i+1 || s.Status == StepFail {
			t.Errorf("step %d (%s): %s %v", s.Step, s.ID, s.Status, s.Evidence)
		}
	}
	if ev := strings.Join(stepByID(x, "dnat").Evidence, "\n"); !strings.Contains(ev, "e0000000-0000-4000-8000-000000000001") ||
		!strings.Contains(ev, "e0000000-0000-4000-8000-000000000002") {
		t.Errorf("DNAT evidence does not name both flows:\n%s", ev)
	}
}

// Nobody holds the gateway: step 9 is the first failure and says what to do.
func TestExplainUnclaimed(t *testing.T) {
	in := fxExplainInput(t, "198.51.100.10")
	for i := range in.SB.PortBindings {
		if in.SB.PortBindings[i].LogicalPort == enginetest.FxCR {
			in.SB.PortBindings[i].Chassis = ""
		}
	}
	in.LXDChassis, in.LXDChassisErr = "", "ovn-sbctl: no row \"\" in table Chassis"
	x := BuildExplanation(in)
	if x.FirstFailure != 9 || !strings.Contains(x.Next, "BFD") {
		t.Fatalf("first failure %d, next %q; want step 9 about BFD", x.FirstFailure, x.Next)
	}
	if s := stepByID(x, "chassis-nb-cfg"); s.Status != StepSkip {
		t.Errorf("step 10 with no active chassis: %s", s.Status)
	}
}

// The active chassis has not processed the last published NB config.
func TestExplainChassisBehind(t *testing.T) {
	in := fxExplainInput(t, "198.51.100.10")
	in.NB.NBCfg = 43
	in.NB.SBCfg, in.SB.NBCfg = 43, 43
	x := BuildExplanation(in)
	if x.FirstFailure != 10 || !strings.Contains(x.Next, "ch2") {
		t.Fatalf("first failure %d, next %q; want step 10 naming ch2", x.FirstFailure, x.Next)
	}
}

// LXD has no such forward: step 1 fails, stale rows show in step 3.
func TestExplainNoForward(t *testing.T) {
	in := fxExplainInput(t, "198.51.100.99")
	x := BuildExplanation(in)
	if x.FirstFailure != 1 || stepByID(x, "nb").Status != StepWarn {
		t.Fatalf("first failure %d, nb step %+v", x.FirstFailure, stepByID(x, "nb"))
	}
	if !strings.Contains(x.Next, "ovnfwd repair --network ovn0 --listen 198.51.100.99") {
		t.Errorf("next: %q", x.Next)
	}
}

func TestFlowServes(t *testing.T) {
	guard := ` && is_chassis_resident("cr-x")`
	for _, tc := range []struct {
		match, actions, addr, port, proto, backend string
		want                                       bool
	}{
		{"ip4 && ip4.dst == 198.51.100.1 && tcp && tcp.dst == 80" + guard, "ct_lb_mark(backends=10.0.0.2:8080);", "198.51.100.1", "80", "tcp", "10.0.0.2:8080", true},
		{"ip4 && ip4.dst == 198.51.100.1 && tcp && tcp.dst == 8080" + guard, "ct_lb_mark(backends=10.0.0.2:8080);", "198.51.100.1", "80", "tcp", "10.0.0.2:8080", false},
		{"ip4 && ip4.dst == 198.51.100.1 && udp && udp.dst == 80" + guard, "ct_lb_mark(backends=10.0.0.2:8080);", "198.51.100.1", "80", "tcp", "10.0.0.2:8080", false},
		{"ip4 && ip4.dst == 198.51.100.10 && tcp && tcp.dst == 80" + guard, "ct_lb_mark(backends=10.0.0.2:8080);", "198.51.100.1", "80", "tcp", "10.0.0.2:8080", false},
		{"ip4 && ip4.dst == 198.51.100.1" + guard, "ct_lb_mark(backends=10.0.0.9);", "198.51.100.1", "", "tcp", "10.0.0.9", true},
		{"ip4 && ip4.dst == 198.51.100.1 && tcp && tcp.dst == 80" + guard, "ct_lb_mark(backends=10.0.0.9);", "198.51.100.1", "", "tcp", "10.0.0.9", false},
		{"ip6 && ip6.dst == 2001:db8::1 && tcp && tcp.dst == 443" + guard, "ct_lb_mark(backends=[fd42::5]:8443);", "2001:db8::1", "443", "tcp", "[fd42::5]:8443", true},
		{"ip6 && ip6.dst == 2001:db8::1" + guard, "ct_lb_mark(backends=fd42::5);", "2001:db8::1", "", "tcp", "[fd42::5]", true},
	} {
		f := fwdsync.LogicalFlow{Match: tc.match, Actions: tc.actions}
		if got := flowServes(f, tc.addr, tc.port, tc.proto, tc.backend); got != tc.want {
			t.Errorf("flowServes(%q, %q, %s:%s/%s → %s) = %v, want %v", tc.match, tc.actions, tc.addr, tc.port, tc.proto, tc.backend, got, tc.want)
		}
	}
}

// The SB row is linked to its NB row by external_ids:lb_id (OVN 23.03) or
// by carrying the NB row's own UUID and no lb_id (OVN 25.03): both are
// found; an SB row that matches neither is flagged.
func TestExplainSBRowLink(t *testing.T) {
	for _, tc := range []struct {
		name     string
		relink   func(nb string, lb *fwdsync.SBLoadBalancer)
		want     string
		orphaned bool
	}{
		{"lb_id (23.03)", func(string, *fwdsync.SBLoadBalancer) {}, "lb_id ", false},
		{"same UUID (25.03)", func(nb string, lb *fwdsync.SBLoadBalancer) { lb.UUID, lb.ExternalIDs = nb, nil }, "the UUID of its NB row", false},
		{"neither", func(string, *fwdsync.SBLoadBalancer) {}, "no NB row of that UUID", true},
	} {
		in := fxExplainInput(t, "198.51.100.10")
		nbUUID := map[string]string{}
		for _, lb := range in.NB.LoadBalancers {
			nbUUID[lb.Name] = lb.UUID
		}
		for i := range in.SB.LoadBalancers {
			lb := &in.SB.LoadBalancers[i]
			if tc.orphaned {
				lb.ExternalIDs = map[string]string{"lb_id": "00000000-0000-4000-8000-00000000dead"}
				continue
			}
			tc.relink(nbUUID[lb.Name], lb)
		}
		ev := strings.Join(stepByID(BuildExplanation(in), "sb-lb").Evidence, "\n")
		if !strings.Contains(ev, tc.want) || (!tc.orphaned && strings.Contains(ev, "no NB row")) {
			t.Errorf("%s: SB step evidence:\n%s", tc.name, ev)
		}
	}
}
