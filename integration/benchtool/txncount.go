//go:build bench

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
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
	ep := mustEnv("OVNFWD_NB")
	if !strings.HasPrefix(ep, "unix:") {
		return fmt.Errorf("txn-count needs a unix: NB endpoint, not %s", ep)
	}
	c, err := net.Dial("unix", strings.TrimPrefix(ep, "unix:"))
	if err != nil {
		return err
	}
	defer c.Close()
	enc := json.NewEncoder(c)
	dec := json.NewDecoder(c)
	if err := enc.Encode(map[string]any{"id": 1, "method": "monitor_cond",
		"params": []any{"OVN_Northbound", nil, map[string]any{"Load_Balancer": []any{map[string]any{"columns": []string{"name"}}}}}}); err != nil {
		return err
	}
	type msg struct {
		ID     any               `json:"id"`
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
		Result json.RawMessage   `json:"result"`
		Error  any               `json:"error"`
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	type counts struct {
		txns, rows, inserts, deletes, modifies int
		hist                                   map[int]int
	}
	cnt := counts{hist: map[int]int{}}
	done := make(chan error, 1)
	go func() {
		for {
			var m msg
			if err := dec.Decode(&m); err != nil {
				done <- err
				return
			}
			switch {
			case m.Method == "echo":
				_ = enc.Encode(map[string]any{"id": m.ID, "result": m.Params, "error": nil})
			case m.ID != nil && m.Method == "":
				if m.Error != nil {
					done <- fmt.Errorf("monitor_cond: %v", m.Error)
					return
				}
				if *ready != "" {
					_ = os.WriteFile(*ready, nil, 0o644)
				}
			case m.Method == "update2" && len(m.Params) == 2:
				var tu map[string]map[string]map[string]json.RawMessage
				if json.Unmarshal(m.Params[1], &tu) != nil {
					continue
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
			}
		}
	}()
	select {
	case <-stop:
	case err := <-done:
		return err
	}
	maxBatch := 0
	for k := range cnt.hist {
		maxBatch = max(maxBatch, k)
	}
	return emit(map[string]any{"transactions": cnt.txns, "rows": cnt.rows, "inserts": cnt.inserts,
		"deletes": cnt.deletes, "modifies": cnt.modifies, "max_rows_per_txn": maxBatch, "rows_per_txn": cnt.hist})
}
