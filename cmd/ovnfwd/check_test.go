package main

import (
	"context"
	"flag"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/ovnfwd/ovnfwd/ovn"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

func categories(r report, listen string) []string {
	var out []string
	for _, f := range r.Findings {
		if f.ListenAddress == listen {
			out = append(out, f.Category)
		}
	}
	slices.Sort(out)
	return out
}

// check never writes: no Apply, no barrier (nb_cfg unchanged), with or
// without --deep, whatever it finds.
func TestCheckWritesNothing(t *testing.T) {
	for _, deep := range []bool{false, true} {
		res, n := fxOneShot(t, oneShotOpts{deep: deep}, deep)
		if n.applied != 0 || n.st.NBCfg != 42 {
			t.Errorf("deep=%v: check applied %d changes, nb_cfg %d (want 0 and 42)", deep, n.applied, n.st.NBCfg)
		}
		if res.report.Changes != nil {
			t.Errorf("deep=%v: check reports changes %v", deep, res.report.Changes)
		}
		if got := res.exitCode(); got != exitFindings {
			t.Errorf("deep=%v: exit %d, want 1", deep, got)
		}
	}
}

func TestCheckFindingsAndStates(t *testing.T) {
	res, _ := fxOneShot(t, oneShotOpts{deep: true}, true)
	r := res.report
	for listen, want := range map[string][]string{
		"198.51.100.10": nil,
		"198.51.100.11": {"missing", "vip-mismatch"},
		"198.51.100.12": {"detached", "extra-attachment"},
		"198.51.100.13": {"duplicate"},
		"198.51.100.14": {"bad-forward"},
		"198.51.100.99": {"stale"},
		"198.51.100.50": {"orphan"},
	} {
		if got := categories(r, listen); !slices.Equal(got, want) {
			t.Errorf("%s: categories %v, want %v", listen, got, want)
		}
	}
	if r.Summary.Forwards != 6 || r.Summary.OK != 1 || r.Summary.Findings != len(r.Findings) || r.Summary.ByState["broken"] != 5 {
		t.Errorf("summary %+v", r.Summary)
	}
	for _, f := range r.Findings {
		if f.Category == "orphan" && (f.Project != "" || f.Network != "") {
			t.Errorf("orphan finding names project %q network %q; it belongs to none", f.Project, f.Network)
		}
	}
}

// A consistent world exits 0; a forward that is not ok exits 1 even when
// it has no finding (northd behind: pending).
func TestCheckExitCodes(t *testing.T) {
	l := &fakeLXD{st: fxLXD()}
	l.st.Forwards = l.st.Forwards[:1] // only the ok forward
	l.st.Networks = l.st.Networks[:1]
	n := &fakeNB{st: fxNB()}
	n.st.LoadBalancers = n.st.LoadBalancers[:1]
	n.st.Routers[0].LoadBalancers = []string{fxLB10}
	n.st.Switches = []fwdsync.NBSwitch{{UUID: fxLSExt, Name: "lxd-net2-ls-ext"}, {UUID: fxLSInt, Name: "lxd-net2-ls-int", LoadBalancers: []string{fxLB10}}}
	e := newEngine(l, n, fxSB{nb: n}, fwdsync.Options{DeletionBudget: 100}, zap.NewNop())
	res, err := runOneShot(context.Background(), e, oneShotOpts{deep: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.exitCode(); got != exitOK || res.report.Summary.OK != 1 {
		t.Fatalf("consistent world: exit %d, summary %+v, findings %+v", got, res.report.Summary, res.report.Findings)
	}

	// northd behind: SB shows an older config.
	n.st.NBCfg, n.st.SBCfg = 43, 42
	e2 := newEngine(l, n, behindSB{fxSB{nb: n}}, fwdsync.Options{DeletionBudget: 100}, zap.NewNop())
	res, err = runOneShot(context.Background(), e2, oneShotOpts{deep: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.exitCode(); got != exitFindings || len(res.report.NotOK) != 1 || res.report.NotOK[0].State == "ok" {
		t.Fatalf("northd behind: exit %d, not ok %+v, summary %+v", got, res.report.NotOK, res.report.Summary)
	}
}

// behindSB is an SB whose northd has not processed the latest NB config and
// whose rows are therefore missing.
type behindSB struct{ fxSB }

func (s behindSB) Snapshot() fwdsync.SBState {
	st := s.fxSB.Snapshot()
	st.NBCfg = s.nb.st.SBCfg
	st.LoadBalancers = nil
	return st
}

func TestRepairAppliesOnlyTheScope(t *testing.T) {
	sc := scope{listen: map[string]bool{"198.51.100.11": true}}
	res, n := fxOneShot(t, oneShotOpts{repair: true, scope: sc}, true)
	if n.applied != 1 || len(res.report.Changes) != 1 || res.report.Changes[0].ListenAddress != "198.51.100.11" {
		t.Fatalf("scoped repair applied %d changes: %+v", n.applied, res.report.Changes)
	}
	if got := categories(res.report, "198.51.100.11"); len(got) != 0 {
		t.Errorf("198.51.100.11 still has %v", got)
	}
	// Out of scope: the duplicate and the stale row are still there.
	names := map[string]int{}
	for _, lb := range n.st.LoadBalancers {
		names[lb.Name]++
	}
	if names["lxd-net2-lb-198.51.100.13-tcp"] != 2 || names["lxd-net2-lb-198.51.100.99-tcp"] != 1 {
		t.Errorf("rows out of scope changed: %v", names)
	}
	if len(res.report.Findings) != 0 || res.report.Summary.Forwards != 1 {
		t.Errorf("report not scoped: %+v", res.report.Summary)
	}
	// A network-wide finding is reported with the forwards of its network.
	res, _ = fxOneShot(t, oneShotOpts{scope: scope{listen: map[string]bool{"198.51.100.20": true}}}, false)
	if got := categories(res.report, ""); !slices.Equal(got, []string{"unmapped-network"}) || res.report.Summary.Forwards != 1 {
		t.Errorf("forward of an unmapped network: network findings %v, summary %+v", got, res.report.Summary)
	}
}

func TestRepairFixesEverythingRepairable(t *testing.T) {
	res, n := fxOneShot(t, oneShotOpts{repair: true}, true)
	if n.applied != 4 || res.report.Summary.Changes != 4 {
		t.Fatalf("applied %d, reported %d changes; want 4", n.applied, res.report.Summary.Changes)
	}
	var left []string
	for _, f := range res.report.Findings {
		left = append(left, f.Category)
	}
	slices.Sort(left)
	if want := []string{"bad-forward", "orphan", "unmapped-network"}; !slices.Equal(left, want) {
		t.Errorf("findings left %v, want %v", left, want)
	}
	if res.exitCode() != exitFindings {
		t.Errorf("exit %d, want 1", res.exitCode())
	}
	// The orphan and the foreign row are untouched.
	for _, u := range []string{fxLBOrp, fxLBFor} {
		if !slices.ContainsFunc(n.st.LoadBalancers, func(lb fwdsync.NBLoadBalancer) bool { return lb.UUID == u }) {
			t.Errorf("row %s was deleted", u)
		}
	}
	if !slices.Contains(n.st.Routers[0].LoadBalancers, fxLBFor) {
		t.Error("the foreign row was detached from the router")
	}
}

func TestRepairDryRunAndDecline(t *testing.T) {
	res, n := fxOneShot(t, oneShotOpts{repair: true, dryRun: true}, true)
	if n.applied != 0 || n.st.NBCfg != 42 || len(res.report.Changes) != 4 {
		t.Fatalf("dry run: %d applied, nb_cfg %d, %d changes announced", n.applied, n.st.NBCfg, len(res.report.Changes))
	}
	asked := 0
	res, n = fxOneShot(t, oneShotOpts{repair: true, confirm: func(todo []fwdsync.Change) bool { asked = len(todo); return false }}, true)
	if asked != 4 || n.applied != 0 || !res.declined || res.exitCode() != exitFindings {
		t.Fatalf("declined: asked about %d, applied %d, declined %v, exit %d", asked, n.applied, res.declined, res.exitCode())
	}
}

// A change refused as a concurrent change is re-planned and retried.
func TestRepairRetriesConflicts(t *testing.T) {
	e, n := fxEngine(true)
	n.conflicts = 1
	res, err := runOneShot(context.Background(), e, oneShotOpts{repair: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.failed) != 0 || n.applied != 4 {
		t.Fatalf("failed %v, applied %d; want no failure and 4 changes", res.failed, n.applied)
	}
	n.conflicts = 100
	n.st = fxNB()
	e, _ = fxEngine(true)
	e.nb = n
	res, err = runOneShot(context.Background(), e, oneShotOpts{repair: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.failed) == 0 || res.exitCode() != exitError {
		t.Fatalf("persistent conflicts: failed %v, exit %d; want failures and exit 2", res.failed, res.exitCode())
	}
	for _, f := range res.failed {
		if !strings.Contains(f.Error(), ovn.ErrConflict.Error()) {
			t.Errorf("failure %v is not a conflict", f)
		}
	}
}

func TestScopeMatch(t *testing.T) {
	fwd := fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.10"}
	other := fwdsync.ForwardKey{Project: "web", Network: "ovn1", ListenAddress: "198.51.100.20"}
	network := fwdsync.ForwardKey{Project: "default", Network: "ovn0"}
	orphan := fwdsync.ForwardKey{ListenAddress: "198.51.100.50"}
	global := fwdsync.ForwardKey{}
	listen := func(a ...string) map[string]bool {
		m := map[string]bool{}
		for _, x := range a {
			m[x] = true
		}
		return m
	}
	for _, tc := range []struct {
		name string
		sc   scope
		in   []fwdsync.ForwardKey
		out  []fwdsync.ForwardKey
	}{
		{"all", scope{}, []fwdsync.ForwardKey{fwd, other, network, orphan, global}, nil},
		{"project", scope{project: "default"}, []fwdsync.ForwardKey{fwd, network, global}, []fwdsync.ForwardKey{other, orphan}},
		{"network", scope{network: "ovn1"}, []fwdsync.ForwardKey{other, global}, []fwdsync.ForwardKey{fwd, network, orphan}},
		{"listen", scope{listen: listen("198.51.100.10", "198.51.100.50")}, []fwdsync.ForwardKey{fwd, orphan, global}, []fwdsync.ForwardKey{other, network}},
		{"network+listen", scope{network: "ovn0", listen: listen("198.51.100.10")}, []fwdsync.ForwardKey{fwd, global}, []fwdsync.ForwardKey{other, orphan, network}},
	} {
		for _, k := range tc.in {
			if !tc.sc.match(k) {
				t.Errorf("%s: %+v should match", tc.name, k)
			}
		}
		for _, k := range tc.out {
			if tc.sc.match(k) {
				t.Errorf("%s: %+v should not match", tc.name, k)
			}
		}
	}
}

func TestScopeFromCanonicalizes(t *testing.T) {
	app := &cli.App{}
	set := flag.NewFlagSet("check", flag.ContinueOnError)
	for _, f := range scopeFlags() {
		if err := f.Apply(set); err != nil {
			t.Fatal(err)
		}
	}
	if err := set.Parse([]string{"--listen", "2001:DB8:0::1,198.51.100.10", "--listen", "[2001:db8::2]"}); err != nil {
		t.Fatal(err)
	}
	sc, err := scopeFrom(cli.NewContext(app, set, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"2001:db8::1", "198.51.100.10", "2001:db8::2"} {
		if !sc.listen[a] {
			t.Errorf("%s not in scope %v", a, sc.listen)
		}
	}
	set = flag.NewFlagSet("check", flag.ContinueOnError)
	for _, f := range scopeFlags() {
		_ = f.Apply(set)
	}
	_ = set.Parse([]string{"--listen", "web.example"})
	if _, err := scopeFrom(cli.NewContext(app, set, nil)); err == nil {
		t.Error("a listen address that is no IP was accepted")
	}
}

func TestAskApply(t *testing.T) {
	todo := []fwdsync.Change{{Key: fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.10"},
		Ops: []fwdsync.Op{{Kind: fwdsync.OpCreateLB, Name: "lxd-net2-lb-198.51.100.10-tcp"}}}}
	for answer, want := range map[string]bool{"y\n": true, "YES\n": true, "\n": false, "n\n": false, "": false} {
		var out strings.Builder
		if got := askApply(strings.NewReader(answer), &out, todo); got != want {
			t.Errorf("answer %q: %v, want %v", answer, got, want)
		}
		if !strings.Contains(out.String(), "create-lb lxd-net2-lb-198.51.100.10-tcp") || !strings.Contains(out.String(), "[y/N]") {
			t.Errorf("prompt does not list the change:\n%s", out.String())
		}
	}
}

func TestTrailingFlags(t *testing.T) {
	var got []string
	var project, format string
	app := &cli.App{Commands: []*cli.Command{explainCmdForTest(func(c *cli.Context) error {
		var err error
		got, err = trailingFlags(c)
		project, format = c.String("project"), c.String("format")
		return err
	})}}
	if err := app.Run([]string{"ovnfwd", "explain", "ovn0", "198.51.100.10", "--project", "web", "-f=json"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"ovn0", "198.51.100.10"}) || project != "web" || format != "json" {
		t.Errorf("args %v, project %q, format %q", got, project, format)
	}
	if err := app.Run([]string{"ovnfwd", "explain", "ovn0", "198.51.100.10", "--bogus"}); err == nil {
		t.Error("an unknown trailing flag was accepted")
	}
}

func explainCmdForTest(action cli.ActionFunc) *cli.Command {
	c := explainCommand()
	c.Action = action
	return c
}
