package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// GatewayAnnouncer sends a gateway's announcement (a gratuitous ARP, or an
// unsolicited neighbour advertisement) on this member's uplink for one
// uplink network and says where it went; ovn.UplinkAnnouncer is the real
// one.
type GatewayAnnouncer interface {
	Announce(ctx context.Context, a fwdsync.GatewayAnnouncement) (where string, sent int, err error)
}

// announceRepeat is when a gateway's announcement is sent once more after
// the first: a frame lost on the uplink must not cost OVN's whole second.
const announceRepeat = 300 * time.Millisecond

// announcer announces on the uplink every gateway port this member's
// chassis takes, the moment SB shows the claim: ovn-controller announces
// it only a second later (pinctrl's first GARP waits 1 s), and until a
// frame from the new gateway reaches the uplink switch, the switch keeps
// sending the router's MAC to the old gateway, so traffic stays dark for
// that second although OVN's flows are in place (BENCHMARKS §9). It runs
// on every member, writer or not: only the member that now holds a
// gateway can send from where the gateway is.
type announcer struct {
	chassis string
	sb      SB
	send    GatewayAnnouncer
	dryRun  bool
	log     *zap.Logger
	count   *prometheus.CounterVec // by result
	kick    chan struct{}

	held map[string]bool // cr ports this chassis held at the last look
	mu   gosync.Mutex
	last map[string]announcement // the latest announcement per port (/status, tests)
}

// announcement is one gateway port's latest announcement.
type announcement struct {
	At    time.Time
	Where string
	Sent  int
	Err   string
}

func newAnnouncer(chassis string, sb SB, send GatewayAnnouncer, dryRun bool, log *zap.Logger, reg prometheus.Registerer) *announcer {
	a := &announcer{chassis: chassis, sb: sb, send: send, dryRun: dryRun, log: log, kick: make(chan struct{}, 1),
		last: map[string]announcement{},
		count: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ovnfwd", Name: "gateway_announcements_total",
			Help: "Announcements on this member's uplink of a gateway its chassis took, by result (sent, failed, nowhere: no uplink to announce on, dry-run).",
		}, []string{"result"}),
	}
	reg.MustRegister(a.count)
	return a
}

// claimChanged is OnClaimChange's hook: it must not block.
func (a *announcer) claimChanged() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// run announces until ctx ends. What this chassis holds when it starts is
// not announced: no claim moved.
func (a *announcer) run(ctx context.Context) {
	a.held = a.holding(a.sb.GatewaySnapshot())
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
		}
		snap := a.sb.GatewaySnapshot()
		now := a.holding(snap)
		for port := range now {
			if !a.held[port] {
				seen := time.Now()
				a.announce(ctx, snap, port, seen, "claim")
				go func() {
					select {
					case <-ctx.Done():
					case <-time.After(announceRepeat):
						// Only if the claim is still ours.
						if s := a.sb.GatewaySnapshot(); a.holding(s)[port] {
							a.announce(ctx, s, port, seen, "repeat")
						}
					}
				}()
			}
		}
		a.held = now
	}
}

// holding returns the gateway ports claimed by this member's chassis.
func (a *announcer) holding(snap fwdsync.SBState) map[string]bool {
	out := map[string]bool{}
	for port, holder := range fwdsync.GatewayHolders(snap) {
		if holder == a.chassis {
			out[port] = true
		}
	}
	return out
}

func (a *announcer) announce(ctx context.Context, snap fwdsync.SBState, port string, seen time.Time, why string) {
	anns := fwdsync.GatewayAnnouncements(snap, port)
	if len(anns) == 0 {
		a.count.WithLabelValues("nowhere").Inc()
		a.log.Info("gateway taken, but SB lists no addresses to announce for it", zap.String("port", port))
		return
	}
	for _, an := range anns {
		fields := []zap.Field{zap.String("port", port), zap.String("uplink", an.Network), zap.String("mac", an.MAC),
			zap.Int("addresses", len(an.Addrs)), zap.String("why", why)}
		if an.Network == "" {
			a.count.WithLabelValues("nowhere").Inc()
			a.log.Warn("gateway taken, but SB has no localnet port on its uplink switch: nothing announced", fields...)
			continue
		}
		if a.dryRun {
			a.count.WithLabelValues("nowhere").Inc()
			a.log.Info("dry run: would announce the gateway on the uplink", fields...)
			continue
		}
		where, sent, err := a.send.Announce(ctx, an)
		rec := announcement{At: time.Now(), Where: where, Sent: sent}
		fields = append(fields, zap.String("where", where), zap.Int("frames", sent),
			zap.Duration("after_claim_seen", time.Since(seen)))
		if err != nil {
			rec.Err = err.Error()
			a.count.WithLabelValues("failed").Inc()
			a.log.Warn("cannot announce the gateway on the uplink; OVN's own announcement follows within a second",
				append(fields, zap.Error(err))...)
		} else {
			a.count.WithLabelValues("sent").Inc()
			a.log.Info("announced the gateway on the uplink", fields...)
		}
		a.mu.Lock()
		a.last[port] = rec
		a.mu.Unlock()
	}
}

// lastAnnouncements returns the latest announcement per gateway port, by
// port name.
func (a *announcer) lastAnnouncements() map[string]announcement {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]announcement, len(a.last))
	for k, v := range a.last {
		out[k] = v
	}
	return out
}

// PublishedAnnounces is the member key (Member.Published) that says whether
// a member's ovnfwd announces the gateways its chassis takes ("on"/"off").
const PublishedAnnounces = "announce-gateway"

// ovnAnnounceDelay bounds how long a gateway's new holder may stay
// unreachable from the uplink when nobody announces it: ovn-controller's
// first announcement comes 1 s after its claim (and a margin).
const ovnAnnounceDelay = 1100 * time.Millisecond

// claimSeen is when SB last showed a gateway port claimed by a new chassis.
type claimSeen struct {
	at        time.Time
	scheduled bool // a re-verification at at+ovnAnnounceDelay is set
}

// noteClaim is the daemon's OnClaimChange hook (libovsdb's goroutine).
func (d *Daemon) noteClaim(port, chassisUUID string) {
	if chassisUUID == "" {
		return
	}
	d.mu.Lock()
	d.claimSeen[port] = claimSeen{at: time.Now()}
	d.mu.Unlock()
}

// unannounced is Engine.unannounced for the daemon: the gateway ports
// claimed less than ovnAnnounceDelay ago whose holder nobody is known to
// have announced on the uplink — this member's own announcer (for its
// chassis), or the holder's member whose ovnfwd publishes that it
// announces. Their forwards stay pending until then: "verified" must not
// run ahead of traffic. A re-verification is set for when the wait ends.
func (d *Daemon) unannounced() map[string]string {
	now := time.Now()
	d.mu.Lock()
	recent := map[string]time.Time{}
	for port, c := range d.claimSeen {
		if now.Sub(c.at) < ovnAnnounceDelay {
			recent[port] = c.at
		} else {
			delete(d.claimSeen, port)
		}
	}
	d.mu.Unlock()
	if len(recent) == 0 {
		return nil
	}
	holders := fwdsync.GatewayHolders(d.src.SB.GatewaySnapshot())
	var out map[string]string
	for port, at := range recent {
		holder := holders[port]
		if holder == "" || d.announced(port, holder, at) {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[port] = fmt.Sprintf("claimed %v ago and no ovnfwd announces %s; OVN's own announcement comes 1s after its claim",
			now.Sub(at).Round(time.Millisecond), holder)
		d.mu.Lock()
		if c := d.claimSeen[port]; c.at.Equal(at) && !c.scheduled {
			c.scheduled = true
			d.claimSeen[port] = c
			time.AfterFunc(time.Until(at.Add(ovnAnnounceDelay)), func() { d.q.addReverify(true) })
		}
		d.mu.Unlock()
	}
	return out
}

// announced reports whether holder's taking of port (seen at) is announced
// on the uplink: by this member, or by the holder's member's ovnfwd.
func (d *Daemon) announced(port, holder string, at time.Time) bool {
	if holder == d.chassis && d.ann != nil {
		rec, ok := d.ann.lastAnnouncements()[port]
		return ok && rec.Err == "" && rec.Sent > 0 && !rec.At.Before(at)
	}
	for _, m := range d.e.lastMembersRead() {
		if m.Published[fwdsync.PublishedChassis] == holder && m.Published[PublishedAnnounces] == "on" {
			return true
		}
	}
	return false
}

// gatewaySignature sums up what a forward's claim-dependent verdict rests
// on: every gateway port's holder, and which ones are unannounced.
func (d *Daemon) gatewaySignature() string {
	holders := fwdsync.GatewayHolders(d.src.SB.GatewaySnapshot())
	un := d.unannounced()
	var b strings.Builder
	for _, port := range slices.Sorted(maps.Keys(holders)) {
		b.WriteString(port + "=" + holders[port] + ";")
	}
	b.WriteString("unannounced:" + strings.Join(slices.Sorted(maps.Keys(un)), ","))
	return b.String()
}
