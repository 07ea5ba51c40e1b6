package engine

import (
	"testing"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

func TestStatusLivenessAndExit(t *testing.T) {
	r := BuildStatus(fxStatusInput(t))
	if len(r.Networks) != 2 || r.Networks[0].Prefix != "lxd-net2" || r.Networks[1].MappingError == "" {
		t.Fatalf("networks %+v", r.Networks)
	}
	live := map[string]string{}
	for _, m := range r.Networks[0].HAGroup.Members {
		live[m.Chassis] = m.Liveness
	}
	if live["ch1"] != liveCurrent || live["ch2"] != liveCurrent || live["ch3"] != liveAbsent {
		t.Errorf("liveness %v", live)
	}
	if g := r.Networks[0].Gateway; g.ActiveChassis != "ch2" || !g.Agree {
		t.Errorf("gateway %+v", g)
	}
	if r.ExitCode() != ExitFindings {
		t.Errorf("exit %d with broken forwards, want 1", r.ExitCode())
	}
	in := fxStatusInput(t)
	in.NB.NBCfg = 50 // a barrier nobody followed
	in.Statuses = []fwdsync.ForwardStatus{{Key: fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.10"}, State: fwdsync.StateOK}}
	in.Findings = nil
	in.Networks = in.Networks[:1]
	r = BuildStatus(in)
	for _, m := range r.Networks[0].HAGroup.Members {
		if m.SBChassis && m.Liveness != liveBehind {
			t.Errorf("%s: %s, want behind", m.Chassis, m.Liveness)
		}
	}
	if r.ExitCode() != ExitOK {
		t.Errorf("exit %d with every forward ok and the gateway claimed, want 0", r.ExitCode())
	}
}
