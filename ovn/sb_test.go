package ovn

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovnfwd/ovnfwd/ovn/sbdb"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

func dialTestSB(t testing.TB, endpoint string) *SB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sb, err := DialSB(ctx, Config{Endpoints: []string{endpoint}, ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("DialSB: %v", err)
	}
	t.Cleanup(sb.Close)
	return sb
}

type sbSeed struct{ ch1, dp, cr, patch, vif, lb string }

// seedSB writes what northd and two chassis would: ch1 with both rows, ch2
// with only Chassis_Private (its Chassis row was deleted), a claimed cr-
// port, a patch port with nat_addresses, a VIF port ovnfwd does not read,
// a load balancer and an address set.
func seedSB(t testing.TB, r *rawClient) sbSeed {
	t.Helper()
	var s sbSeed
	res := r.transact(
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: sbdb.EncapTable, UUIDName: "enc", Row: ovsdb.Row{
			"type": "geneve", "ip": "192.0.2.1", "chassis_name": "ch1"}},
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: sbdb.ChassisTable, UUIDName: "ch1", Row: ovsdb.Row{
			"name": "ch1", "hostname": "host1", "encaps": set(uuidRef("enc"))}},
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: sbdb.ChassisPrivateTable, Row: ovsdb.Row{
			"name": "ch1", "chassis": uuidRef("ch1"), "nb_cfg": 7, "nb_cfg_timestamp": 1700000000123}},
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: sbdb.ChassisPrivateTable, Row: ovsdb.Row{
			"name": "ch2", "nb_cfg": 3}},
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: sbdb.DatapathBindingTable, UUIDName: "dp", Row: ovsdb.Row{
			"tunnel_key": 1}},
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: sbdb.PortBindingTable, Row: ovsdb.Row{
			"logical_port": "cr-lxd-net1-lr-lrp-ext", "type": "chassisredirect", "datapath": uuidRef("dp"),
			"tunnel_key": 1, "chassis": uuidRef("ch1")}},
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: sbdb.PortBindingTable, Row: ovsdb.Row{
			"logical_port": "lxd-net1-ls-ext-lsp-router", "type": "patch", "datapath": uuidRef("dp"), "tunnel_key": 2,
			"nat_addresses": set(`00:16:3e:00:00:01 192.0.2.10 198.51.100.1 is_chassis_resident("cr-lxd-net1-lr-lrp-ext")`)}},
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: sbdb.PortBindingTable, Row: ovsdb.Row{
			"logical_port": "c1-eth0", "type": "", "datapath": uuidRef("dp"), "tunnel_key": 3}},
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: sbdb.LoadBalancerTable, Row: ovsdb.Row{
			"name": lbName, "vips": ovsMap(vips1), "external_ids": ovsMap(map[string]string{"lb_id": uLB})}},
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: sbdb.AddressSetTable, Row: ovsdb.Row{
			"name": "_rtr_lb_1_ip4", "addresses": set("198.51.100.2", "198.51.100.1")}},
	)
	s.ch1, s.dp, s.cr, s.patch, s.vif, s.lb = res[1].UUID.GoUUID, res[4].UUID.GoUUID, res[5].UUID.GoUUID,
		res[6].UUID.GoUUID, res[7].UUID.GoUUID, res[8].UUID.GoUUID
	return s
}

func TestSBSnapshot(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ep string, real bool) {
		raw := rawSB(t, ep)
		seed := seedSB(t, raw)
		sb := dialTestSB(t, ep)
		st := sb.Snapshot()

		if len(st.LoadBalancers) != 1 || st.LoadBalancers[0].Name != lbName || st.LoadBalancers[0].ExternalIDs["lb_id"] != uLB ||
			st.LoadBalancers[0].VIPs["198.51.100.1:80"] != "10.0.0.2:80" {
			t.Errorf("load balancers = %+v", st.LoadBalancers)
		}
		wantPB := []fwdsync.SBPortBinding{
			{UUID: seed.cr, LogicalPort: "cr-lxd-net1-lr-lrp-ext", Type: "chassisredirect", Chassis: "ch1"},
			{UUID: seed.patch, LogicalPort: "lxd-net1-ls-ext-lsp-router", Type: "patch",
				NatAddresses: []string{`00:16:3e:00:00:01 192.0.2.10 198.51.100.1 is_chassis_resident("cr-lxd-net1-lr-lrp-ext")`}},
		}
		if !slices.EqualFunc(st.PortBindings, wantPB, equalPB) {
			t.Errorf("port bindings = %+v\nwant %+v", st.PortBindings, wantPB)
		}
		wantCh := []fwdsync.SBChassis{
			{Name: "ch1", Hostname: "host1", NBCfg: 7, NBCfgTimestamp: 1700000000123, HasChassisRow: true},
			{Name: "ch2", NBCfg: 3},
		}
		if !slices.Equal(st.Chassis, wantCh) {
			t.Errorf("chassis = %+v\nwant %+v", st.Chassis, wantCh)
		}
		if len(st.AddressSets) != 1 || !slices.Equal(sorted(st.AddressSets[0].Addresses), []string{"198.51.100.1", "198.51.100.2"}) {
			t.Errorf("address sets = %+v", st.AddressSets)
		}
		if real {
			// Conditional monitoring: ovsdb-server did not even send the VIF port.
			if n := sb.c.cache().Table(sbdb.PortBindingTable).Len(); n != 2 {
				t.Errorf("replica holds %d port bindings, want 2 (monitor condition on type)", n)
			}
		}

		// SnapshotFor: the named rows only, through the name index, and
		// everything else as Snapshot has it.
		sf := sb.SnapshotFor([]string{lbName, "no-such-lb", lbName})
		if len(sf.LoadBalancers) != 1 || sf.LoadBalancers[0].UUID != seed.lb || !slices.EqualFunc(sf.PortBindings, wantPB, equalPB) ||
			!slices.Equal(sf.Chassis, wantCh) || len(sf.AddressSets) != 1 || sf.NBCfg != st.NBCfg {
			t.Errorf("SnapshotFor = %+v", sf)
		}
		if n := len(sb.SnapshotFor([]string{"no-such-lb"}).LoadBalancers); n != 0 {
			t.Errorf("SnapshotFor(no-such-lb) has %d rows", n)
		}

		// GatewaySnapshot: the same gateway facts, no rows.
		gs := sb.GatewaySnapshot()
		if !slices.EqualFunc(gs.PortBindings, wantPB, equalPB) || !slices.Equal(gs.Chassis, wantCh) ||
			gs.NBCfg != st.NBCfg || gs.LoadBalancers != nil || gs.AddressSets != nil {
			t.Errorf("gateway snapshot = %+v", gs)
		}

		// Failover: the claim moves, the callback reports Port_Binding;
		// the rows generation stays (no row a verdict rests on changed).
		gen := sb.RowsGeneration()
		var mu sync.Mutex
		var tables, claims []string
		sb.OnChange(func(table string) { mu.Lock(); tables = append(tables, table); mu.Unlock() })
		sb.OnClaimChange(func(port, ch string) { mu.Lock(); claims = append(claims, port+"="+ch); mu.Unlock() })
		raw.transact(ovsdb.Operation{Op: ovsdb.OperationUpdate, Table: sbdb.PortBindingTable,
			Where: []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, uuidRef(seed.cr))},
			Row:   ovsdb.Row{"chassis": set()}})
		eventually(t, "unclaimed in snapshot", func() bool {
			for _, pb := range sb.Snapshot().PortBindings {
				if pb.UUID == seed.cr {
					return pb.Chassis == ""
				}
			}
			return false
		})
		eventually(t, "OnChange(Port_Binding)", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return slices.Contains(tables, sbdb.PortBindingTable)
		})
		eventually(t, "OnClaimChange(cr-…, unclaimed)", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return slices.Contains(claims, "cr-lxd-net1-lr-lrp-ext=")
		})
		if g := sb.RowsGeneration(); g != gen {
			t.Errorf("a claim change moved the rows generation %d → %d", gen, g)
		}
		// A load balancer change does move it.
		raw.transact(ovsdb.Operation{Op: ovsdb.OperationUpdate, Table: sbdb.LoadBalancerTable,
			Where: []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, uuidRef(seed.lb))},
			Row:   ovsdb.Row{"vips": ovsMap(map[string]string{"198.51.100.1:81": "10.0.0.2:81"})}})
		eventually(t, "rows generation moves on a Load_Balancer change", func() bool { return sb.RowsGeneration() != gen })
		if sb.Stats().Transactions != 0 {
			t.Error("SB client sent a transaction")
		}
	})
}

func equalPB(a, b fwdsync.SBPortBinding) bool {
	return a.UUID == b.UUID && a.LogicalPort == b.LogicalPort && a.Type == b.Type && a.Chassis == b.Chassis &&
		slices.Equal(a.NatAddresses, b.NatAddresses)
}
