//go:build bench

package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExponent(t *testing.T) {
	for _, c := range []struct{ n1, c1, n2, c2, want float64 }{
		{1000, 1, 10000, 10, 1},  // linear
		{1000, 1, 10000, 100, 2}, // quadratic
		{1000, 50, 10000, 50, 0}, // fixed
		{10000, 2, 50000, 10, 1}, // linear
		{10000, 2, 50000, 50, 2}, // quadratic
	} {
		if got := exponent(c.n1, c.c1, c.n2, c.c2); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("exponent(%v,%v,%v,%v) = %v, want %v", c.n1, c.c1, c.n2, c.c2, got, c.want)
		}
	}
	if !math.IsNaN(exponent(1000, 0, 10000, 1)) || !math.IsNaN(exponent(1000, math.NaN(), 10000, 1)) {
		t.Error("a missing cost must give no exponent")
	}
}

// The curve's verdict follows ovnfwd's own worst exponent: a quadratic
// check fails it, a quadratic repair wall (northd) alone does not.
func TestSectionCurveVerdict(t *testing.T) {
	write := func(checkAt50k, repairWallAt50k float64) *report {
		dir := t.TempDir()
		var lines []string
		for _, p := range []struct{ n, check, repair float64 }{{1000, 0.1, 1}, {10000, 1, 10}, {50000, checkAt50k, repairWallAt50k}} {
			add := func(m map[string]any) {
				m["forwards"] = p.n
				b, _ := json.Marshal(m)
				lines = append(lines, string(b))
			}
			for run := 1; run <= 5; run++ {
				add(map[string]any{"what": "check", "run": run, "wall_s": p.check, "rss_kb": p.n * 10})
				add(map[string]any{"what": "lxd-list", "run": run, "wall_s": p.check / 2})
				add(map[string]any{"what": "nb-read", "run": run, "wall_s": p.check / 2, "rss_kb": p.n * 5})
				add(map[string]any{"what": "nb-read-raw", "run": run, "wall_s": p.check / 4, "rss_kb": p.n * 2})
				// Repair CPU: run 5 at the largest size is 1.5× the others
				// (one slow run shows in the spread, not in k of the medians).
				cpu := p.n / 5000
				if run == 5 && p.n == 50000 {
					cpu *= 1.5
				}
				add(map[string]any{"what": "repair", "run": run, "wall_s": p.repair, "cpu_s": cpu, "rss_kb": p.n * 20, "exit": 0})
				add(map[string]any{"what": "run", "run": run, "wall_s": p.n / 1000, "steady_rss_kb": []float64{p.n * 9, p.n * 10, p.n * 11}, "hwm_kb": p.n * 15})
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "m8.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := &report{dir: dir, meta: map[string]any{"curve_runs": 5.0}}
		r.sectionCurve()
		return r
	}
	verdictOf := func(r *report) string {
		for _, g := range r.goals {
			if g[0] == "14·6" {
				return g[3]
			}
		}
		t.Fatal("no 14·6 goal")
		return ""
	}
	if v := verdictOf(write(5, 250)); v != verdict(true) {
		t.Errorf("linear ovnfwd, quadratic repair wall: verdict %s, want met", v)
	}
	r := write(25, 50)
	if v := verdictOf(r); v != verdict(false) {
		t.Errorf("quadratic check: verdict %s, want not met", v)
	}
	out := r.b.String()
	if !strings.Contains(out, "| 10,000 → 50,000 | **2.00** (2.00–2.00) |") {
		t.Errorf("the growth table does not mark the quadratic step:\n%s", out)
	}
	// Repair CPU's spread over the paired runs: four linear, one 1.5×
	// (k = 1 + log 1.5 / log 5 = 1.25).
	if !strings.Contains(out, "| 1.00 (1.00–1.25) |") {
		t.Errorf("the growth table does not show the runs' spread of k:\n%s", out)
	}
	for _, g := range r.goals {
		if g[0] == "14·6" && !strings.Contains(g[2], "5 paired runs per exponent") {
			t.Errorf("the goal does not say how many runs each exponent pairs: %q", g[2])
		}
	}
}

// The raw reader decodes OVSDB datums as RFC 7047 writes them.
func TestRawDatums(t *testing.T) {
	var set []string
	for _, in := range []string{`"tcp"`, `["uuid","u1"]`, `["set",[["uuid","u2"],["uuid","u3"]]]`, `["set",[]]`} {
		if err := rawSet(json.RawMessage(in), &set); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
	}
	if strings.Join(set, ",") != "tcp,u1,u2,u3" {
		t.Errorf("set %v", set)
	}
	m, err := rawMap(json.RawMessage(`["map",[["198.18.0.1:80","10.10.10.2:8080"],["k","v"]]]`))
	if err != nil || m["198.18.0.1:80"] != "10.10.10.2:8080" || m["k"] != "v" || len(m) != 2 {
		t.Errorf("map %v, err %v", m, err)
	}
	if _, err := rawMap(json.RawMessage(`["set",[]]`)); err == nil {
		t.Error("a set read as a map")
	}
}

// Goal rows of sections measured by other commands reach the goals table
// and leave the text.
func TestOtherGoals(t *testing.T) {
	r := &report{}
	out := r.otherGoals([]byte("## 8. x\n\n<!-- goal: 14·7 | three members cost one's | 1.00× | **met** -->\ntext\n<!-- an ordinary comment -->\n"))
	if len(r.goals) != 1 || r.goals[0] != [4]string{"14·7", "three members cost one's", "1.00×", "**met**"} {
		t.Errorf("goals %q", r.goals)
	}
	if string(out) != "## 8. x\n\ntext\n<!-- an ordinary comment -->\n" {
		t.Errorf("text %q", out)
	}
}
