package engine

import (
	"context"
	"time"

	"github.com/ovnfwd/ovnfwd/lxdwatch"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// What the engine needs from its three sources of truth. lxdwatch.Client,
// ovn.NB and ovn.SB implement them; tests use fakes (engine/enginetest).
// Every method is required: nothing is discovered by type assertion.

// LXD is the read side of LXD.
type LXD interface {
	// List lists every forward of every OVN network, all projects.
	List(ctx context.Context) (fwdsync.LXDState, error)
	// Forward re-reads one forward; exists is false when LXD has none.
	Forward(ctx context.Context, project, network, listen string) (f *fwdsync.Forward, exists bool, err error)
	// Members lists the cluster members (one for a standalone server).
	Members(ctx context.Context) ([]fwdsync.Member, error)
	// NetworkConfig reads a network's config (uplinks); exists is false
	// when there is no such network.
	NetworkConfig(ctx context.Context, project, name string) (cfg map[string]string, exists bool, err error)
}

// NB is the OVN northbound database: a replica to read, a writer.
type NB interface {
	Snapshot() fwdsync.NBState
	// SnapshotFor holds only the named Load_Balancer rows (and the
	// topology); SnapshotFor(nil) is the cheap NB_Global/topology read.
	SnapshotFor(lbNames []string) fwdsync.NBState
	Apply(ctx context.Context, ch fwdsync.Change) error
	ApplyBatch(ctx context.Context, chs []fwdsync.Change) error
	// ApplyBulk is ApplyBatch without per-name create guards, for
	// thousands of creates (ovn.NB.ApplyBulk).
	ApplyBulk(ctx context.Context, chs []fwdsync.Change) error
	// Barrier bumps NB_Global.nb_cfg and waits for northd (sb_cfg).
	Barrier(ctx context.Context, timeout time.Duration) (int, error)
	// RowsGeneration changes whenever a row the verdicts rest on changes.
	RowsGeneration() uint64
	// WaitConnected waits, at most timeout, until the client is connected
	// again (its replica refilled after a reconnect); false if it is not.
	WaitConnected(ctx context.Context, timeout time.Duration) bool
}

// SB is the OVN southbound database replica.
type SB interface {
	Snapshot() fwdsync.SBState
	SnapshotFor(lbNames []string) fwdsync.SBState
	// GatewaySnapshot leaves out the Load_Balancer and Address_Set rows
	// (HA groups, claims, chassis).
	GatewaySnapshot() fwdsync.SBState
	// WaitNBCfg waits until the replica holds NB config cfg.
	WaitNBCfg(ctx context.Context, cfg int, timeout time.Duration) bool
	RowsGeneration() uint64
}

// The daemon also watches its sources.

// WatchedLXD is LXD with its event stream.
type WatchedLXD interface {
	LXD
	Watch(ctx context.Context, out chan<- lxdwatch.Event) error
	Connected() bool
	Reconnects() uint64
	Endpoint() string
	// Publish writes this member's user.ovnfwd.* cluster member config
	// (its chassis, version, policy, writer-since) and returns the member
	// name ("" when LXD is not clustered).
	Publish(ctx context.Context, kv map[string]string) (member string, err error)
}

// WatchedNB is NB with change notifications.
type WatchedNB interface {
	NB
	OnLoadBalancerChange(f func(name string))
	OnLoadBalancerDelete(f func(name string))
	OnLoadBalancerAdd(f func(name string))
	OnTopologyChange(f func())
	OnReconnect(f func())
	Connected() bool
	// NBCfgRoseAt is when NB_Global.nb_cfg last rose (zero: not since
	// the client connected): a write made with ovn-nbctl --wait bumps it
	// in the same transaction (ovn.NB.NBCfgRoseAt).
	NBCfgRoseAt() time.Time
}

// WatchedSB is SB with change notifications.
type WatchedSB interface {
	SB
	OnChange(f func(table string))
	OnClaimChange(f func(port, chassisUUID string))
	OnReconnect(f func())
	Connected() bool
}

// Sources are the daemon's connected sources, with their endpoints for logs.
type Sources struct {
	LXD                      WatchedLXD
	NB                       WatchedNB
	SB                       WatchedSB
	NBEndpoints, SBEndpoints []string
	// Election elects the one member that writes NB; nil: this daemon
	// always writes (a single member, or --writer-election=false).
	Election Election
}

// Election elects the one member that writes NB (ovn.Lock: an OVSDB lock on
// NB, the way ovn-northd elects its active instance).
type Election interface {
	// Run takes part until ctx ends, then lets go.
	Run(ctx context.Context) error
	// Held reports whether this member may write now.
	Held() bool
	// Changes reports every change of Held.
	Changes() <-chan bool
}
