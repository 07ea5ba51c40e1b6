//go:build bench

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
)

type eventOp struct {
	Op     string  `json:"op"` // create, update, delete
	Listen string  `json:"listen"`
	APIS   float64 `json:"api_s"` // the LXD API call (LXD writes its own OVN rows inside it)
	// EventS: API call start → benchtool's own listener got the event.
	EventS float64 `json:"event_s"`
	// DaemonS is the daemon's own event_to_verified sample for this
	// event (its histogram _sum delta over exactly one new sample): from the
	// LXD event reaching ovnfwd to the forward verified ok. Creates and
	// updates only: a deleted forward has no verified state.
	DaemonS float64 `json:"daemon_s"`
	// Bucket is the upper bound of the histogram bucket that sample fell in.
	Bucket float64 `json:"bucket"`
	// ExternalS: benchtool's event arrival → the scrape (10 ms polling) that
	// first showed the sample (creates, updates) or the finished lxd-event
	// reconcile (deletes).
	ExternalS float64 `json:"external_s"`
	// EchoS is the daemon's second sample for the same forward, triggered
	// by LXD's own NB write after --nb-settle (0 if none).
	EchoS float64 `json:"echo_s"`
	// RowsS: benchtool's event arrival → NB shows the forward's rows as
	// wanted (its tcp row with the new backend; for deletes: no row). 0 when
	// they were there already (LXD writes them inside the API call, before
	// the event); RowsBefore says so. -1: not within 10 s.
	RowsS      float64 `json:"rows_s"`
	RowsBefore bool    `json:"rows_before_event"`
	// CommitS: benchtool's event arrival → the server's commit time
	// (`_date` in NB's database file) of the last transaction that touched
	// the forward's rows before the daemon went idle; ≤ 0 when that was
	// before the event (LXD writing inside its API call). Writers lists who
	// committed each of those transactions, in order (ovn-nbctl: LXD 5.0.x;
	// libovsdb: ovnfwd). Commits is how many there were; 0 with CommitNote
	// when none could be read.
	CommitS    float64  `json:"commit_s"`
	Commits    int      `json:"commits"`
	Writers    []string `json:"writers,omitempty"`
	CommitNote string   `json:"commit_note,omitempty"`
	OK         bool     `json:"ok"`
	Note       string   `json:"note,omitempty"`
}

// cmdEvents drives -n forward creates, updates and deletes through the LXD
// API, one at a time, while `ovnfwd run` runs, and reads for each the
// daemon's own event → verified sample.
func cmdEvents(args []string) error {
	fs := flag.NewFlagSet("events", flag.ExitOnError)
	n := fs.Int("n", 500, "operations")
	network := fs.String("network", "ovn0", "LXD network")
	base := fs.String("base", "198.18.200.", "listen addresses base (fresh ones: base+i; never reused)")
	metricsURL := fs.String("metrics", "http://127.0.0.1:9478/metrics", "ovnfwd /metrics URL")
	budget := fs.Duration("budget", 0, "start no operation after this long once -min are done (0: no limit)")
	minN := fs.Int("min", 30, "operations to make whatever the budget")
	ovnPrefix := fs.String("prefix", "lxd-net2", "OVN prefix of the network (its rows are <prefix>-lb-<listen>-<proto>)")
	nbDB := fs.String("nb-db", os.Getenv("TB_NB_DB"), "NB's standalone database file: commit times of the forward's rows from the server's own log (empty: not measured)")
	_ = fs.Parse(args)
	var nbl *nbLog
	if *nbDB != "" {
		l, err := openNBLog(*nbDB)
		if err != nil {
			return fmt.Errorf("NB database file: %w", err)
		}
		nbl = l
	}
	w, err := dialNB(context.Background(), true)
	if err != nil {
		return err
	}
	defer w.cl.Close()

	c, err := lxd.ConnectLXDUnix(mustEnv("OVNFWD_LXD"), nil)
	if err != nil {
		return err
	}
	mc := newMetricsClient(*metricsURL)

	// Our own event listener: arrival times per (action, listen).
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	got := make(chan struct{}, 16)
	lis, err := c.GetEvents()
	if err != nil {
		return err
	}
	defer lis.Disconnect()
	prefix := "/1.0/networks/" + *network + "/forwards/"
	_, err = lis.AddHandler([]string{"lifecycle"}, func(ev api.Event) {
		now := time.Now()
		var lc api.EventLifecycle
		if json.Unmarshal(ev.Metadata, &lc) != nil || !strings.HasPrefix(lc.Source, prefix) {
			return
		}
		addr := strings.TrimPrefix(lc.Source, prefix)
		if i := strings.IndexByte(addr, '?'); i >= 0 {
			addr = addr[:i]
		}
		mu.Lock()
		if _, dup := arrived[lc.Action+" "+addr]; !dup {
			arrived[lc.Action+" "+addr] = now
		}
		mu.Unlock()
		select {
		case got <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return err
	}
	waitEvent := func(key string, timeout time.Duration) (time.Time, bool) {
		deadline := time.Now().Add(timeout)
		for {
			mu.Lock()
			t, ok := arrived[key]
			mu.Unlock()
			if ok {
				return t, true
			}
			if time.Now().After(deadline) {
				return time.Time{}, false
			}
			select {
			case <-got:
			case <-time.After(5 * time.Millisecond):
			}
		}
	}

	ports := func(i, variant int) []api.NetworkForwardPort {
		target := fmt.Sprintf("10.10.10.%d", 2+i%250)
		return []api.NetworkForwardPort{
			{Protocol: "tcp", ListenPort: "80", TargetAddress: target, TargetPort: fmt.Sprint(8080 + variant)},
			{Protocol: "udp", ListenPort: "53", TargetAddress: target},
		}
	}
	startHist, err := mc.scrape()
	if err != nil {
		return fmt.Errorf("ovnfwd metrics at %s: %w", *metricsURL, err)
	}
	var ops []eventOp
	var live []string
	next := 0
	version := map[string]int{}
	mc.waitIdle(w, 500*time.Millisecond, 60*time.Second)
	start := time.Now()
	for i := 0; i < *n; i++ {
		if *budget > 0 && i >= *minN && time.Since(start) > *budget {
			logf("events: time budget %s used after %d operations", *budget, i)
			break
		}
		op := "create"
		switch {
		case i%3 == 1 && len(live) > 0:
			op = "update"
		case i%3 == 2 && len(live) > 1:
			op = "delete"
		}
		var listen string
		switch op {
		case "create":
			next++
			listen = fmt.Sprintf("%s%d", *base, next)
		case "update":
			listen = live[(i*7)%len(live)]
		case "delete":
			j := (i * 13) % len(live)
			listen = live[j]
			live = append(live[:j], live[j+1:]...)
		}
		evKey := "network-forward-" + op + "d " + listen
		mu.Lock()
		delete(arrived, evKey)
		mu.Unlock()
		before, err := mc.scrape()
		if err != nil {
			return err
		}
		rowNames := []string{fmt.Sprintf("%s-lb-%s-tcp", *ovnPrefix, listen), fmt.Sprintf("%s-lb-%s-udp", *ovnPrefix, listen)}
		known := map[string]bool{}
		for _, rn := range rowNames {
			for _, lb := range w.lbsNamed(rn) {
				known[lb.UUID] = true
			}
		}
		_, _ = readNBLog(nbl) // what came before this operation
		t0 := time.Now()
		switch op {
		case "create":
			err = c.CreateNetworkForward(*network, api.NetworkForwardsPost{ListenAddress: listen,
				NetworkForwardPut: api.NetworkForwardPut{Description: "ovnfwd-bench", Config: map[string]string{}, Ports: ports(next, 0)}})
			live = append(live, listen)
		case "update":
			version[listen]++
			err = c.UpdateNetworkForward(*network, listen, api.NetworkForwardPut{Description: "ovnfwd-bench",
				Config: map[string]string{}, Ports: ports(i, version[listen])}, "")
		case "delete":
			err = c.DeleteNetworkForward(*network, listen)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", op, listen, err)
		}
		e := eventOp{Op: op, Listen: listen, APIS: time.Since(t0).Seconds()}
		tev, ok := waitEvent(evKey, 10*time.Second)
		if !ok {
			e.Note = "no LXD event within 10s"
			ops = append(ops, e)
			continue
		}
		e.EventS = tev.Sub(t0).Seconds()
		rowName := rowNames[0]
		backend := ""
		switch op {
		case "create":
			backend = ports(next, 0)[0].TargetAddress + ":8080"
		case "update":
			backend = fmt.Sprintf("%s:%d", ports(i, version[listen])[0].TargetAddress, 8080+version[listen])
		}
		rowsAsWanted := func() bool {
			lbs := w.lbsNamed(rowName)
			if op == "delete" {
				return len(lbs) == 0
			}
			return len(lbs) == 1 && lbs[0].Vips[listen+":80"] == backend
		}
		if rowsAsWanted() {
			e.RowsBefore = true
		} else if w.waitFor(10*time.Second, rowsAsWanted) {
			e.RowsS = time.Since(tev).Seconds()
		} else {
			e.RowsS = -1
		}
		var first promSnapshot
		if op == "delete" {
			first, ok = mc.waitChange(before, 10*time.Second, reconcileLXD)
		} else {
			first, ok = mc.waitChange(before, 10*time.Second, e2vCount)
		}
		e.OK = ok
		e.ExternalS = first.at.Sub(tev).Seconds()
		if ok && op != "delete" {
			switch d := first.delta(before, e2vCount); d {
			case 1:
				e.DaemonS = first.delta(before, e2vSum)
				for _, b := range histogramDelta(first, before) {
					if b.count > 0 {
						e.Bucket = b.le
						break
					}
				}
			default:
				e.Note = fmt.Sprintf("%v samples in one scrape: not attributable", d)
			}
		}
		// Let the daemon finish: LXD's own NB write comes back after
		// --nb-settle as a second, NB-triggered reconcile with its own
		// barrier (and, for creates and updates, its own sample).
		last, idle := mc.waitIdle(w, 200*time.Millisecond, 30*time.Second)
		if !idle {
			logf("events: daemon not idle 30 s after %s %s", op, listen)
		}
		if nbl != nil {
			txns, note := readNBLog(nbl)
			for _, rn := range rowNames {
				for _, lb := range w.lbsNamed(rn) {
					known[lb.UUID] = true
				}
			}
			touched := rowsTouched(txns, rowNames, known)
			e.Commits, e.CommitNote = len(touched), note
			for _, t := range touched {
				e.Writers = append(e.Writers, writerOf(t))
			}
			if len(touched) > 0 {
				e.CommitS = touched[len(touched)-1].Date.Sub(tev).Seconds()
			} else if note == "" {
				e.CommitNote = "no NB transaction touched the forward's rows"
			}
		}
		// LXD's own NB write (made inside the API call, before the event)
		// is verified as an NB-triggered change: change_to_verified has
		// its sample and the event's; the difference is the NB one.
		if last.delta(before, c2vCount) == 2 && last.delta(before, e2vCount) == 1 {
			e.EchoS = last.delta(before, c2vSum) - last.delta(before, e2vSum)
		}
		ops = append(ops, e)
		if (i+1)%50 == 0 {
			logf("events: %d/%d, last %s %s daemon %.1f ms", i+1, *n, op, listen, e.DaemonS*1000)
		}
	}
	end, _ := mc.scrape()
	// Leave no forward behind (not measured).
	for _, l := range live {
		_ = c.DeleteNetworkForward(*network, l)
	}

	out := map[string]any{"ops": ops, "seconds": time.Since(start).Seconds(), "requested": *n, "budget_s": budget.Seconds()}
	var daemon, external, echo, api, evs, del, rows, commits []float64
	rowsBefore, commitsBefore := 0, 0
	lastWriter := map[string]int{}
	writerTxns := map[string]int{}
	counts := map[string]int{}
	failures := 0
	for _, e := range ops {
		counts[e.Op]++
		if !e.OK {
			failures++
			continue
		}
		api = append(api, e.APIS)
		evs = append(evs, e.EventS)
		if e.RowsS >= 0 {
			rows = append(rows, e.RowsS)
		}
		if e.RowsBefore {
			rowsBefore++
		}
		if e.Commits > 0 {
			// Rows committed before the event count as written at its
			// arrival (0): nothing was left to write.
			commits = append(commits, max(0, e.CommitS))
			if e.CommitS <= 0 {
				commitsBefore++
			}
			lastWriter[e.Writers[len(e.Writers)-1]]++
			for _, wr := range e.Writers {
				writerTxns[wr]++
			}
		}
		if e.Op == "delete" {
			del = append(del, e.ExternalS)
			continue
		}
		if e.DaemonS > 0 {
			daemon = append(daemon, e.DaemonS)
		}
		external = append(external, e.ExternalS)
		if e.EchoS > 0 {
			echo = append(echo, e.EchoS)
		}
	}
	h := histogramDelta(end, startHist)
	hq := map[string]any{}
	for _, q := range []float64{0.5, 0.99} {
		v, lo, hi := histQuantile(q, h)
		hq[fmt.Sprintf("p%g", q*100)] = map[string]float64{"value": v, "bucket_lo": lo, "bucket_hi": hi}
	}
	hq["count"] = end.delta(startHist, e2vCount)
	hq["sum"] = end.delta(startHist, e2vSum)
	out["counts"], out["failures"] = counts, failures
	out["daemon_event_to_verified"] = summarize(daemon)
	out["external_event_to_verified"] = summarize(external)
	out["daemon_nb_echo"] = summarize(echo)
	out["delete_processed"] = summarize(del)
	out["lxd_api"] = summarize(api)
	out["lxd_api_to_event"] = summarize(evs)
	out["event_to_rows"] = summarize(rows)
	out["rows_before_event"] = rowsBefore
	out["event_to_commit"] = summarize(commits)
	out["commits_before_event"] = commitsBefore
	out["last_writer"] = lastWriter
	out["writer_txns"] = writerTxns
	out["nb_db"] = *nbDB
	out["histogram_all_samples"] = hq
	return emit(out)
}
