package ovn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ParseEndpoints parses a comma-separated OVSDB connection string such as
// "ssl:10.0.0.1:6641,ssl:10.0.0.2:6641" or "unix:/run/ovn/ovnnb_db.sock".
// Accepted forms: unix:PATH, tcp:HOST:PORT and ssl:HOST:PORT, where HOST is an
// IPv4 address, a bracketed IPv6 address (tcp:[::1]:6641) or a DNS name.
// The port is required (OVN's NB and SB ports differ). Relative unix paths
// are made absolute. The result is in the form the client expects.
func ParseEndpoints(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("no OVSDB endpoints given")
	}
	parts := strings.Split(s, ",")
	out := make([]string, 0, len(parts))
	for i, p := range parts {
		ep, err := parseEndpoint(p)
		if err != nil {
			return nil, fmt.Errorf("endpoint %d of %d: %w", i+1, len(parts), err)
		}
		out = append(out, ep)
	}
	return out, nil
}

// parseEndpoint validates and normalizes one endpoint.
func parseEndpoint(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", errors.New("empty endpoint")
	}
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return "", fmt.Errorf("invalid OVSDB endpoint %q: want unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT", s)
	}
	switch scheme {
	case "unix":
		return parseUnix(s, rest)
	case "tcp", "ssl":
		hostport, err := parseHostPort(s, rest)
		if err != nil {
			return "", err
		}
		ep := scheme + ":" + hostport
		// The client hands the endpoint to url.Parse and dials u.Opaque.
		if u, err := url.Parse(ep); err != nil || u.Scheme != scheme || u.Opaque != hostport {
			return "", fmt.Errorf("invalid OVSDB endpoint %q: cannot be used as a URL", s)
		}
		return ep, nil
	case "ptcp", "pssl", "punix":
		return "", fmt.Errorf("invalid OVSDB endpoint %q: passive (listening) endpoints are not supported", s)
	default:
		return "", fmt.Errorf("invalid OVSDB endpoint %q: unknown scheme %q (want unix, tcp or ssl)", s, scheme)
	}
}

func parseUnix(s, path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("invalid OVSDB endpoint %q: empty socket path", s)
	}
	if strings.ContainsAny(path, "?#%") {
		return "", fmt.Errorf("invalid OVSDB endpoint %q: socket path must not contain '?', '#' or '%%'", s)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("invalid OVSDB endpoint %q: %w", s, err)
	}
	if strings.TrimSpace(abs) != abs {
		// "unix:x/. /" cleans to ".../. ": an endpoint ending in a space,
		// which the next parse would trim to another path.
		return "", fmt.Errorf("invalid OVSDB endpoint %q: socket path %q ends in whitespace", s, abs)
	}
	ep := "unix:" + abs
	// libovsdb silently replaces a unix endpoint whose URL has no path with
	// its default socket; make sure ours parses to exactly this path.
	if u, err := url.Parse(ep); err != nil || u.Scheme != "unix" || u.Path != abs {
		return "", fmt.Errorf("invalid OVSDB endpoint %q: socket path cannot be used as a URL", s)
	}
	return ep, nil
}

func parseHostPort(s, rest string) (string, error) {
	if rest == "" {
		return "", fmt.Errorf("invalid OVSDB endpoint %q: missing host and port", s)
	}
	if !strings.HasPrefix(rest, "[") && strings.Count(rest, ":") > 1 {
		return "", fmt.Errorf("invalid OVSDB endpoint %q: put an IPv6 address in brackets, e.g. tcp:[::1]:6641", s)
	}
	if !strings.Contains(rest, ":") || strings.HasSuffix(rest, "]") {
		return "", fmt.Errorf("invalid OVSDB endpoint %q: missing port (e.g. :6641 for NB, :6642 for SB)", s)
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		return "", fmt.Errorf("invalid OVSDB endpoint %q: %w", s, err)
	}
	if host == "" {
		return "", fmt.Errorf("invalid OVSDB endpoint %q: empty host", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
		return "", fmt.Errorf("invalid OVSDB endpoint %q: bad port %q", s, port)
	}
	if strings.HasPrefix(rest, "[") {
		ip := net.ParseIP(host)
		if ip == nil || ip.To4() != nil && !strings.Contains(host, ":") {
			return "", fmt.Errorf("invalid OVSDB endpoint %q: %q is not an IPv6 address", s, host)
		}
		return net.JoinHostPort(ip.String(), port), nil
	}
	if ip := net.ParseIP(host); ip != nil {
		return net.JoinHostPort(ip.String(), port), nil
	}
	if !validHostname(host) {
		return "", fmt.Errorf("invalid OVSDB endpoint %q: %q is neither an IP address nor a host name", s, host)
	}
	return net.JoinHostPort(host, port), nil
}

func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// LoadTLSConfig builds the client TLS configuration for ssl: endpoints from
// PEM files: the CA that signed the server certificates and the client
// certificate and key. OVN's PKI (ovs-pki, LXD, MicroOVN) issues server
// certificates without the server's address in them, so, like ovn-nbctl and
// LXD, the server certificate is verified against the CA only, not against
// the host name.
func LoadTLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	// Each argument is a file, or the PEM text itself (LXD keeps
	// network.ovn.ca_cert, client_cert and client_key as text).
	if caFile == "" {
		return nil, errors.New("ssl endpoint needs a CA certificate")
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("client certificate and key must be given together")
	}
	caPEM, err := pemOrFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("read CA certificate %s: no PEM certificate found", caFile)
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Chain verification happens in VerifyPeerCertificate, without the
		// host name check that OVN certificates cannot pass.
		InsecureSkipVerify: true, //nolint:gosec // verified below against the CA
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			return verifyChain(pool, rawCerts)
		},
	}
	if certFile != "" {
		certPEM, err := pemOrFile(certFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		keyPEM, err := pemOrFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("load client key: %w", err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func verifyChain(roots *x509.CertPool, rawCerts [][]byte) error {
	if len(rawCerts) == 0 {
		return errors.New("server sent no certificate")
	}
	certs := make([]*x509.Certificate, len(rawCerts))
	for i, raw := range rawCerts {
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return fmt.Errorf("parse server certificate: %w", err)
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return fmt.Errorf("verify server certificate: %w", err)
	}
	return nil
}

// pemOrFile returns s itself when it is PEM text, else the file s names.
func pemOrFile(s string) ([]byte, error) {
	if strings.HasPrefix(strings.TrimSpace(s), "-----BEGIN") {
		return []byte(s), nil
	}
	return os.ReadFile(s)
}
