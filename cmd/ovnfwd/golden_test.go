package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/ovnfwd/ovnfwd/lxdwatch"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// go test ./cmd/ovnfwd -run Golden -update rewrites testdata/*.golden.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var formats = []string{"table", "json", "yaml"}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./cmd/ovnfwd -run Golden -update` to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (rerun with -update if intended):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// checkStructured verifies that JSON and YAML output parse back.
func checkStructured(t *testing.T, format string, out []byte, into any) {
	t.Helper()
	var err error
	switch format {
	case "json":
		err = json.Unmarshal(out, into)
	case "yaml":
		err = yaml.Unmarshal(out, into)
	default:
		return
	}
	if err != nil {
		t.Fatalf("%s output does not parse: %v\n%s", format, err, out)
	}
}

// fxEngine is an engine over the fixture: the lead's in-memory NB (which
// applies changes) and an SB that follows it.
func fxEngine(deep bool) (*engine, *fakeNB) {
	l := &fakeLXD{st: fxLXD()}
	n := &fakeNB{st: fxNB()}
	var sb sbStore
	if deep {
		sb = fxSB{nb: n}
	}
	return newEngine(l, n, sb, fwdsync.Options{DeletionBudget: 100}, zap.NewNop()), n
}

func fxOneShot(t *testing.T, o oneShotOpts, deep bool) (oneShotResult, *fakeNB) {
	t.Helper()
	e, n := fxEngine(deep)
	res, err := runOneShot(context.Background(), e, o)
	if err != nil {
		t.Fatal(err)
	}
	res.report.Summary.DurationMS = 12
	return res, n
}

func TestGoldenCheck(t *testing.T) {
	res, _ := fxOneShot(t, oneShotOpts{deep: true}, true)
	for _, f := range formats {
		var buf bytes.Buffer
		if err := writeReport(&buf, f, res.report, "applied"); err != nil {
			t.Fatal(err)
		}
		var back report
		checkStructured(t, f, buf.Bytes(), &back)
		if f != "table" && (back.Summary.Findings != res.report.Summary.Findings || len(back.Findings) != len(res.report.Findings)) {
			t.Errorf("%s round trip lost findings", f)
		}
		golden(t, "check."+f+".golden", buf.Bytes())
	}
}

// check with ovnfwd's BGP on (router next hop) where LXD's own BGP peers
// with the routers too and the network has no IPv6 uplink address for its
// IPv6 forwards: the two network-wide route findings.
func TestGoldenCheckRoutes(t *testing.T) {
	e, l, _ := routeEngine(fwdsync.Options{Routes: &fwdsync.RoutePolicy{NextHop: fwdsync.NextHopRouter}},
		map[string]map[string]string{"br0": lxdBGP})
	l.st.Forwards = append(l.st.Forwards, fwdsync.Forward{Project: "default", Network: "ovn0", ListenAddress: "2001:db8:60::10",
		Ports: []fwdsync.ForwardPort{fxPort("tcp", "80", "fd42:60::5", "")}})
	res := oneShot(t, e, oneShotOpts{deep: true, scope: scope{network: "ovn0", listen: map[string]bool{"198.51.100.10": true, "2001:db8:60::10": true}}})
	res.report.Summary.DurationMS = 12
	for _, f := range []string{"table", "json"} {
		var buf bytes.Buffer
		if err := writeReport(&buf, f, res.report, "applied"); err != nil {
			t.Fatal(err)
		}
		var back report
		checkStructured(t, f, buf.Bytes(), &back)
		golden(t, "check-routes."+f+".golden", buf.Bytes())
	}
}

func TestGoldenRepair(t *testing.T) {
	res, _ := fxOneShot(t, oneShotOpts{repair: true, deep: true}, true)
	for _, f := range formats {
		var buf bytes.Buffer
		if err := writeReport(&buf, f, res.report, "applied"); err != nil {
			t.Fatal(err)
		}
		var back report
		checkStructured(t, f, buf.Bytes(), &back)
		golden(t, "repair."+f+".golden", buf.Bytes())
	}
	// --dry-run: the same changes, announced.
	dry, _ := fxOneShot(t, oneShotOpts{repair: true, dryRun: true, deep: true}, true)
	var buf bytes.Buffer
	if err := writeReport(&buf, "table", dry.report, "would apply"); err != nil {
		t.Fatal(err)
	}
	golden(t, "repair-dry-run.table.golden", buf.Bytes())
}

// fxStatusInput is status's input over the fixture, with the verdicts of a
// deep check.
func fxStatusInput(t *testing.T) statusInput {
	t.Helper()
	e, n := fxEngine(true)
	e.observeBarrier()
	pr, err := e.pass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	return statusInput{
		Networks: fxLXD().Networks, Mappings: pr.Plan.Mappings, Statuses: pr.Statuses, Findings: pr.Findings,
		NB: n.st, SB: fxSBFrom(n.st),
		LXDChassis:    map[fwdsync.NetworkRef]string{{Project: "default", Name: "ovn0"}: "node2"},
		LXDChassisErr: map[fwdsync.NetworkRef]string{{Project: "web", Name: "ovn1"}: "read LXD network state of ovn1 (project web): Network not found"},
		Uplinks: map[string]lxdwatch.Uplink{
			"br0":    {Name: "br0", Type: "bridge", IPv4Routes: "198.51.100.0/24"},
			"UPLINK": {Name: "UPLINK", Type: "physical", IngressMode: "l2proxy"},
		},
		UplinkErr: map[string]string{},
		Took:      34 * time.Millisecond,
	}
}

func TestGoldenStatus(t *testing.T) {
	r := buildStatus(fxStatusInput(t))
	for _, f := range formats {
		var buf bytes.Buffer
		if err := writeStatus(&buf, f, r); err != nil {
			t.Fatal(err)
		}
		var back statusReport
		checkStructured(t, f, buf.Bytes(), &back)
		golden(t, "status."+f+".golden", buf.Bytes())
	}
}

// fxExplainInput is explain's input for one fixture forward.
func fxExplainInput(t *testing.T, listen string) explainInput {
	t.Helper()
	e, n := fxEngine(true)
	e.observeBarrier()
	pr, err := e.pass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	key := fwdsync.ForwardKey{Project: "default", Network: "ovn0", ListenAddress: listen}
	ref := fwdsync.NetworkRef{Project: "default", Name: "ovn0"}
	in := explainInput{Key: key, NetworkListed: true, Mapping: pr.Plan.Mappings[ref], Rules: pr.Plan.Rules,
		Unplanned: pr.Plan.Unplanned[key], NB: n.st, SB: fxSBFrom(n.st), Flows: fxFlows(), LXDChassis: "node2"}
	for _, f := range fxLXD().Forwards {
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
	for _, tc := range []struct {
		name, listen string
		formats      []string
	}{
		{"explain", "198.51.100.10", formats},
		{"explain-broken", "198.51.100.11", []string{"table"}},
	} {
		x := buildExplanation(fxExplainInput(t, tc.listen))
		for _, f := range tc.formats {
			var buf bytes.Buffer
			if err := writeExplanation(&buf, f, x); err != nil {
				t.Fatal(err)
			}
			var back explanation
			checkStructured(t, f, buf.Bytes(), &back)
			if f != "table" && len(back.Steps) != 10 {
				t.Errorf("%s: %d steps after a round trip, want 10", f, len(back.Steps))
			}
			golden(t, tc.name+"."+f+".golden", buf.Bytes())
		}
	}
}
