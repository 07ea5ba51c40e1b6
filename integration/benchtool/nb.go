//go:build bench

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"strings"
	"time"

	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovnfwd/ovnfwd/ovn/nbdb"
)

// nbWatch is benchtool's own NB replica (libovsdb monitor) of the tables a
// forward lives in, with a change notification.
type nbWatch struct {
	cl      client.Client
	changed chan struct{}
}

func dialNB(ctx context.Context, monitor bool) (*nbWatch, error) {
	m, err := model.NewClientDBModel("OVN_Northbound", map[string]model.Model{
		nbdb.LoadBalancerTable:  &nbdb.LoadBalancer{},
		nbdb.LogicalRouterTable: &nbdb.LogicalRouter{},
		nbdb.LogicalSwitchTable: &nbdb.LogicalSwitch{},
		nbdb.NBGlobalTable:      &nbdb.NBGlobal{},
	})
	if err != nil {
		return nil, err
	}
	m.SetIndexes(map[string][]model.ClientIndex{
		nbdb.LoadBalancerTable: {{Columns: []model.ColumnKey{{Column: "name"}}}},
	})
	cl, err := client.NewOVSDBClient(m, client.WithEndpoint(mustEnv("OVNFWD_NB")))
	if err != nil {
		return nil, err
	}
	if err := cl.Connect(ctx); err != nil {
		return nil, fmt.Errorf("connect NB: %w", err)
	}
	w := &nbWatch{cl: cl, changed: make(chan struct{}, 1)}
	if !monitor {
		return w, nil
	}
	cl.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc:    func(string, model.Model) { w.signal() },
		UpdateFunc: func(string, model.Model, model.Model) { w.signal() },
		DeleteFunc: func(string, model.Model) { w.signal() },
	})
	lb := &nbdb.LoadBalancer{}
	lr := &nbdb.LogicalRouter{}
	ls := &nbdb.LogicalSwitch{}
	g := &nbdb.NBGlobal{}
	_, err = cl.Monitor(ctx, cl.NewMonitor(
		client.WithTable(lb, &lb.Name, &lb.Protocol, &lb.Vips),
		client.WithTable(lr, &lr.Name, &lr.LoadBalancer),
		client.WithTable(ls, &ls.Name, &ls.LoadBalancer),
		client.WithTable(g, &g.NbCfg, &g.SbCfg, &g.HvCfg),
	))
	if err != nil {
		return nil, fmt.Errorf("monitor NB: %w", err)
	}
	return w, nil
}

func (w *nbWatch) signal() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// waitFor returns when cond holds (checked at every replica change and at
// least every 5 ms) or timeout passed (false).
func (w *nbWatch) waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-w.changed:
		case <-t.C:
		}
	}
}

func (w *nbWatch) lbsNamed(name string) []*nbdb.LoadBalancer {
	rows, err := w.cl.Cache().Table(nbdb.LoadBalancerTable).RowsByModels([]model.Model{&nbdb.LoadBalancer{Name: name}})
	if err != nil {
		return nil
	}
	out := make([]*nbdb.LoadBalancer, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.(*nbdb.LoadBalancer))
	}
	return out
}

func (w *nbWatch) router(name string) *nbdb.LogicalRouter {
	for _, r := range w.cl.Cache().Table(nbdb.LogicalRouterTable).RowsShallow() {
		if lr := r.(*nbdb.LogicalRouter); lr.Name == name {
			return lr
		}
	}
	return nil
}

func (w *nbWatch) lswitch(name string) *nbdb.LogicalSwitch {
	for _, r := range w.cl.Cache().Table(nbdb.LogicalSwitchTable).RowsShallow() {
		if ls := r.(*nbdb.LogicalSwitch); ls.Name == name {
			return ls
		}
	}
	return nil
}

func (w *nbWatch) global() *nbdb.NBGlobal {
	for _, r := range w.cl.Cache().Table(nbdb.NBGlobalTable).RowsShallow() {
		return r.(*nbdb.NBGlobal)
	}
	return nil
}

// cmdNBCfgRTT measures the floor of anything "verified down to the
// chassis": the round trip of an NB_Global.nb_cfg increment through northd
// (sb_cfg) and through every chassis (hv_cfg), the barrier ovnfwd waits for.
func cmdNBCfgRTT(args []string) error {
	fs := flag.NewFlagSet("nbcfg-rtt", flag.ExitOnError)
	n := fs.Int("n", 20, "round trips")
	gap := fs.Duration("gap", 200*time.Millisecond, "pause between round trips")
	_ = fs.Parse(args)
	ctx := context.Background()
	w, err := dialNB(ctx, true)
	if err != nil {
		return err
	}
	defer w.cl.Close()
	var sb, hv []float64
	for i := 0; i < *n; i++ {
		g := w.global()
		if g == nil {
			return errors.New("no NB_Global row")
		}
		ops := []ovsdb.Operation{
			{Op: ovsdb.OperationMutate, Table: nbdb.NBGlobalTable, Where: uuidWhere(g.UUID),
				Mutations: []ovsdb.Mutation{{Column: "nb_cfg", Mutator: ovsdb.MutateOperationAdd, Value: 1}}},
			{Op: ovsdb.OperationSelect, Table: nbdb.NBGlobalTable, Where: uuidWhere(g.UUID), Columns: []string{"nb_cfg"}},
		}
		res, err := w.transact(ctx, ops...)
		if err != nil {
			return err
		}
		t0 := time.Now()
		cfg := 0
		if len(res) > 1 && len(res[1].Rows) == 1 {
			if f, ok := res[1].Rows[0]["nb_cfg"].(float64); ok {
				cfg = int(f)
			} else if v, ok := res[1].Rows[0]["nb_cfg"].(int); ok {
				cfg = v
			}
		}
		if w.waitFor(10*time.Second, func() bool { g := w.global(); return g != nil && g.SbCfg >= cfg }) {
			sb = append(sb, time.Since(t0).Seconds())
		}
		if w.waitFor(10*time.Second, func() bool { g := w.global(); return g != nil && g.HvCfg >= cfg }) {
			hv = append(hv, time.Since(t0).Seconds())
		}
		time.Sleep(*gap)
	}
	return emit(map[string]any{"northd": summarize(sb), "chassis": summarize(hv)})
}

func (w *nbWatch) transact(ctx context.Context, ops ...ovsdb.Operation) ([]ovsdb.OperationResult, error) {
	res, err := w.cl.Transact(ctx, ops...)
	if err != nil {
		return res, err
	}
	if _, err := ovsdb.CheckOperationResults(res, ops); err != nil {
		return res, err
	}
	return res, nil
}

func uuidWhere(u string) []ovsdb.Condition {
	return []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, ovsdb.UUID{GoUUID: u})}
}

func ovsMap(m map[string]string) ovsdb.OvsMap {
	om := ovsdb.OvsMap{GoMap: map[any]any{}}
	for k, v := range m {
		om.GoMap[k] = v
	}
	return om
}

// cmdNBClear deletes every Load_Balancer whose name starts with -match,
// in transactions of -batch rows (references from routers and switches are
// weak: they go with the rows).
func cmdNBClear(args []string) error {
	fs := flag.NewFlagSet("nb-clear", flag.ExitOnError)
	match := fs.String("match", "", "name prefix of the rows to delete, e.g. lxd-net2-lb-198.18.")
	batch := fs.Int("batch", 2000, "rows per transaction")
	_ = fs.Parse(args)
	if !strings.Contains(*match, "-lb-") || len(*match) < 12 {
		return errors.New("-match must be a specific Load_Balancer name prefix like lxd-net2-lb-198.18.")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w, err := dialNB(ctx, false)
	if err != nil {
		return err
	}
	defer w.cl.Close()
	res, err := w.transact(ctx, ovsdb.Operation{Op: ovsdb.OperationSelect, Table: nbdb.LoadBalancerTable,
		Where: []ovsdb.Condition{}, Columns: []string{"_uuid", "name"}})
	if err != nil {
		return fmt.Errorf("select: %w", err)
	}
	var uuids []string
	for _, row := range res[0].Rows {
		name, _ := row["name"].(string)
		if !strings.HasPrefix(name, *match) {
			continue
		}
		if u, ok := row["_uuid"].(ovsdb.UUID); ok {
			uuids = append(uuids, u.GoUUID)
		}
	}
	start := time.Now()
	for i := 0; i < len(uuids); i += *batch {
		var ops []ovsdb.Operation
		for _, u := range uuids[i:min(i+*batch, len(uuids))] {
			ops = append(ops, ovsdb.Operation{Op: ovsdb.OperationDelete, Table: nbdb.LoadBalancerTable, Where: uuidWhere(u)})
		}
		if _, err := w.transact(ctx, ops...); err != nil {
			return fmt.Errorf("delete batch at %d: %w", i, err)
		}
	}
	return emit(map[string]any{"deleted": len(uuids), "seconds": time.Since(start).Seconds()})
}

// The drift edits of issue 7.
const (
	editDelete    = "delete-row"
	editVIP       = "change-vip"
	editDetach    = "detach"
	editDuplicate = "duplicate"
)

type driftEdit struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// TxnS is the edit's own transaction round trip; LatencyS counts from
	// its reply (the daemon's replica gets the update at the same time).
	TxnS     float64 `json:"txn_s"`
	LatencyS float64 `json:"latency_s"` // edit committed → NB repaired (as seen by benchtool's replica)
	OK       bool    `json:"ok"`
	// DaemonS is the daemon's own event_to_verified sample for this edit
	// (NB change → verified ok, down to SB), from its histogram _sum delta;
	// 0 when not attributable.
	DaemonS float64 `json:"daemon_s"`
}

type want struct {
	proto string
	vips  map[string]string
}

// cmdDrift makes -n random edits behind ovnfwd's back, one at a time, to
// rows of the bed's forwards whose names start with -match, and measures
// the time from each edit's commit until NB holds the row as before: one
// row of that name, the same VIPs, attached to the router and ls-int.
func cmdDrift(args []string) error {
	fs := flag.NewFlagSet("drift", flag.ExitOnError)
	n := fs.Int("n", 500, "edits")
	prefix := fs.String("prefix", "lxd-net2", "OVN prefix of the network")
	match := fs.String("match", "198.18.", "only rows of forwards whose listen address starts with this")
	seed := fs.Int64("seed", 7, "random seed")
	metricsURL := fs.String("metrics", "", "ovnfwd /metrics URL (to attribute the daemon's own samples)")
	timeout := fs.Duration("timeout", 10*time.Second, "give up on one edit after this long")
	budget := fs.Duration("budget", 0, "start no edit after this long once -min edits are done (0: no limit)")
	minN := fs.Int("min", 30, "edits to make whatever the budget")
	_ = fs.Parse(args)

	ctx := context.Background()
	w, err := dialNB(ctx, true)
	if err != nil {
		return err
	}
	defer w.cl.Close()
	routerName, switchName := *prefix+"-lr", *prefix+"-ls-int"
	lr, ls := w.router(routerName), w.lswitch(switchName)
	if lr == nil || ls == nil {
		return fmt.Errorf("no %s or %s in NB", routerName, switchName)
	}
	// The population: rows that are good now.
	namePrefix := *prefix + "-lb-" + *match
	wants := map[string]want{}
	for _, r := range w.cl.Cache().Table(nbdb.LoadBalancerTable).RowsShallow() {
		lb := r.(*nbdb.LoadBalancer)
		if !strings.HasPrefix(lb.Name, namePrefix) {
			continue
		}
		p := ""
		if lb.Protocol != nil {
			p = string(*lb.Protocol)
		}
		wants[lb.Name] = want{proto: p, vips: maps.Clone(lb.Vips)}
	}
	good := func(name string) bool {
		wt := wants[name]
		rows := w.lbsNamed(name)
		if len(rows) != 1 || !maps.Equal(rows[0].Vips, wt.vips) {
			return false
		}
		lr, ls := w.router(routerName), w.lswitch(switchName)
		return lr != nil && ls != nil && slices.Contains(lr.LoadBalancer, rows[0].UUID) && slices.Contains(ls.LoadBalancer, rows[0].UUID)
	}
	var names []string
	for name := range wants {
		if good(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return fmt.Errorf("no consistent rows named %s* in NB", namePrefix)
	}
	logf("drift: %d consistent rows, %d edits", len(names), *n)
	rng := rand.New(rand.NewSource(*seed))
	kinds := []string{editDelete, editVIP, editDetach, editDuplicate}
	var mc *metricsClient
	if *metricsURL != "" {
		mc = newMetricsClient(*metricsURL)
	}

	var edits []driftEdit
	recent := map[string]bool{}
	if mc != nil {
		mc.waitIdle(w, 500*time.Millisecond, 60*time.Second)
	}
	start := time.Now()
	for i := 0; i < *n; i++ {
		if *budget > 0 && i >= *minN && time.Since(start) > *budget {
			logf("drift: time budget %s used after %d edits", *budget, i)
			break
		}
		kind := kinds[i%len(kinds)]
		if i%len(kinds) == 0 {
			rng.Shuffle(len(kinds), func(a, b int) { kinds[a], kinds[b] = kinds[b], kinds[a] })
			kind = kinds[0]
		}
		name := names[rng.Intn(len(names))]
		for recent[name] {
			name = names[rng.Intn(len(names))]
		}
		recent[name] = true
		if !w.waitFor(*timeout, func() bool { return good(name) }) {
			return fmt.Errorf("row %s is not consistent before edit %d", name, i)
		}
		rows := w.lbsNamed(name)
		row := rows[0]
		var ops []ovsdb.Operation
		switch kind {
		case editDelete:
			ops = []ovsdb.Operation{{Op: ovsdb.OperationDelete, Table: nbdb.LoadBalancerTable, Where: uuidWhere(row.UUID)}}
		case editVIP:
			bad := map[string]string{}
			for k := range row.Vips {
				bad[k] = "10.10.10.254:9999"
			}
			ops = []ovsdb.Operation{{Op: ovsdb.OperationUpdate, Table: nbdb.LoadBalancerTable, Where: uuidWhere(row.UUID),
				Row: ovsdb.Row{"vips": ovsMap(bad)}}}
		case editDetach:
			// Alternate between the router and the switch.
			table, target := nbdb.LogicalRouterTable, w.router(routerName).UUID
			if i%2 == 1 {
				table, target = nbdb.LogicalSwitchTable, w.lswitch(switchName).UUID
			}
			ops = []ovsdb.Operation{{Op: ovsdb.OperationMutate, Table: table, Where: uuidWhere(target),
				Mutations: []ovsdb.Mutation{{Column: "load_balancer", Mutator: ovsdb.MutateOperationDelete,
					Value: ovsdb.OvsSet{GoSet: []any{ovsdb.UUID{GoUUID: row.UUID}}}}}}}
		case editDuplicate:
			ops = []ovsdb.Operation{{Op: ovsdb.OperationInsert, Table: nbdb.LoadBalancerTable, Row: ovsdb.Row{
				"name": name, "protocol": ovsdb.OvsSet{GoSet: []any{wants[name].proto}}, "vips": ovsMap(row.Vips)}}}
		}
		var before promSnapshot
		if mc != nil {
			before, _ = mc.scrape()
		}
		t0 := time.Now()
		if _, err := w.transact(ctx, ops...); err != nil {
			return fmt.Errorf("edit %d (%s %s): %w", i, kind, name, err)
		}
		t1 := time.Now()
		ok := w.waitFor(*timeout, func() bool { return good(name) })
		e := driftEdit{Kind: kind, Name: name, TxnS: t1.Sub(t0).Seconds(), LatencyS: time.Since(t1).Seconds(), OK: ok}
		// Let the daemon finish: its barrier (nb_cfg+1, then northd) and
		// its verification, before the next edit.
		// The daemon's first sample after the edit is this edit's (its
		// own write comes back as an NB change, another sample, but only
		// after --nb-settle).
		if mc != nil {
			if first, ok := mc.waitChange(before, *timeout, c2vCount); ok && first.delta(before, c2vCount) == 1 {
				e.DaemonS = first.delta(before, c2vSum)
			}
			if _, ok := mc.waitIdle(w, 200*time.Millisecond, 30*time.Second); !ok {
				logf("drift: daemon not idle 30 s after edit %d", i)
			}
		} else {
			time.Sleep(200 * time.Millisecond)
		}
		edits = append(edits, e)
		if len(recent) > 20 {
			recent = map[string]bool{}
		}
		if (i+1)%50 == 0 {
			logf("drift: %d/%d edits, last %s %.1f ms", i+1, *n, kind, e.LatencyS*1000)
		}
	}
	out := map[string]any{"edits": edits, "seconds": time.Since(start).Seconds(), "rows": len(names),
		"requested": *n, "budget_s": budget.Seconds()}
	byKind := map[string][]float64{}
	var all, daemon []float64
	failures := 0
	for _, e := range edits {
		if !e.OK {
			failures++
			continue
		}
		all = append(all, e.LatencyS)
		byKind[e.Kind] = append(byKind[e.Kind], e.LatencyS)
		if e.DaemonS > 0 {
			daemon = append(daemon, e.DaemonS)
		}
	}
	sums := map[string]summary{}
	for k, xs := range byKind {
		sums[k] = summarize(xs)
	}
	out["all"], out["by_kind"], out["failures"], out["daemon_verified"] = summarize(all), sums, failures, summarize(daemon)
	return emit(out)
}
