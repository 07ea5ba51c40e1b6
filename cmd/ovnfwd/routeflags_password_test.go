package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func ch1(context.Context) (string, error) { return "ch1", nil }

var peerBase = []string{"--bgp-asn", "65101", "--bgp-router-id", "192.0.2.1"}

// A --bgp-peer value is one peer: a password keeps its spaces, commas and
// semicolons.
func TestPeerFlagPasswordKeptWhole(t *testing.T) {
	t.Setenv(envBGPPeers, "")
	const pw = "pass word; with,commas\tand tabs"
	rc, on, _, err := parseFlags(t, ch1, append(peerBase, "--bgp-peer", "10.0.0.1,65000,"+pw, "--bgp-peer", "10.0.0.2,65001")...)
	if err != nil || !on {
		t.Fatalf("on=%v err=%v", on, err)
	}
	ps := rc.Speaker.Peers
	if len(ps) != 2 || ps[0].Password != pw || ps[0].ASN != 65000 || ps[1].Password != "" || ps[1].ASN != 65001 {
		t.Fatalf("peers %+v", ps)
	}
}

// $OVNFWD_BGP_PEERS is split on ";" and newlines only; flags replace it.
func TestEnvPeersSplitOnSemicolonAndNewline(t *testing.T) {
	t.Setenv(envBGPPeers, "10.0.0.1,65000,pa ss\n 10.0.0.2:1179,65001,x y z ;[2001:db8::1]:179,65002\r\n;;")
	rc, on, _, err := parseFlags(t, ch1, peerBase...)
	if err != nil || !on {
		t.Fatalf("on=%v err=%v", on, err)
	}
	ps := rc.Speaker.Peers
	if len(ps) != 3 || ps[0].Password != "pa ss" || ps[1].Password != "x y z" || ps[1].Port != 1179 || ps[2].ASN != 65002 || ps[2].Password != "" {
		t.Fatalf("peers %+v", ps)
	}
	rc, _, _, err = parseFlags(t, ch1, append(peerBase, "--bgp-peer", "10.0.0.9,65009")...)
	if err != nil || len(rc.Speaker.Peers) != 1 || rc.Speaker.Peers[0].ASN != 65009 {
		t.Fatalf("flag over env: %+v %v", rc.Speaker.Peers, err)
	}
}

// No error shows a password or a piece of one, from a flag or from the
// environment; they show *** instead.
func TestPeerPasswordNeverPrinted(t *testing.T) {
	const pw = "hunter2 s3cr3t;x"
	for _, spec := range []string{
		"10.0.0.1,notanasn," + pw,
		"10.0.0.1,0," + pw,
		"nohost,65000," + pw,
		"10.0.0.1:0,65000," + pw,
		"[fe80::1%eth0],65000," + pw,
	} {
		t.Run(spec, func(t *testing.T) {
			t.Setenv(envBGPPeers, "")
			_, _, _, err := parseFlags(t, ch1, append(peerBase, "--bgp-peer", spec)...)
			checkRedacted(t, err, pw)
			// The same spec in the environment, where ";" splits it: no
			// fragment may show either.
			t.Setenv(envBGPPeers, spec)
			_, _, _, err = parseFlags(t, ch1, peerBase...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, frag := range []string{"hunter2", "s3cr3t"} {
				if strings.Contains(err.Error(), frag) {
					t.Errorf("error shows %q: %v", frag, err)
				}
			}
		})
	}
	// Before: $OVNFWD_BGP_PEERS="10.0.0.1,65000,top secret" made a peer
	// "secret" whose "no ASN" error printed it.
	t.Setenv(envBGPPeers, "10.0.0.1,65000,top secret")
	rc, _, _, err := parseFlags(t, ch1, peerBase...)
	if err != nil || len(rc.Speaker.Peers) != 1 || rc.Speaker.Peers[0].Password != "top secret" {
		t.Fatalf("peers %+v err %v", rc.Speaker.Peers, err)
	}
	l := peerList{"10.0.0.1,65000," + pw, "10.0.0.2,65001,@/etc/pw"}
	if s := l.String(); strings.Contains(s, "hunter2") || !strings.Contains(s, "10.0.0.1,65000,***") || !strings.Contains(s, "@/etc/pw") {
		t.Errorf("peerList.String() = %q", s)
	}
}

func checkRedacted(t *testing.T, err error, pw string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the password: %v", err)
	}
	if !strings.Contains(err.Error(), "***") {
		t.Errorf("error does not show *** for the password: %v", err)
	}
}

// @FILE passwords: the file's content (spaces kept, trailing line end
// dropped); errors name the file, never its content; a huge file is refused.
func TestPeerPasswordFile(t *testing.T) {
	t.Setenv(envBGPPeers, "")
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(" a pass;word, \r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rc, _, _, err := parseFlags(t, ch1, append(peerBase, "--bgp-peer", "10.0.0.1,65000,@"+pwFile)...)
	if err != nil || rc.Speaker.Peers[0].Password != " a pass;word, " {
		t.Fatalf("peers %+v err %v", rc.Speaker.Peers, err)
	}
	// In the environment too.
	t.Setenv(envBGPPeers, "10.0.0.1,65000,@"+pwFile+";10.0.0.2,65001,plain")
	rc, _, _, err = parseFlags(t, ch1, peerBase...)
	if err != nil || len(rc.Speaker.Peers) != 2 || rc.Speaker.Peers[0].Password != " a pass;word, " || rc.Speaker.Peers[1].Password != "plain" {
		t.Fatalf("env peers %+v err %v", rc.Speaker.Peers, err)
	}
	t.Setenv(envBGPPeers, "")

	missing := filepath.Join(dir, "missing")
	_, _, _, err = parseFlags(t, ch1, append(peerBase, "--bgp-peer", "10.0.0.1,65000,@"+missing)...)
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "password file") {
		t.Errorf("missing file: %v", err)
	}

	big := filepath.Join(dir, "big")
	content := strings.Repeat("secretsecret", maxPasswordFile)
	if err := os.WriteFile(big, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, _, err = parseFlags(t, ch1, append(peerBase, "--bgp-peer", "10.0.0.1,65000,@"+big)...)
	if err == nil || !strings.Contains(err.Error(), "longer than") || strings.Contains(err.Error(), "secretsecret") {
		t.Errorf("big file: %v", err)
	}
	// A bad ASN with a @FILE password: the file name may show, its content not.
	_, _, _, err = parseFlags(t, ch1, append(peerBase, "--bgp-peer", "10.0.0.1,x,@"+pwFile)...)
	if err == nil || strings.Contains(err.Error(), "pass;word") {
		t.Errorf("bad ASN with @FILE: %v", err)
	}
}
