package engine

import (
	"slices"
	gosync "sync"
	"time"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// workItem is one reconcile request for a forward.
type workItem struct {
	key     fwdsync.ForwardKey
	read    lxdRead   // whether to re-read the forward from LXD
	trigger string    // metrics label
	since   time.Time // when the first trigger reached ovnfwd (latency start)
	// eventAt is when an LXD event for the forward reached ovnfwd (zero:
	// none), the start of event → verified.
	eventAt time.Time
	tries   int
}

// queue coalesces reconcile requests: one pending full pass, one pending
// re-verification, and at most one item per forward (the earliest trigger
// time wins, a fresh re-read is sticky). A single worker drains it, so no
// two reconciles of one forward ever run at once.
type queue struct {
	mu          gosync.Mutex
	wake        chan struct{}
	full        string   // trigger of the pending full pass, "" if none
	fullAlso    []string // the other triggers it serves (coalesced)
	fullAt      time.Time
	reverify    bool // every forward (a claim or chassis changed)
	reverifyPen bool // only forwards not verified ok yet
	ha          bool // an HA-groups-only pass
	items       map[fwdsync.ForwardKey]*workItem
	order       []fwdsync.ForwardKey
	// names are Load_Balancer names changed in NB, resolved to forwards by
	// the worker (it owns the prefix mappings).
	names map[string]nameChange
}

// nameChange is a queued NB change of a Load_Balancer name.
type nameChange struct {
	at time.Time // the latest change
	// inserted: a row of that name was inserted since the name was last
	// taken, as a server writing a forward does (see take).
	inserted bool
	// server: the change has the shape of a server's own write of a
	// forward (a row inserted, or deleted), which LXD makes with
	// ovn-nbctl --wait=sb before its database: the worker holds it while
	// northd is behind NB (Daemon.holdServerWrites).
	server bool
	// cfg: the NB_Global.nb_cfg northd must reach before a held change is
	// released (0: not held yet).
	cfg int
	// queued: when it was last queued (at, or later for a retry such as
	// the deletion grace's).
	queued time.Time
	// due, when set, replaces at + settle.
	due time.Time
	// ownKeys: while held, a change that only sets what ovnfwd owns in
	// the row (its options; the server's VIPs, protocol and attachments
	// untouched) may go ahead (queue.heldForServer): it cannot undo the
	// server's write whatever the server's database says yet.
	ownKeys bool
}

func newQueue() *queue {
	return &queue{wake: make(chan struct{}, 1), items: map[fwdsync.ForwardKey]*workItem{}, names: map[string]nameChange{}}
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue) addFull(trigger string) {
	q.mu.Lock()
	switch {
	case q.full == "":
		q.full, q.fullAt = trigger, time.Now()
	case trigger != q.full && !slices.Contains(q.fullAlso, trigger):
		// One pass serves both: still recorded, so that each trigger's
		// pass shows in the metrics and the log (the writer's first
		// pass, LXD's stream connected).
		q.fullAlso = append(q.fullAlso, trigger)
	}
	q.mu.Unlock()
	q.signal()
}

// addFullAfter queues a full pass after a delay (retry).
func (q *queue) addFullAfter(trigger string, d time.Duration) {
	time.AfterFunc(d, func() { q.addFull(trigger) })
}

// addHA queues a pass over the HA chassis groups alone.
func (q *queue) addHA() {
	q.mu.Lock()
	q.ha = true
	q.mu.Unlock()
	q.signal()
}

// addName queues a changed Load_Balancer name with the time of its latest
// change.
func (q *queue) addName(name string) {
	q.mu.Lock()
	c := q.names[name]
	c.at = time.Now()
	c.queued = c.at
	q.names[name] = c
	q.mu.Unlock()
	q.signal()
}

// addInserted queues a name of which a row was just inserted: it is held
// for the longer of the two settle times (see take) until taken.
func (q *queue) addInserted(name string) {
	q.mu.Lock()
	now := time.Now()
	q.names[name] = nameChange{at: now, queued: now, inserted: true, server: true}
	q.mu.Unlock()
	q.signal()
}

// addNameChangedAt queues a Load_Balancer name changed at the given time
// (a retry of a change postponed until then; server: see nameChange),
// unless a later change of it is queued.
func (q *queue) addNameChangedAt(name string, at time.Time, server bool) {
	q.mu.Lock()
	if cur, ok := q.names[name]; !ok || cur.at.Before(at) {
		q.names[name] = nameChange{at: at, queued: time.Now(), inserted: cur.inserted, server: server || cur.server}
	}
	q.mu.Unlock()
	q.signal()
}

// heldForServer reports whether a name is held as a server's own row
// insert whose changes may still set ovnfwd's own keys (nameChange.ownKeys).
func (q *queue) heldForServer(name string) bool {
	q.mu.Lock()
	c, ok := q.names[name]
	q.mu.Unlock()
	return ok && c.ownKeys
}

// busy reports whether a Load_Balancer name changed in NB less than the
// settle time ago: someone (LXD) may be in the middle of writing it, so
// nothing acts on it until it is quiet; its queued name triggers a fresh
// reconcile then.
func (q *queue) busy(name string) bool {
	q.mu.Lock()
	_, ok := q.names[name]
	q.mu.Unlock()
	return ok
}

// addReverify queues a re-verification of every forward (all) or of the
// forwards not verified ok yet.
func (q *queue) addReverify(all bool) {
	q.mu.Lock()
	if all {
		q.reverify = true
	} else {
		q.reverifyPen = true
	}
	q.mu.Unlock()
	q.signal()
}

func (q *queue) add(it workItem) {
	q.mu.Lock()
	if cur, ok := q.items[it.key]; ok {
		cur.read = max(cur.read, it.read)
		if it.since.Before(cur.since) {
			cur.since = it.since
		}
		cur.eventAt = earliest(cur.eventAt, it.eventAt)
		if it.tries > cur.tries {
			cur.tries = it.tries
		}
	} else {
		c := it
		q.items[it.key] = &c
		q.order = append(q.order, it.key)
	}
	q.mu.Unlock()
	q.signal()
}

// addAfter re-queues an item after a delay (retry with backoff).
func (q *queue) addAfter(it workItem, d time.Duration) {
	time.AfterFunc(d, func() { q.add(it) })
}

// batch is what the worker takes from the queue in one go.
type batch struct {
	full            string   // trigger of a full pass, "" for none
	fullAlso        []string // the other triggers that pass serves
	reverifyAll     bool
	reverifyPending bool
	ha              bool
	names           map[string]time.Time // NB names changed at least settle ago
	// server: the names among them whose change may be a server's own
	// write, for the worker to hold while northd is behind.
	server map[string]nameChange
	items  []workItem
}

// settleTimes: how long an NB name must have been quiet before the worker
// acts on it — edited (any change) and inserted (a row of that name was
// inserted, as a server writing a forward does).
type settleTimes struct {
	edited, inserted time.Duration
}

// take returns everything pending and clears it. NB names changed less than
// their settle time ago stay queued (LXD writes its DB and NB in separate
// steps, and LXD ≥5.21.2 writes a forward in several NB transactions;
// reconciling in between would race it) and wake the worker when they are
// due.
func (q *queue) take(now time.Time, st settleTimes) batch {
	q.mu.Lock()
	defer q.mu.Unlock()
	b := batch{full: q.full, fullAlso: q.fullAlso, reverifyAll: q.reverify, reverifyPending: q.reverifyPen, ha: q.ha, names: map[string]time.Time{}, server: map[string]nameChange{}}
	q.full, q.fullAlso, q.reverify, q.reverifyPen, q.ha = "", nil, false, false, false
	var wait time.Duration
	for n, c := range q.names {
		settle := st.edited
		if c.inserted {
			settle = max(settle, st.inserted)
		}
		due := later(c.at.Add(settle), c.due)
		if due.After(now) {
			if w := due.Sub(now); wait == 0 || w < wait {
				wait = w
			}
			continue
		}
		b.names[n] = c.at
		if c.server {
			b.server[n] = c
		}
		delete(q.names, n)
	}
	if wait > 0 {
		time.AfterFunc(wait, q.signal)
	}
	b.items = make([]workItem, 0, len(q.order))
	for _, k := range q.order {
		b.items = append(b.items, *q.items[k])
	}
	q.items = map[fwdsync.ForwardKey]*workItem{}
	q.order = q.order[:0]
	return b
}

// hold puts back a name the worker took but holds (nameChange.cfg,
// nameChange.due), merged with any change of it queued since, and wakes
// the worker again after wait.
func (q *queue) hold(name string, c nameChange, wait time.Duration) {
	q.mu.Lock()
	if cur, ok := q.names[name]; ok {
		// Changed again meanwhile: the newer change, still held.
		c.at, c.inserted, c.due = cur.at, c.inserted || cur.inserted, later(c.due, cur.due)
		c.ownKeys = c.ownKeys && !cur.server // a newer insert or deletion: held in full
	}
	q.names[name] = c
	q.mu.Unlock()
	time.AfterFunc(wait, q.signal)
}

// release takes out the queued names for which match, given the name and
// the time of its latest change, is true (the worker re-reads their forward
// anyway: its server's event arrived, so the write is over) and returns
// them with their change times.
func (q *queue) release(match func(name string, at time.Time) bool) map[string]time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out map[string]time.Time
	for n, c := range q.names {
		if match(n, c.at) {
			if out == nil {
				out = map[string]time.Time{}
			}
			out[n] = c.at
			delete(q.names, n)
		}
	}
	return out
}

// later of two times, a zero time meaning "none".
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// Backoff returns the retry delay after n failed tries: 50 ms doubling to 30 s.
func Backoff(n int) time.Duration {
	d := 50 * time.Millisecond
	for i := 0; i < n && d < 30*time.Second; i++ {
		d *= 2
	}
	if d > 30*time.Second {
		d = 30 * time.Second
	}
	return d
}

// earliest of two times, a zero time meaning "none".
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// dropNamesBefore forgets the NB names changed before t: a full pass that
// read NB after t covered them (after a reconnect, libovsdb's refill would
// otherwise turn every row into its own reconcile), except those the pass
// skipped because they were busy: they still need their reconcile.
func (q *queue) dropNamesBefore(t time.Time, keep map[string]bool) {
	q.mu.Lock()
	for n, c := range q.names {
		if c.at.Before(t) && !keep[n] {
			delete(q.names, n)
		}
	}
	q.mu.Unlock()
}
