package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ovnfwd/ovnfwd/bgp"
	"github.com/ovnfwd/ovnfwd/engine"
	"github.com/ovnfwd/ovnfwd/ovn"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// Route-state flag names (a contract, like flags.go).
const (
	flagARPResponder    = "arp-responder"
	flagChassis         = "chassis"
	flagOVS             = "ovs"
	flagBGPASN          = "bgp-asn"
	flagBGPRouterID     = "bgp-router-id"
	flagBGPPeer         = "bgp-peer"
	flagBGPLocalAddress = "bgp-local-address"
	flagBGPListenPort   = "bgp-listen-port"
	flagBGPHoldTime     = "bgp-hold-time"
	flagBGPKeepalive    = "bgp-keepalive"
	flagBGPConnectRetry = "bgp-connect-retry"
	flagBGPMultihop     = "bgp-ebgp-multihop"
	flagBGPNextHop      = "bgp-next-hop"
	flagBGPCommunity    = "bgp-community"
	flagBGPMED          = "bgp-med"
	flagBGPNetworks     = "bgp-networks"
	flagBGPUplinks      = "bgp-uplinks"
	flagBGPSBGrace      = "bgp-sb-grace"
	flagBGPSBHold       = "bgp-sb-hold"
	flagBGPGraceful     = "bgp-graceful-restart"
	flagBGPAnnDelay     = "bgp-announce-delay"

	// envBGPPeers holds --bgp-peer values separated by ";" or newlines
	// (never by spaces: a password may contain them). It is read only
	// when no --bgp-peer is given on the command line.
	envBGPPeers = "OVNFWD_BGP_PEERS"
)

// flagActionError is what a flag's Action returns for a bad value:
// urfave/cli returns flag-action errors without handling them, so it is
// printed and exits 2 the way every other error does.
func flagActionError(c *cli.Context, err error) error {
	if err != nil && c.App != nil && c.App.ExitErrHandler != nil {
		c.App.ExitErrHandler(c, cli.Exit(err.Error(), engine.ExitError))
	}
	return err
}

// arpResponderFlag is the L2 route-state policy, shared by run, check and
// repair (it is part of the desired row state).
func arpResponderFlag() cli.Flag {
	return &cli.StringFlag{Name: flagARPResponder, Value: fwdsync.ARPResponderAuto, EnvVars: []string{"OVNFWD_ARP_RESPONDER"},
		Action: func(c *cli.Context, _ string) error {
			_, err := arpResponderMode(c)
			return flagActionError(c, err)
		},
		Usage: "options:neighbor_responder of forward rows: auto (=all when the listen address is outside every router subnet, so the active gateway answers ARP/ND for it), all, off (keep it unset; such VIPs go dark ~30 s after a failover on l2proxy uplinks), or unmanaged (never compare or change it: exactly what LXD alone does)"}
}

// arpResponderMode returns the validated --arp-responder value (the flag's
// Action already refuses a bad one, so planOptions may ignore the error).
func arpResponderMode(c *cli.Context) (string, error) {
	switch m := strings.ToLower(strings.TrimSpace(c.String(flagARPResponder))); m {
	case fwdsync.ARPResponderAuto, fwdsync.ARPResponderAll, fwdsync.ARPResponderOff:
		return m, nil
	case "unmanaged":
		return fwdsync.ARPResponderUnmanaged, nil
	default:
		return "", fmt.Errorf("--%s %q: want auto, all, off or unmanaged", flagARPResponder, c.String(flagARPResponder))
	}
}

const bgpCategory = "Route state (BGP)"

// routePolicyFlags are the L3 route-state flags run shares with check,
// repair and status (through planFlags): whether ovnfwd announces over BGP
// at all (--bgp-asn), with which next hop, and which networks. The one-shot
// commands read them, with the same environment variables, to judge the
// route findings (lxd-bgp-also-announces, route-no-next-hop) of the policy
// run announces with; they open no BGP session.
func routePolicyFlags() []cli.Flag {
	const cat = bgpCategory
	validate := func(c *cli.Context) error {
		_, err := routePolicyFromFlags(c)
		return flagActionError(c, err)
	}
	return []cli.Flag{
		&cli.UintFlag{Name: flagBGPASN, EnvVars: []string{"OVNFWD_BGP_ASN"}, Category: cat,
			Action: func(c *cli.Context, _ uint) error { return validate(c) },
			Usage:  "local AS `NUMBER` of ovnfwd's BGP speaker; 0 (the default) disables it: run announces nothing, and check, repair and status judge no BGP route finding"},
		&cli.StringFlag{Name: flagBGPNextHop, Value: fwdsync.NextHopRouter, EnvVars: []string{"OVNFWD_BGP_NEXT_HOP"}, Category: cat,
			Action: func(c *cli.Context, _ string) error { return validate(c) },
			Usage:  "next hop of the routes: router (the OVN router's uplink address, volatile.network.ipv4/ipv6.address) or self (the session's local address)"},
		&cli.StringSliceFlag{Name: flagBGPNetworks, EnvVars: []string{"OVNFWD_BGP_NETWORKS"}, Category: cat,
			Usage: "announce only these LXD networks (`[PROJECT/]NAME`; default: all)"},
		&cli.StringSliceFlag{Name: flagBGPUplinks, EnvVars: []string{"OVNFWD_BGP_UPLINKS"}, Category: cat,
			Usage: "announce only networks on these uplink `NETWORK`s (default: all)"},
	}
}

// routePolicyFromFlags reads the route policy of routePolicyFlags: nil
// when --bgp-asn is 0 (ovnfwd's BGP is off). Its Chassis is empty: run
// fills it in (parseRouteConfig), the one-shot commands judge for every
// member at once.
func routePolicyFromFlags(c *cli.Context) (*fwdsync.RoutePolicy, error) {
	asn := c.Uint(flagBGPASN)
	if asn == 0 {
		return nil, nil
	}
	if asn > 1<<32-1 {
		return nil, fmt.Errorf("--%s %d: not a 32-bit AS number", flagBGPASN, asn)
	}
	pol := &fwdsync.RoutePolicy{
		NextHop:  strings.ToLower(strings.TrimSpace(c.String(flagBGPNextHop))),
		Networks: c.StringSlice(flagBGPNetworks),
		Uplinks:  c.StringSlice(flagBGPUplinks),
	}
	switch pol.NextHop {
	case fwdsync.NextHopRouter, fwdsync.NextHopSelf:
	default:
		return nil, fmt.Errorf("--%s %q: unknown next-hop mode (want router or self)", flagBGPNextHop, c.String(flagBGPNextHop))
	}
	return pol, nil
}

// bgpFlags are `ovnfwd run`'s own L3 route-state flags (with
// routePolicyFlags, which come with planFlags): the embedded BGP speaker
// announces a host route per forward VIP of every network whose gateway
// this member's chassis holds. It is off unless --bgp-asn is set.
func bgpFlags() []cli.Flag {
	const cat = bgpCategory
	return []cli.Flag{
		&cli.StringFlag{Name: flagChassis, EnvVars: []string{"OVNFWD_CHASSIS"}, Category: cat,
			Usage: "this member's OVN chassis `NAME` (default: the local OVS's external_ids:system-id, as ovn-controller reads it)"},
		&cli.StringFlag{Name: flagOVS, EnvVars: []string{"OVNFWD_OVS"}, Category: cat,
			Usage: "the local Open vSwitch database `SOCKET` (unix:PATH or PATH), where --chassis, the uplink bridges of --announce-gateway and the BFD view of --bgp-sb-grace are read; its directory holds the bridges' .mgmt sockets (default: $OVS_RUNDIR/db.sock, else the first of /run/openvswitch/db.sock, /var/run/openvswitch/db.sock, MicroOVN's /var/snap/microovn/common/run/switch/db.sock, and in the snap $SNAP_DATA/microovn/chassis/switch/db.sock)"},
		&cli.StringFlag{Name: flagBGPRouterID, EnvVars: []string{"OVNFWD_BGP_ROUTER_ID"}, Category: cat,
			Usage: "BGP router `ID` (an IPv4 address; default: --bgp-local-address when it is IPv4)"},
		// No EnvVars: urfave/cli would hand $OVNFWD_BGP_PEERS to Set as one
		// value and print it whole in a parse error; peerSpecs reads it.
		&cli.GenericFlag{Name: flagBGPPeer, Value: &peerList{}, Category: cat,
			Usage: "a BGP neighbor, `ADDRESS[:PORT],ASN[,PASSWORD]` (IPv6 with a port: [ADDR]:PORT; the PASSWORD is the rest of the value, spaces and commas included; @FILE reads it from FILE); repeatable; without it, $" + envBGPPeers + " holds the peers, separated by ; or newlines (a password with those: @FILE)"},
		&cli.StringFlag{Name: flagBGPLocalAddress, EnvVars: []string{"OVNFWD_BGP_LOCAL_ADDRESS"}, Category: cat,
			Usage: "source `ADDRESS` of the BGP sessions (default: chosen by the kernel)"},
		&cli.IntFlag{Name: flagBGPListenPort, Value: -1, EnvVars: []string{"OVNFWD_BGP_LISTEN_PORT"}, Category: cat,
			Usage: "accept BGP connections on this `PORT` (-1: never listen, ovnfwd connects to its peers)"},
		&cli.DurationFlag{Name: flagBGPHoldTime, Value: 3 * time.Second, EnvVars: []string{"OVNFWD_BGP_HOLD_TIME"}, Category: cat,
			Usage: "BGP hold time offered (whole seconds, 0 or ≥3 s): a peer drops this member's routes this long after it stops hearing from it"},
		&cli.DurationFlag{Name: flagBGPKeepalive, Value: time.Second, EnvVars: []string{"OVNFWD_BGP_KEEPALIVE"}, Category: cat,
			Usage: "BGP keepalive interval (whole seconds, below the hold time)"},
		&cli.DurationFlag{Name: flagBGPConnectRetry, Value: 2 * time.Second, EnvVars: []string{"OVNFWD_BGP_CONNECT_RETRY"}, Category: cat,
			Usage: "pause between connection attempts to a peer, also after a session reset"},
		&cli.UintFlag{Name: flagBGPMultihop, EnvVars: []string{"OVNFWD_BGP_EBGP_MULTIHOP"}, Category: cat,
			Usage: "`TTL` of eBGP sessions to peers that are not directly connected (0: single hop)"},
		&cli.StringSliceFlag{Name: flagBGPCommunity, EnvVars: []string{"OVNFWD_BGP_COMMUNITIES"}, Category: cat,
			Usage: "attach this `COMMUNITY` to every route: ASN:VALUE, GLOBAL:LOCAL1:LOCAL2, or no-export, no-advertise, …; repeatable"},
		&cli.Int64Flag{Name: flagBGPMED, Value: -1, EnvVars: []string{"OVNFWD_BGP_MED"}, Category: cat,
			Usage: "MULTI_EXIT_DISC of every route (-1: none)"},
		&cli.DurationFlag{Name: flagBGPAnnDelay, Value: 0, EnvVars: []string{"OVNFWD_BGP_ANNOUNCE_DELAY"}, Category: cat,
			Usage: "announce a network only once this chassis has held its gateway this long (filters the few-ms holders OVN shows during pre-emption; delays every failover by as much); withdrawals are immediate"},
		&cli.DurationFlag{Name: flagBGPSBGrace, Value: 3 * time.Second, EnvVars: []string{"OVNFWD_BGP_SB_GRACE"}, Category: cat,
			Usage: "trust the last gateway claims this long when the southbound DB is unreachable; after it, keep announcing a network whose gateway this chassis held only while its own BFD view (local OVS, --ovs) shows no chassis of higher priority up, as ovn-controller decides; without a local OVS, withdraw everything"},
		&cli.DurationFlag{Name: flagBGPGraceful, Value: 120 * time.Second, EnvVars: []string{"OVNFWD_BGP_GRACEFUL_RESTART"}, Category: cat,
			Usage: "BGP graceful restart (RFC 4724) with this restart time (whole seconds, at most 4095s; 0: off): when ovnfwd stops or restarts (a snap refresh), the peers keep its routes this long, until it is back and has sent them again — OVN forwards the traffic meanwhile; with 0 a stop withdraws every route at once"},
		&cli.DurationFlag{Name: flagBGPSBHold, Value: 5 * time.Minute, EnvVars: []string{"OVNFWD_BGP_SB_HOLD"}, Category: cat,
			Usage: "withdraw every route when the southbound DB has been unreachable this long, whatever the local view says"},
	}
}

// parseRouteConfig reads the BGP flags; ok is false when BGP is off.
// chassisID resolves the default chassis name (the local OVS system-id).
func parseRouteConfig(c *cli.Context, chassisID func(context.Context) (string, error)) (engine.RouteConfig, bool, error) {
	var rc engine.RouteConfig
	shared, err := routePolicyFromFlags(c)
	if err != nil {
		return rc, false, err
	}
	if shared == nil {
		if len(peerSpecs(c)) > 0 {
			return rc, false, fmt.Errorf("--%s given without --%s", flagBGPPeer, flagBGPASN)
		}
		return rc, false, nil
	}
	sc := bgp.Config{
		ASN:             uint32(c.Uint(flagBGPASN)),
		ListenPort:      int32(c.Int(flagBGPListenPort)),
		HoldTime:        c.Duration(flagBGPHoldTime),
		Keepalive:       c.Duration(flagBGPKeepalive),
		ConnectRetry:    c.Duration(flagBGPConnectRetry),
		EBGPMultihopTTL: uint32(min(c.Uint(flagBGPMultihop), 255)),
		GracefulRestart: c.Duration(flagBGPGraceful),
	}
	if gr := sc.GracefulRestart; gr < 0 || gr%time.Second != 0 || gr > bgp.MaxRestartTime {
		return rc, false, fmt.Errorf("--%s %v: want 0 (off) or whole seconds up to %v", flagBGPGraceful, gr, bgp.MaxRestartTime)
	}
	if err := checkTimers(sc.HoldTime, sc.Keepalive); err != nil {
		return rc, false, err
	}
	if sc.ListenPort < -1 || sc.ListenPort > 65535 {
		return rc, false, fmt.Errorf("--%s %d: want -1 or a port", flagBGPListenPort, sc.ListenPort)
	}
	var local netip.Addr
	if s := strings.TrimSpace(c.String(flagBGPLocalAddress)); s != "" {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return rc, false, fmt.Errorf("--%s %q: %v", flagBGPLocalAddress, s, err)
		}
		local = a.Unmap()
		if sc.ListenPort > 0 {
			sc.ListenAddresses = []string{local.String()}
		}
	}
	specs := peerSpecs(c)
	if len(specs) == 0 {
		return rc, false, fmt.Errorf("--%s needs at least one --%s ADDRESS,ASN", flagBGPASN, flagBGPPeer)
	}
	for _, s := range specs {
		p, err := parsePeer(s)
		if err != nil {
			return rc, false, err
		}
		p.LocalAddress = local
		sc.Peers = append(sc.Peers, p)
	}
	sc.RouterID = strings.TrimSpace(c.String(flagBGPRouterID))
	if sc.RouterID == "" {
		if !local.Is4() {
			return rc, false, fmt.Errorf("--%s is needed unless --%s is an IPv4 address", flagBGPRouterID, flagBGPLocalAddress)
		}
		sc.RouterID = local.String()
	}
	if a, err := netip.ParseAddr(sc.RouterID); err != nil || !a.Is4() {
		return rc, false, fmt.Errorf("--%s %q: want an IPv4 address", flagBGPRouterID, sc.RouterID)
	}

	pol := *shared
	pol.Chassis = strings.TrimSpace(c.String(flagChassis))
	pol.Communities = c.StringSlice(flagBGPCommunity)
	if med := c.Int64(flagBGPMED); med >= 0 {
		if med > 1<<32-1 {
			return rc, false, fmt.Errorf("--%s %d: too large", flagBGPMED, med)
		}
		v := uint32(med)
		pol.MED = &v
	}
	if pol.Chassis == "" {
		ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
		defer cancel()
		id, err := chassisID(ctx)
		if err != nil {
			return rc, false, fmt.Errorf("--%s not given and the local chassis name is unknown: %w", flagChassis, err)
		}
		pol.Chassis = id
	}
	if err := pol.Validate(); err != nil {
		return rc, false, err
	}
	rc.Policy, rc.Speaker, rc.SBGrace, rc.AnnounceDelay = pol, sc, c.Duration(flagBGPSBGrace), c.Duration(flagBGPAnnDelay)
	rc.SBHold = c.Duration(flagBGPSBHold)
	if rc.SBGrace < 0 || rc.SBHold < rc.SBGrace {
		return rc, false, fmt.Errorf("--%s %v must be at least --%s %v (and neither negative)", flagBGPSBHold, rc.SBHold, flagBGPSBGrace, rc.SBGrace)
	}
	ovs := c.String(flagOVS)
	rc.LocalBFD = func(ctx context.Context) (map[string]bool, error) { return ovn.LocalBFD(ctx, ovs) }
	return rc, true, nil
}

func checkTimers(hold, keepalive time.Duration) error {
	switch {
	case hold%time.Second != 0 || keepalive%time.Second != 0:
		return fmt.Errorf("--%s and --%s are whole seconds (got %v, %v)", flagBGPHoldTime, flagBGPKeepalive, hold, keepalive)
	case hold != 0 && hold < 3*time.Second:
		return fmt.Errorf("--%s %v: BGP allows 0 or at least 3 s", flagBGPHoldTime, hold)
	case hold > 65535*time.Second:
		return fmt.Errorf("--%s %v: too long", flagBGPHoldTime, hold)
	case hold != 0 && (keepalive <= 0 || keepalive >= hold):
		return fmt.Errorf("--%s %v must be positive and below --%s %v", flagBGPKeepalive, keepalive, flagBGPHoldTime, hold)
	}
	return nil
}

// peerList is the value of the repeatable --bgp-peer. A peer spec contains
// commas, so the comma split of cli.StringSliceFlag cannot be used; each
// value is exactly one spec, kept whole (a password may hold spaces, commas
// and semicolons). Set never fails: urfave/cli prints a value it could not
// set, password included.
type peerList []string

func (l *peerList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func (l *peerList) String() string {
	if l == nil {
		return ""
	}
	out := make([]string, len(*l))
	for i, s := range *l {
		out[i] = redactPeer(s)
	}
	return strings.Join(out, " ")
}

// peerSpecs are the --bgp-peer values, else those of $OVNFWD_BGP_PEERS.
func peerSpecs(c *cli.Context) []string {
	if l, ok := c.Generic(flagBGPPeer).(*peerList); ok && l != nil && len(*l) > 0 {
		return *l
	}
	return splitEnvPeers(os.Getenv(envBGPPeers))
}

// splitEnvPeers splits $OVNFWD_BGP_PEERS on ";" and newlines, dropping
// blank entries. Spaces are kept: they may be part of a password.
func splitEnvPeers(v string) []string {
	var out []string
	for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == '\n' || r == '\r' }) {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}

// maxPasswordFile bounds what is read of a @FILE password (TCP MD5 keys
// are at most 80 bytes; this only stops @/dev/zero from eating memory).
const maxPasswordFile = 4096

// readPasswordFile returns FILE's content without its trailing line end.
// Its errors name the file, never the content.
func readPasswordFile(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", file, err)
	}
	if len(data) > maxPasswordFile {
		return "", fmt.Errorf("%s: longer than %d bytes", file, maxPasswordFile)
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}

// parsePeer parses ADDRESS[:PORT],ASN[,PASSWORD]: the password is
// everything after the second comma (surrounding whitespace of the whole
// spec is ignored), or @FILE. Its errors never contain the password.
func parsePeer(spec string) (bgp.Peer, error) {
	var p bgp.Peer
	fail := func(format string, args ...any) (bgp.Peer, error) {
		return p, fmt.Errorf("--%s %q: %s (want ADDRESS[:PORT],ASN[,PASSWORD])", flagBGPPeer, redactPeer(spec), fmt.Sprintf(format, args...))
	}
	parts := strings.SplitN(strings.TrimSpace(spec), ",", 3)
	if len(parts) < 2 {
		return fail("no ASN")
	}
	host := strings.TrimSpace(parts[0])
	if ap, err := netip.ParseAddrPort(host); err == nil {
		p.Address, p.Port = ap.Addr().Unmap(), ap.Port()
		if p.Port == 0 {
			return fail("port 0")
		}
	} else if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil && a.Zone() == "" {
		p.Address = a.Unmap()
	} else {
		return fail("invalid address %q", host)
	}
	asn, err := strconv.ParseUint(strings.TrimSpace(parts[1]), 10, 32)
	if err != nil || asn == 0 {
		return fail("invalid ASN %q", parts[1])
	}
	p.ASN = uint32(asn)
	if len(parts) == 3 {
		p.Password = parts[2]
		if file, ok := strings.CutPrefix(p.Password, "@"); ok {
			pw, err := readPasswordFile(file)
			if err != nil {
				return fail("password file: %v", err)
			}
			p.Password = pw
		}
	}
	return p, nil
}

// redactPeer hides a password in error messages (a @FILE stays: it names
// a file, not the secret).
func redactPeer(spec string) string {
	parts := strings.SplitN(spec, ",", 3)
	if len(parts) == 3 && !strings.HasPrefix(parts[2], "@") {
		parts[2] = "***"
	}
	return strings.Join(parts, ",")
}
