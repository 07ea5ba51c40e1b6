// Package enginetest has in-memory fakes of the engine's sources (LXD, NB,
// SB) and a drifted LXD 5.0.2 + OVN 23.03 fixture, for the tests of engine
// and of the commands that render its results.
package enginetest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ovnfwd/ovnfwd/ovn"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// LXD serves a fixed listing; Err makes every read fail.
type LXD struct {
	St      fwdsync.LXDState
	Err     error
	Rereads int
	// Uplinks answers NetworkConfig (nil: no network is found).
	Uplinks map[string]map[string]string
	// MemberList answers Members (nil: membership unknown to the tests).
	MemberList []fwdsync.Member
}

func (f *LXD) List(context.Context) (fwdsync.LXDState, error) {
	if f.Err != nil {
		return fwdsync.LXDState{}, f.Err
	}
	return f.St, nil
}

func (f *LXD) Forward(_ context.Context, project, network, listen string) (*fwdsync.Forward, bool, error) {
	f.Rereads++
	if f.Err != nil {
		return nil, false, f.Err
	}
	for _, fw := range f.St.Forwards {
		if fw.Project == project && fw.Network == network && fw.ListenAddress == listen {
			c := fw
			return &c, true, nil
		}
	}
	return nil, false, nil
}

// NB is an in-memory NB that applies sync ops the way ovn.NB does.
type NB struct {
	St        fwdsync.NBState
	Applied   int
	Conflicts int // fail this many Apply calls with ErrConflict first
	Batches   int
	// Disconnects fails this many Apply/ApplyBatch calls with
	// ovn.ErrNotConnected first; a failed call still writes when
	// LandedOnDisconnect is set (the transaction was in flight).
	Disconnects        int
	LandedOnDisconnect bool
	// MaxBatch is the largest batch ApplyBatch was given; WaitCalls counts
	// WaitConnected calls.
	MaxBatch  int
	WaitCalls int
	// ApplyCalls counts Apply calls (a change sent alone), failed ones too;
	// Bulks counts ApplyBulk calls (Batches counts them too).
	ApplyCalls int
	Bulks      int
	// Down makes WaitConnected report that the connection did not come back.
	Down bool
	// NorthdStalled: a barrier's bump is written but northd never reaches
	// it (Barrier times out).
	NorthdStalled bool
	// RaceCreates names rows another writer creates while the next batch
	// is in flight: ApplyBatch writes that row as the other writer's,
	// leaves the batch's change for it out and answers a
	// *ovn.BatchConflictError, as ovn.NB does.
	RaceCreates map[string]bool
	next        int
	gen         uint64
}

func (n *NB) Snapshot() fwdsync.NBState { return cloneNB(n.St) }

func (n *NB) SnapshotFor(names []string) fwdsync.NBState {
	s := cloneNB(n.St)
	s.LoadBalancers = slices.DeleteFunc(s.LoadBalancers, func(lb fwdsync.NBLoadBalancer) bool { return !slices.Contains(names, lb.Name) })
	return s
}

func (n *NB) Barrier(_ context.Context, d time.Duration) (int, error) {
	n.St.NBCfg++
	if n.NorthdStalled {
		return n.St.NBCfg, fmt.Errorf("barrier nb_cfg=%d after %s: %w", n.St.NBCfg, d, ovn.ErrBarrierTimeout)
	}
	n.St.SBCfg = n.St.NBCfg
	return n.St.NBCfg, nil
}

func cloneNB(s fwdsync.NBState) fwdsync.NBState {
	c := s
	c.LoadBalancers = slices.Clone(s.LoadBalancers)
	c.Routers = slices.Clone(s.Routers)
	for i := range c.Routers {
		c.Routers[i].LoadBalancers = slices.Clone(c.Routers[i].LoadBalancers)
	}
	c.Switches = slices.Clone(s.Switches)
	for i := range c.Switches {
		c.Switches[i].LoadBalancers = slices.Clone(c.Switches[i].LoadBalancers)
	}
	return c
}

// WaitConnected counts its calls; the fake is connected again at once
// unless Down.
func (n *NB) WaitConnected(context.Context, time.Duration) bool {
	n.WaitCalls++
	return !n.Down
}

// disconnect consumes one Disconnects; write says whether the call still
// writes.
func (n *NB) disconnect() (failed, write bool) {
	if n.Disconnects == 0 {
		return false, true
	}
	n.Disconnects--
	return true, n.LandedOnDisconnect
}

// ApplyBatch is one transaction with every guard: a raced create
// (RaceCreates) fails it whole, writing nothing of it.
func (n *NB) ApplyBatch(ctx context.Context, chs []fwdsync.Change) error {
	return n.applyBatch(ctx, chs, true)
}

// ApplyBulk has no per-name guard: a raced create is undone after the
// commit (*ovn.BatchConflictError), the rest stays.
func (n *NB) ApplyBulk(ctx context.Context, chs []fwdsync.Change) error {
	n.Bulks++
	return n.applyBatch(ctx, chs, false)
}

func (n *NB) applyBatch(ctx context.Context, chs []fwdsync.Change, guarded bool) error {
	n.Batches++
	n.MaxBatch = max(n.MaxBatch, len(chs))
	for _, ch := range chs {
		if err := n.guard(ch); err != nil {
			return err // one transaction: nothing is written
		}
	}
	raced := &ovn.BatchConflictError{}
	for i, ch := range chs {
		for _, op := range ch.Ops {
			if op.Kind == fwdsync.OpCreateLB && n.RaceCreates[op.Name] {
				delete(n.RaceCreates, op.Name)
				n.next++
				n.St.LoadBalancers = append(n.St.LoadBalancers, fwdsync.NBLoadBalancer{UUID: fmt.Sprintf("00000000-0000-0000-0001-%012d", n.next), Name: op.Name, Protocol: op.Protocol, VIPs: maps.Clone(op.VIPs)})
				if !slices.Contains(raced.Changes, i) {
					raced.Changes = append(raced.Changes, i)
				}
				raced.Names = append(raced.Names, op.Name)
			}
		}
	}
	if len(raced.Changes) > 0 && guarded {
		return fmt.Errorf("guard: %w", ovn.ErrConflict)
	}
	if len(raced.Changes) > 0 {
		for i, ch := range chs {
			if !slices.Contains(raced.Changes, i) {
				_ = n.apply(ch)
			}
		}
		return raced
	}
	if failed, write := n.disconnect(); failed {
		if write {
			for _, ch := range chs {
				_ = n.apply(ch)
			}
		}
		return fmt.Errorf("apply batch: transact: %w", ovn.ErrNotConnected)
	}
	for _, ch := range chs {
		if err := n.Apply(ctx, ch); err != nil {
			return err
		}
	}
	return nil
}

func (n *NB) Apply(_ context.Context, ch fwdsync.Change) error {
	n.ApplyCalls++
	if n.Conflicts > 0 {
		n.Conflicts--
		return fmt.Errorf("wait failed: %w", ovn.ErrConflict)
	}
	if err := n.guard(ch); err != nil {
		return err
	}
	if failed, write := n.disconnect(); failed {
		if write {
			_ = n.apply(ch)
		}
		return fmt.Errorf("apply: transact: %w", ovn.ErrNotConnected)
	}
	return n.apply(ch)
}

// guard is ovn.NB's guard of a create: no row of that name exists yet.
func (n *NB) guard(ch fwdsync.Change) error {
	for _, op := range ch.Ops {
		if op.Kind != fwdsync.OpCreateLB {
			continue
		}
		if slices.ContainsFunc(n.St.LoadBalancers, func(lb fwdsync.NBLoadBalancer) bool { return lb.Name == op.Name }) {
			return fmt.Errorf("guard: a Load_Balancer named %s exists: %w", op.Name, ovn.ErrConflict)
		}
	}
	return nil
}

func (n *NB) apply(ch fwdsync.Change) error {
	n.Applied++
	n.gen++
	created := ""
	attach := func(list *[]string, u string) {
		if !slices.Contains(*list, u) {
			*list = append(*list, u)
		}
	}
	detach := func(list *[]string, u string) {
		*list = slices.DeleteFunc(*list, func(x string) bool { return x == u })
	}
	for _, op := range ch.Ops {
		u := op.UUID
		if u == "" {
			u = created
		}
		switch op.Kind {
		case fwdsync.OpCreateLB:
			n.next++
			created = fmt.Sprintf("00000000-0000-0000-0000-%012d", n.next)
			n.St.LoadBalancers = append(n.St.LoadBalancers, fwdsync.NBLoadBalancer{UUID: created, Name: op.Name, Protocol: op.Protocol, VIPs: maps.Clone(op.VIPs), Options: maps.Clone(op.Options)})
		case fwdsync.OpUpdateLB:
			for i := range n.St.LoadBalancers {
				if n.St.LoadBalancers[i].UUID == u {
					n.St.LoadBalancers[i].VIPs, n.St.LoadBalancers[i].Protocol = maps.Clone(op.VIPs), op.Protocol
					n.St.LoadBalancers[i].Options = maps.Clone(op.Options)
				}
			}
		case fwdsync.OpDeleteLB:
			n.St.LoadBalancers = slices.DeleteFunc(n.St.LoadBalancers, func(lb fwdsync.NBLoadBalancer) bool { return lb.UUID == u })
			for i := range n.St.Routers {
				detach(&n.St.Routers[i].LoadBalancers, u)
			}
			for i := range n.St.Switches {
				detach(&n.St.Switches[i].LoadBalancers, u)
			}
		case fwdsync.OpAttachRouter, fwdsync.OpDetachRouter:
			for i := range n.St.Routers {
				if n.St.Routers[i].UUID == op.Target {
					if op.Kind == fwdsync.OpAttachRouter {
						attach(&n.St.Routers[i].LoadBalancers, u)
					} else {
						detach(&n.St.Routers[i].LoadBalancers, u)
					}
				}
			}
		case fwdsync.OpAttachSwitch, fwdsync.OpDetachSwitch:
			for i := range n.St.Switches {
				if n.St.Switches[i].UUID == op.Target {
					if op.Kind == fwdsync.OpAttachSwitch {
						attach(&n.St.Switches[i].LoadBalancers, u)
					} else {
						detach(&n.St.Switches[i].LoadBalancers, u)
					}
				}
			}
		}
	}
	return nil
}

// Members returns MemberList.
func (f *LXD) Members(context.Context) ([]fwdsync.Member, error) {
	if f.Err != nil {
		return nil, f.Err
	}
	return f.MemberList, nil
}

// NetworkConfig returns Uplinks[name]; the project is ignored.
func (f *LXD) NetworkConfig(_ context.Context, _, name string) (map[string]string, bool, error) {
	if f.Err != nil {
		return nil, false, f.Err
	}
	cfg, ok := f.Uplinks[name]
	return cfg, ok, nil
}

// RowsGeneration counts the applied changes.
func (n *NB) RowsGeneration() uint64 { return n.gen }
