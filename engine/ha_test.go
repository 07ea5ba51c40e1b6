package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// countedMembers is the fixture's membership, counting LXD reads, and
// failing them (an LXD whose cluster database is unreachable) when down.
type countedMembers struct {
	fxMembers
	calls *int
	down  *bool
}

func (m countedMembers) Members(ctx context.Context) ([]fwdsync.Member, error) {
	*m.calls++
	if *m.down {
		return nil, errors.New("Get \"http://unix.socket/1.0/cluster/members\": context deadline exceeded")
	}
	return m.fxMembers.Members(ctx)
}

// membersEngine is the fixture engine judging HA groups, with the
// membership of countedMembers.
func membersEngine(calls *int, down *bool) *Engine {
	e, _ := fxEngine(true)
	e.lxd = countedMembers{fxMembers{e.lxd}, calls, down}
	e.ha = &HAConfig{MemberChassis: map[string]string{}}
	e.observeBarrier()
	return e
}

func haMissingUnknown(fs []fwdsync.Finding, member string) bool {
	for _, f := range fs {
		if f.Category == fwdsync.CatHAMissing && strings.Contains(f.Detail, "LXD member "+member+":") {
			return true
		}
	}
	return false
}

// HA passes between full passes judge with the membership the last full
// pass read, without asking LXD (whose API hangs when its cluster database
// is unreachable); a full pass that cannot read it keeps the last one.
func TestHAPassReusesMembership(t *testing.T) {
	var calls int
	var down bool
	e := membersEngine(&calls, &down)
	ctx := context.Background()

	pr, err := e.pass(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || !haMissingUnknown(pr.Findings, "node3") {
		t.Fatalf("full pass: %d member reads, findings %v; want 1 read and node3's unknown chassis", calls, pr.Findings)
	}
	down = true
	if fs := e.haPass(ctx, false); calls != 1 || !haMissingUnknown(fs, "node3") {
		t.Fatalf("HA pass: %d member reads (want 1: none of its own), findings %v", calls, fs)
	}
	pr, err = e.pass(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 || !haMissingUnknown(pr.Findings, "node3") {
		t.Fatalf("full pass with LXD's members unreadable: %d reads, findings %v; want a read and the last membership", calls, pr.Findings)
	}

	// Never read: membership is unknown, and its rules are skipped.
	e2 := membersEngine(&calls, &down)
	if pr, err := e2.pass(ctx, false); err != nil || haMissingUnknown(pr.Findings, "node3") {
		t.Fatalf("no membership ever read: %v, findings %v", err, pr.Findings)
	}
}

// blockedList is an LXD whose listing hangs until released (its cluster
// database unreachable).
type blockedList struct {
	LXD
	release chan struct{}
}

func (b blockedList) List(ctx context.Context) (fwdsync.LXDState, error) {
	<-b.release
	return b.LXD.List(ctx)
}

// While a full pass waits on LXD, whileLXD keeps running on the pass's own
// goroutine (so it may touch the engine), and its HA pass judges from the
// membership read before, without waiting on LXD again.
func TestPassJudgesWhileLXDHangs(t *testing.T) {
	var calls int
	var down bool
	e := membersEngine(&calls, &down)
	ctx := context.Background()
	if _, err := e.pass(ctx, false); err != nil {
		t.Fatal(err)
	}

	release := make(chan struct{})
	e.lxd = blockedList{e.lxd, release}
	ticks := 0
	var judged []fwdsync.Finding
	e.whileLXD = func(ctx context.Context) {
		ticks++
		judged = e.haPass(ctx, false)
		if ticks == 3 {
			close(release)
		}
	}
	if _, err := e.pass(ctx, false); err != nil {
		t.Fatal(err)
	}
	if ticks < 3 || !haMissingUnknown(judged, "node3") {
		t.Fatalf("%d ticks while LXD hung, judged %v; want ≥ 3 and node3's unknown chassis", ticks, judged)
	}
	if calls != 2 {
		t.Errorf("%d member reads, want 2 (one per full pass, none while waiting)", calls)
	}
	if e.inLXDWait {
		t.Error("inLXDWait still set after the pass")
	}
}

// blockedForward is an LXD whose single-forward reads hang until released.
type blockedForward struct {
	LXD
	release chan struct{}
}

func (b blockedForward) Forward(ctx context.Context, project, network, listen string) (*fwdsync.Forward, bool, error) {
	<-b.release
	return b.LXD.Forward(ctx, project, network, listen)
}

// A forward's re-read from LXD (an LXD event, an NB change) that hangs
// does not stop the judging either.
func TestForwardReReadJudgesWhileLXDHangs(t *testing.T) {
	var calls int
	var down bool
	e := membersEngine(&calls, &down)
	ctx := context.Background()
	pr, err := e.pass(ctx, false)
	if err != nil || len(pr.Statuses) == 0 {
		t.Fatalf("pass: %v, %d forwards", err, len(pr.Statuses))
	}
	key := pr.Statuses[0].Key
	release := make(chan struct{})
	e.lxd = blockedForward{e.lxd, release}
	ticks := 0
	e.whileLXD = func(context.Context) {
		if ticks++; ticks == 2 {
			close(release)
		}
	}
	if _, _, err := e.forwardClean(ctx, key, readFresh); err != nil {
		t.Fatal(err)
	}
	if ticks < 2 || e.inLXDWait {
		t.Errorf("%d ticks while the re-read of %v hung (want ≥ 2), inLXDWait %v", ticks, key, e.inLXDWait)
	}
}
