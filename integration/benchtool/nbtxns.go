//go:build bench

package main

import (
	"encoding/json"
	"flag"
	"sort"
	"strings"
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
	reqs := map[string]any{}
	for _, t := range strings.Split(*tables, ",") {
		reqs[t] = map[string]any{"select": map[string]bool{"initial": false, "insert": true, "delete": true, "modify": true}}
	}
	total, byTable := 0, map[string]int{}
	err := monitorNB("nb-txns", "monitor", []any{"OVN_Northbound", "nb-txns", reqs}, *ready, func(method string, params []json.RawMessage) {
		if method != "update" || len(params) != 2 {
			return
		}
		var tu map[string]json.RawMessage
		if json.Unmarshal(params[1], &tu) != nil {
			return
		}
		total++
		names := make([]string, 0, len(tu))
		for t := range tu {
			names = append(names, t)
		}
		sort.Strings(names)
		byTable[strings.Join(names, "+")]++
	})
	if err != nil {
		return err
	}
	return emit(map[string]any{"transactions": total, "by_tables": byTable})
}
