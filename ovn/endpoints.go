package ovn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
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
// the host name; it must be a certificate for a TLS server (extended key
// usage serverAuth, or none at all, as ovs-pki may issue), so that a
// chassis's client certificate from the same CA cannot pose as the server.
//
// Each argument is a file, or the PEM text itself (LXD keeps
// network.ovn.ca_cert, client_cert and client_key as text). Files are read
// here, where any error is returned, and then re-read at a handshake after
// they changed (a stat per handshake: mtime, size or a renamed-over file), so
// rotated certificates take effect at the next connection without a restart.
// A re-read that fails (say the new certificate is in place but not yet its
// key) keeps the last good material until the files change again. PEM text
// never changes.
func LoadTLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, errors.New("ssl endpoint needs a CA certificate")
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("client certificate and key must be given together")
	}
	caSrc := newPEMSource(caFile, "read CA certificate")
	ca := caPool(caSrc)
	if err := ca.lastErr(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Chain verification happens in VerifyPeerCertificate, without the
		// host name check that OVN certificates cannot pass.
		InsecureSkipVerify: true, //nolint:gosec // verified below against the CA
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			pool, err := ca.get()
			if err != nil {
				return err
			}
			return verifyChain(pool, caSrc.name(), rawCerts)
		},
	}
	if certFile != "" {
		pair := clientPair(newPEMSource(certFile, "load client certificate"), newPEMSource(keyFile, "load client key"))
		cert, err := pair.get()
		if err != nil {
			return nil, err
		}
		if pair.static() {
			cfg.Certificates = []tls.Certificate{*cert}
		} else {
			cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
				cert, err := pair.get()
				if err != nil {
					return nil, err
				}
				// As crypto/tls does with Certificates: send no certificate
				// rather than one the server said it will not accept.
				if cri.SupportsCertificate(cert) != nil {
					return new(tls.Certificate), nil
				}
				return cert, nil
			}
		}
	}
	return cfg, nil
}

// verifyChain verifies the server's certificate chain against roots (the CA
// in caName) for TLS server use, without a host name.
func verifyChain(roots *x509.CertPool, caName string, rawCerts [][]byte) error {
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
	leaf := certs[0]
	// A certificate without the extended key usage extension is good for
	// any use (RFC 5280 4.2.1.12; crypto/x509 agrees).
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err == nil {
		return nil
	}
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.IncompatibleUsage && !serverUsable(leaf) {
		return fmt.Errorf("verify server certificate %q (issuer %q): not a server certificate: its extended key usage is %s, without serverAuth",
			leaf.Subject, leaf.Issuer, ekuNames(leaf))
	}
	return fmt.Errorf("verify server certificate %q (issuer %q) against CA %s: %w", leaf.Subject, leaf.Issuer, caName, err)
}

// serverUsable reports whether the certificate's own extended key usage
// allows TLS server authentication.
func serverUsable(c *x509.Certificate) bool {
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return true
	}
	return slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny)
}

var ekuName = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageAny:             "any",
	x509.ExtKeyUsageServerAuth:      "serverAuth",
	x509.ExtKeyUsageClientAuth:      "clientAuth",
	x509.ExtKeyUsageCodeSigning:     "codeSigning",
	x509.ExtKeyUsageEmailProtection: "emailProtection",
	x509.ExtKeyUsageIPSECEndSystem:  "ipsecEndSystem",
	x509.ExtKeyUsageIPSECTunnel:     "ipsecTunnel",
	x509.ExtKeyUsageIPSECUser:       "ipsecUser",
	x509.ExtKeyUsageTimeStamping:    "timeStamping",
	x509.ExtKeyUsageOCSPSigning:     "OCSPSigning",
}

// ekuNames lists the certificate's extended key usages: "clientAuth".
func ekuNames(c *x509.Certificate) string {
	var names []string
	for _, u := range c.ExtKeyUsage {
		if n, ok := ekuName[u]; ok {
			names = append(names, n)
		} else {
			names = append(names, fmt.Sprintf("usage %d", u))
		}
	}
	for _, oid := range c.UnknownExtKeyUsage {
		names = append(names, oid.String())
	}
	return strings.Join(names, ", ")
}
