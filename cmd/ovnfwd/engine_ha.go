package main

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/ovnfwd/ovnfwd/lxdwatch"
	"github.com/ovnfwd/ovnfwd/ovn"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// haConfig turns on HA chassis group hygiene (it needs the SB connection).
type haConfig struct {
	memberChassis map[string]string
	opts          fwdsync.HAOptions
	// live supplies what only the daemon measures over time: unresponsive
	// chassis, how long chassis have been absent from SB, and how long each
	// gateway port has been unclaimed. nil in one-shot commands: nothing is
	// known unresponsive, absent chassis count as absent for ever, and
	// dark-everywhere is left to Verify's no-active-chassis.
	live func(now time.Time, nb fwdsync.NBState, sb fwdsync.SBState) (unresponsive map[string]bool, absentFor map[string]time.Duration, unclaimed func(port string) time.Duration)
}

// memberLister is implemented by lxdwatch.Client.
type memberLister interface {
	Members(ctx context.Context) ([]lxdwatch.Member, error)
}

// planHA judges the HA chassis groups of the mapped networks.
func (e *engine) planHA(ctx context.Context, mappings map[fwdsync.NetworkRef]fwdsync.Mapping, nb fwdsync.NBState) ([]fwdsync.Change, []fwdsync.Finding) {
	if e.ha == nil || e.sb == nil {
		return nil, nil
	}
	sb := e.gatewaySnapshot() // claims and chassis: HA needs no SB rows
	in := fwdsync.HAInput{NB: nb, SB: sb, Networks: fwdsync.HANetworks(mappings), MemberChassis: e.ha.memberChassis}
	if ml, ok := e.lxd.(memberLister); ok {
		ms, err := ml.Members(ctx)
		if err != nil {
			// Unknown membership: the rules that need it are skipped.
			e.log.Warn("cannot list LXD cluster members; HA membership rules skipped", zap.Error(err))
		} else {
			in.Members = make([]fwdsync.Member, 0, len(ms))
			for _, m := range ms {
				in.Members = append(in.Members, fwdsync.Member{Name: m.Name, ID: int64(m.Order), Roles: m.Roles, Status: m.Status})
			}
		}
	}
	if e.ha.live != nil {
		var unclaimed func(string) time.Duration
		in.Unresponsive, in.AbsentFor, unclaimed = e.ha.live(time.Now(), nb, sb)
		for i := range in.Networks {
			in.Networks[i].UnclaimedFor = unclaimed(fwdsync.GatewayPort(in.Networks[i].Prefix))
		}
	}
	return fwdsync.PlanHA(in, e.ha.opts)
}

// haPass plans the HA groups alone (after a liveness ping or a lost claim)
// and applies the changes when apply is set; it returns the findings.
func (e *engine) haPass(ctx context.Context, apply bool) []fwdsync.Finding {
	if e.mappings == nil {
		return nil
	}
	changes, findings := e.planHA(ctx, e.mappings, e.nb.SnapshotFor(nil))
	if apply {
		for _, ch := range changes {
			if err := e.applyChange(ctx, ch); err != nil && !errors.Is(err, errBusy) {
				if errors.Is(err, ovn.ErrConflict) {
					e.log.Info("HA group changed meanwhile; re-planned at the next pass", zap.String("group", ch.Prefix))
					continue
				}
				e.log.Warn("HA repair failed", zap.String("group", ch.Prefix), zap.Error(err))
			}
		}
		if len(changes) > 0 {
			_, findings = e.planHA(ctx, e.mappings, e.nb.SnapshotFor(nil))
		}
	}
	e.mu.Lock()
	e.haFindings = findings
	e.mu.Unlock()
	return findings
}
