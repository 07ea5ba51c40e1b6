package ovn

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovnfwd/ovnfwd/ovn/nbdb"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// cacheWait bounds the wait, after a successful transaction, for the local
// replica to show the change.
const cacheWait = 5 * time.Second

// Apply writes one change as one transaction. The operations are built
// first (buildOps), in this order whatever the order of ch.Ops: removals
// (detach, delete), updates, creates, attaches, so that a create may replace
// a row of the same name deleted by the same change.
//
// Guards, all evaluated by the server inside the transaction:
//   - create: no Load_Balancer of that name exists (LXD may be writing too);
//   - update: the row still has OldVIPs;
//   - attach of an existing row: the row still exists with the op's Name,
//     and the router/switch still exists with TargetName (references to load
//     balancers are weak in NB, so attaching a vanished row would silently
//     do nothing).
//
// A failed guard, or a referential-integrity or constraint error, returns an
// error wrapping ErrConflict: nothing was written, re-plan. After success
// Apply waits (at most 5s) until the local replica shows the change, so a
// following Snapshot sees it.
func (n *NB) Apply(ctx context.Context, ch fwdsync.Change) error {
	if len(ch.Ops) > 0 && fwdsync.IsHAOp(ch.Ops[0].Kind) {
		return n.ApplyHA(ctx, ch)
	}
	what := changeName(ch)
	if n.c.readOnly {
		return fmt.Errorf("apply %s: %w", what, ErrReadOnly)
	}
	if n.c.closed.Load() {
		return fmt.Errorf("apply %s: %w", what, ErrClosed)
	}
	t, err := buildTxn(ch)
	if err != nil {
		return fmt.Errorf("apply %s: %w", what, err)
	}
	return n.commit(ctx, what, t)
}

// built is a transaction built for commit: txn, or haTxn with its own
// replica expectations.
type built interface {
	operations() []ovsdb.Operation
	check(res []ovsdb.OperationResult) error
	reflected(tc *cache.TableCache, res []ovsdb.OperationResult) bool
}

func (t *txn) operations() []ovsdb.Operation { return t.ops }

// commit sends a built transaction (nothing if it has no operation),
// checks every operation's result (a failed guard is ErrConflict) and waits,
// at most cacheWait, until the local replica shows it.
func (n *NB) commit(ctx context.Context, what string, t built) error {
	_, err := n.commitResults(ctx, what, t)
	return err
}

// commitResults is commit, with the operations' results.
func (n *NB) commitResults(ctx context.Context, what string, t built) ([]ovsdb.OperationResult, error) {
	if len(t.operations()) == 0 {
		return nil, nil
	}
	if !n.Connected() {
		return nil, fmt.Errorf("apply %s: %w", what, ErrNotConnected)
	}
	n.txns.Add(1)
	start := time.Now()
	res, err := n.c.cl.Transact(ctx, t.operations()...)
	if err == nil {
		n.c.observe(time.Since(start))
	}
	if err != nil {
		n.failed.Add(1)
		if errors.Is(err, client.ErrNotConnected) {
			// The connection went away with the transaction in flight: it
			// may or may not have been committed. The caller re-plans from
			// the replica refilled on reconnect (WaitConnected).
			return nil, fmt.Errorf("apply %s: transact: %w (it may have been committed)", what, ErrNotConnected)
		}
		return nil, fmt.Errorf("apply %s: transact: %w", what, err)
	}
	if err := t.check(res); err != nil {
		if errors.Is(err, ErrConflict) {
			n.conflict.Add(1)
		} else {
			n.failed.Add(1)
		}
		return nil, fmt.Errorf("apply %s: %w", what, err)
	}
	if !n.c.waitFor(ctx, cacheWait, func() bool { return t.reflected(n.c.cache(), res) }) {
		n.cacheLag.Add(1)
		n.c.log.Info("applied change not yet visible in the local replica", "change", what, "waited", cacheWait.String())
	}
	return res, nil
}

// ApplyBatch applies several forward changes in ONE transaction, with the
// guards of Apply: if any guard fails (a concurrent change anywhere in the
// batch), nothing is written and the error wraps ErrConflict; the caller
// then applies the changes one by one (Apply) to isolate it. HA changes
// are not batched. It saves a round trip and a replica wait per change
// when many forwards need repair. Each create's guard ("no Load_Balancer
// of that name exists") makes ovsdb-server scan the whole table (≈ 14 ms
// at 40,000 rows): for thousands of creates use ApplyBulk.
func (n *NB) ApplyBatch(ctx context.Context, chs []fwdsync.Change) error {
	return n.applyBatch(ctx, chs, true)
}

// ApplyBulk is ApplyBatch for thousands of creates (a restored or emptied
// NB): no per-name guard, which made a cold repair quadratic (50,000
// forwards did not finish). Instead each new row's UUID is derived from
// its name, so a bulk sent again after it committed fails with "duplicate
// uuid" (an index lookup) and writes nothing; and after the commit a
// created row that meets a same-named row another writer (LXD) created
// meanwhile is undone (*BatchConflictError, wrapping ErrConflict; the
// other changes stay applied). Two rows of one name then exist for the
// moment between the two transactions.
func (n *NB) ApplyBulk(ctx context.Context, chs []fwdsync.Change) error {
	return n.applyBatch(ctx, chs, false)
}

func (n *NB) applyBatch(ctx context.Context, chs []fwdsync.Change, nameGuards bool) error {
	if len(chs) == 1 {
		return n.Apply(ctx, chs[0])
	}
	what := fmt.Sprintf("batch of %d changes", len(chs))
	if n.c.readOnly {
		return fmt.Errorf("apply %s: %w", what, ErrReadOnly)
	}
	if n.c.closed.Load() {
		return fmt.Errorf("apply %s: %w", what, ErrClosed)
	}
	t, err := buildBatch(chs, nameGuards)
	if err != nil {
		return fmt.Errorf("apply %s: %w", what, err)
	}
	res, err := n.commitResults(ctx, what, t)
	if err != nil || nameGuards {
		return err
	}
	return n.undoRacedCreates(ctx, what, t, res, len(chs))
}

// buildBatch builds the one transaction of a batch: each change's
// operations with their guards (the per-name guard on creates only with
// nameGuards), then one attach mutation per router and switch.
func buildBatch(chs []fwdsync.Change, nameGuards bool) (*txn, error) {
	t := &txn{}
	attach := map[setTarget][]any{}
	var attachOrder []setTarget
	for i, ch := range chs {
		if len(ch.Ops) > 0 && fwdsync.IsHAOp(ch.Ops[0].Kind) {
			return nil, errors.New("HA changes cannot be batched")
		}
		ct, err := buildTxnNamed(ch, fmt.Sprintf("c%d_", i), nameGuards)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", changeName(ch), err)
		}
		// Attachments are gathered into one mutation per router and
		// switch at the end: ovsdb-server copies the whole
		// load_balancer set for each mutate (≈ 60 µs at 40,000 rows), so
		// one per row would make a cold repair quadratic again.
		at := make([]int, len(ct.ops)) // ct op index -> t op index
		for j, op := range ct.ops {
			if tgt, ok := attachOf(op); ok {
				if _, seen := attach[tgt]; !seen {
					attachOrder = append(attachOrder, tgt)
				}
				attach[tgt] = append(attach[tgt], op.Mutations[0].Value.(ovsdb.OvsSet).GoSet...)
				at[j] = -1
				continue
			}
			at[j] = t.add(ct.descs[j], op)
		}
		for _, e := range ct.expect {
			if e.lb == "" {
				e.insert = at[e.insert]
			}
			t.expect = append(t.expect, e)
		}
		for _, c := range ct.creates {
			c.insert = at[c.insert]
			c.change = i
			t.creates = append(t.creates, c)
		}
	}
	for _, tgt := range attachOrder {
		t.add(fmt.Sprintf("attach %d load balancers to %s %s", len(attach[tgt]), tgt.table, tgt.uuid), ovsdb.Operation{
			Op: ovsdb.OperationMutate, Table: tgt.table, Where: uuidCond(tgt.uuid),
			Mutations: []ovsdb.Mutation{{Column: "load_balancer", Mutator: ovsdb.MutateOperationInsert, Value: ovsdb.OvsSet{GoSet: attach[tgt]}}},
		})
	}
	return t, nil
}

// setTarget is a router or switch whose load_balancer set a batch mutates.
type setTarget struct{ table, uuid string }

// attachOf reports whether op is an attachment (a mutate inserting into a
// router's or switch's load_balancer set, by _uuid), and its target.
func attachOf(op ovsdb.Operation) (setTarget, bool) {
	if op.Op != ovsdb.OperationMutate || len(op.Mutations) != 1 || len(op.Where) != 1 {
		return setTarget{}, false
	}
	m := op.Mutations[0]
	if m.Column != "load_balancer" || m.Mutator != ovsdb.MutateOperationInsert || op.Where[0].Column != "_uuid" {
		return setTarget{}, false
	}
	if _, ok := m.Value.(ovsdb.OvsSet); !ok {
		return setTarget{}, false
	}
	u, ok := op.Where[0].Value.(ovsdb.UUID)
	if !ok {
		return setTarget{}, false
	}
	return setTarget{op.Table, u.GoUUID}, true
}

// BatchConflictError is ApplyBulk's answer when some of its creates met a
// same-named row another writer (LXD) created concurrently: the batch was
// committed, then those creates were undone (row detached and deleted). The
// other changes stay applied. It wraps ErrConflict.
type BatchConflictError struct {
	// Changes are the indexes (into the batch) of the changes undone.
	Changes []int
	// Names are the raced rows' names.
	Names []string
}

func (e *BatchConflictError) Error() string {
	return fmt.Sprintf("%d of the batch's changes met a Load_Balancer created concurrently under the same name (%s), and were undone: %v",
		len(e.Changes), strings.Join(e.Names, ", "), ErrConflict)
}

func (e *BatchConflictError) Unwrap() error { return ErrConflict }

// undoRacedCreates looks, in the replica (which shows the batch, and so
// everything committed before it), for another row with the name of a row
// the batch inserted: the race the name guard of a single Apply prevents.
// If there is one, the batch's row is detached and deleted, and the error
// names the changes undone. Rows LXD keeps win; two rows of one name
// would break LXD's own later delete.
func (n *NB) undoRacedCreates(ctx context.Context, what string, t *txn, res []ovsdb.OperationResult, changes int) error {
	tc := n.c.cache()
	if tc == nil || len(t.creates) == 0 {
		return nil
	}
	lbs := tc.Table(nbdb.LoadBalancerTable)
	undo := &txn{}
	conflict := &BatchConflictError{}
	undone := map[int]bool{}
	for _, c := range t.creates {
		if c.insert >= len(res) {
			continue
		}
		ours := res[c.insert].UUID.GoUUID
		if !lbs.HasRow(ours) {
			// The replica does not show the batch yet (cacheWait ran
			// out): no check possible; a duplicate is then a finding of
			// the next pass.
			n.c.log.Info("could not check a created row for a concurrent same-named row: not in the replica yet", "row", c.name)
			continue
		}
		rows, err := lbs.RowsByModels([]model.Model{&nbdb.LoadBalancer{Name: c.name}})
		if err != nil || len(rows) < 2 {
			continue
		}
		for _, tg := range c.targets {
			undo.add(fmt.Sprintf("detach raced %s (%s) from %s %s", ours, c.name, tg.table, tg.uuid),
				setMutate(tg.table, tg.uuid, ours, ovsdb.MutateOperationDelete))
			undo.expect = append(undo.expect, expectation{kind: expectNotInSet, lb: ours, table: tg.table, target: tg.uuid})
		}
		undo.add(fmt.Sprintf("delete raced Load_Balancer %s (%s)", ours, c.name), ovsdb.Operation{
			Op: ovsdb.OperationDelete, Table: nbdb.LoadBalancerTable, Where: uuidCond(ours)})
		undo.expect = append(undo.expect, expectation{kind: expectNoLB, lb: ours})
		conflict.Names = append(conflict.Names, c.name)
		if !undone[c.change] && c.change < changes {
			undone[c.change] = true
			conflict.Changes = append(conflict.Changes, c.change)
		}
	}
	if len(conflict.Names) == 0 {
		return nil
	}
	n.c.log.Info("a batch met rows created concurrently under the same names; undoing its own", "names", strings.Join(conflict.Names, ", "))
	slices.Sort(conflict.Changes)
	if err := n.commit(ctx, "undo of "+what, undo); err != nil {
		return fmt.Errorf("apply %s: undo of %d raced creates: %w", what, len(conflict.Names), err)
	}
	return conflict
}

func changeName(ch fwdsync.Change) string {
	k := ch.Key
	if k == (fwdsync.ForwardKey{}) {
		return fmt.Sprintf("change (%d ops)", len(ch.Ops))
	}
	return fmt.Sprintf("%s/%s %s", k.Project, k.Network, k.ListenAddress)
}

// buildOps returns the operations of one change (see Apply for the order
// and the guards). It reads nothing but its argument.
func buildOps(ch fwdsync.Change) ([]ovsdb.Operation, error) {
	t, err := buildTxn(ch)
	if err != nil {
		return nil, err
	}
	return t.ops, nil
}

// txn is a built change: the operations, a description of each for error
// messages, and what the replica must show once it is applied.
type txn struct {
	ops    []ovsdb.Operation
	descs  []string
	expect []expectation
	// creates are the rows the transaction inserts (ApplyBatch checks them
	// for a same-named row created concurrently: it sends no name guard).
	creates []createdLB
}

// createdLB is one inserted Load_Balancer: its name, the index of its
// insert op, the change of the batch it belongs to and where it is
// attached.
type createdLB struct {
	name    string
	insert  int
	change  int
	targets []setTarget
}

type expectKind int

const (
	expectLB       expectKind = iota // row exists (with vips, if vips != nil)
	expectNoLB                       // row is gone
	expectInSet                      // load_balancer column of target holds the row
	expectNotInSet                   // ... does not hold it
)

type expectation struct {
	kind   expectKind
	lb     string // row UUID, or "" with insert set
	insert int    // index of the insert op whose result is the row UUID
	vips   map[string]string
	table  string // Logical_Router or Logical_Switch
	target string
}

func (t *txn) add(desc string, op ovsdb.Operation) int {
	t.ops = append(t.ops, op)
	t.descs = append(t.descs, desc)
	return len(t.ops) - 1
}

func uuidCond(u string) []ovsdb.Condition {
	return []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, ovsdb.UUID{GoUUID: u})}
}

func uuidSet(u string) ovsdb.OvsSet {
	return ovsdb.OvsSet{GoSet: []any{ovsdb.UUID{GoUUID: u}}}
}

func ovsMap(m map[string]string) ovsdb.OvsMap {
	g := make(map[any]any, len(m))
	for k, v := range m {
		g[k] = v
	}
	return ovsdb.OvsMap{GoMap: g}
}

func protocolSet(p string) ovsdb.OvsSet {
	if p == "" {
		return ovsdb.OvsSet{GoSet: []any{}}
	}
	return ovsdb.OvsSet{GoSet: []any{p}}
}

func zero() *int { z := 0; return &z }

// waitNoRowNamed fails the transaction if any Load_Balancer row is named
// name. OVSDB's wait compares the *distinct* projections of the matching
// rows with "rows": {} when none exists, {name} for one or many, so
// until "!=" with rows [{name}] holds exactly when no row has the name.
// (The obvious until "==" with rows [] cannot be sent: libovsdb omits an
// empty "rows" member, and ovsdb-server rejects a wait without it.)
func waitNoRowNamed(name string) ovsdb.Operation {
	return ovsdb.Operation{
		Op:      ovsdb.OperationWait,
		Table:   nbdb.LoadBalancerTable,
		Where:   []ovsdb.Condition{ovsdb.NewCondition("name", ovsdb.ConditionEqual, name)},
		Columns: []string{"name"},
		Until:   string(ovsdb.WaitConditionNotEqual),
		Rows:    []ovsdb.Row{{"name": name}},
		Timeout: zero(),
	}
}

// waitRowHas fails the transaction unless row u of table exists and its
// column equals value.
func waitRowHas(table, u, column string, value any) ovsdb.Operation {
	return ovsdb.Operation{
		Op:      ovsdb.OperationWait,
		Table:   table,
		Where:   uuidCond(u),
		Columns: []string{column},
		Until:   string(ovsdb.WaitConditionEqual),
		Rows:    []ovsdb.Row{{column: value}},
		Timeout: zero(),
	}
}

func setMutate(table, target, lb string, m ovsdb.Mutator) ovsdb.Operation {
	return ovsdb.Operation{
		Op:        ovsdb.OperationMutate,
		Table:     table,
		Where:     uuidCond(target),
		Mutations: []ovsdb.Mutation{{Column: "load_balancer", Mutator: m, Value: uuidSet(lb)}},
	}
}

func targetTable(k fwdsync.OpKind) string {
	switch k {
	case fwdsync.OpAttachRouter, fwdsync.OpDetachRouter:
		return nbdb.LogicalRouterTable
	default:
		return nbdb.LogicalSwitchTable
	}
}

// phase orders the ops of a change; see Apply.
func phase(k fwdsync.OpKind) int {
	switch k {
	case fwdsync.OpDetachRouter, fwdsync.OpDetachSwitch, fwdsync.OpDeleteLB:
		return 0
	case fwdsync.OpUpdateLB:
		return 1
	case fwdsync.OpCreateLB:
		return 2
	default:
		return 3
	}
}

func buildTxn(ch fwdsync.Change) (*txn, error) { return buildTxnNamed(ch, "", true) }

// buildTxnNamed is buildTxn with prefix in front of its named UUIDs, so
// several changes can share one transaction. nameGuard adds the guard "no
// Load_Balancer of that name exists" before each insert. ovsdb-server has
// no index on Load_Balancer.name: each such guard scans the whole table
// (≈ 14 ms at 40,000 rows here), so a batch of thousands of creates
// leaves them out and checks for a concurrent same-named row after its
// commit instead (NB.ApplyBatch).
func buildTxnNamed(ch fwdsync.Change, prefix string, nameGuard bool) (*txn, error) {
	if err := validateOps(ch.Ops); err != nil {
		return nil, err
	}
	ops := slices.Clone(ch.Ops)
	slices.SortStableFunc(ops, func(a, b fwdsync.Op) int { return phase(a.Kind) - phase(b.Kind) })

	t := &txn{}
	named := map[string]string{} // LB name -> named UUID of its insert
	inserted := map[string]int{} // LB name -> index of its insert op
	lbGuarded := map[string]bool{}
	targetGuarded := map[string]bool{}
	for _, op := range ops {
		switch op.Kind {
		case fwdsync.OpDeleteLB:
			for _, r := range op.Routers {
				t.add(fmt.Sprintf("detach %s from router %s", op.UUID, r),
					setMutate(nbdb.LogicalRouterTable, r, op.UUID, ovsdb.MutateOperationDelete))
				t.expect = append(t.expect, expectation{kind: expectNotInSet, lb: op.UUID, table: nbdb.LogicalRouterTable, target: r})
			}
			for _, s := range op.Switches {
				t.add(fmt.Sprintf("detach %s from switch %s", op.UUID, s),
					setMutate(nbdb.LogicalSwitchTable, s, op.UUID, ovsdb.MutateOperationDelete))
				t.expect = append(t.expect, expectation{kind: expectNotInSet, lb: op.UUID, table: nbdb.LogicalSwitchTable, target: s})
			}
			t.add(fmt.Sprintf("delete Load_Balancer %s (%s)", op.UUID, op.Name), ovsdb.Operation{
				Op:    ovsdb.OperationDelete,
				Table: nbdb.LoadBalancerTable,
				Where: uuidCond(op.UUID),
			})
			t.expect = append(t.expect, expectation{kind: expectNoLB, lb: op.UUID})

		case fwdsync.OpDetachRouter, fwdsync.OpDetachSwitch:
			tbl := targetTable(op.Kind)
			t.add(fmt.Sprintf("detach %s (%s) from %s %s", op.UUID, op.Name, tbl, targetName(op)),
				setMutate(tbl, op.Target, op.UUID, ovsdb.MutateOperationDelete))
			t.expect = append(t.expect, expectation{kind: expectNotInSet, lb: op.UUID, table: tbl, target: op.Target})

		case fwdsync.OpUpdateLB:
			t.add(fmt.Sprintf("guard: Load_Balancer %s (%s) still has the old vips", op.UUID, op.Name),
				waitRowHas(nbdb.LoadBalancerTable, op.UUID, "vips", ovsMap(op.OldVIPs)))
			t.add(fmt.Sprintf("update Load_Balancer %s (%s)", op.UUID, op.Name), ovsdb.Operation{
				Op:    ovsdb.OperationUpdate,
				Table: nbdb.LoadBalancerTable,
				Where: uuidCond(op.UUID),
				Row: ovsdb.Row{
					"protocol": protocolSet(op.Protocol),
					"vips":     ovsMap(op.VIPs),
					"options":  ovsMap(op.Options),
				},
			})
			t.expect = append(t.expect, expectation{kind: expectLB, lb: op.UUID, vips: nonNil(op.VIPs)})

		case fwdsync.OpCreateLB:
			nu := fmt.Sprintf("%snew_lb_%d", prefix, len(named))
			named[op.Name] = nu
			if nameGuard {
				t.add(fmt.Sprintf("guard: no Load_Balancer named %s exists", op.Name), waitNoRowNamed(op.Name))
			}
			row := ovsdb.Row{"name": op.Name, "vips": ovsMap(op.VIPs)}
			if op.Protocol != "" {
				row["protocol"] = op.Protocol
			}
			if len(op.Options) > 0 {
				row["options"] = ovsMap(op.Options)
			}
			ins := ovsdb.Operation{
				Op:       ovsdb.OperationInsert,
				Table:    nbdb.LoadBalancerTable,
				UUIDName: nu,
				Row:      row,
			}
			if !nameGuard {
				// Without the name guard, the row's UUID is the guard
				// against ovnfwd's own second write of it: derived from
				// the name, so a batch sent again after it committed
				// (its answer lost with the connection) fails with
				// "duplicate uuid" (an index lookup), writing nothing.
				ins.UUID = lbUUIDFor(op.Name)
			}
			i := t.add(fmt.Sprintf("insert Load_Balancer %s", op.Name), ins)
			inserted[op.Name] = i
			t.expect = append(t.expect, expectation{kind: expectLB, insert: i, vips: nonNil(op.VIPs)})
			t.creates = append(t.creates, createdLB{name: op.Name, insert: i})

		case fwdsync.OpAttachRouter, fwdsync.OpAttachSwitch:
			tbl := targetTable(op.Kind)
			lb := op.UUID
			e := expectation{kind: expectInSet, table: tbl, target: op.Target}
			if lb == "" {
				nu, ok := named[op.Name]
				if !ok {
					return nil, fmt.Errorf("%s of %q: no UUID and no create of that name in the change", op.Kind, op.Name)
				}
				lb = nu
				e.insert = inserted[op.Name]
				for j := range t.creates {
					if t.creates[j].name == op.Name {
						t.creates[j].targets = append(t.creates[j].targets, setTarget{tbl, op.Target})
					}
				}
			} else {
				e.lb = lb
				if op.Name != "" && !lbGuarded[lb] {
					lbGuarded[lb] = true
					t.add(fmt.Sprintf("guard: Load_Balancer %s is still %s", lb, op.Name),
						waitRowHas(nbdb.LoadBalancerTable, lb, "name", op.Name))
				}
			}
			if op.TargetName != "" && !targetGuarded[op.Target] {
				targetGuarded[op.Target] = true
				t.add(fmt.Sprintf("guard: %s %s is still %s", tbl, op.Target, op.TargetName),
					waitRowHas(tbl, op.Target, "name", op.TargetName))
			}
			t.add(fmt.Sprintf("attach %s to %s %s", op.Name, tbl, targetName(op)),
				setMutate(tbl, op.Target, lb, ovsdb.MutateOperationInsert))
			t.expect = append(t.expect, e)
		}
	}
	return t, nil
}

func targetName(op fwdsync.Op) string {
	if op.TargetName != "" {
		return op.TargetName
	}
	return op.Target
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func validateOps(ops []fwdsync.Op) error {
	creates := map[string]bool{}
	for i, op := range ops {
		bad := func(format string, a ...any) error {
			return fmt.Errorf("op %d (%s %q): %s", i+1, op.Kind, op.Name, fmt.Sprintf(format, a...))
		}
		switch op.Kind {
		case fwdsync.OpCreateLB:
			if op.Name == "" {
				return bad("no name")
			}
			if creates[op.Name] {
				return bad("created twice in one change")
			}
			creates[op.Name] = true
		case fwdsync.OpUpdateLB, fwdsync.OpDeleteLB, fwdsync.OpDetachRouter, fwdsync.OpDetachSwitch:
			if !ovsdb.IsValidUUID(op.UUID) {
				return bad("invalid row UUID %q", op.UUID)
			}
		case fwdsync.OpAttachRouter, fwdsync.OpAttachSwitch:
			if op.UUID != "" && !ovsdb.IsValidUUID(op.UUID) {
				return bad("invalid row UUID %q", op.UUID)
			}
		default:
			return bad("unknown op kind")
		}
		switch op.Kind {
		case fwdsync.OpCreateLB, fwdsync.OpUpdateLB:
			switch op.Protocol {
			case "", "tcp", "udp", "sctp":
			default:
				return bad("invalid protocol %q", op.Protocol)
			}
		case fwdsync.OpAttachRouter, fwdsync.OpAttachSwitch, fwdsync.OpDetachRouter, fwdsync.OpDetachSwitch:
			if !ovsdb.IsValidUUID(op.Target) {
				return bad("invalid target UUID %q", op.Target)
			}
		case fwdsync.OpDeleteLB:
			for _, u := range slices.Concat(op.Routers, op.Switches) {
				if !ovsdb.IsValidUUID(u) {
					return bad("invalid router/switch UUID %q", u)
				}
			}
		}
	}
	return nil
}

// check turns the results into nil, an ErrConflict or another error.
func (t *txn) check(res []ovsdb.OperationResult) error {
	opErrs, err := ovsdb.CheckOperationResults(res, t.ops)
	if err == nil {
		return nil
	}
	for _, oe := range opErrs {
		desc := "operation"
		for i := range t.ops {
			if &t.ops[i] == oe.Operation() {
				desc = fmt.Sprintf("op %d (%s)", i+1, t.descs[i])
			}
		}
		if isConflict(oe) {
			return fmt.Errorf("%w: %s: %v", ErrConflict, desc, oe)
		}
		return fmt.Errorf("%s: %w", desc, oe)
	}
	// No failed operation: the commit itself failed (the extra result).
	if isConflict(err) {
		return fmt.Errorf("%w: commit: %v", ErrConflict, err)
	}
	return fmt.Errorf("commit: %w", err)
}

func isConflict(err error) bool {
	var (
		timedOut   *ovsdb.TimedOut
		refInteg   *ovsdb.ReferentialIntegrityViolation
		constraint *ovsdb.ConstraintViolation
		other      *ovsdb.Error
	)
	return errors.As(err, &timedOut) || errors.As(err, &refInteg) || errors.As(err, &constraint) ||
		// A row with the UUID a batch derives from a name exists: the
		// batch (or that row) was written already.
		(errors.As(err, &other) && (other.Error() == "duplicate uuid" || strings.HasPrefix(other.Error(), "duplicate uuid:")))
}

// lbNamespace is the namespace of the UUIDs a batch derives from
// Load_Balancer names (RFC 9562 version 5).
var lbNamespace = [16]byte{0x6f, 0x76, 0x6e, 0x66, 0x77, 0x64, 0x4c, 0x42, 0x8a, 0x3e, 0x51, 0x0c, 0x2b, 0x9d, 0x47, 0x12}

// lbUUIDFor is the UUID a batch gives the Load_Balancer row it creates
// under name: a version 5 UUID of the name.
func lbUUIDFor(name string) string {
	h := sha1.New()
	h.Write(lbNamespace[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// reflected reports whether the replica shows the applied change.
func (t *txn) reflected(tc *cache.TableCache, res []ovsdb.OperationResult) bool {
	if tc == nil {
		return true // closed
	}
	lbs := tc.Table(nbdb.LoadBalancerTable)
	// A router's or switch's load_balancer column holds every forward's
	// rows (20,000 at 10,000 forwards) and the cache hands out deep
	// copies: read each target once per call, not once per expectation.
	sets := map[string]map[string]bool{}
	for _, e := range t.expect {
		lb := e.lb
		if lb == "" && e.insert < len(res) {
			lb = res[e.insert].UUID.GoUUID
		}
		switch e.kind {
		case expectLB:
			row, ok := lbs.Row(lb).(*nbdb.LoadBalancer)
			if !ok || !maps.Equal(nonNil(row.Vips), e.vips) {
				return false
			}
		case expectNoLB:
			if lbs.HasRow(lb) {
				return false
			}
		case expectInSet, expectNotInSet:
			set, seen := sets[e.target]
			if !seen {
				if col, ok := lbColumn(tc, e.table, e.target); ok {
					set = make(map[string]bool, len(col))
					for _, u := range col {
						set[u] = true
					}
				}
				sets[e.target] = set // nil: the row is not in the replica
			}
			if set != nil && set[lb] != (e.kind == expectInSet) {
				return false
			}
		}
	}
	return true
}

// lbColumn returns the load_balancer column of a router or switch; false if
// the row is not in the replica.
func lbColumn(tc *cache.TableCache, table, u string) ([]string, bool) {
	switch r := tc.Table(table).Row(u).(type) {
	case *nbdb.LogicalRouter:
		return r.LoadBalancer, true
	case *nbdb.LogicalSwitch:
		return r.LoadBalancer, true
	}
	return nil, false
}

// Barrier makes a point northd must pass: it increments NB_Global.nb_cfg
// and reads the new value back in one transaction, then waits until the
// replica's NB_Global.sb_cfg reaches it (northd has written everything up to
// the barrier to SB). It returns the new nb_cfg, which chassis report in
// SB Chassis_Private.nb_cfg once they have processed it too. timeout bounds
// the whole call; when it expires the error wraps ErrBarrierTimeout.
func (n *NB) Barrier(ctx context.Context, timeout time.Duration) (int, error) {
	if n.c.readOnly {
		return 0, fmt.Errorf("barrier: %w", ErrReadOnly)
	}
	if n.c.closed.Load() {
		return 0, fmt.Errorf("barrier: %w", ErrClosed)
	}
	if !n.Connected() {
		return 0, fmt.Errorf("barrier: %w", ErrNotConnected)
	}
	g := n.nbGlobal()
	if g == nil {
		return 0, errors.New("barrier: NB has no NB_Global row (is ovn-northd running?)")
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ops := barrierOps(g.UUID)
	n.txns.Add(1)
	res, err := n.c.cl.Transact(tctx, ops...)
	if err != nil {
		n.failed.Add(1)
		if ctx.Err() == nil && tctx.Err() != nil {
			return 0, fmt.Errorf("barrier: transact: %w (%w)", ErrBarrierTimeout, err)
		}
		return 0, fmt.Errorf("barrier: transact: %w", err)
	}
	if _, err := ovsdb.CheckOperationResults(res, ops); err != nil {
		n.failed.Add(1)
		return 0, fmt.Errorf("barrier: %w", err)
	}
	cfg, err := selectedInt(res[1], "nb_cfg")
	if err != nil {
		return 0, fmt.Errorf("barrier: %w", err)
	}
	ok := n.c.waitFor(tctx, timeout, func() bool {
		g := n.nbGlobal()
		return g != nil && g.SbCfg >= cfg
	})
	if !ok {
		if ctx.Err() != nil {
			return cfg, fmt.Errorf("barrier nb_cfg=%d: %w", cfg, ctx.Err())
		}
		return cfg, fmt.Errorf("barrier nb_cfg=%d after %s: %w", cfg, timeout, ErrBarrierTimeout)
	}
	return cfg, nil
}

// barrierOps increments nb_cfg of NB_Global row g and selects it. (The
// where clause names the row: libovsdb drops an empty "where", which
// ovsdb-server requires for mutate.)
func barrierOps(g string) []ovsdb.Operation {
	return []ovsdb.Operation{
		{
			Op:        ovsdb.OperationMutate,
			Table:     nbdb.NBGlobalTable,
			Where:     uuidCond(g),
			Mutations: []ovsdb.Mutation{{Column: "nb_cfg", Mutator: ovsdb.MutateOperationAdd, Value: 1}},
		},
		{
			Op:      ovsdb.OperationSelect,
			Table:   nbdb.NBGlobalTable,
			Where:   uuidCond(g),
			Columns: []string{"nb_cfg"},
		},
	}
}

func selectedInt(r ovsdb.OperationResult, column string) (int, error) {
	if len(r.Rows) != 1 {
		return 0, fmt.Errorf("select %s: got %d rows, want 1", column, len(r.Rows))
	}
	switch v := r.Rows[0][column].(type) {
	case float64:
		return int(v), nil
	case int:
		return v, nil
	default:
		return 0, fmt.Errorf("select %s: unexpected value %v (%T)", column, v, v)
	}
}

// nbGlobal returns the replica's NB_Global row (the smallest UUID if, oddly,
// there are several).
func (n *NB) nbGlobal() *nbdb.NBGlobal {
	var g *nbdb.NBGlobal
	for _, r := range rowsOf(n.c.cache(), nbdb.NBGlobalTable) {
		if x := r.(*nbdb.NBGlobal); g == nil || x.UUID < g.UUID {
			g = x
		}
	}
	return g
}
