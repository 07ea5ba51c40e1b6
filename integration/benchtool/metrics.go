//go:build bench

package main

import (
	"bufio"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Series of ovnfwd's /metrics that benchtool reads.
const (
	e2vCount      = "ovnfwd_event_to_verified_seconds_count"
	c2vCount      = "ovnfwd_change_to_verified_seconds_count"
	c2vSum        = "ovnfwd_change_to_verified_seconds_sum"
	e2vSum        = "ovnfwd_event_to_verified_seconds_sum"
	e2vBucket     = "ovnfwd_event_to_verified_seconds_bucket"
	reconcileLXD  = `ovnfwd_reconcile_duration_seconds_count{trigger="lxd-event"}`
	reconcileNB   = `ovnfwd_reconcile_duration_seconds_count{trigger="nb-change"}`
	passesOK      = `ovnfwd_full_passes_total{result="ok"}`
	forwardsOK    = `ovnfwd_forwards{state="ok"}`
	residentBytes = "process_resident_memory_bytes"
)

// promSnapshot is one scrape: series (name plus labels, as printed) → value.
type promSnapshot struct {
	at     time.Time
	values map[string]float64
}

func (s promSnapshot) get(series string) float64 { return s.values[series] }

func (s promSnapshot) delta(before promSnapshot, series string) float64 {
	return s.values[series] - before.values[series]
}

type metricsClient struct {
	url string
	hc  *http.Client
}

func newMetricsClient(url string) *metricsClient {
	return &metricsClient{url: url, hc: &http.Client{Timeout: 5 * time.Second}}
}

func (m *metricsClient) scrape() (promSnapshot, error) {
	s := promSnapshot{at: time.Now(), values: map[string]float64{}}
	resp, err := m.hc.Get(m.url)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("GET %s: %s", m.url, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || !strings.HasPrefix(line, "ovnfwd_") && !strings.HasPrefix(line, "process_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		s.values[line[:i]] = v
	}
	return s, sc.Err()
}

// waitChange polls every 10 ms (a scrape costs the daemon about 1 ms of CPU,
// mostly its process collector) until one of the series differs from before
// (returns that scrape) or timeout passes (false).
func (m *metricsClient) waitChange(before promSnapshot, timeout time.Duration, series ...string) (promSnapshot, bool) {
	deadline := time.Now().Add(timeout)
	for {
		s, err := m.scrape()
		if err == nil {
			for _, k := range series {
				if s.get(k) != before.get(k) {
					return s, true
				}
			}
		}
		if time.Now().After(deadline) {
			return s, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitIdle polls until the daemon is idle: its work counters have not moved
// for quiet, and (when w is set) NB_Global shows northd and every chassis
// caught up with the last nb_cfg (the daemon's barriers bump it; a forward
// whose chassis is behind is verified once hv_cfg reaches it). It returns
// the last scrape, false on timeout.
func (m *metricsClient) waitIdle(w *nbWatch, quiet, timeout time.Duration) (promSnapshot, bool) {
	keys := []string{e2vCount, c2vCount, reconcileLXD, reconcileNB, passesOK}
	deadline := time.Now().Add(timeout)
	var last promSnapshot
	lastChange := time.Now()
	for {
		s, err := m.scrape()
		if err == nil {
			for _, k := range keys {
				if s.get(k) != last.get(k) {
					lastChange = s.at
					break
				}
			}
			last = s
		}
		caughtUp := true
		if w != nil {
			if g := w.global(); g != nil && (g.SbCfg < g.NbCfg || g.HvCfg < g.NbCfg) {
				caughtUp = false
				lastChange = time.Now()
			}
		}
		if caughtUp && time.Since(lastChange) >= quiet {
			return last, true
		}
		if time.Now().After(deadline) {
			return last, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// histogram reads the event_to_verified buckets (upper bound → cumulative
// count) from a scrape, as a delta against before.
func histogramDelta(after, before promSnapshot) []bucket {
	var out []bucket
	for k, v := range after.values {
		if !strings.HasPrefix(k, e2vBucket+`{le="`) {
			continue
		}
		le := strings.TrimSuffix(strings.TrimPrefix(k, e2vBucket+`{le="`), `"}`)
		ub, err := strconv.ParseFloat(le, 64)
		if err != nil {
			continue
		}
		out = append(out, bucket{le: ub, count: v - before.values[k]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].le < out[j].le })
	return out
}

type bucket struct {
	le    float64 // upper bound, +Inf for the last
	count float64 // cumulative
}

// histQuantile is Prometheus' histogram_quantile: linear interpolation
// inside the bucket that holds the q-th sample. It also returns the bucket's
// bounds.
func histQuantile(q float64, bs []bucket) (v, lo, hi float64) {
	if len(bs) == 0 || bs[len(bs)-1].count == 0 {
		return 0, 0, 0
	}
	total := bs[len(bs)-1].count
	rank := q * total
	prevLE, prevCount := 0.0, 0.0
	for _, b := range bs {
		if b.count >= rank {
			if b.le > 1e300 { // +Inf: the upper bound of the last finite bucket
				return prevLE, prevLE, b.le
			}
			if b.count == prevCount {
				return b.le, prevLE, b.le
			}
			return prevLE + (b.le-prevLE)*(rank-prevCount)/(b.count-prevCount), prevLE, b.le
		}
		prevLE, prevCount = b.le, b.count
	}
	return prevLE, prevLE, prevLE
}
