//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// What `ovnfwd status` reads from the daemons (issues 5 and 6): the last
// gateway failover of each network, merged across the members' daemons,
// and per member its chassis, what it announces and its BGP sessions. A
// daemon that does not answer is reported and changes nothing else.
// Listen addresses: 198.18.65.0/24.

// daemonStatus is the part of status's JSON these tests read.
type daemonStatus struct {
	Networks []struct {
		Name         string `json:"name"`
		LastFailover *struct {
			Kind       string    `json:"kind"`
			From       string    `json:"from"`
			Previous   string    `json:"previous"`
			To         string    `json:"to"`
			At         time.Time `json:"at"`
			Reverified bool      `json:"reverified"`
			Forwards   int       `json:"forwards"`
			SeenBy     []string  `json:"seen_by"`
		} `json:"last_failover"`
		HygieneFindings []struct {
			Category string   `json:"category"`
			Chassis  string   `json:"chassis"`
			Sources  []string `json:"sources"`
		} `json:"hygiene_findings"`
	} `json:"networks"`
	Members []struct {
		Daemon    string `json:"daemon"`
		Reachable bool   `json:"reachable"`
		Error     string `json:"error"`
		Ready     bool   `json:"ready"`
		Chassis   string `json:"chassis"`
		BGP       bool   `json:"bgp"`
		Routes    int    `json:"routes"`
		Networks  []struct {
			Network   string `json:"network"`
			Announced bool   `json:"announced"`
			Routes    int    `json:"routes"`
		} `json:"networks"`
		Sessions []struct {
			Peer  string `json:"peer"`
			State string `json:"state"`
		} `json:"sessions"`
	} `json:"members"`
	Summary struct {
		Daemons            int `json:"daemons"`
		DaemonsUnreachable int `json:"daemons_unreachable"`
	} `json:"summary"`
}

// statusWith runs status for the bed's network with extra flags and
// decodes its JSON; it fails the test on exit code 2 or bad JSON.
func (b *Bed) statusWith(t *testing.T, extra ...string) (daemonStatus, int) {
	t.Helper()
	args := append([]string{"status", "--network", b.Get(t, "TB_NETWORK"), "--format", "json"}, extra...)
	r := b.ovnfwd(t, args...)
	var st daemonStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || r.code == 2 || len(st.Networks) != 1 {
		t.Fatalf("ovnfwd %s: exit %d, %v\n%s\n%s", strings.Join(args, " "), r.code, err, r.stdout, r.stderr)
	}
	return st, r.code
}

// Kill -9 the active chassis with one ovnfwd daemon per chassis running:
// status, asked of all three daemons and of one that does not exist,
// shows the failover once (seen by all three), names the chassis it left
// and the one that took it, and shows each member's chassis, what it
// announces and its session; the missing daemon is reported unreachable.
// Then the chassis returns (pre-emption), and status with only an
// unreachable daemon exits exactly as status without daemons.
func TestStatusDaemonFailover(t *testing.T) {
	b := Open(t)
	prefix := routeSlate(t, b)
	net := b.Get(t, "TB_NETWORK")
	t.Cleanup(func() { routeSlate(t, b) })
	vips := []string{"198.18.65.1", "198.18.65.2"}
	createForwards(t, b, net, vips...)
	// Liveness pings every second, so the daemons find the killed chassis
	// unresponsive within seconds.
	_, ms := startMembers(t, b, "--liveness-interval", "1s", "--liveness-timeout", "1s")
	h := holder(t, b, prefix, ms)
	var daemonArgs []string
	for _, m := range ms {
		daemonArgs = append(daemonArgs, "--daemon", m.d.Addr)
	}
	for _, m := range ms {
		for _, v := range vips {
			m.d.WaitState(v, "ok", 20*time.Second)
		}
	}

	// Kill -9 the active chassis; OVN moves the claim.
	killed := time.Now()
	startChassis := b.KillChassis(t, h.n)
	var next string
	Eventually(t, 20*time.Second, 20*time.Millisecond, "OVN moves the claim", func() string {
		if next = b.GatewayChassis(t, prefix); next == "" || next == h.chassis() {
			return "claim " + next
		}
		return ""
	})
	// Every daemon records the change and re-verifies the forwards.
	for _, m := range ms {
		m.d.waitFailover(t, killed, next, 30*time.Second)
	}
	// ... and finds the killed chassis unresponsive.
	for _, m := range ms {
		m.d.waitFinding(t, "chassis-unresponsive", h.chassis(), 20*time.Second)
	}

	// status with the three daemons and one that does not exist. The new
	// holder's announcement is checked in a loop (route state follows the
	// claim on its own); everything else must hold in that same report.
	args := append(slices.Clone(daemonArgs), "--daemon", "127.0.0.1:1")
	// On the cluster bed, as an operator on the new holder's member: the
	// killed chassis's member is cut off its cluster (on Incus the gateway
	// starts on ch1, member 1's, whose LXD answers the one-shot commands).
	ob := b.OnMemberOf(t, next)
	var st daemonStatus
	var code int
	Eventually(t, 15*time.Second, 200*time.Millisecond, "status shows the new holder announcing", func() string {
		st, code = ob.statusWith(t, args...)
		for i, m := range ms {
			if m.chassis() != next {
				continue
			}
			if i >= len(st.Members) || len(st.Members[i].Networks) != 1 || !st.Members[i].Networks[0].Announced ||
				st.Members[i].Networks[0].Routes != len(vips) {
				return fmt.Sprintf("members %+v", st.Members)
			}
		}
		return ""
	})
	n := st.Networks[0]
	lf := n.LastFailover
	if lf == nil {
		t.Fatalf("status (exit %d) has no last_failover for %s: %+v", code, net, n)
	}
	left := lf.From
	if left == "" {
		left = lf.Previous // taken after a stable loss
	}
	if left != h.chassis() || lf.To != next || !lf.At.After(killed) || !lf.Reverified || lf.Forwards != len(vips) {
		t.Errorf("last_failover %+v: want %s → %s after %v, re-verified with %d forwards", *lf, h.chassis(), next, killed, len(vips))
	}
	var addrs []string
	for _, m := range ms {
		addrs = append(addrs, m.d.Addr)
	}
	seen := slices.Sorted(slices.Values(lf.SeenBy))
	if want := slices.Sorted(slices.Values(addrs)); !slices.Equal(seen, want) {
		t.Errorf("last_failover seen by %q, want each daemon once: %q", lf.SeenBy, want)
	}
	if len(st.Members) != 4 || st.Summary.Daemons != 4 || st.Summary.DaemonsUnreachable != 1 {
		t.Fatalf("members %+v, summary %+v", st.Members, st.Summary)
	}
	for i, m := range ms {
		sm := st.Members[i]
		if sm.Daemon != m.d.Addr || !sm.Reachable || !sm.Ready || sm.Chassis != m.chassis() || !sm.BGP ||
			len(sm.Sessions) != 1 || sm.Sessions[0].State != "established" || len(sm.Networks) != 1 {
			t.Errorf("member %d (%s): %+v", i, m.chassis(), sm)
			continue
		}
		if want := m.chassis() == next; sm.Networks[0].Announced != want || (want && sm.Routes != len(vips)) || (!want && sm.Routes != 0) {
			t.Errorf("member %s announces %v (%d routes); holder %s", m.chassis(), sm.Networks[0].Announced, sm.Routes, next)
		}
	}
	var unresponsive []string
	for _, f := range n.HygieneFindings {
		if f.Category == "chassis-unresponsive" && f.Chassis == h.chassis() {
			unresponsive = slices.Sorted(slices.Values(f.Sources))
		}
	}
	if want := slices.Sorted(slices.Values(addrs)); !slices.Equal(unresponsive, want) {
		t.Errorf("hygiene findings %+v: want chassis-unresponsive of %s, reported by every daemon %q", n.HygieneFindings, h.chassis(), want)
	}
	if u := st.Members[3]; u.Reachable || !strings.HasPrefix(u.Error, "unreachable: ") || !strings.Contains(u.Error, "127.0.0.1:1") {
		t.Errorf("missing daemon: %+v", u)
	}
	t.Logf("kill -9 %s: status (exit %d) shows the failover %s → %s (kind %s) seen by %d daemons, and %s unresponsive per %d daemons",
		h.chassis(), code, left, lf.To, lf.Kind, len(lf.SeenBy), h.chassis(), len(unresponsive))
	table := ob.ovnfwd(t, append([]string{"status", "--network", net, "--format", "table"}, args...)...)
	if !strings.Contains(table.stdout, "last failover") || !strings.Contains(table.stdout, "127.0.0.1:1") {
		t.Errorf("status table (exit %d) lacks the failover or the unreachable daemon:\n%s%s", table.code, table.stdout, table.stderr)
	}
	t.Logf("status table:\n%s", table.stdout)

	// explain shows the same failover beside the active chassis.
	xr := ob.ovnfwd(t, append([]string{"explain", net, vips[0], "--format", "json"}, args...)...)
	var x struct {
		LastFailover *struct {
			To     string   `json:"to"`
			SeenBy []string `json:"seen_by"`
		} `json:"last_failover"`
		Steps []struct {
			ID       string   `json:"id"`
			Status   string   `json:"status"`
			Evidence []string `json:"evidence"`
		} `json:"steps"`
		Daemons []struct {
			Reachable bool `json:"reachable"`
		} `json:"daemons"`
	}
	if err := json.Unmarshal([]byte(xr.stdout), &x); err != nil || xr.code == 2 || x.LastFailover == nil || x.LastFailover.To != next ||
		len(x.LastFailover.SeenBy) != len(ms) || len(x.Daemons) != 4 || x.Daemons[3].Reachable {
		t.Fatalf("explain: exit %d, %v\n%s\n%s", xr.code, err, xr.stdout, xr.stderr)
	}
	for _, s := range x.Steps {
		if s.ID != "active-chassis" {
			continue
		}
		ev := strings.Join(s.Evidence, "\n")
		for _, want := range []string{"claimed by " + next, "last gateway change, ", "→ " + next, "daemon 127.0.0.1:1 unreachable: ", "liveness: no daemon finds " + next + " unresponsive"} {
			if !strings.Contains(ev, want) {
				t.Errorf("explain step 9 (%s) lacks %q:\n%s", s.Status, want, ev)
			}
		}
		t.Logf("explain step 9 (%s):\n%s", s.Status, ev)
	}

	// Restore: the chassis returns and takes the gateway back.
	back := time.Now()
	startChassis()
	for _, m := range ms {
		m.d.waitFailover(t, back, h.chassis(), 40*time.Second)
	}
	for _, v := range vips {
		h.d.WaitState(v, "ok", 20*time.Second)
	}
	b.WaitLXDCluster(t) // the restarted chassis's member rejoins its cluster

	// Only an unreachable daemon: the same exit code as without daemons,
	// and the report says why.
	var plain int
	Eventually(t, 30*time.Second, 200*time.Millisecond, "status exits 0 on the restored bed", func() string {
		if _, plain = b.statusWith(t, "--no-daemon"); plain != 0 {
			return fmt.Sprintf("exit %d", plain)
		}
		return ""
	})
	start := time.Now()
	un, unCode := b.statusWith(t, "--daemon", "127.0.0.1:1")
	if unCode != plain {
		t.Errorf("status --daemon 127.0.0.1:1 exit %d, without daemons %d", unCode, plain)
	}
	if len(un.Members) != 1 || un.Members[0].Reachable || un.Members[0].Error != "unreachable: dial tcp 127.0.0.1:1: connect: connection refused" ||
		un.Networks[0].LastFailover != nil || un.Summary.DaemonsUnreachable != 1 {
		t.Errorf("status --daemon 127.0.0.1:1: members %+v, last failover %+v, summary %+v", un.Members, un.Networks[0].LastFailover, un.Summary)
	}
	t.Logf("status --daemon 127.0.0.1:1: exit %d in %v, %s", unCode, time.Since(start).Round(time.Millisecond), un.Members[0].Error)
}
