package ovn

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovnfwd/ovnfwd/ovn/nbdb"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

func batchOf(tp topo, n int) []fwdsync.Change {
	var chs []fwdsync.Change
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("lxd-net1-lb-198.51.100.%d-tcp", 10+i)
		chs = append(chs, fwdsync.Change{
			Key: fwdsync.ForwardKey{Project: "default", Network: "ovn1", ListenAddress: fmt.Sprintf("198.51.100.%d", 10+i)},
			Ops: []fwdsync.Op{
				{Kind: fwdsync.OpCreateLB, Name: name, Protocol: "tcp", VIPs: map[string]string{fmt.Sprintf("198.51.100.%d:80", 10+i): "10.0.0.2:80"}},
				{Kind: fwdsync.OpAttachRouter, Name: name, Target: tp.router, TargetName: "lxd-net1-lr"},
				{Kind: fwdsync.OpAttachSwitch, Name: name, Target: tp.lsInt, TargetName: "lxd-net1-ls-int"},
			},
		})
	}
	return chs
}

// Several forwards' changes go in one transaction, each row attached.
func TestApplyBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ep string, _ bool) {
		raw := rawNB(t, ep)
		tp := seedTopology(t, raw)
		nb := dialTestNB(t, ep, false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := nb.ApplyBatch(ctx, batchOf(tp, 5)); err != nil {
			t.Fatalf("ApplyBatch: %v", err)
		}
		if got := nb.Stats().Transactions; got != 1 {
			t.Errorf("transactions = %d, want 1", got)
		}
		st := nb.Snapshot()
		if len(st.LoadBalancers) != 5 {
			t.Fatalf("%d rows, want 5", len(st.LoadBalancers))
		}
		r := routerByUUID(st, tp.router)
		s := switchByUUID(st, tp.lsInt)
		for _, lb := range st.LoadBalancers {
			if !contains(r.LoadBalancers, lb.UUID) || !contains(s.LoadBalancers, lb.UUID) {
				t.Errorf("%s not attached to both", lb.Name)
			}
		}
	})
}

// One conflicting create aborts the whole batch: nothing is written.
func TestApplyBatchConflictWritesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ep string, _ bool) {
		raw := rawNB(t, ep)
		tp := seedTopology(t, raw)
		nb := dialTestNB(t, ep, false)
		chs := batchOf(tp, 4)
		raw.insert(nbdb.LoadBalancerTable, ovsdb.Row{"name": chs[2].Ops[0].Name, "vips": ovsMap(chs[2].Ops[0].VIPs)})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := nb.ApplyBatch(ctx, chs); !errors.Is(err, ErrConflict) {
			t.Fatalf("ApplyBatch = %v, want ErrConflict", err)
		}
		if rows := raw.selectRows(nbdb.LoadBalancerTable); len(rows) != 1 {
			t.Fatalf("%d rows on the server, want only the conflicting one", len(rows))
		}
	})
}

// In a bulk, a create that meets a row another writer created under the
// same name (after the plan was made) is undone after the commit: that writer's row
// stays alone, unattached by the batch, and the batch's other changes are
// applied. The error names the change undone.
func TestApplyBulkUndoesARacedCreate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ep string, _ bool) {
		raw := rawNB(t, ep)
		tp := seedTopology(t, raw)
		nb := dialTestNB(t, ep, false)
		chs := batchOf(tp, 4)
		raced := chs[2].Ops[0].Name
		theirs := raw.insert(nbdb.LoadBalancerTable, ovsdb.Row{"name": raced, "vips": ovsMap(chs[2].Ops[0].VIPs)})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := nb.ApplyBulk(ctx, chs)
		var bc *BatchConflictError
		if !errors.Is(err, ErrConflict) || !errors.As(err, &bc) || len(bc.Changes) != 1 || bc.Changes[0] != 2 {
			t.Fatalf("ApplyBulk = %v, want a BatchConflictError naming change 2", err)
		}
		rows := raw.selectRows(nbdb.LoadBalancerTable)
		if len(rows) != 4 {
			t.Fatalf("%d rows on the server, want 4: three of the batch and the other writer's", len(rows))
		}
		named := 0
		for _, r := range rows {
			if r["name"] == raced {
				named++
				if u, _ := r["_uuid"].(ovsdb.UUID); u.GoUUID != theirs {
					t.Errorf("the row left named %s is %v, not the other writer's %s", raced, r["_uuid"], theirs)
				}
			}
		}
		if named != 1 {
			t.Fatalf("%d rows named %s, want 1", named, raced)
		}
		st := nb.Snapshot()
		r, s := routerByUUID(st, tp.router), switchByUUID(st, tp.lsInt)
		for _, lb := range st.LoadBalancers {
			attached := contains(r.LoadBalancers, lb.UUID) && contains(s.LoadBalancers, lb.UUID)
			if attached != (lb.Name != raced) {
				t.Errorf("%s (%s): attached %v", lb.Name, lb.UUID, attached)
			}
		}
	})
}

// A bulk sent again after it committed (its answer lost with the
// connection) writes nothing: its rows' UUIDs, derived from their names,
// exist already ("duplicate uuid" is a conflict).
func TestApplyBulkTwiceWritesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ep string, real bool) {
		raw := rawNB(t, ep)
		tp := seedTopology(t, raw)
		nb := dialTestNB(t, ep, false)
		chs := batchOf(tp, 4)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := nb.ApplyBulk(ctx, chs); err != nil {
			t.Fatalf("ApplyBulk: %v", err)
		}
		err := nb.ApplyBulk(ctx, chs)
		// libovsdb's in-memory server answers an RPC error ("cache
		// inconsistent") where ovsdb-server answers "duplicate uuid".
		if real && !errors.Is(err, ErrConflict) || err == nil {
			t.Fatalf("ApplyBulk again = %v, want ErrConflict", err)
		}
		if rows := raw.selectRows(nbdb.LoadBalancerTable); len(rows) != 4 {
			t.Fatalf("%d rows on the server, want 4", len(rows))
		}
	})
}

// A bulk sends no per-name guard (ovsdb-server scans the table for each)
// but a UUID derived from the name; Apply and ApplyBatch keep the guard.
func TestApplyBulkSendsNoNameGuard(t *testing.T) {
	tp := topo{router: "0b6a2d6e-0000-4000-8000-000000000001", lsInt: "0b6a2d6e-0000-4000-8000-000000000002"}
	single, err := buildTxn(batchOf(tp, 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	batched, err := buildTxnNamed(batchOf(tp, 1)[0], "c0_", false) // as ApplyBulk builds it
	if err != nil {
		t.Fatal(err)
	}
	nameWaits := func(t *txn) int {
		n := 0
		for _, op := range t.ops {
			if op.Op == ovsdb.OperationWait && op.Table == nbdb.LoadBalancerTable && len(op.Where) == 1 && op.Where[0].Column == "name" {
				n++
			}
		}
		return n
	}
	if nameWaits(single) != 1 || nameWaits(batched) != 0 {
		t.Fatalf("name guards: single %d, bulk %d; want 1 and 0", nameWaits(single), nameWaits(batched))
	}
	if guarded, err := buildBatch(batchOf(tp, 3), true); err != nil || nameWaits(guarded) != 3 {
		t.Fatalf("ApplyBatch's transaction: %d name guards (err %v), want 3", nameWaits(guarded), err)
	}
	for _, op := range batched.ops {
		if op.Op == ovsdb.OperationInsert && op.UUID != lbUUIDFor(op.Row["name"].(string)) {
			t.Fatalf("bulk insert of %v has UUID %q, want the one derived from its name", op.Row["name"], op.UUID)
		}
	}
	if len(batched.creates) != 1 || len(batched.creates[0].targets) != 2 {
		t.Fatalf("creates %+v, want one row attached to two targets", batched.creates)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// A batch attaches all its rows with one mutation per router and switch
// (ovsdb-server copies the whole set per mutate), and its expectations
// still point at the inserts' results.
func TestBuildBatchMergesAttachments(t *testing.T) {
	tp := topo{router: "0b6a2d6e-0000-4000-8000-000000000001", lsInt: "0b6a2d6e-0000-4000-8000-000000000002"}
	chs := batchOf(tp, 50)
	b, err := buildBatch(chs, false)
	if err != nil {
		t.Fatal(err)
	}
	mutates, inserts := 0, 0
	for i, op := range b.ops {
		switch op.Op {
		case ovsdb.OperationMutate:
			mutates++
			if n := len(op.Mutations[0].Value.(ovsdb.OvsSet).GoSet); n != 50 {
				t.Errorf("op %d (%s) attaches %d rows, want 50", i, b.descs[i], n)
			}
		case ovsdb.OperationInsert:
			inserts++
		}
	}
	if mutates != 2 || inserts != 50 || len(b.descs) != len(b.ops) {
		t.Fatalf("%d mutates, %d inserts, %d descs for %d ops; want 2, 50 and one desc per op", mutates, inserts, len(b.descs), len(b.ops))
	}
	for _, e := range b.expect {
		if e.lb == "" && b.ops[e.insert].Op != ovsdb.OperationInsert {
			t.Fatalf("an expectation points at op %d (%s), not an insert", e.insert, b.descs[e.insert])
		}
	}
	for _, c := range b.creates {
		if b.ops[c.insert].Op != ovsdb.OperationInsert || b.ops[c.insert].Row["name"] != c.name {
			t.Fatalf("create %s points at op %d (%s)", c.name, c.insert, b.descs[c.insert])
		}
	}
}
