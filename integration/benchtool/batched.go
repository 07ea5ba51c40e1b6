//go:build bench

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovnfwd/ovnfwd/ovn/nbdb"
)

// cmdWriteBatched writes the rows of the N forwards bench.sh seeds (the
// same names, VIPs and attachments ovnfwd writes) straight into NB, -batch
// forwards per transaction, then waits for northd and every chassis. It is
// the floor of a cold repair that batches its writes: what NB, northd and the
// chassis need to absorb the rows, with no per-forward transaction.
func cmdWriteBatched(args []string) error {
	fs := flag.NewFlagSet("write-batched", flag.ExitOnError)
	n := fs.Int("n", 10000, "forwards (as seeded by bench.sh: 198.18.<i/250>.<i%250+1>)")
	prefix := fs.String("prefix", "lxd-net2", "OVN prefix of the network")
	batch := fs.Int("batch", 500, "forwards per transaction")
	options := fs.String("options", "", "Load_Balancer options to set, k=v,k=v (as ovnfwd writes them)")
	_ = fs.Parse(args)
	opts := map[string]string{}
	for _, kv := range strings.Split(*options, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k != "" {
			opts[k] = v
		}
	}
	ctx := context.Background()
	w, err := dialNB(ctx, true)
	if err != nil {
		return err
	}
	defer w.cl.Close()
	lr, ls := w.router(*prefix+"-lr"), w.lswitch(*prefix+"-ls-int")
	if lr == nil || ls == nil {
		return fmt.Errorf("no %s-lr or %s-ls-int", *prefix, *prefix)
	}
	start := time.Now()
	txns := 0
	for i := 0; i < *n; i += *batch {
		var ops []ovsdb.Operation
		var refs []any
		for j := i; j < min(i+*batch, *n); j++ {
			listen := fmt.Sprintf("198.18.%d.%d", j/250, j%250+1)
			target := fmt.Sprintf("10.10.10.%d", j%250+2)
			for _, r := range []struct{ proto, vip, backend string }{
				{"tcp", listen + ":80", target + ":8080"},
				{"udp", listen + ":53", target + ":53"},
			} {
				id := fmt.Sprintf("lb%d%s", j, r.proto)
				row := ovsdb.Row{"name": fmt.Sprintf("%s-lb-%s-%s", *prefix, listen, r.proto),
					"protocol": ovsdb.OvsSet{GoSet: []any{r.proto}}, "vips": ovsMap(map[string]string{r.vip: r.backend})}
				if len(opts) > 0 {
					row["options"] = ovsMap(opts)
				}
				ops = append(ops, ovsdb.Operation{Op: ovsdb.OperationInsert, Table: nbdb.LoadBalancerTable, UUIDName: id, Row: row})
				refs = append(refs, ovsdb.UUID{GoUUID: id})
			}
		}
		for _, t := range []struct{ table, uuid string }{{nbdb.LogicalRouterTable, lr.UUID}, {nbdb.LogicalSwitchTable, ls.UUID}} {
			ops = append(ops, ovsdb.Operation{Op: ovsdb.OperationMutate, Table: t.table, Where: uuidWhere(t.uuid),
				Mutations: []ovsdb.Mutation{{Column: "load_balancer", Mutator: ovsdb.MutateOperationInsert, Value: ovsdb.OvsSet{GoSet: refs}}}})
		}
		if _, err := w.transact(ctx, ops...); err != nil {
			return fmt.Errorf("batch at %d: %w", i, err)
		}
		txns++
	}
	written := time.Since(start)
	// A barrier like ovnfwd's: nb_cfg+1, then wait for northd and the chassis.
	g := w.global()
	if g == nil {
		return errors.New("no NB_Global")
	}
	res, err := w.transact(ctx,
		ovsdb.Operation{Op: ovsdb.OperationMutate, Table: nbdb.NBGlobalTable, Where: uuidWhere(g.UUID),
			Mutations: []ovsdb.Mutation{{Column: "nb_cfg", Mutator: ovsdb.MutateOperationAdd, Value: 1}}},
		ovsdb.Operation{Op: ovsdb.OperationSelect, Table: nbdb.NBGlobalTable, Where: uuidWhere(g.UUID), Columns: []string{"nb_cfg"}})
	if err != nil {
		return err
	}
	cfg := 0
	if f, ok := res[1].Rows[0]["nb_cfg"].(float64); ok {
		cfg = int(f)
	}
	okSB := w.waitFor(5*time.Minute, func() bool { g := w.global(); return g != nil && g.SbCfg >= cfg })
	northd := time.Since(start)
	okHV := w.waitFor(5*time.Minute, func() bool { g := w.global(); return g != nil && g.HvCfg >= cfg })
	return emit(map[string]any{"forwards": *n, "rows": 2 * *n, "batch": *batch, "transactions": txns,
		"write_s": written.Seconds(), "northd_s": northd.Seconds(), "chassis_s": time.Since(start).Seconds(),
		"northd_ok": okSB, "chassis_ok": okHV})
}
