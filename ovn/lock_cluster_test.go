package ovn

// Lock tests against real ovsdb-server processes: standalone on a unix
// socket, standalone behind a TCP proxy that freezes, and a 3-member Raft
// cluster.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestLockRealHandoverOnCancel(t *testing.T) {
	srv := startRealServer(t, nbSchemaFile())
	a := startLock(t, "a", fastLockConfig(t, srv.endpoint()))
	b := startLock(t, "b", fastLockConfig(t, srv.endpoint()))
	mon := watchOverlap(t, a, b)
	h := exactlyOne(t, 5*time.Second, a, b)
	other := a
	if h == a {
		other = b
	}
	start := time.Now()
	h.stop(t)
	returned := time.Since(start)
	waitFor(t, "the other client to hold", time.Second, other.Held)
	d := time.Since(start)
	t.Logf("%s cancelled: %s holds %v after the cancel (%s's Run returned after %v)", h.name, other.name, d, h.name, returned)
	if d > 500*ms {
		t.Errorf("takeover after cancel took %v, want well under 1s", d)
	}
	mon.check(t)
}

func TestLockRealTransportCut(t *testing.T) {
	srv := startRealServer(t, nbSchemaFile())
	a := startLock(t, "a", fastLockConfig(t, srv.endpoint()))
	b := startLock(t, "b", fastLockConfig(t, srv.endpoint()))
	mon := watchOverlap(t, a, b)
	h := exactlyOne(t, 5*time.Second, a, b)
	other := a
	if h == a {
		other = b
	}

	// The holder's connection dies (kill -9 of its process, RST): the
	// server ends the session and hands the lock to the waiting client.
	h.cutTransport()
	d := waitFor(t, "the other client to hold", time.Second, other.Held)
	t.Logf("transport of %s closed: %s holds after %v", h.name, other.name, d)

	// The old holder reconnects and queues; it must not think it holds.
	waitFor(t, "old holder reconnected", 2*time.Second, func() bool { return h.Endpoint() != "" })
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(5 * ms) {
		if h.Held() {
			t.Fatal("old holder holds again without a grant")
		}
	}
	// It is queued: when the new holder goes, it gets the lock at once.
	other.stop(t)
	d = waitFor(t, "old holder to hold again", time.Second, h.Held)
	t.Logf("%s cancelled: %s (queued since its reconnect) holds after %v", other.name, h.name, d)
	mon.check(t)
}

func TestLockRealServerRestart(t *testing.T) {
	srv := startRealServer(t, nbSchemaFile())
	a := startLock(t, "a", fastLockConfig(t, srv.endpoint()))
	b := startLock(t, "b", fastLockConfig(t, srv.endpoint()))
	mon := watchOverlap(t, a, b)
	exactlyOne(t, 5*time.Second, a, b)

	srv.kill()
	waitFor(t, "both to let go", 100*ms, func() bool { return len(holders(a, b)) == 0 })
	time.Sleep(300 * ms)
	start := time.Now()
	srv.start()
	h := exactlyOne(t, 5*time.Second, a, b)
	t.Logf("server restarted: %s holds after %v (includes the %v takeover delay)", h.name, time.Since(start), a.cfg.TakeoverDelay)
	mon.check(t)
}

// TestLockRealSilentCut cuts a TCP holder off without closing anything: a
// proxy between it and the server stops forwarding. The server, with an
// inactivity probe of 1 s, drops the session about 2 s after it last heard
// from the holder and hands the lock to the other client; the holder must
// have given up before, within ProbeTimeout.
func TestLockRealSilentCut(t *testing.T) {
	const inactivityProbe = 1000 // ms, in the Connection row
	srv := startProbedServer(t, inactivityProbe)
	proxy := startFreezeProxy(t, srv.tcpAddr)

	cfgA := fastLockConfig(t, "tcp:"+proxy.addr())
	cfgA.ProbeTimeout = 400 * ms // < inactivity_probe: the lease argument holds
	a := startLock(t, "a", cfgA)
	waitFor(t, "a to hold", 5*time.Second, a.Held)
	b := startLock(t, "b", fastLockConfig(t, srv.endpoint()))
	mon := watchOverlap(t, a, b)
	waitFor(t, "b connected", 2*time.Second, func() bool { return b.Endpoint() != "" })
	time.Sleep(300 * ms)
	if !a.Held() || b.Held() {
		t.Fatalf("before the cut: a held %v, b held %v", a.Held(), b.Held())
	}

	frozen := time.Now()
	proxy.freeze()
	// a's newest answered echo left before the freeze, so a must not hold
	// from frozen+ProbeTimeout on (Held reads the clock: this holds however
	// late this goroutine gets here). The server drops a's session only
	// 2 x inactivity_probe after it last heard from a.
	time.Sleep(time.Until(frozen.Add(cfgA.ProbeTimeout)))
	aHeld, bHeld, at := a.Held(), b.Held(), time.Since(frozen)
	if aHeld {
		t.Errorf("a still holds %v after the cut, want not after ProbeTimeout %v", at, cfgA.ProbeTimeout)
	}
	if bHeld && at < time.Duration(inactivityProbe)*ms {
		t.Errorf("b holds %v after the cut, before the server could have dropped a", at)
	}
	// Poll for the log (and the order, which the overlap monitor checks
	// strictly).
	var aLost, bGot time.Duration
	for aLost == 0 || bGot == 0 {
		el := time.Since(frozen)
		if aLost == 0 && !a.Held() {
			aLost = el
		}
		if bGot == 0 && b.Held() {
			bGot = el
		}
		if el > 8*time.Second {
			t.Fatalf("after %v: a lost %v, b got %v", el, aLost, bGot)
		}
		time.Sleep(ms)
	}
	t.Logf("silent cut: a (holder) not holding after %v (polled), b acquired after %v (server inactivity probe %d ms, ProbeTimeout %v)",
		min(aLost, at), bGot, inactivityProbe, cfgA.ProbeTimeout)
	if bGot < aLost {
		t.Errorf("b acquired (%v) before a dropped (%v)", bGot, aLost)
	}
	mon.check(t)
}

func TestLockRealClusterLeaderKill(t *testing.T) {
	cl := startCluster(t, 3)
	var eps []string
	for _, m := range cl {
		eps = append(eps, m.endpoint())
	}
	locks := []*runningLock{
		startLock(t, "a", fastLockConfig(t, eps...)),
		startLock(t, "b", fastLockConfig(t, eps[1], eps[2], eps[0])),
		startLock(t, "c", fastLockConfig(t, eps[2], eps[0], eps[1])),
	}
	mon := watchOverlap(t, locks...)
	h := exactlyOne(t, 10*time.Second, locks...)
	var leader *clusterMember
	for _, m := range cl {
		if m.endpoint() == h.Endpoint() {
			leader = m
		}
	}
	if leader == nil || !serverIsLeader(t, leader.endpoint()) {
		t.Fatalf("%s holds via %s, which is not the leader", h.name, h.Endpoint())
	}
	for _, l := range locks {
		waitFor(t, l.name+" on the leader", 3*time.Second, func() bool { return l.Endpoint() == leader.endpoint() })
	}

	start := time.Now()
	leader.kill()
	// The holder hears its server's sockets close at once.
	d := waitFor(t, h.name+" to let go", 100*ms, func() bool { return !h.Held() })
	t.Logf("leader %s killed: %s (holder) let go after %v", leader.name, h.name, d)
	waitFor(t, "a new holder", 5*time.Second, func() bool { return len(holders(locks...)) > 0 })
	took := time.Since(start)
	h2 := exactlyOne(t, time.Second, locks...)
	t.Logf("leader %s killed: %s holds via %s after %v (includes the %v takeover delay)",
		leader.name, h2.name, h2.Endpoint(), took, h2.cfg.TakeoverDelay)
	if took > 3*time.Second {
		t.Errorf("lock held again after %v, want within 3s", took)
	}
	if h2.Endpoint() == leader.endpoint() || !serverIsLeader(t, h2.Endpoint()) {
		t.Errorf("%s holds via %s, not the new leader", h2.name, h2.Endpoint())
	}
	mon.check(t)
}

// probedServer is a standalone NB server with a TCP remote whose inactivity
// probe is set in its Connection row.
type probedServer struct {
	sock, tcpAddr string
}

func (s *probedServer) endpoint() string { return "unix:" + s.sock }

func startProbedServer(t testing.TB, inactivityProbeMS int) *probedServer {
	t.Helper()
	bin, tool := findBinary("ovsdb-server"), findBinary("ovsdb-tool")
	if bin == "" || tool == "" {
		missingTool(t, "ovsdb-server/ovsdb-tool not installed; skipping test against a real OVSDB server")
	}
	dir := sockDir(t)
	db := filepath.Join(dir, "nb.db")
	if out, err := exec.Command(tool, "create", db, nbSchemaFile()).CombinedOutput(); err != nil {
		t.Fatalf("ovsdb-tool create: %v: %s", err, out)
	}
	txn := fmt.Sprintf(`["OVN_Northbound",
		{"op":"insert","table":"Connection","uuid-name":"c","row":{"target":"ptcp:0:127.0.0.1","inactivity_probe":%d}},
		{"op":"insert","table":"NB_Global","row":{"connections":["named-uuid","c"]}}]`, inactivityProbeMS)
	if out, err := exec.Command(tool, "transact", db, txn).CombinedOutput(); err != nil {
		t.Fatalf("ovsdb-tool transact: %v: %s", err, out)
	}
	s := &probedServer{sock: filepath.Join(dir, "db.sock")}
	logFile := filepath.Join(dir, "ovsdb-server.log")
	cmd := exec.Command(bin, db, "--remote=punix:"+s.sock, "--remote=db:OVN_Northbound,NB_Global,connections",
		"--unixctl="+filepath.Join(dir, "ctl"), "--log-file="+logFile, "-vconsole:off", "--no-chdir")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ovsdb-server: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitSocket(t, s.sock)
	// With port 0 the kernel picks the port, and the server logs it.
	re := regexp.MustCompile(`127\.0\.0\.1: listening on port (\d+)`)
	eventually(t, "the TCP remote to listen", func() bool {
		b, _ := os.ReadFile(logFile)
		m := re.FindSubmatch(b)
		if m == nil {
			return false
		}
		port, _ := strconv.Atoi(string(m[1]))
		s.tcpAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		return true
	})
	return s
}

// freezeProxy forwards TCP connections until freeze; then it stops
// forwarding in both directions but keeps every connection open, like a
// path that silently drops everything.
type freezeProxy struct {
	ln     net.Listener
	target string
	frozen atomic.Bool
	stopc  chan struct{}
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func startFreezeProxy(t testing.TB, target string) *freezeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{ln: ln, target: target, stopc: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *freezeProxy) addr() string { return p.ln.Addr().String() }
func (p *freezeProxy) freeze()      { p.frozen.Store(true) }

func (p *freezeProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *freezeProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		if p.frozen.Load() {
			continue // black hole: held open, never answered
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.track(up)
		p.wg.Add(2)
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies src to dst until an error or the freeze. Whatever is read
// after the freeze is held back, so nothing that left either side after
// the freeze reaches the other.
func (p *freezeProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if p.frozen.Load() {
			<-p.stopc
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err == io.EOF {
				_ = dst.(*net.TCPConn).CloseWrite()
			}
			return
		}
	}
}

func (p *freezeProxy) close() {
	close(p.stopc)
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// clusterMember is one ovsdb-server of a Raft cluster.
type clusterMember struct {
	name, dir, db, sock string
	bin                 string
	cmd                 *exec.Cmd
	exited              chan struct{} // closed when cmd has exited
}

func (m *clusterMember) endpoint() string { return "unix:" + m.sock }

func (m *clusterMember) start(t testing.TB) {
	t.Helper()
	m.cmd = exec.Command(m.bin, m.db, "--remote=punix:"+m.sock,
		"--unixctl="+filepath.Join(m.dir, "ctl"), "--log-file="+filepath.Join(m.dir, "ovsdb-server.log"),
		"-vconsole:off", "--no-chdir")
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", m.name, err)
	}
	m.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { _ = cmd.Wait(); close(exited) }(m.cmd, m.exited)
}

// kill sends SIGKILL, as in a crash, and waits for the process.
func (m *clusterMember) kill() {
	if m.cmd != nil {
		_ = m.cmd.Process.Kill()
		<-m.exited
		m.cmd = nil
	}
}

// startCluster creates and starts an n-member clustered NB database whose
// members talk Raft over unix sockets, and waits until it has a leader and
// every member is connected.
func startCluster(t testing.TB, n int) []*clusterMember {
	t.Helper()
	bin, tool := findBinary("ovsdb-server"), findBinary("ovsdb-tool")
	if bin == "" || tool == "" {
		missingTool(t, "ovsdb-server/ovsdb-tool not installed; skipping test against a real OVSDB cluster")
	}
	dir := sockDir(t)
	var members []*clusterMember
	for i := 1; i <= n; i++ {
		m := &clusterMember{name: fmt.Sprintf("nb%d", i), dir: filepath.Join(dir, strconv.Itoa(i)), bin: bin}
		if err := os.Mkdir(m.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		m.db = filepath.Join(m.dir, "nb.db")
		m.sock = filepath.Join(m.dir, "db.sock")
		raft := "unix:" + filepath.Join(m.dir, "raft.sock")
		var cmd *exec.Cmd
		if i == 1 {
			cmd = exec.Command(tool, "create-cluster", m.db, nbSchemaFile(), raft)
		} else {
			cmd = exec.Command(tool, "join-cluster", m.db, "OVN_Northbound", raft, "unix:"+filepath.Join(dir, "1", "raft.sock"))
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", cmd.Args, err, out)
		}
		members = append(members, m)
	}
	for _, m := range members {
		m.start(t)
		t.Cleanup(m.kill)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, m := range members {
				b, _ := os.ReadFile(filepath.Join(m.dir, "ovsdb-server.log"))
				state := "running"
				if m.cmd == nil {
					state = "killed by the test"
				} else {
					select {
					case <-m.exited:
						state = m.cmd.ProcessState.String()
					default:
					}
				}
				t.Logf("%s (%s) log:\n%s", m.name, state, tail(string(b), 15))
			}
		}
	})
	for _, m := range members {
		waitSocket(t, m.sock)
	}
	eventually(t, "the cluster to form", func() bool {
		leaders := 0
		for _, m := range members {
			st, err := serverStatus(m.endpoint())
			if err != nil || !st.Connected {
				return false
			}
			if st.Leader {
				leaders++
			}
		}
		return leaders == 1
	})
	return members
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

type dbStatus struct {
	Model     string `json:"model"`
	Connected bool   `json:"connected"`
	Leader    bool   `json:"leader"`
}

// serverStatus reads the server's _Server row of OVN_Northbound.
func serverStatus(ep string) (dbStatus, error) {
	var st dbStatus
	c, err := net.DialTimeout("unix", ep[len("unix:"):], time.Second)
	if err != nil {
		return st, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	req := `{"id":1,"method":"transact","params":["_Server",{"op":"select","table":"Database",` +
		`"where":[["name","==","OVN_Northbound"]],"columns":["model","connected","leader"]}]}`
	if _, err := c.Write([]byte(req)); err != nil {
		return st, err
	}
	var resp struct {
		Result []struct {
			Rows []dbStatus `json:"rows"`
		} `json:"result"`
		Error any `json:"error"`
	}
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return st, err
	}
	if resp.Error != nil || len(resp.Result) != 1 || len(resp.Result[0].Rows) != 1 {
		return st, fmt.Errorf("unexpected _Server answer: %+v", resp)
	}
	return resp.Result[0].Rows[0], nil
}

func serverIsLeader(t testing.TB, ep string) bool {
	t.Helper()
	st, err := serverStatus(ep)
	if err != nil {
		t.Fatalf("_Server of %s: %v", ep, err)
	}
	return st.Model == "clustered" && st.Leader
}

// slowerLockConfig is fastLockConfig with a lease that survives a loaded
// machine under -race (800 ms) and a takeover delay of 3 s, long enough to
// tell "no delay" from "a delay" after an election.
func slowerLockConfig(t testing.TB, eps ...string) LockConfig {
	c := fastLockConfig(t, eps...)
	c.ProbeInterval, c.ProbeTimeout, c.TakeoverDelay = 200*ms, 800*ms, 3*time.Second
	return c
}

// After a Raft leader is killed, the client that held the lock takes it
// again from the new leader without the takeover delay (it heard its
// server go and let go at once), before any standby (they ask a new leader
// ProbeInterval late after such an end): the lock is held again about an
// election after the kill, well inside a takeover delay of 3 s, and never
// by two clients at once.
func TestLockRealClusterLeaderKillLastHolderNoDelay(t *testing.T) {
	cl := startCluster(t, 3)
	var eps []string
	for _, m := range cl {
		eps = append(eps, m.endpoint())
	}
	cfg := func(eps ...string) LockConfig { return slowerLockConfig(t, eps...) }
	locks := []*runningLock{
		startLock(t, "a", cfg(eps...)),
		startLock(t, "b", cfg(eps[1], eps[2], eps[0])),
		startLock(t, "c", cfg(eps[2], eps[0], eps[1])),
	}
	mon := watchOverlap(t, locks...)
	for round := 1; round <= 2; round++ {
		h := exactlyOne(t, 15*time.Second, locks...)
		var leader *clusterMember
		for _, m := range cl {
			if m.endpoint() == h.Endpoint() {
				leader = m
			}
		}
		if leader == nil {
			t.Fatalf("%s holds via %s, no member", h.name, h.Endpoint())
		}
		for _, l := range locks {
			waitFor(t, l.name+" on the leader", 5*time.Second, func() bool { return l.Endpoint() == leader.endpoint() })
		}
		start := time.Now()
		leader.kill()
		waitFor(t, "a new holder", 10*time.Second, func() bool { return len(holders(locks...)) > 0 })
		took := time.Since(start)
		h2 := exactlyOne(t, time.Second, locks...)
		t.Logf("round %d: leader %s killed: %s held, %s holds via %s after %v (takeover delay %v)",
			round, leader.name, h.name, h2.name, h2.Endpoint(), took.Round(time.Millisecond), h2.cfg.TakeoverDelay)
		if h2 != h {
			t.Errorf("round %d: %s took the lock, not %s, its last holder", round, h2.name, h.name)
		}
		if took >= h2.cfg.TakeoverDelay {
			t.Errorf("round %d: lock held again %v after the kill, want less than the %v takeover delay (the last holder waits none)",
				round, took, h2.cfg.TakeoverDelay)
		}
		leader.start(t)
	}
	mon.check(t)
}

// A standalone server killed and restarted: its last holder takes the lock
// again at once, not a takeover delay later; the standby stays out.
func TestLockRealServerRestartLastHolderNoDelay(t *testing.T) {
	srv := startRealServer(t, nbSchemaFile())
	cfg := slowerLockConfig(t, srv.endpoint())
	a := startLock(t, "a", cfg)
	b := startLock(t, "b", cfg)
	mon := watchOverlap(t, a, b)
	h := exactlyOne(t, 10*time.Second, a, b)
	srv.kill()
	waitFor(t, "both to let go", 100*ms, func() bool { return len(holders(a, b)) == 0 })
	time.Sleep(300 * ms)
	start := time.Now()
	srv.start()
	h2 := exactlyOne(t, 10*time.Second, a, b)
	took := time.Since(start)
	t.Logf("server restarted: %s held, %s holds after %v (takeover delay %v)", h.name, h2.name, took.Round(time.Millisecond), cfg.TakeoverDelay)
	if h2 != h || took >= cfg.TakeoverDelay {
		t.Errorf("after the restart %s holds after %v; want %s, its last holder, within the %v takeover delay", h2.name, took, h.name, cfg.TakeoverDelay)
	}
	mon.check(t)
}
