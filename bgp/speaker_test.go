package bgp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// testPeer is a second GoBGP server on loopback that plays the uplink
// router: it listens on 127.0.0.1:<port> and accepts the speaker, which
// connects from 127.0.0.2.
type testPeer struct {
	t    *testing.T
	srv  *server.BgpServer
	port uint16
}

func freeTCPPort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

func newTestPeer(t *testing.T, speakerAddr string, speakerASN uint32, password string) *testPeer {
	t.Helper()
	return newTestPeerGR(t, speakerAddr, speakerASN, password, false)
}

// newTestPeerGR is newTestPeer; with gr, the peer is a graceful restart
// helper (it keeps the speaker's routes when the session ends without a
// NOTIFICATION).
func newTestPeerGR(t *testing.T, speakerAddr string, speakerASN uint32, password string, gr bool) *testPeer {
	t.Helper()
	p := &testPeer{t: t, srv: server.NewBgpServer(server.LoggerOption(&gobgpLogger{log: testLog, level: 5})), port: freeTCPPort(t)}
	go p.srv.Serve()
	ctx := context.Background()
	if err := p.srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: 65000, RouterId: "127.0.0.1", ListenPort: int32(p.port), ListenAddresses: []string{"127.0.0.1"},
	}}); err != nil {
		t.Fatal(err)
	}
	ap := &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: speakerAddr, PeerAsn: speakerASN, AuthPassword: password},
		Transport: &api.Transport{PassiveMode: true},
		Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: 3, KeepaliveInterval: 1, IdleHoldTimeAfterReset: 1}},
		AfiSafis: []*api.AfiSafi{
			{Config: &api.AfiSafiConfig{Family: familyV4, Enabled: true}},
			{Config: &api.AfiSafiConfig{Family: familyV6, Enabled: true}},
		},
	}
	if gr {
		ap.GracefulRestart = &api.GracefulRestart{Enabled: true, RestartTime: 30, HelperOnly: true}
		for _, af := range ap.AfiSafis {
			af.MpGracefulRestart = &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}
		}
	}
	if err := p.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: ap}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.srv.StopBgp(context.Background(), &api.StopBgpRequest{})
		p.srv.Stop()
	})
	return p
}

// routes returns what the peer received: prefix → "nh=… comm=… med=… as=…".
func (p *testPeer) routes() map[string]string {
	out := map[string]string{}
	for _, fam := range []*api.Family{familyV4, familyV6} {
		err := p.srv.ListPath(context.Background(), &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: fam}, func(d *api.Destination) {
			for _, path := range d.Paths {
				var parts []string
				for _, a := range path.Pattrs {
					m, err := a.UnmarshalNew()
					if err != nil {
						p.t.Fatal(err)
					}
					switch v := m.(type) {
					case *api.NextHopAttribute:
						parts = append(parts, "nh="+v.NextHop)
					case *api.MpReachNLRIAttribute:
						parts = append(parts, "nh="+strings.Join(v.NextHops, ","))
					case *api.CommunitiesAttribute:
						parts = append(parts, fmt.Sprintf("comm=%v", v.Communities))
					case *api.LargeCommunitiesAttribute:
						for _, c := range v.Communities {
							parts = append(parts, fmt.Sprintf("large=%d:%d:%d", c.GlobalAdmin, c.LocalData1, c.LocalData2))
						}
					case *api.MultiExitDiscAttribute:
						parts = append(parts, fmt.Sprintf("med=%d", v.Med))
					case *api.AsPathAttribute:
						parts = append(parts, fmt.Sprintf("as=%v", v.Segments[0].Numbers))
					}
				}
				sort.Strings(parts)
				out[d.Prefix] = strings.Join(parts, " ")
			}
		})
		if err != nil {
			p.t.Fatal(err)
		}
	}
	return out
}

func (p *testPeer) waitRoutes(what string, want map[string]string) {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var got map[string]string
	for time.Now().Before(deadline) {
		if got = p.routes(); fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("%s: peer has %v, want %v", what, got, want)
}

func startTestSpeaker(t *testing.T, peer *testPeer, password string) *Speaker {
	t.Helper()
	s := New(Config{
		ASN: 65101, RouterID: "127.0.0.2", ListenPort: -1, HoldTime: 3 * time.Second, Keepalive: time.Second, ConnectRetry: time.Second,
		Peers: []Peer{{Address: netip.MustParseAddr("127.0.0.1"), Port: peer.port, ASN: 65000, Password: password,
			LocalAddress: netip.MustParseAddr("127.0.0.2")}},
	}, zap.NewNop())

	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if ss := s.Sessions(context.Background()); len(ss) == 1 && ss[0].State == "established" {
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("session not established: %+v", s.Sessions(context.Background()))
	return nil
}

func route(prefix, nh string) fwdsync.Route {
	r := fwdsync.Route{Prefix: netip.MustParsePrefix(prefix), Network: fwdsync.NetworkRef{Project: "default", Name: "ovn0"}}
	if nh != "" {
		r.NextHop = netip.MustParseAddr(nh)
	}
	return r
}

func TestSpeakerSyncAgainstARealPeer(t *testing.T) {
	peer := newTestPeer(t, "127.0.0.2", 65101, "")
	s := startTestSpeaker(t, peer, "")
	ctx := context.Background()

	med := uint32(20)
	a := route("198.51.100.10/32", "10.99.0.100")
	a.Communities = []fwdsync.Community{{Value: 65000<<16 | 100}, {Large: true, Global: 65000, Local1: 1, Local2: 2}}
	a.MED = &med
	b := route("198.51.100.11/32", "") // next hop self
	c := route("2001:db8:1::10/128", "2001:db8:ff::2")
	res, err := s.Sync(ctx, []fwdsync.Route{a, b, c})
	if err != nil || len(res.Announced) != 3 || len(res.Withdrawn) != 0 {
		t.Fatalf("first sync: %+v, %v", res, err)
	}
	peer.waitRoutes("after the first sync", map[string]string{
		"198.51.100.10/32":   "as=[65101] comm=[4259840100] large=65000:1:2 med=20 nh=10.99.0.100",
		"198.51.100.11/32":   "as=[65101] nh=127.0.0.2",
		"2001:db8:1::10/128": "as=[65101] nh=2001:db8:ff::2",
	})

	// Same routes again: nothing to do.
	if res, err := s.Sync(ctx, []fwdsync.Route{c, b, a}); err != nil || len(res.Announced)+len(res.Withdrawn) != 0 {
		t.Fatalf("idempotent sync changed %+v, %v", res, err)
	}
	// One withdrawn, one changed (next hop), one kept.
	b2 := route("198.51.100.11/32", "10.99.0.101")
	res, err = s.Sync(ctx, []fwdsync.Route{a, b2})
	if err != nil || !slices.Equal(res.Announced, []netip.Prefix{b2.Prefix}) || !slices.Equal(res.Withdrawn, []netip.Prefix{c.Prefix}) {
		t.Fatalf("diff sync: %+v, %v", res, err)
	}
	peer.waitRoutes("after the diff sync", map[string]string{
		"198.51.100.10/32": "as=[65101] comm=[4259840100] large=65000:1:2 med=20 nh=10.99.0.100",
		"198.51.100.11/32": "as=[65101] nh=10.99.0.101",
	})
	if got := s.Counters(); got.Announcements != 4 || got.Withdrawals != 1 || got.Errors != 0 {
		t.Errorf("counters %+v", got)
	}
	if ann := s.Announced(); len(ann) != 2 || !ann[1].Equal(b2) {
		t.Errorf("announced %+v", ann)
	}
	if ss := s.Sessions(ctx); ss[0].Advertised != 2 || ss[0].Established != 1 || ss[0].Peer != fmt.Sprintf("127.0.0.1:%d", peer.port) {
		t.Errorf("sessions %+v", ss)
	}

	// Graceful shutdown: the peer loses every route, the session closes.
	s.Shutdown(ctx)
	peer.waitRoutes("after shutdown", map[string]string{})
	if _, err := s.Sync(ctx, []fwdsync.Route{a}); err == nil {
		t.Error("Sync after Shutdown succeeded")
	}
	s.Shutdown(ctx) // twice is fine
}

// tcpMD5Supported probes whether this kernel lets a socket carry a TCP
// MD5 key (some VMs and sandboxes refuse with ENOPROTOOPT).
func tcpMD5Supported(t *testing.T) bool {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	raw, err := l.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	_ = raw.Control(func(fd uintptr) {
		sig := unix.TCPMD5Sig{Keylen: 4}
		sig.Addr.Family = unix.AF_INET
		copy(sig.Key[:], "test")
		serr = unix.SetsockoptTCPMD5Sig(int(fd), unix.IPPROTO_TCP, unix.TCP_MD5SIG, &sig)
	})
	return serr == nil
}

func TestSpeakerPassword(t *testing.T) {
	if !tcpMD5Supported(t) {
		t.Skip("this kernel refuses TCP_MD5SIG (ENOPROTOOPT): BGP passwords cannot work here")
	}
	peer := newTestPeer(t, "127.0.0.2", 65101, "s3cret")
	s := startTestSpeaker(t, peer, "s3cret") // TCP MD5 on both ends
	if _, err := s.Sync(context.Background(), []fwdsync.Route{route("198.51.100.20/32", "10.99.0.100")}); err != nil {
		t.Fatal(err)
	}
	peer.waitRoutes("announced", map[string]string{"198.51.100.20/32": "as=[65101] nh=10.99.0.100"})
}

func TestSpeakerReconnects(t *testing.T) {
	peer := newTestPeer(t, "127.0.0.2", 65101, "")
	s := startTestSpeaker(t, peer, "")
	ctx := context.Background()
	if _, err := s.Sync(ctx, []fwdsync.Route{route("198.51.100.20/32", "10.99.0.100")}); err != nil {
		t.Fatal(err)
	}
	peer.waitRoutes("announced", map[string]string{"198.51.100.20/32": "as=[65101] nh=10.99.0.100"})

	// The peer resets the session: the speaker reconnects on its own and
	// re-announces what it holds.
	if err := peer.srv.ResetPeer(ctx, &api.ResetPeerRequest{Address: "127.0.0.2"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if ss := s.Sessions(ctx); ss[0].Established >= 2 && ss[0].State == "established" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ss := s.Sessions(ctx); ss[0].Established < 2 || ss[0].Drops < 1 {
		t.Fatalf("no reconnect: %+v", ss)
	}
	peer.waitRoutes("re-announced after the reset", map[string]string{"198.51.100.20/32": "as=[65101] nh=10.99.0.100"})
}

// speakerState returns the peer's view of the speaker: session state and
// the Graceful Restart capability of the speaker's OPEN (nil if none).
func (p *testPeer) speakerState(addr string) (api.PeerState_SessionState, *api.GracefulRestartCapability) {
	p.t.Helper()
	var st api.PeerState_SessionState
	var gr *api.GracefulRestartCapability
	err := p.srv.ListPeer(context.Background(), &api.ListPeerRequest{Address: addr}, func(ap *api.Peer) {
		st = ap.GetState().GetSessionState()
		for _, c := range ap.GetState().GetRemoteCap() {
			if c.MessageIs(&api.GracefulRestartCapability{}) {
				gr = &api.GracefulRestartCapability{}
				if err := c.UnmarshalTo(gr); err != nil {
					p.t.Fatal(err)
				}
			}
		}
	})
	if err != nil {
		p.t.Fatal(err)
	}
	return st, gr
}

// With graceful restart the speaker opens no session before the first
// Sync, and its OPEN carries the capability with the Restart State bit and
// the forwarding-state bit of both families.
func TestSpeakerGracefulRestartWaitsForFirstSync(t *testing.T) {
	peer := newTestPeerGR(t, "127.0.0.2", 65101, "", true)
	s := New(Config{
		ASN: 65101, RouterID: "127.0.0.2", ListenPort: -1, HoldTime: 3 * time.Second, Keepalive: time.Second, ConnectRetry: time.Second,
		GracefulRestart: 90500 * time.Millisecond, // rounded up to 91 s
		Peers: []Peer{{Address: netip.MustParseAddr("127.0.0.1"), Port: peer.port, ASN: 65000,
			LocalAddress: netip.MustParseAddr("127.0.0.2")}},
	}, zap.NewNop())
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	if !s.GracefulRestart() {
		t.Fatal("GracefulRestart() is false")
	}

	// Longer than the connect retry: a speaker that added its peer at
	// Start would be up by now.
	time.Sleep(2 * time.Second)
	if st, _ := peer.speakerState("127.0.0.2"); st == api.PeerState_ESTABLISHED {
		t.Fatal("session established before the first Sync")
	}
	if ss := s.Sessions(ctx); len(ss) != 1 || ss[0].State != "idle" {
		t.Fatalf("sessions before the first Sync: %+v", ss)
	}

	a := route("198.51.100.10/32", "10.99.0.100")
	c := route("2001:db8:1::10/128", "2001:db8:ff::2")
	if _, err := s.Sync(ctx, []fwdsync.Route{a, c}); err != nil {
		t.Fatal(err)
	}
	peer.waitRoutes("after the first sync", map[string]string{
		"198.51.100.10/32":   "as=[65101] nh=10.99.0.100",
		"2001:db8:1::10/128": "as=[65101] nh=2001:db8:ff::2",
	})
	st, gr := peer.speakerState("127.0.0.2")
	if st != api.PeerState_ESTABLISHED || gr == nil {
		t.Fatalf("session %v, graceful restart capability %v", st, gr)
	}
	if gr.Time != 91 || gr.Flags&0x08 == 0 || len(gr.Tuples) != 2 {
		t.Errorf("graceful restart capability: time %d flags %#x tuples %v (want 91 s, R bit, 2 families)", gr.Time, gr.Flags, gr.Tuples)
	}
	for _, tu := range gr.Tuples {
		if tu.Flags&0x80 == 0 {
			t.Errorf("family %v without the forwarding-state bit", tu.Family)
		}
	}
	// The End-of-RIB markers GoBGP counts are not routes.
	deadline := time.Now().Add(10 * time.Second)
	for ss := s.Sessions(ctx); ss[0].Advertised != 2; ss = s.Sessions(ctx) {
		if time.Now().After(deadline) {
			t.Fatalf("advertised %d, want 2", ss[0].Advertised)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Detach keeps everything announced: Sync fails, Shutdown does
	// nothing, the session stays (the process exit would end it).
	s.Detach(ctx)
	if _, err := s.Sync(ctx, nil); err == nil {
		t.Error("Sync after Detach succeeded")
	}
	s.Shutdown(ctx)
	s.Detach(ctx) // twice is fine
	time.Sleep(500 * time.Millisecond)
	if st, _ := peer.speakerState("127.0.0.2"); st != api.PeerState_ESTABLISHED {
		t.Errorf("session %v after Detach and Shutdown", st)
	}
	if len(peer.routes()) != 2 || len(s.Announced()) != 2 {
		t.Errorf("after Detach: peer has %v, speaker announces %v", peer.routes(), s.Announced())
	}
	s.stopWatch()
	s.srv.Stop() // what the process exit would do (here with a Cease)
}

// Without graceful restart, Detach is Shutdown: the routes are withdrawn.
func TestSpeakerDetachWithoutGracefulRestartWithdraws(t *testing.T) {
	peer := newTestPeer(t, "127.0.0.2", 65101, "")
	s := startTestSpeaker(t, peer, "")
	ctx := context.Background()
	if _, err := s.Sync(ctx, []fwdsync.Route{route("198.51.100.20/32", "10.99.0.100")}); err != nil {
		t.Fatal(err)
	}
	peer.waitRoutes("announced", map[string]string{"198.51.100.20/32": "as=[65101] nh=10.99.0.100"})
	s.Detach(ctx) // returns once the sessions are closed
	peer.waitRoutes("after Detach", map[string]string{})
	deadline := time.Now().Add(5 * time.Second)
	for st, _ := peer.speakerState("127.0.0.2"); st == api.PeerState_ESTABLISHED; st, _ = peer.speakerState("127.0.0.2") {
		if time.Now().After(deadline) {
			t.Fatal("session still up after Detach without graceful restart")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAPIPathRejectsMixedFamilies(t *testing.T) {
	if _, err := apiPath(route("198.51.100.1/32", "2001:db8::1")); err == nil {
		t.Error("IPv4 route with IPv6 next hop accepted")
	}
	if _, err := apiPath(route("2001:db8::5/128", "10.0.0.1")); err == nil {
		t.Error("IPv6 route with IPv4 next hop accepted")
	}
}

var testLog = zap.NewNop()
