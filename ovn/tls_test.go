package ovn

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA is a certificate authority for tests (ovs-pki's switchca and
// controllerca, MicroOVN's CA).
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t testing.TB, cn string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: randSerial(t), Subject: pkix.Name{CommonName: cn}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func randSerial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}

// testLeaf is a certificate issued by a testCA, with its key.
type testLeaf struct {
	cert            *x509.Certificate
	certPEM, keyPEM []byte
}

// issue makes a CN-only certificate (no subject alternative names, as
// MicroOVN's and ovs-pki's): eku nil leaves out the extended key usage
// extension altogether.
func (ca *testCA) issue(t testing.TB, cn string, eku ...x509.ExtKeyUsage) *testLeaf {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: randSerial(t), Subject: pkix.Name{CommonName: cn},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: eku,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &testLeaf{cert: cert,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kDER})}
}

var (
	serverAuth = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	clientAuth = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
)

// oidExtKeyUsage is the extended key usage extension (RFC 5280 4.2.1.12).
var oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}

func hasEKUExtension(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oidExtKeyUsage) {
			return true
		}
	}
	return false
}

// replaceFile replaces path with content the way rotation tools do: a new
// file renamed over the old one.
func replaceFile(t testing.TB, path string, content []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyChainExtKeyUsage: the server certificate must chain to the CA
// and be usable by a TLS server: serverAuth, or no extended key usage at
// all (good for any use, as ovs-pki may issue); a client-only certificate
// from the same CA (a chassis's) is refused, and so is one from another CA.
// Host names are not checked (the certificates are CN-only).
func TestVerifyChainExtKeyUsage(t *testing.T) {
	ca, other := newTestCA(t, "ovn ca"), newTestCA(t, "other ca")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	replaceFile(t, caFile, ca.pem)
	cfg, err := LoadTLSConfig(caFile, "", "")
	if err != nil {
		t.Fatal(err)
	}
	noEKU := ca.issue(t, "ovn-central-2")
	if hasEKUExtension(noEKU.cert) || len(noEKU.cert.ExtKeyUsage) != 0 {
		t.Fatal("the no-EKU test certificate has an extended key usage extension")
	}
	tests := []struct {
		name    string
		leaf    *testLeaf
		wantErr []string // empty: accepted
	}{
		{"serverAuth", ca.issue(t, "ovn-central-1", serverAuth...), nil},
		{"no EKU extension", noEKU, nil},
		{"serverAuth and clientAuth", ca.issue(t, "ovn-central-3", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth), nil},
		{"clientAuth only", ca.issue(t, "chassis-1", clientAuth...),
			[]string{"not a server certificate", "clientAuth", "CN=chassis-1"}},
		{"codeSigning only", ca.issue(t, "signer", x509.ExtKeyUsageCodeSigning),
			[]string{"not a server certificate", "codeSigning"}},
		{"other CA", other.issue(t, "ovn-central-1", serverAuth...),
			[]string{"unknown authority", `issuer "CN=other ca"`, caFile}},
		{"other CA, clientAuth only", other.issue(t, "chassis-1", clientAuth...), []string{"unknown authority"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := [][]byte{tt.leaf.cert.Raw}
			for _, err := range []error{
				verifyChain(x509NewPool(ca.cert), caFile, raw),
				cfg.VerifyPeerCertificate(raw, nil),
			} {
				if len(tt.wantErr) == 0 {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					continue
				}
				if err == nil {
					t.Fatal("accepted")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
			}
		})
	}
	if err := cfg.VerifyPeerCertificate(nil, nil); err == nil || !strings.Contains(err.Error(), "no certificate") {
		t.Errorf("no certificate: %v", err)
	}
}

func x509NewPool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// clientPairFiles writes a certificate and key and returns their paths.
func clientPairFiles(t testing.TB, dir string, l *testLeaf) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	replaceFile(t, certFile, l.certPEM)
	replaceFile(t, keyFile, l.keyPEM)
	return certFile, keyFile
}

// sentCert is the leaf the config sends when a server asks.
func sentCert(t testing.TB, cfg *tls.Config) *x509.Certificate {
	t.Helper()
	c, err := cfg.GetClientCertificate(certRequest())
	if err != nil {
		t.Fatalf("GetClientCertificate: %v", err)
	}
	if len(c.Certificate) == 0 {
		t.Fatal("GetClientCertificate: no certificate")
	}
	x, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestTLSClientCertReload: a rotated client certificate and key are used at
// the next handshake of the same tls.Config. While the pair is mid-rotation
// (the new certificate beside the old key) the last good pair stays in use,
// and the new pair is taken once the key follows.
func TestTLSClientCertReload(t *testing.T) {
	ca := newTestCA(t, "ovn ca")
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	replaceFile(t, caFile, ca.pem)
	one, two, three := ca.issue(t, "ovnfwd-1", clientAuth...), ca.issue(t, "ovnfwd-2", clientAuth...), ca.issue(t, "ovnfwd-3", clientAuth...)
	certFile, keyFile := clientPairFiles(t, dir, one)
	cfg, err := LoadTLSConfig(caFile, certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := sentCert(t, cfg); !got.Equal(one.cert) {
		t.Fatalf("sent %s, want ovnfwd-1", got.Subject)
	}

	clientPairFiles(t, dir, two)
	if got := sentCert(t, cfg); !got.Equal(two.cert) {
		t.Fatalf("after rotation sent %s, want ovnfwd-2", got.Subject)
	}

	// Mid-rotation: certificate 3 with key 2 does not pair; keep pair 2.
	replaceFile(t, certFile, three.certPEM)
	if got := sentCert(t, cfg); !got.Equal(two.cert) {
		t.Fatalf("mid-rotation sent %s, want the last good ovnfwd-2", got.Subject)
	}
	// A missing key file (removed before the new one is written) too.
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	if got := sentCert(t, cfg); !got.Equal(two.cert) {
		t.Fatalf("key file missing: sent %s, want the last good ovnfwd-2", got.Subject)
	}
	replaceFile(t, keyFile, three.keyPEM)
	if got := sentCert(t, cfg); !got.Equal(three.cert) {
		t.Fatalf("rotation completed: sent %s, want ovnfwd-3", got.Subject)
	}

	// Written in place (same file) with a new mtime: re-read as well.
	if err := os.WriteFile(certFile, one.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, one.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Minute)
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, future, future); err != nil {
			t.Fatal(err)
		}
	}
	if got := sentCert(t, cfg); !got.Equal(one.cert) {
		t.Fatalf("rewritten in place: sent %s, want ovnfwd-1", got.Subject)
	}
}

// TestTLSReloadOnlyOnChange: a handshake only stats the files; a file is
// re-read when its mtime, size or identity changed, not otherwise. Here the
// certificate and key are rewritten in place with another pair of the same
// size and the old mtime put back: the old pair stays until the mtime moves.
func TestTLSReloadOnlyOnChange(t *testing.T) {
	ca := newTestCA(t, "ovn ca")
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	replaceFile(t, caFile, ca.pem)
	one, two := ca.issue(t, "ovnfwd-1", clientAuth...), ca.issue(t, "ovnfwd-2", clientAuth...)
	pad := func(b []byte) []byte { // trailing text after the PEM block is ignored
		out := make([]byte, 4096)
		copy(out, b)
		for i := len(b); i < len(out); i++ {
			out[i] = '\n'
		}
		return out
	}
	certFile, keyFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	replaceFile(t, certFile, pad(one.certPEM))
	replaceFile(t, keyFile, pad(one.keyPEM))
	cfg, err := LoadTLSConfig(caFile, certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := sentCert(t, cfg); !got.Equal(one.cert) {
		t.Fatalf("sent %s, want ovnfwd-1", got.Subject)
	}
	stats := map[string]os.FileInfo{}
	for f, b := range map[string][]byte{certFile: pad(two.certPEM), keyFile: pad(two.keyPEM)} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		stats[f] = fi
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
	if got := sentCert(t, cfg); !got.Equal(one.cert) {
		t.Fatalf("unchanged stat: sent %s, want ovnfwd-1 (files must not be re-read)", got.Subject)
	}
	for f, fi := range stats {
		later := fi.ModTime().Add(time.Second)
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if got := sentCert(t, cfg); !got.Equal(two.cert) {
		t.Fatalf("new mtime: sent %s, want ovnfwd-2", got.Subject)
	}
}

// TestTLSCAReload: the CA file is re-read at the next handshake of the same
// tls.Config; a CA file that no longer parses keeps the last good CA.
func TestTLSCAReload(t *testing.T) {
	ca1, ca2 := newTestCA(t, "ovn ca 1"), newTestCA(t, "ovn ca 2")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	replaceFile(t, caFile, ca1.pem)
	cfg, err := LoadTLSConfig(caFile, "", "")
	if err != nil {
		t.Fatal(err)
	}
	srv1, srv2 := [][]byte{ca1.issue(t, "nb", serverAuth...).cert.Raw}, [][]byte{ca2.issue(t, "nb", serverAuth...).cert.Raw}
	if err := cfg.VerifyPeerCertificate(srv1, nil); err != nil {
		t.Fatalf("CA 1 server with CA 1: %v", err)
	}
	if err := cfg.VerifyPeerCertificate(srv2, nil); err == nil {
		t.Fatal("CA 2 server accepted with CA 1")
	}
	replaceFile(t, caFile, ca2.pem)
	if err := cfg.VerifyPeerCertificate(srv2, nil); err != nil {
		t.Fatalf("CA 2 server after the CA file became CA 2: %v", err)
	}
	if err := cfg.VerifyPeerCertificate(srv1, nil); err == nil {
		t.Fatal("CA 1 server still accepted after the CA file became CA 2")
	}
	// A bundle of both, as during a rotation.
	replaceFile(t, caFile, append(append([]byte{}, ca1.pem...), ca2.pem...))
	for i, raw := range [][][]byte{srv1, srv2} {
		if err := cfg.VerifyPeerCertificate(raw, nil); err != nil {
			t.Fatalf("CA bundle, server %d: %v", i+1, err)
		}
	}
	// Truncated mid-write, then gone: the bundle stays in use.
	replaceFile(t, caFile, ca2.pem[:40])
	if err := cfg.VerifyPeerCertificate(srv1, nil); err != nil {
		t.Fatalf("CA file without a certificate: the last good CA was dropped: %v", err)
	}
	if err := os.Remove(caFile); err != nil {
		t.Fatal(err)
	}
	if err := cfg.VerifyPeerCertificate(srv2, nil); err != nil {
		t.Fatalf("CA file missing: the last good CA was dropped: %v", err)
	}
	replaceFile(t, caFile, ca1.pem)
	if err := cfg.VerifyPeerCertificate(srv2, nil); err == nil {
		t.Fatal("CA 2 server accepted after the CA file became CA 1 again")
	}
}

// TestTLSReloaderNeverGood: material that never loaded reports the failure,
// naming the file and what is wrong, until the file is fixed.
func TestTLSReloaderNeverGood(t *testing.T) {
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	replaceFile(t, caFile, []byte("not PEM\n"))
	r := caPool(newPEMSource(caFile, "read CA certificate"))
	if _, err := r.get(); err == nil || !strings.Contains(err.Error(), caFile) || !strings.Contains(err.Error(), "no PEM certificate found") {
		t.Fatalf("never loaded: %v", err)
	}
	if err := os.Remove(caFile); err != nil {
		t.Fatal(err)
	}
	if _, err := r.get(); err == nil || !strings.Contains(err.Error(), "read CA certificate") || !strings.Contains(err.Error(), caFile) {
		t.Fatalf("never loaded, file gone: %v", err)
	}
	ca := newTestCA(t, "ovn ca")
	replaceFile(t, caFile, ca.pem)
	pool, err := r.get()
	if err != nil {
		t.Fatalf("fixed file: %v", err)
	}
	if _, err := ca.issue(t, "nb", serverAuth...).cert.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
		t.Fatalf("the reloaded pool does not hold the CA: %v", err)
	}

	// The same for a client pair handed to a handshake.
	ca2 := newTestCA(t, "ovn ca")
	a, b := ca2.issue(t, "a", clientAuth...), ca2.issue(t, "b", clientAuth...)
	certFile, keyFile := filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key")
	replaceFile(t, certFile, a.certPEM)
	replaceFile(t, keyFile, b.keyPEM)
	p := clientPair(newPEMSource(certFile, "load client certificate"), newPEMSource(keyFile, "load client key"))
	if _, err := p.get(); err == nil || !strings.Contains(err.Error(), certFile) || !strings.Contains(err.Error(), keyFile) {
		t.Fatalf("mismatched pair: %v", err)
	}
	replaceFile(t, keyFile, a.keyPEM)
	c, err := p.get()
	if err != nil || !bytes.Equal(c.Certificate[0], a.cert.Raw) {
		t.Fatalf("fixed pair: %v", err)
	}
}

// PEM text (LXD's network.ovn.*) is static: nothing is stat'ed or re-read.
func TestTLSPEMTextStatic(t *testing.T) {
	ca := newTestCA(t, "ovn ca")
	l := ca.issue(t, "ovnfwd", clientAuth...)
	r := clientPair(newPEMSource(string(l.certPEM), "load client certificate"), newPEMSource(string(l.keyPEM), "load client key"))
	if !r.static() || r.changed() {
		t.Fatal("PEM text is not static")
	}
	mixed := clientPair(newPEMSource(string(l.certPEM), "load client certificate"), newPEMSource(filepath.Join(t.TempDir(), "k"), "load client key"))
	if mixed.static() {
		t.Fatal("a pair with a key file is static")
	}
	if err := mixed.lastErr(); err == nil || !strings.Contains(err.Error(), "load client key") {
		t.Fatalf("missing key file: %v", err)
	}
}
