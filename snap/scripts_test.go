package snap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// fakeSnapctl stands in for snapctl: it runs this test binary as the fake
// (fakeSnapctlMain), which reads the settings from $FAKE_SNAPCTL_DIR/KEY
// files.
const fakeSnapctl = `#!/bin/sh
BE_FAKE_SNAPCTL=1 exec "$FAKE_SNAPCTL_EXE" "$@"
`

// realOvnfwd is the ovnfwd binary built for the hooks and the wrapper,
// which ask it for the settings (ovnfwd snap-settings).
var realOvnfwd string

func TestMain(m *testing.M) {
	if os.Getenv("BE_FAKE_SNAPCTL") == "1" {
		os.Exit(fakeSnapctlMain(os.Args[1:]))
	}
	dir, err := os.MkdirTemp("", "ovnfwd-snap-test")
	if err != nil {
		panic(err)
	}
	realOvnfwd = filepath.Join(dir, "ovnfwd")
	build := exec.Command("go", "build", "-o", realOvnfwd, "./cmd/ovnfwd")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building ovnfwd: %v\n%s", err, out)
		os.Exit(2)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// fakeSnapctlMain is snapctl for the scripts under test: every call is
// appended to $FAKE_SNAPCTL_DIR/.calls; FAKE_SNAPCTL_FAIL=1 fails every call
// (an unprivileged user). `get KEY` prints the content of the file KEY
// (nothing when absent); `get -d KEY...` or several keys print a JSON
// document of the keys set, each as a string, or as raw JSON when the file
// starts with "json:" (snapd keeps numbers and booleans typed). `services`
// reports $FAKE_SNAPCTL_STATE; `restart` is only logged.
func fakeSnapctlMain(args []string) int {
	dir := os.Getenv("FAKE_SNAPCTL_DIR")
	if f, err := os.OpenFile(filepath.Join(dir, ".calls"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
		fmt.Fprintln(f, strings.Join(args, " "))
		_ = f.Close()
	}
	if os.Getenv("FAKE_SNAPCTL_FAIL") == "1" {
		fmt.Fprintln(os.Stderr, "error: cannot use snapctl as this user")
		return 1
	}
	if len(args) == 0 {
		return 2
	}
	switch args[0] {
	case "get":
		keys, doc := args[1:], false
		if len(keys) > 0 && keys[0] == "-d" {
			keys, doc = keys[1:], true
		}
		if len(keys) == 0 {
			fmt.Fprintln(os.Stderr, "error: get which option?")
			return 1
		}
		values := map[string]json.RawMessage{}
		for _, k := range keys {
			data, err := os.ReadFile(filepath.Join(dir, k))
			if err != nil {
				continue
			}
			if raw, ok := strings.CutPrefix(string(data), "json:"); ok {
				values[k] = json.RawMessage(raw)
			} else {
				values[k], _ = json.Marshal(string(data))
			}
		}
		if !doc && len(keys) == 1 {
			if v, ok := values[keys[0]]; ok {
				var s string
				if json.Unmarshal(v, &s) == nil {
					fmt.Println(s)
				} else {
					fmt.Println(string(v))
				}
			} else {
				fmt.Println()
			}
			return 0
		}
		out, _ := json.MarshalIndent(values, "", "\t")
		fmt.Println(string(out))
	case "services":
		state := os.Getenv("FAKE_SNAPCTL_STATE")
		if state == "" {
			state = "inactive"
		}
		fmt.Printf("Service  Startup  Current  Notes\n%s  enabled  %s  -\n", args[1], state)
	case "restart":
	default:
		fmt.Fprintln(os.Stderr, "fake snapctl: unexpected:", strings.Join(args, " "))
		return 2
	}
	return 0
}

type sandbox struct {
	dir      string // holds bin/snapctl and the settings
	settings string
	snap     string // $SNAP
	snapData string // $SNAP_DATA
	env      []string
}

func newSandbox(t *testing.T, settings map[string]string) *sandbox {
	t.Helper()
	s := &sandbox{dir: t.TempDir()}
	s.settings = filepath.Join(s.dir, "settings")
	s.snap = filepath.Join(s.dir, "snap")
	s.snapData = filepath.Join(s.dir, "snap-data")
	for _, d := range []string{s.settings, filepath.Join(s.dir, "bin"), filepath.Join(s.snap, "bin"), s.snapData} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(s.dir, "bin", "snapctl"), fakeSnapctl, 0o755)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(realOvnfwd)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(s.snap, "bin", "ovnfwd"), string(data), 0o755)
	restart, err := os.ReadFile(filepath.Join("local", "ovnfwd-restart"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(s.snap, "bin", "ovnfwd-restart"), string(restart), 0o755)
	for k, v := range settings {
		writeFile(t, filepath.Join(s.settings, k), v, 0o644)
	}
	s.env = []string{
		"PATH=" + filepath.Join(s.dir, "bin") + ":/usr/local/bin:/usr/bin:/bin",
		"FAKE_SNAPCTL_DIR=" + s.settings,
		"FAKE_SNAPCTL_EXE=" + exe,
		"REAL_OVNFWD=" + realOvnfwd,
		"SNAP=" + s.snap,
		"SNAP_DATA=" + s.snapData,
		"SNAP_COMMON=" + filepath.Join(s.dir, "snap-common"),
		"SNAP_NAME=ovnfwd",
		"SNAP_INSTANCE_NAME=ovnfwd",
	}
	return s
}

func (s *sandbox) run(t *testing.T, extraEnv []string, script string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	abs, aerr := filepath.Abs(script)
	if aerr != nil {
		t.Fatal(aerr)
	}
	cmd := exec.Command(abs, args...)
	cmd.Dir = s.dir
	cmd.Env = append(append([]string{}, s.env...), extraEnv...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running %s: %v", script, err)
	}
	return o.String(), e.String(), err
}

func (s *sandbox) calls(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(s.settings, ".calls"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func writeFile(t *testing.T, name, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

const configureHook = "hooks/configure"

func TestConfigureAcceptsGoodSettings(t *testing.T) {
	certDir := t.TempDir()
	cert := filepath.Join(certDir, "cert.pem")
	key := filepath.Join(certDir, "key.pem")
	writeFile(t, cert, "cert", 0o644)
	writeFile(t, key, "key", 0o600)

	cases := []map[string]string{
		{}, // nothing set: all defaults
		{
			"lxd":             "/var/snap/lxd/common/lxd/unix.socket",
			"nb":              "ssl:10.0.0.1:6641,ssl:10.0.0.2:6641,ssl:[fd00::3]:6641",
			"sb":              "ssl:10.0.0.1:6642,ssl:10.0.0.2:6642,ssl:[fd00::3]:6642",
			"ovn-ca":          cert,
			"ovn-cert":        cert,
			"ovn-key":         key,
			"log-level":       "debug",
			"log-format":      "json",
			"metrics-address": "127.0.0.1:9478",
			"resync-interval": "5m",
		},
		{"lxd": "https://10.0.0.5:8443", "lxd-cert": cert, "lxd-key": key, "lxd-server-cert": cert},
		{"nb": "unix:/var/snap/microovn/common/run/ovn/ovnnb_db.sock", "sb": "tcp:192.0.2.1:6642"},
		{"nb": "tcp:[::1]:6641", "sb": "tcp:[::ffff:192.0.2.1]:6642"},
		{"nb": "tcp:[2001:db8:0:0:0:0:0:1]:6641"},
		{"metrics-address": ":9478", "resync-interval": "1h30m", "log-level": "info", "log-format": "console"},
		{"metrics-address": "[::1]:9478", "resync-interval": "90s", "log-level": "warn"},
		{"deletion-budget": "0", "dry-run": "false"},
		{"deletion-budget": "100", "dry-run": "true"},
		{"metrics-address": "localhost:9478", "resync-interval": "1500ms", "log-level": "error"},
		{"resync-interval": "1000000µs"},
		{"resync-interval": "0.5h"},
		// What the binary accepts, the hook accepts (one validator): host
		// names, no resync, no deletion limit.
		{"nb": "ssl:ovn-central.example.com:6641", "ovn-ca": cert, "ovn-cert": cert, "ovn-key": key},
		{"resync-interval": "0s", "deletion-budget": "-1"},
		// Every run option is a setting: BGP, route policy, HA, chassis.
		{"bgp-asn": "json:65001", "bgp-router-id": "10.0.0.2", "bgp-peer": "10.0.0.1,65000",
			"bgp-next-hop": "self", "bgp-hold-time": "9s", "bgp-keepalive": "3s", "bgp-community": "65001:100,no-export",
			"bgp-networks": "ovn0,default/ovn1", "arp-responder": "auto", "chassis": "ch1"},
		{"bgp-asn": "65001", "bgp-router-id": "10.0.0.2", "bgp-peer": `json:["10.0.0.1,65000", "[2001:db8::1]:179,65000"]`, "bgp-listen-port": "json:-1"},
		{"member-chassis": "m1=ch1,m2=ch2", "remove-unresponsive": "json:true", "ha-absent-grace": "10m", "no-ha": "false"},
		{"dry-run": "json:true", "deletion-budget": "json:25", "writer-lease": "5s", "announce-gateway": "json:false", "memory-limit": "256MiB"},
	}
	for _, settings := range cases {
		s := newSandbox(t, settings)
		_, stderr, err := s.run(t, nil, configureHook)
		if err != nil {
			t.Errorf("configure rejected %v: %v\n%s", settings, err, stderr)
		}
		if stderr != "" {
			t.Errorf("configure accepted %v but printed:\n%s", settings, stderr)
		}
	}
}

func TestConfigureRejectsBadSettings(t *testing.T) {
	certDir := t.TempDir()
	cert := filepath.Join(certDir, "cert.pem")
	writeFile(t, cert, "cert", 0o644)

	cases := []struct {
		settings map[string]string
		blame    string // the key the error message must name
	}{
		{map[string]string{"lxd": "lxd.socket"}, "lxd"},
		{map[string]string{"lxd": "http://10.0.0.5:8443"}, "lxd"},
		{map[string]string{"lxd": "https://10.0.0.5:8443"}, "lxd"}, // no client certificate
		{map[string]string{"lxd-cert": "cert.pem", "lxd-key": cert}, "lxd-cert"},
		{map[string]string{"lxd-cert": cert}, "lxd-cert"}, // no lxd-key
		{map[string]string{"lxd-server-cert": filepath.Join(certDir, "missing.pem")}, "lxd-server-cert"},
		{map[string]string{"nb": "10.0.0.1:6641"}, "nb"},
		{map[string]string{"nb": "tcp:10.0.0.1"}, "nb"},
		{map[string]string{"nb": "tcp:10.0.0.1:65536"}, "nb"},
		{map[string]string{"nb": "tcp:::1:6641"}, "nb"},
		{map[string]string{"nb": "http://10.0.0.1:6641"}, "nb"},
		{map[string]string{"ovn-cert": cert}, "ovn-cert"}, // no ovn-key
		{map[string]string{"ovn-ca": "relative/ca.pem"}, "ovn-ca"},
		{map[string]string{"log-level": "verbose"}, "log-level"},
		{map[string]string{"log-level": "DEBUG "}, "log-level"},
		{map[string]string{"log-format": "xml"}, "log-format"},
		{map[string]string{"log-format": "text"}, "log-format"}, // ovnfwd knows console and json
		{map[string]string{"deletion-budget": "lots"}, "deletion-budget"},
		{map[string]string{"deletion-budget": "json:2.5"}, "deletion-budget"},
		{map[string]string{"dry-run": "yes"}, "dry-run"},
		{map[string]string{"metrics-address": "9478"}, "metrics-address"},
		{map[string]string{"metrics-address": "127.0.0.1:99999"}, "metrics-address"},
		{map[string]string{"metrics-address": "::1:9478"}, "metrics-address"},
		{map[string]string{"resync-interval": "5"}, "resync-interval"},
		{map[string]string{"resync-interval": "-5m"}, "resync-interval"},
		{map[string]string{"resync-interval": "five minutes"}, "resync-interval"},
		{map[string]string{"resync-interval": "5m\n1h"}, "resync-interval"},
		// The options the old hook did not know.
		{map[string]string{"bgp-asn": "65001"}, "bgp-asn"}, // no peer
		{map[string]string{"bgp-asn": "json:-3"}, "bgp-asn"},
		{map[string]string{"bgp-peer": "10.0.0.1,65000"}, "bgp-peer"}, // no bgp-asn
		{map[string]string{"bgp-asn": "65001", "bgp-router-id": "10.0.0.2", "bgp-peer": "10.0.0.1"}, "bgp-peer"},
		{map[string]string{"bgp-asn": "65001", "bgp-peer": "10.0.0.1,65000"}, "bgp-router-id"},
		{map[string]string{"bgp-asn": "65001", "bgp-router-id": "10.0.0.2", "bgp-peer": "10.0.0.1,65000", "bgp-keepalive": "5s", "bgp-hold-time": "3s"}, "bgp-keepalive"},
		{map[string]string{"arp-responder": "sometimes"}, "arp-responder"},
		{map[string]string{"member-chassis": "m1"}, "member-chassis"},
		{map[string]string{"writer-lease": "1s"}, "writer-lease"},
		{map[string]string{"memory-limit": "lots"}, "memory-limit"},
		{map[string]string{"claim-debounce": "soon"}, "claim-debounce"},
		{map[string]string{"log-level": `json:{"a": 1}`}, "log-level"}, // a group, not a value
	}
	for _, c := range cases {
		s := newSandbox(t, c.settings)
		_, stderr, err := s.run(t, []string{"FAKE_SNAPCTL_STATE=active"}, configureHook)
		if err == nil {
			t.Errorf("configure accepted %q", c.settings)
			continue
		}
		if !strings.Contains(stderr, "snap setting "+c.blame+"=") && !strings.Contains(stderr, "snap settings: "+c.blame) &&
			!strings.Contains(stderr, "snap setting "+c.blame+":") {
			t.Errorf("configure rejected %q without naming %s:\n%s", c.settings, c.blame, stderr)
		}
		for _, call := range s.calls(t) {
			if strings.HasPrefix(call, "restart") {
				t.Errorf("configure rejected %q but still ran snapctl %s", c.settings, call)
			}
		}
	}

	// Every value of the wrong kind is reported at once.
	s := newSandbox(t, map[string]string{"dry-run": "maybe", "bgp-asn": "lots", "writer-lease": "soon"})
	_, stderr, err := s.run(t, nil, configureHook)
	for _, k := range []string{"dry-run", "bgp-asn", "writer-lease"} {
		if err == nil || !strings.Contains(stderr, "snap setting "+k+"=") {
			t.Errorf("want %s reported, got err=%v:\n%s", k, err, stderr)
		}
	}
	if n := strings.Count(strings.TrimSpace(stderr), "\n") + 1; n != 3 {
		t.Errorf("want one line per bad setting (3), got %d:\n%s", n, stderr)
	}
}

func TestConfigureRestartsRunningDaemon(t *testing.T) {
	for _, state := range []string{"active", "inactive"} {
		s := newSandbox(t, map[string]string{"log-level": "debug"})
		if _, stderr, err := s.run(t, []string{"FAKE_SNAPCTL_STATE=" + state}, configureHook); err != nil {
			t.Fatalf("configure (%s): %v\n%s", state, err, stderr)
		}
		restarted := false
		for _, call := range s.calls(t) {
			if call == "restart ovnfwd.daemon" {
				restarted = true
			}
		}
		if want := state == "active"; restarted != want {
			t.Errorf("daemon %s: restarted=%v, want %v (calls %q)", state, restarted, want, s.calls(t))
		}
	}
}

// --- the daemon wrapper ---

const daemonWrapper = "local/ovnfwd-daemon"

// fakeOvnfwd prints its arguments and OVNFWD_* environment, one per line.
const fakeOvnfwd = `#!/bin/sh
if [ "${1:-}" = snap-settings ]; then exec "$REAL_OVNFWD" "$@"; fi
for a in "$@"; do echo "ARG $a"; done
env | grep '^OVNFWD_' | sort
`

type wrapperRun struct {
	args []string
	env  map[string]string
}

func parseFakeOvnfwd(t *testing.T, stdout string) wrapperRun {
	t.Helper()
	r := wrapperRun{env: map[string]string{}}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if a, ok := strings.CutPrefix(line, "ARG "); ok {
			r.args = append(r.args, a)
		} else if k, v, ok := strings.Cut(line, "="); ok {
			r.env[k] = v
		} else if line != "" {
			t.Fatalf("unexpected fake ovnfwd output %q", line)
		}
	}
	return r
}

// microovnLayout builds what snapd mounts for the connected MicroOVN content
// plugs: each slot source directory, by base name, under the plug target
// declared in snapcraft.yaml. It returns the env file and the pki directory.
func microovnLayout(t *testing.T, s *sandbox, nbConnect, sbConnect string) (envFile, pki string) {
	t.Helper()
	sc := loadSnapcraft(t)
	dirOf := func(plugName string) string {
		target, ok := cutAny(sc.Plugs[plugName].Target, "$SNAP_DATA/", "${SNAP_DATA}/")
		if !ok {
			t.Fatalf("plug %s: target %q not under $SNAP_DATA", plugName, sc.Plugs[plugName].Target)
		}
		return filepath.Join(s.snapData, filepath.FromSlash(target), path.Base(microovnSlots[plugName].sourceDir))
	}
	// As written by MicroOVN's microovn/ovn/environment/environment.go.
	envFile = filepath.Join(dirOf("ovn-env"), "ovn.env")
	writeFile(t, envFile, `# # Generated by MicroOVN, DO NOT EDIT.
OVN_INITIAL_NB="10.0.0.1"
OVN_INITIAL_SB="10.0.0.1"
OVN_NB_CONNECT="`+nbConnect+`"
OVN_SB_CONNECT="`+sbConnect+`"
OVN_LOCAL_IP="10.0.0.2"
`, 0o644)
	pki = dirOf("ovn-certificates")
	for _, f := range []string{"cacert.pem", "client-cert.pem", "client-privkey.pem"} {
		writeFile(t, filepath.Join(pki, f), f, 0o600)
	}
	return envFile, pki
}

func TestDaemonWrapperUsesMicroOVN(t *testing.T) {
	s := newSandbox(t, nil)
	writeFile(t, filepath.Join(s.snap, "bin", "ovnfwd"), fakeOvnfwd, 0o755)
	nb := "ssl:10.0.0.1:6641,ssl:10.0.0.2:6641,ssl:[fd00::3]:6641"
	sb := "ssl:10.0.0.1:6642,ssl:10.0.0.2:6642,ssl:[fd00::3]:6642"
	_, pki := microovnLayout(t, s, nb, sb)

	stdout, stderr, err := s.run(t, nil, daemonWrapper)
	if err != nil {
		t.Fatalf("wrapper: %v\n%s", err, stderr)
	}
	got := parseFakeOvnfwd(t, stdout)
	if !reflect.DeepEqual(got.args, []string{"run"}) {
		t.Errorf("args: got %q, want [run]", got.args)
	}
	want := map[string]string{
		"OVNFWD_LXD":      "/var/snap/lxd/common/lxd/unix.socket",
		"OVNFWD_NB":       nb,
		"OVNFWD_SB":       sb,
		"OVNFWD_OVN_CA":   filepath.Join(pki, "cacert.pem"),
		"OVNFWD_OVN_CERT": filepath.Join(pki, "client-cert.pem"),
		"OVNFWD_OVN_KEY":  filepath.Join(pki, "client-privkey.pem"),
	}
	if !reflect.DeepEqual(got.env, want) {
		t.Errorf("env:\n got %v\nwant %v", got.env, want)
	}
}

func TestDaemonWrapperSettingsWin(t *testing.T) {
	settings := map[string]string{
		"lxd":             "https://10.0.0.5:8443",
		"lxd-cert":        "/var/snap/ovnfwd/common/lxd.crt",
		"lxd-key":         "/var/snap/ovnfwd/common/lxd.key",
		"lxd-server-cert": "/var/snap/ovnfwd/common/server.crt",
		"nb":              "tcp:192.0.2.1:6641",
		"sb":              "tcp:192.0.2.1:6642",
		"log-level":       "debug",
		"log-format":      "json",
		"metrics-address": "0.0.0.0:9100",
		"resync-interval": "1m",
		"deletion-budget": "25",
		"dry-run":         "true",
	}
	s := newSandbox(t, settings)
	writeFile(t, filepath.Join(s.snap, "bin", "ovnfwd"), fakeOvnfwd, 0o755)
	microovnLayout(t, s, "ssl:10.0.0.1:6641", "ssl:10.0.0.1:6642")

	stdout, stderr, err := s.run(t, nil, daemonWrapper)
	if err != nil {
		t.Fatalf("wrapper: %v\n%s", err, stderr)
	}
	got := parseFakeOvnfwd(t, stdout)
	wantArgs := []string{"run"}
	if !reflect.DeepEqual(got.args, wantArgs) {
		t.Errorf("args: got %q, want %q", got.args, wantArgs)
	}
	// tcp: endpoints, so MicroOVN's certificates are left out.
	want := map[string]string{
		"OVNFWD_LXD":             "https://10.0.0.5:8443",
		"OVNFWD_LXD_CERT":        "/var/snap/ovnfwd/common/lxd.crt",
		"OVNFWD_LXD_KEY":         "/var/snap/ovnfwd/common/lxd.key",
		"OVNFWD_LXD_SERVER_CERT": "/var/snap/ovnfwd/common/server.crt",
		"OVNFWD_NB":              "tcp:192.0.2.1:6641",
		"OVNFWD_SB":              "tcp:192.0.2.1:6642",
		"OVNFWD_LOG_LEVEL":       "debug",
		"OVNFWD_LOG_FORMAT":      "json",
		"OVNFWD_METRICS_ADDRESS": "0.0.0.0:9100",
		"OVNFWD_RESYNC_INTERVAL": "1m",
		"OVNFWD_DELETION_BUDGET": "25",
		"OVNFWD_DRY_RUN":         "true",
	}
	if !reflect.DeepEqual(got.env, want) {
		t.Errorf("env:\n got %v\nwant %v", got.env, want)
	}
}

// TestDaemonWrapperWithoutOVNEnv: with no nb setting and no ovn-env, ovnfwd
// falls back to LXD's network.ovn.northbound_connection; the wrapper says so,
// and still hands over MicroOVN's certificates if they are connected, since
// LXD's endpoints may be ssl:.
func TestDaemonWrapperWithoutOVNEnv(t *testing.T) {
	s := newSandbox(t, nil)
	writeFile(t, filepath.Join(s.snap, "bin", "ovnfwd"), fakeOvnfwd, 0o755)
	stdout, stderr, err := s.run(t, nil, daemonWrapper)
	if err != nil {
		t.Fatalf("wrapper: %v\n%s", err, stderr)
	}
	got := parseFakeOvnfwd(t, stdout)
	if !reflect.DeepEqual(got.args, []string{"run"}) {
		t.Errorf("args: got %q, want [run]", got.args)
	}
	if want := map[string]string{"OVNFWD_LXD": "/var/snap/lxd/common/lxd/unix.socket"}; !reflect.DeepEqual(got.env, want) {
		t.Errorf("env:\n got %v\nwant %v", got.env, want)
	}
	for _, hint := range []string{"network.ovn.northbound_connection", "snap connect ovnfwd:ovn-env microovn:ovn-env", "snap set ovnfwd nb="} {
		if !strings.Contains(stderr, hint) {
			t.Errorf("wrapper log lacks %q:\n%s", hint, stderr)
		}
	}

	// Certificates connected, ovn-env not.
	envFile, pki := microovnLayout(t, s, "", "")
	if err := os.Remove(envFile); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err = s.run(t, nil, daemonWrapper)
	if err != nil {
		t.Fatalf("wrapper: %v\n%s", err, stderr)
	}
	got = parseFakeOvnfwd(t, stdout)
	if got.env["OVNFWD_NB"] != "" || got.env["OVNFWD_OVN_CA"] != filepath.Join(pki, "cacert.pem") || got.env["OVNFWD_OVN_KEY"] != filepath.Join(pki, "client-privkey.pem") {
		t.Errorf("certificates only: env %v", got.env)
	}
}

// TestDaemonWrapperOwnNB: an nb setting replaces MicroOVN's endpoints as a
// pair; MicroOVN's SB is not mixed with another NB.
func TestDaemonWrapperOwnNB(t *testing.T) {
	s := newSandbox(t, map[string]string{"nb": "ssl:192.0.2.1:6641"})
	writeFile(t, filepath.Join(s.snap, "bin", "ovnfwd"), fakeOvnfwd, 0o755)
	microovnLayout(t, s, "ssl:10.0.0.1:6641", "ssl:10.0.0.1:6642")
	stdout, stderr, err := s.run(t, nil, daemonWrapper)
	if err != nil {
		t.Fatalf("wrapper: %v\n%s", err, stderr)
	}
	got := parseFakeOvnfwd(t, stdout)
	if got.env["OVNFWD_NB"] != "ssl:192.0.2.1:6641" || got.env["OVNFWD_SB"] != "" {
		t.Errorf("env %v: want NB from the setting and no SB", got.env)
	}
}

// TestCommandChain checks the wrapper as the CLI's command-chain: it runs the
// given command as is, keeps variables already in the environment, and copes
// with snapctl being unusable.
func TestCommandChain(t *testing.T) {
	s := newSandbox(t, map[string]string{"log-level": "debug"})
	writeFile(t, filepath.Join(s.snap, "bin", "ovnfwd"), fakeOvnfwd, 0o755)
	microovnLayout(t, s, "ssl:10.0.0.1:6641", "ssl:10.0.0.1:6642")
	bin := filepath.Join(s.snap, "bin", "ovnfwd")

	stdout, stderr, err := s.run(t, []string{"OVNFWD_SB=tcp:192.0.2.9:6642"}, daemonWrapper, bin, "status", "--nb", "tcp:192.0.2.1:6641")
	if err != nil {
		t.Fatalf("wrapper: %v\n%s", err, stderr)
	}
	got := parseFakeOvnfwd(t, stdout)
	if want := []string{"status", "--nb", "tcp:192.0.2.1:6641"}; !reflect.DeepEqual(got.args, want) {
		t.Errorf("args: got %q, want %q", got.args, want)
	}
	for k, want := range map[string]string{
		"OVNFWD_SB":        "tcp:192.0.2.9:6642",
		"OVNFWD_NB":        "ssl:10.0.0.1:6641",
		"OVNFWD_LOG_LEVEL": "debug",
	} {
		if got.env[k] != want {
			t.Errorf("%s: got %q, want %q", k, got.env[k], want)
		}
	}

	// snapctl refused (ordinary user): settings are skipped, MicroOVN still used.
	stdout, stderr, err = s.run(t, []string{"FAKE_SNAPCTL_FAIL=1"}, daemonWrapper, bin, "version")
	if err != nil {
		t.Fatalf("wrapper with failing snapctl: %v\n%s", err, stderr)
	}
	got = parseFakeOvnfwd(t, stdout)
	if got.env["OVNFWD_NB"] != "ssl:10.0.0.1:6641" || got.env["OVNFWD_LOG_LEVEL"] != "" {
		t.Errorf("with failing snapctl: env %v", got.env)
	}
}

// A plug connected after install restarts a running daemon, so that it
// sees the endpoints, certificates or sockets the plug brings; a stopped
// daemon stays stopped.
func TestConnectHooksRestartRunningDaemon(t *testing.T) {
	hooks, err := filepath.Glob(filepath.Join("hooks", "connect-plug-*"))
	if err != nil || len(hooks) == 0 {
		t.Fatalf("no connect-plug hooks: %v", err)
	}
	for _, hook := range hooks {
		for _, state := range []string{"active", "inactive"} {
			s := newSandbox(t, nil)
			if _, stderr, err := s.run(t, []string{"FAKE_SNAPCTL_STATE=" + state}, hook); err != nil {
				t.Fatalf("%s (%s): %v\n%s", hook, state, err, stderr)
			}
			restarted := slices.Contains(s.calls(t), "restart ovnfwd.daemon")
			if want := state == "active"; restarted != want {
				t.Errorf("%s, daemon %s: restarted=%v, want %v (calls %q)", hook, state, restarted, want, s.calls(t))
			}
		}
	}
}

// The service refuses to start on a setting the configure hook would have
// refused (set before this version, or by hand), naming it; snapd retries
// it, and the journal says why.
func TestDaemonWrapperRefusesBadSetting(t *testing.T) {
	s := newSandbox(t, map[string]string{"log-level": `json:{"nested": true}`})
	writeFile(t, filepath.Join(s.snap, "bin", "ovnfwd"), fakeOvnfwd, 0o755)
	stdout, stderr, err := s.run(t, nil, daemonWrapper)
	if err == nil || strings.Contains(stdout, "ARG run") || !strings.Contains(stderr, "snap setting log-level") {
		t.Errorf("wrapper with a bad setting: err=%v, stdout %q, stderr %q; want a failure naming log-level and no run", err, stdout, stderr)
	}
	// The service cannot run without its settings either.
	stdout, stderr, err = s.run(t, []string{"FAKE_SNAPCTL_FAIL=1"}, daemonWrapper)
	if err == nil || strings.Contains(stdout, "ARG run") || !strings.Contains(stderr, "snap settings not read") {
		t.Errorf("service with snapctl failing: err=%v, stdout %q, stderr %q", err, stdout, stderr)
	}
}
