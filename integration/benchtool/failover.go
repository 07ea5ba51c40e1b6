//go:build bench

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"

	"github.com/ovnfwd/ovnfwd/ovn/sbdb"
)

// monoNow is CLOCK_MONOTONIC in ns: the clock `perf record -k CLOCK_MONOTONIC`
// stamps the daemon's uprobe hits with.
func monoNow() int64 {
	const clockMonotonic = 1
	var ts syscall.Timespec
	_, _, _ = syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

type claimChange struct {
	MonoNS  int64  `json:"mono_ns"`
	Chassis string `json:"chassis"` // "" when unclaimed
	Wall    string `json:"wall"`
}

type killRun struct {
	Chassis string `json:"chassis"`
	To      string `json:"to"`
	KillNS  int64  `json:"kill_ns"`
	ClaimNS int64  `json:"claim_ns"` // first claim by another chassis
	StartNS int64  `json:"start_ns"`
	BackNS  int64  `json:"back_ns"` // the killed chassis claims again (pre-emption)
	// The daemon's own failover_reverified_seconds samples (histogram _sum
	// and _count deltas) after the failover and after the failback; absent
	// when the daemon has no such metric.
	DaemonFailover []float64 `json:"daemon_failover_s,omitempty"`
	DaemonFailback []float64 `json:"daemon_failback_s,omitempty"`
}

const (
	foCount = "ovnfwd_failover_reverified_seconds_count"
	foSum   = "ovnfwd_failover_reverified_seconds_sum"
)

// samplesBetween returns the new failover samples between two scrapes: the
// exact value when there is one, else the mean of several.
func samplesBetween(before, after promSnapshot) []float64 {
	n := after.delta(before, foCount)
	if n <= 0 {
		return nil
	}
	out := make([]float64, int(n))
	for i := range out {
		out[i] = after.delta(before, foSum) / n
	}
	return out
}

// cmdFailover kills the chassis that holds the gateway port, -kills times,
// with testbed.sh, and records when benchtool's own SB replica saw each
// claim change (CLOCK_MONOTONIC). Every killed chassis is restarted before
// the next kill, and on the way out.
func cmdFailover(args []string) error {
	fs := flag.NewFlagSet("failover", flag.ExitOnError)
	kills := fs.Int("kills", 10, "kills of the active chassis")
	prefix := fs.String("prefix", "lxd-net2", "OVN prefix of the network")
	hold := fs.Duration("hold", 3*time.Second, "time between a failover and the restart of the killed chassis")
	metricsURL := fs.String("metrics", "", "ovnfwd /metrics URL (its failover_reverified_seconds samples)")
	killedFile := fs.String("killed-file", "", "write the number of the chassis that is down because of benchtool here (empty when none)")
	_ = fs.Parse(args)
	markKilled := func(n string) {
		if *killedFile != "" {
			_ = os.WriteFile(*killedFile, []byte(n), 0o644)
		}
	}
	var mc *metricsClient
	if *metricsURL != "" {
		mc = newMetricsClient(*metricsURL)
	}
	scrape := func() promSnapshot {
		if mc == nil {
			return promSnapshot{}
		}
		s, _ := mc.scrape()
		return s
	}
	script := mustEnv("TB_SCRIPT")
	port := "cr-" + *prefix + "-lr-lrp-ext"

	m, err := model.NewClientDBModel("OVN_Southbound", map[string]model.Model{
		sbdb.PortBindingTable: &sbdb.PortBinding{},
		sbdb.ChassisTable:     &sbdb.Chassis{},
	})
	if err != nil {
		return err
	}
	cl, err := client.NewOVSDBClient(m, client.WithEndpoint(mustEnv("OVNFWD_SB")))
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := cl.Connect(ctx); err != nil {
		return err
	}
	defer cl.Close()
	var mu sync.Mutex
	var changes []claimChange
	chassisName := func(u *string) string {
		if u == nil {
			return ""
		}
		if c, ok := cl.Cache().Table(sbdb.ChassisTable).Row(*u).(*sbdb.Chassis); ok {
			return c.Name
		}
		return "?" + *u
	}
	current := func() string {
		for _, r := range cl.Cache().Table(sbdb.PortBindingTable).RowsShallow() {
			if pb := r.(*sbdb.PortBinding); pb.LogicalPort == port {
				return chassisName(pb.Chassis)
			}
		}
		return ""
	}
	changed := make(chan struct{}, 1)
	cl.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		UpdateFunc: func(table string, old, nw model.Model) {
			if table != sbdb.PortBindingTable {
				return
			}
			o, n := old.(*sbdb.PortBinding), nw.(*sbdb.PortBinding)
			if n.LogicalPort != port || strPtr(o.Chassis) == strPtr(n.Chassis) {
				return
			}
			t := monoNow()
			mu.Lock()
			changes = append(changes, claimChange{MonoNS: t, Chassis: chassisName(n.Chassis), Wall: time.Now().Format(time.RFC3339Nano)})
			mu.Unlock()
			select {
			case changed <- struct{}{}:
			default:
			}
		},
	})
	pb := &sbdb.PortBinding{}
	ch := &sbdb.Chassis{}
	if _, err := cl.Monitor(ctx, cl.NewMonitor(
		client.WithTable(pb, &pb.LogicalPort, &pb.Chassis, &pb.Type),
		client.WithTable(ch, &ch.Name),
	)); err != nil {
		return err
	}
	waitClaim := func(cond func(string) bool, timeout time.Duration) (string, bool) {
		deadline := time.Now().Add(timeout)
		for time.Now().Before(deadline) {
			if c := current(); cond(c) {
				return c, true
			}
			select {
			case <-changed:
			case <-time.After(10 * time.Millisecond):
			}
		}
		return current(), false
	}
	// stable: the same non-empty holder for 1.5 s.
	waitStable := func(timeout time.Duration) (string, bool) {
		deadline := time.Now().Add(timeout)
		holder, since := current(), time.Now()
		for time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			if c := current(); c != holder {
				holder, since = c, time.Now()
			}
			if holder != "" && time.Since(since) >= 1500*time.Millisecond {
				return holder, true
			}
		}
		return holder, false
	}
	tb := func(args ...string) error {
		out, err := exec.Command("bash", append([]string{script}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("testbed.sh %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}

	var runs []killRun
	for k := 0; k < *kills; k++ {
		holder, ok := waitStable(60 * time.Second)
		if !ok || !strings.HasPrefix(holder, "ch") {
			return fmt.Errorf("gateway claim not stable before kill %d (holder %q)", k+1, holder)
		}
		n := strings.TrimPrefix(holder, "ch")
		m0 := scrape()
		r := killRun{Chassis: holder, KillNS: monoNow()}
		markKilled(n)
		if err := tb("chassis-kill", n); err != nil {
			return err
		}
		to, ok := waitClaim(func(c string) bool { return c != "" && c != holder }, 30*time.Second)
		if !ok {
			_ = tb("chassis-start", n)
			return fmt.Errorf("no failover within 30s after killing %s", holder)
		}
		// The replica can show the claim a moment before its event
		// handler has recorded the time: wait for the record.
		r.ClaimNS = findChange(&mu, &changes, r.KillNS, to)
		r.To = to
		// The daemon's own sample comes after its debounce and a barrier:
		// wait for it (seconds at 10,000 forwards), then hold.
		waitSample := func(from promSnapshot) promSnapshot {
			if _, has := from.values[foCount]; mc == nil || !has {
				time.Sleep(*hold)
				return scrape()
			}
			t := time.Now()
			_, _ = mc.waitChange(from, 15*time.Second, foCount)
			if rest := *hold - time.Since(t); rest > 0 {
				time.Sleep(rest)
			}
			return scrape()
		}
		m1 := waitSample(m0)
		r.DaemonFailover = samplesBetween(m0, m1)
		r.StartNS = monoNow()
		if err := tb("chassis-start", n); err != nil {
			return err
		}
		markKilled("")
		if _, ok := waitClaim(func(c string) bool { return c == holder }, 60*time.Second); ok {
			r.BackNS = findChange(&mu, &changes, r.StartNS, holder)
		}
		r.DaemonFailback = samplesBetween(m1, waitSample(m1))
		runs = append(runs, r)
		logf("failover %d/%d: %s → %s in %.0f ms", k+1, *kills, holder, to, float64(r.ClaimNS-r.KillNS)/1e6)
	}
	if _, ok := waitStable(60 * time.Second); !ok {
		logf("warning: gateway claim not stable at the end")
	}
	mu.Lock()
	defer mu.Unlock()
	var k2c, dfo, dfb []float64
	for _, r := range runs {
		if r.ClaimNS > 0 {
			k2c = append(k2c, float64(r.ClaimNS-r.KillNS)/1e9)
		}
		dfo = append(dfo, r.DaemonFailover...)
		dfb = append(dfb, r.DaemonFailback...)
	}
	return emit(map[string]any{"kills": runs, "claim_changes": changes, "kill_to_claim": summarize(k2c),
		"daemon_failover": summarize(dfo), "daemon_failback": summarize(dfb)})
}

// findChange returns the time of the first recorded claim by chassis after
// the given time, waiting up to a second for the record; 0 if none.
func findChange(mu *sync.Mutex, changes *[]claimChange, after int64, chassis string) int64 {
	for i := 0; i < 100; i++ {
		mu.Lock()
		for _, c := range *changes {
			if c.MonoNS > after && c.Chassis == chassis {
				mu.Unlock()
				return c.MonoNS
			}
		}
		mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	return 0
}

func strPtr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

var perfLine = regexp.MustCompile(`(?:^|\s)(\d+\.\d+):\s+\S+:(\w+):`)

// cmdFailoverJoin joins the claim changes recorded by failover with the
// daemon's uprobe hits (perf script output): for each claim change, the
// first full re-verification (main.(*engine).reverify) that started after
// it, and the end of its verification (main.(*metrics).setStates, called
// last in engine.verify).
func cmdFailoverJoin(args []string) error {
	fs := flag.NewFlagSet("failover-join", flag.ExitOnError)
	claimsFile := fs.String("claims", "", "output of benchtool failover")
	perfFile := fs.String("perf", "", "perf script output")
	_ = fs.Parse(args)
	var fo struct {
		Kills  []killRun     `json:"kills"`
		Claims []claimChange `json:"claim_changes"`
	}
	b, err := os.ReadFile(*claimsFile)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &fo); err != nil {
		return err
	}
	type hit struct {
		t    float64
		name string
	}
	var hits []hit
	f, err := os.Open(*perfFile)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := perfLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		t, _ := strconv.ParseFloat(m[1], 64)
		hits = append(hits, hit{t, m[2]})
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].t < hits[j].t })
	type joined struct {
		Kind      string  `json:"kind"` // failover (after a kill) or failback (pre-emption after restart)
		Chassis   string  `json:"chassis"`
		StartS    float64 `json:"reaction_start_s"` // claim seen → reverify starts
		VerifiedS float64 `json:"verified_s"`       // claim seen → every forward re-verified
		OK        bool    `json:"ok"`
	}
	join := func(ns int64, kind, chassis string) joined {
		j := joined{Kind: kind, Chassis: chassis}
		t := float64(ns) / 1e9
		// The daemon and benchtool get the same SB update within
		// microseconds; allow 2 ms either way.
		for i, h := range hits {
			if h.name != "reverify" || h.t < t-0.002 {
				continue
			}
			for _, h2 := range hits[i+1:] {
				if h2.name == "verified" {
					j.StartS, j.VerifiedS, j.OK = h.t-t, h2.t-t, true
					return j
				}
			}
			break
		}
		return j
	}
	var out []joined
	var fail, back []float64
	for _, r := range fo.Kills {
		if r.ClaimNS > 0 {
			j := join(r.ClaimNS, "failover", r.To)
			out = append(out, j)
			if j.OK {
				fail = append(fail, j.VerifiedS)
			}
		}
		if r.BackNS > 0 {
			j := join(r.BackNS, "failback", r.Chassis)
			out = append(out, j)
			if j.OK {
				back = append(back, j.VerifiedS)
			}
		}
	}
	return emit(map[string]any{"joined": out, "failover_verified": summarize(fail), "failback_verified": summarize(back),
		"probe_hits": len(hits)})
}
