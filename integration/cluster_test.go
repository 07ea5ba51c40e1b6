//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canonical/lxd/shared/api"
)

// The LXD-cluster tests (issue 16): one ovnfwd per member, exactly one of
// them writes NB. They need the cluster bed (TB_MODE=cluster).

// writesTables are the NB tables a writer changes (NB_Global is left out:
// the writer's liveness pings bump nb_cfg there).
var writesTables = map[string][]string{
	"Load_Balancer":  nil,
	"Logical_Router": {"load_balancer"},
	"Logical_Switch": {"load_balancer"},
	"HA_Chassis":     nil,
}

// members starts one daemon per cluster member, as the members run them,
// and waits until all are ready.
func (b *Bed) members(t *testing.T, args ...[]string) []*Daemon {
	t.Helper()
	ds := make([]*Daemon, 3)
	for i := range ds {
		var a []string
		if i < len(args) {
			a = args[i]
		}
		ds[i] = b.SpawnMemberDaemon(t, i+1, a...)
	}
	for _, d := range ds {
		d.WaitReady(60 * time.Second)
	}
	return ds
}

// writer waits until exactly one daemon is the writer and returns its index.
func writer(t *testing.T, ds []*Daemon, among []int, timeout time.Duration) int {
	t.Helper()
	w := -1
	Eventually(t, timeout, 20*time.Millisecond, "exactly one writer", func() string {
		var ws []int
		for _, i := range among {
			if v, err := ds[i].Metric("ovnfwd_writer"); err == nil && v == 1 {
				ws = append(ws, i)
			}
		}
		if len(ws) != 1 {
			return fmt.Sprintf("writers %v", ws)
		}
		w = ws[0]
		return ""
	})
	return w
}

// repaired counts a daemon's "repaired" log lines for a listen address.
func repaired(d *Daemon, listen string) int {
	n := 0
	for _, line := range strings.Split(d.Log(), "\n") {
		if strings.Contains(line, `"msg":"repaired"`) && strings.Contains(line, `"listen":"`+listen+`"`) {
			n++
		}
	}
	return n
}

func memberForward(listen string) api.NetworkForwardsPost {
	return api.NetworkForwardsPost{ListenAddress: listen, NetworkForwardPut: api.NetworkForwardPut{
		Ports: []api.NetworkForwardPort{{Protocol: "tcp", ListenPort: "80", TargetAddress: "10.10.10.50", TargetPort: "8080"}}}}
}

func (d *Daemon) member() (map[string]any, error) {
	_, body, err := d.get("/member")
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(body, &m)
}

// One writer; a forward created through member 2's API is realized once,
// verified on every member, and LXD's copies of its event on every member
// cause no extra write; members learn their chassis from their own OVS and
// publish the pairs in LXD, so HA hygiene needs no --member-chassis although
// the chassis hostnames (host-chN) are not the member names; status names
// the writer.
func TestClusterOneWriterAndEvents(t *testing.T) {
	b := clusterBed(t)
	nb := b.WatchNB(t, writesTables)
	ds := b.members(t)
	w := writer(t, ds, []int{0, 1, 2}, 15*time.Second)
	t.Logf("writer: member m%d", w+1)

	// Member → chassis, learned and published.
	for n := 1; n <= 3; n++ {
		m, _, err := b.member(t, 1).GetClusterMember(fmt.Sprintf("m%d", n))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := m.Config["user.ovnfwd.chassis"], fmt.Sprintf("ch%d", n); got != want {
			t.Errorf("m%d published chassis %q, want %q (from its local OVS)", n, got, want)
		}
		mi, err := ds[n-1].member()
		if err != nil || mi["member"] != fmt.Sprintf("m%d", n) || mi["writer"] != (n-1 == w) {
			t.Errorf("/member of m%d: %v %v", n, mi, err)
		}
	}
	fs, err := ds[w].findings()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Category == "ha-missing" || f.Category == "ha-stale" {
			t.Errorf("HA hygiene without --member-chassis: %s: %s", f.Category, f.Detail)
		}
	}

	const listen = "198.51.100.201"
	name := b.Prefix(t) + "-lb-" + listen + "-tcp"
	before := nb.Touched(name)
	if err := b.member(t, 2).CreateNetworkForward(b.Env["TB_NETWORK"], memberForward(listen)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b.member(t, 2).DeleteNetworkForward(b.Env["TB_NETWORK"], listen)
		// This cleanup runs while the daemons still do. Incus deletes the
		// row, then its record more than the default --nb-settle (50 ms)
		// later: the writer re-creates the row in between and deletes it
		// again on the deletion event. Wait for that, or the daemons stop
		// first and the row outlives the test (the next test's writer
		// then deletes it, an NB write it does not expect).
		Eventually(t, 15*time.Second, 100*time.Millisecond, "no NB row "+name+" after the delete", func() string {
			if n := len(b.LBsByName(t)[name]); n != 0 {
				return fmt.Sprintf("%d rows", n)
			}
			return ""
		})
	})
	for i, d := range ds {
		took := d.WaitState(listen, "ok", 30*time.Second)
		t.Logf("m%d: forward verified ok %v after the create", i+1, took)
	}
	time.Sleep(2 * time.Second) // copies of the event, settle, retries
	txns := nb.Touched(name) - before
	var writes []int
	for _, d := range ds {
		writes = append(writes, repaired(d, listen))
	}
	t.Logf("NB transactions on %s: %d (LXD's own and ovnfwd's); ovnfwd repairs per member: %v", name, txns, writes)
	for i, n := range writes {
		if i != w && n != 0 {
			t.Errorf("standby m%d wrote the forward %d times", i+1, n)
		}
	}
	// LXD 5.0.2 writes the row in one transaction; the writer adds
	// neighbor_responder=all (auto policy) in one more, whatever the number
	// of event copies.
	if writes[w] > 1 || txns > 2 {
		t.Errorf("one forward cost %d NB transactions and %d writer repairs, want ≤2 and ≤1", txns, writes[w])
	}

	// status names the writer.
	args := []string{"status", "--format", "json"}
	for _, d := range ds {
		args = append(args, "--daemon", d.Addr)
	}
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = b.BedEnv()
	out, _ := cmd.Output()
	var st struct {
		Writers []string `json:"writers"`
		Members []struct {
			Member string `json:"member"`
			Writer bool   `json:"writer"`
		} `json:"members"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("m%d", w+1); !slices.Equal(st.Writers, []string{want}) {
		t.Errorf("status writers %v, want [%s]", st.Writers, want)
	}

	// Deleting the forward: LXD and Incus delete the row first and their
	// own record moments later, so for a moment NB lacks the row of a
	// forward the server still lists. The writer must not re-create it in
	// that window (a resurrected forward, deleted again on the event).
	before = nb.Touched(name)
	if err := b.member(t, 2).DeleteNetworkForward(b.Env["TB_NETWORK"], listen); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 15*time.Second, 20*time.Millisecond, "no NB row "+name+" after the delete", func() string {
		if n := len(b.LBsByName(t)[name]); n != 0 {
			return fmt.Sprintf("%d rows", n)
		}
		return ""
	})
	time.Sleep(3 * time.Second) // past the deletion grace: a late re-creation shows
	if n := len(b.LBsByName(t)[name]); n != 0 {
		t.Errorf("%d rows %s 3 s after the forward's deletion", n, name)
	}
	for i, d := range ds {
		if n := repaired(d, listen); n != writes[i] {
			t.Errorf("m%d repaired the forward %d times around its deletion:\n%s", i+1, n-writes[i], grepLog(d, listen))
		}
	}
	var lags []string
	for i, d := range ds {
		for _, line := range strings.Split(grepLog(d, listen), "\n") {
			var l struct {
				Msg   string  `json:"msg"`
				After float64 `json:"after"`
			}
			if json.Unmarshal([]byte(line), &l) == nil && strings.HasPrefix(l.Msg, "the server announced a forward's deletion") {
				lags = append(lags, fmt.Sprintf("m%d %v", i+1, time.Duration(l.After*float64(time.Second)).Round(time.Millisecond)))
			}
		}
	}
	t.Logf("deletion: %d NB transactions on %s; the deletion event came after the row's deletion by: %s", nb.Touched(name)-before, name, strings.Join(lags, ", "))
}

// grepLog returns a daemon's log lines that mention s.
func grepLog(d *Daemon, s string) string {
	var out []string
	for _, line := range strings.Split(d.Log(), "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// Three members with three --arp-responder policies: NB converges to the
// writer's, then nothing writes during 30 s of quiet (two daemons with
// different policies used to rewrite the rows for ever), and the writer
// reports the other members' mismatch.
func TestClusterPolicyMismatchConverges(t *testing.T) {
	b := clusterBed(t)
	const listen = "198.51.100.202"
	if err := b.member(t, 1).CreateNetworkForward(b.Env["TB_NETWORK"], memberForward(listen)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.member(t, 1).DeleteNetworkForward(b.Env["TB_NETWORK"], listen) })
	policies := []string{"all", "off", "unmanaged"}
	ds := b.members(t, []string{"--arp-responder", policies[0]}, []string{"--arp-responder", policies[1]}, []string{"--arp-responder", policies[2]})
	w := writer(t, ds, []int{0, 1, 2}, 15*time.Second)
	t.Logf("writer: m%d with --arp-responder %s", w+1, policies[w])
	name := b.Prefix(t) + "-lb-" + listen + "-tcp"
	want := map[string]string{"all": "all", "off": "", "unmanaged": ""}[policies[w]]
	ds[w].WaitState(listen, "ok", 30*time.Second)
	Eventually(t, 10*time.Second, 100*time.Millisecond, "NB has the writer's neighbor_responder", func() string {
		got := strings.Trim(strings.TrimSpace(b.NBCtl(t, "--if-exists", "get", "Load_Balancer", name, "options:neighbor_responder")), `"`)
		if got != want && !(policies[w] == "unmanaged") {
			return fmt.Sprintf("neighbor_responder=%q, want %q", got, want)
		}
		return ""
	})
	nb := b.WatchNB(t, writesTables)
	time.Sleep(30 * time.Second)
	if n := nb.Count(); n != 0 {
		t.Errorf("%d NB transactions during 30 s of quiet with three policies, want 0", n)
	}
	fs, err := ds[w].findings()
	if err != nil {
		t.Fatal(err)
	}
	var mismatched []string
	for _, f := range fs {
		if f.Category == "member-config-mismatch" {
			for n := 1; n <= 3; n++ {
				if strings.Contains(f.Detail, fmt.Sprintf("LXD member m%d:", n)) {
					mismatched = append(mismatched, fmt.Sprintf("m%d", n))
				}
			}
		}
	}
	slices.Sort(mismatched)
	var others []string
	for i := range ds {
		if i != w {
			others = append(others, fmt.Sprintf("m%d", i+1))
		}
	}
	if !slices.Equal(mismatched, others) {
		t.Errorf("member-config-mismatch names %v, want %v (findings %+v)", mismatched, others, fs)
	}
}

// kill -9 of the writer: another member writes within 3 s, and drift made
// 0.5 s after the kill is repaired by it.
func TestClusterWriterKillTakeover(t *testing.T) {
	b := clusterBed(t)
	const listen = "198.51.100.203"
	if err := b.member(t, 3).CreateNetworkForward(b.Env["TB_NETWORK"], memberForward(listen)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.member(t, 3).DeleteNetworkForward(b.Env["TB_NETWORK"], listen) })
	ds := b.members(t)
	w := writer(t, ds, []int{0, 1, 2}, 15*time.Second)
	for _, d := range ds {
		d.WaitState(listen, "ok", 30*time.Second)
	}
	name := b.Prefix(t) + "-lb-" + listen + "-tcp"
	var rest []int
	for i := range ds {
		if i != w {
			rest = append(rest, i)
		}
	}
	// Another member's writer metric, polled every 10 ms from the kill on.
	took := make(chan time.Duration, 1)
	killed := time.Now()
	go func() {
		for time.Since(killed) < 5*time.Second {
			for _, i := range rest {
				if v, err := ds[i].Metric("ovnfwd_writer"); err == nil && v == 1 {
					took <- time.Since(killed)
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		took <- -1
	}()
	ds[w].Kill()
	time.Sleep(500 * time.Millisecond)
	b.NBCtl(t, "--if-exists", "lb-del", name)
	drift := time.Now()
	nw := writer(t, ds, rest, 3*time.Second)
	takeover := <-took
	if takeover < 0 {
		t.Fatal("no member became the writer within 5 s of the kill")
	}
	Eventually(t, 10*time.Second, 20*time.Millisecond, "the new writer repairs the drift", func() string {
		if len(b.LBsByName(t)[name]) != 1 {
			return "row still missing"
		}
		return ""
	})
	repairedAfter := time.Since(drift)
	// Its log line follows the transaction's reply.
	Eventually(t, 5*time.Second, 20*time.Millisecond, "the new writer logs the repair", func() string {
		if repaired(ds[nw], listen) == 0 {
			return fmt.Sprintf("the row came back, but the new writer m%d logged no repair", nw+1)
		}
		return ""
	})
	for _, i := range rest {
		if i != nw && repaired(ds[i], listen) != 0 {
			t.Errorf("standby m%d repaired too", i+1)
		}
	}
	t.Logf("kill -9 of writer m%d: m%d is the writer %v after the kill; drift made 0.5 s after the kill repaired %v after it",
		w+1, nw+1, takeover.Round(time.Millisecond), repairedAfter.Round(time.Millisecond))
	if takeover > 3*time.Second {
		t.Errorf("takeover took %v, want ≤ 3 s", takeover)
	}
}

// Every LXD daemon of the cluster restarts while ovnfwd runs: nothing is
// deleted meanwhile, and every member reconverges.
func TestClusterLXDRestart(t *testing.T) {
	b := clusterBed(t)
	listens := []string{"198.51.100.204", "198.51.100.205"}
	for _, l := range listens {
		if err := b.member(t, 2).CreateNetworkForward(b.Env["TB_NETWORK"], memberForward(l)); err != nil {
			t.Fatal(err)
		}
		l := l
		t.Cleanup(func() { _ = b.member(t, 2).DeleteNetworkForward(b.Env["TB_NETWORK"], l) })
	}
	ds := b.members(t)
	writer(t, ds, []int{0, 1, 2}, 15*time.Second)
	for _, d := range ds {
		for _, l := range listens {
			d.WaitState(l, "ok", 30*time.Second)
		}
	}
	uuids := func() map[string]string {
		out := map[string]string{}
		for name, rows := range b.LBsByName(t) {
			if len(rows) == 1 {
				out[name] = rows[0].UUID
			}
		}
		return out
	}
	before := uuids()
	b.Script(t, "lxd-stop")
	time.Sleep(3 * time.Second)
	if during := uuids(); len(during) != len(before) {
		t.Errorf("rows while LXD was down: %d, before %d", len(during), len(before))
	}
	b.Script(t, "lxd-start")
	for _, d := range ds {
		d.WaitReady(90 * time.Second)
		for _, l := range listens {
			d.WaitState(l, "ok", 60*time.Second)
		}
	}
	after := uuids()
	for name, u := range before {
		if after[name] != u {
			t.Errorf("row %s: UUID %s before the restart, %q after (deleted or rewritten)", name, u, after[name])
		}
	}
}
