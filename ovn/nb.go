package ovn

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"

	"github.com/ovnfwd/ovnfwd/ovn/nbdb"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// nbColumns are the only NB tables and columns ovnfwd monitors.
var nbColumns = []struct {
	table   string
	model   model.Model
	columns []string
}{
	{nbdb.LoadBalancerTable, &nbdb.LoadBalancer{}, []string{"name", "protocol", "vips", "options", "external_ids"}},
	{nbdb.LogicalRouterTable, &nbdb.LogicalRouter{}, []string{"name", "load_balancer", "ports"}},
	{nbdb.LogicalRouterPortTable, &nbdb.LogicalRouterPort{}, []string{"name", "mac", "networks", "ha_chassis_group"}},
	{nbdb.LogicalSwitchTable, &nbdb.LogicalSwitch{}, []string{"name", "load_balancer"}},
	{nbdb.HAChassisGroupTable, &nbdb.HAChassisGroup{}, []string{"name", "ha_chassis"}},
	{nbdb.HAChassisTable, &nbdb.HAChassis{}, []string{"chassis_name", "priority"}},
	{nbdb.NBGlobalTable, &nbdb.NBGlobal{}, []string{"nb_cfg", "sb_cfg", "hv_cfg", "options"}},
}

// nbClientModel is the NB client model: only the monitored tables (so that
// a server with other or newer tables is accepted), with a client index on
// Load_Balancer.name (names are not unique in OVN, the index is a multimap).
func nbClientModel() (model.ClientDBModel, error) {
	models := make(map[string]model.Model, len(nbColumns))
	for _, t := range nbColumns {
		models[t.table] = t.model
	}
	m, err := model.NewClientDBModel("OVN_Northbound", models)
	if err != nil {
		return m, err
	}
	m.SetIndexes(map[string][]model.ClientIndex{
		nbdb.LoadBalancerTable: {{Columns: []model.ColumnKey{{Column: "name"}}}},
	})
	return m, nil
}

func nbMonitor(cl client.Client) *client.Monitor {
	m := cl.NewMonitor()
	for _, t := range nbColumns {
		m.Tables = append(m.Tables, client.TableMonitor{Table: t.table, Fields: t.columns})
	}
	return m
}

// NB is a client of the OVN northbound database.
type NB struct {
	c *conn

	cbMu     sync.Mutex
	onLB     []func(name string)
	onLBDel  []func(name string)
	onLBAdd  []func(name string)
	onTopo   []func()
	txns     atomic.Uint64
	conflict atomic.Uint64
	failed   atomic.Uint64
	cacheLag atomic.Uint64
	// rowsGen counts changes of Load_Balancer rows and of the topology
	// they hang on (routers, their ports, switches).
	rowsGen atomic.Uint64
	// cfgRose: when the replica last saw NB_Global.nb_cfg rise (unix ns).
	cfgRose atomic.Int64
}

// NBCfgRoseAt is when the replica last saw NB_Global.nb_cfg rise after
// DialNB returned (zero: not since). A client writing with ovn-nbctl
// --wait=sb (LXD 5.0.x writing a forward) bumps nb_cfg in the same
// transaction as its rows, so the rise is reported together with their
// Load_Balancer callbacks; an operator's plain ovn-nbctl does not bump it.
// Barriers (this process's or another's) raise it too.
func (n *NB) NBCfgRoseAt() time.Time {
	if ns := n.cfgRose.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// RowsGeneration changes whenever a Load_Balancer, Logical_Router,
// Logical_Router_Port or Logical_Switch row of the replica changes
// (reconnects included); NB_Global (nb_cfg pings) and HA groups do not
// change it.
func (n *NB) RowsGeneration() uint64 { return n.rowsGen.Load() }

// Stats counts what a client has done since it was opened.
type Stats struct {
	// Transactions is the number of transactions sent to the server.
	Transactions uint64
	// Conflicts is the number of transactions refused with ErrConflict.
	Conflicts uint64
	// Failures is the number of transactions that failed otherwise.
	Failures uint64
	// CacheLagTimeouts counts applied changes the local replica did not show
	// within the bounded wait after the transaction.
	CacheLagTimeouts uint64
	// Reconnects is the number of completed reconnects.
	Reconnects uint64
}

// DialNB connects to the northbound database, retrying until ctx is done,
// and starts the monitor. Unless cfg.ReadOnly is set it connects only to the
// cluster leader (a write and the replica read after it must see the same
// server).
func DialNB(ctx context.Context, cfg Config) (*NB, error) {
	dbModel, err := nbClientModel()
	if err != nil {
		return nil, err
	}
	n := &NB{}
	leaderOnly := cfg.LeaderOnly || !cfg.ReadOnly
	c, err := dial(ctx, cfg, dbModel, leaderOnly, nbMonitor, func(c *conn) cache.EventHandler {
		return &cache.EventHandlerFuncs{
			AddFunc: func(table string, m model.Model) {
				n.event(c, table, nil, m)
			},
			UpdateFunc: func(table string, old, m model.Model) {
				n.event(c, table, old, m)
			},
			DeleteFunc: func(table string, m model.Model) {
				n.event(c, table, m, nil)
			},
		}
	})
	if err != nil {
		return nil, err
	}
	n.c = c
	return n, nil
}

// event turns a cache event into callbacks. Router and switch updates that
// only change load_balancer are reported per load balancer, not as a
// topology change: every forward attach would otherwise re-verify all.
func (n *NB) event(c *conn, table string, old, m model.Model) {
	defer c.signal()
	switch table {
	case nbdb.LoadBalancerTable, nbdb.LogicalRouterTable, nbdb.LogicalRouterPortTable, nbdb.LogicalSwitchTable:
		n.rowsGen.Add(1)
	}
	if c.initialEvent() {
		return
	}
	if !c.connected.Load() {
		// The replica is being refilled after a reconnect: the reconnect
		// callbacks (a full pass) cover every row at once, instead of one
		// callback per row.
		return
	}
	switch table {
	case nbdb.NBGlobalTable:
		o, _ := old.(*nbdb.NBGlobal)
		u, _ := m.(*nbdb.NBGlobal)
		if o != nil && u != nil && u.NbCfg > o.NbCfg {
			n.cfgRose.Store(time.Now().UnixNano())
		}
	case nbdb.LoadBalancerTable:
		names := make([]string, 0, 2)
		if lb, ok := old.(*nbdb.LoadBalancer); ok {
			names = append(names, lb.Name)
		}
		if lb, ok := m.(*nbdb.LoadBalancer); ok && (len(names) == 0 || names[0] != lb.Name) {
			names = append(names, lb.Name)
		}
		if lb, ok := old.(*nbdb.LoadBalancer); ok && m == nil {
			n.fireEach(&n.onLBDel, lb.Name)
		}
		if lb, ok := m.(*nbdb.LoadBalancer); ok && old == nil {
			n.fireEach(&n.onLBAdd, lb.Name)
		}
		n.fireLB(names...)
	case nbdb.LogicalRouterTable:
		o, _ := old.(*nbdb.LogicalRouter)
		u, _ := m.(*nbdb.LogicalRouter)
		if o != nil && u != nil && o.Name == u.Name && slices.Equal(o.Ports, u.Ports) {
			n.fireLB(n.lbNames(c, symDiff(o.LoadBalancer, u.LoadBalancer))...)
			return
		}
		n.fireTopo()
	case nbdb.LogicalSwitchTable:
		o, _ := old.(*nbdb.LogicalSwitch)
		u, _ := m.(*nbdb.LogicalSwitch)
		if o != nil && u != nil && o.Name == u.Name {
			n.fireLB(n.lbNames(c, symDiff(o.LoadBalancer, u.LoadBalancer))...)
			return
		}
		n.fireTopo()
	case nbdb.LogicalRouterPortTable, nbdb.HAChassisGroupTable, nbdb.HAChassisTable:
		n.fireTopo()
	}
}

// lbNames resolves load balancer UUIDs to names; rows already gone are
// skipped (their own delete event reports them).
func (n *NB) lbNames(c *conn, uuids []string) []string {
	if len(uuids) == 0 {
		return nil
	}
	tc := c.cache()
	if tc == nil {
		return nil
	}
	t := tc.Table(nbdb.LoadBalancerTable)
	var names []string
	for _, u := range uuids {
		if lb, ok := t.Row(u).(*nbdb.LoadBalancer); ok {
			names = append(names, lb.Name)
		}
	}
	return names
}

// symDiff returns the elements in exactly one of a and b, in O(len) (a
// router holds one reference per forward: tens of thousands).
func symDiff(a, b []string) []string {
	inA := make(map[string]struct{}, len(a))
	for _, x := range a {
		inA[x] = struct{}{}
	}
	var out []string
	for _, x := range b {
		if _, ok := inA[x]; ok {
			delete(inA, x)
		} else {
			out = append(out, x)
		}
	}
	for x := range inA {
		out = append(out, x)
	}
	return out
}

func (n *NB) fireLB(names ...string) {
	if len(names) == 0 {
		return
	}
	n.cbMu.Lock()
	cbs := slices.Clone(n.onLB)
	n.cbMu.Unlock()
	for _, name := range names {
		for _, f := range cbs {
			f(name)
		}
	}
}

// fireEach calls the callbacks in *cbs with name.
func (n *NB) fireEach(cbs *[]func(string), name string) {
	n.cbMu.Lock()
	fs := slices.Clone(*cbs)
	n.cbMu.Unlock()
	for _, f := range fs {
		f(name)
	}
}

func (n *NB) fireTopo() {
	n.cbMu.Lock()
	cbs := slices.Clone(n.onTopo)
	n.cbMu.Unlock()
	for _, f := range cbs {
		f()
	}
}

// OnLoadBalancerChange registers f to be called with the name of every
// Load_Balancer row that is added, changed, deleted, attached or detached
// after DialNB returned (the initial fill is not reported, nor the refill
// after a reconnect: OnReconnect reports that). Callbacks run on libovsdb's
// event goroutine and must not block.
func (n *NB) OnLoadBalancerChange(f func(name string)) {
	n.cbMu.Lock()
	n.onLB = append(n.onLB, f)
	n.cbMu.Unlock()
}

// OnLoadBalancerDelete registers f to be called with the name of every
// Load_Balancer row deleted (before the OnLoadBalancerChange callbacks for
// it). Same rules as OnLoadBalancerChange.
func (n *NB) OnLoadBalancerDelete(f func(name string)) {
	n.cbMu.Lock()
	n.onLBDel = append(n.onLBDel, f)
	n.cbMu.Unlock()
}

// OnLoadBalancerAdd registers f to be called with the name of every
// Load_Balancer row inserted (a new row, whatever its name: LXD and Incus
// replace a forward's row rather than edit it), before the
// OnLoadBalancerChange callbacks for it. Same rules as OnLoadBalancerChange.
func (n *NB) OnLoadBalancerAdd(f func(name string)) {
	n.cbMu.Lock()
	n.onLBAdd = append(n.onLBAdd, f)
	n.cbMu.Unlock()
}

// OnTopologyChange registers f to be called when a router, router port,
// switch (other than its load_balancer column), HA chassis group or HA
// chassis changes. Same rules as OnLoadBalancerChange.
func (n *NB) OnTopologyChange(f func()) {
	n.cbMu.Lock()
	n.onTopo = append(n.onTopo, f)
	n.cbMu.Unlock()
}

// OnReconnect registers f to be called after every reconnect, once the
// replica is refilled. A refill produces no delete events, so the caller
// should re-verify everything.
func (n *NB) OnReconnect(f func()) { n.c.addReconnect(f) }

// Connected reports whether the client is connected (sampled every 100ms).
func (n *NB) Connected() bool { return n.c.connected.Load() }

// WaitConnected waits, at most timeout, until the client is connected (after
// a reconnect: with its replica refilled). It reports whether it is.
func (n *NB) WaitConnected(ctx context.Context, timeout time.Duration) bool {
	return n.c.waitFor(ctx, timeout, n.c.connected.Load)
}

// Close disconnects for good.
func (n *NB) Close() { n.c.close() }

// SchemaVersion is the version of the NB schema the server serves.
func (n *NB) SchemaVersion() string {
	s := n.c.cl.Schema()
	return s.Version
}

// Stats returns the client's counters.
func (n *NB) Stats() Stats {
	return Stats{
		Transactions:     n.txns.Load(),
		Conflicts:        n.conflict.Load(),
		Failures:         n.failed.Load(),
		CacheLagTimeouts: n.cacheLag.Load(),
		Reconnects:       n.c.reconnects.Load(),
	}
}

// Snapshot returns everything ovnfwd reads from NB, from the local replica.
// Rows are sorted by name, then UUID; set-valued columns (a router's load
// balancers, a port's networks, ...) are in no particular order. Slices are
// copies; the Load_Balancer rows' maps are the replica's own (libovsdb
// replaces a cached row on update, it never changes one), shared to keep
// a 20,000-row snapshot cheap: callers may keep them but never change them.
func (n *NB) Snapshot() fwdsync.NBState {
	tc := n.c.cache()
	st := n.topology(tc)
	rows := rowsOf(tc, nbdb.LoadBalancerTable)
	lbs := make([]*nbdb.LoadBalancer, 0, len(rows))
	for _, r := range rows {
		lbs = append(lbs, r.(*nbdb.LoadBalancer))
	}
	st.LoadBalancers = nbLoadBalancers(lbs)
	return st
}

// SnapshotFor is Snapshot with only the Load_Balancer rows of the given
// names (all rows of each name, found through the name index).
func (n *NB) SnapshotFor(lbNames []string) fwdsync.NBState {
	tc := n.c.cache()
	st := n.topology(tc)
	if tc == nil {
		return st
	}
	t := tc.Table(nbdb.LoadBalancerTable)
	seen := make(map[string]bool, len(lbNames))
	var lbs []*nbdb.LoadBalancer
	for _, name := range lbNames {
		if seen[name] {
			continue
		}
		seen[name] = true
		rows, err := t.RowsByModels([]model.Model{&nbdb.LoadBalancer{Name: name}})
		if err != nil {
			continue
		}
		for _, r := range rows {
			lbs = append(lbs, r.(*nbdb.LoadBalancer))
		}
	}
	st.LoadBalancers = nbLoadBalancers(lbs)
	return st
}

// topology reads every table but Load_Balancer.
func (n *NB) topology(tc *cache.TableCache) fwdsync.NBState {
	var st fwdsync.NBState
	for _, r := range rowsOf(tc, nbdb.LogicalRouterTable) {
		lr := r.(*nbdb.LogicalRouter)
		st.Routers = append(st.Routers, fwdsync.NBRouter{
			UUID:          lr.UUID,
			Name:          lr.Name,
			LoadBalancers: setCopy(lr.LoadBalancer),
			Ports:         setCopy(lr.Ports),
		})
	}
	slices.SortFunc(st.Routers, func(a, b fwdsync.NBRouter) int { return cmpNameUUID(a.Name, a.UUID, b.Name, b.UUID) })
	for _, r := range rowsOf(tc, nbdb.LogicalRouterPortTable) {
		lrp := r.(*nbdb.LogicalRouterPort)
		p := fwdsync.NBRouterPort{
			UUID:     lrp.UUID,
			Name:     lrp.Name,
			MAC:      lrp.MAC,
			Networks: setCopy(lrp.Networks),
		}
		if lrp.HaChassisGroup != nil {
			p.HAChassisGroup = *lrp.HaChassisGroup
		}
		st.RouterPorts = append(st.RouterPorts, p)
	}
	slices.SortFunc(st.RouterPorts, func(a, b fwdsync.NBRouterPort) int { return cmpNameUUID(a.Name, a.UUID, b.Name, b.UUID) })
	for _, r := range rowsOf(tc, nbdb.LogicalSwitchTable) {
		ls := r.(*nbdb.LogicalSwitch)
		st.Switches = append(st.Switches, fwdsync.NBSwitch{
			UUID:          ls.UUID,
			Name:          ls.Name,
			LoadBalancers: setCopy(ls.LoadBalancer),
		})
	}
	slices.SortFunc(st.Switches, func(a, b fwdsync.NBSwitch) int { return cmpNameUUID(a.Name, a.UUID, b.Name, b.UUID) })
	for _, r := range rowsOf(tc, nbdb.HAChassisGroupTable) {
		g := r.(*nbdb.HAChassisGroup)
		st.HAChassisGroups = append(st.HAChassisGroups, fwdsync.NBHAChassisGroup{
			UUID:      g.UUID,
			Name:      g.Name,
			HAChassis: setCopy(g.HaChassis),
		})
	}
	slices.SortFunc(st.HAChassisGroups, func(a, b fwdsync.NBHAChassisGroup) int {
		return cmpNameUUID(a.Name, a.UUID, b.Name, b.UUID)
	})
	for _, r := range rowsOf(tc, nbdb.HAChassisTable) {
		h := r.(*nbdb.HAChassis)
		st.HAChassis = append(st.HAChassis, fwdsync.NBHAChassis{UUID: h.UUID, ChassisName: h.ChassisName, Priority: h.Priority})
	}
	slices.SortFunc(st.HAChassis, func(a, b fwdsync.NBHAChassis) int {
		return cmpNameUUID(a.ChassisName, a.UUID, b.ChassisName, b.UUID)
	})
	// NB_Global has exactly one row; take the smallest UUID if not.
	var g *nbdb.NBGlobal
	for _, r := range rowsOf(tc, nbdb.NBGlobalTable) {
		if x := r.(*nbdb.NBGlobal); g == nil || x.UUID < g.UUID {
			g = x
		}
	}
	if g != nil {
		st.NBCfg, st.SBCfg, st.HVCfg = g.NbCfg, g.SbCfg, g.HvCfg
		st.NBGlobalOptions = maps.Clone(g.Options)
	}
	return st
}

// nbLoadBalancers sorts the rows (pointers: cheap to swap) and copies them.
func nbLoadBalancers(lbs []*nbdb.LoadBalancer) []fwdsync.NBLoadBalancer {
	slices.SortFunc(lbs, func(a, b *nbdb.LoadBalancer) int { return cmpNameUUID(a.Name, a.UUID, b.Name, b.UUID) })
	out := make([]fwdsync.NBLoadBalancer, len(lbs))
	for i, lb := range lbs {
		out[i] = fwdsync.NBLoadBalancer{
			UUID:        lb.UUID,
			Name:        lb.Name,
			VIPs:        lb.Vips,
			Options:     lb.Options,
			ExternalIDs: lb.ExternalIDs,
		}
		if lb.Protocol != nil {
			out[i].Protocol = *lb.Protocol
		}
	}
	return out
}

func cmpNameUUID(an, au, bn, bu string) int {
	if c := cmp.Compare(an, bn); c != 0 {
		return c
	}
	return cmp.Compare(au, bu)
}

// setCopy copies a set-valued column (order unspecified).
func setCopy(s []string) []string { return slices.Clone(s) }

// rowsOf returns the cached rows of a table, read-only (libovsdb replaces a
// cached row on update, it never changes one). Nil after Close.
func rowsOf(tc *cache.TableCache, table string) map[string]model.Model {
	if tc == nil {
		return nil
	}
	t := tc.Table(table)
	if t == nil {
		return nil
	}
	return t.RowsShallow()
}
