package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovnfwd/ovnfwd/engine"
)

// The printed bash script, sourced in a real bash, completes subcommands
// and flags by asking the binary (built here) itself.
func TestCompletionScriptCompletes(t *testing.T) {
	bashPath, err := exec.LookPath("bash")
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("OVNFWD_REQUIRE_TOOLS") != "" {
			t.Fatal("no bash (CI must run this test)")
		}
		t.Skip("no bash")
	}
	bin := filepath.Join(t.TempDir(), "ovnfwd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var script bytes.Buffer
	app := newApp()
	app.Writer = &script
	if err := app.Run([]string{"ovnfwd", "completion", "bash"}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "completion.bash")
	if err := os.WriteFile(file, script.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	complete := func(words ...string) []string {
		cmd := exec.Command(bashPath, "-c", `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($#-1)); _ovnfwd_complete; echo "${COMPREPLY[@]}"`, "x", file, bin)
		cmd.Args = append(cmd.Args, words...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("bash: %v", err)
		}
		return strings.Fields(string(out))
	}
	if got := complete("re"); strings.Join(got, " ") != "repair" {
		t.Errorf("ovnfwd re<TAB> = %v, want [repair]", got)
	}
	if got := complete("check", "--de"); strings.Join(got, " ") != "--deletion-budget --deep" {
		t.Errorf("ovnfwd check --de<TAB> = %v", got)
	}
	out, err := exec.Command(bin, "completion", "fish").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != engine.ExitError || !strings.Contains(string(out), "want bash or zsh") {
		t.Errorf("completion fish: %v %s", err, out)
	}
}
