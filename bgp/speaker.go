package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	gosync "sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// Speaker is the embedded BGP speaker (GoBGP as a library): it holds the
// routes route state computed, announces them to every configured peer, and
// withdraws them on shutdown. It never installs routes anywhere and accepts
// nothing from its peers.
//
// # Graceful restart
//
// With Config.GracefulRestart set, every session negotiates BGP graceful
// restart (RFC 4724) so that a planned restart of ovnfwd keeps its routes at
// the peers:
//
//   - The OPEN carries the Graceful Restart capability: the restart time,
//     the Restart State (R) bit and, for IPv4 and IPv6 unicast, the
//     forwarding-state (F) bit. ovnfwd never forwards a packet itself (OVN
//     does, and OVN does not notice ovnfwd restarting), so "forwarding
//     state preserved" is true on every start. Without the F bit the peer
//     would drop the kept routes as soon as the new session comes up.
//     GoBGP sets both bits only while the peer is "locally restarting",
//     so the peers are added with LocalRestarting (see apiPeer).
//   - The peers are added by the first Sync, not by Start, after its
//     routes: the first table a peer gets, closed by End-of-RIB, is the
//     complete route set of the first Sync, and a peer that kept the
//     previous process's routes drops exactly those not in it. Until the
//     first Sync the speaker opens no session (Sessions reports "idle")
//     and the peers keep the old routes, for the restart time at most.
//   - Detach ends the speaker for a restart: no withdrawal and no
//     NOTIFICATION; the process exit ends the sessions (see Detach).
//     Shutdown still withdraws everything and sends a Cease: the peers drop
//     the routes at once (graceful restart applies to a session that ends
//     without a NOTIFICATION; RFC 8538's N bit is not negotiated).
//
// Without graceful restart, Start adds the peers, as it always did: the
// sessions come up before route state computed anything and the routes
// follow.
type Speaker struct {
	cfg Config
	log *zap.Logger
	srv *server.BgpServer
	// onState is called on every session state change (metrics).
	onState func(peer, from, to string)

	stopWatch context.CancelFunc
	mu        gosync.Mutex
	rib       map[netip.Prefix]fwdsync.Route // what the speaker announces
	sessions  map[string]*Session            // by peer address
	counters  Counters
	started   bool
	stopped   bool

	// peerMu serializes adding the peers (on the first Sync with
	// graceful restart); added[i] tells whether cfg.Peers[i] was added.
	peerMu gosync.Mutex
	added  []bool
}

// Config configures the speaker.
type Config struct {
	ASN      uint32
	RouterID string
	// ListenPort: -1 (the default) accepts no connection: the speaker
	// connects to its peers.
	ListenPort      int32
	ListenAddresses []string
	Peers           []Peer
	// HoldTime and Keepalive are whole seconds (BGP's unit); the session's
	// hold time is the lower of both sides' offers.
	HoldTime, Keepalive time.Duration
	// ConnectRetry is the pause between connection attempts, also after a
	// session reset.
	ConnectRetry time.Duration
	// EBGPMultihopTTL > 0 lets eBGP sessions run over several hops.
	EBGPMultihopTTL uint32
	// WithdrawGrace bounds how long Shutdown waits for withdrawals to go
	// out before closing the sessions.
	WithdrawGrace time.Duration
	// GracefulRestart > 0 turns BGP graceful restart (RFC 4724) on, with
	// this restart time: how long a peer keeps the routes of a session
	// that ended without a NOTIFICATION (a restart: Detach, then the
	// process exits) while waiting for the session to come back. Whole
	// seconds, rounded up, at most 4095 (the capability's 12 bits). The
	// peers are then added by the first Sync (see Speaker). 0: off.
	GracefulRestart time.Duration
}

// MaxRestartTime is the largest restart time the capability carries.
const MaxRestartTime = 4095 * time.Second

// restartTimeSeconds is cfg.GracefulRestart for the capability.
func (c Config) restartTimeSeconds() uint32 {
	return uint32((min(c.GracefulRestart, MaxRestartTime) + time.Second - 1) / time.Second)
}

// Peer is one BGP neighbor.
type Peer struct {
	Address netip.Addr
	// Port is the neighbor's port, 0 for 179.
	Port         uint16
	ASN          uint32
	Password     string
	LocalAddress netip.Addr // invalid: the kernel picks
}

func (p Peer) String() string {
	if p.Port != 0 {
		return netip.AddrPortFrom(p.Address, p.Port).String()
	}
	return p.Address.String()
}

// Counters count what the speaker did since it started.
type Counters struct {
	Announcements uint64 `json:"announcements"`
	Withdrawals   uint64 `json:"withdrawals"`
	Errors        uint64 `json:"errors"`
}

// Session is the state of one BGP session, as reported in status.
type Session struct {
	Peer        string    `json:"peer"`
	ASN         uint32    `json:"asn"`
	State       string    `json:"state"` // idle, connect, active, opensent, openconfirm, established
	Since       time.Time `json:"since"`
	Established uint64    `json:"established_count"` // sessions that came up
	Drops       uint64    `json:"drops"`             // established sessions that went down
	// Advertised is the number of routes the peer has been sent (as
	// GoBGP's adj-RIB-out counts them), filled by Sessions.
	Advertised uint64 `json:"advertised"`
}

var (
	familyV4 = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	familyV6 = &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
)

func New(cfg Config, log *zap.Logger) *Speaker {
	if cfg.ListenPort == 0 {
		cfg.ListenPort = -1
	}
	if cfg.WithdrawGrace <= 0 {
		cfg.WithdrawGrace = time.Second
	}
	if cfg.GracefulRestart < 0 {
		cfg.GracefulRestart = 0
	}
	return &Speaker{cfg: cfg, log: log, rib: map[netip.Prefix]fwdsync.Route{}, sessions: map[string]*Session{},
		added: make([]bool, len(cfg.Peers))}
}

// GracefulRestart tells whether graceful restart is on.
func (s *Speaker) GracefulRestart() bool { return s.cfg.GracefulRestart > 0 }

// Start starts the server, watches session states and adds the peers; with
// graceful restart, the first Sync adds the peers instead.
func (s *Speaker) Start(ctx context.Context) error {
	s.srv = server.NewBgpServer(server.LoggerOption(&gobgpLogger{log: s.log.Named("gobgp")}))
	go s.srv.Serve()
	g := &api.Global{Asn: s.cfg.ASN, RouterId: s.cfg.RouterID, ListenPort: s.cfg.ListenPort, ListenAddresses: s.cfg.ListenAddresses}
	if err := s.srv.StartBgp(ctx, &api.StartBgpRequest{Global: g}); err != nil {
		s.srv.Stop()
		return fmt.Errorf("start BGP speaker (AS %d, router id %s): %w", s.cfg.ASN, s.cfg.RouterID, err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	s.stopWatch = cancel
	err := s.srv.WatchEvent(wctx, &api.WatchEventRequest{Peer: &api.WatchEventRequest_Peer{}}, func(r *api.WatchEventResponse) {
		if p := r.GetPeer(); p != nil && p.Type == api.WatchEventResponse_PeerEvent_STATE && p.Peer != nil {
			s.peerState(p.Peer)
		}
	})
	if err != nil {
		cancel()
		_ = s.srv.StopBgp(ctx, &api.StopBgpRequest{})
		s.srv.Stop()
		return fmt.Errorf("watch BGP sessions: %w", err)
	}
	s.mu.Lock()
	for _, p := range s.cfg.Peers {
		s.sessions[p.Address.String()] = &Session{Peer: p.String(), ASN: p.ASN, State: "idle", Since: time.Now()}
	}
	s.mu.Unlock()
	if !s.GracefulRestart() {
		if err := s.addPeers(ctx); err != nil {
			s.Shutdown(ctx)
			return err
		}
	} else {
		s.log.Info("BGP graceful restart on: the sessions open after the first route sync",
			zap.Duration("restart-time", time.Duration(s.cfg.restartTimeSeconds())*time.Second))
	}
	s.mu.Lock()
	s.started = true
	s.mu.Unlock()
	return nil
}

// addPeers adds the peers not added yet; one that fails is retried by the
// next call.
func (s *Speaker) addPeers(ctx context.Context) error {
	s.peerMu.Lock()
	defer s.peerMu.Unlock()
	var errs []error
	for i, p := range s.cfg.Peers {
		if s.added[i] {
			continue
		}
		if err := s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: s.apiPeer(p)}); err != nil {
			errs = append(errs, fmt.Errorf("add BGP peer %s (AS %d): %w", p, p.ASN, err))
			continue
		}
		s.added[i] = true
	}
	return errors.Join(errs...)
}

func (s *Speaker) apiPeer(p Peer) *api.Peer {
	ap := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: p.Address.String(), PeerAsn: p.ASN, AuthPassword: p.Password, Description: "ovnfwd"},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime:               uint64(s.cfg.HoldTime / time.Second),
			KeepaliveInterval:      uint64(s.cfg.Keepalive / time.Second),
			ConnectRetry:           uint64(max(s.cfg.ConnectRetry/time.Second, 1)),
			IdleHoldTimeAfterReset: uint64(max(s.cfg.ConnectRetry/time.Second, 1)),
		}},
		Transport: &api.Transport{RemotePort: uint32(p.Port)},
		AfiSafis: []*api.AfiSafi{
			{Config: &api.AfiSafiConfig{Family: familyV4, Enabled: true}},
			{Config: &api.AfiSafiConfig{Family: familyV6, Enabled: true}},
		},
	}
	if p.LocalAddress.IsValid() {
		ap.Transport.LocalAddress = p.LocalAddress.String()
	}
	if s.cfg.EBGPMultihopTTL > 0 {
		ap.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: s.cfg.EBGPMultihopTTL}
	}
	if s.GracefulRestart() {
		// LocalRestarting makes GoBGP set the R and F bits in the OPEN
		// (fsm.go capabilitiesFromConfig). It also holds the table back
		// until the peer's End-of-RIB or the deferral time (server.go,
		// handleFSMMessage on BGP_FSM_ESTABLISHED, and softResetOut):
		// ovnfwd takes nothing from its peers, so the deferral is the
		// shortest there is, 1 s (0 would be GoBGP's default, 360 s).
		// GoBGP then clears LocalRestarting for good: a later session of
		// the same process (a flap) carries neither bit, so the peer
		// drops what it kept when that session comes up and gets the
		// whole table right after.
		ap.GracefulRestart = &api.GracefulRestart{Enabled: true, RestartTime: s.cfg.restartTimeSeconds(),
			LocalRestarting: true, DeferralTime: 1}
		for _, af := range ap.AfiSafis {
			af.MpGracefulRestart = &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}
		}
	}
	return ap
}

// peerState records a session state change.
func (s *Speaker) peerState(p *api.Peer) {
	addr := p.GetState().GetNeighborAddress()
	if addr == "" {
		addr = p.GetConf().GetNeighborAddress()
	}
	state := strings.ToLower(p.GetState().GetSessionState().String())
	s.mu.Lock()
	ps := s.sessions[addr]
	if ps == nil {
		ps = &Session{Peer: addr, ASN: p.GetConf().GetPeerAsn()}
		s.sessions[addr] = ps
	}
	from := ps.State
	if from == state {
		s.mu.Unlock()
		return
	}
	ps.State, ps.Since = state, time.Now()
	switch {
	case state == "established":
		ps.Established++
	case from == "established":
		ps.Drops++
	}
	onState := s.onState
	peer := ps.Peer
	s.mu.Unlock()
	if state == "established" || from == "established" {
		s.log.Info("BGP session", zap.String("peer", peer), zap.String("from", from), zap.String("to", state))
	} else {
		s.log.Debug("BGP session", zap.String("peer", peer), zap.String("from", from), zap.String("to", state))
	}
	if onState != nil {
		onState(peer, from, state)
	}
}

// SyncResult is what one Sync changed.
type SyncResult struct {
	Announced, Withdrawn []netip.Prefix
}

// Sync makes the announced routes equal to routes: it announces the new and
// changed ones and withdraws the ones that are gone, and nothing else.
// Routes that failed stay as they were and are retried by the next Sync.
//
// With graceful restart, the first Sync also adds the peers, after the
// routes: each peer's first table (and End-of-RIB) is exactly these
// routes, and a peer that kept the routes of the previous process drops
// those not in it. So the first Sync must carry the complete route set:
// a route left out of it (not computed yet) is dropped by the peer until
// a later Sync announces it again.
func (s *Speaker) Sync(ctx context.Context, routes []fwdsync.Route) (SyncResult, error) {
	var res SyncResult
	s.mu.Lock()
	if !s.started || s.stopped {
		s.mu.Unlock()
		return res, errors.New("BGP speaker is not running")
	}
	want := make(map[netip.Prefix]fwdsync.Route, len(routes))
	for _, r := range routes {
		want[r.Prefix] = r
	}
	var add []fwdsync.Route
	var del []fwdsync.Route
	for _, r := range routes {
		if old, ok := s.rib[r.Prefix]; !ok || !old.Equal(r) {
			add = append(add, r)
		}
	}
	for p, r := range s.rib {
		if _, ok := want[p]; !ok {
			del = append(del, r)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(del, func(a, b fwdsync.Route) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })

	var errs []error
	// Withdraw first: a route that moved to another member should not be
	// announced twice by anyone for longer than needed.
	for _, r := range del {
		path, err := apiPath(r)
		if err == nil {
			err = s.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: path.Family, Path: path})
		}
		s.mu.Lock()
		if err != nil {
			s.counters.Errors++
			errs = append(errs, fmt.Errorf("withdraw %s: %w", r.Prefix, err))
		} else {
			delete(s.rib, r.Prefix)
			s.counters.Withdrawals++
			res.Withdrawn = append(res.Withdrawn, r.Prefix)
		}
		s.mu.Unlock()
	}
	for _, r := range add {
		path, err := apiPath(r)
		if err == nil {
			_, err = s.srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: path})
		}
		s.mu.Lock()
		if err != nil {
			s.counters.Errors++
			errs = append(errs, fmt.Errorf("announce %s: %w", r.Prefix, err))
		} else {
			s.rib[r.Prefix] = r
			s.counters.Announcements++
			res.Announced = append(res.Announced, r.Prefix)
		}
		s.mu.Unlock()
	}
	if s.GracefulRestart() {
		if err := s.addPeers(ctx); err != nil {
			s.mu.Lock()
			s.counters.Errors++
			s.mu.Unlock()
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

// Detach ends the speaker for a planned restart (graceful restart on) and
// the caller must then exit the process. The routes stay announced and no
// NOTIFICATION is sent: when the process exits, the kernel closes the TCP
// connections (FIN or RST, no BGP message), which each peer takes for a
// restart: it keeps the routes for the restart time, until the next
// process's first Sync sends the new table.
//
// GoBGP v3 has no in-process way to end a session without a NOTIFICATION:
// StopBgp and DeletePeer queue a Cease (Peer De-configured) that the
// session writes before closing (server.go deleteNeighbor, fsm.go
// established state on ctx.Done), and ShutdownPeer, DisablePeer and
// ResetPeer send a Cease too. So Detach closes nothing: it freezes the
// speaker (Sync fails; Shutdown and Detach do nothing) while the sessions
// stay up, answering keepalives, until the exit. That is right while it
// lasts (OVN keeps forwarding), but the peers' restart timers only start
// at the exit: exit promptly.
//
// Without graceful restart the peers would drop the routes at the exit
// anyway, so Detach is Shutdown (withdraw, Cease). Safe to call more than
// once; after Shutdown it does nothing.
func (s *Speaker) Detach(ctx context.Context) {
	if !s.GracefulRestart() {
		s.Shutdown(ctx)
		return
	}
	n, ok := s.markStopped()
	if !ok {
		return
	}
	s.log.Info("BGP speaker detached for a graceful restart: the routes stay announced, the sessions end when the process exits",
		zap.Int("routes", n), zap.Duration("restart-time", time.Duration(s.cfg.restartTimeSeconds())*time.Second))
}

// markStopped marks a started speaker stopped (Sync fails from then on)
// and returns how many routes it holds; ok is false when it was not
// started or is stopped already.
func (s *Speaker) markStopped() (routes int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || s.srv == nil {
		return 0, false
	}
	s.stopped = true
	return len(s.rib), true
}

// Shutdown withdraws every route, gives the withdrawals a moment to reach
// the peers, closes the sessions (BGP Cease) and stops the server. It is
// safe to call more than once; after Detach it does nothing (the routes
// must stay).
func (s *Speaker) Shutdown(ctx context.Context) {
	n, ok := s.markStopped()
	if !ok {
		return
	}

	if n > 0 {
		for _, f := range []*api.Family{familyV4, familyV6} {
			if err := s.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: f}); err != nil {
				s.log.Warn("withdraw all routes", zap.Error(err))
			}
		}
		s.mu.Lock()
		s.counters.Withdrawals += uint64(len(s.rib))
		s.rib = map[netip.Prefix]fwdsync.Route{}
		s.mu.Unlock()
		// GoBGP queues the UPDATEs per peer; the Cease below would drop
		// the routes anyway, but withdrawing first is the polite order.
		wait := min(s.cfg.WithdrawGrace, 200*time.Millisecond)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		s.log.Info("BGP routes withdrawn", zap.Int("routes", n))
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.WithdrawGrace+2*time.Second)
	defer cancel()
	if err := s.srv.StopBgp(sctx, &api.StopBgpRequest{}); err != nil {
		s.log.Warn("stop BGP", zap.Error(err))
	}
	if s.stopWatch != nil {
		s.stopWatch()
	}
	s.srv.Stop()
}

// Announced returns the announced routes, sorted by prefix.
func (s *Speaker) Announced() []fwdsync.Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]fwdsync.Route, 0, len(s.rib))
	for _, r := range s.rib {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b fwdsync.Route) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	return out
}

// Sessions returns every peer's session state, in configuration order.
func (s *Speaker) Sessions(ctx context.Context) []Session {
	advertised := map[string]uint64{}
	s.mu.Lock()
	running := s.started && !s.stopped
	s.mu.Unlock()
	if running {
		_ = s.srv.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
			// GoBGP counts what it would send now, End-of-RIB markers
			// included (one a family once graceful restart is
			// negotiated: server.go getBestFromLocal).
			eor := uint64(0)
			if s.GracefulRestart() && remoteGR(p) {
				eor = 1
			}
			var n uint64
			for _, af := range p.GetAfiSafis() {
				n += af.GetState().GetAdvertised() - min(eor, af.GetState().GetAdvertised())
			}
			advertised[p.GetConf().GetNeighborAddress()] = n
		})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Session, 0, len(s.cfg.Peers))
	for _, p := range s.cfg.Peers {
		if ps := s.sessions[p.Address.String()]; ps != nil {
			c := *ps
			c.Advertised = advertised[p.Address.String()]
			out = append(out, c)
		}
	}
	return out
}

// remoteGR tells whether p's OPEN carried the Graceful Restart capability.
func remoteGR(p *api.Peer) bool {
	for _, c := range p.GetState().GetRemoteCap() {
		if c.MessageIs(&api.GracefulRestartCapability{}) {
			return true
		}
	}
	return false
}

// SetStateHook installs f, called on every session state change (metrics).
func (s *Speaker) SetStateHook(f func(peer, from, to string)) { s.onState = f }

// Counters returns the speaker's counters.
func (s *Speaker) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counters
}

// apiPath turns a route into a GoBGP path: origin IGP, the next hop (0.0.0.0
// or :: for "self": GoBGP then uses the session's local address), and the
// optional communities and MED.
func apiPath(r fwdsync.Route) (*api.Path, error) {
	addr := r.Prefix.Addr()
	nlri, err := anypb.New(&api.IPAddressPrefix{Prefix: addr.String(), PrefixLen: uint32(r.Prefix.Bits())})
	if err != nil {
		return nil, err
	}
	attrs := []proto.Message{&api.OriginAttribute{Origin: 0}}
	fam := familyV4
	if addr.Is4() {
		nh := "0.0.0.0"
		if r.NextHop.IsValid() {
			if !r.NextHop.Is4() {
				return nil, fmt.Errorf("IPv4 route %s with IPv6 next hop %s", r.Prefix, r.NextHop)
			}
			nh = r.NextHop.String()
		}
		attrs = append(attrs, &api.NextHopAttribute{NextHop: nh})
	} else {
		fam = familyV6
		nh := "::"
		if r.NextHop.IsValid() {
			if r.NextHop.Is4() {
				return nil, fmt.Errorf("IPv6 route %s with IPv4 next hop %s", r.Prefix, r.NextHop)
			}
			nh = r.NextHop.String()
		}
		attrs = append(attrs, &api.MpReachNLRIAttribute{Family: fam, NextHops: []string{nh}, Nlris: []*anypb.Any{nlri}})
	}
	var std []uint32
	var large []*api.LargeCommunity
	for _, c := range r.Communities {
		if c.Large {
			large = append(large, &api.LargeCommunity{GlobalAdmin: c.Global, LocalData1: c.Local1, LocalData2: c.Local2})
		} else {
			std = append(std, c.Value)
		}
	}
	if len(std) > 0 {
		attrs = append(attrs, &api.CommunitiesAttribute{Communities: std})
	}
	if len(large) > 0 {
		attrs = append(attrs, &api.LargeCommunitiesAttribute{Communities: large})
	}
	if r.MED != nil {
		attrs = append(attrs, &api.MultiExitDiscAttribute{Med: *r.MED})
	}
	pattrs := make([]*anypb.Any, 0, len(attrs))
	for _, a := range attrs {
		x, err := anypb.New(a)
		if err != nil {
			return nil, err
		}
		pattrs = append(pattrs, x)
	}
	return &api.Path{Family: fam, Nlri: nlri, Pattrs: pattrs}, nil
}

// gobgpLogger sends GoBGP's log to zap. GoBGP's info (every connection
// attempt) becomes debug; its errors become warnings (it retries them), and
// its warnings (e.g. "failed to set md5") stay warnings.
type gobgpLogger struct {
	log   *zap.Logger
	level gobgplog.LogLevel
}

func fields(f gobgplog.Fields) []zap.Field {
	out := make([]zap.Field, 0, len(f))
	for k, v := range f {
		out = append(out, zap.Any(k, v))
	}
	return out
}

func (l *gobgpLogger) Panic(msg string, f gobgplog.Fields) { l.log.Error(msg, fields(f)...) }
func (l *gobgpLogger) Fatal(msg string, f gobgplog.Fields) { l.log.Error(msg, fields(f)...) }
func (l *gobgpLogger) Error(msg string, f gobgplog.Fields) { l.log.Warn(msg, fields(f)...) }
func (l *gobgpLogger) Warn(msg string, f gobgplog.Fields)  { l.log.Warn(msg, fields(f)...) }
func (l *gobgpLogger) Info(msg string, f gobgplog.Fields)  { l.log.Debug(msg, fields(f)...) }
func (l *gobgpLogger) Debug(msg string, f gobgplog.Fields) {
	if l.level >= gobgplog.DebugLevel {
		l.log.Debug(msg, fields(f)...)
	}
}
func (l *gobgpLogger) SetLevel(level gobgplog.LogLevel) { l.level = level }
func (l *gobgpLogger) GetLevel() gobgplog.LogLevel      { return l.level }
