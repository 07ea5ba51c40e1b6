//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/canonical/lxd/shared/api"
)

// FailoverRecord is one entry of the daemon's /failovers.
type FailoverRecord struct {
	Network    string        `json:"network"`
	Kind       string        `json:"kind"`
	From       string        `json:"from"`
	To         string        `json:"to"`
	At         time.Time     `json:"at"`
	Unclaimed  time.Duration `json:"unclaimed_ns"`
	Reverified time.Duration `json:"reverified_ns"`
	Stable     time.Duration `json:"reverified_after_stable_ns"`
	Forwards   int           `json:"forwards"`
}

func (d *Daemon) failovers() ([]FailoverRecord, error) {
	_, body, err := d.get("/failovers")
	if err != nil {
		return nil, err
	}
	var out []FailoverRecord
	return out, json.Unmarshal(body, &out)
}

// Finding is one entry of the daemon's /findings (the check JSON shape).
type Finding struct {
	Network  string `json:"network"`
	Category string `json:"category"`
	Severity string `json:"severity"`
	Detail   string `json:"detail"`
}

func (d *Daemon) findings() ([]Finding, error) {
	_, body, err := d.get("/findings")
	if err != nil {
		return nil, err
	}
	var out []Finding
	return out, json.Unmarshal(body, &out)
}

// waitFailover waits for a re-verified claim change to chassis to.
func (d *Daemon) waitFailover(t *testing.T, after time.Time, to string, timeout time.Duration) FailoverRecord {
	t.Helper()
	var rec FailoverRecord
	Eventually(t, timeout, 20*time.Millisecond, "failover to "+to+" recorded and re-verified", func() string {
		fs, err := d.failovers()
		if err != nil {
			return err.Error()
		}
		for _, f := range fs {
			if f.To == to && f.At.After(after) && f.Reverified > 0 {
				rec = f
				return ""
			}
		}
		return fmt.Sprintf("records %+v", fs)
	})
	return rec
}

func (d *Daemon) waitFinding(t *testing.T, category, contains string, timeout time.Duration) time.Duration {
	t.Helper()
	return Eventually(t, timeout, 50*time.Millisecond, "finding "+category+" "+contains, func() string {
		fs, err := d.findings()
		if err != nil {
			return err.Error()
		}
		for _, f := range fs {
			if f.Category == category && strings.Contains(f.Detail, contains) {
				return ""
			}
		}
		return fmt.Sprintf("findings %+v", fs)
	})
}

// seedFailoverForwards creates n forwards through LXD and waits until the
// daemon verified them all.
func seedFailoverForwards(t *testing.T, b *Bed, d *Daemon, n int) []string {
	t.Helper()
	net := b.Get(t, "TB_NETWORK")
	var listens []string
	for i := 0; i < n; i++ {
		l := fmt.Sprintf("198.51.100.%d", 150+i)
		b.CreateForward(t, net, api.NetworkForwardsPost{ListenAddress: l,
			NetworkForwardPut: api.NetworkForwardPut{Ports: []api.NetworkForwardPort{tcp("80", "10.10.10.5", "")}}})
		listens = append(listens, l)
	}
	for _, l := range listens {
		d.WaitState(l, "ok", 15*time.Second)
	}
	return listens
}

func allOK(t *testing.T, d *Daemon, listens []string) {
	t.Helper()
	for _, l := range listens {
		d.WaitState(l, "ok", 15*time.Second)
	}
}

// kill -9 of the active chassis: OVN moves the claim, ovnfwd records the
// failover, re-verifies every forward on the new chassis and flags the dead
// chassis; when the old chassis returns (pre-emption) the claim and the
// verification follow it back.
func TestFailoverKillAndPreemption(t *testing.T) {
	b := Open(t)
	prefix := b.CleanSlate(t)
	t.Cleanup(func() { b.CleanSlate(t) })
	d := b.StartDaemon(t, "--liveness-interval", "1s", "--liveness-timeout", "1s")
	listens := seedFailoverForwards(t, b, d, 10)

	active := b.GatewayChassis(t, prefix)
	n := strings.TrimPrefix(active, "ch")
	t.Cleanup(func() { b.Script(t, "chassis-start", n); b.WaitLXDCluster(t) })
	killed := time.Now()
	b.Script(t, "chassis-kill", n)
	var next string
	Eventually(t, 15*time.Second, 20*time.Millisecond, "OVN moves the claim", func() string {
		if next = b.GatewayChassis(t, prefix); next == "" || next == active {
			return "claim " + next
		}
		return ""
	})
	rec := d.waitFailover(t, killed, next, 20*time.Second)
	allOK(t, d, listens)
	t.Logf("kill -9 %s: claim moved to %s; ovnfwd re-verified %d forwards %v after the SB claim change, %v after it was stable (%v unclaimed)",
		active, next, rec.Forwards, rec.Reverified.Round(time.Millisecond), rec.Stable.Round(time.Millisecond), rec.Unclaimed.Round(time.Millisecond))
	if rec.Forwards != len(listens) {
		t.Errorf("re-verified %d forwards, want %d", rec.Forwards, len(listens))
	}
	d.waitFinding(t, "chassis-unresponsive", active, 15*time.Second)

	restarted := time.Now()
	b.Script(t, "chassis-start", n)
	rec = d.waitFailover(t, restarted, active, 30*time.Second)
	allOK(t, d, listens)
	t.Logf("pre-emption: claim back on %s; re-verified %d forwards %v after the claim change", active, rec.Forwards, rec.Reverified.Round(time.Millisecond))
}

// Graceful stop of the active chassis (ovn-controller exits and deletes
// its rows): same outcome.
func TestFailoverGracefulStop(t *testing.T) {
	b := Open(t)
	prefix := b.CleanSlate(t)
	t.Cleanup(func() { b.CleanSlate(t) })
	d := b.StartDaemon(t, "--liveness-interval", "1s", "--liveness-timeout", "1s")
	listens := seedFailoverForwards(t, b, d, 5)
	active := b.GatewayChassis(t, prefix)
	n := strings.TrimPrefix(active, "ch")
	t.Cleanup(func() { b.Script(t, "chassis-start", n); b.WaitLXDCluster(t) })
	stopped := time.Now()
	b.Script(t, "chassis-stop", n)
	var next string
	Eventually(t, 15*time.Second, 20*time.Millisecond, "OVN moves the claim", func() string {
		if next = b.GatewayChassis(t, prefix); next == "" || next == active {
			return "claim " + next
		}
		return ""
	})
	rec := d.waitFailover(t, stopped, next, 20*time.Second)
	allOK(t, d, listens)
	t.Logf("graceful stop of %s: claim to %s, %d forwards re-verified %v after the claim change", active, next, rec.Forwards, rec.Reverified.Round(time.Millisecond))
	b.Script(t, "chassis-start", n)
	d.waitFailover(t, stopped, active, 30*time.Second)
	allOK(t, d, listens)
}

// haGroup returns the group's entries as "chassis=priority", sorted.
func haGroup(t *testing.T, b *Bed, group string) []string {
	t.Helper()
	refs := strings.Fields(b.NBCtl(t, "--bare", "--columns=ha_chassis", "find", "HA_Chassis_Group", "name="+group))
	var entries []string
	for _, u := range refs {
		f := strings.Fields(b.NBCtl(t, "--bare", "--columns=chassis_name,priority", "list", "HA_Chassis", u))
		if len(f) != 2 {
			t.Fatalf("HA_Chassis %s: %v", u, f)
		}
		entries = append(entries, f[0]+"="+f[1])
	}
	sort.Strings(entries)
	return entries
}

func ovnfwdCmd(t *testing.T, b *Bed, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = b.OperatorEnv()
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// A stale entry (a chassis that does not exist) and a missing member in the
// HA group are found by check and fixed by repair; the result equals what
// LXD wrote for the same membership.
func TestHAGroupHygiene(t *testing.T) {
	b := Open(t)
	group := b.Get(t, "TB_HA_GROUP")
	lxdWrote := haGroup(t, b, group)
	t.Cleanup(func() {
		// Put back what LXD and the bed wrote, whatever the test left.
		for _, e := range haGroup(t, b, group) {
			ch, _, _ := strings.Cut(e, "=")
			b.NBCtl(t, "ha-chassis-group-remove-chassis", group, ch)
		}
		for _, e := range lxdWrote {
			ch, prio, _ := strings.Cut(e, "=")
			b.NBCtl(t, "ha-chassis-group-add-chassis", group, ch, prio)
		}
	})
	// ch1 is LXD's own member's chassis: remove it; add a chassis that does not exist.
	b.NBCtl(t, "ha-chassis-group-remove-chassis", group, "ch1")
	b.NBCtl(t, "ha-chassis-group-add-chassis", group, "ghost", "500")

	out, code := ovnfwdCmd(t, b, "check", "--deep", "--format", "json")
	if code != 1 {
		t.Fatalf("check exit %d, want 1:\n%s", code, out)
	}
	var rep struct {
		Findings []Finding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	cats := map[string]string{}
	for _, f := range rep.Findings {
		cats[f.Category] += f.Detail + "; "
	}
	if !strings.Contains(cats["ha-stale"], "ghost") || !strings.Contains(cats["ha-missing"], "ch1") {
		t.Fatalf("check findings %v: want ha-stale naming ghost and ha-missing naming ch1", cats)
	}
	// One contract (issue 12): check without --deep reports the same HA
	// changes repair makes, with the same exit code.
	out, code = ovnfwdCmd(t, b, "check", "--format", "json")
	if code != 1 || !strings.Contains(out, `"ha-stale"`) || !strings.Contains(out, `"ha-missing"`) {
		t.Fatalf("check without --deep: exit %d, want 1 with ha-stale and ha-missing:\n%s", code, out)
	}

	if out, code := ovnfwdCmd(t, b, "repair", "--yes", "--format", "json"); code != 0 {
		t.Fatalf("repair exit %d:\n%s", code, out)
	}
	if got := haGroup(t, b, group); fmt.Sprint(got) != fmt.Sprint(lxdWrote) {
		t.Fatalf("group after repair %v, want what LXD (and the bed) wrote: %v", got, lxdWrote)
	}
	if out, code := ovnfwdCmd(t, b, "check", "--deep", "--format", "json"); code != 0 {
		t.Fatalf("check after repair exit %d:\n%s", code, out)
	}
}

// BFD blocked between the gateways (every underlay link cut): nobody claims
// the gateway, and the dark-everywhere finding appears within a few seconds.
func TestDarkEverywhere(t *testing.T) {
	b := Open(t)
	prefix := b.Prefix(t)
	b.keepHAGroup(t)
	d := b.StartDaemon(t)
	for _, n := range []string{"1", "2", "3"} {
		n := n
		t.Cleanup(func() { b.Script(t, "underlay-restore", n) })
	}
	cut := time.Now()
	for _, n := range []string{"1", "2", "3"} {
		b.Script(t, "underlay-cut", n)
	}
	Eventually(t, 20*time.Second, 50*time.Millisecond, "nobody claims the gateway", func() string {
		if c := b.GatewayChassis(t, prefix); c != "" {
			return "still claimed by " + c
		}
		return ""
	})
	unclaimed := time.Since(cut)
	took := d.waitFinding(t, "dark-everywhere", prefix, 15*time.Second)
	t.Logf("underlay cut: claim gone after %v; dark-everywhere reported %v later", unclaimed.Round(time.Millisecond), took.Round(time.Millisecond))
	for _, n := range []string{"1", "2", "3"} {
		b.Script(t, "underlay-restore", n)
	}
	Eventually(t, 30*time.Second, 50*time.Millisecond, "a gateway claims again", func() string {
		if b.GatewayChassis(t, prefix) == "" {
			return "unclaimed"
		}
		return ""
	})
}

// keepHAGroup puts the network's HA chassis group back as it is now when
// the test ends. On the cluster bed the underlay is also the LXD cluster's
// network: a test that cuts it leaves LXD without its database for tens of
// seconds, during which LXD 5.0.2 was seen to rewrite its members' entries
// all with the same priority (ovnfwd reports that as ha-priority). The
// cleanup first waits until every member is fully operational again.
func (b *Bed) keepHAGroup(t *testing.T) {
	t.Helper()
	group := b.Get(t, "TB_HA_GROUP")
	was := haGroup(t, b, group)
	t.Cleanup(func() {
		b.WaitLXDCluster(t)
		if now := haGroup(t, b, group); fmt.Sprint(now) != fmt.Sprint(was) {
			t.Logf("HA group %s: %v at the end, put back as it was: %v", group, now, was)
			for _, e := range now {
				ch, _, _ := strings.Cut(e, "=")
				b.NBCtl(t, "ha-chassis-group-remove-chassis", group, ch)
			}
			for _, e := range was {
				ch, prio, _ := strings.Cut(e, "=")
				b.NBCtl(t, "ha-chassis-group-add-chassis", group, ch, prio)
			}
		}
	})
}
