//go:build bench

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// cmdNBTxns counts every committed NB transaction while it runs (until
// SIGINT/SIGTERM), by table: a plain OVSDB "monitor" of the given tables,
// to which ovsdb-server sends one "update" per transaction that changed a
// monitored row. The cluster idle benchmark compares one member's daemon
// with three.
func cmdNBTxns(args []string) error {
	fs := flag.NewFlagSet("nb-txns", flag.ExitOnError)
	tables := fs.String("tables", "NB_Global,Load_Balancer,Logical_Router,Logical_Switch,HA_Chassis,HA_Chassis_Group", "comma-separated NB tables")
	ready := fs.String("ready", "", "create this file once the monitor is in place")
	_ = fs.Parse(args)
	ep := mustEnv("OVNFWD_NB")
	if !strings.HasPrefix(ep, "unix:") {
		return fmt.Errorf("nb-txns needs a unix: NB endpoint, not %s", ep)
	}
	c, err := net.Dial("unix", strings.TrimPrefix(ep, "unix:"))
	if err != nil {
		return err
	}
	defer c.Close()
	enc, dec := json.NewEncoder(c), json.NewDecoder(c)
	reqs := map[string]any{}
	for _, t := range strings.Split(*tables, ",") {
		reqs[t] = map[string]any{"select": map[string]bool{"initial": false, "insert": true, "delete": true, "modify": true}}
	}
	if err := enc.Encode(map[string]any{"id": 1, "method": "monitor", "params": []any{"OVN_Northbound", "nb-txns", reqs}}); err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	total, byTable := 0, map[string]int{}
	done := make(chan error, 1)
	go func() {
		for {
			var m struct {
				ID     any               `json:"id"`
				Method string            `json:"method"`
				Params []json.RawMessage `json:"params"`
				Error  any               `json:"error"`
			}
			if err := dec.Decode(&m); err != nil {
				done <- err
				return
			}
			switch {
			case m.Method == "echo":
				_ = enc.Encode(map[string]any{"id": m.ID, "result": m.Params, "error": nil})
			case m.ID != nil && m.Method == "":
				if m.Error != nil {
					done <- fmt.Errorf("monitor: %v", m.Error)
					return
				}
				if *ready != "" {
					_ = os.WriteFile(*ready, nil, 0o644)
				}
			case m.Method == "update" && len(m.Params) == 2:
				var tu map[string]json.RawMessage
				if json.Unmarshal(m.Params[1], &tu) != nil {
					continue
				}
				total++
				names := make([]string, 0, len(tu))
				for t := range tu {
					names = append(names, t)
				}
				sort.Strings(names)
				byTable[strings.Join(names, "+")]++
			}
		}
	}()
	select {
	case <-stop:
	case err := <-done:
		return err
	}
	return emit(map[string]any{"transactions": total, "by_tables": byTable})
}
