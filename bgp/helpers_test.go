package bgp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// missingTool skips a test whose external binary (here BIRD) is absent on
// a developer machine, but fails it in CI (CI or OVNFWD_REQUIRE_TOOLS set):
// .ci/run installs every tool, so a skip there would hide a test that never
// ran. (A copy of ovn/helpers_test.go's.)
func missingTool(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" || os.Getenv("OVNFWD_REQUIRE_TOOLS") != "" {
		t.Fatal(msg + " (CI must run this test)")
	}
	t.Skip(msg)
}

// childSpeakerEnv, when set, makes the test binary run a speaker instead of
// the tests (TestMain): the restart tests need a speaker whose process
// exits, since GoBGP cannot close a session without a NOTIFICATION.
const childSpeakerEnv = "OVNFWD_BGP_TEST_CHILD_SPEAKER"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childSpeakerEnv); cfg != "" {
		os.Exit(runChildSpeaker(cfg))
	}
	os.Exit(m.Run())
}

// childConfig configures the child speaker: one peer, the routes of its
// first Sync ("prefix" or "prefix via next-hop").
type childConfig struct {
	PeerAddr        string        `json:"peer_addr"`
	PeerPort        uint16        `json:"peer_port"`
	PeerASN         uint32        `json:"peer_asn"`
	Local           string        `json:"local"`
	ASN             uint32        `json:"asn"`
	GracefulRestart time.Duration `json:"graceful_restart"`
	Routes          []string      `json:"routes"`
}

func (c childConfig) speakerConfig() Config {
	return Config{
		ASN: c.ASN, RouterID: c.Local, ListenPort: -1, HoldTime: 3 * time.Second, Keepalive: time.Second,
		ConnectRetry: time.Second, EBGPMultihopTTL: 2, GracefulRestart: c.GracefulRestart,
		Peers: []Peer{{Address: netip.MustParseAddr(c.PeerAddr), Port: c.PeerPort, ASN: c.PeerASN,
			LocalAddress: netip.MustParseAddr(c.Local)}},
	}
}

func (c childConfig) routes() []fwdsync.Route {
	var out []fwdsync.Route
	for _, r := range c.Routes {
		p, nh, _ := strings.Cut(r, " via ")
		out = append(out, route(p, nh))
	}
	return out
}

// runChildSpeaker is the child's main: it starts a speaker, syncs the
// routes, prints "ready" once the session is up, then obeys stdin:
// "detach" (Detach, then exit as the daemon does), "shutdown" (Shutdown,
// then exit). Stdin closing (the test died) exits too.
func runChildSpeaker(js string) int {
	var c childConfig
	if err := json.Unmarshal([]byte(js), &c); err != nil {
		fmt.Fprintln(os.Stderr, "child speaker config:", err)
		return 2
	}
	log, _ := zap.NewDevelopment()
	ctx := context.Background()
	s := New(c.speakerConfig(), log)
	if err := s.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		return 1
	}
	if _, err := s.Sync(ctx, c.routes()); err != nil {
		fmt.Fprintln(os.Stderr, "sync:", err)
		return 1
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ss := s.Sessions(ctx); len(ss) == 1 && ss[0].State == "established" && ss[0].Advertised == uint64(len(c.Routes)) {
			break
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "session not established: %+v\n", s.Sessions(ctx))
			return 1
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "detach":
			s.Detach(ctx)
			return 0 // the exit closes the TCP sessions
		case "shutdown":
			s.Shutdown(ctx)
			return 0
		}
	}
	return 3
}

// childSpeaker is a speaker in a child process.
type childSpeaker struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	ready  chan struct{}
	exited chan struct{}
	mu     gosync.Mutex
	stderr bytes.Buffer
}

func startChildSpeaker(t *testing.T, c childConfig) *childSpeaker {
	t.Helper()
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	cs := &childSpeaker{t: t, ready: make(chan struct{}), exited: make(chan struct{})}
	cs.cmd = exec.Command(os.Args[0], "-test.run=^$")
	cs.cmd.Env = append(os.Environ(), childSpeakerEnv+"="+string(js))
	cs.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cs.cmd.Stderr = lockedWriter{&cs.mu, &cs.stderr}
	stdout, err := cs.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if cs.stdin, err = cs.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cs.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				close(cs.ready)
			}
		}
	}()
	go func() {
		_ = cs.cmd.Wait()
		close(cs.exited)
	}()
	t.Cleanup(func() {
		_ = cs.cmd.Process.Kill()
		<-cs.exited
		if t.Failed() {
			t.Logf("child speaker's log:\n%s", cs.log())
		}
	})
	select {
	case <-cs.ready:
	case <-cs.exited:
		t.Fatalf("child speaker exited (%v):\n%s", cs.cmd.ProcessState, cs.log())
	case <-time.After(45 * time.Second):
		t.Fatalf("child speaker not ready:\n%s", cs.log())
	}
	return cs
}

type lockedWriter struct {
	mu *gosync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (cs *childSpeaker) log() string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.stderr.String()
}

// stop sends cmd ("detach" or "shutdown") and waits for the child to exit
// on its own, and returns when it did.
func (cs *childSpeaker) stop(cmd string) time.Time {
	cs.t.Helper()
	if _, err := io.WriteString(cs.stdin, cmd+"\n"); err != nil {
		cs.t.Fatal(err)
	}
	select {
	case <-cs.exited:
	case <-time.After(20 * time.Second):
		cs.t.Fatalf("child speaker did not exit after %q:\n%s", cmd, cs.log())
	}
	if !cs.cmd.ProcessState.Success() {
		cs.t.Fatalf("child speaker: %v after %q:\n%s", cs.cmd.ProcessState, cmd, cs.log())
	}
	return time.Now()
}

// bird is a private BIRD 2 playing the uplink router: it listens on
// 127.0.0.1:port (never 1179, the test bed's) and accepts one BGP neighbor,
// protocol "speaker", with graceful restart on.
type bird struct {
	t      *testing.T
	dir    string
	sock   string
	port   uint16
	cmd    *exec.Cmd
	exited chan struct{}
}

const (
	birdASN    = 65000
	speakerASN = 65101
)

func startBird(t *testing.T, neighbor string) *bird {
	t.Helper()
	bin, err := exec.LookPath("bird")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/bird"); err2 != nil {
			missingTool(t, "BIRD 2 (bird, birdc) not installed; skipping test against a real BGP router")
		}
		bin = "/usr/sbin/bird"
	}
	if _, err := exec.LookPath("birdc"); err != nil {
		if _, err2 := os.Stat("/usr/sbin/birdc"); err2 != nil {
			missingTool(t, "birdc not installed; skipping test against a real BGP router")
		}
	}
	// A short directory: unix socket paths are limited to ~108 bytes.
	dir, err := os.MkdirTemp("", "ovnfwd-bird-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b := &bird{t: t, dir: dir, sock: filepath.Join(dir, "bird.ctl"), exited: make(chan struct{})}
	for b.port = freeTCPPort(t); b.port == 1179; b.port = freeTCPPort(t) {
	}
	conf := fmt.Sprintf(`# ovnfwd bgp test
router id 127.0.0.1;
log "%[1]s/bird.log" all;
debug protocols { states, events };
protocol device { scan time 60; }
protocol bgp speaker {
	local 127.0.0.1 port %[2]d as %[3]d;
	neighbor %[4]s as %[5]d;
	strict bind on;
	passive on;
	multihop;
	hold time 3;
	keepalive time 1;
	error wait time 1, 2;
	graceful restart on;
	graceful restart time 4;
	ipv4 { import all; export none; };
	ipv6 { import all; export none; };
}
`, dir, b.port, birdASN, neighbor, speakerASN)
	cf := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	b.cmd = exec.Command(bin, "-f", "-c", cf, "-s", b.sock, "-P", filepath.Join(dir, "bird.pid"))
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	b.cmd.Stdout, b.cmd.Stderr = &out, &out
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start bird: %v", err)
	}
	go func() {
		_ = b.cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(func() {
		_ = b.cmd.Process.Kill()
		<-b.exited
		if t.Failed() {
			t.Logf("BIRD's output: %s", out.String())
			if l, err := os.ReadFile(filepath.Join(dir, "bird.log")); err == nil {
				t.Logf("BIRD's log:\n%s", l)
			}
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := b.birdc("show", "status"); err == nil {
			return b
		}
		select {
		case <-b.exited:
			t.Fatalf("bird exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("BIRD's control socket did not come up: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// birdc runs one birdc command.
func (b *bird) birdc(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "birdc", append([]string{"-s", b.sock}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("birdc %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// birdRoute is one route BIRD holds. (BIRD 2.0.12 does not mark the
// routes it keeps for a restarting neighbor: `show protocols all` tells,
// "Neighbor graceful restart active".)
type birdRoute struct {
	NextHop string
}

var birdRouteLine = regexp.MustCompile(`^(\S+)?\s+\S+.*\[(\S+) `)

// routes returns the routes BIRD holds: prefix → route.
func (b *bird) routes() (map[string]birdRoute, error) {
	out, err := b.birdc("show", "route", "all")
	if err != nil {
		return nil, err
	}
	return parseBirdRoutes(out), nil
}

func parseBirdRoutes(out string) map[string]birdRoute {
	routes := map[string]birdRoute{}
	prefix := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "BIRD ") || strings.HasPrefix(line, "Table ") || strings.TrimSpace(line) == "":
		case strings.HasPrefix(line, "\t"):
			if k, v, _ := strings.Cut(strings.TrimSpace(line), ": "); k == "BGP.next_hop" && prefix != "" {
				routes[prefix] = birdRoute{NextHop: v}
			}
		default:
			if m := birdRouteLine.FindStringSubmatch(line); m != nil {
				if m[1] != "" {
					prefix = m[1]
				}
				routes[prefix] = birdRoute{}
			}
		}
	}
	return routes
}

// protocol returns BIRD's `show protocols all speaker`.
func (b *bird) protocol() (string, error) { return b.birdc("show", "protocols", "all", "speaker") }

// state is the speaker protocol's BGP state ("Established", "Passive", …).
func (b *bird) state() (string, error) {
	st, _, err := b.session()
	return st, err
}

// session returns the BGP state and whether BIRD keeps the neighbor's
// routes for a graceful restart.
func (b *bird) session() (state string, gr bool, err error) {
	out, err := b.protocol()
	if err != nil {
		return "", false, err
	}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == "BGP state" {
			state = strings.TrimSpace(v)
		}
	}
	if state == "" {
		return "", false, fmt.Errorf("no BGP state in %q", out)
	}
	return state, strings.Contains(out, "Neighbor graceful restart active"), nil
}

// importWithdraws returns, per channel ("ipv4", "ipv6"), how many routes
// BIRD removed from the speaker's (the "accepted" import withdraws of
// `show protocols all`, which also count stale routes BIRD flushed).
func (b *bird) importWithdraws() map[string]int {
	b.t.Helper()
	out, err := b.protocol()
	if err != nil {
		b.t.Fatal(err)
	}
	res := map[string]int{}
	channel := ""
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "Channel":
			channel = f[1]
		case len(f) >= 3 && f[0] == "Import" && f[1] == "withdraws:" && channel != "":
			n, err := strconv.Atoi(f[len(f)-1])
			if err != nil {
				b.t.Fatalf("import withdraws in %q: %v", line, err)
			}
			res[channel] = n
		}
	}
	return res
}

// neighborCaps returns the "Neighbor capabilities" part of `show
// protocols all` (what the speaker's OPEN said), "" if absent.
func (b *bird) neighborCaps() string {
	b.t.Helper()
	out, err := b.protocol()
	if err != nil {
		b.t.Fatal(err)
	}
	_, caps, ok := strings.Cut(out, "Neighbor capabilities")
	if !ok {
		return ""
	}
	caps, _, _ = strings.Cut(caps, "Session:")
	return caps
}

func (b *bird) waitState(what string, timeout time.Duration, ok func(string) bool) string {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	var st string
	var err error
	for time.Now().Before(deadline) {
		if st, err = b.state(); err == nil && ok(st) {
			return st
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("%s: BIRD's session is %q (%v)", what, st, err)
	return ""
}

func (b *bird) waitRoutes(what string, timeout time.Duration, want ...string) map[string]birdRoute {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	var got map[string]birdRoute
	var err error
	for time.Now().Before(deadline) {
		if got, err = b.routes(); err == nil && samePrefixes(got, want) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("%s: BIRD has %v (%v), want %v", what, got, err, want)
	return nil
}

func prefixes(rs map[string]birdRoute) []string {
	out := make([]string, 0, len(rs))
	for p := range rs {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func samePrefixes(rs map[string]birdRoute, want []string) bool {
	w := append([]string(nil), want...)
	sort.Strings(w)
	return fmt.Sprint(prefixes(rs)) == fmt.Sprint(w)
}

// birdSample is what BIRD held at one moment.
type birdSample struct {
	At     time.Time
	State  string // BGP state
	GR     bool   // "Neighbor graceful restart active": BIRD keeps stale routes
	Routes map[string]birdRoute
}

func (s birdSample) has(prefix string) bool { _, ok := s.Routes[prefix]; return ok }

func (s birdSample) String() string {
	gr := ""
	if s.GR {
		gr = " (graceful restart active)"
	}
	return fmt.Sprintf("%s %s%s %v", s.At.Format("15:04:05.000"), s.State, gr, prefixes(s.Routes))
}

// sample reads BIRD's session state and routes every ~50 ms until stop is
// closed, and then returns every sample on the channel.
func (b *bird) sample(stop <-chan struct{}) <-chan []birdSample {
	out := make(chan []birdSample, 1)
	go func() {
		var samples []birdSample
		for {
			select {
			case <-stop:
				out <- samples
				return
			default:
			}
			// Routes first: a sample whose state is not Established
			// had its routes read while the session was down.
			rs, err2 := b.routes()
			st, gr, err1 := b.session()
			if err1 == nil && err2 == nil {
				samples = append(samples, birdSample{At: time.Now(), State: st, GR: gr, Routes: rs})
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return out
}
