package engine

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// failoverDaemon is a daemon with two mapped networks, A (lxd-net1, two
// forwards) and B (lxd-net2, three), for the failover records alone.
func failoverDaemon() *Daemon {
	d := NewDaemon(DaemonConfig{Logger: zap.NewNop()})
	d.e = New(Config{LXD: &fakeLXD{}, NB: &fakeNB{}, Logger: zap.NewNop()})
	d.gw = newGateways(zap.NewNop(), d.metrics, 0)
	d.e.prefixes = map[string]fwdsync.NetworkRef{
		"lxd-net1": {Project: "default", Name: "a"},
		"lxd-net2": {Project: "default", Name: "b"},
	}
	for i, n := range []string{"a", "a", "b", "b", "b"} {
		k := fwdsync.ForwardKey{Project: "default", Network: n, ListenAddress: fmt.Sprintf("198.51.100.%d", i)}
		d.e.statuses[k] = fwdsync.ForwardStatus{Key: k, State: fwdsync.StateOK}
	}
	return d
}

func (d *Daemon) setNetworkState(network string, s fwdsync.State) {
	for k, st := range d.e.statuses {
		if k.Network == network {
			st.State = s
			d.e.statuses[k] = st
		}
	}
}

// 150 failovers over two networks: while network A waits for its
// re-verification, network B's failovers push the records past the 100
// kept. A's re-verification must land on A's record, and B's on B's
// (issue 11: the stored indices were not shifted when the list was trimmed).
func TestFailoverRecordsKeepTheirIndexAcrossTrim(t *testing.T) {
	d := failoverDaemon()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	event := func(prefix string) {
		n++
		at := t0.Add(time.Duration(n) * time.Second)
		d.claimEvent(fwdsync.ClaimEvent{Prefix: prefix, Port: fwdsync.GatewayPort(prefix), Kind: fwdsync.ClaimFailover,
			From: fmt.Sprintf("ch%d", n%3+1), To: fmt.Sprintf("to-%s-%d", prefix, n), At: at, Confirmed: at})
	}
	// B's failovers are re-verified at once; A's stays pending.
	for i := 0; i < 60; i++ {
		event("lxd-net2")
		d.checkReverified()
	}
	d.setNetworkState("a", fwdsync.StatePending)
	event("lxd-net1")
	aTo := fmt.Sprintf("to-lxd-net1-%d", n)
	d.checkReverified()
	for i := 0; i < 89; i++ {
		event("lxd-net2")
		d.checkReverified()
	}
	if n != 150 {
		t.Fatalf("%d failovers, want 150", n)
	}
	recs := d.gw.failovers()
	if len(recs) != 100 {
		t.Fatalf("%d records kept, want the last 100", len(recs))
	}
	for _, r := range recs {
		if r.Network == "default/b" && (r.Reverified <= 0 || r.Forwards != 3) {
			t.Fatalf("B record %s: reverified %v, forwards %d; want re-verified with 3 forwards", r.To, r.Reverified, r.Forwards)
		}
	}
	// A's forwards are verified now: its record, and only it, closes.
	d.setNetworkState("a", fwdsync.StateOK)
	d.checkReverified()
	var found bool
	for _, r := range d.gw.failovers() {
		switch r.Network {
		case "default/a":
			found = true
			if r.To != aTo || r.Reverified <= 0 || r.Forwards != 2 {
				t.Errorf("A record: to %s, reverified %v, forwards %d; want %s, re-verified, 2", r.To, r.Reverified, r.Forwards, aTo)
			}
		case "default/b":
			if r.Forwards != 3 {
				t.Errorf("B record %s was overwritten by A's re-verification: forwards %d", r.To, r.Forwards)
			}
		}
	}
	if !found {
		t.Fatal("A's failover record was trimmed although it is among the last 100")
	}
	if len(d.gw.awaiting) != 0 {
		t.Errorf("still awaiting %v", d.gw.awaiting)
	}

	// A record trimmed away while it waits is forgotten, not misplaced.
	d.setNetworkState("a", fwdsync.StatePending)
	event("lxd-net1")
	for i := 0; i < 100; i++ {
		event("lxd-net2")
		d.checkReverified()
	}
	if _, ok := d.gw.awaiting["lxd-net1"]; ok {
		t.Errorf("A's trimmed record still awaited at index %d", d.gw.awaiting["lxd-net1"])
	}
}
