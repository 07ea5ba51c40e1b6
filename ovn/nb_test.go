package ovn

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovnfwd/ovnfwd/ovn/nbdb"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// forEachBackend runs f against libovsdb's in-process server and against a
// real ovsdb-server (skipped if not installed) loaded with the NB schema.
func forEachBackend(t *testing.T, f func(t *testing.T, endpoint string, real bool)) {
	t.Run("memory", func(t *testing.T) { f(t, startMemServer(t), false) })
	t.Run("ovsdb-server", func(t *testing.T) {
		s := startRealServer(t, nbSchemaFile(), sbSchemaFile())
		f(t, s.endpoint(), true)
	})
}

func dialTestNB(t testing.TB, endpoint string, readOnly bool) *NB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nb, err := DialNB(ctx, Config{Endpoints: []string{endpoint}, ReadOnly: readOnly, ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("DialNB: %v", err)
	}
	t.Cleanup(nb.Close)
	return nb
}

func apply(t *testing.T, nb *NB, ops ...fwdsync.Op) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return nb.Apply(ctx, fwdsync.Change{
		Key: fwdsync.ForwardKey{Project: "default", Network: "ovn1", ListenAddress: "198.51.100.1"},
		Ops: ops,
	})
}

func lbsNamed(st fwdsync.NBState, name string) []fwdsync.NBLoadBalancer {
	var out []fwdsync.NBLoadBalancer
	for _, lb := range st.LoadBalancers {
		if lb.Name == name {
			out = append(out, lb)
		}
	}
	return out
}

func routerByUUID(st fwdsync.NBState, u string) fwdsync.NBRouter {
	for _, r := range st.Routers {
		if r.UUID == u {
			return r
		}
	}
	return fwdsync.NBRouter{}
}

func switchByUUID(st fwdsync.NBState, u string) fwdsync.NBSwitch {
	for _, s := range st.Switches {
		if s.UUID == u {
			return s
		}
	}
	return fwdsync.NBSwitch{}
}

const lbName = "lxd-net1-lb-198.51.100.1-tcp"

var vips1 = map[string]string{"198.51.100.1:80": "10.0.0.2:80", "198.51.100.1:443": "10.0.0.2:443"}

func createOps(tp topo) []fwdsync.Op {
	return []fwdsync.Op{
		{Kind: fwdsync.OpCreateLB, Name: lbName, Protocol: "tcp", VIPs: vips1},
		{Kind: fwdsync.OpAttachRouter, Name: lbName, Target: tp.router, TargetName: "lxd-net1-lr"},
		{Kind: fwdsync.OpAttachSwitch, Name: lbName, Target: tp.lsInt, TargetName: "lxd-net1-ls-int"},
	}
}

func TestApplyCreateAttaches(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ep string, _ bool) {
		raw := rawNB(t, ep)
		tp := seedTopology(t, raw)
		nb := dialTestNB(t, ep, false)

		if err := apply(t, nb, createOps(tp)...); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		// Apply waited for the replica: no polling needed.
		st := nb.Snapshot()
		lbs := lbsNamed(st, lbName)
		if len(lbs) != 1 {
			t.Fatalf("got %d rows named %s, want 1", len(lbs), lbName)
		}
		lb := lbs[0]
		if lb.Protocol != "tcp" || !maps.Equal(lb.VIPs, vips1) || len(lb.Options) != 0 {
			t.Errorf("row = %+v", lb)
		}
		if r := routerByUUID(st, tp.router); !slices.Equal(r.LoadBalancers, []string{lb.UUID}) {
			t.Errorf("router load_balancer = %v, want [%s]", r.LoadBalancers, lb.UUID)
		}
		if s := switchByUUID(st, tp.lsInt); !slices.Equal(s.LoadBalancers, []string{lb.UUID}) {
			t.Errorf("switch load_balancer = %v, want [%s]", s.LoadBalancers, lb.UUID)
		}
		// And on the server, not just in the replica.
		rows := raw.selectRows(nbdb.LogicalRouterTable, ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, uuidRef(tp.router)))
		if got := rows[0]["load_balancer"]; !setHas(got, lb.UUID) {
			t.Errorf("server router load_balancer = %v", got)
		}
		if got := nb.Stats().Transactions; got != 1 {
			t.Errorf("transactions = %d, want 1", got)
		}
	})
}

func setHas(v any, u string) bool {
	switch x := v.(type) {
	case ovsdb.UUID:
		return x.GoUUID == u
	case ovsdb.OvsSet:
		for _, e := range x.GoSet {
			if e.(ovsdb.UUID).GoUUID == u {
				return true
			}
		}
	}
	return false
}

func TestApplyCreateConflictsWithSameName(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ep string, _ bool) {
		raw := rawNB(t, ep)
		tp := seedTopology(t, raw)
		nb := dialTestNB(t, ep, false)
		// LXD wrote the row after we planned (our replica may or may not have it).
		other := raw.insert(nbdb.LoadBalancerTable, ovsdb.Row{"name": lbName, "vips": ovsMap(vips1)})

		err := apply(t, nb, createOps(tp)...)
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("Apply = %v, want ErrConflict", err)
		}
		t.Logf("error: %v", err)
		rows := raw.selectRows(nbdb.LoadBalancerTable, ovsdb.NewCondition("name", ovsdb.ConditionEqual, lbName))
		if len(rows) != 1 || rows[0]["_uuid"].(ovsdb.UUID).GoUUID != other {
			t.Fatalf("rows named %s: %v, want only %s", lbName, rows, other)
		}
		// Nothing of the change was applied.
		r := raw.selectRows(nbdb.LogicalRouterTable, ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, uuidRef(tp.router)))
		if setHas(r[0]["load_balancer"], other) {
			t.Error("router was attached despite the conflict")
		}
		if st := nb.Stats(); st.Conflicts != 1 {
			t.Errorf("stats = %+v", st)
		}
	})
}

// Two rows of one name (canonical/lxd#13462) must block a create too. This
// relies on ovsdb-server's distinct-rows semantics of wait; libovsdb's
// in-process server counts rows instead, so only the real server is tested.
func TestApplyCreateConflictsWithDuplicates(t *testing.T) {
	s := startRealServer(t, nbSchemaFile())
	raw := rawNB(t, s.endpoint())
	tp := seedTopology(t, raw)
	nb := dialTestNB(t, s.endpoint(), false)
	raw.insert(nbdb.LoadBalancerTable, ovsdb.Row{"name": lbName})
	raw.insert(nbdb.LoadBalancerTable, ovsdb.Row{"name": lbName})
	if err := apply(t, nb, createOps(tp)...); !errors.Is(err, ErrConflict) {
		t.Fatalf("Apply = %v, want ErrConflict", err)
	}
	if rows := raw.selectRows(nbdb.LoadBalancerTable); len(rows) != 2 {
		t.Fatalf("got %d rows, want the 2 duplicates", len(rows))
	}
}

func TestApplyUpdate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ep string, _ bool) {
		raw := rawNB(t, ep)
		seedTopology(t, raw)
		u := raw.insert(nbdb.LoadBalancerTable, ovsdb.Row{"name": lbName, "protocol": "tcp", "vips": ovsMap(vips1)})
		nb := dialTestNB(t, ep, false)
		eventually(t, "replica has the row", func() bool { return len(lbsNamed(nb.Snapshot(), lbName)) == 1 })

		newVIPs := map[string]string{"198.51.100.1:80": "10.0.0.3:8080"}
		stale := map[string]string{"198.51.100.1:80": "10.0.0.9:80"}
		err := apply(t, nb, fwdsync.Op{Kind: fwdsync.OpUpdateLB, Name: lbName, UUID: u, Protocol: "tcp",
			VIPs: newVIPs, OldVIPs: stale})
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("update with stale OldVIPs = %v, want ErrConflict", err)
		}
		if got := lbsNamed(nb.Snapshot(), lbName)[0].VIPs; !maps.Equal(got, vips1) {
			t.Fatalf("vips changed despite conflict: %v", got)
		}

		opts := map[string]string{"neighbor_responder": "all"}
		err = apply(t, nb, fwdsync.Op{Kind: fwdsync.OpUpdateLB, Name: lbName, UUID: u, Protocol: "tcp",
			VIPs: newVIPs, Options: opts, OldVIPs: vips1})
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		lb := lbsNamed(nb.Snapshot(), lbName)[0]
		if lb.UUID != u || !maps.Equal(lb.VIPs, newVIPs) || !maps.Equal(lb.Options, opts) || lb.Protocol != "tcp" {
			t.Fatalf("after update: %+v", lb)
		}

		// Updating a row that is gone is a conflict, not a silent no-op.
		raw.transact(ovsdb.Operation{Op: ovsdb.OperationDelete, Table: nbdb.LoadBalancerTable,
			Where: []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, uuidRef(u))}})
		err = apply(t, nb, fwdsync.Op{Kind: fwdsync.OpUpdateLB, Name: lbName, UUID: u, VIPs: vips1, OldVIPs: newVIPs})
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("update of deleted row = %v, want ErrConflict", err)
		}
	})
}

// An empty OldVIPs guard is only enforced by the real server (libovsdb's
// in-process server skips default values in wait rows).
func TestApplyUpdateEmptyOldVIPsGuard(t *testing.T) {
	s := startRealServer(t, nbSchemaFile())
	raw := rawNB(t, s.endpoint())
	seedTopology(t, raw)
	u := raw.insert(nbdb.LoadBalancerTable, ovsdb.Row{"name": lbName, "vips": ovsMap(vips1)})
	nb := dialTestNB(t, s.endpoint(), false)
	eventually(t, "replica has the row", func() bool { return len(lbsNamed(nb.Snapshot(), lbName)) == 1 })
	err := apply(t, nb, fwdsync.Op{Kind: fwdsync.OpUpdateLB, Name: lbName, UUID: u, VIPs: vips1, OldVIPs: nil})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("update guarded by empty OldVIPs on a row with vips = %v, want ErrConflict", err)
	}
}

func TestApplyDeleteDetachesAndRemoves(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ep string, _ bool) {
		raw := rawNB(t, ep)
		tp := seedTopology(t, raw)
		nb := dialTestNB(t, ep, false)
		if err := apply(t, nb, createOps(tp)...); err != nil {
			t.Fatal(err)
		}
		u := lbsNamed(nb.Snapshot(), lbName)[0].UUID
		err := apply(t, nb, fwdsync.Op{Kind: fwdsync.OpDeleteLB, Name: lbName, UUID: u,
			Routers: []string{tp.router}, Switches: []string{tp.lsInt}})
		if err != nil {
			t.Fatalf("delete: %v", err)
		}
		st := nb.Snapshot()
		if n := len(lbsNamed(st, lbName)); n != 0 {
			t.Fatalf("%d rows left", n)
		}
		if r := routerByUUID(st, tp.router); len(r.LoadBalancers) != 0 {
			t.Errorf("router still references %v", r.LoadBalancers)
		}
		if s := switchByUUID(st, tp.lsInt); len(s.LoadBalancers) != 0 {
			t.Errorf("switch still references %v", s.LoadBalancers)
		}
		if rows := raw.selectRows(nbdb.LoadBalancerTable); len(rows) != 0 {
			t.Errorf("server still has %d rows", len(rows))
		}
	})
}

func TestApplyAttachDetachTouchOnlyThatUUID(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ep string, _ bool) {
		raw := rawNB(t, ep)
		tp := seedTopology(t, raw)
		keep := raw.insert(nbdb.LoadBalancerTable, ovsdb.Row{"name": "lxd-net1-lb-198.51.100.9-tcp"})
		mine := raw.insert(nbdb.LoadBalancerTable, ovsdb.Row{"name": lbName})
		raw.transact(ovsdb.Operation{Op: ovsdb.OperationMutate, Table: nbdb.LogicalRouterTable,
			Where:     []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, uuidRef(tp.router))},
			Mutations: []ovsdb.Mutation{{Column: "load_balancer", Mutator: ovsdb.MutateOperationInsert, Value: set(uuidRef(keep))}}})
		nb := dialTestNB(t, ep, false)
		eventually(t, "replica", func() bool { return len(nb.Snapshot().LoadBalancers) == 2 })

		attach := fwdsync.Op{Kind: fwdsync.OpAttachRouter, Name: lbName, UUID: mine, Target: tp.router, TargetName: "lxd-net1-lr"}
		if err := apply(t, nb, attach); err != nil {
			t.Fatalf("attach: %v", err)
		}
		want := []string{keep, mine}
		slices.Sort(want)
		if got := sorted(routerByUUID(nb.Snapshot(), tp.router).LoadBalancers); !slices.Equal(got, want) {
			t.Fatalf("after attach: %v, want %v", got, want)
		}
		// Attaching twice is harmless (a set).
		if err := apply(t, nb, attach); err != nil {
			t.Fatalf("attach again: %v", err)
		}
		if err := apply(t, nb, fwdsync.Op{Kind: fwdsync.OpDetachRouter, Name: lbName, UUID: mine, Target: tp.router}); err != nil {
			t.Fatalf("detach: %v", err)
		}
		if got := routerByUUID(nb.Snapshot(), tp.router).LoadBalancers; !slices.Equal(got, []string{keep}) {
			t.Fatalf("after detach: %v, want [%s]", got, keep)
		}
		rows := raw.selectRows(nbdb.LogicalRouterTable)
		if !setHas(rows[0]["load_balancer"], keep) || setHas(rows[0]["load_balancer"], mine) {
			t.Fatalf("server router load_balancer = %v", rows[0]["load_balancer"])
		}
	})
}

// References to load balancers are weak: attaching a row that vanished
// would silently do nothing, so the attach is guarded.
func TestApplyAttachVanishedRowConflicts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ep string, _ bool) {
		raw := rawNB(t, ep)
		tp := seedTopology(t, raw)
		nb := dialTestNB(t, ep, false)
		gone := "8c1d3c5e-4f6b-4a59-9a3e-3f1f2f0e5b11"
		err := apply(t, nb, fwdsync.Op{Kind: fwdsync.OpAttachRouter, Name: lbName, UUID: gone,
			Target: tp.router, TargetName: "lxd-net1-lr"})
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("attach of missing row = %v, want ErrConflict", err)
		}
	})
}

func TestSnapshotContents(t *testing.T) {
	ep := startMemServer(t)
	raw := rawNB(t, ep)
	tp := seedTopology(t, raw)
	raw.transact(ovsdb.Operation{Op: ovsdb.OperationMutate, Table: nbdb.NBGlobalTable,
		Where: []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, uuidRef(tp.global))},
		Mutations: []ovsdb.Mutation{
			{Column: "nb_cfg", Mutator: ovsdb.MutateOperationAdd, Value: 7},
			{Column: "sb_cfg", Mutator: ovsdb.MutateOperationAdd, Value: 6},
			{Column: "hv_cfg", Mutator: ovsdb.MutateOperationAdd, Value: 5},
			{Column: "options", Mutator: ovsdb.MutateOperationInsert, Value: ovsMap(map[string]string{"bfd-mult": "3"})},
		}})
	a := raw.insert(nbdb.LoadBalancerTable, ovsdb.Row{"name": "b-lb", "protocol": "udp",
		"vips": ovsMap(map[string]string{"1.2.3.4:53": "10.0.0.1:53"}), "external_ids": ovsMap(map[string]string{"k": "v"})})
	d1 := raw.insert(nbdb.LoadBalancerTable, ovsdb.Row{"name": "a-lb"})
	d2 := raw.insert(nbdb.LoadBalancerTable, ovsdb.Row{"name": "a-lb"})
	nb := dialTestNB(t, ep, true)

	st := nb.Snapshot()
	if len(st.LoadBalancers) != 3 || st.LoadBalancers[0].Name != "a-lb" || st.LoadBalancers[2].UUID != a {
		t.Fatalf("load balancers (sorted by name, uuid) = %+v", st.LoadBalancers)
	}
	b := st.LoadBalancers[2]
	if b.Protocol != "udp" || b.VIPs["1.2.3.4:53"] != "10.0.0.1:53" || b.ExternalIDs["k"] != "v" {
		t.Errorf("b-lb = %+v", b)
	}
	if st.LoadBalancers[0].Protocol != "" {
		t.Errorf("unset protocol = %q, want empty", st.LoadBalancers[0].Protocol)
	}
	if st.NBCfg != 7 || st.SBCfg != 6 || st.HVCfg != 5 || st.NBGlobalOptions["bfd-mult"] != "3" {
		t.Errorf("NB_Global: nb=%d sb=%d hv=%d opts=%v", st.NBCfg, st.SBCfg, st.HVCfg, st.NBGlobalOptions)
	}
	if len(st.Routers) != 1 || st.Routers[0].Name != "lxd-net1-lr" || !slices.Equal(st.Routers[0].Ports, []string{tp.lrpExt}) {
		t.Errorf("routers = %+v", st.Routers)
	}
	wantPort := fwdsync.NBRouterPort{UUID: tp.lrpExt, Name: "lxd-net1-lr-lrp-ext", MAC: "00:16:3e:00:00:01",
		Networks: []string{"192.0.2.10/24", "2001:db8::10/64"}, HAChassisGroup: tp.group}
	if len(st.RouterPorts) != 1 || !equalPort(st.RouterPorts[0], wantPort) {
		t.Errorf("router ports = %+v, want %+v", st.RouterPorts, wantPort)
	}
	if len(st.Switches) != 1 || st.Switches[0].Name != "lxd-net1-ls-int" {
		t.Errorf("switches = %+v", st.Switches)
	}
	if len(st.HAChassisGroups) != 1 || st.HAChassisGroups[0].Name != "lxd-net1" ||
		!slices.Equal(st.HAChassisGroups[0].HAChassis, []string{tp.haCh}) {
		t.Errorf("HA groups = %+v", st.HAChassisGroups)
	}
	if len(st.HAChassis) != 1 || st.HAChassis[0] != (fwdsync.NBHAChassis{UUID: tp.haCh, ChassisName: "ch1", Priority: 10}) {
		t.Errorf("HA chassis = %+v", st.HAChassis)
	}

	// nb_cfg pings do not move the rows generation; a row change does.
	gen := nb.RowsGeneration()
	raw.transact(ovsdb.Operation{Op: ovsdb.OperationMutate, Table: nbdb.NBGlobalTable,
		Where:     []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, uuidRef(tp.global))},
		Mutations: []ovsdb.Mutation{{Column: "nb_cfg", Mutator: ovsdb.MutateOperationAdd, Value: 1}}})
	eventually(t, "nb_cfg ping in replica", func() bool { return nb.Snapshot().NBCfg == st.NBCfg+1 })
	if g := nb.RowsGeneration(); g != gen {
		t.Errorf("an nb_cfg ping moved the rows generation %d → %d", gen, g)
	}

	// A snapshot shares the replica's maps (read-only): an update of the
	// row must replace them in the replica, never change the ones a
	// snapshot already holds.
	old := st.LoadBalancers[2]
	before := maps.Clone(old.VIPs)
	raw.transact(ovsdb.Operation{Op: ovsdb.OperationUpdate, Table: nbdb.LoadBalancerTable,
		Where: []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, uuidRef(old.UUID))},
		Row:   ovsdb.Row{"vips": ovsdb.OvsMap{GoMap: map[any]any{"203.0.113.99:1": "10.0.0.9:1"}}}})
	eventually(t, "replica has the update", func() bool {
		for _, lb := range nb.Snapshot().LoadBalancers {
			if lb.UUID == old.UUID {
				return lb.VIPs["203.0.113.99:1"] != ""
			}
		}
		return false
	})
	if nb.RowsGeneration() == gen {
		t.Error("a Load_Balancer update did not move the rows generation")
	}
	if !maps.Equal(old.VIPs, before) {
		t.Errorf("an update changed the map an earlier snapshot holds: %v, was %v", old.VIPs, before)
	}

	// SnapshotFor: same topology, only the named rows (both duplicates).
	sf := nb.SnapshotFor([]string{"a-lb", "missing", "a-lb"})
	got := []string{sf.LoadBalancers[0].UUID, sf.LoadBalancers[1].UUID}
	want := []string{d1, d2}
	slices.Sort(want)
	if len(sf.LoadBalancers) != 2 || !slices.Equal(got, want) {
		t.Errorf("SnapshotFor(a-lb) = %+v, want rows %v", sf.LoadBalancers, want)
	}
	if len(sf.Routers) != 1 || len(sf.RouterPorts) != 1 || len(sf.HAChassis) != 1 || sf.NBCfg != 8 {
		t.Errorf("SnapshotFor topology = %+v", sf)
	}
	if n := len(nb.SnapshotFor(nil).LoadBalancers); n != 0 {
		t.Errorf("SnapshotFor(nil) has %d load balancers", n)
	}
}

func equalPort(a, b fwdsync.NBRouterPort) bool {
	return a.UUID == b.UUID && a.Name == b.Name && a.MAC == b.MAC && a.HAChassisGroup == b.HAChassisGroup &&
		slices.Equal(sorted(a.Networks), sorted(b.Networks))
}

// sorted returns a sorted copy (set-valued columns come in no order).
func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func TestReadOnlySendsNothing(t *testing.T) {
	ep := startMemServer(t)
	raw := rawNB(t, ep)
	tp := seedTopology(t, raw)
	nb := dialTestNB(t, ep, true)
	if err := apply(t, nb, createOps(tp)...); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Apply = %v, want ErrReadOnly", err)
	}
	if _, err := nb.Barrier(context.Background(), time.Second); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Barrier = %v, want ErrReadOnly", err)
	}
	if st := nb.Stats(); st.Transactions != 0 {
		t.Fatalf("read-only client sent %d transactions", st.Transactions)
	}
	if rows := raw.selectRows(nbdb.LoadBalancerTable); len(rows) != 0 {
		t.Fatalf("server has %d load balancers", len(rows))
	}
	if rows := raw.selectRows(nbdb.NBGlobalTable); intField(rows[0], "nb_cfg") != 0 {
		t.Fatalf("nb_cfg bumped: %v", rows[0]["nb_cfg"])
	}
}

func TestApplyRejectsBadChange(t *testing.T) {
	ep := startMemServer(t)
	seedTopology(t, rawNB(t, ep))
	nb := dialTestNB(t, ep, false)
	err := apply(t, nb, fwdsync.Op{Kind: fwdsync.OpUpdateLB, Name: lbName, UUID: "not-a-uuid"})
	if err == nil || errors.Is(err, ErrConflict) {
		t.Fatalf("Apply = %v, want a validation error", err)
	}
	if nb.Stats().Transactions != 0 {
		t.Fatal("an invalid change was sent")
	}
}

// fakeNorthd copies NB_Global.nb_cfg to sb_cfg, as ovn-northd does once it
// has written SB, until stop is closed.
func fakeNorthd(t *testing.T, raw *rawClient, global string, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	where := []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, uuidRef(global))}
	for {
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		res, err := raw.try(ovsdb.Operation{Op: ovsdb.OperationSelect, Table: nbdb.NBGlobalTable, Where: where, Columns: []string{"nb_cfg", "sb_cfg"}})
		if err != nil {
			continue
		}
		row := res[0].Rows[0]
		if nb, sb := intField(row, "nb_cfg"), intField(row, "sb_cfg"); nb != sb {
			_, _ = raw.try(ovsdb.Operation{Op: ovsdb.OperationUpdate, Table: nbdb.NBGlobalTable, Where: where,
				Row: ovsdb.Row{"sb_cfg": nb}})
		}
	}
}

func TestBarrier(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ep string, _ bool) {
		raw := rawNB(t, ep)
		tp := seedTopology(t, raw)
		nb := dialTestNB(t, ep, false)
		eventually(t, "NB_Global in replica", func() bool { return nb.nbGlobal() != nil })

		// No northd: times out.
		_, err := nb.Barrier(context.Background(), 300*time.Millisecond)
		if !errors.Is(err, ErrBarrierTimeout) {
			t.Fatalf("Barrier without northd = %v, want ErrBarrierTimeout", err)
		}

		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go fakeNorthd(t, raw, tp.global, stop, &wg)
		defer func() { close(stop); wg.Wait() }()
		cfg, err := nb.Barrier(context.Background(), 5*time.Second)
		if err != nil {
			t.Fatalf("Barrier: %v", err)
		}
		if cfg != 2 {
			t.Errorf("nb_cfg = %d, want 2 (second barrier)", cfg)
		}
		if st := nb.Snapshot(); st.SBCfg < cfg || st.NBCfg != cfg {
			t.Errorf("after barrier: nb_cfg=%d sb_cfg=%d", st.NBCfg, st.SBCfg)
		}
	})
}

func TestCallbacks(t *testing.T) {
	ep := startMemServer(t)
	raw := rawNB(t, ep)
	tp := seedTopology(t, raw)
	nb := dialTestNB(t, ep, false)

	var mu sync.Mutex
	names := map[string]int{}
	topoCount := 0
	nb.OnLoadBalancerChange(func(name string) { mu.Lock(); names[name]++; mu.Unlock() })
	nb.OnTopologyChange(func() { mu.Lock(); topoCount++; mu.Unlock() })
	added := map[string]int{}
	nb.OnLoadBalancerAdd(func(name string) { mu.Lock(); added[name]++; mu.Unlock() })

	if err := apply(t, nb, createOps(tp)...); err != nil {
		t.Fatal(err)
	}
	eventually(t, "lb callbacks", func() bool { mu.Lock(); defer mu.Unlock(); return names[lbName] >= 1 && added[lbName] == 1 })
	mu.Lock()
	if topoCount != 0 {
		t.Errorf("attaching a load balancer reported %d topology changes", topoCount)
	}
	changes := names[lbName]
	mu.Unlock()

	// An edit in place is a change, not an insertion.
	raw.transact(ovsdb.Operation{Op: ovsdb.OperationUpdate, Table: nbdb.LoadBalancerTable,
		Where: []ovsdb.Condition{ovsdb.NewCondition("name", ovsdb.ConditionEqual, lbName)},
		Row:   ovsdb.Row{"vips": ovsMap(map[string]string{"198.51.100.1:80": "10.0.0.3:80"})}})
	eventually(t, "change callback for an edit", func() bool { mu.Lock(); defer mu.Unlock(); return names[lbName] > changes })
	mu.Lock()
	if added[lbName] != 1 {
		t.Errorf("an edit in place reported as an insertion: %d insertions of %s, want 1", added[lbName], lbName)
	}
	mu.Unlock()

	raw.transact(ovsdb.Operation{Op: ovsdb.OperationUpdate, Table: nbdb.LogicalRouterPortTable,
		Where: []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, uuidRef(tp.lrpExt))},
		Row:   ovsdb.Row{"mac": "00:16:3e:00:00:02"}})
	eventually(t, "topology callback", func() bool { mu.Lock(); defer mu.Unlock(); return topoCount >= 1 })
}

// intField reads an integer column of a selected row (absent means 0:
// libovsdb's in-process server leaves default values out).
func intField(row ovsdb.Row, col string) int {
	n, err := selectedInt(ovsdb.OperationResult{Rows: []ovsdb.Row{row}}, col)
	if err != nil {
		return 0
	}
	return n
}

// OnLoadBalancerDelete reports a row's deletion (and only deletions), on
// the real server too.
func TestDeleteCallback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ep string, _ bool) {
		raw := rawNB(t, ep)
		tp := seedTopology(t, raw)
		nb := dialTestNB(t, ep, false)
		var mu sync.Mutex
		var deleted, changed []string
		nb.OnLoadBalancerDelete(func(name string) { mu.Lock(); deleted = append(deleted, name); mu.Unlock() })
		nb.OnLoadBalancerChange(func(name string) { mu.Lock(); changed = append(changed, name); mu.Unlock() })
		if err := apply(t, nb, createOps(tp)...); err != nil {
			t.Fatal(err)
		}
		eventually(t, "change callbacks for the create", func() bool { mu.Lock(); defer mu.Unlock(); return len(changed) > 0 })
		mu.Lock()
		if len(deleted) != 0 {
			t.Errorf("a create reported deletions %v", deleted)
		}
		mu.Unlock()
		u := lbsNamed(nb.Snapshot(), lbName)[0].UUID
		if err := apply(t, nb, fwdsync.Op{Kind: fwdsync.OpDeleteLB, Name: lbName, UUID: u,
			Routers: []string{tp.router}, Switches: []string{tp.lsInt}}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		eventually(t, "the delete callback", func() bool { mu.Lock(); defer mu.Unlock(); return len(deleted) > 0 })
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		if len(deleted) != 1 || deleted[0] != lbName {
			t.Errorf("deletions reported %v, want [%s]", deleted, lbName)
		}
	})
}

// The echo timeout follows the slowest answer the server gave (a server
// that took 12 s over a transaction is busy, not hung), within the
// configured floor and the dump timeout.
func TestEchoTimeoutFollowsSlowAnswers(t *testing.T) {
	c := &conn{dumpTimeout: 2 * time.Minute}
	if got := c.echoTimeout(30 * time.Second); got != 30*time.Second {
		t.Fatalf("no answer yet: %v, want the 30s floor", got)
	}
	c.observe(2 * time.Second)
	c.observe(13 * time.Second)
	c.observe(time.Second)
	if got := c.echoTimeout(30 * time.Second); got != 39*time.Second {
		t.Fatalf("after a 13s answer: %v, want 39s", got)
	}
	c.observe(5 * time.Minute)
	if got := c.echoTimeout(30 * time.Second); got != 2*time.Minute {
		t.Fatalf("after a 5min answer: %v, want the 2min dump timeout", got)
	}
}

// NBCfgRoseAt reports the nb_cfg bump that comes in the same transaction
// as a load balancer's insertion (ovn-nbctl --wait=sb, as LXD 5.0.x writes
// a forward), within moments of the row's callback; an edit without a bump
// leaves it as it was.
func TestNBCfgRoseAt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ep string, _ bool) {
		raw := rawNB(t, ep)
		tp := seedTopology(t, raw)
		nb := dialTestNB(t, ep, false)
		var mu sync.Mutex
		var added time.Time
		nb.OnLoadBalancerAdd(func(string) { mu.Lock(); added = time.Now(); mu.Unlock() })
		if !nb.NBCfgRoseAt().IsZero() {
			t.Fatalf("NBCfgRoseAt = %v before any bump, want zero", nb.NBCfgRoseAt())
		}
		// A plain insertion: no bump.
		raw.insert(nbdb.LoadBalancerTable, ovsdb.Row{"name": "plain-lb"})
		eventually(t, "the plain insertion's callback", func() bool { mu.Lock(); defer mu.Unlock(); return !added.IsZero() })
		if r := nb.NBCfgRoseAt(); !r.IsZero() {
			t.Errorf("a plain insertion set NBCfgRoseAt to %v", r)
		}
		// ovn-nbctl --wait=sb lb-add: the row and nb_cfg+1 in one transaction.
		mu.Lock()
		added = time.Time{}
		mu.Unlock()
		raw.transact(
			ovsdb.Operation{Op: ovsdb.OperationInsert, Table: nbdb.LoadBalancerTable, Row: ovsdb.Row{"name": "waited-lb"}},
			ovsdb.Operation{Op: ovsdb.OperationMutate, Table: nbdb.NBGlobalTable,
				Where:     []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, uuidRef(tp.global))},
				Mutations: []ovsdb.Mutation{{Column: "nb_cfg", Mutator: ovsdb.MutateOperationAdd, Value: 1}}})
		eventually(t, "the bump and the insertion's callback", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return !added.IsZero() && !nb.NBCfgRoseAt().IsZero()
		})
		mu.Lock()
		gap := nb.NBCfgRoseAt().Sub(added).Abs()
		mu.Unlock()
		// The daemon counts a bump within 50 ms of a change as its own
		// (engine.cfgBumpSlack); both callbacks run on one goroutine.
		if gap > 50*time.Millisecond {
			t.Errorf("the nb_cfg bump was reported %v apart from its own transaction's insertion", gap)
		}
		// An edit of another column of NB_Global is not a rise.
		rose := nb.NBCfgRoseAt()
		raw.transact(ovsdb.Operation{Op: ovsdb.OperationMutate, Table: nbdb.NBGlobalTable,
			Where:     []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, uuidRef(tp.global))},
			Mutations: []ovsdb.Mutation{{Column: "sb_cfg", Mutator: ovsdb.MutateOperationAdd, Value: 1}}})
		eventually(t, "sb_cfg in the replica", func() bool { return nb.Snapshot().SBCfg >= 1 })
		if r := nb.NBCfgRoseAt(); !r.Equal(rose) {
			t.Errorf("an sb_cfg change moved NBCfgRoseAt from %v to %v", rose, r)
		}
	})
}
