//go:build integration

package integration

import (
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/canonical/lxd/shared/api"

	"github.com/ovnfwd/ovnfwd/ovn"
)

// CleanSlate removes every forward of the bed's network (through LXD, which
// deletes its rows) and any row of the network's prefix left in NB, so a
// test starts from a known state.
func (b *Bed) CleanSlate(t testing.TB) string {
	t.Helper()
	net := b.Get(t, "TB_NETWORK")
	prefix := b.Prefix(t)
	b.DeleteAllForwards(t, net)
	b.LXDSQL(t, fmt.Sprintf("DELETE FROM networks_forwards WHERE network_id=%d", b.NetworkID(t, net)))
	for name, rows := range b.LBsByName(t) {
		if strings.HasPrefix(name, prefix+"-lb-") || strings.HasPrefix(name, b.OVNPrefix()+"999-") || strings.HasPrefix(name, "test-foreign") {
			for _, r := range rows {
				b.NBCtl(t, "lb-del", r.UUID)
			}
		}
	}
	return prefix
}

// only returns the rows of one listen address.
func only(rows map[string]map[string]string, prefix, listen string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, p := range []string{"tcp", "udp"} {
		if v, ok := rows[prefix+"-lb-"+listen+"-"+p]; ok {
			out[prefix+"-lb-"+listen+"-"+p] = v
		}
	}
	return out
}

func tcp(listen, target, targetPort string) api.NetworkForwardPort {
	return api.NetworkForwardPort{Protocol: "tcp", ListenPort: listen, TargetAddress: target, TargetPort: targetPort}
}

func udp(listen, target, targetPort string) api.NetworkForwardPort {
	return api.NetworkForwardPort{Protocol: "udp", ListenPort: listen, TargetAddress: target, TargetPort: targetPort}
}

// Forwards created, updated (ports, ranges, targets, default target) and
// deleted with lxc are verified ok by ovnfwd, and NB equals what LXD wrote.
func TestDaemonFollowsLXD(t *testing.T) {
	b := Open(t)
	prefix := b.CleanSlate(t)
	net := b.Get(t, "TB_NETWORK")
	// off: ovnfwd manages neighbor_responder like LXD does (never sets it),
	// so NB must stay byte-for-byte what LXD wrote and nothing is repaired.
	d := b.StartDaemon(t, "--arp-responder", "off", "--no-ha")
	d.WaitWriter(30 * time.Second) // a standby repairs nothing: no race to lose
	want := map[string]map[string]string{}
	merge := func(m map[string]map[string]string) {
		for k, v := range m {
			want[k] = v
		}
	}
	drop := func(listen string) {
		for _, p := range []string{"tcp", "udp"} {
			delete(want, prefix+"-lb-"+listen+"-"+p)
		}
	}

	// create: ranges, many-to-one, nth-to-nth, udp, default target.
	b.Lxc(t, "network", "forward", "create", net, "198.51.100.21")
	b.Lxc(t, "network", "forward", "port", "add", net, "198.51.100.21", "tcp", "80,90-92", "10.10.10.5", "8080,9000-9002")
	b.Lxc(t, "network", "forward", "port", "add", net, "198.51.100.21", "udp", "53,5353", "10.10.10.6", "53")
	merge(ExpectedLBs(t, prefix, "198.51.100.21", "", []api.NetworkForwardPort{tcp("80,90-92", "10.10.10.5", "8080,9000-9002"), udp("53,5353", "10.10.10.6", "53")}))
	b.Lxc(t, "network", "forward", "create", net, "198.51.100.22", "target_address=10.10.10.9")
	merge(ExpectedLBs(t, prefix, "198.51.100.22", "10.10.10.9", nil))
	took := d.WaitVerified("198.51.100.21", only(want, prefix, "198.51.100.21"), 10*time.Second)
	d.WaitVerified("198.51.100.22", only(want, prefix, "198.51.100.22"), 10*time.Second)
	t.Logf("created forwards verified ok %v after the last lxc call", took.Round(time.Millisecond))
	if diff := b.NBMatches(t, prefix, want); diff != "" {
		t.Fatalf("after create: NB differs from LXD: %s", diff)
	}

	// update: ports, targets and the default target, through the API.
	put := api.NetworkForwardPut{
		Config: map[string]string{"target_address": "10.10.10.11"},
		Ports:  []api.NetworkForwardPort{tcp("443,8000-8001", "10.10.10.12", "")},
	}
	b.UpdateForward(t, net, "198.51.100.21", put)
	drop("198.51.100.21")
	merge(ExpectedLBs(t, prefix, "198.51.100.21", "10.10.10.11", put.Ports))
	b.Lxc(t, "network", "forward", "set", net, "198.51.100.22", "target_address=10.10.10.19")
	drop("198.51.100.22")
	merge(ExpectedLBs(t, prefix, "198.51.100.22", "10.10.10.19", nil))
	Eventually(t, 10*time.Second, 20*time.Millisecond, "NB follows the updates", func() string { return b.NBMatches(t, prefix, want) })
	d.WaitVerified("198.51.100.21", only(want, prefix, "198.51.100.21"), 10*time.Second)
	d.WaitVerified("198.51.100.22", only(want, prefix, "198.51.100.22"), 10*time.Second)

	// delete: the daemon forgets the forward, NB has no row of it.
	b.Lxc(t, "network", "forward", "delete", net, "198.51.100.22")
	drop("198.51.100.22")
	d.WaitState("198.51.100.22", "", 10*time.Second)
	if diff := b.NBMatches(t, prefix, want); diff != "" {
		t.Fatalf("after delete: NB differs from LXD: %s", diff)
	}
	if n, _ := d.Metric(`ovnfwd_drift_repaired_total`); n != 0 {
		t.Errorf("ovnfwd repaired %v findings while LXD alone wrote consistent rows", n)
	}
}

// Drift behind ovnfwd's back is repaired within 1 s, and exactly one row
// per name remains. A deleted row is re-created only after
// --nb-delete-grace (1 s: its server may be deleting the forward), and
// then within 1 s too.
func TestDaemonRepairsDrift(t *testing.T) {
	b := Open(t)
	prefix := b.CleanSlate(t)
	net := b.Get(t, "TB_NETWORK")
	ports := []api.NetworkForwardPort{tcp("80,81", "10.10.10.5", ""), udp("53", "10.10.10.5", "")}
	b.CreateForward(t, net, api.NetworkForwardsPost{ListenAddress: "198.51.100.31", NetworkForwardPut: api.NetworkForwardPut{Ports: ports}})
	want := ExpectedLBs(t, prefix, "198.51.100.31", "", ports)
	d := b.StartDaemon(t)
	d.WaitState("198.51.100.31", "ok", 10*time.Second)
	name := prefix + "-lb-198.51.100.31-tcp"
	uuid := func() string { return b.LBsByName(t)[name][0].UUID }

	const deleteGrace = time.Second // ovnfwd run's default --nb-delete-grace
	edits := []struct {
		what  string
		do    func()
		grace time.Duration // left to the server before ovnfwd repairs
	}{
		{"LXD-made row deleted", func() { b.NBCtl(t, "lb-del", name) }, deleteGrace},
		{"VIP map edited", func() {
			b.NBCtl(t, "set", "Load_Balancer", uuid(), `vips={"198.51.100.31:80"="10.10.10.66:80"}`)
		}, 0},
		{"detached from the router", func() { b.NBCtl(t, "lr-lb-del", prefix+"-lr", uuid()) }, 0},
		{"detached from ls-int", func() { b.NBCtl(t, "ls-lb-del", prefix+"-ls-int", uuid()) }, 0},
		{"duplicate same-name row inserted", func() {
			b.NBCtl(t, "create", "Load_Balancer", "name="+name, "protocol=tcp", `vips={"198.51.100.31:80"="10.10.10.5:80"}`)
		}, 0},
		{"protocol changed", func() { b.NBCtl(t, "set", "Load_Balancer", prefix+"-lb-198.51.100.31-udp", "protocol=tcp") }, 0},
	}
	for _, e := range edits {
		e.do()
		took := Eventually(t, 5*time.Second, 10*time.Millisecond, "repair after "+e.what, func() string { return b.NBMatches(t, prefix, want) })
		t.Logf("%s: repaired in %v", e.what, took.Round(time.Millisecond))
		if took < e.grace-50*time.Millisecond { // the daemon hears the delete before ovn-nbctl exits
			t.Errorf("%s: repaired after %v, before the %v left to the server", e.what, took, e.grace)
		}
		if took > e.grace+time.Second {
			t.Errorf("%s: repair took %v, want ≤ %v", e.what, took, e.grace+time.Second)
		}
	}
	d.WaitState("198.51.100.31", "ok", 10*time.Second)
}

// A forward inserted straight into LXD's DB (LXD writes no OVN rows for it)
// gets its rows from ovnfwd: at start, and at a periodic resync while running.
func TestDaemonSeededForwards(t *testing.T) {
	b := Open(t)
	prefix := b.CleanSlate(t)
	net := b.Get(t, "TB_NETWORK")
	ports := []api.NetworkForwardPort{tcp("8080", "10.10.10.7", "80")}
	b.SeedForwards(t, net, []string{"198.51.100.41", "198.51.100.42"}, ports)
	if rows := b.LBsByName(t)[prefix+"-lb-198.51.100.41-tcp"]; len(rows) != 0 {
		t.Fatalf("LXD wrote rows for a seeded forward: the test's premise is wrong")
	}
	d := b.StartDaemon(t, "--resync-interval", "2s")
	want := map[string]map[string]string{}
	for _, l := range []string{"198.51.100.41", "198.51.100.42"} {
		for k, v := range ExpectedLBs(t, prefix, l, "", ports) {
			want[k] = v
		}
	}
	Eventually(t, 10*time.Second, 20*time.Millisecond, "seeded forwards get rows at start", func() string { return b.NBMatches(t, prefix, want) })
	b.SeedForwards(t, net, []string{"198.51.100.43"}, ports)
	for k, v := range ExpectedLBs(t, prefix, "198.51.100.43", "", ports) {
		want[k] = v
	}
	Eventually(t, 10*time.Second, 50*time.Millisecond, "seeded forward gets rows at the next resync", func() string { return b.NBMatches(t, prefix, want) })
	d.WaitState("198.51.100.43", "ok", 10*time.Second)
}

// A forward deleted while ovnfwd was stopped leaves stale rows; they are
// removed when ovnfwd starts. Foreign rows and rows of unknown networks are
// byte-identical before and after.
func TestDaemonStaleAtStartForeignUntouched(t *testing.T) {
	b := Open(t)
	prefix := b.CleanSlate(t)
	net := b.Get(t, "TB_NETWORK")
	b.Lxc(t, "network", "forward", "create", net, "198.51.100.51")
	b.Lxc(t, "network", "forward", "port", "add", net, "198.51.100.51", "tcp", "80", "10.10.10.5")
	b.Lxc(t, "network", "forward", "create", net, "198.51.100.52")
	b.Lxc(t, "network", "forward", "port", "add", net, "198.51.100.52", "tcp", "80", "10.10.10.5")
	// Forget .51 in LXD's DB only: LXD leaves its OVN rows behind.
	b.LXDSQL(t, "DELETE FROM networks_forwards WHERE listen_address='198.51.100.51'")
	stale := prefix + "-lb-198.51.100.51-tcp"
	if len(b.LBsByName(t)[stale]) != 1 {
		t.Fatal("premise: the stale row should exist")
	}
	// Foreign rows: another name, and an lxd-net prefix no network maps to.
	b.NBCtl(t, "lb-add", "test-foreign-web", "192.0.2.200:80", "10.0.0.1:80", "tcp")
	b.NBCtl(t, "lb-add", b.OVNPrefix()+"999-lb-198.51.100.99-tcp", "198.51.100.99:80", "10.0.0.1:80", "tcp")
	b.NBCtl(t, "lr-lb-add", prefix+"-lr", "test-foreign-web")
	foreign := func() string {
		return b.NBCtl(t, "--columns=_uuid,name,protocol,vips,options,external_ids,selection_fields,health_check,ip_port_mappings",
			"find", "Load_Balancer", "name=test-foreign-web") +
			b.NBCtl(t, "find", "Load_Balancer", "name="+b.OVNPrefix()+"999-lb-198.51.100.99-tcp")
	}
	before := foreign()
	t.Cleanup(func() { b.CleanSlate(t) })

	d := b.StartDaemon(t)
	Eventually(t, 10*time.Second, 20*time.Millisecond, "stale row removed at start", func() string {
		if n := len(b.LBsByName(t)[stale]); n != 0 {
			return fmt.Sprintf("%d rows named %s", n, stale)
		}
		return ""
	})
	d.WaitState("198.51.100.52", "ok", 10*time.Second)
	// Some churn, then compare the foreign rows.
	b.NBCtl(t, "lb-del", prefix+"-lb-198.51.100.52-tcp")
	Eventually(t, 5*time.Second, 20*time.Millisecond, "row recreated", func() string {
		if len(b.LBsByName(t)[prefix+"-lb-198.51.100.52-tcp"]) != 1 {
			return "missing"
		}
		return ""
	})
	if after := foreign(); after != before {
		t.Fatalf("foreign rows changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if !strings.Contains(b.NBCtl(t, "lr-lb-list", prefix+"-lr"), "test-foreign-web") {
		t.Fatal("the foreign row's attachment to the router was removed")
	}
}

// LXD stopped: ovnfwd deletes nothing, reports degraded, and resyncs when
// LXD is back.
func TestDaemonLXDDown(t *testing.T) {
	b := Open(t)
	prefix := b.CleanSlate(t)
	net := b.Get(t, "TB_NETWORK")
	b.Lxc(t, "network", "forward", "create", net, "198.51.100.61")
	b.Lxc(t, "network", "forward", "port", "add", net, "198.51.100.61", "tcp", "80", "10.10.10.5")
	d := b.StartDaemon(t, "--resync-interval", "1s")
	d.WaitState("198.51.100.61", "ok", 10*time.Second)

	b.Script(t, "lxd-stop")
	t.Cleanup(func() { b.Script(t, "lxd-start") })
	// A row that would be stale if LXD were listed now.
	b.NBCtl(t, "lb-add", prefix+"-lb-198.51.100.62-tcp", "198.51.100.62:80", "10.10.10.5:80", "tcp")
	d.WaitState("198.51.100.61", "degraded", 15*time.Second)
	time.Sleep(3 * time.Second) // several resync ticks with LXD down
	if n := len(b.LBsByName(t)[prefix+"-lb-198.51.100.62-tcp"]); n != 1 {
		t.Fatalf("ovnfwd deleted a row while LXD was unreachable (%d rows left)", n)
	}
	if n := len(b.LBsByName(t)[prefix+"-lb-198.51.100.61-tcp"]); n != 1 {
		t.Fatalf("ovnfwd deleted a forward's row while LXD was unreachable")
	}

	b.Script(t, "lxd-start")
	d.WaitState("198.51.100.61", "ok", 30*time.Second)
	Eventually(t, 15*time.Second, 50*time.Millisecond, "stale row removed once LXD is back", func() string {
		if n := len(b.LBsByName(t)[prefix+"-lb-198.51.100.62-tcp"]); n != 0 {
			return "still there"
		}
		return ""
	})
}

// NB ovsdb-server killed and restarted (raft central: every member):
// ovnfwd reconnects and re-verifies, and repairs a row that went missing
// while it was away (the replica is refilled without delete events).
func TestDaemonNBRestart(t *testing.T) {
	b := Open(t)
	prefix := b.CleanSlate(t)
	net := b.Get(t, "TB_NETWORK")
	ports := []api.NetworkForwardPort{tcp("80", "10.10.10.5", "")}
	b.CreateForward(t, net, api.NetworkForwardsPost{ListenAddress: "198.51.100.71", NetworkForwardPut: api.NetworkForwardPut{Ports: ports}})
	want := ExpectedLBs(t, prefix, "198.51.100.71", "", ports)
	d := b.StartDaemon(t)
	d.WaitState("198.51.100.71", "ok", 10*time.Second)
	name := prefix + "-lb-198.51.100.71-tcp"
	uuid := b.LBsByName(t)[name][0].UUID

	if b.Central() == "raft" {
		// A cluster member's database file cannot be edited offline
		// (ovsdb-tool transact takes standalone databases), so the row goes
		// while the daemon cannot see it go: frozen (SIGSTOP) while every NB
		// member is killed -9 and restarted and the row is deleted through
		// the new leader, it finds its connection dead when it runs again
		// and reconnects to a database without the row.
		if err := d.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.cmd.Process.Signal(syscall.SIGCONT) })
		b.Script(t, "nb-kill")
		t.Cleanup(func() { b.Script(t, "nb-start") })
		b.Script(t, "nb-start")
		b.NBCtl(t, "lb-del", uuid)
		if err := d.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	} else {
		b.Script(t, "nb-kill")
		t.Cleanup(func() { b.Script(t, "nb-start") })
		// Delete the row offline, straight in the database file.
		db := b.Get(t, "TB_STATE") + "/central/nb.db"
		b.must(t, nil, "ovsdb-tool", "transact", db, fmt.Sprintf(
			`["OVN_Northbound",{"op":"mutate","table":"Logical_Router","where":[],"mutations":[["load_balancer","delete",["uuid","%[1]s"]]]},{"op":"mutate","table":"Logical_Switch","where":[],"mutations":[["load_balancer","delete",["uuid","%[1]s"]]]},{"op":"delete","table":"Load_Balancer","where":[["_uuid","==",["uuid","%[1]s"]]]}]`, uuid))
		b.Script(t, "nb-start")
	}
	Eventually(t, 30*time.Second, 50*time.Millisecond, "ovnfwd reconnects and restores the row", func() string { return b.NBMatches(t, prefix, want) })
	d.WaitState("198.51.100.71", "ok", 10*time.Second)
	if n, _ := d.Metric(`ovnfwd_reconnects_total{target="nb"}`); n < 1 {
		t.Errorf("reconnects_total{nb} = %v, want ≥ 1", n)
	}
}

// LXD 5.0.x writes each forward as a new row in one NB transaction (delete
// by name, add, attach), an update before its database: the daemon holds
// only changes that insert a row for --nb-settle and repairs other edits at
// once (Incus and LXD 5.21.2+ hold every change). Either way it must never race
// the server's own writes: 60 create, update and delete calls back to back,
// and the daemon repairs nothing (the server wrote every row), NB ends as
// the server wants it, and every forward is verified ok.
func TestDaemonNeverRacesTheServersWrites(t *testing.T) {
	b := Open(t)
	prefix := b.CleanSlate(t)
	net := b.Get(t, "TB_NETWORK")
	// --arp-responder off: rows stay exactly what the server wrote, so any
	// repair at all would be a race lost to it.
	d := b.StartDaemon(t, "--arp-responder", "off", "--no-ha")
	d.WaitWriter(30 * time.Second) // a standby repairs nothing: no race to lose
	live := map[string][]api.NetworkForwardPort{}
	for i := 0; i < 60; i++ {
		listen := fmt.Sprintf("198.51.100.%d", 150+i%12)
		ports := []api.NetworkForwardPort{tcp(fmt.Sprint(1000+i), fmt.Sprintf("10.10.10.%d", 2+i%40), "8080")}
		_, exists := live[listen]
		switch {
		case !exists:
			b.CreateForward(t, net, api.NetworkForwardsPost{ListenAddress: listen, NetworkForwardPut: api.NetworkForwardPut{Config: map[string]string{}, Ports: ports}})
			live[listen] = ports
		case i%3 == 0:
			b.DeleteForward(t, net, listen)
			delete(live, listen)
		default:
			b.UpdateForward(t, net, listen, api.NetworkForwardPut{Config: map[string]string{}, Ports: ports})
			live[listen] = ports
		}
	}
	want := map[string]map[string]string{}
	for l, ps := range live {
		for k, v := range ExpectedLBs(t, prefix, l, "", ps) {
			want[k] = v
		}
	}
	Eventually(t, 30*time.Second, 50*time.Millisecond, "NB matches the server after the calls", func() string { return b.NBMatches(t, prefix, want) })
	for l := range live {
		d.WaitVerified(l, only(want, prefix, l), 30*time.Second)
	}
	if n, _ := d.Metric(`ovnfwd_drift_repaired_total`); n != 0 {
		t.Errorf("ovnfwd repaired %v findings while the server alone wrote every row (it raced the server's writes)", n)
	}
	// LXD 5.0.2 settles only insertions (its update replaces the row before
	// its database changes), Incus 6.0 every change.
	if onlyInserts := strings.Contains(d.Log(), "only NB changes that insert a row wait --nb-settle"); onlyInserts != (b.Stack() == "lxd") {
		t.Errorf("%s bed: the daemon settled only insertions: %v, want %v", b.Stack(), onlyInserts, b.Stack() == "lxd")
	}
}

// LXD 5.0.2 writes an update's new rows and a deletion with ovn-nbctl
// --wait=sb, and only once northd has caught up writes its database and
// sends the event: in between (seconds at 10,000 forwards) LXD still lists
// the forward as it was. With northd stopped for 2.5 s, the daemon must
// leave both writes alone — not bring the old VIPs back, not re-create the
// deleted rows after --nb-delete-grace — and repair nothing once LXD is done.
func TestDaemonLeavesTheServersWriteWhileNorthdIsBehind(t *testing.T) {
	b := Open(t)
	prefix := b.CleanSlate(t)
	net := b.Get(t, "TB_NETWORK")
	const upd, del = "198.51.100.171", "198.51.100.172"
	old := []api.NetworkForwardPort{tcp("80", "10.10.10.5", "")}
	b.CreateForward(t, net, api.NetworkForwardsPost{ListenAddress: upd, NetworkForwardPut: api.NetworkForwardPut{Ports: old}})
	b.CreateForward(t, net, api.NetworkForwardsPost{ListenAddress: del, NetworkForwardPut: api.NetworkForwardPut{Ports: old}})
	d := b.StartDaemon(t, "--arp-responder", "off", "--no-ha")
	d.WaitState(upd, "ok", 30*time.Second)
	d.WaitState(del, "ok", 30*time.Second)
	d.WaitWriter(30 * time.Second) // a standby repairs nothing: no race to lose

	b.Script(t, "northd-stop")
	northdUp := false
	t.Cleanup(func() {
		if !northdUp {
			b.Script(t, "northd-start")
		}
	})
	updated := []api.NetworkForwardPort{tcp("80", "10.10.10.6", "")}
	errs := make(chan error, 2)
	go func() { errs <- b.LXD.UpdateNetworkForward(net, upd, api.NetworkForwardPut{Ports: updated}, "") }()
	go func() { errs <- b.LXD.DeleteNetworkForward(net, del) }()
	want := ExpectedLBs(t, prefix, upd, "", updated) // del's rows gone
	Eventually(t, 10*time.Second, 20*time.Millisecond, "LXD's writes in NB", func() string { return b.NBMatches(t, prefix, want) })
	time.Sleep(2500 * time.Millisecond) // past --nb-settle and --nb-delete-grace
	if diff := b.NBMatches(t, prefix, want); diff != "" {
		t.Errorf("while northd was behind LXD's writes, the daemon changed them: %s", diff)
	}
	b.Script(t, "northd-start")
	northdUp = true
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("LXD call: %v", err)
		}
	}
	d.WaitVerified(upd, only(want, prefix, upd), 30*time.Second)
	Eventually(t, 10*time.Second, 50*time.Millisecond, "NB as LXD wants it", func() string { return b.NBMatches(t, prefix, want) })
	if n, _ := d.Metric(`ovnfwd_drift_repaired_total`); n != 0 {
		t.Errorf("ovnfwd repaired %v findings while LXD alone wrote every row (it raced LXD's writes)", n)
	}
}

// The other half of the hold above: LXD 5.0.x creates a forward's record
// before its rows, so the one thing ovnfwd adds to the new row,
// neighbor_responder (--arp-responder auto), needs no wait for northd: it
// goes on while LXD's ovn-nbctl --wait=sb is still blocked on a stopped
// northd, and nothing else of LXD's row changes.
func TestDaemonCompletesTheServersNewRowWhileNorthdIsBehind(t *testing.T) {
	b := Open(t)
	prefix := routeSlate(t, b)
	t.Cleanup(func() { routeSlate(t, b) })
	net := b.Get(t, "TB_NETWORK")
	nbw := b.watchNB(t)
	d := b.StartDaemon(t) // --arp-responder auto
	d.WaitWriter(30 * time.Second)

	const listen = "198.18.60.30"
	ports := []api.NetworkForwardPort{tcp("80", "10.10.10.5", "8080")}
	want := ExpectedLBs(t, prefix, listen, "", ports)
	row := prefix + "-lb-" + listen + "-tcp"
	b.Script(t, "northd-stop")
	northdUp := false
	t.Cleanup(func() {
		if !northdUp {
			b.Script(t, "northd-start")
		}
	})
	created := make(chan error, 1)
	go func() {
		created <- b.LXD.CreateNetworkForward(net, api.NetworkForwardsPost{ListenAddress: listen, NetworkForwardPut: api.NetworkForwardPut{Ports: ports}})
	}()
	atomic := b.Stack() == "lxd" // LXD 5.0.2: one transaction per forward
	if atomic {
		Eventually(t, 10*time.Second, 20*time.Millisecond, "neighbor_responder on LXD's new row while northd is stopped", func() string {
			if _, opts, n := nbw.row(row); n != 1 || opts["neighbor_responder"] != "all" {
				return fmt.Sprintf("%d rows, options %v", n, opts)
			}
			return ""
		})
		if diff := b.NBMatches(t, prefix, want); diff != "" {
			t.Errorf("LXD's new row changed beyond its options while northd was stopped: %s", diff)
		}
		select {
		case err := <-created:
			t.Fatalf("LXD's create returned (%v) before northd was back: the option did not have to beat it", err)
		default:
		}
	}
	b.Script(t, "northd-start")
	northdUp = true
	if err := <-created; err != nil {
		t.Fatalf("LXD create: %v", err)
	}
	d.WaitState(listen, "ok", 30*time.Second)
	if _, opts, n := nbw.row(row); n != 1 || opts["neighbor_responder"] != "all" {
		t.Errorf("after the create: %d rows, options %v, want one with neighbor_responder=all", n, opts)
	}
	if diff := b.NBMatches(t, prefix, want); diff != "" {
		t.Errorf("after the create: NB differs from LXD: %s", diff)
	}
}

// 200 random forward create/update/delete calls through LXD while ovnfwd
// runs: at the end NB matches LXD exactly, and no name ever had two rows
// (watched continuously through an NB monitor).
func TestDaemonRandomChurn(t *testing.T) {
	b := Open(t)
	prefix := b.CleanSlate(t)
	net := b.Get(t, "TB_NETWORK")
	d := b.StartDaemon(t)

	// Continuous duplicate watch.
	eps, err := ovn.ParseEndpoints(b.Env["OVNFWD_NB"])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := waitCtx(5 * time.Minute)
	defer cancel()
	watch, err := ovn.DialNB(ctx, b.WithTLS(ovn.Config{Endpoints: eps, ReadOnly: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	var mu sync.Mutex
	var dupes []string
	checks := 0
	watch.OnLoadBalancerChange(func(name string) {
		go func() {
			rows := watch.SnapshotFor([]string{name}).LoadBalancers
			mu.Lock()
			defer mu.Unlock()
			checks++
			if len(rows) > 1 {
				dupes = append(dupes, fmt.Sprintf("%s had %d rows", name, len(rows)))
			}
		}()
	})

	rng := rand.New(rand.NewSource(42))
	type fwd struct {
		def   string
		ports []api.NetworkForwardPort
	}
	live := map[string]fwd{}
	randPorts := func() []api.NetworkForwardPort {
		var ps []api.NetworkForwardPort
		if rng.Intn(4) > 0 {
			base := 1000 + rng.Intn(500)*10
			ps = append(ps, tcp(fmt.Sprintf("%d,%d-%d", base, base+2, base+3), fmt.Sprintf("10.10.10.%d", 2+rng.Intn(50)), ""))
		}
		if rng.Intn(2) == 0 {
			ps = append(ps, udp(fmt.Sprint(2000+rng.Intn(100)), fmt.Sprintf("10.10.10.%d", 2+rng.Intn(50)), "53"))
		}
		return ps
	}
	randDefault := func() string {
		if rng.Intn(3) == 0 {
			return fmt.Sprintf("10.10.10.%d", 100+rng.Intn(50))
		}
		return ""
	}
	for i := 0; i < 200; i++ {
		listen := fmt.Sprintf("198.51.100.%d", 100+rng.Intn(40))
		f, exists := live[listen]
		switch {
		case !exists:
			f = fwd{def: randDefault(), ports: randPorts()}
			cfg := map[string]string{}
			if f.def != "" {
				cfg["target_address"] = f.def
			}
			b.CreateForward(t, net, api.NetworkForwardsPost{ListenAddress: listen, NetworkForwardPut: api.NetworkForwardPut{Config: cfg, Ports: f.ports}})
			live[listen] = f
		case rng.Intn(3) == 0:
			b.DeleteForward(t, net, listen)
			delete(live, listen)
		default:
			f = fwd{def: randDefault(), ports: randPorts()}
			cfg := map[string]string{}
			if f.def != "" {
				cfg["target_address"] = f.def
			}
			b.UpdateForward(t, net, listen, api.NetworkForwardPut{Config: cfg, Ports: f.ports})
			live[listen] = f
		}
	}
	want := map[string]map[string]string{}
	for l, f := range live {
		for k, v := range ExpectedLBs(t, prefix, l, f.def, f.ports) {
			want[k] = v
		}
	}
	Eventually(t, 30*time.Second, 50*time.Millisecond, "NB matches LXD after the churn", func() string { return b.NBMatches(t, prefix, want) })
	for l := range live {
		d.WaitVerified(l, only(want, prefix, l), 15*time.Second)
	}
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d live forwards after 200 calls; %d NB change checks", len(live), checks)
	if checks == 0 {
		t.Fatal("the duplicate watch saw no change: it is not watching")
	}
	if len(dupes) > 0 {
		t.Fatalf("a name had two rows at some point: %v", dupes[:min(5, len(dupes))])
	}
	b.CleanSlate(t)
}
