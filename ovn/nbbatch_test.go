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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
