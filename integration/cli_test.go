//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/canonical/lxd/shared/api"
	"gopkg.in/yaml.v3"
)

// The operator CLI against the real bed: every finding category check can
// report is seeded for real (ovn-nbctl, lxd sql, stopping northd, pausing
// or stopping chassis), check's exit code and JSON are asserted, repair
// fixes what it can, and a second check exits 0. Each test uses its own
// listen addresses in 198.51.100.230-246 (the other tests use lower ones,
// the benchmark, which clears all of 198.18.0.0/16, and the route tests
// 198.18.0.0/16) and scopes check and repair to them, so rows of other
// tests are never touched (which the foreign-row comparison proves).

// cliRun is one ovnfwd invocation.
type cliRun struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// policyArgs pins planning policy flags that change what LXD-written rows
// are judged against (--arp-responder: LXD never sets neighbor_responder),
// when the binary has them, so these tests do not depend on their defaults.
func policyArgs(t testing.TB, command string) []string {
	if v, ok := policyCache.Load(command); ok {
		return v.([]string)
	}
	help, _ := exec.Command(Binary(t), command, "--help").Output()
	var args []string
	if strings.Contains(string(help), "--arp-responder") {
		args = []string{"--arp-responder", "unmanaged"}
	}
	policyCache.Store(command, args)
	return args
}

var policyCache gosync.Map

// ovnfwd runs the binary under test against the bed.
func (b *Bed) ovnfwd(t testing.TB, args ...string) cliRun {
	t.Helper()
	return b.ovnfwdEnv(t, nil, args...)
}

// ovnfwdEnv is ovnfwd with extra environment (KEY=VALUE, over the bed's).
func (b *Bed) ovnfwdEnv(t testing.TB, extra []string, args ...string) cliRun {
	t.Helper()
	for i, a := range args {
		if a == "check" || a == "repair" || a == "status" || a == "explain" {
			pinned := policyArgs(t, a)
			args = append(append(append([]string{}, args[:i+1]...), pinned...), args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") && (i == 0 || !strings.HasPrefix(args[i-1], "--")) {
			break
		}
	}
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = append(b.OperatorEnv(), extra...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := cliRun{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("ovnfwd %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// cliReport is check's and repair's JSON contract.
type cliReport struct {
	Summary struct {
		Forwards   *int           `json:"forwards"`
		OK         *int           `json:"ok"`
		Findings   *int           `json:"findings"`
		DurationMS *int64         `json:"duration_ms"`
		ByCategory map[string]int `json:"by_category"`
		Changes    int            `json:"changes"`
	} `json:"summary"`
	Findings []cliFinding `json:"findings"`
	NotOK    []struct {
		ListenAddress string `json:"listen_address"`
		State         string `json:"state"`
		Reason        string `json:"reason"`
	} `json:"not_ok"`
	Changes []struct {
		ListenAddress string   `json:"listen_address"`
		Ops           []string `json:"ops"`
	} `json:"changes"`
}

type cliFinding struct {
	Project       *string `json:"project"`
	Network       *string `json:"network"`
	ListenAddress *string `json:"listen_address"`
	Category      string  `json:"category"`
	Severity      string  `json:"severity"`
	Detail        string  `json:"detail"`
	Repair        *string `json:"repair"`
}

// cats returns the categories per listen address ("" for network-wide and
// global findings), sorted.
func (r cliReport) cats() map[string][]string {
	m := map[string][]string{}
	for _, f := range r.Findings {
		m[*f.ListenAddress] = append(m[*f.ListenAddress], f.Category)
	}
	for k := range m {
		slices.Sort(m[k])
	}
	return m
}

// report runs a check or repair with --format json and checks the
// contract: every summary field and every finding field is present.
func (b *Bed) report(t testing.TB, wantCode int, args ...string) cliReport {
	t.Helper()
	r := b.ovnfwd(t, append(args, "--format", "json")...)
	if r.code != wantCode {
		t.Fatalf("ovnfwd %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, wantCode, r.stdout, r.stderr)
	}
	var rep cliReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("ovnfwd %s: JSON: %v\n%s", strings.Join(args, " "), err, r.stdout)
	}
	s := rep.Summary
	if s.Forwards == nil || s.OK == nil || s.Findings == nil || s.DurationMS == nil || *s.Findings != len(rep.Findings) {
		t.Fatalf("summary breaks the contract: %s", r.stdout)
	}
	for _, f := range rep.Findings {
		if f.Project == nil || f.Network == nil || f.ListenAddress == nil || f.Category == "" || f.Severity == "" || f.Detail == "" || f.Repair == nil {
			t.Fatalf("finding breaks the contract: %+v", f)
		}
	}
	return rep
}

// listenFlags scopes a command to the given addresses.
func listenFlags(addrs ...string) []string {
	return []string{"--listen", strings.Join(addrs, ",")}
}

// nbRows lists NB Load_Balancer rows, whole (every column) as ovn-nbctl
// prints them in JSON, keyed by UUID.
func (b *Bed) nbRows(t testing.TB) map[string]string {
	t.Helper()
	out := b.NBCtl(t, "--format=json", "list", "Load_Balancer")
	var tbl struct {
		Headings []string            `json:"headings"`
		Data     [][]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &tbl); err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, row := range tbl.Data {
		var cells []string
		uuid := ""
		for i, c := range row {
			if tbl.Headings[i] == "_uuid" {
				uuid = ovsUUID(t, c)
			}
			cells = append(cells, tbl.Headings[i]+"="+string(c))
		}
		rows[uuid] = strings.Join(cells, " ")
	}
	return rows
}

// lbName returns a row's name from nbRows' rendering.
func lbName(row string) string {
	_, rest, _ := strings.Cut(row, ` name="`)
	name, _, _ := strings.Cut(rest, `"`)
	return name
}

// foreign returns the rows whose names do not belong to the given listen
// addresses of prefix, and the router's and switches' references to them.
func (b *Bed) foreign(t testing.TB, prefix string, mine []string) string {
	t.Helper()
	var out []string
	for uuid, row := range b.nbRows(t) {
		name := lbName(row)
		own := false
		for _, a := range mine {
			own = own || name == prefix+"-lb-"+a+"-tcp" || name == prefix+"-lb-"+a+"-udp"
		}
		if own {
			continue
		}
		out = append(out, row)
		for _, sw := range []string{prefix + "-lr"} {
			if strings.Contains(b.NBCtl(t, "--bare", "--columns=load_balancer", "list", "Logical_Router", sw), uuid) {
				out = append(out, uuid+" on "+sw)
			}
		}
		for _, sw := range []string{prefix + "-ls-int", prefix + "-ls-ext"} {
			if strings.Contains(b.NBCtl(t, "--bare", "--columns=load_balancer", "list", "Logical_Switch", sw), uuid) {
				out = append(out, uuid+" on "+sw)
			}
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// rowUUIDs returns the UUIDs of the rows of name.
func (b *Bed) rowUUIDs(t testing.TB, name string) []string {
	t.Helper()
	return strings.Fields(b.NBCtl(t, "--bare", "--columns=_uuid", "find", "Load_Balancer", "name="+name))
}

// cleanupListen removes, at test end, LXD's forwards on the given
// addresses (through the API, else straight from LXD's database) and then
// every NB row of their names, by UUID.
func (b *Bed) cleanupListen(t *testing.T, network, prefix string, addrs ...string) {
	t.Cleanup(func() {
		for _, a := range addrs {
			if err := b.LXD.DeleteNetworkForward(network, a); err != nil {
				b.LXDSQL(t, fmt.Sprintf("DELETE FROM networks_forwards WHERE listen_address='%s'", a))
			}
			for _, proto := range []string{"tcp", "udp"} {
				for _, u := range b.rowUUIDs(t, prefix+"-lb-"+a+"-"+proto) {
					b.NBCtl(t, "--if-exists", "lb-del", u)
				}
			}
		}
	})
}

func fwdPost(listen string, ports ...api.NetworkForwardPort) api.NetworkForwardsPost {
	return api.NetworkForwardsPost{ListenAddress: listen, NetworkForwardPut: api.NetworkForwardPut{Ports: ports}}
}

func port(proto, listen, target, targetPort string) api.NetworkForwardPort {
	return api.NetworkForwardPort{Protocol: proto, ListenPort: listen, TargetAddress: target, TargetPort: targetPort}
}

// createLB creates a Load_Balancer row by hand (no attachment) and returns
// its UUID.
func (b *Bed) createLB(t testing.TB, name, proto, vip, backend string) string {
	t.Helper()
	return strings.TrimSpace(b.NBCtl(t, "create", "Load_Balancer", "name="+name, "protocol="+proto,
		fmt.Sprintf(`vips={"%s"="%s"}`, vip, backend)))
}

// activeChassisNumber returns N of the chassis chN holding the gateway.
func activeChassisNumber(t testing.TB, b *Bed, prefix string) string {
	t.Helper()
	active := b.GatewayChassis(t, prefix)
	if !strings.HasPrefix(active, "ch") {
		t.Fatalf("gateway claimed by %q, want one of the bed's chassis", active)
	}
	return strings.TrimPrefix(active, "ch")
}

// TestCLIUnreachable: LXD or OVN unreachable, or bad flags → exit 2 within
// 10 s with a one-line reason naming the endpoint.
func TestCLIUnreachable(t *testing.T) {
	b := Open(t)
	dir, err := os.MkdirTemp("", "ovnfwd-cli-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// A unix socket nobody listens on (bound, never accepted: connection refused).
	dead := filepath.Join(dir, "dead.sock")
	l, err := net.Listen("unix", dead)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	missing := filepath.Join(dir, "nonexistent.sock")

	for _, tc := range []struct {
		name string
		args []string
		want string // the endpoint the message must name
	}{
		{"lxd missing socket", []string{"--lxd", missing, "check"}, missing},
		{"nb dead unix socket", []string{"--nb", "unix:" + dead, "check"}, "unix:" + dead},
		{"nb refused tcp", []string{"--nb", "tcp:127.0.0.1:1", "check"}, "tcp:127.0.0.1:1"},
		{"sb refused tcp", []string{"--sb", "tcp:127.0.0.1:1", "check", "--deep"}, "tcp:127.0.0.1:1"},
		{"repair nb refused", []string{"--nb", "tcp:127.0.0.1:1", "repair", "--yes"}, "tcp:127.0.0.1:1"},
		{"status lxd missing", []string{"--lxd", missing, "status"}, missing},
		{"explain nb refused", []string{"--nb", "tcp:127.0.0.1:1", "explain", "ovn0", "198.51.100.230"}, "tcp:127.0.0.1:1"},
		{"bad format", []string{"check", "--format", "xml"}, "--format"},
		{"bad listen", []string{"check", "--listen", "not-an-ip"}, "--listen"},
		{"unknown flag", []string{"check", "--bogus"}, "bogus"},
		{"explain args", []string{"explain", "ovn0"}, "usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.ovnfwd(t, tc.args...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			if r.took >= 10*time.Second {
				t.Errorf("took %v, want < 10 s", r.took)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, tc.want) {
				t.Errorf("stderr's last line %q does not name %q (stderr: %s)", last, tc.want, r.stderr)
			}
			if r.stdout != "" && !strings.Contains(tc.name, "flag") {
				t.Errorf("stdout not empty: %q", r.stdout)
			}
			t.Logf("exit 2 after %v: %s", r.took.Round(time.Millisecond), last)
		})
	}
}

// nbFileState is what a write to the NB database changes.
type nbFileState struct {
	size  int64
	mtime time.Time
	cfg   string
}

func (b *Bed) nbFile(t testing.TB) nbFileState {
	t.Helper()
	// TB_NB_DB: the NB database file (raft central: member 1's log, where
	// every committed transaction is appended).
	db := b.Env["TB_NB_DB"]
	if db == "" {
		db = filepath.Join(b.Get(t, "TB_STATE"), "central", "nb.db")
	}
	st, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	return nbFileState{size: st.Size(), mtime: st.ModTime(), cfg: strings.TrimSpace(b.NBCtl(t, "get", "NB_Global", ".", "nb_cfg"))}
}

// quietNB waits until nothing has written to NB for a second.
func (b *Bed) quietNB(t testing.TB) nbFileState {
	t.Helper()
	last := b.nbFile(t)
	for quiet := time.Now(); time.Since(quiet) < time.Second; {
		time.Sleep(100 * time.Millisecond)
		if cur := b.nbFile(t); cur != last {
			last, quiet = cur, time.Now()
		}
	}
	return last
}

// TestCheckWritesNothing: check (also --deep), status and explain on a
// drifted bed leave the NB database file and nb_cfg exactly as they were,
// and the NB client reports zero transactions; the drift stays.
func TestCheckWritesNothing(t *testing.T) {
	b := Open(t)
	net, prefix := b.Get(t, "TB_NETWORK"), b.Prefix(t)
	listen := "198.51.100.230"
	b.cleanupListen(t, net, prefix, listen)
	b.CreateForward(t, net, fwdPost(listen, port("tcp", "80", "10.10.10.5", "8080")))
	b.NBCtl(t, "lb-del", prefix+"-lb-"+listen+"-tcp")

	before := b.quietNB(t)
	r := b.ovnfwd(t, "--log-level", "debug", "check", "--deep", "--format", "json", "--listen", listen)
	if r.code != 1 || !strings.Contains(r.stdout, `"missing"`) {
		t.Fatalf("check: exit %d, want 1 with a missing finding:\n%s", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, `"nb_transactions": 0`) || !strings.Contains(r.stderr, `"nb_read_only": true`) {
		t.Errorf("check's NB client did not report 0 transactions on a read-only connection:\n%s", r.stderr)
	}
	b.ovnfwd(t, "check", "--quiet")
	b.ovnfwd(t, "status", "--format", "json")
	b.ovnfwd(t, "explain", net, listen, "--format", "json")
	b.ovnfwd(t, "repair", "--dry-run", "--listen", listen, "--format", "json")
	after := b.nbFile(t)
	if after != before {
		t.Fatalf("NB changed under read-only commands: before %+v, after %+v", before, after)
	}
	if len(b.rowUUIDs(t, prefix+"-lb-"+listen+"-tcp")) != 0 {
		t.Fatal("check repaired the missing row")
	}
	t.Logf("nb.db %d bytes, mtime %s, nb_cfg %s: unchanged", after.size, after.mtime.Format(time.RFC3339Nano), after.cfg)
}

// TestCheckRepairNB seeds every NB category repair can fix.
func TestCheckRepairNB(t *testing.T) {
	b := Open(t)
	net, prefix := b.Get(t, "TB_NETWORK"), b.Prefix(t)
	const (
		missing   = "198.51.100.231"
		vips      = "198.51.100.232"
		proto     = "198.51.100.233"
		detached  = "198.51.100.234"
		extra     = "198.51.100.235"
		duplicate = "198.51.100.236"
		stale     = "198.51.100.237"
		seeded    = "198.51.100.238"
		udpOnly   = "198.51.100.239"
	)
	all := []string{missing, vips, proto, detached, extra, duplicate, stale, seeded, udpOnly}
	b.cleanupListen(t, net, prefix, all...)
	foreignName := "ovnfwd-cli-test-foreign"
	t.Cleanup(func() {
		for _, u := range b.rowUUIDs(t, foreignName) {
			b.NBCtl(t, "--if-exists", "lb-del", u)
		}
	})

	for _, a := range []string{missing, vips, proto, detached, extra, duplicate} {
		b.CreateForward(t, net, fwdPost(a, port("tcp", "80,443", "10.10.10.5", "")))
	}
	b.CreateForward(t, net, fwdPost(udpOnly, port("udp", "53", "10.10.10.6", "")))
	name := func(a, p string) string { return prefix + "-lb-" + a + "-" + p }
	uuid := func(a, p string) string {
		u := b.rowUUIDs(t, name(a, p))
		if len(u) != 1 {
			t.Fatalf("%s: %d rows, want 1", name(a, p), len(u))
		}
		return u[0]
	}
	// A foreign row on the network's router: repair must keep it there.
	fu := b.createLB(t, foreignName, "tcp", "192.0.2.200:80", "10.10.10.50:80")
	b.NBCtl(t, "lr-lb-add", prefix+"-lr", fu)

	b.NBCtl(t, "lb-del", name(missing, "tcp"))
	b.NBCtl(t, "set", "Load_Balancer", uuid(vips, "tcp"), fmt.Sprintf(`vips={"%s:80"="10.10.10.99:80"}`, vips))
	b.NBCtl(t, "set", "Load_Balancer", uuid(proto, "tcp"), "protocol=udp")
	b.NBCtl(t, "lr-lb-del", prefix+"-lr", uuid(detached, "tcp"))
	b.NBCtl(t, "ls-lb-del", prefix+"-ls-int", uuid(detached, "tcp"))
	b.NBCtl(t, "ls-lb-add", prefix+"-ls-ext", uuid(extra, "tcp"))
	b.createLB(t, name(duplicate, "tcp"), "tcp", duplicate+":80", "10.10.10.5:80")
	su := b.createLB(t, name(stale, "tcp"), "tcp", stale+":80", "10.10.10.7:80")
	b.NBCtl(t, "lr-lb-add", prefix+"-lr", su)
	b.SeedForwards(t, net, []string{seeded}, []api.NetworkForwardPort{port("tcp", "22", "10.10.10.8", "")})
	// A tcp row for a forward with udp ports only: its stale tcp half.
	b.createLB(t, name(udpOnly, "tcp"), "tcp", udpOnly+":53", "10.10.10.6:53")

	foreignBefore := b.foreign(t, prefix, all)
	scope := listenFlags(all...)

	rep := b.report(t, 1, append([]string{"check"}, scope...)...)
	want := map[string][]string{
		missing:   {"missing"},
		vips:      {"vip-mismatch"},
		proto:     {"protocol-mismatch"},
		detached:  {"detached", "detached"},
		extra:     {"extra-attachment"},
		duplicate: {"duplicate"},
		stale:     {"stale"},
		seeded:    {"missing"},
		udpOnly:   {"stale"},
	}
	if got := rep.cats(); fmt.Sprint(got) != fmt.Sprint(want) {
		var rows []string
		for _, row := range b.nbRows(t) {
			if strings.Contains(row, "198.51.100.23") {
				rows = append(rows, row)
			}
		}
		ps, _ := exec.Command("pgrep", "-af", "ovnfwd").Output()
		t.Fatalf("check findings by address:\n got %v\nwant %v\nNB rows:\n%s\nLXD forwards: %s\novnfwd processes (another writer?):\n%s",
			got, want, strings.Join(rows, "\n"), b.Lxc(t, "network", "forward", "list", net, "--format", "csv"), ps)
	}
	if *rep.Summary.Forwards != 8 || *rep.Summary.OK != 0 {
		t.Errorf("summary: %d forwards, %d ok; want 8 and 0", *rep.Summary.Forwards, *rep.Summary.OK)
	}
	if r := b.ovnfwd(t, append([]string{"check", "--quiet"}, scope...)...); r.code != 1 || r.stdout != "" {
		t.Errorf("check --quiet: exit %d, stdout %q; want 1 and nothing", r.code, r.stdout)
	}
	table := b.ovnfwd(t, append([]string{"check", "--format", "table"}, scope...)...)
	if !strings.Contains(table.stdout, "default/"+net+"/"+missing) || !strings.Contains(table.stdout, "8 forwards checked, 0 ok") {
		t.Errorf("table output:\n%s", table.stdout)
	}

	// --dry-run: the changes, nothing written.
	beforeDry := b.nbRows(t)
	dry := b.report(t, 1, append([]string{"repair", "--dry-run"}, scope...)...)
	if len(dry.Changes) != len(all) {
		t.Errorf("dry run announces %d changes, want %d: %+v", len(dry.Changes), len(all), dry.Changes)
	}
	if fmt.Sprint(b.nbRows(t)) != fmt.Sprint(beforeDry) {
		t.Fatal("repair --dry-run wrote to NB")
	}

	fixed := b.report(t, 0, append([]string{"repair", "--yes"}, scope...)...)
	if fixed.Summary.Changes != len(all) || len(fixed.Findings) != 0 {
		t.Fatalf("repair: %d changes, findings %+v", fixed.Summary.Changes, fixed.Findings)
	}
	for _, c := range fixed.Changes {
		t.Logf("repaired %s: %s", c.ListenAddress, strings.Join(c.Ops, "; "))
	}
	after := b.report(t, 0, append([]string{"check", "--deep"}, scope...)...)
	if *after.Summary.OK != 8 {
		t.Fatalf("after repair: %d of %d forwards ok", *after.Summary.OK, *after.Summary.Forwards)
	}
	if got := b.foreign(t, prefix, all); got != foreignBefore {
		t.Fatalf("rows of other names changed:\nbefore:\n%s\nafter:\n%s", foreignBefore, got)
	}
	// The repaired rows are exactly what LXD writes (computed without sync/).
	lxdRows := map[string]map[string]string{}
	for _, a := range []string{missing, vips, proto, detached, extra, duplicate} {
		for n, v := range ExpectedLBs(t, prefix, a, "", []api.NetworkForwardPort{port("tcp", "80,443", "10.10.10.5", "")}) {
			lxdRows[n] = v
		}
	}
	for n, v := range ExpectedLBs(t, prefix, seeded, "", []api.NetworkForwardPort{port("tcp", "22", "10.10.10.8", "")}) {
		lxdRows[n] = v
	}
	for n, v := range ExpectedLBs(t, prefix, udpOnly, "", []api.NetworkForwardPort{port("udp", "53", "10.10.10.6", "")}) {
		lxdRows[n] = v
	}
	if msg := b.rowsMatch(t, prefix, all, lxdRows); msg != "" {
		t.Errorf("repaired rows differ from LXD's: %s", msg)
	}
}

// rowsMatch compares the rows of the given listen addresses with want
// (name → VIPs): one row per name, its protocol, VIPs, attached to the
// router and ls-int, and no other row of those addresses.
func (b *Bed) rowsMatch(t testing.TB, prefix string, addrs []string, want map[string]map[string]string) string {
	t.Helper()
	rows := b.LBsByName(t)
	r := b.NBCtl(t, "--bare", "--columns=load_balancer", "list", "Logical_Router", prefix+"-lr")
	s := b.NBCtl(t, "--bare", "--columns=load_balancer", "list", "Logical_Switch", prefix+"-ls-int")
	var diffs []string
	for _, a := range addrs {
		for _, proto := range []string{"tcp", "udp"} {
			name := prefix + "-lb-" + a + "-" + proto
			vips, wanted := want[name]
			rs := rows[name]
			switch {
			case !wanted && len(rs) > 0:
				diffs = append(diffs, fmt.Sprintf("%s: %d unexpected rows", name, len(rs)))
			case !wanted:
			case len(rs) != 1:
				diffs = append(diffs, fmt.Sprintf("%s: %d rows", name, len(rs)))
			case rs[0].Protocol != proto || fmt.Sprint(rs[0].VIPs) != fmt.Sprint(vips):
				diffs = append(diffs, fmt.Sprintf("%s: %s %v, want %s %v", name, rs[0].Protocol, rs[0].VIPs, proto, vips))
			case !strings.Contains(r, rs[0].UUID) || !strings.Contains(s, rs[0].UUID):
				diffs = append(diffs, name+": not attached to the router and ls-int")
			}
		}
	}
	return strings.Join(diffs, "; ")
}

// TestCheckRepairUnrepairable: bad-forward, orphan, unmapped-network and
// deletion-budget are reported; repair leaves them (and the orphan row,
// byte for byte) alone.
func TestCheckRepairUnrepairable(t *testing.T) {
	b := Open(t)
	net, prefix := b.Get(t, "TB_NETWORK"), b.Prefix(t)
	bad, orphanAddr := "198.51.100.240", "198.51.100.241"
	staleAddrs := []string{"198.51.100.242", "198.51.100.243", "198.51.100.244"}
	b.cleanupListen(t, net, prefix, append([]string{bad}, staleAddrs...)...)
	orphanName := b.OVNPrefix() + "999-lb-" + orphanAddr + "-tcp"
	t.Cleanup(func() {
		for _, u := range b.rowUUIDs(t, orphanName) {
			b.NBCtl(t, "--if-exists", "lb-del", u)
		}
	})

	t.Run("bad-forward and orphan", func(t *testing.T) {
		// 2 listen ports, 3 target ports: LXD's API refuses it, its DB does not.
		b.SeedForwards(t, net, []string{bad}, []api.NetworkForwardPort{port("tcp", "80-81", "10.10.10.5", "8080-8082")})
		ou := b.createLB(t, orphanName, "tcp", orphanAddr+":80", "10.30.0.5:80")
		rows := b.nbRows(t)
		scope := listenFlags(bad, orphanAddr)
		rep := b.report(t, 1, append([]string{"check"}, scope...)...)
		if got := rep.cats(); fmt.Sprint(got) != fmt.Sprint(map[string][]string{bad: {"bad-forward"}, orphanAddr: {"orphan"}}) {
			t.Fatalf("findings %v", got)
		}
		rep = b.report(t, 1, append([]string{"repair", "--yes"}, scope...)...)
		if rep.Summary.Changes != 0 || len(rep.Findings) != 2 {
			t.Fatalf("repair: %d changes, findings %v", rep.Summary.Changes, rep.cats())
		}
		if b.nbRows(t)[ou] != rows[ou] {
			t.Fatal("the orphan row changed")
		}
		b.LXDSQL(t, fmt.Sprintf("DELETE FROM networks_forwards WHERE listen_address='%s'", bad))
		b.NBCtl(t, "lb-del", ou)
		b.report(t, 0, append([]string{"check"}, scope...)...)
	})

	t.Run("unmapped-network", func(t *testing.T) {
		id := b.NetworkID(t, net)
		real := strings.TrimSpace(b.LXDSQL(t, fmt.Sprintf("SELECT value FROM networks_config WHERE network_id=%d AND key='volatile.network.ipv4.address'", id)))
		addr := ""
		for _, f := range strings.Fields(real) {
			if ip := strings.Trim(f, "|"); strings.Count(ip, ".") == 3 {
				addr = ip
			}
		}
		if addr == "" {
			t.Fatalf("volatile.network.ipv4.address of %s: %q", net, real)
		}
		set := func(v string) {
			b.LXDSQL(t, fmt.Sprintf("UPDATE networks_config SET value='%s' WHERE network_id=%d AND key='volatile.network.ipv4.address'", v, id))
		}
		t.Cleanup(func() { set(addr) })
		set("10.99.0.250")
		rep := b.report(t, 1, "check", "--network", net)
		if got := rep.cats()[""]; !slices.Contains(got, "unmapped-network") {
			t.Fatalf("findings %v, want unmapped-network", rep.cats())
		}
		for _, s := range rep.NotOK {
			if s.State != "broken" {
				t.Errorf("%s of an unmapped network: %s, want broken", s.ListenAddress, s.State)
			}
		}
		before := b.nbRows(t)
		if rep := b.report(t, 1, "repair", "--yes", "--network", net); rep.Summary.Changes != 0 {
			t.Fatalf("repair changed %d forwards of an unmapped network", rep.Summary.Changes)
		}
		if fmt.Sprint(b.nbRows(t)) != fmt.Sprint(before) {
			t.Fatal("repair wrote rows of an unmapped network")
		}
		set(addr)
		if got := b.report(t, 0, "check", "--network", net, "--listen", bad).cats(); len(got) != 0 {
			t.Fatalf("after restoring the address: %v", got)
		}
	})

	t.Run("incomplete-listing", func(t *testing.T) {
		// A forward LXD cannot read back (ports that are not JSON) makes
		// LXD fail the whole listing of the network: check must say so
		// (not "consistent"), and repair must delete nothing, not even a
		// row that looks stale.
		good, staleAddr, broken := "198.51.100.245", "198.51.100.246", "198.51.100.247"
		b.cleanupListen(t, net, prefix, good, staleAddr, broken)
		b.CreateForward(t, net, fwdPost(good, port("tcp", "80", "10.10.10.5", "")))
		b.report(t, 0, append([]string{"repair", "--yes"}, listenFlags(good)...)...)
		su := b.createLB(t, prefix+"-lb-"+staleAddr+"-tcp", "tcp", staleAddr+":80", "10.10.10.7:80")
		b.NBCtl(t, "lr-lb-add", prefix+"-lr", su)
		b.LXDSQL(t, fmt.Sprintf("INSERT INTO networks_forwards (network_id, node_id, listen_address, description, ports) VALUES (%d, NULL, '%s', 'ovnfwd test: unreadable', 'not json')",
			b.NetworkID(t, net), broken))
		before := b.nbRows(t)

		rep := b.report(t, 1, "check", "--network", net)
		var inc *cliFinding
		for i, f := range rep.Findings {
			if f.Category == "incomplete-listing" && *f.ListenAddress == "" {
				inc = &rep.Findings[i]
			}
		}
		if inc == nil || inc.Severity != "error" || !strings.Contains(inc.Detail, "could not list the forwards of network default/"+net) {
			t.Fatalf("findings %v, want a network incomplete-listing error", rep.cats())
		}
		if !slices.Contains(rep.cats()[staleAddr], "incomplete-listing") {
			t.Errorf("the stale-looking row: %v, want held as incomplete-listing", rep.cats()[staleAddr])
		}
		rep = b.report(t, 1, "repair", "--yes", "--network", net)
		if rep.Summary.Changes != 0 {
			t.Fatalf("repair with an incomplete listing made %d changes", rep.Summary.Changes)
		}
		if fmt.Sprint(b.nbRows(t)) != fmt.Sprint(before) {
			t.Fatal("repair changed NB although LXD's listing was incomplete")
		}

		b.LXDSQL(t, fmt.Sprintf("DELETE FROM networks_forwards WHERE listen_address='%s'", broken))
		rep = b.report(t, 1, "check", "--network", net)
		if got := rep.cats(); len(got[""]) != 0 || fmt.Sprint(got[staleAddr]) != "[stale]" {
			t.Fatalf("after fixing LXD: %v, want only the stale row", got)
		}
		b.report(t, 0, append([]string{"repair", "--yes"}, listenFlags(staleAddr)...)...)
		b.report(t, 0, append([]string{"check"}, listenFlags(good, staleAddr)...)...)
	})

	t.Run("options-mismatch", func(t *testing.T) {
		// neighbor_responder is part of the desired row under
		// --arp-responder all; a row with another value is repaired.
		a := "198.51.100.248"
		b.cleanupListen(t, net, prefix, a)
		b.CreateForward(t, net, fwdPost(a, port("tcp", "80", "10.10.10.5", "")))
		all := []string{"--arp-responder", "all", "--listen", a}
		b.report(t, 0, append([]string{"repair", "--yes"}, all...)...)
		u := b.rowUUIDs(t, prefix+"-lb-"+a+"-tcp")
		if len(u) != 1 {
			t.Fatalf("rows of %s: %v", a, u)
		}
		b.NBCtl(t, "set", "Load_Balancer", u[0], "options:neighbor_responder=none")
		rep := b.report(t, 1, append([]string{"check"}, all...)...)
		if fmt.Sprint(rep.cats()[a]) != "[options-mismatch]" {
			t.Fatalf("findings %v, want options-mismatch", rep.cats())
		}
		if rep = b.report(t, 0, append([]string{"repair", "--yes"}, all...)...); rep.Summary.Changes != 1 {
			t.Fatalf("repair: %d changes, want 1", rep.Summary.Changes)
		}
		if got := strings.TrimSpace(b.NBCtl(t, "get", "Load_Balancer", u[0], "options:neighbor_responder")); got != "all" {
			t.Fatalf("after repair neighbor_responder=%s, want all", got)
		}
		b.report(t, 0, append([]string{"check"}, all...)...)
	})

	t.Run("deletion-budget", func(t *testing.T) {
		for _, a := range staleAddrs {
			u := b.createLB(t, prefix+"-lb-"+a+"-tcp", "tcp", a+":80", "10.10.10.7:80")
			b.NBCtl(t, "lr-lb-add", prefix+"-lr", u)
		}
		scope := listenFlags(staleAddrs...)
		rep := b.report(t, 1, append([]string{"check", "--deletion-budget", "2"}, scope...)...)
		c := rep.cats()
		if !slices.Contains(c[""], "deletion-budget") || len(c[staleAddrs[0]]) != 1 || c[staleAddrs[0]][0] != "stale" {
			t.Fatalf("findings %v, want deletion-budget and stale rows", c)
		}
		rep = b.report(t, 1, append([]string{"repair", "--yes", "--deletion-budget", "2"}, scope...)...)
		if rep.Summary.Changes != 0 {
			t.Fatalf("over budget, repair still made %d changes", rep.Summary.Changes)
		}
		for _, a := range staleAddrs {
			if len(b.rowUUIDs(t, prefix+"-lb-"+a+"-tcp")) != 1 {
				t.Fatalf("a row of %s was deleted over budget", a)
			}
		}
		rep = b.report(t, 0, append([]string{"repair", "--yes"}, scope...)...)
		if rep.Summary.Changes != 3 {
			t.Fatalf("within budget: %d changes, want 3", rep.Summary.Changes)
		}
		b.report(t, 0, append([]string{"check"}, scope...)...)
	})
}

// TestCheckSouthbound: not-realized, no-nat-address (northd stopped),
// chassis-behind (the active ovn-controller paused) and no-active-chassis
// (every gateway chassis stopped) are reported by check --deep, status
// and explain; repair cannot fix them; restoring the bed does.
func TestCheckSouthbound(t *testing.T) {
	b := Open(t)
	net, prefix := b.Get(t, "TB_NETWORK"), b.Prefix(t)
	listen := "198.51.100.245"
	b.cleanupListen(t, net, prefix, listen)
	scope := listenFlags(listen)
	name := prefix + "-lb-" + listen + "-tcp"
	deepOK := func(t *testing.T, what string) {
		t.Helper()
		Eventually(t, 60*time.Second, 200*time.Millisecond, what, func() string {
			if r := b.ovnfwd(t, append([]string{"check", "--deep", "--format", "json"}, scope...)...); r.code != 0 {
				return fmt.Sprintf("exit %d: %s", r.code, r.stdout)
			}
			return ""
		})
	}
	explainFails := func(t *testing.T, step int) {
		t.Helper()
		r := b.ovnfwd(t, "explain", net, listen, "--format", "json")
		var x struct {
			FirstFailure int    `json:"first_failure"`
			Next         string `json:"next"`
			Steps        []struct {
				Status   string   `json:"status"`
				Evidence []string `json:"evidence"`
			} `json:"steps"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &x); err != nil || r.code != 1 {
			t.Fatalf("explain: exit %d, %v\n%s", r.code, err, r.stdout)
		}
		if x.FirstFailure != step || x.Next == "" {
			t.Fatalf("explain: first failing step %d (%q), want %d\n%s", x.FirstFailure, x.Next, step, r.stdout)
		}
		t.Logf("explain: step %d fails: %v; next: %s", step, x.Steps[step-1].Evidence, x.Next)
	}

	t.Run("not-realized", func(t *testing.T) {
		b.Script(t, "northd-stop")
		t.Cleanup(func() { b.Script(t, "northd-start") })
		// NB right, written without a barrier: LXD has the forward (seeded
		// in its DB) and the rows are exactly LXD's.
		b.SeedForwards(t, net, []string{listen}, []api.NetworkForwardPort{port("tcp", "80", "10.10.10.5", "")})
		b.NBCtl(t, "lb-add", name, listen+":80", "10.10.10.5:80", "tcp", "--", "lr-lb-add", prefix+"-lr", name, "--", "ls-lb-add", prefix+"-ls-int", name)

		b.report(t, 0, append([]string{"check"}, scope...)...) // NB alone is right
		rep := b.report(t, 1, append([]string{"check", "--deep"}, scope...)...)
		if got := rep.cats()[listen]; !slices.Equal(got, []string{"no-nat-address", "not-realized"}) {
			t.Fatalf("check --deep findings %v, want no-nat-address and not-realized", rep.cats())
		}
		explainFails(t, 5)
		rep = b.report(t, 1, append([]string{"repair", "--yes", "--settle", "1s"}, scope...)...)
		if rep.Summary.Changes != 0 || len(rep.NotOK) != 1 {
			t.Fatalf("repair with northd down: %d changes, not ok %+v", rep.Summary.Changes, rep.NotOK)
		}
		b.Script(t, "northd-start")
		deepOK(t, "northd realizes the forward")
	})

	t.Run("chassis-behind", func(t *testing.T) {
		n := activeChassisNumber(t, b, prefix)
		ctl := b.Get(t, "TB_CH"+n+"_CONTROLLER_CTL")
		b.must(t, nil, "ovn-appctl", "-t", ctl, "debug/pause")
		t.Cleanup(func() { b.must(t, nil, "ovn-appctl", "-t", ctl, "debug/resume") })
		b.NBCtl(t, "--wait=sb", "sync") // a barrier the paused chassis does not follow

		rep := b.report(t, 1, append([]string{"check", "--deep"}, scope...)...)
		if got := rep.cats()[listen]; !slices.Equal(got, []string{"chassis-behind"}) {
			t.Fatalf("check --deep findings %v, want chassis-behind", rep.cats())
		}
		st := b.status(t, 1)
		if m := st.member("ch" + n); m.Liveness != "behind" || !m.Active {
			t.Fatalf("status: active member ch%s is %+v, want active and behind", n, m)
		}
		explainFails(t, 10)
		b.must(t, nil, "ovn-appctl", "-t", ctl, "debug/resume")
		deepOK(t, "the chassis catches up")
	})

	t.Run("no-active-chassis", func(t *testing.T) {
		holder := b.GatewayChassis(t, prefix)
		// Cleanups run last-registered first: start every chassis, then
		// wait until the previous holder has the claim back (pre-emption),
		// so the next test finds the bed as it was.
		t.Cleanup(func() {
			b.WaitHolder(t, prefix, holder, 3*time.Second)
		})
		for _, n := range []string{"1", "2", "3"} {
			n := n
			t.Cleanup(func() { b.Script(t, "chassis-start", n) })
		}
		for _, n := range []string{"1", "2", "3"} {
			// ovn-controller only: OVS carries the underlay, which on the
			// cluster bed is also LXD's cluster link.
			b.Script(t, "controller-stop", n)
		}
		Eventually(t, 10*time.Second, 100*time.Millisecond, "the gateway is unclaimed", func() string {
			if c := b.GatewayChassis(t, prefix); c != "" {
				return "claimed by " + c
			}
			return ""
		})
		rep := b.report(t, 1, append([]string{"check", "--deep"}, scope...)...)
		if got := rep.cats()[listen]; !slices.Equal(got, []string{"no-active-chassis"}) {
			t.Fatalf("check --deep findings %v, want no-active-chassis", rep.cats())
		}
		for _, f := range rep.Findings {
			if f.Category == "no-active-chassis" && f.Severity != "critical" {
				t.Errorf("no-active-chassis severity %s, want critical", f.Severity)
			}
		}
		st := b.status(t, 1)
		if st.Summary.Unclaimed != 1 || st.net().Gateway.ActiveChassis != "" {
			t.Fatalf("status: %d unclaimed, active %q", st.Summary.Unclaimed, st.net().Gateway.ActiveChassis)
		}
		explainFails(t, 9)
		if rep := b.report(t, 1, append([]string{"repair", "--yes", "--settle", "1s"}, scope...)...); rep.Summary.Changes != 0 {
			t.Fatalf("repair changed %d forwards", rep.Summary.Changes)
		}
		for _, n := range []string{"1", "2", "3"} {
			b.Script(t, "chassis-start", n)
		}
		deepOK(t, "a chassis claims the gateway")
	})
}

// cliStatus is status's JSON.
type cliStatus struct {
	Northd struct {
		NBCfg    int  `json:"nb_cfg"`
		CaughtUp bool `json:"caught_up"`
	} `json:"northd"`
	Networks []cliNetwork `json:"networks"`
	Summary  struct {
		Networks  int            `json:"networks"`
		Unclaimed int            `json:"unclaimed_gateways"`
		Forwards  int            `json:"forwards"`
		ByState   map[string]int `json:"by_state"`
	} `json:"summary"`
}

type cliNetwork struct {
	Project string `json:"project"`
	Name    string `json:"name"`
	Prefix  string `json:"ovn_prefix"`
	Uplink  struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"uplink"`
	Gateway struct {
		Port          string `json:"port"`
		ActiveChassis string `json:"active_chassis"`
		LXDChassis    string `json:"lxd_chassis"`
		Agree         bool   `json:"agree"`
	} `json:"gateway"`
	HAGroup struct {
		Name    string      `json:"name"`
		Members []cliMember `json:"members"`
	} `json:"ha_group"`
	Forwards map[string]int `json:"forwards"`
}

type cliMember struct {
	Chassis   string `json:"chassis"`
	Priority  int    `json:"priority"`
	Active    bool   `json:"active"`
	SBChassis bool   `json:"sb_chassis"`
	NBCfg     int    `json:"nb_cfg"`
	Liveness  string `json:"liveness"`
}

// status runs status for the bed's network and decodes it.
func (b *Bed) status(t testing.TB, wantCode int) cliStatus {
	t.Helper()
	r := b.ovnfwd(t, "status", "--network", b.Get(t, "TB_NETWORK"), "--format", "json")
	var st cliStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || r.code != wantCode || len(st.Networks) != 1 {
		t.Fatalf("status: exit %d (want %d), %v\n%s\n%s", r.code, wantCode, err, r.stdout, r.stderr)
	}
	return st
}

func (s cliStatus) net() cliNetwork { return s.Networks[0] }

func (s cliStatus) member(ch string) cliMember {
	for _, m := range s.net().HAGroup.Members {
		if m.Chassis == ch {
			return m
		}
	}
	return cliMember{}
}

// TestStatusExplain: on a healthy forward, status names the network's
// prefix, uplink, the claimant (SB and LXD agree) and every HA member, and
// explain walks all ten steps with evidence read from the real databases;
// table, JSON and YAML all render.
func TestStatusExplain(t *testing.T) {
	b := Open(t)
	net, prefix := b.Get(t, "TB_NETWORK"), b.Prefix(t)
	listen := "198.51.100.246"
	b.cleanupListen(t, net, prefix, listen)
	b.CreateForward(t, net, fwdPost(listen, port("tcp", "80,90-91", "10.10.10.5", "8080,9000-9001"), port("udp", "53", "10.10.10.6", "")))
	deep := func() string {
		r := b.ovnfwd(t, "check", "--deep", "--listen", listen)
		if r.code != 0 {
			return r.stdout
		}
		return ""
	}
	Eventually(t, 20*time.Second, 100*time.Millisecond, "the forward is realized", deep)

	st := b.status(t, 0)
	n := st.net()
	active := b.GatewayChassis(t, prefix)
	uplinkType := "bridge" // the single-member bed's uplink
	if b.Cluster() {
		uplinkType = "physical" // a shared segment, as production clusters have
	}
	if n.Prefix != prefix || n.Uplink.Name != b.Get(t, "TB_UPLINK") || n.Uplink.Type != uplinkType ||
		n.Gateway.ActiveChassis != active || !n.Gateway.Agree || n.HAGroup.Name != b.Get(t, "TB_HA_GROUP") {
		t.Fatalf("status network: %+v (active chassis %s)", n, active)
	}
	if len(n.HAGroup.Members) < 3 || st.member(active).Liveness != "current" || !st.member(active).Active {
		t.Fatalf("status members: %+v", n.HAGroup.Members)
	}
	if n.Forwards["ok"] < 1 || !st.Northd.CaughtUp {
		t.Fatalf("status forwards %v, northd caught up %v", n.Forwards, st.Northd.CaughtUp)
	}

	r := b.ovnfwd(t, "explain", net, listen, "--format", "json")
	var x struct {
		State        string `json:"state"`
		FirstFailure int    `json:"first_failure"`
		Steps        []struct {
			ID       string   `json:"id"`
			Status   string   `json:"status"`
			Evidence []string `json:"evidence"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &x); err != nil || r.code != 0 || x.State != "ok" || x.FirstFailure != 0 || len(x.Steps) != 10 {
		t.Fatalf("explain: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	tcpUUID := b.rowUUIDs(t, prefix+"-lb-"+listen+"-tcp")[0]
	for _, s := range x.Steps {
		ev := strings.Join(s.Evidence, "\n")
		switch s.ID {
		case "nb":
			if !strings.Contains(ev, tcpUUID) {
				t.Errorf("NB step does not name row %s:\n%s", tcpUUID, ev)
			}
		case "sb-lb":
			// OVN 23.03: the SB row names its NB row in lb_id; 25.03: it
			// has the NB row's UUID.
			if !strings.Contains(ev, "lb_id "+tcpUUID) && !strings.Contains(ev, "SB row "+tcpUUID+", the UUID of its NB row") {
				t.Errorf("SB step does not link the SB row to NB row %s:\n%s", tcpUUID, ev)
			}
			if strings.Contains(ev, "no NB row of that UUID") {
				t.Errorf("SB step lost the NB row:\n%s", ev)
			}
		case "dnat":
			for _, backend := range []string{"10.10.10.5:8080", "10.10.10.5:9000", "10.10.10.5:9001", "10.10.10.6:53"} {
				if !strings.Contains(ev, "ct_lb_mark(backends="+backend+")") {
					t.Errorf("DNAT step lacks the flow to %s:\n%s", backend, ev)
				}
			}
		case "nat-addresses":
			if !strings.Contains(ev, listen) {
				t.Errorf("nat_addresses step lacks %s:\n%s", listen, ev)
			}
		case "active-chassis":
			if !strings.Contains(ev, "claimed by "+active) {
				t.Errorf("active chassis step does not name %s:\n%s", active, ev)
			}
		}
		if s.Status == "fail" {
			t.Errorf("step %s fails: %s", s.ID, ev)
		}
	}
	for _, cmd := range [][]string{{"status"}, {"explain", net, listen}, {"check", "--deep", "--listen", listen}} {
		for _, f := range []string{"table", "yaml"} {
			r := b.ovnfwd(t, append(cmd, "--format", f)...)
			if r.code != 0 || r.stdout == "" {
				t.Errorf("%v --format %s: exit %d\n%s%s", cmd, f, r.code, r.stdout, r.stderr)
			}
			if f == "yaml" {
				var v map[string]any
				if err := yaml.Unmarshal([]byte(r.stdout), &v); err != nil {
					t.Errorf("%v --format yaml: %v", cmd, err)
				}
			}
		}
	}
	t.Logf("explain table:\n%s", b.ovnfwd(t, "explain", net, listen, "--format", "table").stdout)
}

// TestCLIHelp: every command has help with examples, and bash completion
// lists them.
func TestCLIHelp(t *testing.T) {
	b := Open(t)
	for _, c := range []string{"check", "repair", "status", "explain"} {
		r := b.ovnfwd(t, c, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "ovnfwd "+c) {
			t.Errorf("%s --help: exit %d\n%s", c, r.code, r.stdout)
		}
	}
	r := b.ovnfwd(t, "--generate-bash-completion")
	for _, c := range []string{"run", "check", "repair", "status", "explain", "version"} {
		if !slices.Contains(strings.Fields(r.stdout), c) {
			t.Errorf("completion lacks %s: %q", c, r.stdout)
		}
	}
	r = b.ovnfwd(t, "check", "--d", "--generate-bash-completion")
	if !slices.Contains(strings.Fields(r.stdout), "--deep") {
		t.Errorf("check's flag completion: %q", r.stdout)
	}

	// --version and version (issue 12): ovnfwd's version; the command adds
	// LXD's, the rules it chooses and the NB schema.
	if r := b.ovnfwd(t, "--version"); r.code != 0 || !strings.HasPrefix(r.stdout, "ovnfwd version ") {
		t.Errorf("--version: exit %d: %q", r.code, r.stdout)
	}
	r = b.ovnfwd(t, "version")
	server := "LXD 5.0.2 at "
	if b.Stack() == "incus" {
		server = "Incus 6.0." // 6.0.2+ LTS: the default target in both rows
	}
	for _, want := range []string{"ovnfwd ", server, "rules: " + b.OVNPrefix() + "<ID>-lb-<listen>-<proto> rows on the router and internal switch", "OVN northbound schema "} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("version: exit %d, lacks %q:\n%s", r.code, want, r.stdout)
		}
	}
	// Global flags after the subcommand (they were refused there).
	if r := b.ovnfwd(t, "check", "--nb", b.Env["OVNFWD_NB"], "--quiet"); r.code == 2 {
		t.Errorf("check --nb after the subcommand: exit 2: %s", r.stderr)
	}
}

// ovnfwd finds OVN the way its users have it set up (issue 12): without
// --nb it takes OVN_NB_DB, else LXD's own network.ovn.northbound_connection
// (the bed's LXD has it); errors name where the endpoint came from and
// what is missing.
func TestCLIFindsOVNLikeLXD(t *testing.T) {
	b := Open(t)
	run := func(extra []string, args ...string) cliRun {
		var env []string
		for _, kv := range b.BedEnv() {
			if !strings.HasPrefix(kv, "OVNFWD_NB=") && !strings.HasPrefix(kv, "OVNFWD_SB=") && !strings.HasPrefix(kv, "OVNFWD_OVN_") &&
				!strings.HasPrefix(kv, "OVN_NB_DB=") && !strings.HasPrefix(kv, "OVN_SB_DB=") {
				env = append(env, kv)
			}
		}
		cmd := exec.Command(Binary(t), args...)
		cmd.Env = append(env, extra...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		r := cliRun{stdout: out.String(), stderr: errb.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		}
		return r
	}
	if r := run(nil, "check", "--quiet", "--arp-responder", "unmanaged"); r.code == 2 {
		t.Errorf("with LXD's endpoint: exit 2: %s", r.stderr)
	}
	r := run([]string{"OVN_NB_DB=unix:/nonexistent/nb.sock"}, "check", "--quiet", "--timeout", "2s")
	if r.code != 2 || !strings.Contains(r.stderr, "OVN_NB_DB") || !strings.Contains(r.stderr, "/nonexistent/nb.sock") {
		t.Errorf("OVN_NB_DB is not taken first or not named: exit %d: %s", r.code, r.stderr)
	}
	r = run([]string{"OVN_NB_DB=ssl:127.0.0.1:1"}, "check", "--quiet", "--timeout", "2s")
	if r.code != 2 || !strings.Contains(r.stderr, "no CA certificate") || !strings.Contains(r.stderr, "--ovn-ca") {
		t.Errorf("ssl: without certificates: exit %d: %s", r.code, r.stderr)
	}
}
