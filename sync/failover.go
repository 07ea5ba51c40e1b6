package sync

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// DefaultClaimDebounce is how long a new holder (or no holder) of a gateway
// port must last before it counts. Measured on the test bed (OVN 23.03,
// ovn-failover-facts.md §2, testbed-facts.md): a failover moves the claim
// in 0.25–3 s, a returning gateway takes it back in 1.2–2.3 s while a
// lower-priority chassis may hold it for a few ms, and ovn-controller
// postpones claiming a port another chassis claimed less than 500 ms ago,
// so under a BFD partition two gateways swap it about every 500 ms. One
// second is above both the few-ms transients and the 500 ms swaps (a
// partition never looks stable), and adds at most 1 s to a failover.
const DefaultClaimDebounce = time.Second

// ClaimKind says what a stable change of a gateway port's holder was.
type ClaimKind string

const (
	// ClaimAcquired: the first chassis seen holding the port (it was
	// unclaimed when tracking began).
	ClaimAcquired ClaimKind = "acquired"
	// ClaimFailover: a chassis other than the last holder holds it.
	ClaimFailover ClaimKind = "failover"
	// ClaimRestored: the last holder holds it again after a stable loss.
	ClaimRestored ClaimKind = "restored"
	// ClaimLost: nobody holds it.
	ClaimLost ClaimKind = "lost"
)

// ClaimEvent is one stable change of the holder of a gateway port
// (cr-<prefix>-lr-lrp-ext).
type ClaimEvent struct {
	Port string
	// Prefix is the network's OVN prefix ("" if Port is not named like a
	// gateway port).
	Prefix string
	Kind   ClaimKind
	// From is the stable holder before, To the new one; "" is nobody.
	From, To string
	// Previous is the last chassis that held the port stably before To
	// ("" if none was seen); it differs from From only when From is "".
	Previous string
	// At is when To was first observed, Confirmed when it had lasted the
	// debounce window (At + Debounce).
	At, Confirmed time.Time
	// Unclaimed is how long nobody held the port between Previous losing it
	// and At (for ClaimLost: until Confirmed). When tracking began
	// unclaimed, it counts from the first observation.
	Unclaimed time.Duration
	// Flaps counts the holder changes between From and To that did not
	// last (A→B→A→C gives 2).
	Flaps int
}

// ClaimTracker follows the holder of gateway ports and reports a change
// once it has lasted Debounce: a swap back within the window (A→B→A) is no
// change, and the first observation of a port only sets its holder. It
// reads no clock: every call gets the time, which must not go backwards.
// It is not safe for concurrent use.
type ClaimTracker struct {
	// Debounce is the stability window; 0 or less reports every change at
	// once.
	Debounce time.Duration

	ports map[string]*claimState
}

// claimState is the tracking of one port.
type claimState struct {
	// stable is the holder as last confirmed, since stableAt.
	stable   string
	stableAt time.Time
	// previous is the last non-empty stable holder.
	previous string
	// cur is the last observed holder, since curAt.
	cur   string
	curAt time.Time
	// unclaimed sums the closed unclaimed spans since previous lost it.
	unclaimed time.Duration
	// changes counts observed holder changes since the last stable change.
	changes int
	last    *ClaimEvent
	failure *ClaimEvent
}

// ClaimStatus is what a tracker knows about one port.
type ClaimStatus struct {
	// Holder is the stable holder ("" nobody), since Since.
	Holder string
	Since  time.Time
	// Current is the last observed holder, since CurrentSince; it differs
	// from Holder while a change is within the debounce window.
	Current      string
	CurrentSince time.Time
	// Changes counts the holder changes observed since Holder was
	// confirmed; a high count means the claim is flapping.
	Changes int
}

// Observe records that chassis ("" for nobody) holds port at now and
// returns every change of any port that became stable by now, sorted by
// confirmation time and port.
func (t *ClaimTracker) Observe(now time.Time, port, chassis string) []ClaimEvent {
	events := t.Tick(now)
	if t.ports == nil {
		t.ports = map[string]*claimState{}
	}
	st := t.ports[port]
	if st == nil {
		t.ports[port] = &claimState{stable: chassis, stableAt: now, previous: chassis, cur: chassis, curAt: now}
		return events
	}
	if chassis == st.cur {
		return events
	}
	if st.cur == "" {
		st.unclaimed += now.Sub(st.curAt)
	}
	st.cur, st.curAt = chassis, now
	st.changes++
	if chassis == st.stable && chassis != "" {
		// Back to the holder within the window: the gap never counted.
		st.unclaimed = 0
	}
	if t.Debounce <= 0 && st.cur != st.stable {
		events = append(events, t.promote(port, st, now))
	}
	return events
}

// ObserveSB observes the holder of every gateway port in sb (chassisredirect
// ports named cr-<prefix>-lr-lrp-ext) and forgets tracked ports sb no
// longer has. It returns what Observe returns.
func (t *ClaimTracker) ObserveSB(now time.Time, sb SBState) []ClaimEvent {
	events := t.Tick(now)
	seen := map[string]bool{}
	for _, pb := range sb.PortBindings {
		if pb.Type != "chassisredirect" {
			continue
		}
		if _, ok := GatewayPrefix(pb.LogicalPort); !ok {
			continue
		}
		seen[pb.LogicalPort] = true
		events = append(events, t.Observe(now, pb.LogicalPort, pb.Chassis)...)
	}
	for port := range t.ports {
		if !seen[port] {
			delete(t.ports, port)
		}
	}
	sortEvents(events)
	return events
}

// Tick returns the changes that became stable by now without a new
// observation (call it Debounce after an observation).
func (t *ClaimTracker) Tick(now time.Time) []ClaimEvent {
	var events []ClaimEvent
	for port, st := range t.ports {
		if st.cur != st.stable && now.Sub(st.curAt) >= t.Debounce {
			events = append(events, t.promote(port, st, st.curAt.Add(max(t.Debounce, 0))))
		}
	}
	sortEvents(events)
	return events
}

// promote makes the current holder of port stable, confirmed at confirmed.
func (t *ClaimTracker) promote(port string, st *claimState, confirmed time.Time) ClaimEvent {
	prefix, _ := GatewayPrefix(port)
	ev := ClaimEvent{
		Port: port, Prefix: prefix,
		From: st.stable, To: st.cur, Previous: st.previous,
		At: st.curAt, Confirmed: confirmed,
		Unclaimed: st.unclaimed,
		Flaps:     max(st.changes-1, 0),
	}
	switch {
	case st.cur == "":
		ev.Kind = ClaimLost
		ev.Unclaimed += confirmed.Sub(st.curAt)
	case st.previous == "":
		ev.Kind = ClaimAcquired
	case st.previous == st.cur:
		ev.Kind = ClaimRestored
	default:
		ev.Kind = ClaimFailover
	}
	st.stable, st.stableAt = st.cur, st.curAt
	if st.cur != "" {
		st.previous = st.cur
		st.unclaimed = 0
	}
	st.changes = 0
	st.last = &ev
	if ev.Kind == ClaimFailover {
		st.failure = &ev
	}
	return ev
}

// Status returns what the tracker knows about port; false if it is not
// tracked.
func (t *ClaimTracker) Status(port string) (ClaimStatus, bool) {
	st := t.ports[port]
	if st == nil {
		return ClaimStatus{}, false
	}
	return ClaimStatus{Holder: st.stable, Since: st.stableAt, Current: st.cur, CurrentSince: st.curAt, Changes: st.changes}, true
}

// UnclaimedFor is how long port has been observed unclaimed without a
// break, at now (HANetwork.UnclaimedFor); 0 if it is held or not tracked.
// It ignores the debounce window.
func (t *ClaimTracker) UnclaimedFor(now time.Time, port string) time.Duration {
	st := t.ports[port]
	if st == nil || st.cur != "" {
		return 0
	}
	return max(now.Sub(st.curAt), 0)
}

// Last returns the last stable change of port, of any kind.
func (t *ClaimTracker) Last(port string) (ClaimEvent, bool) {
	if st := t.ports[port]; st != nil && st.last != nil {
		return *st.last, true
	}
	return ClaimEvent{}, false
}

// LastFailover returns the last ClaimFailover of port.
func (t *ClaimTracker) LastFailover(port string) (ClaimEvent, bool) {
	if st := t.ports[port]; st != nil && st.failure != nil {
		return *st.failure, true
	}
	return ClaimEvent{}, false
}

// Forget stops tracking port (its network was deleted).
func (t *ClaimTracker) Forget(port string) { delete(t.ports, port) }

// Ports returns the tracked ports, sorted.
func (t *ClaimTracker) Ports() []string { return sortedKeys(t.ports) }

func sortEvents(evs []ClaimEvent) {
	slices.SortFunc(evs, func(a, b ClaimEvent) int {
		return cmp.Or(a.Confirmed.Compare(b.Confirmed), strings.Compare(a.Port, b.Port))
	})
}
