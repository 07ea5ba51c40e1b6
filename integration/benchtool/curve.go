//go:build bench

package main

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
)

// curvePoint is one size of bench.sh's phase m8: medians over its runs.
type curvePoint struct {
	n                                  float64
	check, checkRSS, checkCPU          float64
	lxd, nb, nbRSS, raw, rawRSS        float64
	repair, repairRSS, repairCPU       float64
	repairExit, repairOK, repairChange float64
	runOK, runRSS, runPeak             float64
	rows                               []map[string]any // this size's raw rows
}

// curveLinear is the largest growth exponent called "linear": the cost at
// n2 over the cost at n1 is at most (n2/n1)^1.1 (run-to-run noise on a
// shared 2-core machine is ±10 % at these sizes).
const curveLinear = 1.1

func curvePoints(rows []map[string]any) []curvePoint {
	by := map[float64][]map[string]any{}
	for _, m := range rows {
		by[num(m, "forwards")] = append(by[num(m, "forwards")], m)
	}
	var sizes []float64
	for n := range by {
		sizes = append(sizes, n)
	}
	slices.Sort(sizes)
	var out []curvePoint
	for _, n := range sizes {
		med := func(what, k string) float64 {
			var xs []float64
			for _, m := range by[n] {
				if str(m, "what") == what {
					if v := num(m, k); !math.IsNaN(v) {
						xs = append(xs, v)
					}
				}
			}
			if len(xs) == 0 {
				return math.NaN()
			}
			return summarize(xs).Median
		}
		p := curvePoint{n: n, rows: by[n],
			check: med("check", "wall_s"), checkRSS: med("check", "rss_kb"), checkCPU: med("check", "cpu_s"),
			lxd: med("lxd-list", "wall_s"), nb: med("nb-read", "wall_s"), nbRSS: med("nb-read", "rss_kb"),
			raw: med("nb-read-raw", "wall_s"), rawRSS: med("nb-read-raw", "rss_kb"),
			repair: med("repair", "wall_s"), repairRSS: med("repair", "rss_kb"), repairCPU: med("repair", "cpu_s"),
			repairExit: med("repair", "exit"), repairOK: med("repair", "ok"), repairChange: med("repair", "changes"),
			runOK: med("run", "wall_s"), runPeak: med("run", "hwm_kb"), runRSS: math.NaN()}
		var rss []float64
		for _, v := range perRun(by[n], "run", "steady_rss_kb") {
			rss = append(rss, v)
		}
		if len(rss) > 0 {
			p.runRSS = summarize(rss).Median
		}
		out = append(out, p)
	}
	return out
}

// perRun returns a measure's value in each run at one size, by run number;
// for steady_rss_kb (a list of samples) the median of the run's samples.
func perRun(rows []map[string]any, what, key string) map[int]float64 {
	out := map[int]float64{}
	for _, m := range rows {
		if str(m, "what") != what {
			continue
		}
		run := int(num(m, "run"))
		if a, ok := m[key].([]any); ok {
			var xs []float64
			for _, v := range a {
				if f, ok := v.(float64); ok {
					xs = append(xs, f)
				}
			}
			if len(xs) > 0 {
				out[run] = summarize(xs).Median
			}
			continue
		}
		if v := num(m, key); !math.IsNaN(v) {
			out[run] = v
		}
	}
	return out
}

// runExponents pairs run i at one size with run i at the next and returns
// the growth exponent of each pair: the spread of k over the runs.
func runExponents(a, b curvePoint, what, key string) []float64 {
	ra, rb := perRun(a.rows, what, key), perRun(b.rows, what, key)
	var ks []float64
	for run, ca := range ra {
		if cb, ok := rb[run]; ok {
			if k := exponent(a.n, ca, b.n, cb); !math.IsNaN(k) {
				ks = append(ks, k)
			}
		}
	}
	return ks
}

// exponent is the growth exponent k of cost c between sizes: c2/c1 = (n2/n1)^k.
func exponent(n1, c1, n2, c2 float64) float64 {
	if c1 <= 0 || c2 <= 0 || math.IsNaN(c1) || math.IsNaN(c2) || n2 <= n1 {
		return math.NaN()
	}
	return math.Log(c2/c1) / math.Log(n2/n1)
}

func expf(k float64) string {
	if math.IsNaN(k) {
		return "–"
	}
	s := fmt.Sprintf("%.2f", k)
	if k > curveLinear {
		s = "**" + s + "**"
	}
	return s
}

func (r *report) sectionCurve() {
	rows := readJSONL(filepath.Join(r.dir, "m8.jsonl"))
	r.p("## 12. Cost curve: how check, repair and `run` grow with the number of forwards (issue 14)\n\n")
	pts := curvePoints(rows)
	if len(pts) < 2 {
		r.p("Not measured (phase m8 did not run or failed; see the bench log).\n\n")
		r.goal("14·6", "cost curve: every ovnfwd measure linear or better from the smallest to the largest size", "not measured", "–")
		return
	}
	var sizes []string
	for _, p := range pts {
		sizes = append(sizes, intf(p.n))
	}
	r.p("Phase m8 of `bench.sh`: for each size (%s forwards × 2 ports), from a bed without any benchmark forward or row: seed,\n", strings.Join(sizes, ", "))
	r.p("%v runs of a cold `ovnfwd repair --yes` (no row in NB: each run first deletes the rows and waits for northd and the\n", r.meta["curve_runs"])
	r.p("chassis) to verified, then %v rounds of `ovnfwd check` next to LXD's own listing (`benchtool lxd-list`), the NB read\n", r.meta["curve_runs"])
	r.p("through libovsdb (`benchtool nb-read`) and a raw JSON-RPC reader (`benchtool nb-read-raw`), then %v starts of\n", r.meta["curve_runs"])
	r.p("`ovnfwd run`, each until every forward is ok and its RSS 5 s later (5 samples). Cells are medians over the runs.\n\n")
	r.p("| forwards | check | LXD listing | NB read (libovsdb / raw) | repair to verified (exit) | repair: ovnfwd CPU | `run`: all ok after |\n|---|---|---|---|---|---|---|\n")
	for _, p := range pts {
		r.p("| %s | %s | %s | %s / %s | %s (%.0f) | %s | %s |\n", intf(p.n), dur(p.check), dur(p.lxd), dur(p.nb), dur(p.raw),
			dur(p.repair), p.repairExit, dur(p.repairCPU), dur(p.runOK))
	}
	r.p("\n| forwards | check peak RSS | NB read peak RSS (libovsdb / raw) | repair peak RSS | `run` steady RSS | `run` peak RSS |\n|---|---|---|---|---|---|\n")
	for _, p := range pts {
		r.p("| %s | %s | %s / %s | %s | %s | %s |\n", intf(p.n), mib(p.checkRSS), mib(p.nbRSS), mib(p.rawRSS), mib(p.repairRSS), mib(p.runRSS), mib(p.runPeak))
	}
	perK := func(s float64, n float64) string {
		if math.IsNaN(s) {
			return "–"
		}
		return fmt.Sprintf("%.0f µs", s/n*1e6)
	}
	perKB := func(kb float64, n float64) string {
		if math.IsNaN(kb) {
			return "–"
		}
		return fmt.Sprintf("%.1f KiB", kb/n)
	}
	r.p("\nPer forward:\n\n| forwards | check | LXD listing | NB read | repair (wall) | repair (ovnfwd CPU) | check RSS | `run` RSS |\n|---|---|---|---|---|---|---|---|\n")
	for _, p := range pts {
		r.p("| %s | %s | %s | %s | %s | %s | %s | %s |\n", intf(p.n), perK(p.check, p.n), perK(p.lxd, p.n), perK(p.nb, p.n),
			perK(p.repair, p.n), perK(p.repairCPU, p.n), perKB(p.checkRSS, p.n), perKB(p.runRSS, p.n))
	}
	r.p("\nGrowth exponent k between consecutive sizes (cost₂ ÷ cost₁ = (n₂ ÷ n₁)^k: 1 is linear, 2 quadratic, below 1 a fixed\n")
	r.p("cost amortised; **bold** above %.1f). Each cell is k of the medians, then in brackets min–max of k over the runs, run i\n", curveLinear)
	r.p("at one size paired with run i at the next:\n\n")
	r.p("| sizes | check | check RSS | repair: ovnfwd CPU | `run` steady RSS | `run` all ok | LXD listing (reference) | NB read (libovsdb) | repair wall (northd + chassis included) |\n|---|---|---|---|---|---|---|---|---|\n")
	worst := math.Inf(-1)
	var worstWhat string
	var runsK []int // paired runs behind each of ovnfwd's own exponents
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		ks := []struct {
			what, row, key string
			k              float64
			own            bool
		}{
			{"check", "check", "wall_s", exponent(a.n, a.check, b.n, b.check), true},
			{"check RSS", "check", "rss_kb", exponent(a.n, a.checkRSS, b.n, b.checkRSS), true},
			{"repair CPU", "repair", "cpu_s", exponent(a.n, a.repairCPU, b.n, b.repairCPU), true},
			{"run RSS", "run", "steady_rss_kb", exponent(a.n, a.runRSS, b.n, b.runRSS), true},
			{"run all ok", "run", "wall_s", exponent(a.n, a.runOK, b.n, b.runOK), true},
			{"LXD listing", "lxd-list", "wall_s", exponent(a.n, a.lxd, b.n, b.lxd), false},
			{"NB read", "nb-read", "wall_s", exponent(a.n, a.nb, b.n, b.nb), false},
			{"repair wall", "repair", "wall_s", exponent(a.n, a.repair, b.n, b.repair), false},
		}
		r.p("| %s → %s |", intf(a.n), intf(b.n))
		for _, k := range ks {
			spread := ""
			if rk := runExponents(a, b, k.row, k.key); len(rk) > 0 {
				s := summarize(rk)
				spread = fmt.Sprintf(" (%.2f–%.2f)", s.Min, s.Max)
				if k.own {
					runsK = append(runsK, len(rk))
				}
			}
			r.p(" %s%s |", expf(k.k), spread)
			if k.own && !math.IsNaN(k.k) && k.k > worst {
				worst, worstWhat = k.k, fmt.Sprintf("%s, %s → %s", k.what, intf(a.n), intf(b.n))
			}
		}
		r.p("\n")
	}
	r.p("\nThe verdict below judges what ovnfwd itself spends (check wall and RSS, repair CPU, `run` RSS and time to all ok);\n")
	r.p("a repair's wall time also holds northd and the chassis absorbing the rows, which OVN 23.03 does in more than linear\n")
	r.p("time (section 2's floors at 10,000 and the analysis below).\n\n")
	for _, p := range pts {
		if p.repairExit != 0 && !math.IsNaN(p.repairExit) {
			r.p("> The repair at %s forwards exited %.0f (%.0f forwards ok, %.0f changes); see the bench log.\n\n", intf(p.n), p.repairExit, p.repairOK, p.repairChange)
		}
	}
	r.goal("14·6", fmt.Sprintf("cost curve %s → %s forwards: ovnfwd's own costs linear or better (k ≤ %.1f)", sizes[0], sizes[len(sizes)-1], curveLinear),
		fmt.Sprintf("largest k %.2f (%s; k of the medians, %s paired runs per exponent); section 12", worst, worstWhat, rangeInts(runsK)),
		verdict(!math.IsInf(worst, -1) && worst <= curveLinear))
}

// rangeInts renders the smallest and largest of xs ("5", or "3–5").
func rangeInts(xs []int) string {
	if len(xs) == 0 {
		return "no"
	}
	lo, hi := slices.Min(xs), slices.Max(xs)
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d–%d", lo, hi)
}
