package engine

import (
	"context"
	"fmt"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// claimSB is an SB replica whose gateway claim a test moves.
type claimSB struct {
	SB
	mu     gosync.Mutex
	holder string
}

func (s *claimSB) set(ch string) { s.mu.Lock(); s.holder = ch; s.mu.Unlock() }

func (s *claimSB) GatewaySnapshot() fwdsync.SBState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fwdsync.SBState{PortBindings: []fwdsync.SBPortBinding{
		{LogicalPort: "cr-lxd-net2-lr-lrp-ext", Type: "chassisredirect", Chassis: s.holder},
		{LogicalPort: "lxd-net2-ls-ext-lsp-router", Type: "patch", Datapath: "dp-ext", NatAddresses: []string{
			`00:16:3e:ec:9c:fb 10.99.0.100 198.51.100.245 is_chassis_resident("cr-lxd-net2-lr-lrp-ext")`}},
		{LogicalPort: "lxd-net2-ls-ext-lsp-provider", Type: "localnet", Datapath: "dp-ext", NetworkName: "UPLINK"},
	}}
}

// sentLog records announcements.
type sentLog struct {
	mu   gosync.Mutex
	sent []string
}

func (l *sentLog) Announce(_ context.Context, a fwdsync.GatewayAnnouncement) (string, int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent = append(l.sent, fmt.Sprint(a.Network, " ", a.Localnet, " ", a.MAC, " ", a.Addrs))
	return "bridge lxdovn1", 1, nil
}

func (l *sentLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.sent...)
}

// A member announces a gateway when its own chassis takes it (once, and
// once more announceRepeat later), not what it held at start, and not
// claims of other chassis.
func TestAnnouncerAnnouncesClaimsOfItsChassis(t *testing.T) {
	sb := &claimSB{holder: "ch2"}
	log := &sentLog{}
	a := newAnnouncer("ch2", sb, log, false, zap.NewNop(), prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.run(ctx)

	a.claimChanged() // held since start: nothing
	sb.set("ch3")    // another chassis: nothing
	a.claimChanged()
	time.Sleep(50 * time.Millisecond)
	if got := log.get(); len(got) != 0 {
		t.Fatalf("announced %v without this chassis taking the gateway", got)
	}

	sb.set("ch2")
	taken := time.Now()
	a.claimChanged()
	want := "UPLINK lxd-net2-ls-ext-lsp-provider 00:16:3e:ec:9c:fb [10.99.0.100 198.51.100.245]"
	waitFor(t, "the claim is announced", func() bool { return len(log.get()) >= 1 })
	if got := log.get(); got[0] != want {
		t.Fatalf("announced %q, want %q", got[0], want)
	}
	waitFor(t, "the repeat", func() bool { return len(log.get()) >= 2 })
	if since := time.Since(taken); since < announceRepeat {
		t.Errorf("repeat after %v, want ≥ %v", since, announceRepeat)
	}
	if n := testutil.ToFloat64(a.count.WithLabelValues("sent")); n != 2 {
		t.Errorf("sent counter %v, want 2", n)
	}
	if last := a.lastAnnouncements()["cr-lxd-net2-lr-lrp-ext"]; last.Sent != 1 || last.Err != "" || last.Where != "bridge lxdovn1" {
		t.Errorf("last announcement %+v", last)
	}

	// Lost before the repeat: no repeat.
	sb.set("ch3")
	a.claimChanged()
	time.Sleep(50 * time.Millisecond) // seen lost (kicks coalesce)
	sb.set("ch2")
	a.claimChanged()
	waitFor(t, "the second claim is announced", func() bool { return len(log.get()) >= 3 })
	sb.set("ch1")
	a.claimChanged()
	time.Sleep(announceRepeat + 100*time.Millisecond)
	if got := log.get(); len(got) != 3 {
		t.Errorf("%d announcements, want 3 (no repeat once the claim is gone): %v", len(got), got)
	}
}

// A dry run sends nothing.
func TestAnnouncerDryRun(t *testing.T) {
	sb := &claimSB{holder: "ch1"}
	log := &sentLog{}
	a := newAnnouncer("ch2", sb, log, true, zap.NewNop(), prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.run(ctx)
	time.Sleep(20 * time.Millisecond)
	sb.set("ch2")
	a.claimChanged()
	waitFor(t, "the dry run counts", func() bool { return testutil.ToFloat64(a.count.WithLabelValues("nowhere")) >= 1 })
	if got := log.get(); len(got) != 0 {
		t.Errorf("dry run announced %v", got)
	}
}

// watchedClaimSB is claimSB as the daemon's WatchedSB.
type watchedClaimSB struct {
	WatchedSB
	*claimSB
}

func (s watchedClaimSB) GatewaySnapshot() fwdsync.SBState { return s.claimSB.GatewaySnapshot() }

// A gateway claimed moments ago is unannounced (its forwards pending)
// until someone is known to have announced it: this member's own
// announcer for its chassis, or the holder's member publishing
// announce-gateway=on; at the latest OVN's own announcement ends it.
func TestUnannouncedGateways(t *testing.T) {
	sb := &claimSB{holder: "ch2"}
	d := NewDaemon(DaemonConfig{Chassis: "ch1"})
	d.src.SB = watchedClaimSB{claimSB: sb}
	d.e, _ = fxEngine(true)
	d.claimSeen = map[string]claimSeen{}
	const port = "cr-lxd-net2-lr-lrp-ext"

	if got := d.unannounced(); got != nil {
		t.Fatalf("no claim seen: %v", got)
	}
	d.noteClaim(port, "uuid-of-ch2")
	got := d.unannounced()
	if why := got[port]; !strings.Contains(why, "no ovnfwd announces ch2") || !strings.Contains(why, "1s after its claim") {
		t.Fatalf("ch2 claimed, nobody announces it: %v", got)
	}
	// ch2's member publishes that it announces.
	d.e.lastMembers = []fwdsync.Member{{Name: "m2", Published: map[string]string{fwdsync.PublishedChassis: "ch2", PublishedAnnounces: "on"}}}
	if got := d.unannounced(); got != nil {
		t.Errorf("ch2's member announces: %v", got)
	}
	d.e.lastMembers[0].Published[PublishedAnnounces] = "off"
	if got := d.unannounced(); got[port] == "" {
		t.Errorf("ch2's member announces nothing (off): %v", got)
	}

	// This member's chassis takes it: pending until its announcer sent.
	log := &sentLog{}
	d.ann = newAnnouncer("ch1", sb, log, false, zap.NewNop(), prometheus.NewRegistry())
	sb.set("ch1")
	d.noteClaim(port, "uuid-of-ch1")
	if got := d.unannounced(); got[port] == "" {
		t.Errorf("ch1 (this member) claimed, not announced yet: %v", got)
	}
	d.ann.announce(context.Background(), sb.GatewaySnapshot(), port, time.Now(), "claim")
	if got := d.unannounced(); got != nil {
		t.Errorf("announced by this member: %v", got)
	}

	// OVN's own announcement: the wait ends ovnAnnounceDelay after the claim.
	d.ann = nil
	d.mu.Lock()
	d.claimSeen[port] = claimSeen{at: time.Now().Add(-ovnAnnounceDelay)}
	d.mu.Unlock()
	if got := d.unannounced(); got != nil {
		t.Errorf("claimed %v ago: %v", ovnAnnounceDelay, got)
	}
	d.noteClaim(port, "uuid-of-ch1")
	sb.set("") // lost again since: nothing to wait for (no-active-chassis tells)
	if got := d.unannounced(); got != nil {
		t.Errorf("unclaimed: %v", got)
	}
}
