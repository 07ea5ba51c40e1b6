package main

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/ovnfwd/ovnfwd/bgp"
)

// renderPeer writes p back as a --bgp-peer value.
func renderPeer(p bgp.Peer) string {
	s := p.Address.String()
	if p.Port != 0 {
		s = netip.AddrPortFrom(p.Address, p.Port).String()
	}
	s += "," + strconv.FormatUint(uint64(p.ASN), 10)
	if p.Password != "" {
		s += "," + p.Password
	}
	return s
}

// FuzzParsePeer: parsePeer never panics; its error never depends on the
// password (the same spec with another password fails with the very same
// message, so no part of the password can be in it); an accepted peer has a
// canonical address, a non-zero ASN and port (when given), and re-renders
// to a spec that parses back to the same peer.
func FuzzParsePeer(f *testing.F) {
	f.Add("10.0.0.1:1179,65000,s3cret")
	f.Fuzz(func(t *testing.T, spec string) {
		orig := strings.SplitN(spec, ",", 3)
		if len(orig) == 3 && strings.HasPrefix(orig[2], "@") {
			// @FILE reads a file: TestPeerPasswordFile covers it, the
			// fuzzer must not open arbitrary paths.
			orig[2] = "x" + orig[2]
			spec = strings.Join(orig, ",")
		}
		p, err := parsePeer(spec)
		if len(orig) == 3 {
			alt := orig[0] + "," + orig[1] + ",Z"
			q, altErr := parsePeer(alt)
			switch {
			case (err == nil) != (altErr == nil):
				t.Fatalf("the password decides whether %q parses: %v vs %v", spec, err, altErr)
			case err != nil && err.Error() != altErr.Error():
				t.Fatalf("the error depends on the password:\n%v\n%v", err, altErr)
			case err == nil && (p.Address != q.Address || p.Port != q.Port || p.ASN != q.ASN):
				t.Fatalf("the password changes the peer: %+v vs %+v", p, q)
			}
			// (No substring test: the equal errors say it all, and a
			// password like `00"` is in %q's quoting of a host "\xc00".)
		}
		if err != nil {
			return
		}
		if !p.Address.IsValid() || p.Address.Is4In6() || p.ASN == 0 {
			t.Fatalf("%q: accepted %+v", spec, p)
		}
		if p.Password != strings.TrimRight(p.Password, " \t\r\n\v\f") {
			t.Fatalf("%q: password %q keeps trailing space", spec, p.Password)
		}
		r := renderPeer(p)
		p2, err := parsePeer(r)
		if err != nil || p2 != p {
			t.Fatalf("%q → %+v → %q → %+v, %v", spec, p, r, p2, err)
		}
	})
}

// FuzzSplitEnvPeers: $OVNFWD_BGP_PEERS entries hold no separator and are
// never blank; splitting is idempotent; a spec without separators is
// kept whole, whatever spaces it holds.
func FuzzSplitEnvPeers(f *testing.F) {
	f.Add("10.0.0.1,65000,pass word;10.0.0.2,65001\n")
	f.Fuzz(func(t *testing.T, v string) {
		out := splitEnvPeers(v)
		for _, s := range out {
			if strings.ContainsAny(s, ";\r\n") || strings.TrimSpace(s) == "" {
				t.Fatalf("%q: entry %q", v, s)
			}
		}
		again := splitEnvPeers(strings.Join(out, ";"))
		if strings.Join(again, "\x00") != strings.Join(out, "\x00") {
			t.Fatalf("%q: %q re-split to %q", v, out, again)
		}
		if !strings.ContainsAny(v, ";\r\n") && strings.TrimSpace(v) != "" && (len(out) != 1 || out[0] != v) {
			t.Fatalf("%q split into %q", v, out)
		}
	})
}
