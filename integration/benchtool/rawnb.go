//go:build bench

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"
)

// cmdNBReadRaw is the floor under libovsdb (issue 14: "if libovsdb itself is
// the floor, measure it against a minimal raw JSON-RPC reader"): one RFC 7047
// "monitor" request for the same tables and columns ovnfwd monitors
// (ovn/nb.go nbColumns), its reply decoded with encoding/json into plain Go
// values (strings, string maps, UUID sets) — what a reader needs to plan
// from, without libovsdb's reflection, model structs, cache and indexes.
// Unix sockets only (the bed's NB).
func cmdNBReadRaw(args []string) error {
	fs := flag.NewFlagSet("nb-read-raw", flag.ExitOnError)
	_ = fs.Parse(args)
	start := time.Now()
	ep := mustEnv("OVNFWD_NB")
	path, ok := strings.CutPrefix(ep, "unix:")
	if !ok {
		return fmt.Errorf("nb-read-raw reads a unix: endpoint, not %q", ep)
	}
	c, err := net.DialTimeout("unix", path, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
	tables := map[string][]string{
		"Load_Balancer":       {"name", "protocol", "vips", "options", "external_ids"},
		"Logical_Router":      {"name", "load_balancer", "ports"},
		"Logical_Router_Port": {"name", "mac", "networks", "ha_chassis_group"},
		"Logical_Switch":      {"name", "load_balancer"},
		"HA_Chassis_Group":    {"name", "ha_chassis"},
		"HA_Chassis":          {"chassis_name", "priority"},
		"NB_Global":           {"nb_cfg", "sb_cfg", "hv_cfg", "options"},
	}
	reqs := map[string]any{}
	for t, cols := range tables {
		reqs[t] = map[string]any{"columns": cols}
	}
	req, _ := json.Marshal(map[string]any{"id": 1, "method": "monitor", "params": []any{"OVN_Northbound", nil, reqs}})
	if _, err := c.Write(req); err != nil {
		return err
	}
	connected := time.Since(start)
	dec := json.NewDecoder(bufio.NewReaderSize(c, 64<<10))
	for {
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Result map[string]map[string]struct {
				New map[string]json.RawMessage `json:"new"`
			} `json:"result"`
			Error json.RawMessage `json:"error"`
		}
		if err := dec.Decode(&msg); err != nil {
			return err
		}
		if msg.Method == "echo" {
			continue
		}
		if string(msg.ID) != "1" {
			continue
		}
		if len(msg.Error) > 0 && string(msg.Error) != "null" {
			return fmt.Errorf("monitor: %s", msg.Error)
		}
		// Decode every datum into plain values, as a planner would need them.
		lbs := map[string]rawLB{}
		for uuid, row := range msg.Result["Load_Balancer"] {
			var lb rawLB
			if err := rawAtom(row.New["name"], &lb.name); err != nil {
				return err
			}
			var protos []string
			if err := rawSet(row.New["protocol"], &protos); err != nil {
				return err
			}
			if len(protos) > 0 {
				lb.protocol = protos[0]
			}
			for _, col := range []struct {
				name string
				dst  *map[string]string
			}{{"vips", &lb.vips}, {"options", &lb.options}, {"external_ids", &lb.externalIDs}} {
				m, err := rawMap(row.New[col.name])
				if err != nil {
					return fmt.Errorf("%s %s: %w", uuid, col.name, err)
				}
				*col.dst = m
			}
			lbs[uuid] = lb
		}
		refs := 0
		for _, t := range []string{"Logical_Router", "Logical_Switch"} {
			for _, row := range msg.Result[t] {
				var set []string
				if err := rawSet(row.New["load_balancer"], &set); err != nil {
					return err
				}
				refs += len(set)
			}
		}
		return emit(map[string]any{"load_balancers": len(lbs), "lb_refs": refs, "connect_s": connected.Seconds(),
			"total_s": time.Since(start).Seconds()})
	}
}

type rawLB struct {
	name, protocol             string
	vips, options, externalIDs map[string]string
}

// rawAtom decodes a string atom.
func rawAtom(b json.RawMessage, dst *string) error {
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, dst)
}

// rawSet decodes a set of strings or UUIDs: an atom, ["uuid", u] or
// ["set", [...]].
func rawSet(b json.RawMessage, dst *[]string) error {
	if len(b) == 0 {
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*dst = append(*dst, s)
		return nil
	}
	var pair [2]json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil {
		return err
	}
	var tag string
	if err := json.Unmarshal(pair[0], &tag); err != nil {
		return err
	}
	switch tag {
	case "uuid", "named-uuid":
		var s string
		if err := json.Unmarshal(pair[1], &s); err != nil {
			return err
		}
		*dst = append(*dst, s)
	case "set":
		var elems []json.RawMessage
		if err := json.Unmarshal(pair[1], &elems); err != nil {
			return err
		}
		for _, e := range elems {
			if err := rawSet(e, dst); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unexpected datum %q", tag)
	}
	return nil
}

// rawMap decodes ["map", [[k, v], ...]] of strings.
func rawMap(b json.RawMessage) (map[string]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var pair [2]json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil {
		return nil, err
	}
	var tag string
	if err := json.Unmarshal(pair[0], &tag); err != nil {
		return nil, err
	}
	if tag != "map" {
		return nil, errors.New("not a map")
	}
	var pairs [][2]string
	if err := json.Unmarshal(pair[1], &pairs); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(pairs))
	for _, kv := range pairs {
		out[kv[0]] = kv[1]
	}
	return out, nil
}
