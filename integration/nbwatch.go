//go:build integration

package integration

import (
	"encoding/json"
	"net"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"
)

// NBWatch counts the NB transactions that change the monitored tables, by
// monitoring them over OVSDB JSON-RPC: ovsdb-server sends one "update" per
// committed transaction that changed a monitored row. Tests use it to prove
// that members write exactly what they should (and nothing while quiet).
type NBWatch struct {
	conn  net.Conn
	n     atomic.Int64
	mu    gosync.Mutex
	names map[string]int // Load_Balancer name → transactions touching it
	done  chan struct{}
}

// WatchNB starts counting transactions on tables (name → columns; nil
// columns: all). It stops at test end.
func (b *Bed) WatchNB(t testing.TB, tables map[string][]string) *NBWatch {
	t.Helper()
	ep := b.Env["OVNFWD_NB"]
	if !strings.HasPrefix(ep, "unix:") {
		t.Fatalf("NBWatch needs a unix: NB endpoint, not %s", ep)
	}
	c, err := net.Dial("unix", strings.TrimPrefix(ep, "unix:"))
	if err != nil {
		t.Fatal(err)
	}
	reqs := map[string]any{}
	for tbl, cols := range tables {
		r := map[string]any{"select": map[string]bool{"initial": false, "insert": true, "delete": true, "modify": true}}
		if cols != nil {
			r["columns"] = cols
		}
		reqs[tbl] = r
	}
	w := &NBWatch{conn: c, names: map[string]int{}, done: make(chan struct{})}
	enc, dec := json.NewEncoder(c), json.NewDecoder(c)
	if err := enc.Encode(map[string]any{"id": 1, "method": "monitor", "params": []any{"OVN_Northbound", "nbwatch", reqs}}); err != nil {
		t.Fatal(err)
	}
	replied := make(chan error, 1)
	go func() {
		defer close(w.done)
		first := true
		for {
			var msg struct {
				ID     any               `json:"id"`
				Method string            `json:"method"`
				Params []json.RawMessage `json:"params"`
				Error  any               `json:"error"`
			}
			if err := dec.Decode(&msg); err != nil {
				if first {
					replied <- err
				}
				return
			}
			switch {
			case first && msg.Method == "":
				first = false
				replied <- nil
			case msg.Method == "echo":
				_ = enc.Encode(map[string]any{"id": msg.ID, "result": []any{}, "error": nil})
			case msg.Method == "update" && len(msg.Params) == 2:
				w.n.Add(1)
				var upd map[string]map[string]struct {
					New, Old map[string]any
				}
				if json.Unmarshal(msg.Params[1], &upd) == nil {
					w.mu.Lock()
					for _, row := range upd["Load_Balancer"] {
						for _, r := range []map[string]any{row.New, row.Old} {
							if name, ok := r["name"].(string); ok {
								w.names[name]++
								break
							}
						}
					}
					w.mu.Unlock()
				}
			}
		}
	}()
	select {
	case err := <-replied:
		if err != nil {
			t.Fatalf("NB monitor: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("NB monitor: no reply")
	}
	t.Cleanup(w.Close)
	return w
}

// Count is the number of transactions seen so far.
func (w *NBWatch) Count() int64 { return w.n.Load() }

// Touched is how many transactions touched Load_Balancer rows of name.
func (w *NBWatch) Touched(name string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.names[name]
}

// Close stops watching.
func (w *NBWatch) Close() {
	_ = w.conn.Close()
	<-w.done
}
