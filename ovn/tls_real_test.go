package ovn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovnfwd/ovnfwd/ovn/nbdb"
)

// tlsServer is an ovsdb-server process with an NB database, serving it on
// an ephemeral pssl: port on 127.0.0.1 and on a unix socket (for seeding).
type tlsServer struct {
	t      testing.TB
	bin    string
	dir    string
	db     string
	sock   string
	cmd    *exec.Cmd
	port   int
	starts int
}

// tlsServerFiles are the PEM files ovsdb-server is started with: its key
// and certificate, and the CA its clients' certificates must chain to.
type tlsServerFiles struct{ key, cert, ca string }

// startTLSServer creates a fresh NB database from OVN's installed schema
// and starts ovsdb-server with the given PEM files.
func startTLSServer(t testing.TB, files tlsServerFiles) *tlsServer {
	t.Helper()
	bin, tool := findBinary("ovsdb-server"), findBinary("ovsdb-tool")
	if bin == "" || tool == "" {
		missingTool(t, "ovsdb-server/ovsdb-tool not installed; skipping TLS test against a real OVSDB server")
	}
	schema := "/usr/share/ovn/ovn-nb.ovsschema"
	if !fileExists(schema) {
		schema = nbSchemaFile()
	}
	s := &tlsServer{t: t, bin: bin, dir: sockDir(t)}
	s.sock = filepath.Join(s.dir, "db.sock")
	s.db = filepath.Join(s.dir, "nb.db")
	if out, err := exec.Command(tool, "create", s.db, schema).CombinedOutput(); err != nil {
		t.Fatalf("ovsdb-tool create %s: %v: %s", schema, err, out)
	}
	t.Cleanup(s.stop)
	s.start(files)
	return s
}

var listeningPort = regexp.MustCompile(`listening on port (\d+)`)

// start (re)starts the server with the given files; the port changes.
func (s *tlsServer) start(files tlsServerFiles) {
	s.t.Helper()
	s.stop()
	s.starts++
	logFile := filepath.Join(s.dir, fmt.Sprintf("ovsdb-server-%d.log", s.starts))
	s.cmd = exec.Command(s.bin, s.db,
		"--remote=pssl:0:127.0.0.1", "--remote=punix:"+s.sock,
		"--private-key="+files.key, "--certificate="+files.cert, "--ca-cert="+files.ca,
		"--unixctl="+filepath.Join(s.dir, "ctl"), "--log-file="+logFile,
		"-vconsole:off", "--no-chdir")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start ovsdb-server: %v", err)
	}
	waitSocket(s.t, s.sock)
	deadline := time.Now().Add(10 * time.Second)
	for s.port = 0; s.port == 0; {
		b, _ := os.ReadFile(logFile)
		if m := listeningPort.FindSubmatch(b); m != nil {
			s.port, _ = strconv.Atoi(string(m[1]))
			break
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("ovsdb-server did not log its pssl port:\n%s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *tlsServer) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
	_ = os.Remove(s.sock)
}

func (s *tlsServer) endpoint() string {
	return "ssl:" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// log returns what the current server logged so far.
func (s *tlsServer) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, fmt.Sprintf("ovsdb-server-%d.log", s.starts)))
	return string(b)
}

// seedNBGlobal writes the NB_Global row (nb_cfg and one option) over the
// unix socket, for the TLS client to read back.
func (s *tlsServer) seedNBGlobal(nbCfg int, key, value string) {
	s.t.Helper()
	r := rawNB(s.t, "unix:"+s.sock)
	r.insert(nbdb.NBGlobalTable, ovsdb.Row{"nb_cfg": nbCfg,
		"options": ovsdb.OvsMap{GoMap: map[any]any{key: value}}})
}

// pkiDir writes PEM files into a directory and returns their paths.
type pkiDir struct {
	t   testing.TB
	dir string
}

func (p pkiDir) write(name string, content []byte) string {
	f := filepath.Join(p.dir, name)
	replaceFile(p.t, f, content)
	return f
}

// serverFiles writes a server's key and certificate and the CA it trusts
// for client certificates.
func (p pkiDir) serverFiles(prefix string, l *testLeaf, clientCA *testCA) tlsServerFiles {
	return tlsServerFiles{key: p.write(prefix+".key", l.keyPEM), cert: p.write(prefix+".crt", l.certPEM),
		ca: p.write(prefix+"-clientca.pem", clientCA.pem)}
}

// readNBGlobal connects a libovsdb client with cfg to ep and reads the
// option key of NB_Global: the connection and a read work end to end.
func readNBGlobal(ep string, cfg *tls.Config, key string) (string, error) {
	m, err := nbdb.FullDatabaseModel()
	if err != nil {
		return "", err
	}
	cl, err := client.NewOVSDBClient(m, client.WithEndpoint(ep), client.WithTLSConfig(cfg))
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.Connect(ctx); err != nil {
		return "", err
	}
	defer cl.Close()
	res, err := cl.Transact(ctx, ovsdb.Operation{Op: ovsdb.OperationSelect, Table: nbdb.NBGlobalTable,
		Where: []ovsdb.Condition{}, Columns: []string{"options"}})
	if err != nil {
		return "", err
	}
	if len(res) != 1 || res[0].Error != "" || len(res[0].Rows) != 1 {
		return "", fmt.Errorf("select NB_Global: %+v", res)
	}
	opts, ok := res[0].Rows[0]["options"].(ovsdb.OvsMap)
	if !ok {
		return "", fmt.Errorf("NB_Global options: %#v", res[0].Rows[0]["options"])
	}
	v, _ := opts.GoMap[key].(string)
	return v, nil
}

// handshake runs a TLS handshake with cfg against ep (ssl:HOST:PORT) and
// returns its error, as the lock's dialer sees it.
func handshake(ep string, cfg *tls.Config) error {
	d := tls.Dialer{Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", strings.TrimPrefix(ep, "ssl:"))
	if err == nil {
		c.Close()
	}
	return err
}

// TestTLSRealServerCertificates: against ovsdb-server over TLS, with
// OVN-style CN-only server certificates (no address in them). A server
// certificate for serverAuth, or with no extended key usage at all, is
// accepted and the NB database can be read, through DialNB (the package's
// client path) and a plain libovsdb client; a server certificate from
// another CA, or a client-only (clientAuth) certificate from the right CA,
// is refused, and the error says why.
func TestTLSRealServerCertificates(t *testing.T) {
	ca, other := newTestCA(t, "ovn ca"), newTestCA(t, "other ca")
	pki := pkiDir{t: t, dir: t.TempDir()}
	cli := ca.issue(t, "ovnfwd", clientAuth...)
	caFile, certFile, keyFile := pki.write("ca.pem", ca.pem), pki.write("client.crt", cli.certPEM), pki.write("client.key", cli.keyPEM)
	cfg, err := LoadTLSConfig(caFile, certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}

	srv := startTLSServer(t, pki.serverFiles("cn-only", ca.issue(t, "ovn-central", serverAuth...), ca))
	srv.seedNBGlobal(7, "ovnfwd-tls-test", "cn-only")
	t.Run("CN-only serverAuth certificate", func(t *testing.T) {
		got, err := readNBGlobal(srv.endpoint(), cfg, "ovnfwd-tls-test")
		if err != nil || got != "cn-only" {
			t.Fatalf("read NB_Global over TLS: %q, %v", got, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		nb, err := DialNB(ctx, Config{Endpoints: []string{srv.endpoint()}, CA: caFile, Cert: certFile, Key: keyFile,
			ReadOnly: true, ConnectTimeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("DialNB over TLS: %v", err)
		}
		defer nb.Close()
		if st := nb.Snapshot(); st.NBCfg != 7 || st.NBGlobalOptions["ovnfwd-tls-test"] != "cn-only" {
			t.Fatalf("DialNB snapshot: nb_cfg %d, options %v", st.NBCfg, st.NBGlobalOptions)
		}
	})

	cases := []struct {
		name    string
		leaf    *testLeaf
		wantErr string // "" = accepted
	}{
		{"no EKU extension", ca.issue(t, "ovn-central"), ""},
		{"other CA", other.issue(t, "ovn-central", serverAuth...), "unknown authority"},
		{"clientAuth only", ca.issue(t, "chassis-1", clientAuth...), "not a server certificate"},
	}
	if hasEKUExtension(cases[0].leaf.cert) {
		t.Fatal("the no-EKU test certificate has an extended key usage extension")
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv.start(pki.serverFiles(fmt.Sprintf("case%d", i), tc.leaf, ca))
			got, err := readNBGlobal(srv.endpoint(), cfg, "ovnfwd-tls-test")
			herr := handshake(srv.endpoint(), cfg)
			if tc.wantErr == "" {
				if err != nil || got != "cn-only" || herr != nil {
					t.Fatalf("refused: read %q, %v; handshake: %v", got, err, herr)
				}
				return
			}
			if err == nil {
				t.Fatalf("libovsdb client connected and read %q", got)
			}
			if herr == nil || !strings.Contains(herr.Error(), tc.wantErr) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("want %q; libovsdb: %v; handshake: %v", tc.wantErr, err, herr)
			}
			t.Logf("refused: %v", herr)
		})
	}
}

// TestTLSRealClientCertRotation: the client certificate and key files are
// replaced while the same tls.Config stays in use. Rotated to a pair from a
// CA the server does not trust, the next connection is refused by the
// server; rotated to a new pair from the trusted CA, the next connection
// works and that new certificate is the one sent: the files are re-read at
// each handshake, without a new tls.Config.
func TestTLSRealClientCertRotation(t *testing.T) {
	ca, rogue := newTestCA(t, "ovn ca"), newTestCA(t, "rogue ca")
	pki := pkiDir{t: t, dir: t.TempDir()}
	first := ca.issue(t, "ovnfwd-1", clientAuth...)
	caFile, certFile, keyFile := pki.write("ca.pem", ca.pem), pki.write("client.crt", first.certPEM), pki.write("client.key", first.keyPEM)
	cfg, err := LoadTLSConfig(caFile, certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	// Record what each handshake sends; the files are read by cfg's own
	// GetClientCertificate.
	var sent []*x509.Certificate
	get := cfg.GetClientCertificate
	cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		c, err := get(cri)
		if err == nil && len(c.Certificate) > 0 {
			x, _ := x509.ParseCertificate(c.Certificate[0])
			sent = append(sent, x)
		} else {
			sent = append(sent, nil)
		}
		return c, err
	}
	lastSent := func() *x509.Certificate {
		if len(sent) == 0 {
			t.Fatal("the server did not ask for a client certificate")
		}
		return sent[len(sent)-1]
	}

	srv := startTLSServer(t, pki.serverFiles("server", ca.issue(t, "ovn-central", serverAuth...), ca))
	srv.seedNBGlobal(1, "k", "v")
	if got, err := readNBGlobal(srv.endpoint(), cfg, "k"); err != nil || got != "v" {
		t.Fatalf("first certificate: %q, %v", got, err)
	}
	if c := lastSent(); c == nil || !c.Equal(first.cert) {
		t.Fatalf("sent %v, want ovnfwd-1", c)
	}

	untrusted := rogue.issue(t, "ovnfwd-rogue", clientAuth...)
	pki.write("client.crt", untrusted.certPEM)
	pki.write("client.key", untrusted.keyPEM)
	if got, err := readNBGlobal(srv.endpoint(), cfg, "k"); err == nil {
		t.Fatalf("a client certificate from a CA the server does not trust was accepted (read %q): the files were not re-read", got)
	} else {
		t.Logf("refused by the server: %v", err)
	}
	// ovsdb-server names the CAs it accepts, so, as crypto/tls does, no
	// certificate is sent rather than one it cannot accept.
	if c := lastSent(); c != nil {
		t.Fatalf("sent %s from the untrusted CA", c.Subject)
	}

	second := ca.issue(t, "ovnfwd-2", clientAuth...)
	pki.write("client.crt", second.certPEM)
	pki.write("client.key", second.keyPEM)
	if got, err := readNBGlobal(srv.endpoint(), cfg, "k"); err != nil || got != "v" {
		t.Fatalf("rotated certificate: %q, %v\n%s", got, err, srv.log())
	}
	if c := lastSent(); c == nil || !c.Equal(second.cert) {
		t.Fatalf("sent %v, want ovnfwd-2", c)
	}

	// Mid-rotation (a new certificate beside the old key): the last good
	// pair is still used and accepted.
	third := ca.issue(t, "ovnfwd-3", clientAuth...)
	pki.write("client.crt", third.certPEM)
	if got, err := readNBGlobal(srv.endpoint(), cfg, "k"); err != nil || got != "v" {
		t.Fatalf("mid-rotation: %q, %v", got, err)
	}
	if c := lastSent(); c == nil || !c.Equal(second.cert) {
		t.Fatalf("mid-rotation sent %v, want the last good ovnfwd-2", c)
	}
	pki.write("client.key", third.keyPEM)
	if got, err := readNBGlobal(srv.endpoint(), cfg, "k"); err != nil || got != "v" {
		t.Fatalf("rotation completed: %q, %v", got, err)
	}
	if c := lastSent(); c == nil || !c.Equal(third.cert) {
		t.Fatalf("sent %v, want ovnfwd-3", c)
	}
}

// TestTLSRealCARotation: the server moves to a certificate from a new CA;
// with the old CA file the same tls.Config refuses it, and once the CA file
// is replaced by the new CA the same tls.Config connects.
func TestTLSRealCARotation(t *testing.T) {
	ca1, ca2 := newTestCA(t, "ovn ca 1"), newTestCA(t, "ovn ca 2")
	pki := pkiDir{t: t, dir: t.TempDir()}
	cli := ca1.issue(t, "ovnfwd", clientAuth...)
	caFile := pki.write("ca.pem", ca1.pem)
	cfg, err := LoadTLSConfig(caFile, pki.write("client.crt", cli.certPEM), pki.write("client.key", cli.keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	// The server keeps trusting client certificates from CA 1.
	srv := startTLSServer(t, pki.serverFiles("server1", ca1.issue(t, "ovn-central", serverAuth...), ca1))
	srv.seedNBGlobal(1, "k", "v")
	if got, err := readNBGlobal(srv.endpoint(), cfg, "k"); err != nil || got != "v" {
		t.Fatalf("CA 1: %q, %v", got, err)
	}

	srv.start(pki.serverFiles("server2", ca2.issue(t, "ovn-central", serverAuth...), ca1))
	if _, err := readNBGlobal(srv.endpoint(), cfg, "k"); err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("server certificate from CA 2 with the CA 1 file: %v", err)
	}
	pki.write("ca.pem", ca2.pem)
	if got, err := readNBGlobal(srv.endpoint(), cfg, "k"); err != nil || got != "v" {
		t.Fatalf("server certificate from CA 2 after the CA file became CA 2: %q, %v", got, err)
	}
}
