package ovn

import (
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovnfwd/ovnfwd/ovn/sbdb"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// sbPortTypes are the Port_Binding types ovnfwd reads: the gateway's cr-…
// port (who is active), patch ports (nat_addresses of the router-type
// switch port) and localnet ports (the uplink a gateway announces itself on).
var sbPortTypes = []string{"chassisredirect", "patch", "localnet"}

// sbColumns are the only SB tables and columns ovnfwd monitors.
var sbColumns = []struct {
	table   string
	model   model.Model
	columns []string
	where   []ovsdb.Condition
}{
	{sbdb.LoadBalancerTable, &sbdb.LoadBalancer{}, []string{"name", "vips", "external_ids"}, nil},
	// ovsdb-server ORs the conditions of a monitor_cond request, so this
	// monitors only ports of the two types. (libovsdb's own test server
	// ignores conditions; Snapshot filters again.)
	{sbdb.PortBindingTable, &sbdb.PortBinding{}, []string{"logical_port", "type", "chassis", "nat_addresses", "datapath", "options"}, []ovsdb.Condition{
		ovsdb.NewCondition("type", ovsdb.ConditionEqual, sbPortTypes[0]),
		ovsdb.NewCondition("type", ovsdb.ConditionEqual, sbPortTypes[1]),
		ovsdb.NewCondition("type", ovsdb.ConditionEqual, sbPortTypes[2]),
	}},
	{sbdb.ChassisTable, &sbdb.Chassis{}, []string{"name", "hostname"}, nil},
	{sbdb.ChassisPrivateTable, &sbdb.ChassisPrivate{}, []string{"name", "nb_cfg", "nb_cfg_timestamp", "chassis"}, nil},
	{sbdb.AddressSetTable, &sbdb.AddressSet{}, []string{"name", "addresses"}, nil},
	// SB_Global.nb_cfg: northd writes it in the same transaction as the SB
	// changes of that NB config, so a replica that shows it shows them too.
	{sbdb.SBGlobalTable, &sbdb.SBGlobal{}, []string{"nb_cfg"}, nil},
}

func sbClientModel() (model.ClientDBModel, error) {
	models := make(map[string]model.Model, len(sbColumns))
	for _, t := range sbColumns {
		models[t.table] = t.model
	}
	m, err := model.NewClientDBModel("OVN_Southbound", models)
	if err != nil {
		return m, err
	}
	// Verifying a few forwards reads their rows by name, not all 20,000.
	m.SetIndexes(map[string][]model.ClientIndex{
		sbdb.LoadBalancerTable: {{Columns: []model.ColumnKey{{Column: "name"}}}},
	})
	return m, nil
}

func sbMonitor(cl client.Client) *client.Monitor { return sbMonitorOf(cl, false) }

// sbMonitorOf is the SB monitor; gatewayOnly leaves out the Load_Balancer
// and Address_Set tables.
func sbMonitorOf(cl client.Client, gatewayOnly bool) *client.Monitor {
	m := cl.NewMonitor()
	for _, t := range sbColumns {
		if gatewayOnly && (t.table == sbdb.LoadBalancerTable || t.table == sbdb.AddressSetTable) {
			continue
		}
		m.Tables = append(m.Tables, client.TableMonitor{Table: t.table, Fields: t.columns, Conditions: t.where})
	}
	return m
}

// SB is a read-only client of the OVN southbound database.
type SB struct {
	c *conn

	cbMu     sync.Mutex
	onChange []func(table string)
	onClaim  []func(port, chassisUUID string)
	// rowsGen counts changes of what a gateway claim change leaves alone
	// (Load_Balancer, Address_Set, non-gateway Port_Binding rows).
	rowsGen atomic.Uint64
}

// RowsGeneration changes whenever a Load_Balancer, Address_Set or
// non-gateway Port_Binding row of the replica changes (reconnects
// included); gateway claims and chassis do not change it.
func (s *SB) RowsGeneration() uint64 { return s.rowsGen.Load() }

// DialSB connects to the southbound database, retrying until ctx is done,
// and starts the monitor. It reads from any cluster member unless
// cfg.LeaderOnly is set, and never writes.
func DialSB(ctx context.Context, cfg Config) (*SB, error) {
	dbModel, err := sbClientModel()
	if err != nil {
		return nil, err
	}
	s := &SB{}
	cfg.ReadOnly = true
	monitor := func(cl client.Client) *client.Monitor { return sbMonitorOf(cl, cfg.GatewayOnly) }
	c, err := dial(ctx, cfg, dbModel, cfg.LeaderOnly, monitor, func(c *conn) cache.EventHandler {
		return &cache.EventHandlerFuncs{
			AddFunc:    func(table string, m model.Model) { s.event(c, table, m) },
			UpdateFunc: func(table string, _, m model.Model) { s.event(c, table, m) },
			DeleteFunc: func(table string, m model.Model) { s.event(c, table, m) },
		}
	})
	if err != nil {
		return nil, err
	}
	s.c = c
	return s, nil
}

func (s *SB) event(c *conn, table string, m model.Model) {
	defer c.signal()
	pb, isPB := m.(*sbdb.PortBinding)
	switch {
	case table == sbdb.LoadBalancerTable, table == sbdb.AddressSetTable, isPB && pb.Type != "chassisredirect":
		s.rowsGen.Add(1)
	}
	if c.initialEvent() {
		return
	}
	if isPB && !slices.Contains(sbPortTypes, pb.Type) {
		return
	}
	s.cbMu.Lock()
	cbs := slices.Clone(s.onChange)
	claims := slices.Clone(s.onClaim)
	s.cbMu.Unlock()
	for _, f := range cbs {
		f(table)
	}
	if isPB && pb.Type == "chassisredirect" {
		ch := ""
		if pb.Chassis != nil {
			ch = *pb.Chassis
		}
		for _, f := range claims {
			f(pb.LogicalPort, ch)
		}
	}
}

// OnClaimChange registers f to be called for every event on a gateway
// (chassisredirect) Port_Binding, with its logical port and the UUID of the
// chassis that claims it ("" when unclaimed). Like OnChange it runs on
// libovsdb's event goroutine and must not block.
func (s *SB) OnClaimChange(f func(port, chassisUUID string)) {
	s.cbMu.Lock()
	s.onClaim = append(s.onClaim, f)
	s.cbMu.Unlock()
}

// OnChange registers f to be called with the table name of every monitored
// row that is added, changed or deleted after DialSB returned (the initial
// fill is not reported). Callbacks run on libovsdb's event goroutine and
// must not block. After a reconnect that refilled the replica it is called
// for every row.
func (s *SB) OnChange(f func(table string)) {
	s.cbMu.Lock()
	s.onChange = append(s.onChange, f)
	s.cbMu.Unlock()
}

// OnReconnect registers f to be called after every reconnect, once the
// replica is refilled.
func (s *SB) OnReconnect(f func()) { s.c.addReconnect(f) }

// Connected reports whether the client is connected (sampled every 100ms).
func (s *SB) Connected() bool { return s.c.connected.Load() }

// Close disconnects for good.
func (s *SB) Close() { s.c.close() }

// Stats returns the client's counters (SB never sends a transaction).
func (s *SB) Stats() Stats { return Stats{Reconnects: s.c.reconnects.Load()} }

// NBCfg returns SB_Global.nb_cfg as the local replica has it: every NB
// change up to that config is realized in this replica.
func (s *SB) NBCfg() int {
	for _, r := range rowsOf(s.c.cache(), sbdb.SBGlobalTable) {
		return r.(*sbdb.SBGlobal).NbCfg
	}
	return 0
}

// WaitNBCfg waits, at most timeout, until the replica has caught up with NB
// config cfg (see NBCfg). It reports whether it did.
func (s *SB) WaitNBCfg(ctx context.Context, cfg int, timeout time.Duration) bool {
	return s.c.waitFor(ctx, timeout, func() bool { return s.NBCfg() >= cfg })
}

// Snapshot returns everything ovnfwd reads from SB, from the local replica.
// Port_Binding.chassis is resolved to the chassis name. Rows are sorted by
// name (logical port), then UUID; set-valued columns are in no particular
// order. Maps and slices are copies.
func (s *SB) Snapshot() fwdsync.SBState {
	tc := s.c.cache()
	var st fwdsync.SBState

	for _, r := range rowsOf(tc, sbdb.LoadBalancerTable) {
		lb := r.(*sbdb.LoadBalancer)
		st.LoadBalancers = append(st.LoadBalancers, fwdsync.SBLoadBalancer{
			UUID: lb.UUID,
			Name: lb.Name,
			// The replica's own maps, read-only (see NB.Snapshot).
			VIPs:        lb.Vips,
			ExternalIDs: lb.ExternalIDs,
		})
	}
	slices.SortFunc(st.LoadBalancers, func(a, b fwdsync.SBLoadBalancer) int { return cmpNameUUID(a.Name, a.UUID, b.Name, b.UUID) })

	snapshotGateways(tc, &st)

	st.AddressSets = addressSets(tc)
	st.NBCfg = s.NBCfg()
	return st
}

// SnapshotFor is Snapshot with only the Load_Balancer rows of the given
// names (found through the name index): what verifying a few forwards
// needs.
func (s *SB) SnapshotFor(lbNames []string) fwdsync.SBState {
	tc := s.c.cache()
	var st fwdsync.SBState
	if tc == nil {
		return st
	}
	t := tc.Table(sbdb.LoadBalancerTable)
	seen := make(map[string]bool, len(lbNames))
	for _, name := range lbNames {
		if seen[name] {
			continue
		}
		seen[name] = true
		rows, err := t.RowsByModels([]model.Model{&sbdb.LoadBalancer{Name: name}})
		if err != nil {
			continue
		}
		for _, r := range rows {
			lb := r.(*sbdb.LoadBalancer)
			st.LoadBalancers = append(st.LoadBalancers, fwdsync.SBLoadBalancer{UUID: lb.UUID, Name: lb.Name, VIPs: lb.Vips, ExternalIDs: lb.ExternalIDs})
		}
	}
	slices.SortFunc(st.LoadBalancers, func(a, b fwdsync.SBLoadBalancer) int { return cmpNameUUID(a.Name, a.UUID, b.Name, b.UUID) })
	snapshotGateways(tc, &st)
	st.AddressSets = addressSets(tc)
	st.NBCfg = s.NBCfg()
	return st
}

// GatewaySnapshot is Snapshot without the Load_Balancer and Address_Set
// rows: the Port_Bindings (gateway claims, nat_addresses), the chassis
// and SB_Global.nb_cfg, what judging a claim change needs.
func (s *SB) GatewaySnapshot() fwdsync.SBState {
	var st fwdsync.SBState
	snapshotGateways(s.c.cache(), &st)
	st.NBCfg = s.NBCfg()
	return st
}

// addressSets returns the Address_Set rows, sorted by name.
func addressSets(tc *cache.TableCache) []fwdsync.SBAddressSet {
	var out []fwdsync.SBAddressSet
	for _, r := range rowsOf(tc, sbdb.AddressSetTable) {
		as := r.(*sbdb.AddressSet)
		// The replica's own slice, read-only (see NB.Snapshot): a router's
		// responder set holds every VIP.
		out = append(out, fwdsync.SBAddressSet{Name: as.Name, Addresses: as.Addresses})
	}
	slices.SortFunc(out, func(a, b fwdsync.SBAddressSet) int { return cmpNameUUID(a.Name, "", b.Name, "") })
	return out
}

func snapshotGateways(tc *cache.TableCache, st *fwdsync.SBState) {
	chassisRows := rowsOf(tc, sbdb.ChassisTable)
	chassisName := make(map[string]string, len(chassisRows))
	for u, r := range chassisRows {
		chassisName[u] = r.(*sbdb.Chassis).Name
	}
	for _, r := range rowsOf(tc, sbdb.PortBindingTable) {
		pb := r.(*sbdb.PortBinding)
		if !slices.Contains(sbPortTypes, pb.Type) {
			continue
		}
		p := fwdsync.SBPortBinding{
			UUID:         pb.UUID,
			LogicalPort:  pb.LogicalPort,
			Type:         pb.Type,
			NatAddresses: pb.NatAddresses,
			Datapath:     pb.Datapath,
		}
		if pb.Type == "localnet" {
			p.NetworkName = pb.Options["network_name"]
		}
		if pb.Chassis != nil {
			// A weak reference: a deleted chassis empties it. A name not
			// (yet) in the replica counts as unclaimed.
			p.Chassis = chassisName[*pb.Chassis]
		}
		st.PortBindings = append(st.PortBindings, p)
	}
	slices.SortFunc(st.PortBindings, func(a, b fwdsync.SBPortBinding) int {
		return cmpNameUUID(a.LogicalPort, a.UUID, b.LogicalPort, b.UUID)
	})

	byName := map[string]*fwdsync.SBChassis{}
	get := func(name string) *fwdsync.SBChassis {
		c, ok := byName[name]
		if !ok {
			c = &fwdsync.SBChassis{Name: name}
			byName[name] = c
		}
		return c
	}
	for _, r := range chassisRows {
		ch := r.(*sbdb.Chassis)
		c := get(ch.Name)
		c.Hostname = ch.Hostname
		c.HasChassisRow = true
	}
	for _, r := range rowsOf(tc, sbdb.ChassisPrivateTable) {
		cp := r.(*sbdb.ChassisPrivate)
		c := get(cp.Name)
		c.NBCfg = cp.NbCfg
		c.NBCfgTimestamp = cp.NbCfgTimestamp
	}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		st.Chassis = append(st.Chassis, *byName[name])
	}

}
