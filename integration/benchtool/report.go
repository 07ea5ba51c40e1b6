//go:build bench

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// cmdReport writes BENCHMARKS.md from the results directory bench.sh fills.
func cmdReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	dir := fs.String("dir", "", "results directory")
	out := fs.String("out", "BENCHMARKS.md", "markdown file to write")
	cmdline := fs.String("cmd", "integration/bench.sh full bin/ovnfwd", "the command that produced the results")
	analysis := fs.String("analysis", "", "hand-written analysis to append (markdown)")
	others := fs.String("other-runs", "", "sections measured by other commands, inserted after section 7 (markdown; its leading HTML comment is dropped)")
	_ = fs.Parse(args)
	rp := &report{dir: *dir, cmd: *cmdline}
	if err := rp.load(); err != nil {
		return err
	}
	md := rp.render(*analysis, *others)
	return os.WriteFile(*out, []byte(md), 0o644)
}

type report struct {
	dir  string
	cmd  string
	meta map[string]any
	b    bytes.Buffer
	// summary rows: goal, measured, verdict
	goals [][4]string
}

func (r *report) load() error {
	return readJSON(filepath.Join(r.dir, "meta.json"), &r.meta)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func readJSONL(path string) []map[string]any {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func (r *report) p(format string, args ...any) { fmt.Fprintf(&r.b, format, args...) }

func (r *report) exists(name string) bool {
	_, err := os.Stat(filepath.Join(r.dir, name))
	return err == nil
}

func (r *report) failed(phase string) bool { return r.exists(phase + ".error.json") }

func num(m map[string]any, k string) float64 {
	switch v := m[k].(type) {
	case float64:
		return v
	case json.Number:
		f, _ := v.Float64()
		return f
	}
	return math.NaN()
}

func str(m map[string]any, k string) string {
	if v, ok := m[k]; ok && v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

func column(rows []map[string]any, k string) []float64 {
	var out []float64
	for _, m := range rows {
		if v := num(m, k); !math.IsNaN(v) {
			out = append(out, v)
		}
	}
	return out
}

// dur formats seconds for humans.
func dur(s float64) string {
	switch {
	case math.IsNaN(s):
		return "–"
	case s >= 100:
		return fmt.Sprintf("%.0f s", s)
	case s >= 10:
		return fmt.Sprintf("%.1f s", s)
	case s >= 1:
		return fmt.Sprintf("%.2f s", s)
	case s >= 0.01:
		return fmt.Sprintf("%.1f ms", s*1000)
	default:
		return fmt.Sprintf("%.2f ms", s*1000)
	}
}

func mmm(xs []float64, f func(float64) string) string {
	if len(xs) == 0 {
		return "–"
	}
	s := summarize(xs)
	return fmt.Sprintf("%s / %s / %s", f(s.Min), f(s.Median), f(s.Max))
}

// goalRounds is how many rounds a latency goal's samples are split into.
const goalRounds = 5

// rounds splits samples taken one after the other into k rounds of
// consecutive samples (sizes differing by at most one), in order. The
// latency phases run each operation alone (the next waits until the daemon
// is idle), so a round is a run of its own: the goals report the spread of
// a percentile over rounds like the other goals' over runs.
func rounds(xs []float64, k int) [][]float64 {
	if len(xs) < k {
		return nil
	}
	out := make([][]float64, 0, k)
	for i := 0; i < k; i++ {
		out = append(out, xs[i*len(xs)/k:(i+1)*len(xs)/k])
	}
	return out
}

// roundsText is "p50 a / b / c, p99 d / e / f (min / median / max over k
// rounds of n/k consecutive samples)", or "" with fewer samples than rounds.
func roundsText(xs []float64) string {
	rs := rounds(xs, goalRounds)
	if rs == nil {
		return ""
	}
	var p50, p99 []float64
	for _, r := range rs {
		s := summarize(r)
		p50 = append(p50, s.Median)
		p99 = append(p99, s.P99)
	}
	size := fmt.Sprint(len(xs) / goalRounds)
	if len(xs)%goalRounds != 0 {
		size += fmt.Sprintf("–%d", len(xs)/goalRounds+1)
	}
	return fmt.Sprintf("per round p50 %s, p99 %s (min / median / max over %d rounds of %s consecutive samples)",
		mmm(p50, dur), mmm(p99, dur), goalRounds, size)
}

// opValues is one number per operation of a latency phase, in the order
// they ran, for the operations keep accepts.
func opValues(ops []any, keep func(map[string]any) bool, v func(map[string]any) float64) []float64 {
	var out []float64
	for _, o := range ops {
		m, _ := o.(map[string]any)
		if m != nil && keep(m) {
			out = append(out, v(m))
		}
	}
	return out
}

func ratio(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	if x >= 10 {
		return fmt.Sprintf("%.0f×", x)
	}
	return fmt.Sprintf("%.2f×", x)
}

func mib(kb float64) string { return fmt.Sprintf("%.0f MiB", kb/1024) }

func intf(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	var out []byte
	for i, c := range []byte(s) {
		if i > 0 && (len(s)-i)%3 == 0 && s[0] != '-' {
			out = append(out, ',')
		}
		out = append(out, c)
	}
	return string(out)
}

func verdict(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

func (r *report) goal(id, goal, measured, v string) {
	r.goals = append(r.goals, [4]string{id, goal, measured, v})
}

// otherGoals takes the goal rows of sections measured by other commands:
// lines "<!-- goal: ID | goal | measured | verdict -->" go into the goals
// table (in the order found) and out of the text.
func (r *report) otherGoals(b []byte) []byte {
	var out bytes.Buffer
	for _, l := range strings.SplitAfter(string(b), "\n") {
		t := strings.TrimSpace(l)
		if rest, ok := strings.CutPrefix(t, "<!-- goal:"); ok && strings.HasSuffix(rest, "-->") {
			f := strings.Split(strings.TrimSuffix(rest, "-->"), " | ")
			if len(f) == 4 {
				r.goal(strings.TrimSpace(f[0]), strings.TrimSpace(f[1]), strings.TrimSpace(f[2]), strings.TrimSpace(f[3]))
				continue
			}
		}
		out.WriteString(l)
	}
	return out.Bytes()
}

func (r *report) render(analysis, others string) string {
	m := r.meta
	n := num(m, "forwards")
	var body bytes.Buffer
	r.b = body
	r.section1(n)
	r.section2(n)
	r.section3()
	r.section4()
	r.section5()
	r.section6()
	r.section7()
	if others != "" {
		b, err := os.ReadFile(others)
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchtool report: %v\n", err)
		}
		if _, rest, ok := bytes.Cut(b, []byte("-->\n")); ok && bytes.HasPrefix(b, []byte("<!--")) {
			b = rest
		}
		r.b.Write(r.otherGoals(b))
	}
	r.sectionCurve()
	r.sectionProfiles()
	details := r.b.String()

	var h bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&h, format, args...) }
	w("# ovnfwd benchmarks\n\n")
	w("Generated by `%s` on the real test bed (issue 7). Do not edit by hand: `make bench` rewrites this file.\n\n", r.cmd)
	w("- **Date**: %s. **Mode**: %s — %s forwards × 2 ports (tcp 80→8080 and udp 53 to one target each) = %s `Load_Balancer` rows,\n",
		str(m, "date"), str(m, "mode"), intf(n), intf(2*n))
	w("  seeded into LXD's database with `lxd sql global` (a recursive CTE), listen addresses in 198.18.0.0/16 on network `%s` (`%s`).\n", str(m, "network"), str(m, "prefix"))
	w("- **Machine**: %s, %v cores, %s RAM; %s, kernel %s. Everything below shares these cores: the NB and SB ovsdb-servers,\n",
		str(m, "cpu"), m["cores"], str(m, "mem"), str(m, "os"), str(m, "kernel"))
	w("  ovn-northd, three chassis (ovs-vswitchd + ovn-controller each, userspace datapath), LXD and ovnfwd.\n")
	w("- **Stack**: %s; %s; LXD %s; BFD %s ms. **ovnfwd** %s (git `%s`), %s.\n",
		str(m, "ovn"), str(m, "ovs"), str(m, "lxd"), str(m, "bfd_ms"), str(m, "ovnfwd"), str(m, "git"), str(m, "go"))
	w("- **Statistics**: each cell is min / median / max over %v runs unless it says otherwise (latencies: over every sample;\n", m["runs"])
	w("  the latency goals also split their samples, in the order taken, into %d rounds and give each percentile's spread over them).\n", goalRounds)
	w("  Ratios are taken per run between numbers measured in the same round, then summarised the same way.\n\n")
	if b, err := os.ReadFile(filepath.Join(r.dir, "interference.txt")); err == nil && len(bytes.TrimSpace(b)) > 0 {
		w("> **Warning**: other writers were active on the shared bed during this run (the lock only binds lock takers):\n")
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			w("> - %s\n", l)
		}
		w("\n")
	}
	w("## Goals\n\n| # | goal (issue 7; 14·n: issue 14) | measured (median unless noted) | verdict |\n|---|---|---|---|\n")
	for _, g := range r.goals {
		w("| %s | %s | %s | %s |\n", g[0], g[1], g[2], g[3])
	}
	w("\n")
	h.WriteString(details)
	if analysis != "" {
		if b, err := os.ReadFile(analysis); err == nil {
			h.WriteString("\n")
			h.Write(b)
		}
	}
	h.WriteString(r.reproduce())
	return h.String()
}

func (r *report) reproduce() string {
	return fmt.Sprintf(`
## Reproduce

    make bench          # = bash integration/bench.sh full bin/ovnfwd   (≈ 35 min, the 50,000-forward curve included)
    make bench-quick    # 1,000 forwards, < 3 min; writes integration/.testbed/BENCHMARKS-quick.md

The script takes the bed's machine-wide lock (/run/lock/ovnfwd-testbed.lock) for its whole run, deletes every
forward and row it created and restarts every chassis it killed, also when it fails. Knobs:
BENCH_RUNS, BENCH_FORWARDS, BENCH_EVENTS, BENCH_DRIFT, BENCH_KILLS, BENCH_SAMPLE, BENCH_ONLY="m1 m2 …",
BENCH_CURVE="1000 10000 50000", BENCH_CURVE_RUNS,
BENCH_KEEP=1 (keep the raw results). Helpers: integration/benchtool (Go, build tag ` + "`bench`" + `) and
integration/benchtool/baseline.sh (the operator's script).
`)
}

// --- 1 ---------------------------------------------------------------------------

func (r *report) section1(n float64) {
	r.p("## 1. Cold check: `ovnfwd check` at %s forwards\n\n", intf(n))
	rows := readJSONL(filepath.Join(r.dir, "m1.jsonl"))
	if len(rows) == 0 || r.failed("m1") {
		r.p("Not measured (the phase failed; see the bench log).\n\n")
		r.goal("1", "check ≤ 1.25 × the LXD-listing floor", "not measured", "–")
		r.goal("1", "check ≥ 50× faster than an operator's script", "not measured", "–")
		return
	}
	sample := num(rows[0], "baseline_sample")
	r.p("NB holds every row (`ovnfwd repair --yes` ran first and the chain settled). Each round runs, back to back:\n\n")
	r.p("| what | command | wall | peak RSS |\n|---|---|---|---|\n")
	line := func(what, cmd, k, rss string) {
		rs := "–"
		if rss != "" {
			rs = mmm(column(rows, rss), func(x float64) string { return mib(x) })
		}
		r.p("| %s | `%s` | %s | %s |\n", what, cmd, mmm(column(rows, k), dur), rs)
	}
	line("**ovnfwd check**", "ovnfwd check --format json", "check_s", "check_rss_kb")
	if c := column(rows, "check_cpu_s"); len(c) > 0 {
		r.p("| … its own CPU time (user + sys) | | %s | |\n", mmm(c, dur))
	}
	line("ovnfwd check --deep (adds SB)", "ovnfwd check --deep --format json", "deep_s", "deep_rss_kb")
	line("floor: LXD listing (Go, same client)", "benchtool lxd-list  (lxdwatch.Connect + List)", "lxd_go_s", "lxd_go_rss_kb")
	line("floor: LXD listing (CLI)", "lxc network forward list ovn0 --format json", "lxd_cli_s", "")
	line("floor: NB read (Go)", "benchtool nb-read  (ovn.DialNB + Snapshot)", "nb_go_s", "nb_go_rss_kb")
	if len(column(rows, "nb_raw_s")) > 0 {
		line("under libovsdb: raw JSON-RPC monitor, decoded", "benchtool nb-read-raw  (integration/benchtool/rawnb.go)", "nb_raw_s", "nb_raw_rss_kb")
	}
	line("floor: NB read (CLI)", "ovn-nbctl --format=json list Load_Balancer", "nb_cli_s", "")
	line(fmt.Sprintf("baseline script, first %s forwards", intf(sample)), fmt.Sprintf("baseline.sh ovn0 %s %.0f", str(r.meta, "prefix"), sample), "baseline_s", "")
	if c := column(rows, "baseline1_s"); len(c) > 0 {
		line("baseline script, first forward", fmt.Sprintf("baseline.sh ovn0 %s 1", str(r.meta, "prefix")), "baseline1_s", "")
	}
	r.p("\n")
	var rLXD, rLXDcli, rSum, rBase, base []float64
	total := num(rows[0], "check_forwards")
	for _, m := range rows {
		c := num(m, "check_s")
		rLXD = append(rLXD, c/num(m, "lxd_go_s"))
		rLXDcli = append(rLXDcli, c/num(m, "lxd_cli_s"))
		rSum = append(rSum, c/(num(m, "lxd_go_s")+num(m, "nb_go_s")))
		// The baseline, extrapolated linearly to every forward: t(k) = a + b·k
		// fitted on k=1 and k=sample when both ran, else t(sample)·N/sample.
		ts, t1 := num(m, "baseline_s"), num(m, "baseline1_s")
		var est float64
		if !math.IsNaN(t1) && sample > 1 {
			b := (ts - t1) / (sample - 1)
			est = t1 - b + b*total
		} else {
			est = ts * total / sample
		}
		base = append(base, est)
		rBase = append(rBase, est/c)
	}
	r.p("| ratio (per round) | min / median / max |\n|---|---|\n")
	r.p("| check ÷ LXD-listing floor (Go) | %s |\n", mmm(rLXD, ratio))
	r.p("| check ÷ LXD-listing floor (lxc CLI) | %s |\n", mmm(rLXDcli, ratio))
	r.p("| check ÷ (LXD floor + NB floor), both Go | %s |\n", mmm(rSum, ratio))
	var rLib, rLibRSS, rRaw []float64
	for _, m := range rows {
		if raw := num(m, "nb_raw_s"); !math.IsNaN(raw) {
			rLib = append(rLib, num(m, "nb_go_s")/raw)
			rLibRSS = append(rLibRSS, num(m, "nb_go_rss_kb")/num(m, "nb_raw_rss_kb"))
			rRaw = append(rRaw, num(m, "check_s")/math.Max(num(m, "lxd_go_s"), raw))
		}
	}
	if len(rLib) > 0 {
		r.p("| NB read: libovsdb ÷ raw JSON-RPC reader, wall | %s |\n", mmm(rLib, ratio))
		r.p("| NB read: libovsdb ÷ raw JSON-RPC reader, peak RSS | %s |\n", mmm(rLibRSS, ratio))
		r.p("| check ÷ the slower of (LXD listing, raw NB reader) | %s |\n", mmm(rRaw, ratio))
	}
	r.p("| baseline script at all %s forwards (extrapolated) | %s |\n", intf(total), mmm(base, dur))
	r.p("| baseline (extrapolated) ÷ check | %s |\n\n", mmm(rBase, ratio))
	r.p("The baseline is `integration/benchtool/baseline.sh`: `lxc network forward list --format json` once, then for each\n")
	r.p("forward and protocol one `jq` for the expected VIPs and two `ovn-nbctl` calls (find the row, read its VIPs), a\n")
	r.p("membership test against the router's and switch's `load_balancer` columns, and one scan for orphan rows. At %s\n", intf(total))
	r.p("forwards it would run for a long time, so it runs on the first %s forwards (and on 1, to separate its fixed cost) and is\n", intf(sample))
	r.p("**extrapolated linearly** to all %s forwards (each `ovn-nbctl` call downloads the Load_Balancer table, so its per-forward\n", intf(total))
	r.p("cost does not depend on how many forwards it checks). `check` found %s findings over %s forwards.\n\n",
		mmm(column(rows, "check_findings"), func(x float64) string { return intf(x) }), intf(total))
	if r.exists("m1-cpu-check.json") {
		r.cpuTable("CPU seconds during one `ovnfwd check` (first round)", "m1-cpu-check.json")
	}
	med := func(xs []float64) float64 { return summarize(xs).Median }
	r.goal("1", "check ≤ 1.25 × the LXD-listing floor",
		fmt.Sprintf("check %s vs floor %s: %s (max %s)", dur(med(column(rows, "check_s"))), dur(med(column(rows, "lxd_go_s"))),
			ratio(med(rLXD)), ratio(summarize(rLXD).Max)), verdict(summarize(rLXD).Max <= 1.25))
	r.goal("1", "check ≥ 50× faster than an operator's script",
		fmt.Sprintf("script ≈ %s at %s forwards (extrapolated from %s) → %s faster", dur(med(base)), intf(total), intf(sample), ratio(med(rBase))),
		verdict(summarize(rBase).Min >= 50))
	r.goal("1", "peak RSS of check", fmt.Sprintf("%s", mib(med(column(rows, "check_rss_kb")))), "(reported)")
	var rSlower []float64
	for _, m := range rows {
		rSlower = append(rSlower, num(m, "check_s")/math.Max(num(m, "lxd_go_s"), num(m, "nb_go_s")))
	}
	ss := summarize(rSlower)
	r.goal("14·1", "check ≤ 1.1 × the slower of its two listings (LXD, NB; Go)",
		fmt.Sprintf("%s / %s / %s (min / median / max)", ratio(ss.Min), ratio(ss.Median), ratio(ss.Max)), verdict(ss.N > 0 && ss.Max <= 1.1))
	rss := summarize(column(rows, "check_rss_kb"))
	r.goal("14·1", "peak RSS of check ≤ 120 MiB", fmt.Sprintf("%s / %s / %s", mib(rss.Min), mib(rss.Median), mib(rss.Max)), verdict(rss.N > 0 && rss.Max <= 120*1024))
}

// --- 2 ---------------------------------------------------------------------------

func (r *report) section2(n float64) {
	r.p("## 2. Cold repair: %s forwards, none of their rows in NB\n\n", intf(n))
	rows := readJSONL(filepath.Join(r.dir, "m2.jsonl"))
	if len(rows) == 0 {
		r.p("Not measured (the phase failed; see the bench log).\n\n")
		r.goal("2", "cold repair ≤ 5 s", "not measured", "–")
		return
	}
	r.p("Before each run every benchmark row is deleted from NB (`benchtool nb-clear`) and the chain settles\n")
	r.p("(`ovn-nbctl --wait=hv sync`). Then `ovnfwd repair --yes --format json --deletion-budget -1`: it plans, applies, waits for\n")
	r.p("northd (barrier) and re-verifies down to SB until nothing is pending (its `--settle`, 10 s at most); the wall time is \"until verified\".\n\n")
	var rps []float64
	for _, m := range rows {
		rps = append(rps, 2*n/num(m, "wall_s"))
	}
	var bud map[string]any
	if readJSON(filepath.Join(r.dir, "m2-budget.json"), &bud) == nil {
		r.p("**%.0f runs, not %.0f**: each run takes minutes at this scale, and the phase's time budget (%.0f s) keeps `make bench`\n", num(bud, "runs"), num(bud, "requested"), num(bud, "budget_s"))
		r.p("near its 20-minute target; at least %d runs always happen. With goal 2 met the budget allows all of them.\n\n", 3)
	}
	r.p("| | min / median / max |\n|---|---|\n")
	r.p("| wall time to verified | %s |\n", mmm(column(rows, "wall_s"), dur))
	r.p("| rows written per second (%s rows ÷ wall) | %s |\n", intf(2*n), mmm(rps, func(x float64) string { return intf(x) + "/s" }))
	r.p("| peak RSS | %s |\n", mmm(column(rows, "rss_kb"), mib))
	for _, m := range rows {
		if m["profiled"] == true {
			r.p("| (run %.0f used the profiling build) | |\n", num(m, "run"))
		}
	}
	r.p("| forwards ok afterwards | %s |\n", mmm(column(rows, "ok"), intf))
	disturbed := 0
	for _, m := range rows {
		if num(m, "changes") != n || num(m, "exit") != 0 {
			disturbed++
		}
	}
	if disturbed > 0 {
		r.p("| **runs where another writer interfered** (fewer changes than forwards, or not all ok) | %d |\n", disturbed)
	}
	r.p("| changes applied | %s |\n", mmm(column(rows, "changes"), intf))
	r.p("| exit code | %s |\n", mmm(column(rows, "exit"), func(x float64) string { return fmt.Sprintf("%.0f", x) }))
	// Transactions, counted by benchtool txn-count (an OVSDB monitor: one
	// update per committed transaction).
	var txns []map[string]any
	for i := 1; i <= len(rows); i++ {
		var t map[string]any
		if readJSON(filepath.Join(r.dir, fmt.Sprintf("m2-txns-run%d.json", i)), &t) == nil {
			txns = append(txns, t)
		}
	}
	if len(txns) > 0 {
		r.p("| NB transactions that wrote benchmark rows | %s |\n", mmm(column(txns, "transactions"), intf))
		r.p("| largest batch: Load_Balancer rows in one transaction | %s |\n", mmm(column(txns, "max_rows_per_txn"), intf))
		if h, ok := txns[0]["rows_per_txn"].(map[string]any); ok {
			var keys []string
			for k := range h {
				keys = append(keys, k)
			}
			sort.Slice(keys, func(i, j int) bool {
				return len(keys[i]) < len(keys[j]) || len(keys[i]) == len(keys[j]) && keys[i] < keys[j]
			})
			var parts []string
			for _, k := range keys {
				parts = append(parts, fmt.Sprintf("%s rows: %s txns", k, intf(h[k].(float64))))
			}
			r.p("| batch sizes, run 1 (Load_Balancer rows per transaction → transactions) | %s |\n", strings.Join(parts, "; "))
		}
	}
	r.p("| CPU time of ovnfwd repair itself (user + sys) | %s |\n", mmm(column(rows, "cpu_s"), dur))
	r.p("\n")
	if fl := readJSONL(filepath.Join(r.dir, "m2b.jsonl")); len(fl) > 0 {
		r.p("**Floor of a batched repair.** `benchtool write-batched -batch 500` writes the same %s rows straight into NB,\n", intf(2*n))
		r.p("500 forwards (1,000 rows and their router and switch attachments) per transaction, %s transactions in all, then bumps\n", intf(num(fl[0], "transactions")))
		r.p("`nb_cfg` like ovnfwd's barrier and waits for northd and every chassis. `ovnfwd check --deep` afterwards must find the\n")
		r.p("benchmark's forwards ok (that it does proves the rows are exactly ovnfwd's).\n\n")
		r.floorTable("batched write, same rows", fl)
		r.p("| `ovnfwd check --deep` afterwards: forwards ok | %s |\n", mmm(column(fl, "check_ok"), intf))
		r.p("| `ovnfwd check --deep` afterwards: findings on the benchmark's forwards | %s |\n", mmm(column(fl, "check_findings"), intf))
		var rr []float64
		for i := range min(len(fl), len(rows)) {
			rr = append(rr, num(rows[i], "wall_s")/num(fl[i], "chassis_s"))
		}
		r.p("| ovnfwd repair ÷ batched floor (runs paired in order) | %s |\n\n", mmm(rr, ratio))
	}
	one := readJSONL(filepath.Join(r.dir, "m2b1.jsonl"))
	if len(one) > 0 {
		r.p("**Floor of a one-transaction repair.** The same rows in ONE transaction (`benchtool write-batched -batch %s`),\n", intf(n))
		r.p("then northd and every chassis: northd 23.03 recomputes everything for each transaction it sees, so fewer is cheaper\n")
		r.p("for it, while one huge transaction is the most for NB to take at once.\n\n")
		r.floorTable("one transaction, same rows", one)
		r.p("| `ovnfwd check --deep` afterwards: findings on the benchmark's forwards | %s |\n\n", mmm(column(one, "check_findings"), intf))
	}
	// Issue 14's floor: per round, the faster of the two.
	if fl := readJSONL(filepath.Join(r.dir, "m2b.jsonl")); len(fl) > 0 || len(one) > 0 {
		var rf []float64
		for i := range rows {
			floor := math.Inf(1)
			if i < len(fl) {
				floor = num(fl[i], "chassis_s")
			}
			if i < len(one) {
				floor = math.Min(floor, num(one[i], "chassis_s"))
			}
			if !math.IsInf(floor, 1) {
				rf = append(rf, num(rows[i], "wall_s")/floor)
			}
		}
		sf := summarize(rf)
		r.goal("14·2", "cold repair ≤ 1.1 × the floor (the faster of one transaction and 500-forward batches, to verified)",
			fmt.Sprintf("%s / %s / %s (min / median / max, %d paired runs)", ratio(sf.Min), ratio(sf.Median), ratio(sf.Max), sf.N), verdict(sf.N > 0 && sf.Max <= 1.1))
	}
	if r.exists("m2-cpu-run1.json") {
		r.cpuTable("CPU seconds during repair run 1, per process", "m2-cpu-run1.json")
	}
	med := summarize(column(rows, "wall_s")).Median
	r.goal("2", "cold repair of all rows ≤ 5 s",
		fmt.Sprintf("%s to verified (%s×5 s); %s rows/s", dur(med), fmt.Sprintf("%.1f", med/5), intf(summarize(rps).Median)),
		verdict(summarize(column(rows, "wall_s")).Max <= 5))
}

// floorTable starts the table of a repair floor's runs: rows written, then
// northd, then every chassis done.
func (r *report) floorTable(what string, runs []map[string]any) {
	r.p("| %s | min / median / max |\n|---|---|\n", what)
	r.p("| rows written (NB commits done) | %s |\n", mmm(column(runs, "write_s"), dur))
	r.p("| … and northd done (sb_cfg) | %s |\n", mmm(column(runs, "northd_s"), dur))
	r.p("| … and every chassis done (hv_cfg) = verified | %s |\n", mmm(column(runs, "chassis_s"), dur))
}

// --- 3 ---------------------------------------------------------------------------

func (r *report) section3() {
	r.p("## 3. Event → verified under `ovnfwd run`\n\n")
	var e map[string]any
	if readJSON(filepath.Join(r.dir, "m3.json"), &e) != nil {
		r.p("Not measured (the phase failed; see the bench log).\n\n")
		r.goal("3", "event → verified p50 ≤ 10 ms, p99 ≤ 50 ms", "not measured", "–")
		return
	}
	counts, _ := e["counts"].(map[string]any)
	r.p("`benchtool events -n %v`: forward creates, updates (new target port) and deletes through the LXD API, one at a time,\n", r.meta["events"])
	r.p("(%v creates, %v updates, %v deletes; fresh listen addresses, never reused), with %s other forwards in place.\n",
		counts["create"], counts["update"], counts["delete"], intf(num(r.meta, "forwards")))
	if done := len(asOps(e["ops"])); float64(done) < num(e, "requested") {
		r.p("**%d of the %.0f operations ran**: each waits until the daemon is idle again (its barriers, LXD's own NB write\n", done, num(e, "requested"))
		r.p("coming back after `--nb-settle`), which takes seconds at this scale, and the phase's time budget (%.0f s) keeps\n", num(e, "budget_s"))
		r.p("`make bench` near its 20-minute target.\n")
	}
	r.p("Each operation starts only when the daemon is idle (counters still for 200 ms, NB_Global nb_cfg = sb_cfg = hv_cfg).\n")
	r.p("Two clocks. **From the LXD event** (the issue's definition): benchtool's own event listener gets the event when the\n")
	r.p("daemon's does, and the clock stops at the first `/metrics` scrape (10 ms polling) that shows the daemon's new\n")
	r.p("`ovnfwd_event_to_verified_seconds` sample, i.e. the forward verified ok down to SB and the active chassis.\n")
	r.p("**ovnfwd's own histogram** `ovnfwd_event_to_verified_seconds`: the `_sum` delta over a scrape with exactly one new\n")
	r.p("sample is that sample's exact value; its clock starts when the LXD event reaches the daemon. LXD writes the forward's\n")
	r.p("OVN rows inside the API call, before it sends the event, so the daemon usually sees that NB write first and verifies\n")
	r.p("it (after `--nb-settle`, with its own northd barrier): that sample is in `ovnfwd_change_to_verified_seconds`, shown\n")
	r.p("on its own row. When the event arrives and the forward's rows are still the ones verified, no new barrier is needed.\n")
	r.p("The buckets alone (1, 2.5, 5, 10, 25, 50, 100 ms …) are too coarse for p50/p99. Deletes leave no verified state and add no sample.\n\n")
	row := func(what, k string) {
		s := asSummary(e[k])
		if s.N == 0 {
			r.p("| %s | – | – | – | – | – |\n", what)
			return
		}
		r.p("| %s | %d | %s | %s | %s | %s |\n", what, s.N, dur(s.Min), dur(s.Median), dur(s.P99), dur(s.Max))
	}
	r.p("| | samples | min | p50 | p99 | max |\n|---|---|---|---|---|---|\n")
	row("**LXD event → verified** (creates, updates)", "external_event_to_verified")
	row("ovnfwd's `event_to_verified` sample for the same forward (clock from the event reaching it)", "daemon_event_to_verified")
	row("ovnfwd's `change_to_verified` sample for LXD's NB write (clock from the NB change reaching it)", "daemon_nb_echo")
	row("LXD delete event → the daemon's lxd-event reconcile done", "delete_processed")
	row("**LXD event → the last commit of the forward's rows** (NB's own commit time; 0: committed before the event)", "event_to_commit")
	row("LXD event → benchtool's NB replica showing the rows as wanted (0: already there; an observer, not a measure)", "event_to_rows")
	row("LXD API call (LXD writes its OVN rows inside it)", "lxd_api")
	row("LXD API call start → event at benchtool", "lxd_api_to_event")
	var fl map[string]any
	if readJSON(filepath.Join(r.dir, "m3-floor.json"), &fl) == nil {
		e["floor_northd"], e["floor_chassis"] = fl["northd"], fl["chassis"]
		row("floor: NB nb_cfg+1 → northd done (sb_cfg), daemon idle", "floor_northd")
		row("floor: NB nb_cfg+1 → every chassis done (hv_cfg), daemon idle", "floor_chassis")
	}
	r.p("\n")
	if hq, ok := e["histogram_all_samples"].(map[string]any); ok {
		p50, _ := hq["p50"].(map[string]any)
		p99, _ := hq["p99"].(map[string]any)
		if p50 != nil && p99 != nil {
			r.p("The whole histogram over the run (%v samples: event- and NB-triggered mixed, as Prometheus would see it;\n", hq["count"])
			r.p("`histogram_quantile`-style interpolation): p50 ≈ %s (bucket %s–%s), p99 ≈ %s (bucket %s–%s).\n\n",
				dur(num(p50, "value")), dur(num(p50, "bucket_lo")), dur(num(p50, "bucket_hi")),
				dur(num(p99, "value")), dur(num(p99, "bucket_lo")), dur(num(p99, "bucket_hi")))
		}
	}
	if f := num(e, "failures"); f > 0 {
		r.p("%s operations saw no sample within 10 s.\n\n", intf(f))
	}
	if r.exists("m3-cpu.json") {
		r.cpuTable("CPU seconds over the whole event run, per process", "m3-cpu.json")
	}
	s, d := asSummary(e["external_event_to_verified"]), asSummary(e["daemon_event_to_verified"])
	if cs := asSummary(e["event_to_commit"]); cs.N > 0 {
		r.p("**LXD event → rows written in NB** is timed by NB's ovsdb-server itself: every transaction it commits is appended to\n")
		r.p("its database file (`%v`) with the server's commit time (`_date`, ms, the same clock as benchtool's) and the writer's\n", e["nb_db"])
		r.p("`_comment` (ovn-nbctl names itself: LXD 5.0.x writes through it; ovnfwd, a libovsdb client, leaves none). For each\n")
		r.p("operation benchtool reads the records appended until the daemon was idle again and takes those that touch the\n")
		r.p("forward's two rows (by name, or by UUID for changes, deletions and router/switch attachments); the clock stops at the\n")
		r.p("last of them. %.0f of %d operations had their last commit before the event arrived (LXD writes inside its API call).\n",
			num(e, "commits_before_event"), cs.N)
		r.p("Who made the last commit, per operation: %s; all commits touching the rows, by writer: %s. (The replica row above\n",
			countsText(e["last_writer"]), countsText(e["writer_txns"]))
		r.p("is benchtool's own libovsdb monitor of 20,000 rows: on this loaded machine it lags the server, so it is shown as an\n")
		r.p("observer only.)\n\n")
		perOp := opValues(asOps(e["ops"]), func(m map[string]any) bool { return num(m, "commits") > 0 },
			func(m map[string]any) float64 { return max(0, num(m, "commit_s")) })
		r.goal("14·5", "LXD event → rows written in NB p50 ≤ 10 ms, p99 ≤ 50 ms",
			joinNonEmpty(fmt.Sprintf("p50 %s, p99 %s, max %s (all %d operations, NB's commit times; last commit before the event in %.0f)",
				dur(cs.Median), dur(cs.P99), dur(cs.Max), cs.N, num(e, "commits_before_event")), roundsText(perOp)),
			verdict(cs.Median <= 0.010 && cs.P99 <= 0.050))
	} else if rs := asSummary(e["event_to_rows"]); rs.N > 0 {
		r.goal("14·5", "LXD event → rows written in NB p50 ≤ 10 ms, p99 ≤ 50 ms",
			fmt.Sprintf("not measured: no NB database file (benchtool's replica: p50 %s, p99 %s — an observer's lag, not a measure)", dur(rs.Median), dur(rs.P99)), "–")
	}
	verified := opValues(asOps(e["ops"]), func(m map[string]any) bool { return str(m, "op") != "delete" && m["ok"] == true },
		func(m map[string]any) float64 { return num(m, "external_s") })
	if fc := asSummary(e["floor_chassis"]); fc.N > 0 && s.N > 0 {
		r.goal("14·5", "LXD event → verified ≤ the northd + chassis floor + 50 ms",
			joinNonEmpty(fmt.Sprintf("p50 %s, p99 %s vs floor %s + 50 ms (all %d events)", dur(s.Median), dur(s.P99), dur(fc.Median), s.N), roundsText(verified)),
			verdict(s.P99 <= fc.Median+0.050))
	}
	r.goal("3", "LXD event → verified p50 ≤ 10 ms, p99 ≤ 50 ms",
		fmt.Sprintf("p50 %s, p99 %s, max %s (%d events); ovnfwd's own event_to_verified: p50 %s, p99 %s",
			dur(s.Median), dur(s.P99), dur(s.Max), s.N, dur(d.Median), dur(d.P99)),
		verdict(s.N > 0 && s.Median <= 0.010 && s.P99 <= 0.050))
}

// countsText renders {"a": 3, "b": 1} as "a 3, b 1" (by count, then name).
func countsText(v any) string {
	m, _ := v.(map[string]any)
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if a, b := num(m, keys[i]), num(m, keys[j]); a != b {
			return a > b
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.0f", k, num(m, k))
	}
	return strings.Join(parts, ", ")
}

func asOps(v any) []any {
	a, _ := v.([]any)
	return a
}

func asSummary(v any) summary {
	var s summary
	b, _ := json.Marshal(v)
	_ = json.Unmarshal(b, &s)
	return s
}

// --- 4 ---------------------------------------------------------------------------

func (r *report) section4() {
	r.p("## 4. Drift repair under `ovnfwd run`\n\n")
	var d map[string]any
	if readJSON(filepath.Join(r.dir, "m4.json"), &d) != nil {
		r.p("Not measured (the phase failed; see the bench log).\n\n")
		r.goal("4", "drift repair p99 ≤ 250 ms", "not measured", "–")
		return
	}
	r.p("`benchtool drift -n %v`: random edits behind ovnfwd's back on %s rows, one at a time, equally often: delete the row,\n", r.meta["drift"], intf(num(d, "rows")))
	r.p("change its VIP, detach it (from the router or from `ls-int`, alternately), insert a duplicate row of the same name.\n")
	r.p("Latency: from the edit's commit (its transaction reply) until benchtool's own NB replica shows the row as LXD wants it\n")
	r.p("again (one row of that name, the right VIPs, attached to both). The next edit waits until the daemon is idle\n")
	r.p("(counters still for 200 ms, NB_Global nb_cfg = sb_cfg = hv_cfg), so each edit is measured on its own.\n")
	if done := len(asOps(d["edits"])); float64(done) < num(d, "requested") {
		r.p("**%d of the %.0f edits ran**: waiting for the daemon to be idle takes seconds per edit at this scale (its northd\n", done, num(d, "requested"))
		r.p("barriers), and the phase's time budget (%.0f s) keeps `make bench` near its 20-minute target.\n", num(d, "budget_s"))
	}
	r.p("Also shown: the daemon's own sample for the same edit (NB change → verified down to SB, from its histogram `_sum`).\n\n")
	r.p("| edit | samples | min | p50 | p99 | max |\n|---|---|---|---|---|---|\n")
	line := func(what string, s summary) {
		if s.N == 0 {
			r.p("| %s | – | – | – | – | – |\n", what)
			return
		}
		r.p("| %s | %d | %s | %s | %s | %s |\n", what, s.N, dur(s.Min), dur(s.Median), dur(s.P99), dur(s.Max))
	}
	line("**all edits: NB edit → repaired in NB**", asSummary(d["all"]))
	if bk, ok := d["by_kind"].(map[string]any); ok {
		for _, k := range []string{editDelete, editVIP, editDetach, editDuplicate} {
			line(k, asSummary(bk[k]))
		}
	}
	line("daemon: NB change → verified (its histogram)", asSummary(d["daemon_verified"]))
	r.p("\n")
	if st := str(r.meta, "nb_settle"); st != "" {
		r.p("The daemon waits `--nb-settle` (default %s) after an NB change before repairing it (LXD ≥ 5.21.2 writes a forward in\n", st)
		r.p("several transactions): that wait is most of the repair latency.\n")
	}
	grace := 0.0
	if g := str(r.meta, "nb_delete_grace"); g != "" {
		if gd, err := time.ParseDuration(g); err == nil {
			grace = gd.Seconds()
		}
		r.p("A deleted row is re-created only `--nb-delete-grace` (default %s) after its deletion: LXD and Incus delete a\n", g)
		r.p("forward's rows before its record and announce the deletion after it, and a row re-created in between would bring\n")
		r.p("back a forward being deleted. `delete-row` is therefore judged against that grace, the other edits on their own.\n")
	}
	r.p("\n")
	// The goal's edits: those ovnfwd repairs at once; deletions wait for
	// the grace by design and are judged after it.
	var prompt, deletes []float64
	for _, e := range asOps(d["edits"]) {
		m, _ := e.(map[string]any)
		if m == nil || m["ok"] != true {
			continue
		}
		if str(m, "kind") == editDelete {
			deletes = append(deletes, num(m, "latency_s")-grace)
		} else {
			prompt = append(prompt, num(m, "latency_s"))
		}
	}
	if f := num(d, "failures"); f > 0 {
		r.p("%s edits were not repaired within 10 s.\n\n", intf(f))
	}
	if r.exists("m4-cpu.json") {
		r.cpuTable("CPU seconds over the whole drift run, per process", "m4-cpu.json")
	}
	s := summarize(prompt)
	r.goal("4", "drift: NB edit → repaired p99 ≤ 250 ms (edits other than deletions)",
		fmt.Sprintf("p50 %s, p99 %s, max %s (%d edits, %v of all not repaired)", dur(s.Median), dur(s.P99), dur(s.Max), s.N, d["failures"]),
		verdict(s.N > 0 && s.P99 <= 0.250 && num(d, "failures") == 0))
	r.goal("14·4", "drift: NB edit → repaired p99 ≤ 100 ms (edits other than deletions)",
		joinNonEmpty(fmt.Sprintf("p50 %s, p99 %s (all %d edits)", dur(s.Median), dur(s.P99), s.N), roundsText(prompt)),
		verdict(s.N > 0 && s.P99 <= 0.100 && num(d, "failures") == 0))
	if ds := summarize(deletes); ds.N > 0 {
		r.goal("4", "drift: deleted row re-created ≤ 250 ms after `--nb-delete-grace`",
			fmt.Sprintf("after the %s grace: p50 %s, p99 %s, max %s (%d deletions)", str(r.meta, "nb_delete_grace"), dur(ds.Median), dur(ds.P99), dur(ds.Max), ds.N),
			verdict(ds.Min >= -0.05 && ds.P99 <= 0.250))
	}
}

// --- 5 ---------------------------------------------------------------------------

func (r *report) section5() {
	r.p("## 5. Failover reaction\n\n")
	var f, j map[string]any
	if readJSON(filepath.Join(r.dir, "m5.json"), &f) != nil {
		r.p("Not measured (the phase failed; see the bench log).\n\n")
		r.goal("5", "failover: claim stable → all forwards re-verified p99 ≤ 100 ms", "not measured", "–")
		return
	}
	haveJoin := readJSON(filepath.Join(r.dir, "m5-join.json"), &j) == nil
	r.p("`benchtool failover -kills %v`: `testbed.sh chassis-kill N` of the chassis holding `cr-%s-lr-lrp-ext` (kill -9 of its\n", r.meta["kills"], str(r.meta, "prefix"))
	r.p("ovs-vswitchd and ovn-controller), wait for another chassis to claim it, hold 3 s, `chassis-start N`, wait for the\n")
	r.p("killed chassis to take the claim back (pre-emption), hold 3 s. benchtool's own SB replica timestamps each claim change.\n")
	r.p("Two measures of the daemon's reaction. **Its own** `ovnfwd_failover_reverified_seconds` (one sample per stable claim\n")
	r.p("change, read as `_sum`/`_count` deltas): from the claim change it saw to every forward of the network verified ok on the\n")
	r.p("new holder, after its `--claim-debounce`; no barrier is taken: the new holder's `Chassis_Private.nb_cfg` is compared\n")
	r.p("with the barrier of the forwards' last change, and while no row changed only the gateway part of each forward is\n")
	r.p("re-judged (`Verdicts.Regate`). **Uprobes**, without changing the daemon (`perf probe` on `main.(*engine).reverify`,\n")
	r.p("where a *full* re-verification starts, and `main.(*metrics).setStates`, the last call of every verification;\n")
	r.p("`perf record -k CLOCK_MONOTONIC`, the clock benchtool stamps claims with): from benchtool's view of the claim change to\n")
	r.p("the end of the first full re-verification after it — a claim change only runs one when rows changed since the last,\n")
	r.p("so these rows are empty or few. Forwards stay `ok` throughout a kill (the new holder had processed everything), so\n")
	r.p("there is no state change to poll `/forwards` for.\n\n")
	line := func(what string, s summary) {
		if s.N == 0 {
			r.p("| %s | – | – | – | – | – |\n", what)
			return
		}
		r.p("| %s | %d | %s | %s | %s | %s |\n", what, s.N, dur(s.Min), dur(s.Median), dur(s.P99), dur(s.Max))
	}
	r.p("| | samples | min | p50 | p99 | max |\n|---|---|---|---|---|---|\n")
	line("kill → SB claim change (OVN: BFD detection + claim)", asSummary(f["kill_to_claim"]))
	var fo summary
	if haveJoin {
		fo = asSummary(j["failover_verified"])
		line("uprobes: claim change → first full re-verification done, after a kill", fo)
		line("uprobes: the same after a restart (pre-emption)", asSummary(j["failback_verified"]))
	}
	dfo, dfb := asSummary(f["daemon_failover"]), asSummary(f["daemon_failback"])
	if dfo.N > 0 || dfb.N > 0 {
		line("**ovnfwd's `failover_reverified_seconds`, after a kill**", dfo)
		line("ovnfwd's `failover_reverified_seconds`, after a restart (pre-emption)", dfb)
	}
	r.p("\n")
	if deb := str(r.meta, "claim_debounce"); deb != "" {
		r.p("The daemon acts on a claim change once it has lasted `--claim-debounce` (default %s); the goal counts from then.\n", deb)
	}
	r.p("Since issue 17 a forward is verified only once its new gateway is announced on the uplink (verified must not run\n")
	r.p("ahead of traffic): by the ovnfwd of the new holder's member (`--announce-gateway`, at once), or by OVN itself about a\n")
	r.p("second after the claim (the daemon waits up to 1.1 s for it). The benchmark runs ONE daemon, which announces only when\n")
	r.p("its own chassis takes the gateway, so a claim that moves to another chassis is re-verified ≈ 1.1 s after the claim:\n")
	r.p("that wait, not ovnfwd's work, is what this row shows since then. With an ovnfwd on every member (the cluster bed,\n")
	r.p("section 9) the new holder's daemon announces at once and the outage itself is measured.\n\n")
	debounce := parseDebounce(str(r.meta, "claim_debounce"))
	const goal = "failover: claim stable → all forwards re-verified p99 ≤ 100 ms"
	switch {
	case dfo.N > 0:
		r.goal("5", goal, fmt.Sprintf("ovnfwd's histogram minus its %s debounce: p50 %s, p99 %s (%d kills)%s",
			dur(debounce), dur(dfo.Median-debounce), dur(dfo.P99-debounce), dfo.N, uprobeNote(haveJoin, fo)), verdict(dfo.P99-debounce <= 0.100))
	case haveJoin && fo.N > 0:
		r.goal("5", goal, fmt.Sprintf("uprobes, claim → first full re-verification: p50 %s, p99 %s (%d kills)", dur(fo.Median), dur(fo.P99), fo.N),
			verdict(fo.P99 <= 0.100))
	default:
		r.goal("5", goal, "not measured (no daemon metric, no uprobes)", "–")
	}
}

func uprobeNote(have bool, s summary) string {
	if !have || s.N == 0 {
		return ""
	}
	return fmt.Sprintf("; uprobes, claim → first full re-verification: p50 %s, p99 %s", dur(s.Median), dur(s.P99))
}

func parseDebounce(s string) float64 {
	var v float64
	var unit string
	if _, err := fmt.Sscanf(s, "%f%s", &v, &unit); err != nil {
		return 0
	}
	switch unit {
	case "ms":
		return v / 1000
	case "s":
		return v
	case "µs", "us":
		return v / 1e6
	}
	return 0
}

// --- 6 ---------------------------------------------------------------------------

func (r *report) section6() {
	r.p("## 6. Memory of `ovnfwd run`\n\n")
	rows := readJSONL(filepath.Join(r.dir, "m6.jsonl"))
	if len(rows) == 0 {
		r.p("Not measured (the phase failed; see the bench log).\n\n")
		r.goal("6", "steady RSS ≤ 150 MiB at 10,000 forwards", "not measured", "–")
		return
	}
	r.p("VmRSS of the daemon, 5 samples 1 s apart after 5 s idle (VmHWM = its peak so far).\n\n")
	r.p("| forwards | when | RSS min / median / max | peak (VmHWM) |\n|---|---|---|---|\n")
	var at10k []float64
	for _, m := range rows {
		var xs []float64
		if a, ok := m["rss_kb"].([]any); ok {
			for _, v := range a {
				if f, ok := v.(float64); ok {
					xs = append(xs, f)
				}
			}
		}
		r.p("| %s | %s | %s | %s |\n", intf(num(m, "forwards")), str(m, "label"), mmm(xs, mib), mib(num(m, "hwm_kb")))
		if num(m, "forwards") >= 10000 {
			at10k = append(at10k, xs...)
		}
	}
	// The cost curve's daemon starts at the same size (phase m8): each a run
	// of its own, so the goals below get min / median / max over runs.
	n := num(r.meta, "forwards")
	curve := readJSONL(filepath.Join(r.dir, "m8.jsonl"))
	starts := perRun(curveAt(curve, n), "run", "steady_rss_kb")
	peaks := perRun(curveAt(curve, n), "run", "hwm_kb")
	for run := 1; run <= len(starts); run++ {
		if v, ok := starts[run]; ok {
			r.p("| %s | cost curve (section 12), start %d: median of its 5 samples | %s | %s |\n", intf(n), run, mib(v), mib(peaks[run]))
		}
	}
	r.p("\n")
	if len(at10k) > 0 || len(starts) > 0 {
		// One value per daemon run: the median of its samples; its peak.
		var steady, peak []float64
		for _, m := range rows {
			if num(m, "forwards") < 10000 || strings.Contains(str(m, "label"), "memory-limit") {
				continue
			}
			var xs []float64
			if a, ok := m["rss_kb"].([]any); ok {
				for _, v := range a {
					if f, ok := v.(float64); ok {
						xs = append(xs, f)
					}
				}
			}
			if len(xs) > 0 {
				steady = append(steady, summarize(xs).Median)
			}
			if h := num(m, "hwm_kb"); h > 0 {
				peak = append(peak, h)
			}
		}
		if n >= 10000 {
			for run, v := range starts {
				steady = append(steady, v)
				if h := peaks[run]; h > 0 {
					peak = append(peak, h)
				}
			}
		}
		ss, ps := summarize(steady), summarize(peak)
		r.p("The goals below take one value per daemon run at %s forwards without `--memory-limit` (%d runs: the rows above\n", intf(n), ss.N)
		r.p("from this phase, after its start and after the event, drift and failover phases, and the cost curve's starts): the\n")
		r.p("median of its samples, and its peak; each verdict judges the largest.\n\n")
		r.goal("6 · 14·3", "steady RSS ≤ 150 MiB at 10,000 forwards (no --memory-limit)",
			fmt.Sprintf("%s / %s / %s (min / median / max, %d daemon runs)", mib(ss.Min), mib(ss.Median), mib(ss.Max), ss.N), verdict(ss.N > 0 && ss.Max <= 150*1024))
		r.goal("14·3", "`run` peak RSS ≤ 250 MiB at 10,000 forwards (no --memory-limit)",
			fmt.Sprintf("%s / %s / %s (min / median / max, %d daemon runs)", mib(ps.Min), mib(ps.Median), mib(ps.Max), ps.N), verdict(ps.N > 0 && ps.Max <= 250*1024))
	} else {
		r.goal("6", "steady RSS ≤ 150 MiB at 10,000 forwards", "not measured in this mode", "–")
	}
}

// curveAt returns the cost curve's rows at one size.
func curveAt(rows []map[string]any, n float64) []map[string]any {
	var out []map[string]any
	for _, m := range rows {
		if num(m, "forwards") == n {
			out = append(out, m)
		}
	}
	return out
}

// --- 7 ---------------------------------------------------------------------------

var benchLine = regexp.MustCompile(`^(Benchmark\S+)\s+(\d+)\s+([\d.]+) ns/op(?:\s+([\d.]+) B/op)?(?:\s+([\d.]+) allocs/op)?`)

func (r *report) section7() {
	r.p("## 7. Go benchmarks of the pure planner (`sync/`)\n\n")
	b, err := os.ReadFile(filepath.Join(r.dir, "m7.txt"))
	if err != nil {
		r.p("Not measured.\n\n")
		return
	}
	r.p("`go test -run '^$' -bench . -benchmem ./sync/` (sync/bench_test.go: one LXD 5.0.2 network, forwards of one tcp and one\n")
	r.p("udp port; `consistent-nb`: NB already holds every row, `empty-nb`: none). No bed needed: run them before and after a change.\n\n")
	r.p("| benchmark | iterations | time/op | memory/op | allocs/op |\n|---|---|---|---|---|\n")
	for _, l := range strings.Split(string(b), "\n") {
		m := benchLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		var ns, by, al float64
		fmt.Sscan(m[3], &ns)
		fmt.Sscan(m[4], &by)
		fmt.Sscan(m[5], &al)
		r.p("| %s | %s | %s | %.1f MiB | %s |\n", m[1], m[2], dur(ns/1e9), by/(1<<20), intf(al))
	}
	r.p("\n")
}

// --- profiles ----------------------------------------------------------------------

func (r *report) sectionProfiles() {
	r.p("## Profiles: where the time goes\n\n")
	r.p("CPU profiles of the same sources: `check` and `repair` from a build with one extra file added through\n")
	r.p("`go build -overlay` (it starts `runtime/pprof` at init and stops it at exit; nothing in cmd/ is changed), the daemon\n")
	r.p("through its `--pprof` endpoint (`/debug/pprof/profile?seconds=30`) during the event and drift runs. Top entries by\n")
	r.p("cumulative time (`go tool pprof -top -cum`), trimmed.\n\n")
	for _, p := range []struct{ file, title string }{
		{"prof-check-cpu-cum.txt", "`ovnfwd check` (cumulative)"},
		{"prof-check-cpu.txt", "`ovnfwd check` (flat)"},
		{"prof-check-alloc.txt", "`ovnfwd check` allocations (alloc_space, flat)"},
		{"prof-repair-cpu-cum.txt", "`ovnfwd repair` (cumulative)"},
		{"prof-repair-cpu.txt", "`ovnfwd repair` (flat)"},
		{"prof-daemon-events-cpu-cum.txt", "`ovnfwd run` during the event run (cumulative)"},
		{"prof-daemon-drift-cpu-cum.txt", "`ovnfwd run` during the drift run (cumulative)"},
		{"prof-daemon-drift-cpu.txt", "`ovnfwd run` during the drift run (flat)"},
		{"prof-daemon-heap.txt", "`ovnfwd run` live heap after the initial pass (inuse_space)"},
		{"prof-repair-alloc.txt", "`ovnfwd repair` allocations (alloc_space)"},
		{"prof-repair-cpu-lines.txt", "`ovnfwd repair` (flat, by line)"},
		{"prof-check-cpu-lines.txt", "`ovnfwd check` (flat, by line)"},
	} {
		b, err := os.ReadFile(filepath.Join(r.dir, p.file))
		if err != nil || len(b) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		var keep []string
		for _, l := range lines {
			if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Type:") || strings.HasPrefix(l, "Time:") {
				continue
			}
			keep = append(keep, l)
			if len(keep) >= 24 {
				break
			}
		}
		r.p("<details><summary>%s</summary>\n\n```\n%s\n```\n</details>\n\n", p.title, strings.Join(keep, "\n"))
	}
}

// cpuTable prints a per-process CPU breakdown.
func (r *report) cpuTable(title, file string) {
	var c struct {
		Wall float64            `json:"wall_s"`
		CPU  map[string]float64 `json:"cpu_s"`
	}
	if readJSON(filepath.Join(r.dir, file), &c) != nil || len(c.CPU) == 0 {
		return
	}
	names := map[string]string{
		"central-nb": "NB ovsdb-server", "central-sb": "SB ovsdb-server", "central-northd": "ovn-northd",
		"ch1-ovn-controller": "ovn-controller ch1", "ch2-ovn-controller": "ovn-controller ch2", "ch3-ovn-controller": "ovn-controller ch3",
		"ch1-ovs-vswitchd": "ovs-vswitchd ch1", "ch2-ovs-vswitchd": "ovs-vswitchd ch2", "ch3-ovs-vswitchd": "ovs-vswitchd ch3",
		"lxd-lxd": "LXD", "ovnfwd-run": "ovnfwd run",
	}
	type kv struct {
		k string
		v float64
	}
	var kvs []kv
	var total float64
	for k, v := range c.CPU {
		kvs = append(kvs, kv{k, v})
		total += v
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].v > kvs[j].v })
	var parts []string
	for _, x := range kvs {
		if x.v < 0.01 {
			continue
		}
		n := names[x.k]
		if n == "" {
			n = x.k
		}
		parts = append(parts, fmt.Sprintf("%s %.2f s", n, x.v))
	}
	r.p("%s (wall %s; the measured command's own CPU is not in this list): %s.\n\n", title, dur(c.Wall), strings.Join(parts, ", "))
}

// joinNonEmpty joins the non-empty parts with "; ".
func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}
