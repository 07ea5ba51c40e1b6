//go:build integration

package integration

import (
	"encoding/json"
	gosync "sync"
	"testing"
)

// NBWatch counts the NB transactions that change the monitored tables
// (WatchOVSDB: ovsdb-server sends one "update" per committed transaction
// that changed a monitored row). Tests use it to prove that members write
// exactly what they should (and nothing while quiet).
type NBWatch struct {
	mu    gosync.Mutex
	txns  map[uint64]bool
	names map[string]map[uint64]bool // Load_Balancer name → transactions touching it
}

// WatchNB starts counting transactions on tables (name → columns; nil
// columns: all). It stops at test end.
func (b *Bed) WatchNB(t testing.TB, tables map[string][]string) *NBWatch {
	t.Helper()
	// TB_NB_SOCK: NB's unix socket (on the raft central, member 1's: a
	// member's monitor reports every committed transaction too).
	sock := b.Get(t, "TB_NB_SOCK")
	w := &NBWatch{txns: map[uint64]bool{}, names: map[string]map[uint64]bool{}}
	WatchOVSDB(t, sock, "OVN_Northbound", tables, func(ev OVSDBEvent) {
		if ev.Txn == 0 {
			return // the rows as they were
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		w.txns[ev.Txn] = true
		if ev.Table != "Load_Balancer" {
			return
		}
		for _, r := range []map[string]json.RawMessage{ev.New, ev.Old} {
			var name string
			if json.Unmarshal(r["name"], &name) == nil && name != "" {
				if w.names[name] == nil {
					w.names[name] = map[uint64]bool{}
				}
				w.names[name][ev.Txn] = true
				break
			}
		}
	})
	return w
}

// Count is the number of transactions seen so far.
func (w *NBWatch) Count() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return int64(len(w.txns))
}

// Touched is how many transactions touched Load_Balancer rows of name.
func (w *NBWatch) Touched(name string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.names[name])
}
