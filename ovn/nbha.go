package ovn

import (
	"context"
	"fmt"
	"slices"

	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovnfwd/ovnfwd/ovn/nbdb"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// haPriorityMax is the maximum of HA_Chassis.priority in the NB schema.
const haPriorityMax = 32767

// ApplyHA writes one HA chassis group change (ops of the kinds
// OpHAAdd, OpHARemove and OpHASetPriority, as fwdsync.PlanHA makes them) as
// one transaction, built first: guards, removals, priority updates, adds.
//
// Guards, evaluated by the server inside the transaction:
//   - every group the change touches (op.Target) is still named op.Name and
//     its ha_chassis set is still exactly op.GroupHAChassis, the set the
//     change was planned from — so an add never duplicates a chassis LXD
//     (or anyone) added meanwhile, and a removal or priority update never
//     hits a row that moved;
//   - a priority update's HA_Chassis row still has chassis_name op.Chassis.
//
// The group's ha_chassis column is only mutated (insert/delete), never
// rewritten. An add inserts HA_Chassis{chassis_name, priority} and
// references it from the group in the same transaction (HA_Chassis is not a
// root table), which is exactly what `ovn-nbctl ha-chassis-group-add-chassis
// <group> <chassis> <priority>` writes. A removal deletes the reference; the
// unreferenced HA_Chassis row is garbage-collected by the server.
//
// Errors follow Apply: a failed guard or an integrity/constraint refusal
// wraps ErrConflict (nothing written; re-plan), and after success ApplyHA
// waits (at most 5s) until the local replica shows the change.
func (n *NB) ApplyHA(ctx context.Context, ch fwdsync.Change) error {
	what := "HA chassis group change of " + changeName(ch)
	if ch.Prefix != "" {
		what = fmt.Sprintf("HA chassis group %s change of %s/%s", ch.Prefix, ch.Key.Project, ch.Key.Network)
	}
	if n.c.readOnly {
		return fmt.Errorf("apply %s: %w", what, ErrReadOnly)
	}
	if n.c.closed.Load() {
		return fmt.Errorf("apply %s: %w", what, ErrClosed)
	}
	t, err := buildHATxn(ch)
	if err != nil {
		return fmt.Errorf("apply %s: %w", what, err)
	}
	return n.commit(ctx, what, t)
}

// buildHAOps returns the operations of one HA change (see ApplyHA). It
// reads nothing but its argument.
func buildHAOps(ch fwdsync.Change) ([]ovsdb.Operation, error) {
	t, err := buildHATxn(ch)
	if err != nil {
		return nil, err
	}
	return t.ops, nil
}

// haTxn is a built HA change and what the replica must show once applied.
type haTxn struct {
	txn
	expect []haExpect
}

type haExpect struct {
	group string
	// row is the HA_Chassis UUID, or "" with insert set.
	row    string
	insert int
	// in: the group references the row (else it must not).
	in bool
	// priority >= 0: the row has this priority.
	priority int
}

// haPhase orders the ops of an HA change.
func haPhase(k fwdsync.OpKind) int {
	switch k {
	case fwdsync.OpHARemove:
		return 0
	case fwdsync.OpHASetPriority:
		return 1
	default:
		return 2
	}
}

func buildHATxn(ch fwdsync.Change) (*haTxn, error) {
	if err := validateHAOps(ch.Ops); err != nil {
		return nil, err
	}
	ops := slices.Clone(ch.Ops)
	slices.SortStableFunc(ops, func(a, b fwdsync.Op) int { return haPhase(a.Kind) - haPhase(b.Kind) })

	t := &haTxn{}
	guarded := map[string]bool{}
	for _, op := range ops {
		if guarded[op.Target] {
			continue
		}
		guarded[op.Target] = true
		set := make([]any, len(op.GroupHAChassis))
		for i, u := range op.GroupHAChassis {
			set[i] = ovsdb.UUID{GoUUID: u}
		}
		t.add(fmt.Sprintf("guard: HA_Chassis_Group %s is still %s with ha_chassis %v", op.Target, op.Name, op.GroupHAChassis),
			ovsdb.Operation{
				Op:      ovsdb.OperationWait,
				Table:   nbdb.HAChassisGroupTable,
				Where:   uuidCond(op.Target),
				Columns: []string{"name", "ha_chassis"},
				Until:   string(ovsdb.WaitConditionEqual),
				Rows:    []ovsdb.Row{{"name": op.Name, "ha_chassis": ovsdb.OvsSet{GoSet: set}}},
				Timeout: zero(),
			})
	}
	inserts := 0
	for _, op := range ops {
		switch op.Kind {
		case fwdsync.OpHARemove:
			t.add(fmt.Sprintf("remove HA_Chassis %s (%s) from group %s", op.HAUUID, op.Chassis, op.Name),
				haGroupMutate(op.Target, ovsdb.UUID{GoUUID: op.HAUUID}, ovsdb.MutateOperationDelete))
			t.expect = append(t.expect, haExpect{group: op.Target, row: op.HAUUID, priority: -1})

		case fwdsync.OpHASetPriority:
			t.add(fmt.Sprintf("guard: HA_Chassis %s is still chassis %s", op.HAUUID, op.Chassis),
				waitRowHas(nbdb.HAChassisTable, op.HAUUID, "chassis_name", op.Chassis))
			t.add(fmt.Sprintf("set priority of HA_Chassis %s (%s) in group %s to %d", op.HAUUID, op.Chassis, op.Name, op.Priority),
				ovsdb.Operation{
					Op:    ovsdb.OperationUpdate,
					Table: nbdb.HAChassisTable,
					Where: uuidCond(op.HAUUID),
					Row:   ovsdb.Row{"priority": op.Priority},
				})
			t.expect = append(t.expect, haExpect{group: op.Target, row: op.HAUUID, in: true, priority: op.Priority})

		case fwdsync.OpHAAdd:
			nu := fmt.Sprintf("new_ha_chassis_%d", inserts)
			inserts++
			ins := t.add(fmt.Sprintf("insert HA_Chassis %s priority %d", op.Chassis, op.Priority), ovsdb.Operation{
				Op:       ovsdb.OperationInsert,
				Table:    nbdb.HAChassisTable,
				UUIDName: nu,
				Row:      ovsdb.Row{"chassis_name": op.Chassis, "priority": op.Priority},
			})
			t.add(fmt.Sprintf("add HA_Chassis %s to group %s", op.Chassis, op.Name),
				haGroupMutate(op.Target, ovsdb.UUID{GoUUID: nu}, ovsdb.MutateOperationInsert))
			t.expect = append(t.expect, haExpect{group: op.Target, insert: ins, in: true, priority: op.Priority})
		}
	}
	return t, nil
}

func haGroupMutate(group string, row ovsdb.UUID, m ovsdb.Mutator) ovsdb.Operation {
	return ovsdb.Operation{
		Op:        ovsdb.OperationMutate,
		Table:     nbdb.HAChassisGroupTable,
		Where:     uuidCond(group),
		Mutations: []ovsdb.Mutation{{Column: "ha_chassis", Mutator: m, Value: ovsdb.OvsSet{GoSet: []any{row}}}},
	}
}

func validateHAOps(ops []fwdsync.Op) error {
	type groupSet struct {
		name string
		set  []string
	}
	groups := map[string]groupSet{}
	added := map[[2]string]bool{}
	touched := map[string]bool{}
	for i, op := range ops {
		bad := func(format string, a ...any) error {
			return fmt.Errorf("op %d (%s %q in %q): %s", i+1, op.Kind, op.Chassis, op.Name, fmt.Sprintf(format, a...))
		}
		if !fwdsync.IsHAOp(op.Kind) {
			return bad("not an HA chassis group op")
		}
		if op.Name == "" {
			return bad("no group name")
		}
		if !ovsdb.IsValidUUID(op.Target) {
			return bad("invalid group UUID %q", op.Target)
		}
		if op.Chassis == "" {
			return bad("no chassis name")
		}
		for _, u := range op.GroupHAChassis {
			if !ovsdb.IsValidUUID(u) {
				return bad("invalid HA_Chassis UUID %q in the planned group", u)
			}
		}
		planned := slices.Sorted(slices.Values(op.GroupHAChassis))
		if g, ok := groups[op.Target]; ok {
			if g.name != op.Name || !slices.Equal(g.set, planned) {
				return bad("ops on group %s disagree on its name or planned ha_chassis", op.Target)
			}
		} else {
			groups[op.Target] = groupSet{name: op.Name, set: planned}
		}
		switch op.Kind {
		case fwdsync.OpHAAdd:
			if added[[2]string{op.Target, op.Chassis}] {
				return bad("chassis added twice to one group")
			}
			added[[2]string{op.Target, op.Chassis}] = true
		case fwdsync.OpHARemove, fwdsync.OpHASetPriority:
			if !ovsdb.IsValidUUID(op.HAUUID) {
				return bad("invalid HA_Chassis UUID %q", op.HAUUID)
			}
			if !slices.Contains(op.GroupHAChassis, op.HAUUID) {
				return bad("HA_Chassis %s is not in the planned group", op.HAUUID)
			}
			if touched[op.HAUUID] {
				return bad("HA_Chassis %s changed twice in one change", op.HAUUID)
			}
			touched[op.HAUUID] = true
		}
		if op.Kind != fwdsync.OpHARemove && (op.Priority < 0 || op.Priority > haPriorityMax) {
			return bad("priority %d outside 0..%d", op.Priority, haPriorityMax)
		}
	}
	return nil
}

// reflected reports whether the replica shows the applied HA change.
func (t *haTxn) reflected(tc *cache.TableCache, res []ovsdb.OperationResult) bool {
	if tc == nil {
		return true // closed
	}
	groups, rows := tc.Table(nbdb.HAChassisGroupTable), tc.Table(nbdb.HAChassisTable)
	for _, e := range t.expect {
		row := e.row
		if row == "" && e.insert < len(res) {
			row = res[e.insert].UUID.GoUUID
		}
		g, ok := groups.Row(e.group).(*nbdb.HAChassisGroup)
		if !ok {
			continue // the group is gone: nothing more to wait for
		}
		if slices.Contains(g.HaChassis, row) != e.in {
			return false
		}
		if e.priority >= 0 {
			r, ok := rows.Row(row).(*nbdb.HAChassis)
			if !ok || r.Priority != e.priority {
				return false
			}
		}
	}
	return true
}
