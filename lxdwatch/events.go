package lxdwatch

import (
	"encoding/json"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/canonical/lxd/shared/api"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// EventKind says what an Event is about.
type EventKind int

// Event kinds. The zero value is not a valid kind.
const (
	// KindForward: a network forward changed; Key names it.
	KindForward EventKind = iota + 1
	// KindLoadBalancer: a network load balancer changed; Key names it.
	KindLoadBalancer
	// KindNetwork: a network changed; Network names it.
	KindNetwork
	// KindMember: a cluster member changed; Member names it.
	KindMember
	// KindResync: the event stream (re)connected; events may have been
	// missed, so everything must be re-read.
	KindResync
)

func (k EventKind) String() string {
	switch k {
	case KindForward:
		return "forward"
	case KindLoadBalancer:
		return "load-balancer"
	case KindNetwork:
		return "network"
	case KindMember:
		return "member"
	case KindResync:
		return "resync"
	}
	return "unknown"
}

// Event is a hint that something changed in LXD. Re-read the object: events
// carry no state, may be duplicated, reordered or lost.
type Event struct {
	Kind EventKind
	// Action is the LXD lifecycle action, e.g. "network-forward-updated";
	// "" for KindResync.
	Action string
	// Key names the forward or load balancer (KindForward, KindLoadBalancer).
	Key fwdsync.ForwardKey
	// Network names the network (all kinds but KindMember and KindResync).
	Network fwdsync.NetworkRef
	// Member is the cluster member name (KindMember).
	Member string
	// OldName is the previous name for "…-renamed" actions, when LXD says.
	OldName string
	// Received is when the first copy of the event arrived (set by Watch).
	Received time.Time
}

var actions = map[string]EventKind{
	api.EventLifecycleNetworkForwardCreated:      KindForward,
	api.EventLifecycleNetworkForwardUpdated:      KindForward,
	api.EventLifecycleNetworkForwardDeleted:      KindForward,
	api.EventLifecycleNetworkLoadBalancerCreated: KindLoadBalancer,
	api.EventLifecycleNetworkLoadBalancerUpdated: KindLoadBalancer,
	api.EventLifecycleNetworkLoadBalancerDeleted: KindLoadBalancer,
	api.EventLifecycleNetworkCreated:             KindNetwork,
	api.EventLifecycleNetworkUpdated:             KindNetwork,
	api.EventLifecycleNetworkDeleted:             KindNetwork,
	api.EventLifecycleNetworkRenamed:             KindNetwork,
	api.EventLifecycleClusterMemberAdded:         KindMember,
	api.EventLifecycleClusterMemberRemoved:       KindMember,
	api.EventLifecycleClusterMemberUpdated:       KindMember,
	api.EventLifecycleClusterMemberRenamed:       KindMember,
	"cluster-member-evacuated":                   KindMember, // LXD ≥ 5.x, not in 5.0
	"cluster-member-restored":                    KindMember,
}

// ParseLifecycle turns an LXD lifecycle event into an Event. ok is false for
// other event types, actions ovnfwd does not follow, and sources it cannot
// parse (a forward or load balancer source must end in an IP address). It
// names objects from metadata.source (the name fields are empty in LXD's
// network events); the project comes from its ?project= query, else the
// event envelope, else "default". Received is left zero.
func ParseLifecycle(ev api.Event) (Event, bool) {
	if ev.Type != api.EventTypeLifecycle {
		return Event{}, false
	}
	var lc api.EventLifecycle
	if err := json.Unmarshal(ev.Metadata, &lc); err != nil {
		return Event{}, false
	}
	kind, ok := actions[lc.Action]
	if !ok {
		return Event{}, false
	}
	u, err := url.Parse(lc.Source)
	if err != nil {
		return Event{}, false
	}
	var segs []string
	for _, s := range strings.Split(strings.Trim(u.EscapedPath(), "/"), "/") {
		s, err := url.PathUnescape(s)
		if err != nil {
			return Event{}, false
		}
		segs = append(segs, s)
	}
	project := u.Query().Get("project")
	if project == "" {
		project = ev.Project
	}
	if project == "" {
		project = lc.Project
	}
	if project == "" {
		project = "default"
	}

	out := Event{Kind: kind, Action: lc.Action}
	if old, ok := lc.Context["old_name"].(string); ok {
		out.OldName = old
	}
	switch kind {
	case KindForward, KindLoadBalancer:
		coll := "forwards"
		if kind == KindLoadBalancer {
			coll = "load-balancers"
		}
		if len(segs) != 5 || segs[0] != "1.0" || segs[1] != "networks" || segs[3] != coll || segs[2] == "" || segs[4] == "" {
			return Event{}, false
		}
		// A forward or load balancer is named by its listen address: a
		// source naming anything else is no event of one.
		listen := CanonicalIP(segs[4])
		if net.ParseIP(listen) == nil {
			return Event{}, false
		}
		out.Network = fwdsync.NetworkRef{Project: project, Name: segs[2]}
		out.Key = fwdsync.ForwardKey{Project: project, Network: segs[2], ListenAddress: listen}
	case KindNetwork:
		if len(segs) != 3 || segs[0] != "1.0" || segs[1] != "networks" || segs[2] == "" {
			return Event{}, false
		}
		out.Network = fwdsync.NetworkRef{Project: project, Name: segs[2]}
	case KindMember:
		if len(segs) != 4 || segs[0] != "1.0" || segs[1] != "cluster" || segs[2] != "members" || segs[3] == "" {
			return Event{}, false
		}
		out.Member = segs[3]
	}
	return out, true
}
