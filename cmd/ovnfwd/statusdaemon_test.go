package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ovnfwd/ovnfwd/lxdwatch"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// fxT0 is when the fixture's last failover happened.
var fxT0 = time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)

// fxDaemon is what one fixture daemon serves.
type fxDaemon struct {
	ready     bool
	failovers []failoverRecord
	routes    *routeStatus // nil: /routes answers 404
	findings  []findingOut
}

func (f fxDaemon) serve(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	js := func(v any) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(v)
		}
	}
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !f.ready {
			http.Error(w, "connecting to LXD and OVN", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("/failovers", js(f.failovers))
	if f.routes != nil {
		mux.Handle("/routes", js(f.routes))
	}
	mux.Handle("/findings", js(f.findings))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// fxRoutes is the /routes of the member of chassis ch (BGP on; it
// announces ovn0's two VIPs when ch holds the gateway, ch2 does).
func fxRoutes(ch string) *routeStatus {
	holds := ch == "ch2"
	n := routeNetworkStatus{Project: "default", Network: "ovn0", Uplink: "br0", Prefix: "lxd-net2", Gateway: fxCR, Holder: "ch2",
		Announced: holds, Reason: "gateway held by ch2, not this chassis (" + ch + ")"}
	st := &routeStatus{Enabled: true, Chassis: ch, ASN: 64512, RouterID: "10.99.0.1" + ch[2:], NextHop: "router",
		Sessions: []peerSession{{Peer: "10.99.0.254:179", ASN: 64500, State: "established", Since: fxT0.Add(-time.Hour), Established: 1}},
		Networks: []routeNetworkStatus{n}, Routes: []routeEntry{}, Findings: []routeFinding{{Project: "default", Network: "ovn0",
			Category: string(fwdsync.CatLXDBGPAlsoAnnounces), Severity: "warning",
			Detail: "uplink br0 has bgp.peers.r1.address: LXD's BGP speaker announces the forwards of default/ovn0 from every cluster member, so announcing only from the active chassis is ineffective",
			Repair: "none: remove the bgp.peers.* keys from uplink br0 (or do not peer the same routers with ovnfwd)"}}}
	if holds {
		n.Routes, n.Reason = 2, "gateway held by this chassis"
		st.Networks[0] = n
		st.Sessions[0].Advertised = 2
		for _, p := range []string{"198.51.100.10/32", "198.51.100.11/32"} {
			st.Routes = append(st.Routes, routeEntry{Prefix: p, NextHop: "10.99.0.100", Project: "default", Network: "ovn0"})
		}
	}
	sync := fxT0.Add(2 * time.Second)
	st.LastSync = &sync
	return st
}

// fxDaemons: node2 (ch2, holds the gateway) and node1 (ch1) both saw the
// failover ch1 → ch2 at fxT0; node1 also saw an older loss of ch3 and the
// claim by ch1 after it; node2 re-verified, node1 had not yet.
func fxDaemons() (node1, node2 fxDaemon) {
	fo := failoverRecord{Network: "default/ovn0", Port: fxCR, Kind: "failover", From: "ch1", To: "ch2",
		At: fxT0, Confirmed: fxT0.Add(250 * time.Millisecond), Unclaimed: 1200 * time.Millisecond, Flaps: 1}
	reverified := fo
	reverified.Reverified, reverified.ReverifiedAfterStable, reverified.Forwards = 340*time.Millisecond, 90*time.Millisecond, 5
	pending := fo
	pending.At, pending.Confirmed = fo.At.Add(3*time.Millisecond), fo.Confirmed.Add(3*time.Millisecond)
	older := fxT0.Add(-10 * time.Minute)
	unresponsive := findingOut{Project: "default", Network: "ovn0", Category: string(fwdsync.CatChassisUnresponsive), Severity: "warning",
		Detail: "group lxd-net2: chassis ch1 (node1) did not follow the last nb_cfg ping (its nb_cfg is 41)",
		Repair: "none: removing an unresponsive chassis needs the explicit option"}
	node1 = fxDaemon{ready: true, routes: fxRoutes("ch1"),
		failovers: []failoverRecord{
			{Network: "default/ovn0", Port: fxCR, Kind: "lost", From: "ch3", At: older, Confirmed: older.Add(250 * time.Millisecond), Unclaimed: 250 * time.Millisecond},
			{Network: "default/ovn0", Port: fxCR, Kind: "failover", To: "ch1", At: older.Add(2 * time.Second), Confirmed: older.Add(2250 * time.Millisecond),
				Unclaimed: 2 * time.Second, Reverified: 2100 * time.Millisecond, ReverifiedAfterStable: 1850 * time.Millisecond, Forwards: 5},
			pending,
		},
		findings: []findingOut{unresponsive,
			{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.10", Category: string(fwdsync.CatMissing), Severity: "error",
				Detail: "not a hygiene finding: status shows its count only", Repair: "create it"}},
	}
	node2 = fxDaemon{ready: true, routes: fxRoutes("ch2"), failovers: []failoverRecord{reverified},
		findings: []findingOut{unresponsive,
			{Project: "default", Network: "ovn0", Category: string(fwdsync.CatHAPriority), Severity: "warning",
				Detail: "group lxd-net2: chassis ch2 of LXD member node2 has priority 2000, LXD gives it 22819",
				Repair: "set the priority of HA_Chassis ch2 (a0000000-0000-4000-8000-000000000008) to 22819"},
			{Category: string(fwdsync.CatHAMissing), Severity: "info", Detail: "LXD member node3: its chassis ch3 has no SB Chassis row",
				Repair: "none: it is added once its ovn-controller registers"}}}
	return node1, node2
}

// fxQueryDaemons serves the fixture daemons, asks them and an unreachable
// one, and names the served ones node1:9478 and node2:9478 (their real
// addresses change with every run).
func fxQueryDaemons(t *testing.T) []daemonReport {
	t.Helper()
	node1, node2 := fxDaemons()
	s1, s2 := node1.serve(t), node2.serve(t)
	ds := queryDaemons(context.Background(), []string{strings.TrimPrefix(s2.URL, "http://"), s1.URL, "127.0.0.1:1"}, 2*time.Second)
	if ds[0].Unreachable != "" || ds[1].Unreachable != "" || len(ds[0].Errors)+len(ds[1].Errors) > 0 {
		t.Fatalf("fixture daemons: %+v", ds[:2])
	}
	ds[0].Address, ds[1].Address = "node2:9478", "node1:9478"
	return ds
}

// fxMembers adds LXD's cluster members to the fixture: node1 and node2
// (chassis ch1, ch2 by hostname) and node3, whose chassis is unknown.
type fxMembers struct{ lxdSource }

func (fxMembers) Members(context.Context) ([]lxdwatch.Member, error) {
	var ms []lxdwatch.Member
	for i, n := range []string{"node1", "node2", "node3"} {
		ms = append(ms, lxdwatch.Member{Name: n, Roles: []string{"ovn-chassis"}, Status: "Online", Order: i})
	}
	return ms, nil
}

// fxStatusInputHA is status's input over the fixture with HA groups judged
// (as status judges them) and the fixture daemons.
func fxStatusInputHA(t *testing.T) statusInput {
	t.Helper()
	in := fxStatusInput(t)
	e, _ := fxEngine(true)
	e.lxd = fxMembers{e.lxd}
	e.ha = &haConfig{memberChassis: map[string]string{}}
	e.observeBarrier()
	pr, err := e.pass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	in.Findings = pr.Findings
	in.Daemons = fxQueryDaemons(t)
	return in
}

func TestGoldenStatusDaemons(t *testing.T) {
	r := buildStatus(fxStatusInputHA(t))
	for _, f := range formats {
		var buf bytes.Buffer
		if err := writeStatus(&buf, f, r); err != nil {
			t.Fatal(err)
		}
		var back statusReport
		checkStructured(t, f, buf.Bytes(), &back)
		if f != "table" {
			lf := back.Networks[0].LastFailover
			if lf == nil || lf.From != "ch1" || lf.To != "ch2" || len(back.Members) != 3 || back.Members[2].Reachable {
				t.Errorf("%s round trip: last failover %+v, members %+v", f, lf, back.Members)
			}
		}
		golden(t, "status-daemons."+f+".golden", buf.Bytes())
	}
}

// The report over the fixture daemons: facts, not only the golden bytes.
func TestStatusDaemonsReport(t *testing.T) {
	in := fxStatusInputHA(t)
	r := buildStatus(in)
	ovn0 := r.Networks[0]
	lf := ovn0.LastFailover
	if lf == nil {
		t.Fatal("no last failover for default/ovn0")
	}
	// Seen by both daemons, stamped by the first, re-verified by node2.
	if lf.Kind != "failover" || lf.From != "ch1" || lf.FromHostname != "node1" || lf.To != "ch2" || lf.ToHostname != "node2" ||
		!lf.At.Equal(fxT0) || lf.UnclaimedMS != 1200 || !lf.Reverified || lf.ReverifiedMS != 340 || lf.Forwards != 5 ||
		!slices.Equal(lf.SeenBy, []string{"node2:9478", "node1:9478"}) {
		t.Errorf("last failover %+v", *lf)
	}
	if r.Networks[1].LastFailover != nil {
		t.Errorf("web/ovn1 (not mapped) has a last failover: %+v", r.Networks[1].LastFailover)
	}
	cats := map[string][]string{}
	for _, h := range ovn0.HygieneFindings {
		cats[h.Category] = append(cats[h.Category], h.Chassis+" "+strings.Join(h.Sources, ","))
	}
	want := map[string][]string{
		"chassis-unresponsive":   {"ch1 node2:9478,node1:9478"},
		"ha-priority":            {"ch2 local,node2:9478"},
		"lxd-bgp-also-announces": {" node2:9478,node1:9478"},
	}
	for c, w := range want {
		if !slices.Equal(cats[c], w) {
			t.Errorf("%s: %q, want %q (all: %q)", c, cats[c], w, cats)
		}
	}
	if _, ok := cats["missing"]; ok {
		t.Error("a daemon's missing finding is listed as hygiene")
	}
	if len(r.HygieneFindings) != 2 || r.HygieneFindings[0].Category != "ha-missing" || r.HygieneFindings[1].Chassis != "ch3" ||
		r.HygieneFindings[0].Chassis != "" || !strings.Contains(r.HygieneFindings[0].Detail, "its chassis is unknown") {
		t.Errorf("network-less hygiene findings: %+v", r.HygieneFindings)
	}
	if r.Summary.Daemons != 3 || r.Summary.DaemonsUnreachable != 1 {
		t.Errorf("summary daemons %d, unreachable %d", r.Summary.Daemons, r.Summary.DaemonsUnreachable)
	}
	m := r.Members
	if len(m) != 3 || m[0].Chassis != "ch2" || !m[0].BGP || m[0].Routes != 2 || len(m[0].Networks) != 1 || !m[0].Networks[0].Announced ||
		m[1].Chassis != "ch1" || m[1].Networks[0].Announced || len(m[1].Sessions) != 1 || m[1].Sessions[0].State != "established" ||
		m[1].Failovers != 3 {
		t.Errorf("members %+v", m)
	}
	if m[2].Reachable || !strings.HasPrefix(m[2].Error, "unreachable: ") || !strings.Contains(m[2].Error, "127.0.0.1:1") {
		t.Errorf("unreachable member %+v", m[2])
	}

	// The daemons never change the exit code, reachable or not.
	in.Daemons = nil
	if without := buildStatus(in); without.exitCode() != r.exitCode() {
		t.Errorf("exit code %d with daemons, %d without", r.exitCode(), without.exitCode())
	}
}

func TestStatusNoDaemonReachable(t *testing.T) {
	in := fxStatusInput(t)
	in.Daemons = queryDaemons(context.Background(), []string{"127.0.0.1:1"}, time.Second)
	r := buildStatus(in)
	var buf bytes.Buffer
	if err := writeStatus(&buf, "table", r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"last failover  unknown: no daemon answered",
		"127.0.0.1:1  -        unreachable: dial tcp 127.0.0.1:1: connect: connection refused",
		"1 daemon (1 unreachable)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if r.exitCode() != buildStatus(fxStatusInput(t)).exitCode() {
		t.Error("an unreachable daemon changed the exit code")
	}
}

func TestGoldenExplainDaemons(t *testing.T) {
	in := fxExplainInput(t, "198.51.100.10")
	in.Daemons = fxQueryDaemons(t)
	x := buildExplanation(in)
	s := stepByID(x, "active-chassis")
	ev := strings.Join(s.Evidence, "\n")
	for _, want := range []string{
		"daemon 127.0.0.1:1 unreachable: dial tcp 127.0.0.1:1: connect: connection refused",
		"last gateway change, failover: ch1 (node1) → ch2 (node2) at 2026-11-27T13:00:00.000Z",
		"5 forwards re-verified 340ms after the change",
		"liveness: no daemon finds ch2 unresponsive",
	} {
		if !strings.Contains(ev, want) {
			t.Errorf("step 9 evidence lacks %q:\n%s", want, ev)
		}
	}
	if s.Status != stepOK || x.FirstFailure != 0 {
		t.Errorf("step 9 %s, first failure %d", s.Status, x.FirstFailure)
	}
	if x.LastFailover == nil || x.LastFailover.To != "ch2" || len(x.Daemons) != 3 {
		t.Errorf("explanation: last failover %+v, daemons %+v", x.LastFailover, x.Daemons)
	}
	for _, f := range []string{"table", "json"} {
		var buf bytes.Buffer
		if err := writeExplanation(&buf, f, x); err != nil {
			t.Fatal(err)
		}
		var back explanation
		checkStructured(t, f, buf.Bytes(), &back)
		golden(t, "explain-daemons."+f+".golden", buf.Bytes())
	}
}

// A daemon that finds the active chassis unresponsive turns step 9 into a
// warning that names the chassis.
func TestExplainActiveChassisUnresponsive(t *testing.T) {
	in := fxExplainInput(t, "198.51.100.10")
	in.Daemons = []daemonReport{{Address: "node1:9478", Ready: true, Findings: []findingOut{{Project: "default", Network: "ovn0",
		Category: string(fwdsync.CatChassisUnresponsive), Severity: "warning",
		Detail: "group lxd-net2: chassis ch2 (node2) did not follow the last nb_cfg ping (its nb_cfg is 41)"}}}}
	x := buildExplanation(in)
	s := stepByID(x, "active-chassis")
	if s.Status != stepWarn || !strings.Contains(s.Action, "ch2") ||
		!strings.Contains(strings.Join(s.Evidence, "\n"), "chassis-unresponsive (node1:9478): group lxd-net2: chassis ch2") {
		t.Errorf("step 9: %s, action %q, evidence %q", s.Status, s.Action, s.Evidence)
	}
	if !strings.Contains(strings.Join(s.Evidence, "\n"), "no gateway change recorded by node1:9478") {
		t.Errorf("step 9 does not say that no failover was recorded: %q", s.Evidence)
	}
}

func rec(port, kind, from, to string, at time.Time) failoverRecord {
	return failoverRecord{Network: "default/ovn0", Port: port, Kind: kind, From: from, To: to, At: at, Confirmed: at.Add(time.Second)}
}

func TestMergeFailovers(t *testing.T) {
	t0 := fxT0
	a := rec(fxCR, "failover", "ch1", "ch2", t0)
	aLate := rec(fxCR, "failover", "ch1", "ch2", t0.Add(40*time.Millisecond))
	aLate.Reverified, aLate.Forwards = 500*time.Millisecond, 3
	back := rec(fxCR, "restored", "ch2", "ch1", t0.Add(2*time.Second))
	other := rec("cr-lxd-net7-lr-lrp-ext", "failover", "ch1", "ch2", t0.Add(10*time.Millisecond))
	for _, tc := range []struct {
		name string
		ds   []daemonReport
		want []string // kind from→to @offset seen-by, oldest first
	}{
		{"one change seen by three daemons is one",
			[]daemonReport{{Address: "d1", Failovers: []failoverRecord{a}}, {Address: "d2", Failovers: []failoverRecord{aLate}},
				{Address: "d3", Failovers: []failoverRecord{aLate}}},
			[]string{"failover ch1→ch2 @0s d1,d2,d3 reverified=500ms/3"}},
		{"two changes of one daemon stay two, even when alike and close",
			[]daemonReport{{Address: "d1", Failovers: []failoverRecord{a, aLate}}},
			[]string{"failover ch1→ch2 @0s d1", "failover ch1→ch2 @40ms d1 reverified=500ms/3"}},
		{"the same holders further apart than the window are two changes",
			[]daemonReport{{Address: "d1", Failovers: []failoverRecord{a}},
				{Address: "d2", Failovers: []failoverRecord{rec(fxCR, "failover", "ch1", "ch2", t0.Add(sameFailoverWindow+time.Millisecond))}}},
			[]string{"failover ch1→ch2 @0s d1", "failover ch1→ch2 @5.001s d2"}},
		{"different ports, kinds or holders are not merged",
			[]daemonReport{{Address: "d1", Failovers: []failoverRecord{a, back}}, {Address: "d2", Failovers: []failoverRecord{other, aLate}}},
			[]string{"failover ch1→ch2 @0s d1,d2 reverified=500ms/3", "failover ch1→ch2 @10ms d2", "restored ch2→ch1 @2s d1"}},
		{"an unreachable daemon adds nothing",
			[]daemonReport{{Address: "d1", Unreachable: "connection refused"}, {Address: "d2", Failovers: []failoverRecord{a}}},
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
// that lost it is filled in as previous, from that daemon's loss record.
func TestMergeFailoversPrevious(t *testing.T) {
	lost := rec(fxCR, "lost", "ch2", "", fxT0)
	taken := rec(fxCR, "failover", "", "ch1", fxT0.Add(3*time.Second))
	fs := mergeFailovers([]daemonReport{{Address: "d1", Failovers: []failoverRecord{lost, taken}}, {Address: "d2", Failovers: []failoverRecord{taken}}})
	if len(fs) != 2 || fs[1].Previous != "ch2" || fs[1].From != "" || len(fs[1].SeenBy) != 2 || fs[0].Previous != "" {
		t.Fatalf("merged %+v", fs)
	}
	chassis := map[string]fwdsync.SBChassis{"ch1": {Name: "ch1", Hostname: "node1"}, "ch2": {Name: "ch2", Hostname: "ch2"}}
	last := lastFailover(fs, fxCR, "default/ovn0", chassis)
	if last == nil || last.To != "ch1" || last.ToHostname != "node1" {
		t.Fatalf("last %+v", last)
	}
	if line := failoverLine(*last); !strings.Contains(line, "failover: nobody (after ch2) → ch1 (node1)") || !strings.Contains(line, "re-verification pending") {
		t.Errorf("line %q", line)
	}
	// A daemon that did not know the network names it by its prefix only
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
	ds := []daemonReport{{Address: "d1", Findings: []findingOut{
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
	node1.routes = nil // an older daemon without /routes
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
	ds := queryDaemons(context.Background(), []string{partial.URL, slow.URL, "127.0.0.1:1", slow.URL + "/", wrong.URL}, 300*time.Millisecond)
	took := time.Since(start)
	if took > 2*time.Second {
		t.Errorf("asking 5 daemons with a 300ms timeout took %v: not concurrent or not bounded", took)
	}
	p := ds[0]
	if !p.reachable() || p.Routes != nil || len(p.Failovers) != 3 || len(p.Errors) != 1 ||
		!strings.Contains(p.Errors[0], partial.URL+"/routes: HTTP 404") {
		t.Errorf("partial daemon: %+v", p)
	}
	for _, i := range []int{1, 3} {
		if s := ds[i]; s.reachable() || !strings.Contains(s.Unreachable, "no answer from "+strings.TrimRight(slow.URL, "/")+"/readyz within 300ms") {
			t.Errorf("slow daemon %d: %+v", i, s)
		}
	}
	if d := ds[2]; d.reachable() || d.Unreachable != "dial tcp 127.0.0.1:1: connect: connection refused" {
		t.Errorf("closed port: %+v", d)
	}
	// Something else listening: it answers, but not as a daemon.
	if w := ds[4]; !w.reachable() || len(w.Errors) != 3 || !strings.Contains(w.Errors[0], wrong.URL+"/failovers: not the JSON of an ovnfwd daemon") {
		t.Errorf("not a daemon: %+v", w)
	}
	ms := memberStatuses(ds, nil)
	if ms[0].Error == "" || !ms[0].Reachable || ms[2].Error != "unreachable: dial tcp 127.0.0.1:1: connect: connection refused" {
		t.Errorf("members %+v", ms)
	}
}

func TestDaemonAddrs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want []string
	}{
		{nil, "", []string{defaultDaemon}},
		{[]string{"--daemon", "node1:9478", "--daemon", "http://node2:9478", "--daemon", "node1:9478"}, "", []string{"node1:9478", "http://node2:9478"}},
		{[]string{"--daemon", "node1:9478,node2:9478"}, "", []string{"node1:9478", "node2:9478"}},
		{nil, "node3:9478,node4:9478", []string{"node3:9478", "node4:9478"}},
		{[]string{"--no-daemon", "--daemon", "node1:9478"}, "", nil},
	} {
		t.Setenv("OVNFWD_DAEMON", tc.env)
		set := flag.NewFlagSet("status", flag.ContinueOnError)
		for _, f := range daemonFlags() {
			if err := f.Apply(set); err != nil {
				t.Fatal(err)
			}
		}
		if err := set.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		got, err := daemonAddrs(cli.NewContext(cli.NewApp(), set, nil))
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%v (env %q): %q, %v; want %q", tc.args, tc.env, got, err, tc.want)
		}
	}
	for _, bad := range []string{"node1", "ftp://node1:9478", "http://", "node 1:9478"} {
		set := flag.NewFlagSet("status", flag.ContinueOnError)
		for _, f := range daemonFlags() {
			_ = f.Apply(set)
		}
		_ = set.Parse([]string{"--daemon", bad})
		if _, err := daemonAddrs(cli.NewContext(cli.NewApp(), set, nil)); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("--daemon %q: %v, want an error naming it", bad, err)
		}
	}
}
