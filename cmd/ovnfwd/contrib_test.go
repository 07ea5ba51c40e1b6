package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// contrib/ovnfwd.1 is `ovnfwd man`'s output (go test -run TestManPage -update).
func TestManPageUpToDate(t *testing.T) {
	page, err := manPage()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "contrib", "ovnfwd.1")
	if *update {
		if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(have) != page {
		t.Errorf("%s is not the man page of these commands: run go test ./cmd/ovnfwd -run TestManPage -update", path)
	}
	for _, want := range []string{"check", "repair", "status", "explain", "--writer-election", "--arp-responder"} {
		if !strings.Contains(page, want) {
			t.Errorf("man page lacks %q", want)
		}
	}
}

// contrib/ovnfwd.service passes systemd-analyze verify (with the binary
// where the unit expects it and the man page installed).
func TestSystemdUnitVerifies(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("OVNFWD_REQUIRE_TOOLS") != "" {
			t.Fatal("systemd-analyze not found")
		}
		t.Log("systemd-analyze not found: unit not verified")
		return
	}
	unit, err := os.ReadFile(filepath.Join("..", "..", "contrib", "ovnfwd.service"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	self, _ := os.Executable()
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/ovnfwd", self)
	if err := os.WriteFile(filepath.Join(dir, "ovnfwd.service"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	page, _ := manPage()
	if err := os.MkdirAll(filepath.Join(dir, "man", "man8"), 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "man", "man8", "ovnfwd.8"), []byte(page), 0o644)
	cmd := exec.Command(tool, "verify", filepath.Join(dir, "ovnfwd.service"))
	cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(dir, "man"))
	out, err := cmd.CombinedOutput()
	var ours []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "ovnfwd.service") {
			ours = append(ours, l)
		}
	}
	if err != nil || len(ours) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, strings.Join(ours, "\n"))
	}
}
