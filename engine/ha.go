package engine

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/ovnfwd/ovnfwd/ovn"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// HAConfig turns on HA chassis group hygiene (it needs the SB connection).
type HAConfig struct {
	// MemberChassis maps LXD members to chassis (--member-chassis), for
	// hosts whose chassis hostname is not the member name.
	MemberChassis map[string]string
	Options       fwdsync.HAOptions
	// live supplies what only the daemon measures over time: unresponsive
	// chassis, how long chassis have been absent from SB, and how long each
	// gateway port has been unclaimed. nil in one-shot commands: nothing is
	// known unresponsive, absent chassis count as absent for ever, and
	// dark-everywhere is left to Verify's no-active-chassis.
	live func(now time.Time, nb fwdsync.NBState, sb fwdsync.SBState) (unresponsive map[string]bool, absentFor map[string]time.Duration, unclaimed func(port string) time.Duration)
}

// planHA judges the HA chassis groups of the mapped networks and, in the
// daemon, whether the members' ovnfwd run with the writer's policy
// (member-config-mismatch).
//
// fresh reads the membership from LXD (full passes: LXD's member events
// trigger one); otherwise the last membership read is reused, so that the
// HA passes that follow NB/SB changes never wait on LXD — whose API hangs
// while its cluster database is unreachable, which is exactly when the
// gateway claims are at risk (an underlay outage).
func (e *Engine) planHA(ctx context.Context, mappings map[fwdsync.NetworkRef]fwdsync.Mapping, nb fwdsync.NBState, fresh bool) ([]fwdsync.Change, []fwdsync.Finding) {
	ha := e.ha != nil && e.sb != nil
	if !ha && !e.judgeMembers {
		return nil, nil
	}
	ms, known := e.members(ctx, fresh)
	var memberFindings []fwdsync.Finding
	if e.judgeMembers && known {
		memberFindings = fwdsync.MemberConfigFindings(ms, fwdsync.Writer(ms))
	}
	if !ha {
		return nil, memberFindings
	}
	sb := e.gatewaySnapshot() // claims and chassis: HA needs no SB rows
	in := fwdsync.HAInput{NB: nb, SB: sb, Networks: fwdsync.HANetworks(mappings), Members: ms,
		MemberChassis: fwdsync.MemberChassis(ms, e.ha.MemberChassis)}
	if e.ha.live != nil {
		var unclaimed func(string) time.Duration
		in.Unresponsive, in.AbsentFor, unclaimed = e.ha.live(time.Now(), nb, sb)
		for i := range in.Networks {
			in.Networks[i].UnclaimedFor = unclaimed(fwdsync.GatewayPort(in.Networks[i].Prefix))
		}
	}
	changes, findings := fwdsync.PlanHA(in, e.ha.Options)
	return changes, append(findings, memberFindings...)
}

// members returns the LXD cluster members: read from LXD when fresh is set
// or none was read yet, else the last read. When LXD cannot be read, the
// last read serves (known) if there is one; with none, membership is
// unknown and the rules that need it are skipped.
func (e *Engine) members(ctx context.Context, fresh bool) (ms []fwdsync.Member, known bool) {
	e.mu.Lock()
	last, have := e.lastMembers, e.haveMembers
	e.mu.Unlock()
	if have && !fresh {
		return last, true
	}
	if e.inLXDWait {
		// Judging while a pass waits on LXD: never wait on it again.
		return nil, false
	}
	err := e.readLXD(ctx, func(ctx context.Context) (err error) {
		ms, err = e.lxd.Members(ctx)
		return err
	})
	if err != nil {
		if have {
			e.log.Warn("cannot list LXD cluster members; judging with the last membership read", zap.Error(err))
			return last, true
		}
		e.log.Warn("cannot list LXD cluster members; membership rules skipped", zap.Error(err))
		return nil, false
	}
	e.mu.Lock()
	e.lastMembers, e.haveMembers = ms, true
	e.mu.Unlock()
	return ms, true
}

// haPass plans the HA groups alone (after a liveness ping or a lost claim)
// and applies the changes when apply is set; it returns the findings.
func (e *Engine) haPass(ctx context.Context, apply bool) []fwdsync.Finding {
	if e.mappings == nil {
		return nil
	}
	changes, findings := e.planHA(ctx, e.mappings, e.nb.SnapshotFor(nil), false)
	if apply {
		for _, ch := range changes {
			if err := e.applyChange(ctx, ch); err != nil && !errors.Is(err, errBusy) && !errors.Is(err, errStandby) {
				if errors.Is(err, ovn.ErrConflict) {
					e.log.Info("HA group changed meanwhile; re-planned at the next pass", zap.String("group", ch.Prefix))
					continue
				}
				e.log.Warn("HA repair failed", zap.String("group", ch.Prefix), zap.Error(err))
			}
		}
		if len(changes) > 0 {
			_, findings = e.planHA(ctx, e.mappings, e.nb.SnapshotFor(nil), false)
		}
	}
	e.mu.Lock()
	e.haFindings = findings
	e.mu.Unlock()
	return findings
}
