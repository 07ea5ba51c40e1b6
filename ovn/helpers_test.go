package ovn

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/database/inmemory"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"
	"github.com/ovn-kubernetes/libovsdb/ovsdb/serverdb"
	"github.com/ovn-kubernetes/libovsdb/server"

	"github.com/ovnfwd/ovnfwd/ovn/nbdb"
	"github.com/ovnfwd/ovnfwd/ovn/sbdb"
)

// sockDir returns a short temporary directory: unix socket paths are
// limited to ~108 bytes, too short for t.TempDir() under long test names.
func sockDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ovnfwd-ovn-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// startMemServer starts libovsdb's in-process server with the real NB and
// SB schemas (and _Server, which a leader-only client needs) on a unix
// socket and returns the endpoint.
func startMemServer(t testing.TB) string {
	t.Helper()
	sock := filepath.Join(sockDir(t), "db.sock")
	srv := startMemServerAt(t, sock)
	t.Cleanup(srv.Close)
	return "unix:" + sock
}

// startMemServerAt starts an in-process server on sock; the caller closes it.
func startMemServerAt(t testing.TB, sock string) *server.OvsdbServer {
	t.Helper()
	nbModel, err := nbdb.FullDatabaseModel()
	if err != nil {
		t.Fatal(err)
	}
	sbModel, err := sbdb.FullDatabaseModel()
	if err != nil {
		t.Fatal(err)
	}
	srvModel, err := serverdb.FullDatabaseModel()
	if err != nil {
		t.Fatal(err)
	}
	db := inmemory.NewDatabase(map[string]model.ClientDBModel{
		"OVN_Northbound": nbModel, "OVN_Southbound": sbModel, "_Server": srvModel,
	}, nil)
	var dbms []model.DatabaseModel
	for _, x := range []struct {
		s ovsdb.DatabaseSchema
		m model.ClientDBModel
	}{{nbdb.Schema(), nbModel}, {sbdb.Schema(), sbModel}, {serverdb.Schema(), srvModel}} {
		dbm, errs := model.NewDatabaseModel(x.s, x.m)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		dbms = append(dbms, dbm)
	}
	srv, err := server.NewOvsdbServer(db, nil, dbms...)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve("unix", sock) }()
	waitSocket(t, sock)
	return srv
}

func waitSocket(t testing.TB, sock string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("socket %s did not come up", sock)
}

// findBinary looks for an OVS/OVN binary in PATH and the usual places.
func findBinary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
		if p := filepath.Join(d, name); fileExists(p) {
			return p
		}
	}
	return ""
}

// missingTool skips a test whose OVN/OVS binary is absent on a developer
// machine, but fails it in CI (CI or OVNFWD_REQUIRE_TOOLS set): .ci/run
// installs every tool, so a skip there would hide a test that never ran.
func missingTool(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" || os.Getenv("OVNFWD_REQUIRE_TOOLS") != "" {
		t.Fatal(msg + " (CI must run this test)")
	}
	t.Skip(msg)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// realServer is an ovsdb-server process owned by the test.
type realServer struct {
	t    testing.TB
	bin  string
	dir  string
	sock string
	dbs  []string
	cmd  *exec.Cmd
}

// startRealServer creates fresh databases from the given schemas and
// serves them on a unix socket. It skips the test if the binaries are absent.
func startRealServer(t testing.TB, schemas ...string) *realServer {
	t.Helper()
	bin, tool := findBinary("ovsdb-server"), findBinary("ovsdb-tool")
	if bin == "" || tool == "" {
		missingTool(t, "ovsdb-server/ovsdb-tool not installed; skipping test against a real OVSDB server")
	}
	s := &realServer{t: t, bin: bin, dir: sockDir(t)}
	s.sock = filepath.Join(s.dir, "db.sock")
	for i, schema := range schemas {
		db := filepath.Join(s.dir, filepath.Base(schema)+".db")
		if out, err := exec.Command(tool, "create", db, schema).CombinedOutput(); err != nil {
			t.Fatalf("ovsdb-tool create %s: %v: %s", schema, err, out)
		}
		_ = i
		s.dbs = append(s.dbs, db)
	}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *realServer) endpoint() string { return "unix:" + s.sock }

func (s *realServer) start() {
	s.t.Helper()
	args := append([]string{}, s.dbs...)
	args = append(args,
		"--remote=punix:"+s.sock,
		"--unixctl="+filepath.Join(s.dir, "ctl"),
		"--log-file="+filepath.Join(s.dir, "ovsdb-server.log"),
		"-vconsole:off", "--no-chdir",
	)
	s.cmd = exec.Command(s.bin, args...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start ovsdb-server: %v", err)
	}
	waitSocket(s.t, s.sock)
}

// startNorthd runs ovn-northd against the server's NB and SB databases
// (skips the test when it is not installed).
func (s *realServer) startNorthd() {
	s.t.Helper()
	bin := findBinary("ovn-northd")
	if bin == "" {
		missingTool(s.t, "ovn-northd not installed")
	}
	cmd := exec.Command(bin, "--ovnnb-db="+s.endpoint(), "--ovnsb-db="+s.endpoint(),
		"--unixctl="+filepath.Join(s.dir, "northd.ctl"),
		"--log-file="+filepath.Join(s.dir, "northd.log"), "-vconsole:off", "--no-chdir")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start ovn-northd: %v", err)
	}
	s.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

// kill stops the server (SIGKILL, as in a crash) and waits for it.
func (s *realServer) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
	_ = os.Remove(s.sock)
}

func nbSchemaFile() string { return filepath.Join("schema", "ovn-nb.ovsschema") }
func sbSchemaFile() string { return filepath.Join("schema", "ovn-sb.ovsschema") }

// rawClient is a plain libovsdb client without a monitor, used by tests to
// seed and inspect a database behind the client under test.
type rawClient struct {
	t  testing.TB
	cl client.Client
}

func newRawClient(t testing.TB, endpoint string, dbModel model.ClientDBModel) *rawClient {
	t.Helper()
	cl, err := client.NewOVSDBClient(dbModel, client.WithEndpoint(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &rawClient{t: t, cl: cl}
}

func rawNB(t testing.TB, endpoint string) *rawClient {
	m, err := nbdb.FullDatabaseModel()
	if err != nil {
		t.Fatal(err)
	}
	return newRawClient(t, endpoint, m)
}

func rawSB(t testing.TB, endpoint string) *rawClient {
	m, err := sbdb.FullDatabaseModel()
	if err != nil {
		t.Fatal(err)
	}
	return newRawClient(t, endpoint, m)
}

// transact runs ops and returns the results; it fails the test on error.
func (r *rawClient) transact(ops ...ovsdb.Operation) []ovsdb.OperationResult {
	r.t.Helper()
	res, err := r.try(ops...)
	if err != nil {
		r.t.Fatalf("transact: %v", err)
	}
	return res
}

func (r *rawClient) try(ops ...ovsdb.Operation) ([]ovsdb.OperationResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := r.cl.Transact(ctx, ops...)
	if err != nil {
		return nil, err
	}
	if opErrs, err := ovsdb.CheckOperationResults(res, ops); err != nil {
		return res, errors.Join(append([]error{err}, func() []error {
			var out []error
			for _, e := range opErrs {
				out = append(out, e)
			}
			return out
		}()...)...)
	}
	return res, nil
}

// insert inserts one row and returns its UUID.
func (r *rawClient) insert(table string, row ovsdb.Row) string {
	r.t.Helper()
	res := r.transact(ovsdb.Operation{Op: ovsdb.OperationInsert, Table: table, Row: row})
	return res[0].UUID.GoUUID
}

// selectRows returns the rows of table matching where (all if none given).
func (r *rawClient) selectRows(table string, where ...ovsdb.Condition) []ovsdb.Row {
	r.t.Helper()
	res := r.transact(ovsdb.Operation{Op: ovsdb.OperationSelect, Table: table, Where: where})
	return res[0].Rows
}

func set(vals ...any) ovsdb.OvsSet { return ovsdb.OvsSet{GoSet: vals} }

func uuidRef(u string) ovsdb.UUID { return ovsdb.UUID{GoUUID: u} }

// topo is the NB topology of one LXD network, seeded by seedTopology.
type topo struct {
	global, router, lrpExt, lsInt, group, haCh string
}

// seedTopology creates NB_Global and the objects LXD makes for network 1.
func seedTopology(t testing.TB, r *rawClient) topo {
	t.Helper()
	var tp topo
	// ovn-northd creates NB_Global itself; create it when northd is absent.
	// (An empty row cannot be sent: libovsdb omits an empty "row" member.)
	if rows := r.selectRows(nbdb.NBGlobalTable); len(rows) > 0 {
		tp.global = rows[0]["_uuid"].(ovsdb.UUID).GoUUID
	} else {
		tp.global = r.insert(nbdb.NBGlobalTable, ovsdb.Row{"nb_cfg": 0})
	}
	// HA_Chassis and Logical_Router_Port are not root tables: they must be
	// referenced in the transaction that creates them.
	res := r.transact(
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: nbdb.HAChassisTable, UUIDName: "hac", Row: ovsdb.Row{
			"chassis_name": "ch1", "priority": 10,
		}},
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: nbdb.HAChassisGroupTable, UUIDName: "grp", Row: ovsdb.Row{
			"name": "lxd-net1", "ha_chassis": set(uuidRef("hac")),
		}},
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: nbdb.LogicalRouterPortTable, UUIDName: "lrp", Row: ovsdb.Row{
			"name": "lxd-net1-lr-lrp-ext", "mac": "00:16:3e:00:00:01",
			"networks": set("192.0.2.10/24", "2001:db8::10/64"), "ha_chassis_group": uuidRef("grp"),
		}},
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: nbdb.LogicalRouterTable, Row: ovsdb.Row{
			"name": "lxd-net1-lr", "ports": set(uuidRef("lrp")),
		}},
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: nbdb.LogicalSwitchTable, Row: ovsdb.Row{"name": "lxd-net1-ls-int"}},
	)
	tp.haCh, tp.group = res[0].UUID.GoUUID, res[1].UUID.GoUUID
	tp.lrpExt, tp.router, tp.lsInt = res[2].UUID.GoUUID, res[3].UUID.GoUUID, res[4].UUID.GoUUID
	return tp
}

// eventually polls cond for up to 10s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
