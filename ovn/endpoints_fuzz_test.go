package ovn

import (
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// FuzzParseEndpoints: ParseEndpoints never panics; what it accepts has one
// endpoint per comma-separated part, each unix:ABSOLUTE-CLEAN-PATH or
// tcp|ssl:HOST:PORT with a canonical IP (bracketed IPv6) or a valid host
// name, no whitespace or control character in the host, a canonical port
// 1-65535, usable as the URL the client dials; and its output parses to
// itself (idempotent).
func FuzzParseEndpoints(f *testing.F) {
	f.Add("ssl:10.0.0.1:6641,tcp:[::1]:6641,unix:/run/ovn/ovnnb_db.sock")
	f.Fuzz(func(t *testing.T, s string) {
		out, err := ParseEndpoints(s)
		if err != nil {
			if out != nil {
				t.Fatalf("%q: error %v with %q", s, err, out)
			}
			return
		}
		if len(out) != strings.Count(s, ",")+1 {
			t.Fatalf("%q: %d endpoints %q", s, len(out), out)
		}
		for _, ep := range out {
			checkEndpoint(t, s, ep)
		}
		again, err := ParseEndpoints(strings.Join(out, ","))
		if err != nil || !slices.Equal(again, out) {
			t.Fatalf("%q → %q → %q, %v", s, out, again, err)
		}
	})
}

func checkEndpoint(t *testing.T, in, ep string) {
	t.Helper()
	scheme, rest, _ := strings.Cut(ep, ":")
	switch scheme {
	case "unix":
		if !filepath.IsAbs(rest) || filepath.Clean(rest) != rest {
			t.Fatalf("%q: unix path %q", in, rest)
		}
		if u, err := url.Parse(ep); err != nil || u.Path != rest {
			t.Fatalf("%q: %q does not parse back to its path: %v", in, ep, err)
		}
	case "tcp", "ssl":
		host, port, err := net.SplitHostPort(rest)
		if err != nil || host == "" {
			t.Fatalf("%q: %q: %v", in, ep, err)
		}
		if strings.ContainsFunc(host, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			t.Fatalf("%q: host %q has whitespace", in, host)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			t.Fatalf("%q: port %q", in, port)
		}
		if ip := net.ParseIP(host); ip != nil {
			if ip.String() != host {
				t.Fatalf("%q: IP %q not canonical", in, host)
			}
		} else if !validHostname(host) {
			t.Fatalf("%q: host %q", in, host)
		}
		if u, err := url.Parse(ep); err != nil || u.Scheme != scheme || u.Opaque != rest {
			t.Fatalf("%q: %q is not the URL the client dials: %v", in, ep, err)
		}
	default:
		t.Fatalf("%q: endpoint %q", in, ep)
	}
}
