//go:build integration

package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary returns the ovnfwd binary under test: $OVNFWD_BIN (set by
// `make test-integration`), else one built into the test's temp dir.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("OVNFWD_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		_, here, _, _ := runtime.Caller(0)
		dir, err := os.MkdirTemp("", "ovnfwd-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "ovnfwd")
		cmd := exec.Command("go", "build", "-o", builtBin, "./cmd/ovnfwd")
		cmd.Dir = filepath.Dir(filepath.Dir(here))
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// Daemon is a running `ovnfwd run` against the bed.
type Daemon struct {
	t       testing.TB
	cmd     *exec.Cmd
	Name    string // "ovnfwd", or the cluster member it runs beside
	Addr    string // metrics/health address
	LogPath string
	done    chan struct{}
	waitErr error
}

// BedEnv is the environment that points ovnfwd at the bed (on the raft
// central also its CA and client certificate for the ssl: endpoints).
func (b *Bed) BedEnv() []string {
	env := os.Environ()
	for _, k := range []string{"OVNFWD_LXD", "OVNFWD_NB", "OVNFWD_SB"} {
		env = append(env, k+"="+b.Env[k])
	}
	for _, k := range []string{"OVNFWD_OVN_CA", "OVNFWD_OVN_CERT", "OVNFWD_OVN_KEY"} {
		if v, ok := b.Env[k]; ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Cluster reports whether the bed is the three-member LXD cluster bed.
func (b *Bed) Cluster() bool { return b.Env["TB_MODE"] == "cluster" }

// OperatorEnv is BedEnv for the single-member tests' one-shot commands and
// daemons. On the cluster bed they run as member 1 (chassis 1), and they get
// the member → chassis pairs the way an operator gives them where no
// member's ovnfwd has published its chassis yet (--member-chassis, here
// through its environment variable): the bed's chassis hostnames are
// deliberately not the member names. The cluster tests learn the pairs
// instead (SpawnMemberDaemon passes none).
func (b *Bed) OperatorEnv() []string {
	env := b.BedEnv()
	if !b.Cluster() {
		return env
	}
	var pairs []string
	for _, m := range strings.Fields(b.Env["TB_MEMBERS"]) {
		if ch := b.Env["TB_"+strings.ToUpper(m)+"_CHASSIS"]; ch != "" {
			pairs = append(pairs, m+"="+ch)
		}
	}
	return append(env, "OVNFWD_MEMBER_CHASSIS="+strings.Join(pairs, ","))
}

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// StartDaemon starts `ovnfwd run` with the given extra run flags and waits
// until it reports ready (initial sync done). It is stopped at test end.
func (b *Bed) StartDaemon(t testing.TB, args ...string) *Daemon {
	t.Helper()
	d := b.SpawnDaemon(t, args...)
	d.WaitReady(30 * time.Second)
	return d
}

// SpawnDaemon starts `ovnfwd run` without waiting for readiness. On the
// cluster bed it runs as the member of the chassis its --chassis flag names
// (member 1 without one): against that member's LXD and beside its OVS.
func (b *Bed) SpawnDaemon(t testing.TB, args ...string) *Daemon {
	t.Helper()
	if !b.Cluster() {
		return b.spawnDaemon(t, b.OperatorEnv(), args...)
	}
	n := 1
	for i, a := range args {
		if a == "--chassis" && i+1 < len(args) {
			if _, err := fmt.Sscanf(args[i+1], "ch%d", &n); err != nil {
				t.Fatalf("--chassis %q: the cluster bed's chassis are ch1…ch3", args[i+1])
			}
		}
	}
	return b.spawnDaemon(t, append(b.OperatorEnv(), b.memberEnv(t, n)...), args...)
}

// SpawnMemberDaemon starts `ovnfwd run` the way cluster member n runs it:
// against its own LXD daemon and beside its local OVS (chassis n), from
// which it learns its chassis by itself. Cluster bed only.
func (b *Bed) SpawnMemberDaemon(t testing.TB, n int, args ...string) *Daemon {
	t.Helper()
	d := b.spawnDaemon(t, append(b.BedEnv(), b.memberEnv(t, n)...), args...)
	d.Name = fmt.Sprintf("m%d's ovnfwd", n)
	return d
}

// memberEnv points ovnfwd at cluster member n's LXD and its local OVS.
func (b *Bed) memberEnv(t testing.TB, n int) []string {
	t.Helper()
	dir := b.Get(t, fmt.Sprintf("TB_CH%d_DIR", n))
	env := []string{"OVNFWD_LXD=" + b.Get(t, fmt.Sprintf("TB_M%d_SOCKET", n))}
	for _, k := range []string{"OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR", "OVN_RUNDIR", "OVN_LOGDIR", "OVN_DBDIR", "OVN_SYSCONFDIR"} {
		env = append(env, k+"="+dir)
	}
	return env
}

func (b *Bed) spawnDaemon(t testing.TB, env []string, args ...string) *Daemon {
	t.Helper()
	addr := freePort(t)
	logPath := filepath.Join(t.TempDir(), "ovnfwd.log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	full := append([]string{"--log-format", "json", "--log-level", "debug", "run", "--metrics-address", addr}, args...)
	cmd := exec.Command(Binary(t), full...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{t: t, cmd: cmd, Name: "ovnfwd", Addr: addr, LogPath: logPath, done: make(chan struct{})}
	go func() { d.waitErr = cmd.Wait(); lf.Close(); close(d.done) }()
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			// The whole log, for what the last lines below do not show.
			if data, err := os.ReadFile(logPath); err == nil {
				keep := filepath.Join(os.TempDir(), "ovnfwd-failed", strings.ReplaceAll(t.Name(), "/", "_")+"-"+filepath.Base(filepath.Dir(logPath))+".log")
				if os.MkdirAll(filepath.Dir(keep), 0o755) == nil && os.WriteFile(keep, data, 0o644) == nil {
					t.Logf("the daemon's whole log: %s", keep)
				}
			}
			if data, err := os.ReadFile(logPath); err == nil {
				lines := strings.Split(string(data), "\n")
				if len(lines) > 60 {
					lines = lines[len(lines)-60:]
				}
				t.Logf("last log lines of %s:\n%s", d.Name, strings.Join(lines, "\n"))
			}
		}
	})
	return d
}

// Stop sends SIGTERM and waits for a graceful exit (SIGKILL after 10 s).
func (d *Daemon) Stop() {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
		d.t.Errorf("ovnfwd did not stop within 10 s of SIGTERM")
	}
}

// Kill sends SIGKILL.
func (d *Daemon) Kill() {
	_ = d.cmd.Process.Kill()
	<-d.done
}

func (d *Daemon) get(path string) (int, []byte, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + d.Addr + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// exited is "ovnfwd exited: …" once the process has ended, else "".
func (d *Daemon) exited() string {
	select {
	case <-d.done:
		return "ovnfwd exited: " + fmt.Sprint(d.waitErr)
	default:
		return ""
	}
}

// WaitReady waits until /readyz answers 200.
func (d *Daemon) WaitReady(timeout time.Duration) {
	d.t.Helper()
	Eventually(d.t, timeout, 50*time.Millisecond, d.Name+" ready", func() string {
		if e := d.exited(); e != "" {
			return e
		}
		code, body, err := d.get("/readyz")
		if err != nil {
			return err.Error()
		}
		if code != 200 {
			return strings.TrimSpace(string(body))
		}
		return ""
	})
}

// WaitWriter waits until the daemon holds the writer lock (ovnfwd_writer 1),
// past the lock's takeover delay (4 s after the grant, ovn/lock.go), and
// has finished its first full pass as the writer. Until
// then it is a standby that writes nothing, so a test that asserts the
// daemon left the server's writes alone proves nothing before it.
func (d *Daemon) WaitWriter(timeout time.Duration) {
	d.t.Helper()
	Eventually(d.t, timeout, 50*time.Millisecond, d.Name+" is the writer", func() string {
		if e := d.exited(); e != "" {
			return e
		}
		if w, err := d.Metric("ovnfwd_writer"); err != nil || w != 1 {
			return fmt.Sprintf("ovnfwd_writer %v, %v", w, err)
		}
		// And its first full pass as the writer is over: the test's own
		// LXD calls are not to meet it (issue 14's note: that pass does
		// not hold the server's writes yet).
		if n, err := d.Metric(`ovnfwd_reconcile_duration_seconds_count{trigger="writer"}`); err != nil || n < 1 {
			return fmt.Sprintf("the writer's first full pass not done (%v, %v)", n, err)
		}
		return ""
	})
}

// ForwardState is one entry of the daemon's /forwards.
type ForwardState struct {
	Project       string `json:"project"`
	Network       string `json:"network"`
	ListenAddress string `json:"listen_address"`
	State         string `json:"state"`
	Reason        string `json:"reason"`
	// Rows are the rows (name → VIPs) the state was verified against.
	Rows map[string]map[string]string `json:"rows"`
}

// Forwards returns the daemon's verified forward states by listen address.
func (d *Daemon) Forwards() (map[string]ForwardState, error) {
	code, body, err := d.get("/forwards")
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("/forwards: %d %s", code, body)
	}
	var list []ForwardState
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, err
	}
	m := map[string]ForwardState{}
	for _, f := range list {
		m[f.ListenAddress] = f
	}
	return m, nil
}

// WaitState waits until the daemon reports the forward in state want.
func (d *Daemon) WaitState(listen, want string, timeout time.Duration) time.Duration {
	d.t.Helper()
	return Eventually(d.t, timeout, 10*time.Millisecond, "forward "+listen+" "+want, func() string {
		fs, err := d.Forwards()
		if err != nil {
			return err.Error()
		}
		f, ok := fs[listen]
		if !ok {
			if want == "" {
				return ""
			}
			return "not known to ovnfwd"
		}
		if f.State != want {
			return f.State + ": " + f.Reason
		}
		return ""
	})
}

// WaitVerified waits until the daemon reports the forward ok, verified
// against exactly the rows want (name → VIPs): a stale ok from before an
// update does not count.
func (d *Daemon) WaitVerified(listen string, want map[string]map[string]string, timeout time.Duration) time.Duration {
	d.t.Helper()
	return Eventually(d.t, timeout, 10*time.Millisecond, "forward "+listen+" verified", func() string {
		fs, err := d.Forwards()
		if err != nil {
			return err.Error()
		}
		f, ok := fs[listen]
		switch {
		case !ok:
			return "not known to ovnfwd"
		case f.State != "ok":
			return f.State + ": " + f.Reason
		case fmt.Sprint(f.Rows) != fmt.Sprint(want):
			return fmt.Sprintf("verified rows %v, want %v", f.Rows, want)
		}
		return ""
	})
}

// Metric returns the sum of all samples of a metric whose name and label
// text start with prefix (e.g. `ovnfwd_reconnects_total{target="nb"}`).
func (d *Daemon) Metric(prefix string) (float64, error) {
	_, body, err := d.get("/metrics")
	if err != nil {
		return 0, err
	}
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum, nil
}

// Log returns the daemon's log so far.
func (d *Daemon) Log() string {
	data, _ := os.ReadFile(d.LogPath)
	return string(data)
}

// waitCtx is a context bounded for helper calls.
func waitCtx(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
