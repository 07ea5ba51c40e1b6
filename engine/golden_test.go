package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ovnfwd/ovnfwd/engine/enginetest"

	"go.uber.org/zap"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// go test ./Engine -run Golden -update rewrites testdata/*.json.golden: the
// JSON the commands print (a contract: fields are only ever added) and the
// input of cmd/ovnfwd's rendering tests.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenJSON compares v, as the commands print JSON, with
// testdata/name.json.golden, or rewrites it with -update.
func goldenJSON(t *testing.T, name string, v any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".json.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./engine -run Golden -update` to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs from the golden file (rerun with -update if intended):\n--- got\n%s\n--- want\n%s", path, buf.Bytes(), want)
	}
}

// fxEngine is an engine over the fixture: the lead's in-memory NB (which
// applies changes) and an SB that follows it.
func fxEngine(deep bool) (*Engine, *enginetest.NB) {
	l := &enginetest.LXD{St: enginetest.FxLXD()}
	n := &enginetest.NB{St: enginetest.FxNB()}
	var sb SB
	if deep {
		sb = enginetest.SB{NB: n}
	}
	return newEngine(l, n, sb, fwdsync.Options{DeletionBudget: 100}, zap.NewNop()), n
}

func fxOneShot(t *testing.T, o OneShotOpts, deep bool) (OneShotResult, *enginetest.NB) {
	t.Helper()
	e, n := fxEngine(deep)
	res, err := RunOneShot(context.Background(), e, o)
	if err != nil {
		t.Fatal(err)
	}
	res.Report.Summary.DurationMS = 12
	return res, n
}

func TestGoldenCheck(t *testing.T) {
	res, _ := fxOneShot(t, OneShotOpts{Deep: true}, true)
	goldenJSON(t, "check", res.Report)
}

// check with ovnfwd's BGP on (router next hop) where LXD's own BGP peers
// with the routers too and the network has no IPv6 uplink address for its
// IPv6 forwards: the two network-wide route findings.
func TestGoldenCheckRoutes(t *testing.T) {
	e, l, _ := routeEngine(fwdsync.Options{Routes: &fwdsync.RoutePolicy{NextHop: fwdsync.NextHopRouter}},
		map[string]map[string]string{"br0": lxdBGP})
	l.St.Forwards = append(l.St.Forwards, fwdsync.Forward{Project: "default", Network: "ovn0", ListenAddress: "2001:db8:60::10",
		Ports: []fwdsync.ForwardPort{enginetest.FxPort("tcp", "80", "fd42:60::5", "")}})
	res := oneShot(t, e, OneShotOpts{Deep: true, Scope: Scope{Network: "ovn0", Listen: map[string]bool{"198.51.100.10": true, "2001:db8:60::10": true}}})
	res.Report.Summary.DurationMS = 12
	goldenJSON(t, "check-routes", res.Report)
}

func TestGoldenRepair(t *testing.T) {
	res, _ := fxOneShot(t, OneShotOpts{Repair: true, Deep: true}, true)
	goldenJSON(t, "repair", res.Report)
	// --dry-run: the same changes, announced.
	dry, _ := fxOneShot(t, OneShotOpts{Repair: true, DryRun: true, Deep: true}, true)
	goldenJSON(t, "repair-dry-run", dry.Report)
}

// fxStatusInput is status's input over the fixture, with the verdicts of a
// deep check.
func fxStatusInput(t *testing.T) StatusInput {
	t.Helper()
	e, n := fxEngine(true)
	e.observeBarrier()
	pr, err := e.pass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	return StatusInput{
		Networks: enginetest.FxLXD().Networks, Mappings: pr.Plan.Mappings, Statuses: pr.Statuses, Findings: pr.Findings,
		NB: n.St, SB: enginetest.FxSBFrom(n.St),
		LXDChassis:    map[fwdsync.NetworkRef]string{{Project: "default", Name: "ovn0"}: "node2"},
		LXDChassisErr: map[fwdsync.NetworkRef]string{{Project: "web", Name: "ovn1"}: "read LXD network state of ovn1 (project web): Network not found"},
		Uplinks: map[string]fwdsync.Uplink{
			"br0":    {Name: "br0", Type: "bridge", IPv4Routes: "198.51.100.0/24"},
			"UPLINK": {Name: "UPLINK", Type: "physical", IngressMode: "l2proxy"},
		},
		UplinkErr: map[string]string{},
		Took:      34 * time.Millisecond,
	}
}

func TestGoldenStatus(t *testing.T) {
	goldenJSON(t, "status", BuildStatus(fxStatusInput(t)))
}

// fxExplainInput is explain's input for one fixture forward.
func fxExplainInput(t *testing.T, listen string) ExplainInput {
	t.Helper()
	e, n := fxEngine(true)
	e.observeBarrier()
	pr, err := e.pass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	key := fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: listen}
	ref := fwdsync.NetworkRef{Project: "default", Name: "ovn0"}
	in := ExplainInput{Key: key, NetworkListed: true, Mapping: pr.Plan.Mappings[ref], Rules: pr.Plan.Rules,
		Unplanned: pr.Plan.Unplanned[key], NB: n.St, SB: enginetest.FxSBFrom(n.St), Flows: enginetest.FxFlows(), LXDChassis: "node2"}
	for _, f := range enginetest.FxLXD().Forwards {
		if f.Key() == key {
			f := f
			in.Forward = &f
		}
	}
	if d, ok := pr.Plan.Desired[key]; ok {
		in.Desired = &d
	}
	for _, s := range pr.Statuses {
		if s.Key == key {
			in.Status = s
		}
	}
	for _, f := range pr.Findings {
		if f.Key == key {
			in.Findings = append(in.Findings, f)
		}
	}
	return in
}

func TestGoldenExplain(t *testing.T) {
	x := BuildExplanation(fxExplainInput(t, "198.51.100.10"))
	if len(x.Steps) != 10 {
		t.Errorf("%d steps, want 10", len(x.Steps))
	}
	goldenJSON(t, "explain", x)
	goldenJSON(t, "explain-broken", BuildExplanation(fxExplainInput(t, "198.51.100.11")))
}
