package ovn

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
	if _, err := LoadTLSConfig(filepath.Join(t.TempDir(), "missing.pem"), "", ""); err == nil {
		t.Error("missing CA file accepted")
	}
}
