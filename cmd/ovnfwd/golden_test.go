package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/ovnfwd/ovnfwd/engine"
)

// The engine's JSON goldens (engine/testdata, written by the engine's own
// tests from its fixture) are the input here: cmd renders them. JSON must
// come out byte for byte as the engine's file (the contract), tables and
// YAML as testdata/*.golden. `go test ./cmd/ovnfwd -run Golden -update`
// rewrites the latter.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

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

// engineResult reads engine/testdata/name.json.golden into v and returns
// its bytes.
func engineResult(t *testing.T, name string, v any) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "engine", "testdata", name+".json.golden"))
	if err != nil {
		t.Fatalf("%v (run `go test ./engine -run Golden -update` to create it)", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("engine golden %s: %v", name, err)
	}
	return raw
}

// renderAll renders one engine result in each format: JSON equal to the
// engine's, YAML that parses back, tables as the golden files.
func renderAll(t *testing.T, name string, formats []string, raw []byte, render func(w io.Writer, format string) error, back func() any) {
	t.Helper()
	for _, f := range formats {
		var buf bytes.Buffer
		if err := render(&buf, f); err != nil {
			t.Fatal(err)
		}
		switch f {
		case "json":
			if !bytes.Equal(buf.Bytes(), raw) {
				t.Errorf("%s: JSON output differs from the engine's:\n--- got\n%s\n--- want\n%s", name, buf.Bytes(), raw)
			}
			continue
		case "yaml":
			if err := yaml.Unmarshal(buf.Bytes(), back()); err != nil {
				t.Fatalf("%s: YAML output does not parse: %v\n%s", name, err, buf.Bytes())
			}
		}
		golden(t, name+"."+f+".golden", buf.Bytes())
	}
}

var allFormats = []string{"table", "json", "yaml"}

func TestGoldenReports(t *testing.T) {
	for _, tc := range []struct {
		name, verb string
		formats    []string
	}{
		{"check", "applied", allFormats},
		{"check-routes", "applied", []string{"table", "json"}},
		{"repair", "applied", allFormats},
		{"repair-dry-run", "would apply", []string{"table", "json"}},
	} {
		var r engine.Report
		raw := engineResult(t, tc.name, &r)
		renderAll(t, tc.name, tc.formats, raw, func(w io.Writer, f string) error { return writeReportWidth(w, f, r, tc.verb, 80, false) },
			func() any { return &engine.Report{} })
	}
}

// check's table fits 80 columns (issue 12: lines ran to 530); --wide adds
// REPAIR on one line per row; compact and csv.
func TestGoldenCheckFits(t *testing.T) {
	var r engine.Report
	engineResult(t, "check", &r)
	var fit, wide, compact, csvOut bytes.Buffer
	for _, x := range []struct {
		buf    *bytes.Buffer
		format string
		wide   bool
	}{{&fit, "table", false}, {&wide, "table", true}, {&compact, "compact", false}, {&csvOut, "csv", false}} {
		if err := writeReportWidth(x.buf, x.format, r, "applied", 80, x.wide); err != nil {
			t.Fatal(err)
		}
	}
	for i, l := range strings.Split(fit.String(), "\n") {
		if n := utf8.RuneCountInString(l); n > 80 {
			t.Errorf("line %d is %d columns: %q", i+1, n, l)
		}
	}
	if !strings.Contains(wide.String(), "REPAIR") || strings.Contains(fit.String(), "REPAIR") {
		t.Error("REPAIR belongs to --wide only")
	}
	rows, err := csv.NewReader(&csvOut).ReadAll()
	if err != nil || len(rows) != len(r.Findings)+1 || rows[0][3] != "category" {
		t.Errorf("csv: %d rows, %v", len(rows), err)
	}
	golden(t, "check.table.golden", fit.Bytes())
	golden(t, "check-wide.table.golden", wide.Bytes())
	golden(t, "check.compact.golden", compact.Bytes())
}

func TestGoldenStatus(t *testing.T) {
	for _, name := range []string{"status", "status-daemons"} {
		var r engine.StatusReport
		raw := engineResult(t, name, &r)
		renderAll(t, name, allFormats, raw, func(w io.Writer, f string) error { return writeStatus(w, f, r) },
			func() any { return &engine.StatusReport{} })
	}
}

func TestGoldenExplain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		formats []string
	}{
		{"explain", allFormats},
		{"explain-broken", []string{"table", "json"}},
		{"explain-daemons", []string{"table", "json"}},
	} {
		var x engine.Explanation
		raw := engineResult(t, tc.name, &x)
		renderAll(t, tc.name, tc.formats, raw, func(w io.Writer, f string) error { return writeExplanation(w, f, x) },
			func() any { return &engine.Explanation{} })
	}
}
