package engine

import (
	"context"
	"testing"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// switchingLXD lists `first` once, then `later`: a forward created in LXD
// between the early listing and the NB snapshot.
type switchingLXD struct {
	fakeLXD
	first fwdsync.LXDState
	lists int
}

func (s *switchingLXD) List(ctx context.Context) (fwdsync.LXDState, error) {
	s.lists++
	if s.lists == 1 {
		return s.first, nil
	}
	return s.fakeLXD.List(ctx)
}

func TestPrefetchServesTheEarlyListingOnce(t *testing.T) {
	l, _ := world(web("198.51.100.10", "80"))
	p := StartPrefetch(context.Background(), l)
	if p.overlapped() {
		t.Fatal("overlapped before any List")
	}
	st, err := p.List(context.Background())
	if err != nil || len(st.Forwards) != 1 || !p.overlapped() {
		t.Fatalf("first List: %d forwards, err %v, overlapped %v", len(st.Forwards), err, p.overlapped())
	}
	l.St.Forwards = nil // the second List must be live
	if st, _ := p.List(context.Background()); len(st.Forwards) != 0 {
		t.Fatalf("second List served the early listing again: %d forwards", len(st.Forwards))
	}
}

// A forward LXD created after the early listing but before the NB
// snapshot looks stale in the overlapped pass; check must not Report it:
// it confirms findings with an ordered pass.
func TestCheckConfirmsOverlappedFindings(t *testing.T) {
	l, n := world(web("198.51.100.10", "80"), web("198.51.100.11", "80"))
	// NB holds both forwards' rows (repaired), as LXD would have them.
	if _, err := testEngine(l, n).pass(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	early := l.St
	early.Forwards = early.Forwards[:1] // listed before .11 was created
	sw := &switchingLXD{fakeLXD: *l, first: early}
	p := StartPrefetch(context.Background(), sw)
	e := New(Config{LXD: p, NB: n, Options: fwdsync.Options{DeletionBudget: 100}, Prefetch: p})
	res, err := RunOneShot(context.Background(), e, OneShotOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if sw.lists != 2 {
		t.Fatalf("LXD listed %d times, want 2 (early, then ordered confirmation)", sw.lists)
	}
	if len(res.Report.Findings) != 0 || res.Report.Summary.Forwards != 2 {
		t.Fatalf("report: %d forwards, findings %+v; want 2 and none", res.Report.Summary.Forwards, res.Report.Findings)
	}
}

// A consistent world needs no second listing.
func TestCheckOverlappedCleanListsOnce(t *testing.T) {
	l, n := world(web("198.51.100.10", "80"))
	if _, err := testEngine(l, n).pass(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	sw := &switchingLXD{fakeLXD: *l, first: l.St}
	p := StartPrefetch(context.Background(), sw)
	e := New(Config{LXD: p, NB: n, Options: fwdsync.Options{DeletionBudget: 100}, Prefetch: p})
	res, err := RunOneShot(context.Background(), e, OneShotOpts{})
	if err != nil || len(res.Report.Findings) != 0 || sw.lists != 1 {
		t.Fatalf("err %v, findings %v, lists %d; want nil, none, 1", err, res.Report.Findings, sw.lists)
	}
}

type netcfgLXD struct{ *fakeLXD }

func (netcfgLXD) NetworkConfig(_ context.Context, project, name string) (map[string]string, bool, error) {
	return map[string]string{"ovn.ingress_mode": "routed"}, name == "br0", nil
}

// The early listing does not hide the uplink reads route findings need.
func TestPrefetchPassesUplinkReads(t *testing.T) {
	l, _ := world()
	var src LXD = StartPrefetch(context.Background(), netcfgLXD{l})
	cfg, exists, err := src.NetworkConfig(context.Background(), "default", "br0")
	if err != nil || !exists || cfg["ovn.ingress_mode"] != "routed" {
		t.Fatalf("NetworkConfig = %v %v %v", cfg, exists, err)
	}
}

type membersLXD struct{ *fakeLXD }

func (membersLXD) Members(context.Context) ([]fwdsync.Member, error) {
	return []fwdsync.Member{{Name: "node1", Roles: []string{"ovn-chassis"}}}, nil
}

// The early listing does not hide the member listing HA hygiene needs
// (ha-missing went unreported by check when it did).
func TestPrefetchPassesMembers(t *testing.T) {
	l, _ := world()
	var src LXD = StartPrefetch(context.Background(), membersLXD{l})
	ms, err := src.Members(context.Background())
	if err != nil || len(ms) != 1 || ms[0].Name != "node1" {
		t.Fatalf("Members = %v, %v", ms, err)
	}
	l.MemberList = nil
	if ms, err := StartPrefetch(context.Background(), l).Members(context.Background()); err != nil || ms != nil {
		t.Errorf("a source with no members: Members = %v, %v", ms, err)
	}
}
