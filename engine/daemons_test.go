package engine

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ovnfwd/ovnfwd/bgp"

	"github.com/ovnfwd/ovnfwd/engine/enginetest"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// fxT0 is when the fixture's last failover happened.
var fxT0 = time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)

// fxDaemon is what one fixture Daemon serves.
type fxDaemon struct {
	ready     bool
	failovers []FailoverRecord
	routes    *RouteStatus // nil: /routes answers 404
	findings  []FindingOut
	member    *MemberInfo // nil: /member answers 404 (an older ovnfwd)
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
	if f.member != nil {
		mux.Handle("/member", js(f.member))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// fxRoutes is the /routes of the member of chassis ch (BGP on; it
// announces ovn0's two VIPs when ch holds the gateway, ch2 does).
func fxRoutes(ch string) *RouteStatus {
	holds := ch == "ch2"
	n := RouteNetworkStatus{Project: "default", Network: "ovn0", Uplink: "br0", Prefix: "lxd-net2", Gateway: enginetest.FxCR, Holder: "ch2",
		Announced: holds, Reason: "gateway held by ch2, not this chassis (" + ch + ")"}
	st := &RouteStatus{Enabled: true, Chassis: ch, ASN: 64512, RouterID: "10.99.0.1" + ch[2:], NextHop: "router",
		Sessions: []bgp.Session{{Peer: "10.99.0.254:179", ASN: 64500, State: "established", Since: fxT0.Add(-time.Hour), Established: 1}},
		Networks: []RouteNetworkStatus{n}, Routes: []RouteEntry{}, Findings: []RouteFinding{{Project: "default", Network: "ovn0",
			Category: string(fwdsync.CatLXDBGPAlsoAnnounces), Severity: "warning",
			Detail: "uplink br0 has bgp.peers.r1.address: LXD's BGP speaker announces the forwards of default/ovn0 from every cluster member, so announcing only from the active chassis is ineffective",
			Repair: "none: remove the bgp.peers.* keys from uplink br0 (or do not peer the same routers with ovnfwd)"}}}
	if holds {
		n.Routes, n.Reason = 2, "gateway held by this chassis"
		st.Networks[0] = n
		st.Sessions[0].Advertised = 2
		for _, p := range []string{"198.51.100.10/32", "198.51.100.11/32"} {
			st.Routes = append(st.Routes, RouteEntry{Prefix: p, NextHop: "10.99.0.100", Project: "default", Network: "ovn0"})
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
	fo := FailoverRecord{Network: "default/ovn0", Port: enginetest.FxCR, Kind: "failover", From: "ch1", To: "ch2",
		At: fxT0, Confirmed: fxT0.Add(250 * time.Millisecond), Unclaimed: 1200 * time.Millisecond, Flaps: 1}
	reverified := fo
	reverified.Reverified, reverified.ReverifiedAfterStable, reverified.Forwards = 340*time.Millisecond, 90*time.Millisecond, 5
	pending := fo
	pending.At, pending.Confirmed = fo.At.Add(3*time.Millisecond), fo.Confirmed.Add(3*time.Millisecond)
	older := fxT0.Add(-10 * time.Minute)
	unresponsive := FindingOut{Project: "default", Network: "ovn0", Category: string(fwdsync.CatChassisUnresponsive), Severity: "warning",
		Detail: "group lxd-net2: chassis ch1 (node1) did not follow the last nb_cfg ping (its nb_cfg is 41)",
		Repair: "none: removing an unresponsive chassis needs the explicit option"}
	node1 = fxDaemon{ready: true, routes: fxRoutes("ch1"),
		failovers: []FailoverRecord{
			{Network: "default/ovn0", Port: enginetest.FxCR, Kind: "lost", From: "ch3", At: older, Confirmed: older.Add(250 * time.Millisecond), Unclaimed: 250 * time.Millisecond},
			{Network: "default/ovn0", Port: enginetest.FxCR, Kind: "failover", To: "ch1", At: older.Add(2 * time.Second), Confirmed: older.Add(2250 * time.Millisecond),
				Unclaimed: 2 * time.Second, Reverified: 2100 * time.Millisecond, ReverifiedAfterStable: 1850 * time.Millisecond, Forwards: 5},
			pending,
		},
		findings: []FindingOut{unresponsive,
			{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.10", Category: string(fwdsync.CatMissing), Severity: "error",
				Detail: "not a hygiene finding: status shows its count only", Repair: "create it"}},
	}
	node2 = fxDaemon{ready: true, routes: fxRoutes("ch2"), failovers: []FailoverRecord{reverified},
		member: &MemberInfo{Member: "node2", Chassis: "ch2", Writer: true, Election: "lock", Version: "v1", Policy: "deletion-budget=100 arp-responder=auto"},
		findings: []FindingOut{unresponsive,
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
func fxQueryDaemons(t *testing.T) []DaemonReport {
	t.Helper()
	node1, node2 := fxDaemons()
	s1, s2 := node1.serve(t), node2.serve(t)
	ds := QueryDaemons(context.Background(), []string{strings.TrimPrefix(s2.URL, "http://"), s1.URL, "127.0.0.1:1"}, 2*time.Second)
	if ds[0].Unreachable != "" || ds[1].Unreachable != "" || len(ds[0].Errors)+len(ds[1].Errors) > 0 {
		t.Fatalf("fixture daemons: %+v", ds[:2])
	}
	ds[0].Address, ds[1].Address = "node2:9478", "node1:9478"
	return ds
}

// fxMembers adds LXD's cluster members to the fixture: node1 and node2
// (chassis ch1, ch2 by hostname) and node3, whose chassis is unknown.
type fxMembers struct{ LXD }

func (fxMembers) Members(context.Context) ([]fwdsync.Member, error) {
	var ms []fwdsync.Member
	for i, n := range []string{"node1", "node2", "node3"} {
		ms = append(ms, fwdsync.Member{Name: n, Roles: []string{"ovn-chassis"}, Status: "Online", ID: int64(i)})
	}
	return ms, nil
}

// fxStatusInputHA is status's input over the fixture with HA groups judged
// (as status judges them) and the fixture daemons.
func fxStatusInputHA(t *testing.T) StatusInput {
	t.Helper()
	in := fxStatusInput(t)
	e, _ := fxEngine(true)
	e.lxd = fxMembers{e.lxd}
	e.ha = &HAConfig{MemberChassis: map[string]string{}}
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
	r := BuildStatus(fxStatusInputHA(t))
	lf := r.Networks[0].LastFailover
	if lf == nil || lf.From != "ch1" || lf.To != "ch2" || len(r.Members) != 3 || r.Members[2].Reachable {
		t.Errorf("last failover %+v, members %+v", lf, r.Members)
	}
	goldenJSON(t, "status-daemons", r)
}

// The Report over the fixture daemons: facts, not only the golden bytes.
func TestStatusDaemonsReport(t *testing.T) {
	in := fxStatusInputHA(t)
	r := BuildStatus(in)
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
		t.Error("a Daemon's missing finding is listed as hygiene")
	}
	if len(r.HygieneFindings) != 2 || r.HygieneFindings[0].Category != "ha-missing" || r.HygieneFindings[1].Chassis != "ch3" ||
		r.HygieneFindings[0].Chassis != "" || !strings.Contains(r.HygieneFindings[0].Detail, "its chassis is unknown") {
		t.Errorf("network-less hygiene findings: %+v", r.HygieneFindings)
	}
	if len(r.Writers) != 1 || r.Writers[0] != "node2" || !r.Members[0].Writer || r.Members[0].Member != "node2" || r.Members[1].Writer {
		t.Errorf("writers %v, members %+v", r.Writers, r.Members)
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
	if without := BuildStatus(in); without.ExitCode() != r.ExitCode() {
		t.Errorf("exit code %d with daemons, %d without", r.ExitCode(), without.ExitCode())
	}
}

func TestStatusNoDaemonReachable(t *testing.T) {
	in := fxStatusInput(t)
	in.Daemons = QueryDaemons(context.Background(), []string{"127.0.0.1:1"}, time.Second)
	r := BuildStatus(in)
	if r.Networks[0].LastFailover != nil {
		t.Errorf("a last failover with no Daemon answering: %+v", r.Networks[0].LastFailover)
	}
	if len(r.Members) != 1 || r.Members[0].Reachable || !strings.Contains(r.Members[0].Error, "unreachable: dial tcp 127.0.0.1:1: connect: connection refused") {
		t.Errorf("members %+v", r.Members)
	}
	if r.Summary.Daemons != 1 || r.Summary.DaemonsUnreachable != 1 {
		t.Errorf("summary %+v", r.Summary)
	}
	if r.ExitCode() != BuildStatus(fxStatusInput(t)).ExitCode() {
		t.Error("an unreachable Daemon changed the exit code")
	}
}

func TestGoldenExplainDaemons(t *testing.T) {
	in := fxExplainInput(t, "198.51.100.10")
	in.Daemons = fxQueryDaemons(t)
	x := BuildExplanation(in)
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
	if s.Status != StepOK || x.FirstFailure != 0 {
		t.Errorf("step 9 %s, first failure %d", s.Status, x.FirstFailure)
	}
	if x.LastFailover == nil || x.LastFailover.To != "ch2" || len(x.Daemons) != 3 {
		t.Errorf("explanation: last failover %+v, daemons %+v", x.LastFailover, x.Daemons)
	}
	goldenJSON(t, "explain-daemons", x)
}

// A Daemon that finds the active chassis unresponsive turns step 9 into a
// warning that names the chassis.
func TestExplainActiveChassisUnresponsive(t *testing.T) {
	in := fxExplainInput(t, "198.51.100.10")
	in.Daemons = []DaemonReport{{Address: "node1:9478", Ready: true, Findings: []FindingOut{{Project: "default", Network: "ovn0",
		Category: string(fwdsync.CatChassisUnresponsive), Severity: "warning",
		Detail: "group lxd-net2: chassis ch2 (node2) did not follow the last nb_cfg ping (its nb_cfg is 41)"}}}}
	x := BuildExplanation(in)
	s := stepByID(x, "active-chassis")
	if s.Status != StepWarn || !strings.Contains(s.Action, "ch2") ||
		!strings.Contains(strings.Join(s.Evidence, "\n"), "chassis-unresponsive (node1:9478): group lxd-net2: chassis ch2") {
		t.Errorf("step 9: %s, action %q, evidence %q", s.Status, s.Action, s.Evidence)
	}
	if !strings.Contains(strings.Join(s.Evidence, "\n"), "no gateway change recorded by node1:9478") {
		t.Errorf("step 9 does not say that no failover was recorded: %q", s.Evidence)
	}
}
