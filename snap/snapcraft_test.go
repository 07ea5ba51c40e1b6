package snap

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// repoRoot is the module root, relative to this package's directory (the
// working directory of `go test`).
const repoRoot = ".."

// microovnSlot is a content slot MicroOVN offers.
type microovnSlot struct {
	// content is the content name a plug must ask for. MicroOVN sets no
	// `content` attribute, so snapd uses the slot name.
	content string
	// sourceDir is the slot's `source: read:` directory; snapd mounts it
	// under the plug target by its base name.
	sourceDir string
}

// microovnSlots are the content slots MicroOVN declares in snap/snapcraft.yaml
// of github.com/canonical/microovn (checked at 7943959a66891dd59b25f573a5cfa8731ea97a5e;
// the slots have been there since 576f41f, "snap: Only use directories for
// content interface", 2024-02-28):
//
//	slots:
//	  ovn-certificates:
//	    interface: content
//	    source:
//	      read:
//	        - "$SNAP_COMMON/data/pki"
//	  ovn-env:
//	    interface: content
//	    source:
//	      read:
//	        - "$SNAP_COMMON/data/env"
//
// data/env holds ovn.env (OVN_NB_CONNECT=..., OVN_SB_CONNECT=...) and
// data/pki holds cacert.pem, client-cert.pem and client-privkey.pem.
var microovnSlots = map[string]microovnSlot{
	"ovn-certificates": {content: "ovn-certificates", sourceDir: "$SNAP_COMMON/data/pki"},
	"ovn-env":          {content: "ovn-env", sourceDir: "$SNAP_COMMON/data/env"},
	// Its Open vSwitch sockets (source: write:), the slot LXD's snap plugs
	// for the same reason.
	"ovn-chassis": {content: "ovn-chassis", sourceDir: "$SNAP_COMMON/run/switch"},
}

type snapcraftYAML struct {
	Name        string          `yaml:"name"`
	Base        string          `yaml:"base"`
	Version     string          `yaml:"version"`
	AdoptInfo   string          `yaml:"adopt-info"`
	Grade       string          `yaml:"grade"`
	Confinement string          `yaml:"confinement"`
	Plugs       map[string]plug `yaml:"plugs"`
	Apps        map[string]app  `yaml:"apps"`
	Parts       map[string]part `yaml:"parts"`
}

type plug struct {
	Interface string `yaml:"interface"`
	Content   string `yaml:"content"`
	Target    string `yaml:"target"`
}

type app struct {
	Command          string   `yaml:"command"`
	CommandChain     []string `yaml:"command-chain"`
	Daemon           string   `yaml:"daemon"`
	RestartCondition string   `yaml:"restart-condition"`
	Plugs            []string `yaml:"plugs"`
}

type part struct {
	Plugin        string            `yaml:"plugin"`
	Source        string            `yaml:"source"`
	BuildSnaps    []string          `yaml:"build-snaps"`
	OverrideBuild string            `yaml:"override-build"`
	OverridePull  string            `yaml:"override-pull"`
	OverrideStage string            `yaml:"override-stage"`
	OverridePrime string            `yaml:"override-prime"`
	Organize      map[string]string `yaml:"organize"`
	Stage         []string          `yaml:"stage"`
	Prime         []string          `yaml:"prime"`
}

func loadSnapcraft(t *testing.T) snapcraftYAML {
	t.Helper()
	data, err := os.ReadFile("snapcraft.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var sc snapcraftYAML
	if err := yaml.Unmarshal(data, &sc); err != nil {
		t.Fatalf("snapcraft.yaml: %v", err)
	}
	return sc
}

func TestMetadata(t *testing.T) {
	sc := loadSnapcraft(t)
	for _, c := range []struct{ field, got, want string }{
		{"name", sc.Name, "ovnfwd"},
		{"base", sc.Base, "core24"},
		{"confinement", sc.Confinement, "strict"},
		{"grade", sc.Grade, "stable"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.field, c.got, c.want)
		}
	}

	switch {
	case sc.Version == "" && sc.AdoptInfo == "":
		t.Error("neither version nor adopt-info is set")
	case sc.AdoptInfo != "":
		p, ok := sc.Parts[sc.AdoptInfo]
		if !ok {
			t.Fatalf("adopt-info names part %q, which does not exist", sc.AdoptInfo)
		}
		scripts := p.OverridePull + p.OverrideBuild + p.OverrideStage + p.OverridePrime
		if !strings.Contains(scripts, "craftctl set version=") {
			t.Errorf("adopt-info part %q never runs `craftctl set version=`", sc.AdoptInfo)
		}
	}
}

// TestGoPart checks the part that builds ovnfwd: the go plugin with the go
// snap matching go.mod, from the repository root, building ./cmd/ovnfwd.
func TestGoPart(t *testing.T) {
	sc := loadSnapcraft(t)
	var goParts []string
	for name, p := range sc.Parts {
		if p.Plugin == "go" {
			goParts = append(goParts, name)
		}
	}
	if len(goParts) != 1 {
		t.Fatalf("want exactly one part with plugin go, got %v", goParts)
	}
	p := sc.Parts[goParts[0]]
	if filepath.Clean(p.Source) != "." {
		t.Errorf("go part source: got %q, want . (the module root)", p.Source)
	}

	goMod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if m == nil {
		t.Fatal("no go directive in go.mod")
	}
	goVersion := string(m[1])
	var goSnap string
	for _, s := range p.BuildSnaps {
		if s == "go" || strings.HasPrefix(s, "go/") {
			goSnap = s
		}
	}
	switch {
	case goSnap == "":
		t.Errorf("go part build-snaps %v has no go snap", p.BuildSnaps)
	case strings.HasPrefix(goSnap, "go/"):
		if track := strings.Split(goSnap, "/")[1]; track != "latest" && track != goVersion {
			t.Errorf("build-snaps %q: track %q does not match go.mod's go %s", goSnap, track, goVersion)
		}
	}

	outputs := goPartOutputs(t, p)
	if got := outputs["bin/ovnfwd"]; got != "cmd/ovnfwd" {
		t.Errorf("go part must build ./cmd/ovnfwd into bin/ovnfwd; builds %v", outputs)
	}
}

var (
	goBuildOutput = regexp.MustCompile(`-o[ =]+"?\$\{?CRAFT_PART_INSTALL\}?/([^"\s]+)"?`)
	goBuildPkg    = regexp.MustCompile(`(?:^|\s)\./([^\s"';&|]+)`)
)

// goPartOutputs returns, for each file a go part installs, the package
// directory (relative to the part source) it is built from. Every such
// directory must exist and hold a main package.
func goPartOutputs(t *testing.T, p part) map[string]string {
	t.Helper()
	src := filepath.Join(repoRoot, p.Source)
	out := map[string]string{}
	if strings.TrimSpace(p.OverrideBuild) == "" {
		// The plugin's own build: go install ./... into $CRAFT_PART_INSTALL/bin.
		err := filepath.WalkDir(src, func(dir string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			if dir != src && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_") || d.Name() == "testdata" || d.Name() == "vendor") {
				return filepath.SkipDir
			}
			if pkg, err := build.ImportDir(dir, 0); err == nil && pkg.Name == "main" {
				rel, _ := filepath.Rel(src, dir)
				out["bin/"+filepath.Base(dir)] = filepath.ToSlash(rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	script := strings.ReplaceAll(p.OverrideBuild, "\\\n", " ")
	for _, line := range strings.Split(script, "\n") {
		if !strings.Contains(line, "go build") {
			continue
		}
		o := goBuildOutput.FindStringSubmatch(line)
		pkgs := goBuildPkg.FindAllStringSubmatch(line, -1)
		if o == nil || len(pkgs) != 1 {
			t.Errorf("cannot tell what this go build installs (want -o \"${CRAFT_PART_INSTALL}/bin/NAME\" and one ./PKG): %s", strings.TrimSpace(line))
			continue
		}
		pkgDir := path.Clean(pkgs[0][1])
		bp, err := build.ImportDir(filepath.Join(src, filepath.FromSlash(pkgDir)), 0)
		if err != nil {
			t.Errorf("go part builds ./%s: %v", pkgDir, err)
			continue
		}
		if bp.Name != "main" {
			t.Errorf("go part builds ./%s, which is package %s, not main", pkgDir, bp.Name)
			continue
		}
		out[path.Clean(o[1])] = pkgDir
	}
	return out
}

// shipped describes a file in the snap.
type shipped struct {
	part string
	// local is the file in this repository the snap copies (dump parts),
	// or "" for a file the part builds.
	local string
}

// shippedFiles lists the files the go and dump parts put in the snap, with
// the parts' organize, stage and prime rules applied. Files of other plugins
// are unknown and so never count as shipped.
func shippedFiles(t *testing.T, sc snapcraftYAML) map[string]shipped {
	t.Helper()
	files := map[string]shipped{}
	for name, p := range sc.Parts {
		var produced map[string]string // snap path -> local file or ""
		switch p.Plugin {
		case "go":
			produced = map[string]string{}
			for f := range goPartOutputs(t, p) {
				produced[f] = ""
			}
		case "dump":
			produced = dumpOutputs(t, p)
		default:
			continue
		}
		for f, local := range produced {
			f = organized(f, p.Organize)
			if selected(f, p.Stage) && selected(f, p.Prime) {
				files[f] = shipped{part: name, local: local}
			}
		}
	}
	return files
}

// dumpOutputs maps every file under a dump part's source (relative paths,
// before organize) to its path in this repository.
func dumpOutputs(t *testing.T, p part) map[string]string {
	t.Helper()
	src := filepath.Join(repoRoot, p.Source)
	out := map[string]string{}
	err := filepath.WalkDir(src, func(f string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, f)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = f
		return nil
	})
	if err != nil {
		t.Fatalf("dump part source %q: %v", p.Source, err)
	}
	return out
}

// organized applies an organize map (file or directory keys, "dir/" values
// meaning "into dir") to a path.
func organized(f string, organize map[string]string) string {
	for from, to := range organize {
		fromClean := strings.TrimSuffix(from, "/")
		var rest string
		switch {
		case f == fromClean:
		case strings.HasPrefix(f, fromClean+"/"):
			rest = strings.TrimPrefix(f, fromClean+"/")
		default:
			continue
		}
		switch {
		case rest != "":
			return path.Join(to, rest)
		case strings.HasSuffix(to, "/"):
			return path.Join(to, path.Base(f))
		default:
			return path.Clean(to)
		}
	}
	return f
}

// selected applies a stage or prime filter list to a path.
func selected(f string, filter []string) bool {
	if len(filter) == 0 {
		return true
	}
	matches := func(pattern string) bool {
		pattern = strings.TrimSuffix(path.Clean(pattern), "/")
		if ok, _ := path.Match(pattern, f); ok {
			return true
		}
		for dir := path.Dir(f); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if ok, _ := path.Match(pattern, dir); ok {
				return true
			}
		}
		return false
	}
	in, hasPositive := false, false
	for _, pattern := range filter {
		if strings.HasPrefix(pattern, "-") {
			if matches(strings.TrimPrefix(pattern, "-")) {
				return false
			}
			continue
		}
		hasPositive = true
		in = in || matches(pattern)
	}
	return in || !hasPositive
}

// snapPath turns "$SNAP/bin/x args" or "bin/x" into "bin/x".
func snapPath(command string) string {
	fields := strings.Fields(command)
	if len(fields) == 0 {
		return ""
	}
	p := fields[0]
	for _, prefix := range []string{"$SNAP/", "${SNAP}/"} {
		p = strings.TrimPrefix(p, prefix)
	}
	return path.Clean(p)
}

// TestCommandsAreShipped checks that every app command and command-chain entry
// is a file the snap ships: bin/ovnfwd from the go part, or a script from
// snap/local/ installed by a dump part, which must then be executable and
// valid sh.
func TestCommandsAreShipped(t *testing.T) {
	sc := loadSnapcraft(t)
	files := shippedFiles(t, sc)
	if len(sc.Apps) == 0 {
		t.Fatal("no apps")
	}
	localDir, err := filepath.Abs("local")
	if err != nil {
		t.Fatal(err)
	}
	for name, a := range sc.Apps {
		entries := append([]string{a.Command}, a.CommandChain...)
		for _, entry := range entries {
			p := snapPath(entry)
			if p == "" {
				t.Errorf("app %s: empty command", name)
				continue
			}
			f, ok := files[p]
			if !ok {
				t.Errorf("app %s: %q is not shipped by any go or dump part (shipped: %v)", name, p, sortedKeys(files))
				continue
			}
			if f.local == "" {
				continue // built by the go part, checked by goPartOutputs
			}
			abs, err := filepath.Abs(f.local)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(abs, localDir+string(filepath.Separator)) {
				t.Errorf("app %s: %q comes from %s, not from snap/local/", name, p, f.local)
			}
			checkShellScript(t, f.local)
		}
	}
}

func TestDaemonApp(t *testing.T) {
	sc := loadSnapcraft(t)
	d, ok := sc.Apps["daemon"]
	if !ok {
		t.Fatal("no daemon app")
	}
	if d.Daemon != "simple" {
		t.Errorf("daemon app: daemon: got %q, want simple", d.Daemon)
	}
	switch d.RestartCondition {
	case "always", "on-failure", "on-success", "on-abnormal", "on-abort", "on-watchdog":
	case "":
		t.Error("daemon app has no restart-condition")
	default:
		t.Errorf("daemon app: restart-condition %q is not one snapd knows", d.RestartCondition)
	}
	if got := snapPath(d.Command); got != "bin/ovnfwd-daemon" {
		t.Errorf("daemon app command: got %q, want the bin/ovnfwd-daemon wrapper", got)
	}
	cli, ok := sc.Apps["ovnfwd"]
	if !ok {
		t.Fatal("no ovnfwd (CLI) app")
	}
	if got := snapPath(cli.Command); got != "bin/ovnfwd" {
		t.Errorf("ovnfwd app command: got %q, want bin/ovnfwd", got)
	}
	if cli.Daemon != "" {
		t.Errorf("ovnfwd app is the CLI but has daemon: %s", cli.Daemon)
	}
}

// implicitInterfaces are interfaces an app may plug without declaring a
// top-level plug (the plug name is the interface name).
var implicitInterfaces = map[string]bool{
	"network": true, "network-bind": true, "network-observe": true, "lxd": true,
	"openvswitch": true,
}

func TestPlugs(t *testing.T) {
	sc := loadSnapcraft(t)

	interfaceOf := func(name string) string {
		if p, ok := sc.Plugs[name]; ok && p.Interface != "" {
			return p.Interface
		}
		return name
	}
	for name, want := range map[string]string{
		"lxd":              "lxd",
		"network":          "network",
		"network-bind":     "network-bind",
		"ovn-env":          "content",
		"ovn-certificates": "content",
	} {
		if got := interfaceOf(name); got != want {
			t.Errorf("plug %s: interface %q, want %q", name, got, want)
		}
	}
	if _, ok := sc.Plugs["lxd"]; !ok {
		t.Error("no top-level lxd plug")
	}

	targets := map[string]string{}
	for name, slot := range microovnSlots {
		p, ok := sc.Plugs[name]
		if !ok {
			t.Errorf("no %s plug for MicroOVN's %s slot", name, name)
			continue
		}
		if p.Interface != "content" {
			t.Errorf("plug %s: interface %q, want content", name, p.Interface)
		}
		content := p.Content
		if content == "" {
			content = name // snapd's default, like MicroOVN's slots
		}
		if content != slot.content {
			t.Errorf("plug %s: content %q, but MicroOVN's slot offers %q", name, content, slot.content)
		}
		rest, ok := cutAny(p.Target, "$SNAP_DATA/", "${SNAP_DATA}/")
		if !ok || rest == "" || path.Clean(rest) != rest || strings.HasPrefix(rest, "..") {
			t.Errorf("plug %s: target %q is not a directory under $SNAP_DATA", name, p.Target)
			continue
		}
		targets[name] = rest
	}
	for a, ta := range targets {
		for b, tb := range targets {
			if a != b && (ta == tb || strings.HasPrefix(tb, ta+"/")) {
				t.Errorf("plugs %s and %s: targets %q and %q overlap", a, b, ta, tb)
			}
		}
	}

	wantAppPlugs := map[string][]string{
		"daemon": {"lxd", "network", "network-bind", "ovn-env", "ovn-certificates", "ovn-chassis", "openvswitch"},
		"ovnfwd": {"lxd", "network", "ovn-env", "ovn-certificates", "ovn-chassis", "openvswitch"},
	}
	for appName, want := range wantAppPlugs {
		a, ok := sc.Apps[appName]
		if !ok {
			t.Errorf("no %s app", appName)
			continue
		}
		have := map[string]bool{}
		for _, p := range a.Plugs {
			have[p] = true
		}
		for _, p := range want {
			if !have[p] {
				t.Errorf("app %s does not plug %s (plugs %v)", appName, p, a.Plugs)
			}
		}
	}
	for appName, a := range sc.Apps {
		for _, p := range a.Plugs {
			if _, declared := sc.Plugs[p]; !declared && !implicitInterfaces[p] {
				t.Errorf("app %s plugs %q, which is neither declared under plugs: nor a known interface", appName, p)
			}
		}
	}
}

// TestHooks checks that every file in snap/hooks/ is an executable, valid sh
// script, and that the configure hook exists.
func TestHooks(t *testing.T) {
	entries, err := os.ReadDir("hooks")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if e.Name() == "configure" {
			found = true
		}
		checkShellScript(t, filepath.Join("hooks", e.Name()))
	}
	if !found {
		t.Error("no hooks/configure")
	}
	// A plug connected after install restarts the daemon (connect-plug-*),
	// through the shipped restart script, as the configure hook does.
	sc := loadSnapcraft(t)
	files := shippedFiles(t, sc)
	if _, ok := files["bin/ovnfwd-restart"]; !ok {
		t.Error("bin/ovnfwd-restart is not shipped; the hooks exec it")
	}
	for _, plug := range []string{"lxd", "ovn-env", "ovn-certificates", "ovn-chassis", "openvswitch"} {
		data, err := os.ReadFile(filepath.Join("hooks", "connect-plug-"+plug))
		if err != nil {
			t.Errorf("no connect hook for plug %s: %v", plug, err)
			continue
		}
		if !strings.Contains(string(data), `"$SNAP/bin/ovnfwd-restart"`) {
			t.Errorf("hooks/connect-plug-%s does not run $SNAP/bin/ovnfwd-restart", plug)
		}
	}
}

// checkShellScript fails unless f is an executable #!/bin/sh script that
// `sh -n` accepts.
func checkShellScript(t *testing.T, f string) {
	t.Helper()
	info, err := os.Stat(f)
	if err != nil {
		t.Error(err)
		return
	}
	if !info.Mode().IsRegular() || info.Mode().Perm()&0o111 != 0o111 {
		t.Errorf("%s: mode %v, want an executable regular file (chmod 755)", f, info.Mode())
	}
	data, err := os.ReadFile(f)
	if err != nil {
		t.Error(err)
		return
	}
	if first, _, _ := strings.Cut(string(data), "\n"); first != "#!/bin/sh" {
		t.Errorf("%s: first line %q, want #!/bin/sh", f, first)
	}
	if out, err := exec.Command("sh", "-n", f).CombinedOutput(); err != nil {
		t.Errorf("sh -n %s: %v\n%s", f, err, out)
	}
}

func cutAny(s string, prefixes ...string) (string, bool) {
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(s, p); ok {
			return rest, true
		}
	}
	return "", false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestWrapperEnvMatchesCLI checks that every OVNFWD_* variable the daemon
// wrapper exports is one that cmd/ovnfwd declares (as a string literal, e.g.
// in a flag's EnvVars), so a renamed variable cannot silently stop working.
func TestWrapperEnvMatchesCLI(t *testing.T) {
	cliVars := map[string]bool{}
	dir := filepath.Join(repoRoot, "cmd", "ovnfwd")
	pkg, err := build.ImportDir(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range pkg.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if v, err := strconv.Unquote(lit.Value); err == nil && strings.HasPrefix(v, "OVNFWD_") {
					cliVars[v] = true
				}
			}
			return true
		})
	}

	script, err := os.ReadFile("local/ovnfwd-daemon")
	if err != nil {
		t.Fatal(err)
	}
	exported := regexp.MustCompile(`(?m)^\s*default (OVNFWD_[A-Z_]+) `).FindAllStringSubmatch(string(script), -1)
	if len(exported) == 0 {
		t.Fatal("found no `default OVNFWD_...` lines in local/ovnfwd-daemon")
	}
	for _, m := range exported {
		if !cliVars[m[1]] {
			t.Errorf("local/ovnfwd-daemon exports %s, which cmd/ovnfwd does not read (it knows %v)", m[1], sortedKeys(cliVars))
		}
	}
}
