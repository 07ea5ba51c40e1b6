//go:build bench

package main

import (
	"encoding/json"
	"flag"
	"strings"
)

// cmdTxnCount counts the NB transactions that touch Load_Balancer rows while
// it runs (until SIGINT/SIGTERM), and how many rows each touched: the batch
// sizes of a repair. It speaks plain OVSDB JSON-RPC: one monitor_cond on
// Load_Balancer.name, and ovsdb-server sends one update2 per committed
// transaction that changed a monitored row. (The NB file cannot tell once
// ovsdb-server compacts it, which it does during a 10,000-forward repair.)
func cmdTxnCount(args []string) error {
	fs := flag.NewFlagSet("txn-count", flag.ExitOnError)
	match := fs.String("match", "", "count only rows whose name starts with this (\"\": all)")
	ready := fs.String("ready", "", "create this file once the monitor is in place")
	_ = fs.Parse(args)
	type counts struct {
		txns, rows, inserts, deletes, modifies int
		hist                                   map[int]int
	}
	cnt := counts{hist: map[int]int{}}
	params := []any{"OVN_Northbound", nil, map[string]any{"Load_Balancer": []any{map[string]any{"columns": []string{"name"}}}}}
	err := monitorNB("txn-count", "monitor_cond", params, *ready, func(method string, params []json.RawMessage) {
		if method != "update2" || len(params) != 2 {
			return
		}
		var tu map[string]map[string]map[string]json.RawMessage
		if json.Unmarshal(params[1], &tu) != nil {
			return
		}
		n := 0
		for _, ru := range tu["Load_Balancer"] {
			for kind, row := range ru {
				if *match != "" {
					var r struct {
						Name string `json:"name"`
					}
					_ = json.Unmarshal(row, &r)
					if r.Name != "" && !strings.HasPrefix(r.Name, *match) {
						continue
					}
				}
				n++
				switch kind {
				case "insert", "initial":
					cnt.inserts++
				case "delete":
					cnt.deletes++
				default:
					cnt.modifies++
				}
			}
		}
		if n > 0 {
			cnt.txns++
			cnt.rows += n
			cnt.hist[n]++
		}
	})
	if err != nil {
		return err
	}
	maxBatch := 0
	for k := range cnt.hist {
		maxBatch = max(maxBatch, k)
	}
	return emit(map[string]any{"transactions": cnt.txns, "rows": cnt.rows, "inserts": cnt.inserts,
		"deletes": cnt.deletes, "modifies": cnt.modifies, "max_rows_per_txn": maxBatch, "rows_per_txn": cnt.hist})
}
