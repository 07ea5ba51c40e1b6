package ovn

import (
	"fmt"
	"testing"

	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovnfwd/ovnfwd/ovn/nbdb"
)

// seedLBs inserts n forward-like load balancers (two VIPs each), attached
// to the router, in batches.
func seedLBs(b *testing.B, raw *rawClient, tp topo, n int) {
	b.Helper()
	const batch = 500
	for i := 0; i < n; i += batch {
		var ops []ovsdb.Operation
		var refs []any
		for j := i; j < min(i+batch, n); j++ {
			ip := fmt.Sprintf("198.51.%d.%d", j/250, j%250+1)
			id := fmt.Sprintf("lb%d", j)
			ops = append(ops, ovsdb.Operation{Op: ovsdb.OperationInsert, Table: nbdb.LoadBalancerTable, UUIDName: id,
				Row: ovsdb.Row{"name": "lxd-net1-lb-" + ip + "-tcp", "protocol": "tcp", "vips": ovsMap(map[string]string{
					ip + ":80": "10.0.0.2:80", ip + ":443": "10.0.0.2:443",
				})}})
			refs = append(refs, uuidRef(id))
		}
		ops = append(ops, ovsdb.Operation{Op: ovsdb.OperationMutate, Table: nbdb.LogicalRouterTable,
			Where:     []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, uuidRef(tp.router))},
			Mutations: []ovsdb.Mutation{{Column: "load_balancer", Mutator: ovsdb.MutateOperationInsert, Value: set(refs...)}}})
		raw.transact(ops...)
	}
}

func benchNB(b *testing.B, n int) *NB {
	b.Helper()
	ep := startMemServer(b)
	raw := rawNB(b, ep)
	tp := seedTopology(b, raw)
	seedLBs(b, raw, tp, n)
	nb := dialTestNB(b, ep, true)
	if got := len(nb.Snapshot().LoadBalancers); got != n {
		b.Fatalf("replica has %d load balancers, want %d", got, n)
	}
	return nb
}

func BenchmarkSnapshot10k(b *testing.B) {
	nb := benchNB(b, 10000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		st := nb.Snapshot()
		if len(st.LoadBalancers) != 10000 {
			b.Fatal(len(st.LoadBalancers))
		}
	}
}

func BenchmarkSnapshotFor10k(b *testing.B) {
	nb := benchNB(b, 10000)
	names := []string{"lxd-net1-lb-198.51.7.7-tcp", "lxd-net1-lb-198.51.7.7-udp"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		st := nb.SnapshotFor(names)
		if len(st.LoadBalancers) != 1 {
			b.Fatal(len(st.LoadBalancers))
		}
	}
}
