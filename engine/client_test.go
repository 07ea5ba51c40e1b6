package engine

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovnfwd/ovnfwd/engine/enginetest"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

func rec(port, kind, from, to string, at time.Time) FailoverRecord {
	return FailoverRecord{Network: "default/ovn0", Port: port, Kind: kind, From: from, To: to, At: at, Confirmed: at.Add(time.Second)}
}

func TestMergeFailovers(t *testing.T) {
	t0 := fxT0
	a := rec(enginetest.FxCR, "failover", "ch1", "ch2", t0)
	aLate := rec(enginetest.FxCR, "failover", "ch1", "ch2", t0.Add(40*time.Millisecond))
	aLate.Reverified, aLate.Forwards = 500*time.Millisecond, 3
	back := rec(enginetest.FxCR, "restored", "ch2", "ch1", t0.Add(2*time.Second))
	other := rec("cr-lxd-net7-lr-lrp-ext", "failover", "ch1", "ch2", t0.Add(10*time.Millisecond))
	for _, tc := range []struct {
		name string
		ds   []DaemonReport
		want []string // kind from→to @offset seen-by, oldest first
	}{
		{"one change seen by three daemons is one",
			[]DaemonReport{{Address: "d1", Failovers: []FailoverRecord{a}}, {Address: "d2", Failovers: []FailoverRecord{aLate}},
				{Address: "d3", Failovers: []FailoverRecord{aLate}}},
			[]string{"failover ch1→ch2 @0s d1,d2,d3 reverified=500ms/3"}},
		{"two changes of one Daemon stay two, even when alike and close",
			[]DaemonReport{{Address: "d1", Failovers: []FailoverRecord{a, aLate}}},
			[]string{"failover ch1→ch2 @0s d1", "failover ch1→ch2 @40ms d1 reverified=500ms/3"}},
		{"the same holders further apart than the window are two changes",
			[]DaemonReport{{Address: "d1", Failovers: []FailoverRecord{a}},
				{Address: "d2", Failovers: []FailoverRecord{rec(enginetest.FxCR, "failover", "ch1", "ch2", t0.Add(sameFailoverWindow+time.Millisecond))}}},
			[]string{"failover ch1→ch2 @0s d1", "failover ch1→ch2 @5.001s d2"}},
		{"different ports, kinds or holders are not merged",
			[]DaemonReport{{Address: "d1", Failovers: []FailoverRecord{a, back}}, {Address: "d2", Failovers: []FailoverRecord{other, aLate}}},
			[]string{"failover ch1→ch2 @0s d1,d2 reverified=500ms/3", "failover ch1→ch2 @10ms d2", "restored ch2→ch1 @2s d1"}},
		{"an unreachable Daemon adds nothing",
			[]DaemonReport{{Address: "d1", Unreachable: "connection refused"}, {Address: "d2", Failovers: []FailoverRecord{a}}},
			[]string{"failover ch1→ch2 @0s d2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, f := range mergeFailovers(tc.ds) {
				s := f.Kind + " " + f.From + "→" + f.To + " @" + f.At.Sub(t0).String() + " " + strings.Join(f.SeenBy, ",")
				if f.Reverified {
					s += " reverified=" + msDuration(f.ReverifiedMS) + "/" + strconv.Itoa(f.Forwards)
				}
				got = append(got, s)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// A claim taken after a stable loss is recorded with from "": the chassis
// that lost it is filled in as previous, from that Daemon's loss record.
func TestMergeFailoversPrevious(t *testing.T) {
	lost := rec(enginetest.FxCR, "lost", "ch2", "", fxT0)
	taken := rec(enginetest.FxCR, "failover", "", "ch1", fxT0.Add(3*time.Second))
	fs := mergeFailovers([]DaemonReport{{Address: "d1", Failovers: []FailoverRecord{lost, taken}}, {Address: "d2", Failovers: []FailoverRecord{taken}}})
	if len(fs) != 2 || fs[1].Previous != "ch2" || fs[1].From != "" || len(fs[1].SeenBy) != 2 || fs[0].Previous != "" {
		t.Fatalf("merged %+v", fs)
	}
	chassis := map[string]fwdsync.SBChassis{"ch1": {Name: "ch1", Hostname: "node1"}, "ch2": {Name: "ch2", Hostname: "ch2"}}
	last := lastFailover(fs, enginetest.FxCR, "default/ovn0", chassis)
	if last == nil || last.To != "ch1" || last.ToHostname != "node1" {
		t.Fatalf("last %+v", last)
	}
	if line := FailoverSummary(*last); !strings.Contains(line, "failover: nobody (after ch2) → ch1 (node1)") || !strings.Contains(line, "re-verification pending") {
		t.Errorf("line %q", line)
	}
	// A Daemon that did not know the network names it by its prefix only
	// in the port: matched by port. Another network's change is not.
	if lastFailover(fs, "cr-lxd-net7-lr-lrp-ext", "default/other", chassis) != nil {
		t.Error("a change of another network matched")
	}
}

func TestCollectHygiene(t *testing.T) {
	key := fwdsync.ForwardKey{Network: "ovn0"}
	local := []fwdsync.Finding{
		{Key: key, Category: fwdsync.CatHAPriority, Severity: fwdsync.SeverityWarning,
			Detail: "group lxd-net2: chassis ch1 of LXD member node1 has priority 5, LXD gives it 1138", Repair: "set it"},
		{Key: key, Category: fwdsync.CatMissing, Detail: "not hygiene"},
		{Key: fwdsync.ForwardKey{Network: "ovn0", ListenAddress: "198.51.100.10"}, Category: fwdsync.CatVIPUnanswered,
			Detail: "198.51.100.10 is outside every subnet of router lxd-net2-lr and its rows do not set neighbor_responder=all: no chassis answers ARP for it"},
		{Key: key, Category: fwdsync.CatDarkEverywhere, Severity: fwdsync.SeverityCritical,
			Detail: "forwards of default/ovn0 are dark everywhere: gateway port x has had no claim for 9s (threshold 3s) although group lxd-net2 has 3 chassis (ch1, ch2, ch3)"},
	}
	ds := []DaemonReport{{Address: "d1", Findings: []FindingOut{
		// The same priority finding, worded with other numbers by an older judgement.
		{Project: "default", Network: "ovn0", Category: "ha-priority", Detail: "group lxd-net2: chassis ch1 of LXD member node1 has priority 6, LXD gives it 1138"},
		{Project: "default", Network: "ovn0", Category: "ha-priority", Detail: "group lxd-net2: chassis ch3 of LXD member node3 has priority 6, LXD gives it 1000"},
		{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.10", Category: "vip-unanswered", Detail: local[2].Detail},
	}}}
	got := collectHygiene(local, ds)
	var lines []string
	for _, h := range got {
		lines = append(lines, h.Project+"/"+h.Network+" "+h.Category+" ["+h.Chassis+"] "+h.ListenAddress+" "+strings.Join(h.Sources, ","))
	}
	want := []string{
		"default/ovn0 dark-everywhere []  local",
		"default/ovn0 ha-priority [ch1]  local,d1",
		"default/ovn0 ha-priority [ch3]  d1",
		"default/ovn0 vip-unanswered [] 198.51.100.10 local,d1",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("got  %q\nwant %q", lines, want)
	}
	if got[1].Detail != local[0].Detail {
		t.Errorf("the first source's wording is not kept: %q", got[1].Detail)
	}
}

func TestQueryDaemonsFailures(t *testing.T) {
	node1, _ := fxDaemons()
	node1.routes = nil // an older Daemon without /routes
	partial := node1.serve(t)
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(block); slow.Close() })
	wrong := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>")) }))
	t.Cleanup(wrong.Close)

	start := time.Now()
	ds := QueryDaemons(context.Background(), []string{partial.URL, slow.URL, "127.0.0.1:1", slow.URL + "/", wrong.URL}, 300*time.Millisecond)
	took := time.Since(start)
	if took > 2*time.Second {
		t.Errorf("asking 5 daemons with a 300ms timeout took %v: not concurrent or not bounded", took)
	}
	p := ds[0]
	if !p.reachable() || p.Routes != nil || len(p.Failovers) != 3 || len(p.Errors) != 1 ||
		!strings.Contains(p.Errors[0], partial.URL+"/routes: HTTP 404") {
		t.Errorf("partial Daemon: %+v", p)
	}
	for _, i := range []int{1, 3} {
		if s := ds[i]; s.reachable() || !strings.Contains(s.Unreachable, "no answer from "+strings.TrimRight(slow.URL, "/")+"/readyz within 300ms") {
			t.Errorf("slow Daemon %d: %+v", i, s)
		}
	}
	if d := ds[2]; d.reachable() || d.Unreachable != "dial tcp 127.0.0.1:1: connect: connection refused" {
		t.Errorf("closed port: %+v", d)
	}
	// Something else listening: it answers, but not as a Daemon.
	// (Its 200 /readyz is not "ready": it is no ready daemon either.)
	if w := ds[4]; !w.reachable() || w.Ready || len(w.Errors) != 4 || !strings.Contains(w.Errors[0], wrong.URL+"/readyz: HTTP 200 but not an ovnfwd daemon's answer") ||
		!strings.Contains(w.Errors[1], wrong.URL+"/failovers: not the JSON of an ovnfwd daemon") {
		t.Errorf("not a Daemon: %+v", w)
	}
	ms := memberStatuses(ds, nil)
	if ms[0].Error == "" || !ms[0].Reachable || ms[2].Error != "unreachable: dial tcp 127.0.0.1:1: connect: connection refused" {
		t.Errorf("members %+v", ms)
	}
}
