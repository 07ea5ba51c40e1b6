package ovn

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovnfwd/ovnfwd/ovn/nbdb"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

const haGroupName = "lxd-net1" // seedTopology's group, holding ch1 at priority 10

func applyHA(t *testing.T, nb *NB, ops ...fwdsync.Op) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return nb.ApplyHA(ctx, fwdsync.Change{
		Key:    fwdsync.ForwardKey{Project: "default", Network: "ovn1"},
		Prefix: haGroupName,
		Ops:    ops,
	})
}

// haOp is an HA op on group g planned from ha_chassis set planned.
func haOp(kind fwdsync.OpKind, g, name string, planned []string, chassis string) fwdsync.Op {
	return fwdsync.Op{Kind: kind, Name: name, Target: g, Chassis: chassis, GroupHAChassis: slices.Sorted(slices.Values(planned))}
}

// haEntry is one HA_Chassis row as stored, without its UUID.
type haEntry struct {
	chassis     string
	priority    int
	externalIDs string
}

// serverGroup reads group g's HA_Chassis rows from the server, sorted.
func serverGroup(t *testing.T, raw *rawClient, g string) []haEntry {
	t.Helper()
	rows := raw.selectRows(nbdb.HAChassisGroupTable, ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, uuidRef(g)))
	if len(rows) != 1 {
		t.Fatalf("group %s: %d rows", g, len(rows))
	}
	var out []haEntry
	for _, u := range rowUUIDs(rows[0]["ha_chassis"]) {
		r := raw.selectRows(nbdb.HAChassisTable, ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, uuidRef(u)))
		if len(r) != 1 {
			t.Fatalf("HA_Chassis %s: %d rows", u, len(r))
		}
		name, _ := r[0]["chassis_name"].(string)
		out = append(out, haEntry{chassis: name, priority: intField(r[0], "priority"), externalIDs: fmt.Sprint(r[0]["external_ids"])})
	}
	slices.SortFunc(out, func(a, b haEntry) int { return strings.Compare(a.chassis, b.chassis) })
	return out
}

// replicaGroup reads group g from the client's snapshot as chassis → priority.
func replicaGroup(nb *NB, g string) map[string]int {
	st := nb.Snapshot()
	rows := map[string]fwdsync.NBHAChassis{}
	for _, r := range st.HAChassis {
		rows[r.UUID] = r
	}
	out := map[string]int{}
	for _, grp := range st.HAChassisGroups {
		if grp.UUID != g {
			continue
		}
		for _, u := range grp.HAChassis {
			out[rows[u].ChassisName] = rows[u].Priority
		}
	}
	return out
}

func TestApplyHA(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ep string, real bool) {
		raw := rawNB(t, ep)
		tp := seedTopology(t, raw)
		nb := dialTestNB(t, ep, false)
		eventually(t, "replica has the group", func() bool { return len(replicaGroup(nb, tp.group)) == 1 })
		planned := []string{tp.haCh}

		// Add ch2 and fix ch1's priority in one transaction.
		set := haOp(fwdsync.OpHASetPriority, tp.group, haGroupName, planned, "ch1")
		set.HAUUID, set.Priority = tp.haCh, 1138
		add := haOp(fwdsync.OpHAAdd, tp.group, haGroupName, planned, "ch2")
		add.Priority = 2000
		if err := applyHA(t, nb, add, set); err != nil {
			t.Fatalf("ApplyHA: %v", err)
		}
		// ApplyHA waited for the replica.
		if got, want := replicaGroup(nb, tp.group), map[string]int{"ch1": 1138, "ch2": 2000}; !maps.Equal(got, want) {
			t.Errorf("replica group = %v, want %v", got, want)
		}
		if got := serverGroup(t, raw, tp.group); len(got) != 2 || got[0].priority != 1138 || got[1].priority != 2000 {
			t.Errorf("server group = %+v", got)
		}
		if st := nb.Stats(); st.Transactions != 1 {
			t.Errorf("stats = %+v, want one transaction", st)
		}

		// A change planned from the old set conflicts: nothing is written.
		again := haOp(fwdsync.OpHAAdd, tp.group, haGroupName, planned, "ch2")
		again.Priority = 2000
		if err := applyHA(t, nb, again); !errors.Is(err, ErrConflict) {
			t.Fatalf("add planned from a stale set = %v, want ErrConflict", err)
		} else {
			t.Logf("error: %v", err)
		}
		if got := serverGroup(t, raw, tp.group); len(got) != 2 {
			t.Errorf("after the conflict the group has %+v", got)
		}

		if !real {
			// libovsdb's in-process server compares the set of a wait in
			// storage order (reflect.DeepEqual), not as a set, so a guard
			// on a group of two or more entries may fail there; the rest
			// runs against ovsdb-server only.
			return
		}

		// Remove ch1: the group loses it and the row is garbage-collected.
		now := slices.Collect(maps.Keys(func() map[string]bool {
			m := map[string]bool{}
			for _, g := range nb.Snapshot().HAChassisGroups {
				if g.UUID == tp.group {
					for _, u := range g.HAChassis {
						m[u] = true
					}
				}
			}
			return m
		}()))
		rm := haOp(fwdsync.OpHARemove, tp.group, haGroupName, now, "ch1")
		rm.HAUUID = tp.haCh
		if err := applyHA(t, nb, rm); err != nil {
			t.Fatalf("remove: %v", err)
		}
		if got, want := replicaGroup(nb, tp.group), map[string]int{"ch2": 2000}; !maps.Equal(got, want) {
			t.Errorf("replica group after remove = %v, want %v", got, want)
		}
		if rows := raw.selectRows(nbdb.HAChassisTable, ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, uuidRef(tp.haCh))); len(rows) != 0 {
			t.Errorf("removed HA_Chassis row still exists: %v", rows)
		}

		// A renamed group conflicts.
		cur := slices.DeleteFunc(now, func(u string) bool { return u == tp.haCh })
		wrong := haOp(fwdsync.OpHAAdd, tp.group, "lxd-net9", cur, "ch3")
		if err := applyHA(t, nb, wrong); !errors.Is(err, ErrConflict) {
			t.Fatalf("add to a group of another name = %v, want ErrConflict", err)
		}
		// A vanished group conflicts.
		gone := haOp(fwdsync.OpHAAdd, "00000000-0000-4000-8000-0000000000ff", haGroupName, nil, "ch3")
		if err := applyHA(t, nb, gone); !errors.Is(err, ErrConflict) {
			t.Fatalf("add to a missing group = %v, want ErrConflict", err)
		}
		if got, want := serverGroup(t, raw, tp.group), []haEntry{{"ch2", 2000, "{map[]}"}}; !slices.Equal(got, want) {
			t.Errorf("after conflicts the group is %+v, want %+v", got, want)
		}
	})
}

// A priority update guards the row's chassis name.
func TestApplyHASetPriorityGuard(t *testing.T) {
	s := startRealServer(t, nbSchemaFile())
	raw := rawNB(t, s.endpoint())
	tp := seedTopology(t, raw)
	nb := dialTestNB(t, s.endpoint(), false)
	set := haOp(fwdsync.OpHASetPriority, tp.group, haGroupName, []string{tp.haCh}, "ch7")
	set.HAUUID, set.Priority = tp.haCh, 5
	if err := applyHA(t, nb, set); !errors.Is(err, ErrConflict) {
		t.Fatalf("set priority of a row of another chassis = %v, want ErrConflict", err)
	}
	if got := serverGroup(t, raw, tp.group); got[0].priority != 10 {
		t.Errorf("priority changed to %d", got[0].priority)
	}
}

// ApplyHA writes exactly what ovn-nbctl writes for the same edits
// (ha-chassis-group-add-chassis / -set-chassis-prio / -remove-chassis),
// which is what LXD uses (lxd/network/openvswitch/ovn.go).
func TestApplyHAEqualsNbctl(t *testing.T) {
	nbctl := findBinary("ovn-nbctl")
	if nbctl == "" {
		missingTool(t, "ovn-nbctl not installed")
	}
	s := startRealServer(t, nbSchemaFile())
	raw := rawNB(t, s.endpoint())
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(nbctl, append([]string{"--db=" + s.endpoint()}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ovn-nbctl %v: %v: %s", args, err, out)
		}
	}
	// Two identical groups, both built by ovn-nbctl.
	for _, g := range []string{"g-ours", "g-nbctl"} {
		run("ha-chassis-group-add", g)
		run("ha-chassis-group-add-chassis", g, "ch1", "10")
		run("ha-chassis-group-add-chassis", g, "ch3", "1000")
	}
	nb := dialTestNB(t, s.endpoint(), false)
	group := func(name string) fwdsync.NBHAChassisGroup {
		for _, g := range nb.Snapshot().HAChassisGroups {
			if g.Name == name {
				return g
			}
		}
		t.Fatalf("no group %s", name)
		return fwdsync.NBHAChassisGroup{}
	}
	rowOf := func(g fwdsync.NBHAChassisGroup, chassis string) string {
		for _, r := range nb.Snapshot().HAChassis {
			if r.ChassisName == chassis && slices.Contains(g.HAChassis, r.UUID) {
				return r.UUID
			}
		}
		t.Fatalf("no %s in %s", chassis, g.Name)
		return ""
	}
	eventually(t, "replica has both groups", func() bool {
		n := 0
		for _, g := range nb.Snapshot().HAChassisGroups {
			n += len(g.HAChassis)
		}
		return n == 4
	})
	compare := func(step string) {
		t.Helper()
		ours, theirs := serverGroup(t, raw, group("g-ours").UUID), serverGroup(t, raw, group("g-nbctl").UUID)
		if !slices.Equal(ours, theirs) {
			t.Errorf("%s: ApplyHA wrote %+v, ovn-nbctl %+v", step, ours, theirs)
		}
		// No orphan rows: every HA_Chassis is referenced by a group.
		n := 0
		for _, g := range nb.Snapshot().HAChassisGroups {
			n += len(g.HAChassis)
		}
		if all := raw.selectRows(nbdb.HAChassisTable); len(all) != n {
			t.Errorf("%s: %d HA_Chassis rows, %d referenced", step, len(all), n)
		}
	}
	change := func(ops ...fwdsync.Op) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := nb.ApplyHA(ctx, fwdsync.Change{Key: fwdsync.ForwardKey{Project: "default", Network: "n"}, Prefix: "g-ours", Ops: ops}); err != nil {
			t.Fatalf("ApplyHA: %v", err)
		}
	}

	g := group("g-ours")
	add := haOp(fwdsync.OpHAAdd, g.UUID, g.Name, g.HAChassis, "ch2")
	add.Priority = 1138
	change(add)
	run("ha-chassis-group-add-chassis", "g-nbctl", "ch2", "1138")
	compare("add")

	g = group("g-ours")
	set := haOp(fwdsync.OpHASetPriority, g.UUID, g.Name, g.HAChassis, "ch3")
	set.HAUUID, set.Priority = rowOf(g, "ch3"), 22819
	change(set)
	run("ha-chassis-group-set-chassis-prio", "g-nbctl", "ch3", "22819")
	compare("set priority")

	g = group("g-ours")
	rm := haOp(fwdsync.OpHARemove, g.UUID, g.Name, g.HAChassis, "ch1")
	rm.HAUUID = rowOf(g, "ch1")
	change(rm)
	run("ha-chassis-group-remove-chassis", "g-nbctl", "ch1")
	compare("remove")

	if got := serverGroup(t, raw, group("g-ours").UUID); !slices.Equal(got, []haEntry{{"ch2", 1138, "{map[]}"}, {"ch3", 22819, "{map[]}"}}) {
		t.Errorf("final group = %+v", got)
	}
}

func TestBuildHAOps(t *testing.T) {
	const g, r1, r2 = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000003"
	planned := []string{r2, r1} // unsorted on purpose
	add := haOp(fwdsync.OpHAAdd, g, "lxd-net2", planned, "ch3")
	add.Priority = 7
	set := haOp(fwdsync.OpHASetPriority, g, "lxd-net2", planned, "ch1")
	set.HAUUID, set.Priority = r1, 1138
	rm := haOp(fwdsync.OpHARemove, g, "lxd-net2", planned, "ghost")
	rm.HAUUID = r2
	ops, err := buildHAOps(fwdsync.Change{Ops: []fwdsync.Op{add, set, rm}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range ops {
		s := op.Op + " " + op.Table
		switch op.Op {
		case ovsdb.OperationMutate:
			s += fmt.Sprintf(" %s %s", op.Mutations[0].Mutator, rowUUIDs(op.Mutations[0].Value))
		case ovsdb.OperationWait:
			s += fmt.Sprintf(" %v", op.Columns)
		case ovsdb.OperationInsert:
			s += fmt.Sprintf(" %s %v %v", op.UUIDName, op.Row["chassis_name"], op.Row["priority"])
		case ovsdb.OperationUpdate:
			s += fmt.Sprintf(" %v", op.Row["priority"])
		}
		got = append(got, s)
	}
	want := []string{
		"wait HA_Chassis_Group [name ha_chassis]",
		"mutate HA_Chassis_Group delete [" + r2 + "]",
		"wait HA_Chassis [chassis_name]",
		"update HA_Chassis 1138",
		"insert HA_Chassis new_ha_chassis_0 ch3 7",
		"mutate HA_Chassis_Group insert [new_ha_chassis_0]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("ops:\n got %q\nwant %q", got, want)
	}
	// The guard names the planned set.
	if set := rowUUIDs(ops[0].Rows[0]["ha_chassis"]); !slices.Equal(set, []string{r1, r2}) {
		t.Errorf("guard set = %v", set)
	}
	// Nothing of the group is rewritten: no update of HA_Chassis_Group.
	for _, op := range ops {
		if op.Table == nbdb.HAChassisGroupTable && op.Op == ovsdb.OperationUpdate {
			t.Errorf("group rewritten: %+v", op)
		}
	}
}

func TestBuildHAOpsRejects(t *testing.T) {
	const g, r1 = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
	ok := func(kind fwdsync.OpKind) fwdsync.Op {
		op := haOp(kind, g, "lxd-net2", []string{r1}, "ch1")
		if kind != fwdsync.OpHAAdd {
			op.HAUUID = r1
		}
		return op
	}
	with := func(op fwdsync.Op, f func(*fwdsync.Op)) fwdsync.Op { f(&op); return op }
	tests := []struct {
		name string
		ops  []fwdsync.Op
		want string
	}{
		{"not an HA op", []fwdsync.Op{{Kind: fwdsync.OpCreateLB, Name: "x"}}, "not an HA chassis group op"},
		{"no group name", []fwdsync.Op{with(ok(fwdsync.OpHAAdd), func(o *fwdsync.Op) { o.Name = "" })}, "no group name"},
		{"bad group", []fwdsync.Op{with(ok(fwdsync.OpHAAdd), func(o *fwdsync.Op) { o.Target = "g" })}, "invalid group UUID"},
		{"no chassis", []fwdsync.Op{with(ok(fwdsync.OpHAAdd), func(o *fwdsync.Op) { o.Chassis = "" })}, "no chassis name"},
		{"priority too high", []fwdsync.Op{with(ok(fwdsync.OpHAAdd), func(o *fwdsync.Op) { o.Priority = 32768 })}, "outside 0..32767"},
		{"negative priority", []fwdsync.Op{with(ok(fwdsync.OpHASetPriority), func(o *fwdsync.Op) { o.Priority = -1 })}, "outside 0..32767"},
		{"remove without row", []fwdsync.Op{with(ok(fwdsync.OpHARemove), func(o *fwdsync.Op) { o.HAUUID = "" })}, "invalid HA_Chassis UUID"},
		{"row not in the planned set", []fwdsync.Op{with(ok(fwdsync.OpHARemove), func(o *fwdsync.Op) { o.GroupHAChassis = nil })}, "not in the planned group"},
		{"bad planned set", []fwdsync.Op{with(ok(fwdsync.OpHAAdd), func(o *fwdsync.Op) { o.GroupHAChassis = []string{"x"} })}, "in the planned group"},
		{"added twice", []fwdsync.Op{ok(fwdsync.OpHAAdd), ok(fwdsync.OpHAAdd)}, "added twice"},
		{"row changed twice", []fwdsync.Op{ok(fwdsync.OpHARemove), ok(fwdsync.OpHASetPriority)}, "changed twice"},
		{"ops disagree on the planned set", []fwdsync.Op{ok(fwdsync.OpHAAdd),
			with(ok(fwdsync.OpHAAdd), func(o *fwdsync.Op) { o.Chassis = "ch2"; o.GroupHAChassis = nil })}, "disagree"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildHAOps(fwdsync.Change{Ops: tt.ops})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	// NB.Apply refuses HA ops: they go through ApplyHA.
	if _, err := buildOps(fwdsync.Change{Ops: []fwdsync.Op{ok(fwdsync.OpHAAdd)}}); err == nil {
		t.Error("buildOps accepted an HA op")
	}
}

func TestApplyHAReadOnly(t *testing.T) {
	ep := startMemServer(t)
	raw := rawNB(t, ep)
	tp := seedTopology(t, raw)
	nb := dialTestNB(t, ep, true)
	add := haOp(fwdsync.OpHAAdd, tp.group, haGroupName, []string{tp.haCh}, "ch2")
	if err := applyHA(t, nb, add); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("ApplyHA on a read-only client = %v", err)
	}
	if st := nb.Stats(); st.Transactions != 0 {
		t.Errorf("stats = %+v", st)
	}
}
