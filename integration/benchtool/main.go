//go:build bench

// Command benchtool is the Go half of integration/bench.sh (issue 7): the
// measurements a shell script cannot make precisely, against the real test
// bed, and the generator of BENCHMARKS.md.
//
//	benchtool lxd-list                     floor: list every forward from LXD (lxdwatch.List)
//	benchtool nb-read                      floor: read NB (ovn.DialNB + Snapshot)
//	benchtool nb-read-raw                  floor under libovsdb: one raw JSON-RPC monitor, decoded
//	benchtool nb-clear -match P            delete every Load_Balancer whose name starts with P
//	benchtool drift -n N ...               N random NB edits behind ovnfwd's back, edit → repaired
//	benchtool events -n N ...              N forward creates/updates/deletes through the LXD API
//	benchtool failover -kills N ...        kills of the active gateway chassis, claim change times
//	benchtool failover-join ...            join claim times with the daemon's uprobe timestamps
//	benchtool stats                        min/median/max of numbers on stdin
//	benchtool report -results F -out M     write BENCHMARKS.md from bench.sh's results file
//
// It is built with the tag "bench" (bench.sh does it) so that `go test ./...`
// and `go vet ./...` of the project do not list it.
//
// Connections come from the test bed's env (OVNFWD_LXD, OVNFWD_NB, OVNFWD_SB).
// Every subcommand prints one JSON object on stdout; progress goes to stderr.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmds := map[string]func([]string) error{
		"lxd-list":      cmdLXDList,
		"nb-read":       cmdNBRead,
		"nb-read-raw":   cmdNBReadRaw,
		"nb-clear":      cmdNBClear,
		"drift":         cmdDrift,
		"events":        cmdEvents,
		"failover":      cmdFailover,
		"failover-join": cmdFailoverJoin,
		"nbcfg-rtt":     cmdNBCfgRTT,
		"txn-count":     cmdTxnCount,
		"nb-txns":       cmdNBTxns,
		"write-batched": cmdWriteBatched,
		"stats":         cmdStats,
		"report":        cmdReport,
	}
	f, ok := cmds[os.Args[1]]
	if !ok {
		usage()
	}
	if err := f(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "benchtool %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: benchtool lxd-list|nb-read|nb-clear|drift|events|failover|failover-join|stats|report [flags]")
	os.Exit(2)
}

func emit(v any) error {
	enc := json.NewEncoder(os.Stdout)
	return enc.Encode(v)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[benchtool %s] %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func mustEnv(k string) string {
	v := os.Getenv(k)
	if v == "" {
		fmt.Fprintf(os.Stderr, "benchtool: %s is not set (source integration/.testbed/env)\n", k)
		os.Exit(2)
	}
	return v
}

// summary is min/median/max (and a few quantiles) of a sample.
type summary struct {
	N      int     `json:"n"`
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	P99    float64 `json:"p99"`
	Max    float64 `json:"max"`
	Mean   float64 `json:"mean"`
}

func summarize(xs []float64) summary {
	if len(xs) == 0 {
		return summary{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	return summary{N: len(s), Min: s[0], Median: quantile(s, 0.5), P90: quantile(s, 0.9), P99: quantile(s, 0.99),
		Max: s[len(s)-1], Mean: sum / float64(len(s))}
}

// quantile of a sorted sample, nearest-rank (the smallest value with at
// least q of the sample at or below it; the median of an even sample is the
// mean of the two middle values).
func quantile(s []float64, q float64) float64 {
	n := len(s)
	if n == 0 {
		return 0
	}
	if q == 0.5 {
		if n%2 == 1 {
			return s[n/2]
		}
		return (s[n/2-1] + s[n/2]) / 2
	}
	i := int(q*float64(n)+0.999999999) - 1
	if i < 0 {
		i = 0
	}
	if i >= n {
		i = n - 1
	}
	return s[i]
}

// cmdStats reads numbers (one per line or whitespace separated) on stdin.
func cmdStats(args []string) error {
	var xs []float64
	for {
		var x float64
		_, err := fmt.Fscan(os.Stdin, &x)
		if err != nil {
			break
		}
		xs = append(xs, x)
	}
	return emit(summarize(xs))
}
