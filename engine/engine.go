package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"go.uber.org/zap"

	"github.com/ovnfwd/ovnfwd/ovn"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// engine runs plan → apply → verify, for everything (a pass) or for one
// forward. The rules live in sync/; the engine only moves data between the
// adapters and the planner, and keeps the last known state for the daemon.
// Its methods are called from one goroutine; the status accessors are safe
// for concurrent use.
type Engine struct {
	lxd     LXD
	nb      NB
	sb      SB   // nil: no SB part of the chain
	nbOnly  bool // verify in NB only (SB, if any, serves the HA groups)
	opts    fwdsync.Options
	log     *zap.Logger
	metrics *metrics  // nil in one-shot commands
	dryRun  bool      // log changes instead of applying them
	ha      *HAConfig // nil: no HA chassis group hygiene
	// prefetch served the first listing, when set (check).
	prefetch *Prefetch
	// busy reports Load_Balancer names changed in NB so recently that
	// another writer may be mid-way; changes touching them are skipped
	// (errBusy) and retried when the name is quiet. nil: never busy.
	busy func(name string) bool
	// ownKeysMayGo reports busy names on which a change that sets only
	// options (Change.SetsOnlyOptions) may go ahead anyway: rows a server
	// that writes each forward in one transaction inserted while northd
	// was behind (Daemon.holdServerWrites). nil: none.
	ownKeysMayGo func(name string) bool

	// mayWrite reports whether this engine may write NB now: false on a
	// standby member (another member holds the writer lock). nil: always.
	// Checked before every write, so a writer whose lease ran out stops at
	// once; a standby's passes plan and verify without writing.
	mayWrite func() bool
	// singleDeletes counts the rows deleted by single-forward reconciles
	// (LXD said 404) since the last full pass, against the deletion budget.
	singleDeletes int
	// awaitingLXD reports forwards LXD announced (created or updated)
	// moments ago: their missing rows are LXD's to write first. nil: none.
	awaitingLXD func(key fwdsync.ForwardKey) bool
	// appeared is told of every forward a full pass finds listed that the
	// listing before it did not have (not on the first listing): LXD
	// 5.0.x lists a new forward, then sends its event, then writes its
	// rows, so a pass may meet it before its event does. nil: none.
	appeared func(key fwdsync.ForwardKey)
	// deletedMomentsAgo reports Load_Balancer rows deleted in NB moments
	// ago: LXD and Incus delete a forward's rows before their own record,
	// so the forward is still listed for a moment and its deletion event
	// may follow. nil: none.
	deletedMomentsAgo func(name string) bool
	// deferred: the last forwardClean wrote nothing because its changes
	// are postponed (busy rows) or the writer's (standby).
	deferred bool
	// postponed are the row names whose changes were skipped as busy
	// since takePostponed was last called: their queued NB changes must
	// survive the pass that skipped them.
	postponed map[string]bool
	// judgeMembers: report members whose ovnfwd differs from the writer's
	// (member-config-mismatch); the daemon does, one-shot commands not.
	judgeMembers bool

	// BarrierTimeout bounds the northd barrier after applying changes.
	barrierTimeout time.Duration

	// emptySince: since when listings have held no OVN network although
	// the last believed one had some; believed after emptyConfirm (worker
	// goroutine only; see pass).
	emptySince   time.Time
	emptyConfirm time.Duration

	// kept are the forwards the last full pass kept from an earlier
	// listing because their network's listing did not complete (guarded
	// by mu).
	kept []fwdsync.ForwardKey

	// The LXD cluster members last read (haveMembers: read at least
	// once), for the HA passes between full passes; guarded by mu.
	lastMembers []fwdsync.Member
	haveMembers bool

	// whileLXD, when set, runs on the worker's goroutine every lxdTick while
	// an LXD read (a full pass's, or one forward's re-read) is outstanding:
	// the daemon keeps
	// judging the gateway claims and HA groups from NB/SB meanwhile, since
	// LXD's API hangs for as long as its cluster database is unreachable —
	// an underlay outage, exactly when the gateways are at risk. nil (the
	// one-shot commands): reads simply block. inLXDWait is set during the
	// wait (worker goroutine only).
	whileLXD  func(ctx context.Context)
	inLXDWait bool
	// unannounced, when set, names the gateway ports whose new holder may
	// not be reachable from the uplink yet (VerifyInput.Unannounced): the
	// daemon's view of the claims and announcements. nil: none.
	unannounced func() map[string]string

	// Last full LXD listing, kept current by per-forward re-reads.
	lxdState fwdsync.LXDState
	forwards map[fwdsync.ForwardKey]fwdsync.Forward
	// Prefix → network, from the last plan's mappings.
	prefixes map[string]fwdsync.NetworkRef
	mappings map[fwdsync.NetworkRef]fwdsync.Mapping
	desired  map[fwdsync.ForwardKey]fwdsync.DesiredForward
	lastCfg  int // nb_cfg of the last barrier
	// uplinkCfg is the config of the listed networks' uplinks (default
	// project) by name, re-read in every full pass when the LXD source can
	// (uplinkSource): routed ingress and LXD's own BGP peers are judged
	// from it, and route state takes it from here.
	uplinkCfg map[string]map[string]string

	// verdicts of the last full verification, with what it saw: a claim
	// change re-judges only the gateway part while the rows generations
	// are unchanged (regate).
	verdicts     *fwdsync.Verdicts
	verdictGen   [2]uint64 // NB, SB rows generations before its snapshots
	verdictPlanF []fwdsync.Finding
	verdictRoute []fwdsync.Finding

	mu         gosync.Mutex
	statuses   map[fwdsync.ForwardKey]fwdsync.ForwardStatus
	verified   map[fwdsync.ForwardKey]map[string]map[string]string // rows behind each status
	findings   []fwdsync.Finding
	haFindings []fwdsync.Finding
	synced     bool
}

// Config configures an engine.
type Config struct {
	LXD LXD
	NB  NB
	// SB is nil when only NB is judged and no HA group either.
	SB SB
	// NBOnly verifies the forwards in NB only (check without --deep: SB
	// holds only the gateway part, for the HA groups).
	NBOnly  bool
	Options fwdsync.Options
	// HA turns on HA chassis group hygiene (it needs SB); nil: off.
	HA     *HAConfig
	Logger *zap.Logger
	// Prefetch, when set, serves the first LXD listing (read while NB and
	// SB were dialed); check then confirms any finding with an ordered
	// pass. It wraps LXD and replaces it.
	Prefetch *Prefetch
}

// New builds an engine.
func New(cfg Config) *Engine {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	e := &Engine{
		lxd: cfg.LXD, nb: cfg.NB, sb: cfg.SB, nbOnly: cfg.NBOnly, opts: cfg.Options, log: cfg.Logger, ha: cfg.HA,
		barrierTimeout: 5 * time.Second,
		emptyConfirm:   10 * time.Second,
		forwards:       map[fwdsync.ForwardKey]fwdsync.Forward{},
		prefixes:       map[string]fwdsync.NetworkRef{},
		statuses:       map[fwdsync.ForwardKey]fwdsync.ForwardStatus{},
		verified:       map[fwdsync.ForwardKey]map[string]map[string]string{},
		desired:        map[fwdsync.ForwardKey]fwdsync.DesiredForward{},
	}
	if cfg.Prefetch != nil {
		e.lxd, e.prefetch = cfg.Prefetch, cfg.Prefetch
	}
	return e
}

// PassResult is what one full pass saw and did.
type PassResult struct {
	Plan     fwdsync.Result
	Applied  []fwdsync.Change
	Failed   []error
	Statuses []fwdsync.ForwardStatus
	Findings []fwdsync.Finding // plan findings + verification findings
	Barrier  int
}

// errLXDListing marks a pass that could not list LXD: nothing was changed.
var errLXDListing = errors.New("LXD listing failed")

// pass lists LXD, plans against NB, applies the plan when apply is set,
// then verifies. Nothing is deleted unless the LXD listing of that network
// completed in this pass (sync enforces it through LXDState.Complete).
func (e *Engine) pass(ctx context.Context, apply bool) (PassResult, error) {
	return e.passWith(ctx, apply, true)
}

// passWith is pass; with apply, a pass that wrote nothing takes a northd
// barrier only if idleBarrier is set (else it verifies against the last).
func (e *Engine) passWith(ctx context.Context, apply, idleBarrier bool) (PassResult, error) {
	var pr PassResult
	// NB first, then LXD: a forward LXD creates or deletes in between then
	// looks missing (the create is guarded) or already gone, never stale.
	nbs := e.nb.Snapshot()
	var st fwdsync.LXDState
	err := e.readLXD(ctx, func(ctx context.Context) (err error) {
		st, err = e.lxd.List(ctx)
		return err
	})
	if err == nil && len(st.Networks) == 0 && len(e.lxdState.Networks) > 0 {
		// Every OVN network gone at once is not believed at once: a
		// clustered LXD that is stopping lists none for a while (its
		// database closing) although nothing was deleted. Listings that
		// agree for emptyConfirm are (the daemon retries every 2 s).
		if e.emptySince.IsZero() {
			e.emptySince = time.Now()
		}
		if held := time.Since(e.emptySince); held < e.emptyConfirm {
			err = fmt.Errorf("LXD listed none of the %d OVN networks it listed before, for %v: not believed before %v",
				len(e.lxdState.Networks), held.Round(time.Millisecond), e.emptyConfirm)
		}
	} else if err == nil {
		e.emptySince = time.Time{}
	}
	if err != nil {
		e.markAll(fwdsync.StateDegraded, "LXD unreachable: "+err.Error())
		return pr, fmt.Errorf("%w: %v", errLXDListing, err)
	}
	prev, listedBefore := e.forwards, e.lxdState.Networks != nil
	e.singleDeletes = 0
	e.setLXD(st)
	if e.appeared != nil && listedBefore {
		for k := range e.forwards {
			if _, ok := prev[k]; !ok {
				e.appeared(k)
			}
		}
	}
	e.readUplinks(ctx, st.Networks)
	// A network whose listing failed (LXD going down, one call erroring):
	// its forwards are missing from st, but nothing about them is known to
	// have changed. Keep the last known copies so they are neither
	// forgotten nor judged, and report them degraded below.
	listed := make(map[fwdsync.NetworkRef]bool, len(st.Networks))
	for _, n := range st.Networks {
		listed[n.Ref()] = true
	}
	var kept []fwdsync.ForwardKey
	for k, f := range prev {
		// A network LXD no longer lists is gone: its forwards are
		// forgotten (their rows are then stale under the normal rules).
		if ref := (fwdsync.NetworkRef{Project: k.Project, Name: k.Network}); listed[ref] && !st.Complete[ref] {
			if _, ok := e.forwards[k]; !ok {
				e.forwards[k] = f
				kept = append(kept, k)
			}
		}
	}
	res, err := e.planAll(ctx, st, nbs)
	if err != nil {
		return pr, err
	}
	pr.Plan = res
	if e.metrics != nil {
		e.metrics.observeFindings(res.Findings, false)
		if res.BudgetExceeded {
			e.metrics.budgetHeld.Inc()
		}
	}
	if apply && len(res.Changes) > 0 {
		pr.Applied, pr.Failed = e.applyAll(ctx, res.Changes)
		if e.metrics != nil {
			e.metrics.observeRepairs(res.Findings, pr.Applied)
		}
		// Re-plan from the state we just wrote, so verification sees it.
		if res, err = e.planAll(ctx, st, e.nb.Snapshot()); err != nil {
			return pr, err
		}
		pr.Plan = res
	}
	switch {
	case apply && (len(pr.Applied) > 0 || idleBarrier):
		pr.Barrier = e.barrier(ctx)
	case apply:
		pr.Barrier = e.lastCfg
	}
	e.mu.Lock()
	e.kept = kept
	e.mu.Unlock()
	pr.Statuses, pr.Findings = e.verify(res, nil)
	e.mu.Lock()
	for _, k := range kept {
		pr.Statuses = append(pr.Statuses, e.statuses[k])
	}
	e.synced = true
	e.mu.Unlock()
	return pr, nil
}

// forward re-plans and applies one forward; the caller verifies it (after
// a barrier, with verifyKeys). read says whether the forward is re-read
// from LXD first. A concurrent change (ErrConflict) re-reads and re-plans,
// up to three times.
func (e *Engine) forward(ctx context.Context, key fwdsync.ForwardKey, read lxdRead) (applied bool, err error) {
	applied, _, err = e.forwardClean(ctx, key, read)
	return applied, err
}

// lxdRead says when a single-forward reconcile re-reads the forward from
// LXD.
type lxdRead int

const (
	// readCached plans from the copy of the last read.
	readCached lxdRead = iota
	// readIfDirty re-reads only when the cached copy's plan would change
	// NB or finds something (an NB change: it may be LXD's own write whose
	// event has not arrived yet, which the cached copy must not undo).
	readIfDirty
	// readFresh always re-reads (an LXD event: events are hints).
	readFresh
)

// forwardClean is forward that also reports whether the last plan found the
// forward's NB rows exactly as desired (no change, no finding).
func (e *Engine) forwardClean(ctx context.Context, key fwdsync.ForwardKey, read lxdRead) (applied, clean bool, err error) {
	e.deferred = false
	ref := fwdsync.NetworkRef{Project: key.Project, Name: key.Network}
	m, ok := e.mappings[ref]
	if !ok || m.Err != "" {
		return false, false, errNeedsFullPass
	}
	names := []string{fwdsync.LBName(m.Prefix, key.ListenAddress, "tcp"), fwdsync.LBName(m.Prefix, key.ListenAddress, "udp")}
	for attempt := 0; ; attempt++ {
		if read == readFresh || attempt > 0 {
			var f *fwdsync.Forward
			var exists bool
			err := e.readLXD(ctx, func(ctx context.Context) (err error) {
				f, exists, err = e.lxd.Forward(ctx, key.Project, key.Network, key.ListenAddress)
				return err
			})
			if err != nil {
				return applied, false, fmt.Errorf("re-read forward %s: %w", keyString(key), err)
			}
			if exists {
				e.forwards[key] = *f
			} else {
				delete(e.forwards, key)
			}
		}
		res, err := fwdsync.PlanForwards(e.scopedLXD(key), e.nb.SnapshotFor(names), e.opts, []fwdsync.ForwardKey{key})
		if err != nil {
			return applied, false, err
		}
		clean = len(res.Changes) == 0 && len(res.Findings) == 0
		if read == readIfDirty && attempt == 0 && !clean {
			// Not as the cached copy wants it: ask LXD before acting
			// (this attempt does not count against the conflict retries).
			read = readFresh
			attempt--
			continue
		}
		if e.metrics != nil {
			e.metrics.observeFindings(res.Findings, true)
		}
		if d, ok := res.Desired[key]; ok {
			e.desired[key] = d
		} else {
			delete(e.desired, key)
			e.mu.Lock()
			delete(e.statuses, key)
			delete(e.verified, key)
			e.mu.Unlock()
		}
		if n := countOps(res.Changes, fwdsync.OpDeleteLB); n > 0 && e.opts.DeletionBudget >= 0 {
			if e.singleDeletes+n > e.opts.DeletionBudget {
				e.log.Warn("deletions held back: single-forward deletions since the last full pass exceed --deletion-budget; a full pass judges them",
					zap.String("forward", keyString(key)), zap.Int("deletions", e.singleDeletes+n), zap.Int("budget", e.opts.DeletionBudget))
				return applied, false, errNeedsFullPass
			}
			e.singleDeletes += n
		}
		var conflict error
		for _, ch := range res.Changes {
			if err := e.applyChange(ctx, ch); err != nil {
				if errors.Is(err, ovn.ErrConflict) {
					conflict = err
					break
				}
				if errors.Is(err, errBusy) || errors.Is(err, errStandby) {
					e.deferred = !applied
					return applied, false, nil
				}
				return applied, false, err
			}
			applied = true
			if e.metrics != nil {
				e.metrics.observeRepairs(res.Findings, []fwdsync.Change{ch})
			}
		}
		if conflict == nil {
			return applied, clean, nil
		}
		if attempt >= 3 {
			return applied, false, conflict
		}
		e.log.Debug("concurrent change, re-planning", zap.String("forward", keyString(key)), zap.Error(conflict))
	}
}

// verifyKeys verifies the given forwards (as last read from LXD) against
// current NB and SB, and records their states.
func (e *Engine) verifyKeys(keys []fwdsync.ForwardKey) []fwdsync.ForwardStatus {
	var live []fwdsync.ForwardKey
	names := make([]string, 0, 2*len(keys))
	st := fwdsync.LXDState{Server: e.lxdState.Server, Networks: e.lxdState.Networks, LoadBalancers: e.lxdState.LoadBalancers}
	for _, k := range keys {
		f, ok := e.forwards[k]
		m, mapped := e.mappings[fwdsync.NetworkRef{Project: k.Project, Name: k.Network}]
		if !ok || !mapped || m.Err != "" {
			continue
		}
		st.Forwards = append(st.Forwards, f)
		live = append(live, k)
		names = append(names, fwdsync.LBName(m.Prefix, k.ListenAddress, "tcp"), fwdsync.LBName(m.Prefix, k.ListenAddress, "udp"))
	}
	if len(live) == 0 {
		return nil
	}
	res, err := fwdsync.PlanForwards(st, e.nb.SnapshotFor(names), e.opts, live)
	if err != nil {
		e.log.Error("verify", zap.Error(err))
		return nil
	}
	sts, _ := e.verify(res, live)
	return sts
}

// planAll plans the forwards and the HA chassis groups of their networks;
// HA changes and findings are appended to the forwards'.
func (e *Engine) planAll(ctx context.Context, st fwdsync.LXDState, nbs fwdsync.NBState) (fwdsync.Result, error) {
	res, err := fwdsync.Plan(st, nbs, e.opts)
	if err != nil {
		return res, err
	}
	e.setPlan(res)
	haChanges, haFindings := e.planHA(ctx, res.Mappings, nbs, true)
	res.Changes = append(res.Changes, haChanges...)
	res.Findings = append(res.Findings, haFindings...)
	e.mu.Lock()
	e.haFindings = haFindings
	e.mu.Unlock()
	return res, nil
}

// errNeedsFullPass: the forward's network is not mapped yet.
var errNeedsFullPass = errors.New("network not mapped yet: full pass needed")

// applyBatchSize is the least number of forwards' changes that share one
// transaction in a pass: a restored NB needs thousands of creates, and one
// round trip and replica wait per forward would take minutes.
const applyBatchSize = 500

// applyMaxBatches bounds the transactions of one pass's batches: every
// transaction that attaches load balancers costs ovsdb-server time in
// proportion to the router's and switch's whole load_balancer sets (and
// northd one recompute), so a fixed batch size makes a cold repair
// quadratic in the number of forwards. With at most this many
// transactions it stays linear (issue 14's cost curve).
const applyMaxBatches = 20

// batchSize is the forwards per transaction for a pass of n changes.
func batchSize(n int) int { return max(applyBatchSize, (n+applyMaxBatches-1)/applyMaxBatches) }

// bulkCreates is the number of creates in a pass above which its batches
// go without per-name guards (ovn.NB.ApplyBulk): each guard makes
// ovsdb-server scan the whole Load_Balancer table, which is negligible
// for a few creates and quadratic for a restored NB. Below it, a batch
// never makes two rows of one name, even for a moment.
var bulkCreates = 256

// reconnectWait bounds how long a pass waits for a lost NB connection to
// come back before it gives up the changes it could not send (an
// ovsdb-server busy for seconds with a large database, or restarting).
var reconnectWait = 60 * time.Second

// reconnected reports whether err is a write that found the NB connection
// gone and the client connected again within reconnectWait (the caller
// then retries or re-plans: the write may have landed).
func (e *Engine) reconnected(ctx context.Context, err error) bool {
	if !errors.Is(err, ovn.ErrNotConnected) {
		return false
	}
	e.log.Info("NB connection lost during a write; waiting for it to come back", zap.Duration("up to", reconnectWait), zap.Error(err))
	if !e.nb.WaitConnected(ctx, reconnectWait) {
		e.log.Warn("NB connection not back; the changes not sent are given up", zap.Duration("waited", reconnectWait))
		return false
	}
	return true
}

// applyAll applies a pass's changes: forward changes in batches (one
// transaction each; a batch that fails is retried change by change, so a
// concurrent edit only costs its own forward), HA changes one by one.
// Changes touching busy rows are skipped.
func (e *Engine) applyAll(ctx context.Context, changes []fwdsync.Change) (applied []fwdsync.Change, failed []error) {
	applied, rest, replan, down := e.tryBatches(ctx, changes)
	if len(replan) > 0 {
		// The pass that follows the reconnect re-plans them.
		failed = append(failed, fmt.Errorf("%d changes lost with the NB connection: %w", len(replan), ovn.ErrNotConnected))
	}
	for i, ch := range rest {
		err := ovn.ErrNotConnected
		if !down {
			err = e.applyChange(ctx, ch)
		}
		if err != nil {
			if errors.Is(err, ovn.ErrNotConnected) {
				// The rest would fail the same way; the pass that follows
				// the reconnect re-plans them.
				failed = append(failed, fmt.Errorf("%w (and %d more changes not sent)", err, len(rest)-i-1))
				break
			}
			if !errors.Is(err, errBusy) && !errors.Is(err, errStandby) {
				failed = append(failed, err)
			}
			continue
		}
		applied = append(applied, ch)
	}
	return applied, failed
}

// tryBatches applies forward changes batchSize at a time, one
// transaction per batch. It returns what it applied; rest, what is left to
// apply one by one: HA changes, the changes of batches that failed, and
// the changes of a batch undone because another writer created a row of
// the same name meanwhile (ovn.BatchConflictError); replan, the changes of
// batches lost with the NB connection, which came back: such a batch may
// or may not have committed, and a batch carries no per-name guard, so it
// is re-planned from the refilled replica, never sent again as it was.
// down: the connection did not come back within reconnectWait; nothing
// more was sent. Changes touching busy rows are dropped.
func (e *Engine) tryBatches(ctx context.Context, changes []fwdsync.Change) (applied, rest, replan []fwdsync.Change, down bool) {
	var batch []fwdsync.Change
	size := batchSize(len(changes))
	apply := e.nb.ApplyBatch
	if countOps(changes, fwdsync.OpCreateLB) > bulkCreates {
		apply = e.nb.ApplyBulk
	}
	flush := func() {
		switch {
		case len(batch) == 0:
		case len(batch) == 1 || e.dryRun || !e.writing() || down:
			rest = append(rest, batch...)
		default:
			err := apply(ctx, batch)
			if errors.Is(err, ovn.ErrNotConnected) {
				if e.reconnected(ctx, err) {
					replan = append(replan, batch...)
				} else {
					down = true
					rest = append(rest, batch...)
				}
				break
			}
			var raced *ovn.BatchConflictError
			if errors.As(err, &raced) {
				// Committed, except the changes whose creates met a
				// same-named row another writer made meanwhile: those
				// were undone and go one by one (their guard then sees
				// the other row: a conflict, re-planned).
				e.log.Info("batch applied; some creates met rows another writer created meanwhile", zap.Int("changes", len(batch)), zap.Int("undone", len(raced.Changes)), zap.Error(err))
				undone := map[int]bool{}
				for _, i := range raced.Changes {
					undone[i] = true
				}
				var landed []fwdsync.Change
				for i, ch := range batch {
					if undone[i] {
						rest = append(rest, ch)
					} else {
						landed = append(landed, ch)
					}
				}
				batch, err = landed, nil
			}
			if err != nil {
				e.log.Info("batch failed; applying its changes one by one", zap.Int("changes", len(batch)), zap.Error(err))
				rest = append(rest, batch...)
				break
			}
			for _, ch := range batch {
				e.log.Info("repaired", zap.String("project", ch.Key.Project), zap.String("network", ch.Key.Network),
					zap.String("listen", ch.Key.ListenAddress), zap.String("ops", opsString(ch.Ops)))
			}
			applied = append(applied, batch...)
		}
		batch = nil
	}
	for _, ch := range changes {
		switch {
		case len(ch.Ops) > 0 && fwdsync.IsHAOp(ch.Ops[0].Kind):
			rest = append(rest, ch)
		case e.isBusy(ch):
		default:
			batch = append(batch, ch)
			if len(batch) == size {
				flush()
			}
		}
	}
	flush()
	return applied, rest, replan, down
}

func (e *Engine) isBusy(ch fwdsync.Change) bool {
	for _, op := range ch.Ops {
		// LXD announced this forward moments ago and writes its rows
		// itself right after: creating them first only races it.
		if op.Kind == fwdsync.OpCreateLB && e.awaitingLXD != nil && e.awaitingLXD(ch.Key) {
			e.log.Debug("postponed: LXD writes this forward's rows itself moments after its event", zap.String("forward", keyString(ch.Key)))
			if e.postponed == nil {
				e.postponed = map[string]bool{}
			}
			e.postponed[op.Name] = true
			return true
		}
		if op.Kind == fwdsync.OpCreateLB && e.deletedMomentsAgo != nil && e.deletedMomentsAgo(op.Name) {
			e.log.Debug("postponed: row deleted moments ago; the server's deletion event may follow", zap.String("forward", keyString(ch.Key)), zap.String("row", op.Name))
			if e.postponed == nil {
				e.postponed = map[string]bool{}
			}
			e.postponed[op.Name] = true
			return true
		}
		if e.busy == nil {
			continue
		}
		if e.busy(op.Name) && !(e.ownKeysMayGo != nil && e.ownKeysMayGo(op.Name) && ch.SetsOnlyOptions()) {
			if e.postponed == nil {
				e.postponed = map[string]bool{}
			}
			e.postponed[op.Name] = true
			e.log.Debug("postponed: row changed moments ago", zap.String("forward", keyString(ch.Key)), zap.String("row", op.Name))
			return true
		}
	}
	return false
}

// errBusy: the change touches a row another writer changed moments ago.
var errBusy = errors.New("row changed moments ago; retried once quiet")

// takePostponed returns and forgets the names skipped as busy.
func (e *Engine) takePostponed() map[string]bool {
	p := e.postponed
	e.postponed = nil
	return p
}

// errStandby: this member is not the writer; another member applies it.
var errStandby = errors.New("not the NB writer")

// writing reports whether this engine may write NB now.
func (e *Engine) writing() bool { return e.mayWrite == nil || e.mayWrite() }

// countOps counts the changes' operations of one kind (OpDeleteLB: the
// Load_Balancer rows they delete).
func countOps(chs []fwdsync.Change, kind fwdsync.OpKind) int {
	n := 0
	for _, ch := range chs {
		for _, op := range ch.Ops {
			if op.Kind == kind {
				n++
			}
		}
	}
	return n
}

func (e *Engine) applyChange(ctx context.Context, ch fwdsync.Change) error {
	if e.isBusy(ch) {
		return errBusy
	}
	if !e.writing() {
		e.log.Debug("standby: the writer applies it", zap.String("forward", keyString(ch.Key)), zap.String("ops", opsString(ch.Ops)))
		return errStandby
	}
	if e.dryRun {
		e.log.Info("dry run: would apply", zap.String("forward", keyString(ch.Key)), zap.String("ops", opsString(ch.Ops)))
		return nil
	}
	err := e.nb.Apply(ctx, ch)
	if err != nil {
		e.log.Warn("apply failed", zap.String("forward", keyString(ch.Key)), zap.String("ops", opsString(ch.Ops)), zap.Error(err))
		return fmt.Errorf("forward %s: %w", keyString(ch.Key), err)
	}
	e.log.Info("repaired", zap.String("project", ch.Key.Project), zap.String("network", ch.Key.Network),
		zap.String("listen", ch.Key.ListenAddress), zap.String("ops", opsString(ch.Ops)))
	return nil
}

// barrier waits until northd has processed everything written so far and
// the SB replica shows it.
func (e *Engine) barrier(ctx context.Context) int {
	if !e.writing() {
		// A standby writes nothing, nb_cfg included: it verifies against
		// the last config the writer published.
		e.observeBarrier()
		return e.lastCfg
	}
	cfg, err := e.nb.Barrier(ctx, e.barrierTimeout)
	if err != nil {
		e.log.Warn("northd barrier", zap.Error(err))
		if cfg > e.lastCfg {
			// The bump was written; only the wait for northd ran out.
			// Verification must still judge against it: with the
			// previous config a chassis that has not processed the
			// changes would pass as current.
			e.lastCfg = cfg
		}
		return e.lastCfg
	}
	e.lastCfg = cfg
	if e.sb != nil && !e.sb.WaitNBCfg(ctx, cfg, e.barrierTimeout) {
		e.log.Warn("southbound replica did not reach the barrier", zap.Int("nb_cfg", cfg))
	}
	return cfg
}

// verify runs the SB part of the chain for the plan's forwards (only: a
// subset) and records their states.
func (e *Engine) verify(res fwdsync.Result, only []fwdsync.ForwardKey) ([]fwdsync.ForwardStatus, []fwdsync.Finding) {
	gen, genOK := e.rowsGenerations() // before the snapshots: a later change shows
	in := fwdsync.VerifyInput{Barrier: e.lastCfg, Unannounced: e.unannouncedNow()}
	var names []string // only: the rows of those forwards, not all 20,000
	if only == nil {
		in.NB = e.nb.Snapshot()
	} else {
		names = make([]string, 0, 2*len(only))
		for _, k := range only {
			if d, ok := res.Desired[k]; ok {
				for _, lb := range d.LBs {
					names = append(names, lb.Name)
				}
			}
		}
		in.NB = e.nb.SnapshotFor(names)
	}
	switch {
	case e.sb == nil || e.nbOnly:
		in.NBOnly = true
	case only != nil:
		in.SB = e.sb.SnapshotFor(names)
	default:
		in.SB = e.sb.Snapshot()
	}
	sts, vf, vs := fwdsync.VerifyVerdicts(res, in)
	rf := e.routeFindings(res)
	findings := mergeFindings(res.Findings, append(vf, rf...))
	if only == nil && genOK && !in.NBOnly {
		e.verdicts, e.verdictGen, e.verdictPlanF, e.verdictRoute = &vs, gen, res.Findings, rf
	}
	e.mu.Lock()
	if only == nil {
		e.statuses = make(map[fwdsync.ForwardKey]fwdsync.ForwardStatus, len(sts)+len(e.kept))
		e.verified = make(map[fwdsync.ForwardKey]map[string]map[string]string, len(sts))
		e.findings = findings
	}
	for _, s := range sts {
		e.statuses[s.Key] = s
		rows := map[string]map[string]string{}
		for _, lb := range res.Desired[s.Key].LBs {
			rows[lb.Name] = lb.VIPs
		}
		e.verified[s.Key] = rows
	}
	if only == nil {
		// Forwards of a network whose last listing did not complete are
		// not judged, but not gone either: every whole verification (a
		// full pass, or a re-verification after SB changes) keeps
		// reporting them, degraded.
		for _, k := range e.kept {
			e.statuses[k] = fwdsync.ForwardStatus{Key: k, State: fwdsync.StateDegraded,
				Reason: "LXD listing of network " + k.Network + " did not complete: last known forward kept, nothing deleted"}
		}
	}
	e.mu.Unlock()
	if e.metrics != nil {
		e.metrics.setStates(e.stateCounts())
	}
	return sts, findings
}

// routeFindings judges how the uplinks reach the plan's forwards, with the
// uplinks' config of the last full pass: vip-unanswered (L2; a routed
// uplink needs no ARP/ND answers) and, when ovnfwd announces over BGP
// (opts.Routes), lxd-bgp-also-announces and route-no-next-hop for every
// network in the route policy's scope, whichever chassis holds it.
func (e *Engine) routeFindings(res fwdsync.Result) []fwdsync.Finding {
	fs := fwdsync.UnansweredVIPs(res, e.lxdState.Networks, e.uplinkCfg)
	fs = append(fs, e.addressFindings()...)
	if e.opts.Routes == nil {
		return fs
	}
	rf, err := fwdsync.RouteFindings(*e.opts.Routes, fwdsync.RouteInput{
		Desired: res.Desired, Mappings: res.Mappings, Networks: e.lxdState.Networks, Uplinks: e.uplinkCfg})
	if err != nil { // the flags were validated: never
		e.log.Error("route findings", zap.Error(err))
		return fs
	}
	return append(fs, rf...)
}

// addressFindings judges the forwards' listen addresses against their
// uplinks' address plan (listen-outside-routes, listen-is-instance-address,
// listen-overlap, forward-has-location), with the last full listing's
// networks, load balancers and instance addresses and the forwards as
// last read.
func (e *Engine) addressFindings() []fwdsync.Finding {
	fwds := make([]fwdsync.Forward, 0, len(e.forwards))
	for _, f := range e.forwards {
		fwds = append(fwds, f)
	}
	return fwdsync.AddressFindings(fwdsync.AddressInput{
		Networks: e.lxdState.Networks, Forwards: fwds, LoadBalancers: e.lxdState.LoadBalancers,
		Instances: e.lxdState.Instances, Uplinks: e.uplinkCfg})
}

// readUplinks re-reads the config of every uplink of nets (read-only);
// an uplink that cannot be read keeps its last known config, one that no
// longer exists has none.
func (e *Engine) readUplinks(ctx context.Context, nets []fwdsync.Network) {
	out := map[string]map[string]string{}
	seen := map[string]bool{}
	for _, n := range nets {
		name := strings.TrimSpace(n.Config["network"])
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		var cfg map[string]string
		var exists bool
		err := e.readLXD(ctx, func(ctx context.Context) (err error) {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			cfg, exists, err = e.lxd.NetworkConfig(cctx, "default", name)
			return err
		})
		switch {
		case err != nil:
			e.log.Warn("cannot read uplink config; judging routes with the last known one", zap.String("uplink", name), zap.Error(err))
			if c, ok := e.uplinkCfg[name]; ok {
				out[name] = c
			}
		case exists:
			out[name] = cfg
		}
	}
	e.uplinkCfg = out
}

func (e *Engine) unannouncedNow() map[string]string {
	if e.unannounced == nil {
		return nil
	}
	return e.unannounced()
}

// lastMembersRead returns the LXD cluster members last read (nil before).
func (e *Engine) lastMembersRead() []fwdsync.Member {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastMembers
}

// lxdTick is how often whileLXD runs while an LXD read is outstanding.
const lxdTick = 250 * time.Millisecond

// readLXD runs read, one LXD read of a pass. With whileLXD set, the read
// runs on its own goroutine (it must only fill the caller's variables) and
// whileLXD runs here every lxdTick until it returns.
func (e *Engine) readLXD(ctx context.Context, read func(context.Context) error) error {
	if e.whileLXD == nil || e.inLXDWait {
		return read(ctx)
	}
	done := make(chan error, 1)
	go func() { done <- read(ctx) }()
	t := time.NewTicker(lxdTick)
	defer t.Stop()
	e.inLXDWait = true
	defer func() { e.inLXDWait = false }()
	for {
		select {
		case err := <-done:
			return err
		case <-t.C:
			e.whileLXD(ctx)
		}
	}
}

// rowsGenerations returns the NB and SB rows generations; false when the
// stores do not count them (then regate never applies).
func (e *Engine) rowsGenerations() ([2]uint64, bool) {
	if e.sb == nil {
		return [2]uint64{}, false
	}
	return [2]uint64{e.nb.RowsGeneration(), e.sb.RowsGeneration()}, true
}

// gatewaySnapshot is the SB state without its Load_Balancer and
// Address_Set rows (20,000 at 10,000 forwards) when the store can leave
// them out: for HA groups and claims.
func (e *Engine) gatewaySnapshot() fwdsync.SBState {
	return e.sb.GatewaySnapshot()
}

// verdictsCurrent reports whether the last full verification's verdicts
// still describe the rows: no NB or SB row they rest on changed since.
func (e *Engine) verdictsCurrent() bool {
	gen, ok := e.rowsGenerations()
	return ok && e.verdicts != nil && gen == e.verdictGen
}

// regate re-verifies every forward after a gateway claim or chassis change
// when nothing else changed: the rows verdicts of the last full
// verification are re-judged against the current claims, chassis and
// barrier (issue 5: the new holder's nb_cfg must have reached the barrier
// of the forwards' last change; the SB rows are known unchanged). false:
// something else changed, use reverify.
func (e *Engine) regate() ([]fwdsync.ForwardStatus, bool) {
	if e.sb == nil || !e.verdictsCurrent() {
		return nil, false
	}
	nbs := e.nb.SnapshotFor(nil) // nb_cfg, sb_cfg
	in := fwdsync.VerifyInput{NB: fwdsync.NBState{NBCfg: nbs.NBCfg, SBCfg: nbs.SBCfg, HVCfg: nbs.HVCfg},
		SB: e.sb.GatewaySnapshot(), Barrier: e.lastCfg, Unannounced: e.unannouncedNow()}
	sts, vf := e.verdicts.Regate(in)
	findings := mergeFindings(e.verdictPlanF, append(vf, e.verdictRoute...))
	e.mu.Lock()
	for _, s := range sts {
		e.statuses[s.Key] = s
	}
	e.findings = findings
	e.mu.Unlock()
	if e.metrics != nil {
		e.metrics.setStates(e.stateCounts())
	}
	return sts, true
}

// reverify recomputes every known forward's state from current snapshots
// (after SB changes) without touching LXD.
func (e *Engine) reverify() []fwdsync.ForwardStatus {
	if !e.isSynced() {
		return nil
	}
	res, err := fwdsync.Plan(e.cachedLXD(), e.nb.Snapshot(), e.opts)
	if err != nil {
		return nil
	}
	sts, _ := e.verify(res, nil)
	return sts
}

func (e *Engine) setLXD(st fwdsync.LXDState) {
	e.lxdState = st
	e.forwards = make(map[fwdsync.ForwardKey]fwdsync.Forward, len(st.Forwards))
	for _, f := range st.Forwards {
		e.forwards[f.Key()] = f
	}
}

func (e *Engine) setPlan(res fwdsync.Result) {
	e.mappings = res.Mappings
	e.desired = res.Desired
	if e.desired == nil {
		e.desired = map[fwdsync.ForwardKey]fwdsync.DesiredForward{}
	}
	e.prefixes = make(map[string]fwdsync.NetworkRef, len(res.Mappings))
	for ref, m := range res.Mappings {
		if m.Err == "" && m.Prefix != "" {
			e.prefixes[m.Prefix] = ref
		}
	}
}

// scopedLXD is the cached listing reduced to one forward, with its network
// marked complete: the forward was just read (or found absent) from LXD.
func (e *Engine) scopedLXD(key fwdsync.ForwardKey) fwdsync.LXDState {
	st := fwdsync.LXDState{
		Server:        e.lxdState.Server,
		Networks:      e.lxdState.Networks,
		LoadBalancers: e.lxdState.LoadBalancers,
		Complete:      map[fwdsync.NetworkRef]bool{{Project: key.Project, Name: key.Network}: true},
	}
	if f, ok := e.forwards[key]; ok {
		st.Forwards = []fwdsync.Forward{f}
	}
	return st
}

func (e *Engine) cachedLXD() fwdsync.LXDState {
	st := e.lxdState
	st.Forwards = make([]fwdsync.Forward, 0, len(e.forwards))
	for _, f := range e.forwards {
		st.Forwards = append(st.Forwards, f)
	}
	return st
}

// keyForLB maps a Load_Balancer name back to its forward, using the last
// known prefix mappings; ok is false for foreign names.
func (e *Engine) keyForLB(name string) (fwdsync.ForwardKey, bool) {
	family := "lxd-net"
	if e.lxdState.Server.Kind == "incus" {
		family = "incus-net"
	}
	prefix, addr, _, ok := fwdsync.ParseLBName(family, name)
	if !ok {
		return fwdsync.ForwardKey{}, false
	}
	ref, ok := e.prefixes[prefix]
	if !ok {
		return fwdsync.ForwardKey{}, false
	}
	return fwdsync.ForwardKey{Project: ref.Project, Network: ref.Name, ListenAddress: addr}, true
}

func (e *Engine) markAll(s fwdsync.State, reason string) {
	e.mu.Lock()
	for k, st := range e.statuses {
		st.State, st.Reason = s, reason
		e.statuses[k] = st
	}
	e.mu.Unlock()
	if e.metrics != nil {
		e.metrics.setStates(e.stateCounts())
	}
}

func (e *Engine) isSynced() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.synced
}

func (e *Engine) stateCounts() map[fwdsync.State]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := map[fwdsync.State]int{}
	for _, s := range e.statuses {
		c[s.State]++
	}
	return c
}

// status returns one forward's last state.
func (e *Engine) status(key fwdsync.ForwardKey) (fwdsync.ForwardStatus, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.statuses[key]
	return s, ok
}

// alreadyVerified reports whether the forward's last verification found it
// ok against exactly the rows desired now: a trigger that changed nothing
// (LXD's event for the write whose NB notification was handled already)
// needs no new barrier.
func (e *Engine) alreadyVerified(key fwdsync.ForwardKey) bool {
	d, ok := e.desired[key]
	if !ok {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.statuses[key]; !ok || s.State != fwdsync.StateOK {
		return false
	}
	rows := e.verified[key]
	if len(rows) != len(d.LBs) {
		return false
	}
	for _, lb := range d.LBs {
		v, ok := rows[lb.Name]
		if !ok || !maps.Equal(v, lb.VIPs) {
			return false
		}
	}
	return true
}

// verifiedRows returns the rows (name → VIPs) a forward's state was
// verified against.
func (e *Engine) verifiedRows(key fwdsync.ForwardKey) map[string]map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.verified[key]
}

// currentFindings returns the last full verification's findings and the
// latest HA findings.
func (e *Engine) currentFindings() []fwdsync.Finding {
	e.mu.Lock()
	defer e.mu.Unlock()
	return mergeFindings(e.findings, e.haFindings)
}

// pendingKeys returns the forwards not verified ok.
func (e *Engine) pendingKeys() []fwdsync.ForwardKey {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []fwdsync.ForwardKey
	for k, s := range e.statuses {
		if s.State != fwdsync.StateOK {
			out = append(out, k)
		}
	}
	return out
}

// allStatuses returns every forward's last state, sorted.
func (e *Engine) allStatuses() []fwdsync.ForwardStatus {
	e.mu.Lock()
	out := make([]fwdsync.ForwardStatus, 0, len(e.statuses))
	for _, s := range e.statuses {
		out = append(out, s)
	}
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b fwdsync.ForwardStatus) int { return fwdsync.CompareKeys(a.Key, b.Key) })
	return out
}

// mergeFindings joins plan and verification findings; Verify re-reports the
// NB findings of each forward, which are kept once.
func mergeFindings(plan, verify []fwdsync.Finding) []fwdsync.Finding {
	type id struct {
		key    fwdsync.ForwardKey
		cat    fwdsync.Category
		detail string
	}
	seen := make(map[id]bool, len(plan))
	out := make([]fwdsync.Finding, 0, len(plan)+len(verify))
	for _, list := range [][]fwdsync.Finding{plan, verify} {
		for _, f := range list {
			k := id{f.Key, f.Category, f.Detail}
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, f)
		}
	}
	return out
}

func keyString(k fwdsync.ForwardKey) string {
	p := k.Project
	if p == "" {
		p = "default"
	}
	return p + "/" + k.Network + "/" + k.ListenAddress
}

func opsString(ops []fwdsync.Op) string {
	parts := make([]string, 0, len(ops))
	for _, op := range ops {
		s := string(op.Kind) + " " + op.Name
		if op.TargetName != "" {
			s += " → " + op.TargetName
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// Networks returns the OVN networks of the last LXD listing.
func (e *Engine) Networks() []fwdsync.Network { return e.lxdState.Networks }

// Forwards returns the forwards of the last LXD listing.
func (e *Engine) Forwards() []fwdsync.Forward { return e.lxdState.Forwards }

// Instances returns the instance NIC addresses of the last full listing.
func (e *Engine) Instances() []fwdsync.InstanceNIC { return e.lxdState.Instances }
