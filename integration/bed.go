//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"

	"github.com/ovnfwd/ovnfwd/ovn"
)

// Bed is the running test bed, as described by the env file that
// `make testbed-up` writes.
type Bed struct {
	Env map[string]string
	LXD lxd.InstanceServer
}

// EnvFile is where testbed.sh writes the bed's description.
func EnvFile() string {
	if p := os.Getenv("OVNFWD_TESTBED_ENV"); p != "" {
		return p
	}
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), ".testbed", "env")
}

// LockFile is the machine-wide lock of the test bed (its namespaces are
// global, so one bed and one test run at a time, whichever checkout):
// $OVNFWD_TESTBED_LOCK, else TB_LOCK of the env file, else the default.
func LockFile() string {
	if p := os.Getenv("OVNFWD_TESTBED_LOCK"); p != "" {
		return p
	}
	if env, err := LoadEnv(EnvFile()); err == nil && env["TB_LOCK"] != "" {
		return env["TB_LOCK"]
	}
	return "/run/lock/ovnfwd-testbed.lock"
}

// LoadEnv parses the env file (KEY=VALUE lines, optional double quotes).
func LoadEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("test bed env %s: %w (run `make testbed-up` first)", path, err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		env[k] = strings.Trim(v, `"`)
	}
	return env, sc.Err()
}

// Open loads the env file and connects to LXD. It fails the test (never
// skips) when the bed is not up: integration tests must run where they are
// built with the integration tag.
func Open(t testing.TB) *Bed {
	t.Helper()
	env, err := LoadEnv(EnvFile())
	if err != nil {
		t.Fatal(err)
	}
	c, err := lxd.ConnectLXDUnix(env["OVNFWD_LXD"], nil)
	if err != nil {
		t.Fatalf("connect to test bed LXD at %s: %v", env["OVNFWD_LXD"], err)
	}
	b := &Bed{Env: env, LXD: c}
	repeatFailures(t)
	// The compatibility job (make test-incus) must not pass on the wrong
	// stack: a bed left up by another target would make it a second LXD run.
	if want := os.Getenv("OVNFWD_REQUIRE_STACK"); want != "" && b.Stack() != want {
		t.Fatalf("the test bed runs %s, not %s (OVNFWD_REQUIRE_STACK)", b.Stack(), want)
	}
	if want, have := os.Getenv("OVNFWD_REQUIRE_OVN"), env["TB_OVN"]; want != "" && have != want {
		t.Fatalf("the test bed runs OVN %q, not %s (OVNFWD_REQUIRE_OVN)", have, want)
	}
	// make test-raft: the suite must run against the Raft central over ssl.
	if want := os.Getenv("OVNFWD_REQUIRE_CENTRAL"); want != "" && b.Central() != want {
		t.Fatalf("the test bed runs the %s OVN central, not %s (OVNFWD_REQUIRE_CENTRAL; bring it up with TB_CENTRAL=%s)", b.Central(), want, want)
	}
	// Every test starts on a whole bed: a chassis whose OVS 3.1.0 aborted
	// by itself in an earlier test (BENCHMARKS §9) is restarted, and on the
	// cluster bed every LXD member must be fully operational.
	b.WaitLXDCluster(t)
	return b
}

// failures holds, per top-level test, why its Eventually calls gave up.
// A failed test repeats them as its very last output lines, after the
// daemons' logs: CI keeps only the tail of a failed run's output.
var failures gosync.Map // top-level test name → *failNotes

type failNotes struct {
	mu   gosync.Mutex
	msgs []string
}

func topTest(t testing.TB) string { return strings.SplitN(t.Name(), "/", 2)[0] }

// repeatFailures registers the end-of-test summary once per test.
func repeatFailures(t testing.TB) {
	if _, loaded := failures.LoadOrStore(topTest(t), &failNotes{}); loaded {
		return
	}
	t.Cleanup(func() {
		v, _ := failures.LoadAndDelete(topTest(t))
		n := v.(*failNotes)
		n.mu.Lock()
		defer n.mu.Unlock()
		if t.Failed() && len(n.msgs) > 0 {
			t.Logf("%s failed waiting for (repeated after the logs above):\n  %s", t.Name(), strings.Join(n.msgs, "\n  "))
		}
	})
}

func noteFailure(t testing.TB, msg string) {
	if v, ok := failures.Load(topTest(t)); ok {
		n := v.(*failNotes)
		n.mu.Lock()
		n.msgs = append(n.msgs, t.Name()+": "+msg)
		n.mu.Unlock()
	}
}

// Central is the bed's OVN central: "single" (one NB and one SB server on
// unix sockets) or "raft" (3-member clusters, ovnfwd on ssl: endpoints).
func (b *Bed) Central() string {
	if c := b.Env["TB_CENTRAL"]; c != "" {
		return c
	}
	return "single"
}

// sslArgs are the OVS tools' ssl options (private key, certificate, CA)
// with the bed's client certificate when endpoints has an ssl: endpoint.
func (b *Bed) sslArgs(endpoints string) []string {
	if !strings.Contains(endpoints, "ssl:") {
		return nil
	}
	return []string{"--private-key=" + b.Env["OVNFWD_OVN_KEY"], "--certificate=" + b.Env["OVNFWD_OVN_CERT"], "--ca-cert=" + b.Env["OVNFWD_OVN_CA"]}
}

// WithTLS adds the bed's CA and client certificate to an ovn.Config of a
// test's own client of OVNFWD_NB / OVNFWD_SB (needed when they are ssl:,
// as on the raft central).
func (b *Bed) WithTLS(c ovn.Config) ovn.Config {
	c.CA, c.Cert, c.Key = b.Env["OVNFWD_OVN_CA"], b.Env["OVNFWD_OVN_CERT"], b.Env["OVNFWD_OVN_KEY"]
	return c
}

// Get returns one env value and fails the test if it is missing.
func (b *Bed) Get(t testing.TB, k string) string {
	t.Helper()
	v, ok := b.Env[k]
	if !ok {
		t.Fatalf("test bed env has no %s", k)
	}
	return v
}

func run(ctx context.Context, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func (b *Bed) must(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := run(ctx, env, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// NBCtl runs ovn-nbctl against the bed's NB and returns stdout (the
// endpoints ovnfwd is given: on the raft central, the members' ssl:
// endpoints with the bed's client certificate; ovn-nbctl writes to the
// leader).
func (b *Bed) NBCtl(t testing.TB, args ...string) string {
	t.Helper()
	return b.ctl(t, "ovn-nbctl", b.Env["OVNFWD_NB"], args...)
}

// SBCtl runs ovn-sbctl against the bed's SB.
func (b *Bed) SBCtl(t testing.TB, args ...string) string {
	t.Helper()
	return b.ctl(t, "ovn-sbctl", b.Env["OVNFWD_SB"], args...)
}

// ctl runs ovn-nbctl or ovn-sbctl against db. With several members
// (raft), the tools try each member once and give up ("database connection
// failed") while the cluster has no leader, for the second or two of an
// election after the leader died: there they are run again, for up to 20 s,
// as an operator would. (They fail so before sending any transaction.)
func (b *Bed) ctl(t testing.TB, tool, db string, args ...string) string {
	t.Helper()
	full := append(append([]string{"--db=" + db, "--timeout=20"}, b.sslArgs(db)...), args...)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		out, err := run(ctx, nil, tool, full...)
		cancel()
		if err == nil {
			return out
		}
		if !strings.Contains(db, ",") || !strings.Contains(err.Error(), "database connection failed") || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stack is the bed's LXD flavour: "lxd" (LXD 5.0.2) or "incus" (Incus 6.0).
func (b *Bed) Stack() string {
	if s := b.Env["TB_STACK"]; s != "" {
		return s
	}
	return "lxd"
}

// cliEnv is the client CLI (lxc or incus) and the environment pointing it
// at the bed's daemon.
func (b *Bed) cliEnv() (cli string, env []string) {
	if b.Stack() == "incus" {
		return "incus", []string{"INCUS_DIR=" + b.Env["LXD_DIR"]}
	}
	return "lxc", []string{"LXD_DIR=" + b.Env["LXD_DIR"]}
}

// Lxc runs the client CLI (lxc, or incus on an Incus bed, which takes the
// same subcommands) against the bed's daemon.
func (b *Bed) Lxc(t testing.TB, args ...string) string {
	t.Helper()
	cli, env := b.cliEnv()
	return b.must(t, env, cli, args...)
}

// OVNPrefix is the stack's OVN name prefix, before the network ID:
// lxd-net or incus-net.
func (b *Bed) OVNPrefix() string {
	if b.Stack() == "incus" {
		return "incus-net"
	}
	return "lxd-net"
}

// LXDSQL runs a query on LXD's global database (`lxd sql global`), e.g. to
// insert forwards LXD programs no OVN state for.
//
// A clustered LXD's database (dqlite) answers "database is locked" while it
// is busy with a write of its own: the query is retried for a few seconds.
func (b *Bed) LXDSQL(t testing.TB, query string) string {
	t.Helper()
	_, env := b.cliEnv()
	tool, args := "lxd", []string{"sql", "global", query}
	if b.Stack() == "incus" {
		tool, args = "incus", []string{"admin", "sql", "global", query}
	}
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		out, err := run(ctx, env, tool, args...)
		cancel()
		if err == nil {
			return out
		}
		if attempt >= 20 || !strings.Contains(err.Error(), "database is locked") {
			t.Fatalf("%v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Script runs a testbed.sh subcommand (chassis-kill 2, lxd-stop, ...).
func (b *Bed) Script(t testing.TB, args ...string) string {
	t.Helper()
	return b.must(t, nil, "bash", append([]string{b.Env["TB_SCRIPT"]}, args...)...)
}

// KillChassis kill -9s chassis n (its ovs-vswitchd and ovn-controller) and
// returns the function that starts it again; if the test does not call it,
// cleanup does, so a failing test never leaves the bed a chassis short.
//
// On the cluster bed the chassis's OVS also carries its member's underlay,
// LXD's cluster link: the cleanup then waits until LXD is whole again.
func (b *Bed) KillChassis(t testing.TB, n int) (start func()) {
	t.Helper()
	b.Script(t, "chassis-kill", fmt.Sprint(n))
	var once gosync.Once
	start = func() { once.Do(func() { b.Script(t, "chassis-start", fmt.Sprint(n)) }) }
	t.Cleanup(func() { start(); b.WaitLXDCluster(t) })
	return start
}

// WaitLXDCluster waits, on the cluster bed, until every LXD member is
// fully operational: a test that cut a member's underlay (a chassis kill,
// an underlay cut) leaves LXD without a database leader for up to tens of
// seconds, and the next test would fail on LXD instead of on what it tests.
func (b *Bed) WaitLXDCluster(t testing.TB) {
	t.Helper()
	if !b.Cluster() {
		return
	}
	b.HealChassis(t)
	Eventually(t, 120*time.Second, time.Second, "every LXD member fully operational", func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cli, env := b.cliEnv()
		out, err := run(ctx, env, cli, "cluster", "list", "--format", "csv")
		if err != nil {
			return err.Error()
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.Contains(line, "ONLINE,Fully operational") {
				return line
			}
		}
		// Online in the cluster is not started: a member whose daemon was
		// just restarted answers "Server isn't ready yet" until its start-up
		// is done (Incus), and an instance launched on it then fails.
		for _, m := range strings.Fields(b.Env["TB_MEMBERS"]) {
			sock := b.Env["TB_"+strings.ToUpper(m)+"_SOCKET"]
			c, err := lxd.ConnectLXDUnix(sock, nil)
			if err != nil {
				return m + ": " + err.Error()
			}
			if _, err := c.GetInstanceNames(api.InstanceTypeAny); err != nil {
				return m + ": " + err.Error()
			}
		}
		return ""
	})
}

// OnMemberOf is the bed as an operator on the cluster member whose chassis
// is chassis sees it: the same, but one-shot commands (b.ovnfwd) ask that
// member's LXD. A test that killed a chassis asks a member it did not cut
// off its cluster (a member whose underlay is cut has no database: its API
// hangs). Off the cluster bed, the bed itself.
func (b *Bed) OnMemberOf(t testing.TB, chassis string) *Bed {
	t.Helper()
	if !b.Cluster() {
		return b
	}
	for _, m := range strings.Fields(b.Env["TB_MEMBERS"]) {
		k := "TB_" + strings.ToUpper(m)
		if b.Env[k+"_CHASSIS"] != chassis {
			continue
		}
		env := make(map[string]string, len(b.Env))
		for key, v := range b.Env {
			env[key] = v
		}
		env["OVNFWD_LXD"] = b.Get(t, k+"_SOCKET")
		return &Bed{Env: env, LXD: b.LXD}
	}
	t.Fatalf("no cluster member on chassis %q", chassis)
	return nil
}

// NetworkID returns the LXD database ID of a network (its OVN prefix is
// lxd-net<ID>).
func (b *Bed) NetworkID(t testing.TB, name string) int {
	t.Helper()
	out := b.LXDSQL(t, fmt.Sprintf("SELECT id FROM networks WHERE name='%s' AND project_id=1", name))
	var id int
	for _, f := range strings.Fields(out) {
		if _, err := fmt.Sscanf(f, "%d", &id); err == nil {
			return id
		}
	}
	t.Fatalf("no LXD network %q in %q", name, out)
	return 0
}

// Prefix returns the OVN name prefix of the bed's OVN network.
func (b *Bed) Prefix(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("%s%d", b.OVNPrefix(), b.NetworkID(t, b.Get(t, "TB_NETWORK")))
}

// CreateForward creates a forward through the LXD API.
func (b *Bed) CreateForward(t testing.TB, network string, fwd api.NetworkForwardsPost) {
	t.Helper()
	if err := b.LXD.CreateNetworkForward(network, fwd); err != nil {
		t.Fatalf("create forward %s on %s: %v", fwd.ListenAddress, network, err)
	}
}

// UpdateForward replaces a forward's config and ports through the LXD API.
func (b *Bed) UpdateForward(t testing.TB, network, listen string, put api.NetworkForwardPut) {
	t.Helper()
	if err := b.LXD.UpdateNetworkForward(network, listen, put, ""); err != nil {
		t.Fatalf("update forward %s on %s: %v", listen, network, err)
	}
}

// DeleteForward deletes a forward through the LXD API.
func (b *Bed) DeleteForward(t testing.TB, network, listen string) {
	t.Helper()
	if err := b.LXD.DeleteNetworkForward(network, listen); err != nil {
		t.Fatalf("delete forward %s on %s: %v", listen, network, err)
	}
}

// DeleteAllForwards removes every forward of a network (test cleanup).
func (b *Bed) DeleteAllForwards(t testing.TB, network string) {
	t.Helper()
	addrs, err := b.LXD.GetNetworkForwardAddresses(network)
	if err != nil {
		t.Fatalf("list forwards of %s: %v", network, err)
	}
	for _, a := range addrs {
		b.DeleteForward(t, network, a)
	}
}

// SeedForwards inserts forwards straight into LXD's database: LXD writes no
// OVN rows for them. ports is the JSON list LXD stores.
func (b *Bed) SeedForwards(t testing.TB, network string, listen []string, ports []api.NetworkForwardPort) {
	t.Helper()
	id := b.NetworkID(t, network)
	pj, err := json.Marshal(ports)
	if err != nil {
		t.Fatal(err)
	}
	var vals []string
	for _, l := range listen {
		vals = append(vals, fmt.Sprintf("(%d, NULL, '%s', '', '%s')", id, l, strings.ReplaceAll(string(pj), "'", "''")))
	}
	b.LXDSQL(t, "INSERT INTO networks_forwards (network_id, node_id, listen_address, description, ports) VALUES "+strings.Join(vals, ","))
}

// LB is one NB Load_Balancer row as ovn-nbctl reports it.
type LB struct {
	UUID     string
	Name     string
	Protocol string
	VIPs     map[string]string
	Options  map[string]string
}

// LoadBalancers lists NB Load_Balancer rows (all, or those with the given names).
func (b *Bed) LoadBalancers(t testing.TB) []LB {
	t.Helper()
	out := b.NBCtl(t, "--format=json", "--columns=_uuid,name,protocol,vips,options", "list", "Load_Balancer")
	var tbl struct {
		Data [][]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &tbl); err != nil {
		t.Fatalf("parse ovn-nbctl json: %v", err)
	}
	var lbs []LB
	for _, row := range tbl.Data {
		lbs = append(lbs, LB{
			UUID:     ovsUUID(t, row[0]),
			Name:     ovsString(t, row[1]),
			Protocol: ovsString(t, row[2]),
			VIPs:     ovsMap(t, row[3]),
			Options:  ovsMap(t, row[4]),
		})
	}
	return lbs
}

// LBsByName groups LoadBalancers by name.
func (b *Bed) LBsByName(t testing.TB) map[string][]LB {
	m := map[string][]LB{}
	for _, lb := range b.LoadBalancers(t) {
		m[lb.Name] = append(m[lb.Name], lb)
	}
	return m
}

func ovsUUID(t testing.TB, raw json.RawMessage) string {
	var v []string
	if err := json.Unmarshal(raw, &v); err != nil || len(v) != 2 {
		t.Fatalf("not an OVSDB uuid: %s", raw)
	}
	return v[1]
}

func ovsString(t testing.TB, raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var set []json.RawMessage // ["set", []] for an empty optional
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatalf("not an OVSDB string: %s", raw)
	}
	return ""
}

func ovsMap(t testing.TB, raw json.RawMessage) map[string]string {
	var v []json.RawMessage
	if err := json.Unmarshal(raw, &v); err != nil || len(v) != 2 {
		t.Fatalf("not an OVSDB map: %s", raw)
	}
	var pairs [][2]string
	if err := json.Unmarshal(v[1], &pairs); err != nil {
		t.Fatalf("not an OVSDB map: %s", raw)
	}
	m := map[string]string{}
	for _, p := range pairs {
		m[p[0]] = p[1]
	}
	return m
}

// NatAddresses returns the nat_addresses entries of an SB Port_Binding.
func (b *Bed) NatAddresses(t testing.TB, logicalPort string) []string {
	t.Helper()
	out := b.SBCtl(t, "--format=json", "--columns=nat_addresses", "find", "Port_Binding", "logical_port="+logicalPort)
	var tbl struct {
		Data [][]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &tbl); err != nil || len(tbl.Data) != 1 {
		t.Fatalf("Port_Binding %s: %v %s", logicalPort, err, out)
	}
	var s string
	if json.Unmarshal(tbl.Data[0][0], &s) == nil {
		return []string{s}
	}
	var set []json.RawMessage
	var entries []string
	if err := json.Unmarshal(tbl.Data[0][0], &set); err != nil || len(set) != 2 {
		t.Fatalf("nat_addresses of %s: %s", logicalPort, tbl.Data[0][0])
	}
	if err := json.Unmarshal(set[1], &entries); err != nil {
		t.Fatalf("nat_addresses of %s: %s", logicalPort, tbl.Data[0][0])
	}
	return entries
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// GatewayChassis returns the name of the chassis that claims the gateway
// port cr-<prefix>-lr-lrp-ext ("" when unclaimed).
func (b *Bed) GatewayChassis(t testing.TB, prefix string) string {
	t.Helper()
	uuid := strings.TrimSpace(b.SBCtl(t, "--bare", "--columns=chassis", "find", "Port_Binding",
		"logical_port=cr-"+prefix+"-lr-lrp-ext"))
	if uuid == "" {
		return ""
	}
	return strings.TrimSpace(b.SBCtl(t, "--bare", "--columns=name", "list", "Chassis", uuid))
}

// Eventually polls cond every interval until it returns "" (success) or the
// timeout passes; then it fails the test with the last reason.
func Eventually(t testing.TB, timeout, interval time.Duration, what string, cond func() string) time.Duration {
	t.Helper()
	start := time.Now()
	reason := "never checked"
	for time.Since(start) < timeout {
		if reason = cond(); reason == "" {
			return time.Since(start)
		}
		time.Sleep(interval)
	}
	msg := fmt.Sprintf("%s: not true after %v: %s", what, timeout, reason)
	noteFailure(t, msg)
	t.Fatal(msg)
	return 0
}

// HealChassis restarts, with a log line saying why, every chassis daemon
// that died by itself: OVS 3.1.0's userspace conntrack aborts
// (conntrack.c "assertion conn->conn_type == CT_CONN_TYPE_DEFAULT") after
// a while of many new connections through a forward, with or without
// ovnfwd (BENCHMARKS §9); on the cluster bed that also cuts the member's
// LXD off its cluster. Chassis a test stopped on purpose are its own to
// restart: call this only from cleanups.
func (b *Bed) HealChassis(t testing.TB) {
	t.Helper()
	for _, ch := range strings.Fields(b.Env["TB_CHASSIS"]) {
		n := strings.TrimPrefix(ch, "ch")
		if dead := b.deadDaemons(n); len(dead) > 0 {
			t.Logf("%s: %s died by itself — restarting it", ch, strings.Join(dead, "; "))
			b.Script(t, "chassis-start", n)
		}
	}
}

// DeadChassis names the chassis other than chassis `except` (one a test
// killed on purpose; 0: none) whose ovs-vswitchd or ovn-controller is not
// running, with why.
func (b *Bed) DeadChassis(except int) []string {
	var out []string
	for _, ch := range strings.Fields(b.Env["TB_CHASSIS"]) {
		n := strings.TrimPrefix(ch, "ch")
		if n == fmt.Sprint(except) {
			continue
		}
		if dead := b.deadDaemons(n); len(dead) > 0 {
			out = append(out, ch+": "+strings.Join(dead, "; "))
		}
	}
	return out
}

// deadDaemons lists chassis n's daemons that are not running, with the last
// EMER line of each one's log.
func (b *Bed) deadDaemons(n string) []string {
	dir := b.Env["TB_CH"+n+"_DIR"]
	var dead []string
	for _, p := range []string{"ovs-vswitchd", "ovn-controller"} {
		data, _ := os.ReadFile(filepath.Join(dir, p+".pid"))
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(data))); pid > 0 && processAlive(pid) {
			continue
		}
		why := lastEMER(filepath.Join(dir, p+".log"))
		if why == "" {
			why = "no EMER line in its log"
		}
		dead = append(dead, p+": "+why)
	}
	return dead
}

// processAlive reports whether pid runs and is not a zombie.
func processAlive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// lastEMER returns the last EMER line of an OVS/OVN log ("" if none): why
// the daemon aborted.
func lastEMER(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var why string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, "|EMER|") {
			why = l
		}
	}
	return why
}

// WaitHolder waits until chassis holder has held the network's gateway
// (prefix) for stable without a break: right after chassis restart, BFD
// comes up at different moments on each and the claim may pass back and
// forth for a second or two before the highest priority keeps it.
func (b *Bed) WaitHolder(t testing.TB, prefix, holder string, stable time.Duration) {
	t.Helper()
	var since time.Time
	Eventually(t, 60*time.Second, 100*time.Millisecond, fmt.Sprintf("%s holds the gateway for %v", holder, stable), func() string {
		if c := b.GatewayChassis(t, prefix); c != holder {
			since = time.Time{}
			return fmt.Sprintf("claimed by %q", c)
		}
		if since.IsZero() {
			since = time.Now()
		}
		if held := time.Since(since); held < stable {
			return fmt.Sprintf("held for %v", held.Round(time.Millisecond))
		}
		return ""
	})
}
