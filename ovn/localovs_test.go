package ovn

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

const vswitchSchema = "/usr/share/openvswitch/vswitch.ovsschema"

// localOVSServer is a real ovsdb-server with an Open_vSwitch database (no
// ovs-vswitchd) and an ovs-vsctl that writes it through --db, as the
// tests' stand-in for what ovs-vswitchd, ovn-controller and LXD write.
type localOVSServer struct {
	*realServer
	vsctl string
}

func startLocalOVS(t *testing.T) *localOVSServer {
	t.Helper()
	vsctl := findBinary("ovs-vsctl")
	if vsctl == "" || !fileExists(vswitchSchema) {
		missingTool(t, "Open vSwitch (ovs-vsctl, vswitch.ovsschema) is not installed")
	}
	return &localOVSServer{realServer: startRealServer(t, vswitchSchema), vsctl: vsctl}
}

func (s *localOVSServer) vs(args ...string) string {
	s.t.Helper()
	out, err := exec.Command(s.vsctl, append([]string{"--no-wait", "--timeout=10", "--db=" + s.endpoint()}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("ovs-vsctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// noLocalOVS makes LocalOVSEndpoint("") find nothing: OVS_RUNDIR and
// SNAP_DATA unset, the system paths replaced by absent ones under a
// temporary directory, which it returns.
func noLocalOVS(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{"OVS_RUNDIR", "SNAP_DATA"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
	saved := systemOVSSockets
	systemOVSSockets = []string{filepath.Join(dir, "run/openvswitch/db.sock"), filepath.Join(dir, "var/run/openvswitch/db.sock"),
		filepath.Join(dir, "microovn/db.sock")}
	t.Cleanup(func() { systemOVSSockets = saved })
	return dir
}

func touch(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// LocalOVSEndpoint: an explicit endpoint (unix:PATH or a bare absolute
// path) wins; tcp:/ssl: and relative paths are refused.
func TestLocalOVSEndpointExplicit(t *testing.T) {
	t.Setenv("OVS_RUNDIR", "/elsewhere")
	for _, c := range []struct{ in, want, err string }{
		{"unix:/run/x/db.sock", "unix:/run/x/db.sock", ""},
		{"/run/x/db.sock", "unix:/run/x/db.sock", ""},
		{" /run/x/db.sock ", "unix:/run/x/db.sock", ""},
		{"tcp:127.0.0.1:6640", "", "want a unix socket"},
		{"ssl:[::1]:6640", "", "<bridge>.mgmt"},
		{"db.sock", "", "want unix:PATH or an absolute path"},
		{"punix:/run/x/db.sock", "", "want unix:PATH or an absolute path"},
		{"unix:", "", "empty socket path"},
	} {
		got, err := LocalOVSEndpoint(c.in)
		if got != c.want || (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("LocalOVSEndpoint(%q) = %q, %v; want %q, error containing %q", c.in, got, err, c.want, c.err)
		}
	}
}

// Without an explicit endpoint: $OVS_RUNDIR/db.sock when OVS_RUNDIR is set
// (whether or not it exists), else the first existing system path, then
// the snap's ovn-chassis plug target; none: an error naming every path
// tried and the fixes.
func TestLocalOVSEndpointSearch(t *testing.T) {
	dir := noLocalOVS(t)
	snap := filepath.Join(dir, "snapdata")
	t.Setenv("SNAP_DATA", snap)
	plug := filepath.Join(snap, "microovn/chassis/switch/db.sock")

	_, err := LocalOVSEndpoint("")
	if err == nil {
		t.Fatal("no socket exists, yet LocalOVSEndpoint found one")
	}
	for _, want := range append(append([]string{}, systemOVSSockets...), plug, "OVNFWD_OVS", "--ovs", "openvswitch or ovn-chassis plug", "OVS_RUNDIR is not set") {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}

	touch(t, plug)
	if got, err := LocalOVSEndpoint(""); got != "unix:"+plug || err != nil {
		t.Errorf("with only the snap plug's socket: %q, %v", got, err)
	}
	touch(t, systemOVSSockets[2])
	touch(t, systemOVSSockets[1])
	if got, err := LocalOVSEndpoint(""); got != "unix:"+systemOVSSockets[1] || err != nil {
		t.Errorf("with system sockets 2 and 3: %q, %v; want the first existing, %s", got, err, systemOVSSockets[1])
	}
	t.Setenv("OVS_RUNDIR", filepath.Join(dir, "rundir"))
	if got, err := LocalOVSEndpoint(""); got != "unix:"+filepath.Join(dir, "rundir/db.sock") || err != nil {
		t.Errorf("with OVS_RUNDIR: %q, %v", got, err)
	}
	if got, err := LocalOVSEndpoint("/explicit/db.sock"); got != "unix:/explicit/db.sock" || err != nil {
		t.Errorf("explicit with OVS_RUNDIR set: %q, %v", got, err)
	}
}

// No socket anywhere: the lookups fail with the search's error, and an
// explicit endpoint without a server says what to check.
func TestLocalOVSNoSocket(t *testing.T) {
	noLocalOVS(t)
	ctx := context.Background()
	if _, err := LocalChassisID(ctx, ""); err == nil || !strings.Contains(err.Error(), "no local Open vSwitch database socket found") ||
		!strings.Contains(err.Error(), systemOVSSockets[0]) {
		t.Errorf("LocalChassisID: %v", err)
	}
	if _, _, _, _, err := ProviderPatchPort(ctx, "", "UPLINK", "ln"); err == nil || !strings.Contains(err.Error(), systemOVSSockets[1]) {
		t.Errorf("ProviderPatchPort: %v", err)
	}
	sock := filepath.Join(sockDir(t), "db.sock")
	_, err := LocalChassisID(ctx, sock)
	if err == nil || !strings.Contains(err.Error(), "connect to the local OVS database unix:"+sock) || !strings.Contains(err.Error(), "is ovsdb-server running") {
		t.Errorf("LocalChassisID(%s) without a server: %v", sock, err)
	}
}

// The system-id, read from a real ovsdb-server through each endpoint form:
// unix:PATH, a bare path and OVS_RUNDIR. Missing: a clear error.
func TestLocalChassisIDRealOVSDB(t *testing.T) {
	s := startLocalOVS(t)
	noLocalOVS(t)
	ctx := context.Background()

	if _, err := LocalChassisID(ctx, s.endpoint()); err == nil || !strings.Contains(err.Error(), "has no Open_vSwitch row") {
		t.Errorf("before ovs-vsctl init: %v, want an error about the missing Open_vSwitch row", err)
	}
	s.vs("init")
	s.vs("set", "open_vswitch", ".", "external_ids:hostname=node1")
	if id, err := LocalChassisID(ctx, s.endpoint()); err == nil || id != "" ||
		!strings.Contains(err.Error(), "has no external_ids:system-id") || !strings.Contains(err.Error(), "--chassis") {
		t.Errorf("without system-id: %q, %v", id, err)
	}

	s.vs("set", "open_vswitch", ".", "external_ids:system-id=ch-7f3a")
	for _, ep := range []string{s.endpoint(), s.sock} {
		if id, err := LocalChassisID(ctx, ep); id != "ch-7f3a" || err != nil {
			t.Errorf("LocalChassisID(%s) = %q, %v", ep, id, err)
		}
	}
	if _, err := LocalChassisID(ctx, ""); err == nil {
		t.Error("LocalChassisID found a database with OVS_RUNDIR unset and no system socket")
	}
	t.Setenv("OVS_RUNDIR", s.dir)
	if id, err := LocalChassisID(ctx, ""); id != "ch-7f3a" || err != nil {
		t.Errorf("LocalChassisID with OVS_RUNDIR = %q, %v", id, err)
	}
}

// ProviderPatchPort against a real ovsdb-server: the bridge comes from
// the right entry of several ovn-bridge-mappings; of the localnet port's
// patch ports only the one on that bridge counts; an ofport not yet set
// or -1 is a clear error; and rundir is the socket's directory.
func TestProviderPatchPortRealOVSDB(t *testing.T) {
	s := startLocalOVS(t)
	noLocalOVS(t)
	s.vs("init")
	for _, br := range []string{"br-int", "br-ex", "lxdovn1"} {
		s.vs("add-br", br)
	}
	patch := func(br, name, localnet string) {
		s.vs("add-port", br, name, "--", "set", "interface", name, "type=patch", "options:peer=peer-of-"+name,
			"--", "set", "port", name, "external_ids:ovn-localnet-port="+localnet)
	}
	// Both ends of ln's patch pair carry its external_ids; the br-int end
	// sorts first by name and has an OpenFlow port too, so a lookup that
	// ignored the bridge would return it.
	patch("br-int", "patch-br-int-to-ln", "ln")
	patch("lxdovn1", "patch-ln-to-br-int", "ln")
	patch("br-ex", "patch-ln2-to-br-int", "ln2")
	patch("lxdovn1", "patch-ln3-to-br-int", "ln3") // no ofport yet
	patch("lxdovn1", "patch-ln4-to-br-int", "ln4") // ovs-vswitchd failed it
	s.vs("add-port", "lxdovn1", "eth1")
	s.vs("set", "interface", "patch-br-int-to-ln", "ofport=3")
	s.vs("set", "interface", "patch-ln-to-br-int", "ofport=7")
	s.vs("set", "interface", "patch-ln2-to-br-int", "ofport=4")
	s.vs("set", "interface", "eth1", "ofport=1")
	s.vs("set", "interface", "patch-ln4-to-br-int", "ofport=-1", `error="could not add network device patch-ln4-to-br-int to ofproto (File exists)"`)
	s.vs("set", "open_vswitch", ".", "external_ids:ovn-bridge-mappings=physnet1:br-ex, UPLINK:lxdovn1,gone:br-gone")

	ctx := context.Background()
	for _, c := range []struct {
		endpoint, network, localnet, bridge, port, ofport string
	}{
		{s.endpoint(), "UPLINK", "ln", "lxdovn1", "patch-ln-to-br-int", "7"},
		{s.sock, "UPLINK", "ln", "lxdovn1", "patch-ln-to-br-int", "7"},
		{s.endpoint(), "physnet1", "ln2", "br-ex", "patch-ln2-to-br-int", "4"},
	} {
		br, port, of, rundir, err := ProviderPatchPort(ctx, c.endpoint, c.network, c.localnet)
		if err != nil || br != c.bridge || port != c.port || of != c.ofport || rundir != s.dir {
			t.Errorf("ProviderPatchPort(%s, %s, %s) = %s, %s, %s, %s, %v; want %s, %s, %s, %s",
				c.endpoint, c.network, c.localnet, br, port, of, rundir, err, c.bridge, c.port, c.ofport, s.dir)
		}
	}

	for _, c := range []struct {
		network, localnet string
		want              []string
	}{
		{"NOPE", "ln", []string{`no ovn-bridge-mappings entry for uplink network "NOPE"`, `"physnet1:br-ex, UPLINK:lxdovn1,gone:br-gone"`}},
		{"gone", "ln", []string{"the local OVS has no bridge br-gone", `uplink network "gone"`}},
		// ln's patch ports are on br-int and lxdovn1, not on br-ex.
		{"physnet1", "ln", []string{"bridge br-ex has no patch port of localnet port ln ("}},
		{"UPLINK", "ln9", []string{"bridge lxdovn1 has no patch port of localnet port ln9"}},
		{"UPLINK", "ln3", []string{"patch port patch-ln3-to-br-int on bridge lxdovn1 has no OpenFlow port number yet (ofport [])"}},
		{"UPLINK", "ln4", []string{"patch port patch-ln4-to-br-int on bridge lxdovn1 has no OpenFlow port number (ofport -1",
			"could not add network device patch-ln4-to-br-int to ofproto (File exists)"}},
	} {
		br, port, of, _, err := ProviderPatchPort(ctx, s.endpoint(), c.network, c.localnet)
		if err == nil || of != "" {
			t.Errorf("%s/%s: %s, %s, %s, %v; want an error", c.network, c.localnet, br, port, of, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s/%s: %v, want it to contain %q", c.network, c.localnet, err, w)
			}
		}
	}

	// An empty endpoint finds the database through OVS_RUNDIR.
	t.Setenv("OVS_RUNDIR", s.dir)
	if br, port, of, _, err := ProviderPatchPort(ctx, "", "UPLINK", "ln"); br != "lxdovn1" || port != "patch-ln-to-br-int" || of != "7" || err != nil {
		t.Errorf("ProviderPatchPort with OVS_RUNDIR = %s, %s, %s, %v", br, port, of, err)
	}

	s.vs("remove", "open_vswitch", ".", "external_ids", "ovn-bridge-mappings")
	if _, _, _, _, err := ProviderPatchPort(ctx, s.endpoint(), "UPLINK", "ln"); err == nil ||
		!strings.Contains(err.Error(), `uplink network "UPLINK" (external_ids:ovn-bridge-mappings is not set)`) {
		t.Errorf("without ovn-bridge-mappings: %v", err)
	}
}

// A server without an Open_vSwitch database (here an NB one): the client
// says which database it wanted.
func TestLocalOVSWrongDatabase(t *testing.T) {
	s := startRealServer(t, nbSchemaFile())
	_, err := LocalChassisID(context.Background(), s.endpoint())
	if err == nil || !strings.Contains(err.Error(), "Open_vSwitch") || !strings.Contains(err.Error(), s.endpoint()) {
		t.Errorf("against an NB server: %v", err)
	}
}

// A socket that accepts but never answers: the call ends after
// localOVSTimeout when the caller's context has no deadline, and at the
// caller's deadline otherwise.
func TestLocalOVSTimeout(t *testing.T) {
	sock := filepath.Join(sockDir(t), "db.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	saved := localOVSTimeout
	localOVSTimeout = 300 * time.Millisecond
	t.Cleanup(func() { localOVSTimeout = saved })

	start := time.Now()
	_, err = LocalChassisID(context.Background(), sock)
	if d := time.Since(start); err == nil || d < 250*time.Millisecond || d > 5*time.Second {
		t.Errorf("no deadline: %v after %v, want an error after about %v", err, d, localOVSTimeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, _, _, _, err = ProviderPatchPort(ctx, "unix:"+sock, "UPLINK", "ln")
	if d := time.Since(start); err == nil || d > 250*time.Millisecond {
		t.Errorf("100ms deadline: %v after %v", err, d)
	}
}

// Every lookup closes its connection: no goroutines or server sessions
// pile up.
func TestLocalOVSClosesConnections(t *testing.T) {
	s := startLocalOVS(t)
	s.vs("init")
	s.vs("set", "open_vswitch", ".", "external_ids:system-id=ch1")
	ctx := context.Background()
	if _, err := LocalChassisID(ctx, s.endpoint()); err != nil { // warm up
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		if _, err := LocalChassisID(ctx, s.endpoint()); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Errorf("%d goroutines after 20 lookups, %d before", n, before)
	}
	// ovsdb-server's memory/show counts sessions (and leaves the count
	// out at 0); an open client shows up there.
	sessions := func() int {
		m := regexp.MustCompile(`sessions:(\d+)`).FindStringSubmatch(s.appctl("memory/show"))
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	waitSessions := func(want int) int {
		deadline := time.Now().Add(5 * time.Second)
		n := sessions()
		for ; n != want && time.Now().Before(deadline); n = sessions() {
			time.Sleep(20 * time.Millisecond)
		}
		return n
	}
	m, err := localOVSClientModel()
	if err != nil {
		t.Fatal(err)
	}
	open := newRawClient(t, s.endpoint(), m)
	if n := waitSessions(1); n != 1 {
		t.Fatalf("ovsdb-server reports %d sessions with one client connected", n)
	}
	open.cl.Close()
	if n := waitSessions(0); n != 0 {
		t.Fatalf("ovsdb-server reports %d sessions after the client closed", n)
	}
	for i := 0; i < 5; i++ {
		if _, _, _, _, err := ProviderPatchPort(ctx, s.endpoint(), "UPLINK", "ln"); err == nil {
			t.Fatal("ProviderPatchPort found a patch port in an empty database")
		}
	}
	if n := waitSessions(0); n != 0 {
		t.Errorf("ovsdb-server still has %d sessions after the lookups", n)
	}
}
