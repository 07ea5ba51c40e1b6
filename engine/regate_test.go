package engine

import (
	"context"
	"testing"

	"github.com/ovnfwd/ovnfwd/engine/enginetest"

	"go.uber.org/zap"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// genNB and genSB count rows generations the way ovn.NB and ovn.SB do, and
// let a test move the gateway claim.
type genNB struct {
	*fakeNB
	gen uint64
}

func (n *genNB) RowsGeneration() uint64 { return n.gen }

type genSB struct {
	fxSB
	gen     uint64
	holder  string
	behind  bool // the holder has not processed the last barrier
	gateway int  // GatewaySnapshot calls
}

func (s *genSB) RowsGeneration() uint64 { return s.gen }

func (s *genSB) Snapshot() fwdsync.SBState {
	st := s.fxSB.Snapshot()
	st.PortBindings[0].Chassis = s.holder
	if s.behind {
		for i := range st.Chassis {
			if st.Chassis[i].Name == s.holder {
				st.Chassis[i].NBCfg = 0
			}
		}
	}
	return st
}

func (s *genSB) GatewaySnapshot() fwdsync.SBState {
	s.gateway++
	st := s.Snapshot()
	st.LoadBalancers, st.AddressSets = nil, nil
	return st
}

// A claim change with nothing else changed is re-judged from the verdicts
// (no plan, no SB rows read), with the same result a full re-verification
// gives; any row change sends it down the full path.
func TestEngineRegate(t *testing.T) {
	l := &fakeLXD{St: enginetest.FxLXD()}
	l.St.Forwards = l.St.Forwards[:1]
	l.St.Networks = l.St.Networks[:1]
	n := &genNB{fakeNB: &fakeNB{St: enginetest.FxNB()}}
	n.St.LoadBalancers = n.St.LoadBalancers[:1]
	n.St.Routers[0].LoadBalancers = []string{enginetest.FxLB10}
	n.St.Switches = []fwdsync.NBSwitch{{UUID: enginetest.FxLSExt, Name: "lxd-net2-ls-ext"}, {UUID: enginetest.FxLSInt, Name: "lxd-net2-ls-int", LoadBalancers: []string{enginetest.FxLB10}}}
	sb := &genSB{fxSB: fxSB{NB: n.fakeNB}, holder: "ch2"}
	e := newEngine(l, n, sb, fwdsync.Options{DeletionBudget: 100}, zap.NewNop())
	e.lastCfg = n.St.NBCfg
	if _, err := e.pass(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if c := e.stateCounts(); c[fwdsync.StateOK] != 1 || !e.verdictsCurrent() {
		t.Fatalf("after the pass: %v, verdicts current %v", c, e.verdictsCurrent())
	}

	// Failover to ch1, which has processed everything: still ok.
	sb.holder = "ch1"
	sts, ok := e.regate()
	if !ok || len(sts) != 1 || sts[0].State != fwdsync.StateOK || sb.gateway != 1 {
		t.Fatalf("regate after failover: ok %v, %+v, %d gateway snapshots", ok, sts, sb.gateway)
	}
	// To a chassis behind the barrier: pending, exactly as a full pass says.
	sb.behind = true
	sts, ok = e.regate()
	full := e.reverify()
	if !ok || sts[0].State != fwdsync.StatePending || full[0] != sts[0] {
		t.Fatalf("regate %+v (ok %v), full re-verification %+v", sts, ok, full)
	}
	// Claim lost: broken, with the no-active-chassis finding.
	sb.behind, sb.holder = false, ""
	if sts, ok = e.regate(); !ok || sts[0].State != fwdsync.StateBroken {
		t.Fatalf("unclaimed: %+v (ok %v)", sts, ok)
	}
	found := false
	for _, f := range e.currentFindings() {
		found = found || f.Category == fwdsync.CatNoActiveChassis
	}
	if !found {
		t.Fatalf("findings %+v lack no-active-chassis", e.currentFindings())
	}

	// A row changed since the verdicts: no regate until a full pass.
	sb.holder = "ch2"
	n.gen++
	if _, ok := e.regate(); ok {
		t.Fatal("regate with an NB row changed")
	}
	e.reverify()
	sb.gen++
	if _, ok := e.regate(); ok {
		t.Fatal("regate with an SB row changed")
	}
	e.reverify()
	if _, ok := e.regate(); !ok {
		t.Fatal("no regate after a full re-verification")
	}
}
