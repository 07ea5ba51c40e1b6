//go:build integration

package integration

import (
	"fmt"
	"os"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/canonical/lxd/shared/api"
)

// "Traffic is the truth": forwards judged by what a client on the uplink
// gets through the VIP, on the cluster bed (TB_MODE=cluster): real
// containers on m1 and m2, the gateway wherever LXD's priorities put it,
// a client namespace behind the uplink router (which has the listen ranges
// on-link, so it ARPs for every VIP). IPv4 only: the bed's networks have no
// IPv6 (ipv6.address=none), and OVN 23.03 sends no unsolicited NA anyway.

func trafficNames(t *testing.T, base ...string) []string {
	suffix := os.Getpid() % 100000
	var out []string
	for _, b := range base {
		out = append(out, fmt.Sprintf("%s-%d", b, suffix))
	}
	return out
}

// expectHTTP checks that new connections from the client to target get
// page, with a fresh ARP exchange for the VIP first; it returns the time
// to the first good reply.
func expectHTTP(t *testing.T, b *Bed, vip, port, page string) time.Duration {
	t.Helper()
	b.FlushRouterNeigh(t, vip)
	p := b.StartProbe(t, b.Get(t, "TB_CLIENT_NETNS"), "-tcp", vip+":"+port, "-expect", page, "-interval", "50ms", "-timeout", "1s")
	start := time.Now()
	a := p.WaitFirstOK(t, start, 30*time.Second)
	time.Sleep(500 * time.Millisecond)
	p.Stop()
	var oks, fails int
	why := map[string]int{}
	for _, x := range p.Settled(a.Start, time.Now().Add(time.Hour)) {
		if x.OK {
			oks++
		} else {
			fails++
			why[x.Reason]++
		}
	}
	// One slow connection on a loaded 2-core machine is not a broken
	// forward; a tenth is.
	switch {
	case oks < 3 || fails*10 > oks+fails:
		t.Errorf("tcp %s:%s after the first good reply: %d good, %d failed (%s)", vip, port, oks, fails, reasons(why))
	case fails > 0:
		t.Logf("tcp %s:%s after the first good reply: %d good, %d failed (%s)", vip, port, oks, fails, reasons(why))
	}
	return a.Start.Sub(start)
}

// expectUDPEcho checks a UDP flow to vip:port is echoed (most datagrams
// back; the first may race the neighbour resolution).
func expectUDPEcho(t *testing.T, b *Bed, vip, port string) {
	t.Helper()
	var back, sent int
	Eventually(t, 20*time.Second, 200*time.Millisecond, "udp echo "+vip+":"+port, func() string {
		b.FlushRouterNeigh(t, vip)
		p := b.ProbeFor(t, b.Get(t, "TB_CLIENT_NETNS"), 1500*time.Millisecond, "-udp", vip+":"+port, "-udp-interval", "50ms")
		back, sent = 0, 0
		for _, d := range p.UDP() {
			sent++
			if d.Back {
				back++
			}
		}
		if sent == 0 || back < sent*2/3 {
			return fmt.Sprintf("%d of %d datagrams echoed (%s)", back, sent, p.Stderr())
		}
		return ""
	})
	t.Logf("udp %s:%s: %d of %d datagrams echoed", vip, port, back, sent)
}

// Every kind of forward answers through its VIP with one ovnfwd per member:
// a port list (80,8080 → 80), a port range many-to-one (9000-9002 → 80),
// UDP (7 and a range 7000-7001 → 7), and a default target (no port entry:
// the port-less VIP carries all traffic). The containers are on m1 and m2;
// each check starts from a flushed neighbour entry, so the VIP is answered
// by the gateway's ARP responder, not remembered from a GARP.
func TestClusterTrafficForwardKinds(t *testing.T) {
	b := clusterBed(t)
	names := trafficNames(t, "trf-a1", "trf-a2")
	in := b.LaunchInstances(t, map[string]string{names[0]: "m1", names[1]: "m2"})
	c1, c2 := in[names[0]], in[names[1]]
	const (
		vipPorts   = "198.51.100.161"
		vipRange   = "198.51.100.162"
		vipDefault = "198.51.100.163"
	)
	ds := b.members(t)
	w := writer(t, ds, []int{0, 1, 2}, 15*time.Second)
	created := time.Now()
	b.CreateMemberForward(t, 1, api.NetworkForwardsPost{ListenAddress: vipPorts, NetworkForwardPut: api.NetworkForwardPut{
		Ports: []api.NetworkForwardPort{
			{Protocol: "tcp", ListenPort: "80,8080", TargetAddress: c1.IP, TargetPort: "80"},
			{Protocol: "udp", ListenPort: "7", TargetAddress: c1.IP},
		}}})
	b.CreateMemberForward(t, 2, api.NetworkForwardsPost{ListenAddress: vipRange, NetworkForwardPut: api.NetworkForwardPut{
		Ports: []api.NetworkForwardPort{
			{Protocol: "tcp", ListenPort: "9000-9002", TargetAddress: c2.IP, TargetPort: "80"},
			{Protocol: "udp", ListenPort: "7000-7001", TargetAddress: c2.IP, TargetPort: "7"},
		}}})
	b.CreateMemberForward(t, 3, api.NetworkForwardsPost{ListenAddress: vipDefault, NetworkForwardPut: api.NetworkForwardPut{
		Config: map[string]string{"target_address": c2.IP}}})
	for _, l := range []string{vipPorts, vipRange, vipDefault} {
		took := ds[w].WaitState(l, "ok", 30*time.Second)
		t.Logf("forward %s verified ok by the writer m%d (%v after it asked)", l, w+1, took.Round(time.Millisecond))
	}
	t.Logf("gateway: %s; %s on m1 (%s), %s on m2 (%s); forwards created %v ago",
		b.GatewayChassis(t, b.Prefix(t)), c1.Name, c1.IP, c2.Name, c2.IP, time.Since(created).Round(time.Millisecond))

	for _, c := range []struct {
		vip, port string
		to        Instance
	}{
		{vipPorts, "80", c1}, {vipPorts, "8080", c1},
		{vipRange, "9000", c2}, {vipRange, "9001", c2}, {vipRange, "9002", c2},
		{vipDefault, "80", c2},
	} {
		took := expectHTTP(t, b, c.vip, c.port, c.to.Page())
		t.Logf("tcp %s:%s → %s (%s): first good reply %v after a neighbour flush", c.vip, c.port, c.to.Name, c.to.Member, took.Round(time.Millisecond))
	}
	// A port the forward does not list is not forwarded.
	p := b.ProbeFor(t, b.Get(t, "TB_CLIENT_NETNS"), 600*time.Millisecond, "-tcp", vipPorts+":81", "-interval", "100ms", "-timeout", "300ms")
	for _, a := range p.Attempts() {
		if a.OK {
			t.Errorf("tcp %s:81 (not in the forward) answered", vipPorts)
			break
		}
	}
	expectUDPEcho(t, b, vipPorts, "7")
	expectUDPEcho(t, b, vipRange, "7000")
	expectUDPEcho(t, b, vipRange, "7001")
	// The default target's VIP has no port: OVN matches it on the address
	// alone, so UDP reaches the target too.
	expectUDPEcho(t, b, vipDefault, "7")
}

// LXD alone leaves a forward whose VIP is outside every router subnet dark
// once OVN's GARPs for it have stopped (≈31 s after the change) and the
// uplink router's neighbour entry is gone: nobody answers ARP for the VIP.
// Started, ovnfwd sets neighbor_responder=all and the same client gets
// through. The test asserts both: dark without ovnfwd, light with it.
func TestClusterTrafficLXDAloneVsOvnfwd(t *testing.T) {
	b := clusterBed(t)
	names := trafficNames(t, "trf-b1")
	c1 := b.LaunchInstances(t, map[string]string{names[0]: "m1"})[names[0]]
	const vip = "198.51.100.164"
	prefix := b.Prefix(t)
	row := prefix + "-lb-" + vip + "-tcp"
	created := time.Now()
	b.CreateMemberForward(t, 2, api.NetworkForwardsPost{ListenAddress: vip, NetworkForwardPut: api.NetworkForwardPut{
		Ports: []api.NetworkForwardPort{{Protocol: "tcp", ListenPort: "80", TargetAddress: c1.IP}}}})
	lb := b.WaitLXDRow(t, row)
	if v, ok := lb.Options["neighbor_responder"]; ok {
		t.Fatalf("%s has neighbor_responder=%s before ovnfwd ran (another ovnfwd on this bed?)", row, v)
	}

	// OVN's GARPs after the change: ~1, 3, 7, 15, 31 s. Then a fresh ARP
	// exchange, which nobody answers.
	garpEnd := created.Add(33 * time.Second)
	t.Logf("waiting %v for OVN's GARP window after the create to pass", time.Until(garpEnd).Round(time.Second))
	time.Sleep(time.Until(garpEnd))
	if v, ok := b.LBsByName(t)[row][0].Options["neighbor_responder"]; ok {
		t.Fatalf("%s got neighbor_responder=%s without ovnfwd", row, v)
	}
	b.FlushRouterNeigh(t, vip)
	client := b.Get(t, "TB_CLIENT_NETNS")
	dark := b.ProbeFor(t, client, 4*time.Second, "-tcp", vip+":80", "-expect", c1.Page(), "-interval", "200ms", "-timeout", "1s")
	var oks, fails int
	for _, a := range dark.Attempts() {
		if a.OK {
			oks++
		} else {
			fails++
		}
	}
	neigh := b.RouterNeigh(t, vip)
	t.Logf("LXD alone, %v after the create: %d good, %d failed attempts over 4 s; router neighbour entry %q",
		time.Since(created).Round(time.Second), oks, fails, neigh)
	if oks != 0 || fails == 0 {
		t.Fatalf("VIP %s answered %d of %d attempts with LXD alone after the GARP window: the darkness this test needs is not there", vip, oks, oks+fails)
	}
	if !strings.Contains(neigh, "INCOMPLETE") && !strings.Contains(neigh, "FAILED") {
		t.Errorf("router neighbour entry for %s is %q, want INCOMPLETE or FAILED", vip, neigh)
	}

	// Now ovnfwd: one daemon per member, default route state (--arp-responder auto).
	p := b.StartProbe(t, client, "-tcp", vip+":80", "-expect", c1.Page(), "-interval", "20ms", "-timeout", "300ms")
	started := time.Now()
	ds := make([]*Daemon, 3)
	for i := range ds {
		ds[i] = b.SpawnMemberDaemon(t, i+1)
	}
	first := p.WaitFirstOK(t, started, 60*time.Second)
	light := first.Start.Sub(started)
	var ready []string
	for i, d := range ds {
		d.WaitReady(60 * time.Second)
		ready = append(ready, fmt.Sprintf("m%d %v", i+1, time.Since(started).Round(time.Millisecond)))
	}
	var responder time.Duration = -1
	if v := b.LBsByName(t)[row][0].Options["neighbor_responder"]; v != "all" {
		t.Errorf("%s: neighbor_responder=%q with ovnfwd running, want all", row, v)
	}
	for _, line := range strings.Split(strings.Join([]string{ds[0].Log(), ds[1].Log(), ds[2].Log()}, "\n"), "\n") {
		if strings.Contains(line, `"msg":"repaired"`) && strings.Contains(line, vip) {
			if ts := logTime(line); !ts.IsZero() {
				responder = ts.Sub(started)
			}
			break
		}
	}
	r := p.WaitRecovered(t, first.Start, 5*time.Second, time.Second, time.Second)
	t.Logf("ovnfwd started: first good reply %v after the daemons were started (repair logged at +%v; ready: %s); afterwards %s",
		light.Round(time.Millisecond), responder.Round(time.Millisecond), strings.Join(ready, ", "), r)
	// Light means staying lit: on a loaded machine a few new connections
	// in the next seconds may time out together, while the daemons' first
	// writes make OVN reinstall the gateway's flows (seen in CI: one read
	// timeout; three read timeouts within 40 ms, good again 20 ms later);
	// darkness again is not that: failures spread over more than 300 ms, or
	// not good again within a second.
	if r.Fails > 5 || (r.Fails > 0 && (r.LastFail-r.FirstFail > 300*time.Millisecond || r.Recovered-r.FirstFail > time.Second)) || r.OKs < 10*r.Fails {
		t.Errorf("traffic failed again after the first good reply: %s", r)
	}
}

// Drift repair restores traffic: with ovnfwd running, each kind of drift
// that can be inflicted on a forward's Load_Balancer row with ovn-nbctl
// breaks (or would break) the data path; the time from the drift to good
// replies again is measured with a new connection every 20 ms and must stay
// within 10 s.
func TestClusterTrafficDriftRepair(t *testing.T) {
	b := clusterBed(t)
	names := trafficNames(t, "trf-c1")
	c1 := b.LaunchInstances(t, map[string]string{names[0]: "m2"})[names[0]]
	const vip = "198.51.100.165"
	prefix := b.Prefix(t)
	row := prefix + "-lb-" + vip + "-tcp"
	ds := b.members(t)
	w := writer(t, ds, []int{0, 1, 2}, 15*time.Second)
	b.CreateMemberForward(t, 3, api.NetworkForwardsPost{ListenAddress: vip, NetworkForwardPut: api.NetworkForwardPut{
		Ports: []api.NetworkForwardPort{{Protocol: "tcp", ListenPort: "80", TargetAddress: c1.IP}}}})
	ds[w].WaitState(vip, "ok", 30*time.Second)
	good := b.WaitLXDRow(t, row)
	if good.Options["neighbor_responder"] != "all" {
		t.Fatalf("%s options %v, want neighbor_responder=all from ovnfwd", row, good.Options)
	}
	p := b.StartProbe(t, b.Get(t, "TB_CLIENT_NETNS"), "-tcp", vip+":80", "-expect", c1.Page(), "-interval", "20ms", "-timeout", "300ms")
	p.WaitFirstOK(t, time.Now(), 30*time.Second)
	t.Logf("gateway %s, writer m%d, target %s on %s", b.GatewayChassis(t, prefix), w+1, c1.Name, c1.Member)

	const bound = 10 * time.Second
	drifts := []struct {
		name string
		do   func()
		// repaired reports what is still wrong in NB ("" once repaired).
		repaired func() string
	}{
		{"row deleted", func() { b.NBCtl(t, "lb-del", row) }, func() string {
			if n := len(b.LBsByName(t)[row]); n != 1 {
				return fmt.Sprintf("%d rows", n)
			}
			return ""
		}},
		{"VIPs changed (backend 10.10.10.250)", func() {
			b.NBCtl(t, "set", "Load_Balancer", row, fmt.Sprintf(`vips={"%s:80"="10.10.10.250:80"}`, vip))
		}, func() string {
			rows := b.LBsByName(t)[row]
			if len(rows) != 1 || rows[0].VIPs[vip+":80"] != c1.IP+":80" {
				return fmt.Sprintf("rows %+v", rows)
			}
			return ""
		}},
		{"detached from the router", func() { b.NBCtl(t, "lr-lb-del", prefix+"-lr", row) }, func() string {
			rows := b.LBsByName(t)[row]
			if len(rows) != 1 {
				return fmt.Sprintf("%d rows", len(rows))
			}
			if !strings.Contains(b.NBCtl(t, "--bare", "--columns=load_balancer", "list", "Logical_Router", prefix+"-lr"), rows[0].UUID) {
				return "not attached to " + prefix + "-lr"
			}
			return ""
		}},
		{"neighbor_responder removed + router neighbour flushed", func() {
			b.NBCtl(t, "remove", "Load_Balancer", row, "options", "neighbor_responder")
			b.FlushRouterNeigh(t, vip)
		}, func() string {
			rows := b.LBsByName(t)[row]
			if len(rows) != 1 || rows[0].Options["neighbor_responder"] != "all" {
				return fmt.Sprintf("rows %+v", rows)
			}
			return ""
		}},
	}
	for _, d := range drifts {
		// Start from steady good traffic.
		Eventually(t, 15*time.Second, 100*time.Millisecond, "steady traffic before: "+d.name, func() string {
			atts := p.Settled(time.Now().Add(-1500*time.Millisecond), time.Now())
			for _, a := range atts {
				if !a.OK {
					return "a failure in the last second: " + a.Reason
				}
			}
			if len(atts) < 20 {
				return fmt.Sprintf("%d attempts in the last second", len(atts))
			}
			return ""
		})
		before := repairedAll(ds, vip)
		at := time.Now()
		d.do()
		r := p.WaitRecovered(t, at, bound, 1500*time.Millisecond, 3*time.Second)
		Eventually(t, bound, 50*time.Millisecond, "NB repaired after: "+d.name, d.repaired)
		rep := repairedAll(ds, vip) - before
		t.Logf("drift %q: %s; ovnfwd repairs logged: %d", d.name, r, rep)
		if r.Recovered > bound {
			t.Errorf("drift %q: traffic back %v after the drift, want ≤ %v", d.name, r.Recovered, bound)
		}
		if rep == 0 {
			t.Errorf("drift %q: ovnfwd logged no repair of %s", d.name, vip)
		}
	}
}

// logTime is the time of a JSON log line of ovnfwd (zap's "ts", epoch
// seconds).
func logTime(line string) time.Time {
	i := strings.Index(line, `"ts":`)
	if i < 0 {
		return time.Time{}
	}
	s := line[i+5:]
	if j := strings.IndexAny(s, ",}"); j >= 0 {
		s = s[:j]
	}
	var f float64
	if _, err := fmt.Sscanf(s, "%g", &f); err != nil {
		return time.Time{}
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9))
}

// A gateway failover costs OVN's claim time and not a second more: the
// member whose chassis takes the gateway announces it on the uplink the
// moment SB shows its claim (--announce-gateway, on by default), into the
// uplink's OVS bridge from OVN's patch port. ovn-controller's own first
// announcement comes only 1 s after its claim (pinctrl), and until a frame
// from the router's MAC comes from the new gateway, both the uplink
// segment and the new member's provider bridge (which learned that MAC on
// its uplink interface while another chassis held the gateway) send the
// gateway's traffic nowhere: traffic is back no sooner than claim + 1 s
// without the announcement (BENCHMARKS §9), within milliseconds of the
// claim with it. The test kills the gateway chassis (-9) with a new
// connection to a VIP every 10 ms and asserts that only the new holder's
// member announced, and that traffic was back well before OVN's second.
func TestClusterTrafficGatewayAnnounced(t *testing.T) {
	b := clusterBed(t)
	prefix := b.Prefix(t)
	holder := b.GatewayChassis(t, prefix)
	var hn int
	if _, err := fmt.Sscanf(holder, "ch%d", &hn); err != nil {
		t.Fatalf("gateway held by %q", holder)
	}
	// The target on another member than the gateway's.
	target := 1
	if hn == 1 {
		target = 2
	}
	names := trafficNames(t, "trf-g1")
	c1 := b.LaunchInstances(t, map[string]string{names[0]: fmt.Sprintf("m%d", target)})[names[0]]
	const vip = "198.51.100.166"
	b.CreateMemberForward(t, target, api.NetworkForwardsPost{ListenAddress: vip, NetworkForwardPut: api.NetworkForwardPut{
		Ports: []api.NetworkForwardPort{{Protocol: "tcp", ListenPort: "80", TargetAddress: c1.IP}}}})

	ds := make([]*Daemon, 3)
	for i := range ds {
		ds[i] = b.SpawnMemberDaemon(t, i+1)
	}
	for _, d := range ds {
		d.WaitReady(60 * time.Second)
	}
	p := b.StartProbe(t, b.Get(t, "TB_CLIENT_NETNS"), "-tcp", vip+":80", "-expect", c1.Page(), "-interval", "10ms", "-timeout", "300ms")
	p.WaitFirstOK(t, time.Now(), 30*time.Second)

	// Claims as SB reports them, stamped on arrival.
	cr := "cr-" + prefix + "-lr-lrp-ext"
	var mu gosync.Mutex
	var claims []time.Time // a new chassis in the cr port's row
	var crUUID string
	WatchOVSDB(t, b.Get(t, "TB_SB_SOCK"), "OVN_Southbound", map[string][]string{"Port_Binding": {"logical_port", "chassis"}}, func(ev OVSDBEvent) {
		mu.Lock()
		defer mu.Unlock()
		if ev.New != nil && strings.Contains(string(ev.New["logical_port"]), cr) {
			crUUID = ev.UUID
		}
		if ev.UUID == crUUID && ev.Txn > 0 && ev.New != nil && ev.Old != nil {
			if _, changed := ev.Old["chassis"]; changed && OVSDBRef(ev.New["chassis"]) != "" {
				claims = append(claims, ev.At)
			}
		}
	})
	time.Sleep(time.Second) // steady traffic before the kill

	var start func()
	var killed time.Time
	var newHolder string
	var r Recovery
	for attempt := 1; ; attempt++ {
		start = b.KillChassis(t, hn)
		killed = time.Now()
		Eventually(t, 20*time.Second, 20*time.Millisecond, "another chassis claims the gateway", func() string {
			if newHolder = b.GatewayChassis(t, prefix); newHolder == "" || newHolder == holder {
				return fmt.Sprintf("claimed by %q", newHolder)
			}
			return ""
		})
		done := false
		for time.Since(killed) < 15*time.Second {
			if r = p.recovery(killed, time.Second); r.Done && r.Fails > 0 {
				done = true
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if cycleDone(t, b, hn, attempt, done, r, start) {
			break
		}
		b.WaitHolder(t, prefix, holder, 3*time.Second)
		p.WaitFirstOK(t, time.Now(), 30*time.Second)
		time.Sleep(time.Second)
	}
	t.Cleanup(func() {
		start()
		b.WaitHolder(t, prefix, holder, 3*time.Second)
	})
	mu.Lock()
	var claimed time.Time
	for _, c := range claims {
		if c.After(killed) {
			claimed = c
			break
		}
	}
	mu.Unlock()
	if claimed.IsZero() || r.Fails == 0 {
		t.Fatalf("claim seen at %v, traffic %s: the failover this test needs did not happen", claimed, r)
	}
	back := killed.Add(r.Recovered)
	t.Logf("kill -9 of %s: %s claimed after %v; traffic %s; claim → first good %v",
		holder, newHolder, claimed.Sub(killed).Round(time.Millisecond), r, back.Sub(claimed).Round(time.Millisecond))

	var nn int
	fmt.Sscanf(newHolder, "ch%d", &nn)
	for i, d := range ds {
		var announced []string
		for _, line := range strings.Split(d.Log(), "\n") {
			if strings.Contains(line, `"msg":"announced the gateway on the uplink"`) && strings.Contains(line, cr) {
				if ts := logTime(line); ts.After(killed) {
					announced = append(announced, fmt.Sprintf("+%v %s", ts.Sub(killed).Round(time.Millisecond), line))
				}
			}
		}
		switch {
		case i+1 == nn && len(announced) == 0:
			t.Errorf("m%d (chassis %s, the new holder) did not announce the gateway", i+1, newHolder)
		case i+1 != nn && len(announced) > 0:
			t.Errorf("m%d (chassis ch%d, not the holder) announced the gateway: %v", i+1, i+1, announced)
		case len(announced) > 0:
			t.Logf("m%d announced: %s", i+1, announced[0])
		}
	}
	// OVN alone: not before claim + 1 s (pinctrl's first announcement).
	if gap := back.Sub(claimed); gap >= 900*time.Millisecond {
		t.Errorf("traffic back %v after the claim: no sooner than OVN's own announcement (1 s after its claim)", gap.Round(time.Millisecond))
	}

	// Nobody announces (--announce-gateway=false everywhere): "verified"
	// must not run ahead of traffic. Every member keeps the VIP pending
	// ("not announced on the uplink yet") after the claim, and says ok
	// only once traffic flows again. (The prober pauses in between, and
	// a cycle in which OVS 3.1.0's userspace conntrack aborted on another
	// chassis is run again: BENCHMARKS §9.)
	p.Stop()
	start()
	for i, d := range ds {
		d.Stop()
		ds[i] = b.SpawnMemberDaemon(t, i+1, "--announce-gateway=false")
	}
	for _, d := range ds {
		d.WaitReady(60 * time.Second)
	}
	type seen struct {
		at            time.Time
		state, reason string
	}
	var states [][]seen
	for attempt := 1; ; attempt++ {
		b.WaitHolder(t, prefix, holder, 3*time.Second)
		p = b.StartProbe(t, b.Get(t, "TB_CLIENT_NETNS"), "-tcp", vip+":80", "-expect", c1.Page(), "-interval", "20ms", "-timeout", "300ms")
		p.WaitFirstOK(t, time.Now(), 30*time.Second)
		time.Sleep(time.Second)
		states = make([][]seen, len(ds))
		stop := make(chan struct{})
		var wg, baseline gosync.WaitGroup
		for i, d := range ds {
			wg.Add(1)
			baseline.Add(1)
			go func() {
				defer wg.Done()
				first := true
				for {
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
					if fs, err := d.Forwards(); err == nil {
						if f, ok := fs[vip]; ok && (len(states[i]) == 0 || states[i][len(states[i])-1].state != f.State || states[i][len(states[i])-1].reason != f.Reason) {
							states[i] = append(states[i], seen{time.Now(), f.State, f.Reason})
						}
						if first {
							first = false
							baseline.Done()
						}
					}
				}
			}()
		}
		// Every member's verdict before the kill is on record, so that the
		// verdict it keeps until the claim moves is not read as a new one.
		baseline.Wait()
		restart := b.KillChassis(t, hn)
		killed = time.Now()
		var done bool
		for time.Since(killed) < 15*time.Second {
			if r = p.recovery(killed, time.Second); r.Done && r.Fails > 0 {
				done = true
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(time.Second)
		close(stop)
		wg.Wait()
		p.Stop()
		if cycleDone(t, b, hn, attempt, done, r, restart) {
			break
		}
	}
	back = killed.Add(r.Recovered)
	t.Logf("without announcements: traffic %s", r)
	for i := range ds {
		// The first ok after the member judged the claim change (until the
		// SB claim moves, ~0.9 s after the kill, it keeps the verdict it
		// had: it cannot know of the kill any sooner).
		var firstOK time.Time
		pending, judged := false, false
		for _, s := range states[i] {
			if !s.at.After(killed) {
				continue
			}
			t.Logf("m%d: +%v %s: %s", i+1, s.at.Sub(killed).Round(time.Millisecond), s.state, s.reason)
			if s.state == "pending" && strings.Contains(s.reason, "not announced on the uplink yet") {
				pending = true
			}
			if s.state != "ok" {
				judged = true
			}
			if s.state == "ok" && judged && firstOK.IsZero() {
				firstOK = s.at
			}
		}
		switch {
		case !pending:
			t.Errorf("m%d never showed the VIP pending for the unannounced gateway", i+1)
		case firstOK.IsZero():
			t.Errorf("m%d never showed the VIP ok again", i+1)
		case firstOK.Before(back.Add(-40 * time.Millisecond)): // the polls' resolution
			t.Errorf("m%d said ok at +%v, before traffic was back (+%v)", i+1, firstOK.Sub(killed).Round(time.Millisecond), r.Recovered.Round(time.Millisecond))
		}
	}
}

// cycleDone judges one kill cycle of chassis hn: done (traffic recovered)
// with no other chassis dead ends the retries; a cycle in which OVS 3.1.0's
// userspace conntrack aborted on another chassis (BENCHMARKS §9) says
// nothing about ovnfwd and is run again (at most 3 attempts), after the
// bed is whole again; anything else fails the test.
func cycleDone(t *testing.T, b *Bed, hn, attempt int, done bool, r Recovery, restart func()) bool {
	t.Helper()
	crashed := b.DeadChassis(hn)
	if done && len(crashed) == 0 {
		return true
	}
	if len(crashed) == 0 || attempt == 3 {
		t.Fatalf("attempt %d: traffic %s; chassis that died by themselves: %v", attempt, r, crashed)
	}
	t.Logf("attempt %d spoiled: %v died by itself; again", attempt, crashed)
	b.HealChassis(t)
	restart()
	b.WaitLXDCluster(t)
	return false
}
