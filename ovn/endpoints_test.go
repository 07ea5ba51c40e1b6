package ovn

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func TestParseEndpoints(t *testing.T) {
	wd, _ := os.Getwd()
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "unix:/run/ovn/ovnnb_db.sock", want: []string{"unix:/run/ovn/ovnnb_db.sock"}},
		{in: "unix:nb.sock", want: []string{"unix:" + filepath.Join(wd, "nb.sock")}},
		{in: "tcp:10.0.0.1:6641", want: []string{"tcp:10.0.0.1:6641"}},
		{in: " ssl:10.0.0.1:6641 , ssl:10.0.0.2:6641,ssl:10.0.0.3:6641",
			want: []string{"ssl:10.0.0.1:6641", "ssl:10.0.0.2:6641", "ssl:10.0.0.3:6641"}},
		{in: "tcp:[::1]:6641", want: []string{"tcp:[::1]:6641"}},
		{in: "ssl:[2001:DB8::0:1]:6642", want: []string{"ssl:[2001:db8::1]:6642"}},
		{in: "tcp:ovn-central.example.:6641", want: []string{"tcp:ovn-central.example.:6641"}},
		{in: "", wantErr: "no OVSDB endpoints"},
		{in: "tcp:10.0.0.1:6641,", wantErr: "endpoint 2 of 2: empty endpoint"},
		{in: "tcp:10.0.0.1", wantErr: `"tcp:10.0.0.1": missing port`},
		{in: "tcp:10.0.0.1:6641,ssl:10.0.0.2", wantErr: `endpoint 2 of 2: invalid OVSDB endpoint "ssl:10.0.0.2": missing port`},
		{in: "tcp:::1:6641", wantErr: "brackets"},
		{in: "tcp:[::1]", wantErr: "missing port"},
		{in: "tcp:[10.0.0.1]:6641", wantErr: "not an IPv6 address"},
		{in: "tcp:10.0.0.1:0", wantErr: `bad port "0"`},
		{in: "tcp:10.0.0.1:70000", wantErr: "bad port"},
		{in: "tcp:10.0.0.1:http", wantErr: "bad port"},
		{in: "tcp::6641", wantErr: "empty host"},
		{in: "tcp:bad_host:6641", wantErr: "neither an IP address nor a host name"},
		{in: "udp:10.0.0.1:6641", wantErr: `unknown scheme "udp"`},
		{in: "ptcp:6641", wantErr: "passive"},
		{in: "10.0.0.1:6641", wantErr: `unknown scheme "10.0.0.1"`},
		{in: "/run/ovn/ovnnb_db.sock", wantErr: "want unix:PATH"},
		{in: "unix:", wantErr: "empty socket path"},
		{in: "unix:/tmp/a#b", wantErr: "must not contain"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseEndpoints(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadTLSConfigErrors(t *testing.T) {
	if _, err := LoadTLSConfig("", "", ""); err == nil || !strings.Contains(err.Error(), "CA") {
		t.Errorf("no CA: %v", err)
	}
	if _, err := LoadTLSConfig("ca.pem", "cert.pem", ""); err == nil || !strings.Contains(err.Error(), "together") {
		t.Errorf("cert without key: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	if _, err := LoadTLSConfig(missing, "", ""); err == nil || !strings.Contains(err.Error(), "read CA certificate") ||
		!strings.Contains(err.Error(), missing) {
		t.Errorf("missing CA file: %v", err)
	}

	// Errors name the file and what is wrong with it, never the PEM text.
	ca, cert, key := testPEMs(t)
	_, _, otherKey := testPEMs(t)
	dir := t.TempDir()
	p := func(name, content string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	caF, certF, keyF, otherKeyF, junkF := p("ca.pem", ca), p("cert.pem", cert), p("key.pem", key), p("other.key", otherKey), p("junk.pem", "not PEM\n")
	if _, err := LoadTLSConfig(junkF, "", ""); err == nil || !strings.Contains(err.Error(), junkF) ||
		!strings.Contains(err.Error(), "no PEM certificate found") {
		t.Errorf("CA file without a certificate: %v", err)
	}
	if _, err := LoadTLSConfig("-----BEGIN CERTIFICATE-----\nbogus\n-----END CERTIFICATE-----\n", "", ""); err == nil ||
		!strings.Contains(err.Error(), "(PEM text)") || strings.Contains(err.Error(), "bogus") {
		t.Errorf("bad CA PEM text: %v", err)
	}
	if _, err := LoadTLSConfig(caF, certF, otherKeyF); err == nil || !strings.Contains(err.Error(), certF) ||
		!strings.Contains(err.Error(), otherKeyF) || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("certificate with another key: %v", err)
	}
	if _, err := LoadTLSConfig(caF, certF, filepath.Join(dir, "nokey.pem")); err == nil ||
		!strings.Contains(err.Error(), "load client key") || !strings.Contains(err.Error(), "nokey.pem") {
		t.Errorf("missing key file: %v", err)
	}
	if _, err := LoadTLSConfig(caF, filepath.Join(dir, "nocert.pem"), keyF); err == nil ||
		!strings.Contains(err.Error(), "load client certificate") || !strings.Contains(err.Error(), "nocert.pem") {
		t.Errorf("missing certificate file: %v", err)
	}
}

// testPEMs makes a CA and a client certificate and key, as PEM text.
func testPEMs(t *testing.T) (ca, cert, key string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ovn ca"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "ovnfwd"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caTmpl, &k.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kDER, _ := x509.MarshalECPrivateKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kDER}))
}

// certRequest is a TLS 1.3 server's request for a client certificate, from
// any CA.
func certRequest() *tls.CertificateRequestInfo {
	return &tls.CertificateRequestInfo{Version: tls.VersionTLS13,
		SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256, tls.PSSWithSHA256}}
}

// The certificates may be given as files or as PEM text (what LXD keeps in
// network.ovn.ca_cert, client_cert and client_key). PEM text is static
// (Certificates); files are served through GetClientCertificate, which
// re-reads them when they change (tls_test.go).
func TestLoadTLSConfigPEMTextOrFiles(t *testing.T) {
	ca, cert, key := testPEMs(t)
	fromText, err := LoadTLSConfig(ca, cert, key)
	if err != nil || len(fromText.Certificates) != 1 || fromText.GetClientCertificate != nil {
		t.Fatalf("PEM text: %v, %d static certificates, GetClientCertificate set: %v",
			err, len(fromText.Certificates), fromText.GetClientCertificate != nil)
	}
	dir := t.TempDir()
	files := map[string]string{"ca.pem": ca, "cert.pem": cert, "key.pem": key}
	for n, v := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fromFiles, err := LoadTLSConfig(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil || fromFiles.GetClientCertificate == nil || len(fromFiles.Certificates) != 0 {
		t.Fatalf("files: %v (want GetClientCertificate and no static certificates)", err)
	}
	got, err := fromFiles.GetClientCertificate(certRequest())
	if err != nil || len(got.Certificate) != 1 {
		t.Fatalf("files: GetClientCertificate: %v", err)
	}
	if !bytes.Equal(fromText.Certificates[0].Certificate[0], got.Certificate[0]) {
		t.Error("text and files load different certificates")
	}
	if _, err := LoadTLSConfig(ca, cert, "-----BEGIN EC PRIVATE KEY-----\nbogus\n-----END EC PRIVATE KEY-----\n"); err == nil {
		t.Error("a bad key in PEM text was accepted")
	}
}
