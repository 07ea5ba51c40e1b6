package ovn

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

const (
	uLB     = "11111111-1111-4111-8111-111111111111"
	uLB2    = "22222222-2222-4222-8222-222222222222"
	uRouter = "33333333-3333-4333-8333-333333333333"
	uSwitch = "44444444-4444-4444-8444-444444444444"
)

func where(col string, v any) []ovsdb.Condition {
	return []ovsdb.Condition{{Column: col, Function: ovsdb.ConditionEqual, Value: v}}
}

func TestBuildOpsGolden(t *testing.T) {
	v := map[string]string{"198.51.100.1:80": "10.0.0.2:80"}
	old := map[string]string{"198.51.100.1:80": "10.0.0.1:80"}
	z := 0
	tests := []struct {
		name string
		ops  []fwdsync.Op
		want []ovsdb.Operation
	}{
		{
			name: "create and attach to router and switch",
			ops: []fwdsync.Op{
				{Kind: fwdsync.OpAttachSwitch, Name: "lb-tcp", Target: uSwitch}, // before its create: reordered
				{Kind: fwdsync.OpCreateLB, Name: "lb-tcp", Protocol: "tcp", VIPs: v},
				{Kind: fwdsync.OpAttachRouter, Name: "lb-tcp", Target: uRouter, TargetName: "lxd-net1-lr"},
			},
			want: []ovsdb.Operation{
				{Op: "wait", Table: "Load_Balancer", Where: where("name", "lb-tcp"), Columns: []string{"name"},
					Until: "!=", Rows: []ovsdb.Row{{"name": "lb-tcp"}}, Timeout: &z},
				{Op: "insert", Table: "Load_Balancer", UUIDName: "new_lb_0", Row: ovsdb.Row{
					"name": "lb-tcp", "protocol": "tcp", "vips": ovsMap(v)}},
				{Op: "mutate", Table: "Logical_Switch", Where: where("_uuid", uuidRef(uSwitch)),
					Mutations: []ovsdb.Mutation{{Column: "load_balancer", Mutator: "insert", Value: set(uuidRef("new_lb_0"))}}},
				{Op: "wait", Table: "Logical_Router", Where: where("_uuid", uuidRef(uRouter)), Columns: []string{"name"},
					Until: "==", Rows: []ovsdb.Row{{"name": "lxd-net1-lr"}}, Timeout: &z},
				{Op: "mutate", Table: "Logical_Router", Where: where("_uuid", uuidRef(uRouter)),
					Mutations: []ovsdb.Mutation{{Column: "load_balancer", Mutator: "insert", Value: set(uuidRef("new_lb_0"))}}},
			},
		},
		{
			name: "update guarded by old vips",
			ops:  []fwdsync.Op{{Kind: fwdsync.OpUpdateLB, Name: "lb-tcp", UUID: uLB, Protocol: "", VIPs: v, OldVIPs: old}},
			want: []ovsdb.Operation{
				{Op: "wait", Table: "Load_Balancer", Where: where("_uuid", uuidRef(uLB)), Columns: []string{"vips"},
					Until: "==", Rows: []ovsdb.Row{{"vips": ovsMap(old)}}, Timeout: &z},
				{Op: "update", Table: "Load_Balancer", Where: where("_uuid", uuidRef(uLB)), Row: ovsdb.Row{
					"protocol": ovsdb.OvsSet{GoSet: []any{}}, "vips": ovsMap(v), "options": ovsMap(nil)}},
			},
		},
		{
			name: "delete detaches from every router and switch first",
			ops: []fwdsync.Op{{Kind: fwdsync.OpDeleteLB, Name: "lb-tcp", UUID: uLB,
				Routers: []string{uRouter}, Switches: []string{uSwitch}}},
			want: []ovsdb.Operation{
				{Op: "mutate", Table: "Logical_Router", Where: where("_uuid", uuidRef(uRouter)),
					Mutations: []ovsdb.Mutation{{Column: "load_balancer", Mutator: "delete", Value: set(uuidRef(uLB))}}},
				{Op: "mutate", Table: "Logical_Switch", Where: where("_uuid", uuidRef(uSwitch)),
					Mutations: []ovsdb.Mutation{{Column: "load_balancer", Mutator: "delete", Value: set(uuidRef(uLB))}}},
				{Op: "delete", Table: "Load_Balancer", Where: where("_uuid", uuidRef(uLB))},
			},
		},
		{
			name: "replace a duplicate: delete comes before the create guard",
			ops: []fwdsync.Op{
				{Kind: fwdsync.OpCreateLB, Name: "lb-udp", Protocol: "udp", VIPs: v, Options: map[string]string{"neighbor_responder": "all"}},
				{Kind: fwdsync.OpDeleteLB, Name: "lb-udp", UUID: uLB2},
			},
			want: []ovsdb.Operation{
				{Op: "delete", Table: "Load_Balancer", Where: where("_uuid", uuidRef(uLB2))},
				{Op: "wait", Table: "Load_Balancer", Where: where("name", "lb-udp"), Columns: []string{"name"},
					Until: "!=", Rows: []ovsdb.Row{{"name": "lb-udp"}}, Timeout: &z},
				{Op: "insert", Table: "Load_Balancer", UUIDName: "new_lb_0", Row: ovsdb.Row{
					"name": "lb-udp", "protocol": "udp", "vips": ovsMap(v),
					"options": ovsMap(map[string]string{"neighbor_responder": "all"})}},
			},
		},
		{
			name: "attach existing row: row and target guards, once each",
			ops: []fwdsync.Op{
				{Kind: fwdsync.OpAttachRouter, Name: "lb-tcp", UUID: uLB, Target: uRouter, TargetName: "lxd-net1-lr"},
				{Kind: fwdsync.OpAttachSwitch, Name: "lb-tcp", UUID: uLB, Target: uSwitch},
				{Kind: fwdsync.OpDetachSwitch, Name: "lb-old", UUID: uLB2, Target: uSwitch},
			},
			want: []ovsdb.Operation{
				{Op: "mutate", Table: "Logical_Switch", Where: where("_uuid", uuidRef(uSwitch)),
					Mutations: []ovsdb.Mutation{{Column: "load_balancer", Mutator: "delete", Value: set(uuidRef(uLB2))}}},
				{Op: "wait", Table: "Load_Balancer", Where: where("_uuid", uuidRef(uLB)), Columns: []string{"name"},
					Until: "==", Rows: []ovsdb.Row{{"name": "lb-tcp"}}, Timeout: &z},
				{Op: "wait", Table: "Logical_Router", Where: where("_uuid", uuidRef(uRouter)), Columns: []string{"name"},
					Until: "==", Rows: []ovsdb.Row{{"name": "lxd-net1-lr"}}, Timeout: &z},
				{Op: "mutate", Table: "Logical_Router", Where: where("_uuid", uuidRef(uRouter)),
					Mutations: []ovsdb.Mutation{{Column: "load_balancer", Mutator: "insert", Value: set(uuidRef(uLB))}}},
				{Op: "mutate", Table: "Logical_Switch", Where: where("_uuid", uuidRef(uSwitch)),
					Mutations: []ovsdb.Mutation{{Column: "load_balancer", Mutator: "insert", Value: set(uuidRef(uLB))}}},
			},
		},
		{name: "empty change", ops: nil, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := buildOps(fwdsync.Change{Ops: tt.ops})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("buildOps:\n got %s\nwant %s", dump(got), dump(tt.want))
			}
		})
	}
}

func dump(ops []ovsdb.Operation) string {
	b, _ := json.MarshalIndent(ops, "", "  ")
	return string(b)
}

// The create guard must reach the server with "rows" and "timeout": an
// empty "rows" would be dropped by libovsdb's encoder and refused by
// ovsdb-server.
func TestBuildOpsWireFormat(t *testing.T) {
	ops, err := buildOps(fwdsync.Change{Ops: []fwdsync.Op{{Kind: fwdsync.OpCreateLB, Name: "lb-tcp"}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(ops[0])
	if err != nil {
		t.Fatal(err)
	}
	want := `{"op":"wait","table":"Load_Balancer","rows":[{"name":"lb-tcp"}],"columns":["name"],"timeout":0,"where":[["name","==","lb-tcp"]],"until":"!="}`
	if string(b) != want {
		t.Errorf("wire format\n got %s\nwant %s", b, want)
	}
	b, _ = json.Marshal(ops[1])
	if !strings.Contains(string(b), `"uuid-name":"new_lb_0"`) {
		t.Errorf("insert without uuid-name: %s", b)
	}
}

func TestBuildOpsRejects(t *testing.T) {
	tests := []struct {
		name string
		ops  []fwdsync.Op
		want string
	}{
		{"attach without uuid or create", []fwdsync.Op{{Kind: fwdsync.OpAttachRouter, Name: "x", Target: uRouter}}, "no create of that name"},
		{"detach without uuid", []fwdsync.Op{{Kind: fwdsync.OpDetachRouter, Name: "x", Target: uRouter}}, "invalid row UUID"},
		{"bad target", []fwdsync.Op{{Kind: fwdsync.OpAttachSwitch, Name: "x", UUID: uLB, Target: "r1"}}, "invalid target UUID"},
		{"create without name", []fwdsync.Op{{Kind: fwdsync.OpCreateLB}}, "no name"},
		{"create twice", []fwdsync.Op{{Kind: fwdsync.OpCreateLB, Name: "x"}, {Kind: fwdsync.OpCreateLB, Name: "x"}}, "created twice"},
		{"bad protocol", []fwdsync.Op{{Kind: fwdsync.OpCreateLB, Name: "x", Protocol: "icmp"}}, "invalid protocol"},
		{"delete with bad router", []fwdsync.Op{{Kind: fwdsync.OpDeleteLB, UUID: uLB, Routers: []string{"lr"}}}, "invalid router/switch UUID"},
		{"unknown kind", []fwdsync.Op{{Kind: "frobnicate", Name: "x"}}, "unknown op kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildOps(fwdsync.Change{Ops: tt.ops})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCheckClassifiesConflicts(t *testing.T) {
	tx, err := buildTxn(fwdsync.Change{Ops: []fwdsync.Op{{Kind: fwdsync.OpCreateLB, Name: "lb-tcp"}}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		res      []ovsdb.OperationResult
		conflict bool
		contains string
	}{
		{[]ovsdb.OperationResult{{}, {UUID: ovsdb.UUID{GoUUID: uLB}}}, false, ""},
		{[]ovsdb.OperationResult{{Error: "timed out", Details: `"where" clause test failed`}, {}}, true, "guard: no Load_Balancer named lb-tcp"},
		{[]ovsdb.OperationResult{{}, {}, {Error: "referential integrity violation"}}, true, "commit"},
		{[]ovsdb.OperationResult{{}, {Error: "constraint violation"}}, true, "insert Load_Balancer"},
		{[]ovsdb.OperationResult{{}, {Error: "resources exhausted"}}, false, "resources exhausted"},
	}
	for i, c := range cases {
		err := tx.check(c.res)
		if c.contains == "" {
			if err != nil {
				t.Errorf("case %d: %v", i, err)
			}
			continue
		}
		if err == nil || (errorsIs(err, ErrConflict) != c.conflict) || !strings.Contains(err.Error(), c.contains) {
			t.Errorf("case %d: err = %v, conflict want %v, want text %q", i, err, c.conflict, c.contains)
		}
	}
}

func TestSymDiff(t *testing.T) {
	got := symDiff([]string{"a", "b", "c"}, []string{"b", "c", "d"})
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "d"}) {
		t.Fatalf("symDiff = %v", got)
	}
	if d := symDiff(nil, nil); len(d) != 0 {
		t.Fatalf("symDiff(nil, nil) = %v", d)
	}
}
