//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
	"time"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
)

// Traffic through forwards, measured from the cluster bed's client
// namespace with the prober (integration/prober/prober.go, a static binary
// run inside a bed namespace).

var (
	proberOnce gosync.Once
	proberPath string
	proberErr  error
)

// ProberBinary builds the prober once per test binary ($OVNFWD_PROBER
// overrides it).
func ProberBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("OVNFWD_PROBER"); p != "" {
		return p
	}
	proberOnce.Do(func() {
		_, here, _, _ := runtime.Caller(0)
		dir, err := os.MkdirTemp("", "ovnfwd-prober")
		if err != nil {
			proberErr = err
			return
		}
		proberPath = filepath.Join(dir, "prober")
		cmd := exec.Command("go", "build", "-trimpath", "-o", proberPath, "prober.go")
		cmd.Dir = filepath.Join(filepath.Dir(here), "prober")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			proberErr = fmt.Errorf("build prober: %v: %s", err, out)
		}
	})
	if proberErr != nil {
		t.Fatal(proberErr)
	}
	return proberPath
}

// Attempt is one new TCP connection of the prober.
type Attempt struct {
	Start  time.Time
	Dur    time.Duration
	OK     bool
	Reason string
}

// ARPFrame is one ARP frame the prober saw (-arp).
type ARPFrame struct {
	At        time.Time
	Op        string // request | reply
	SenderMAC string
	SenderIP  string
	TargetIP  string
}

// Probe is a running prober; its lines are parsed as they come.
type Probe struct {
	cmd     *exec.Cmd
	mu      gosync.Mutex
	tcp     []Attempt
	udpSent map[uint64]time.Time
	udpRecv map[uint64]time.Time
	arp     []ARPFrame
	frames  []TimedLine // -mac: first frame after each gap
	stderr  bytes.Buffer
	done    chan struct{}
	timeout time.Duration
}

// StartProbe runs the prober in network namespace ns with args (see
// prober.go); it is stopped at test end.
func (b *Bed) StartProbe(t testing.TB, ns string, args ...string) *Probe {
	t.Helper()
	p := &Probe{udpSent: map[uint64]time.Time{}, udpRecv: map[uint64]time.Time{}, done: make(chan struct{}), timeout: 500 * time.Millisecond}
	for i, a := range args {
		if a == "-timeout" && i+1 < len(args) {
			if d, err := time.ParseDuration(args[i+1]); err == nil {
				p.timeout = d
			}
		}
	}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns, ProberBinary(t)}, args...)...)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start prober in %s: %v", ns, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.parse(sc.Text())
		}
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.Stop)
	return p
}

func ns2t(s string) time.Time {
	n, _ := strconv.ParseInt(s, 10, 64)
	return time.Unix(0, n)
}

func (p *Probe) parse(line string) {
	f := strings.Fields(line)
	if len(f) < 3 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch f[0] {
	case "T":
		if len(f) < 4 {
			return
		}
		d, _ := strconv.ParseInt(f[2], 10, 64)
		a := Attempt{Start: ns2t(f[1]), Dur: time.Duration(d), OK: f[3] == "ok"}
		if len(f) > 4 {
			a.Reason = f[4]
		}
		p.tcp = append(p.tcp, a)
	case "U", "R":
		seq, _ := strconv.ParseUint(f[1], 10, 64)
		if f[0] == "U" {
			p.udpSent[seq] = ns2t(f[2])
		} else {
			p.udpRecv[seq] = ns2t(f[2])
		}
	case "M":
		p.frames = append(p.frames, TimedLine{At: ns2t(f[1]), Line: f[2]})
	case "A":
		if len(f) >= 8 {
			p.arp = append(p.arp, ARPFrame{At: ns2t(f[1]), Op: f[2], SenderMAC: f[3], SenderIP: f[4], TargetIP: f[6]})
		}
	}
}

// Stop ends the prober (SIGTERM; it flushes) and waits for its last lines.
func (p *Probe) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(os.Interrupt)
	}
	select {
	case <-p.done:
	case <-time.After(p.timeout + 5*time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Stderr is what the prober wrote to stderr.
func (p *Probe) Stderr() string { p.mu.Lock(); defer p.mu.Unlock(); return p.stderr.String() }

// Attempts returns the TCP attempts so far, by start time.
func (p *Probe) Attempts() []Attempt {
	p.mu.Lock()
	out := slices.Clone(p.tcp)
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// Frames returns the -mac frames seen so far (the first after each gap).
func (p *Probe) Frames() []TimedLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.frames)
}

// ARP returns the ARP frames seen so far.
func (p *Probe) ARP() []ARPFrame {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.arp)
}

// UDPFlow returns, for the long-lived UDP flow, each datagram's send time
// and whether its echo came back, by sequence number.
type UDPDatagram struct {
	Seq  uint64
	Sent time.Time
	Back bool
}

func (p *Probe) UDP() []UDPDatagram {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]UDPDatagram, 0, len(p.udpSent))
	for s, at := range p.udpSent {
		_, back := p.udpRecv[s]
		out = append(out, UDPDatagram{Seq: s, Sent: at, Back: back})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// Settled returns the attempts that started in [from, to) and have all
// completed by now (an attempt takes at most the prober's timeout).
func (p *Probe) Settled(from, to time.Time) []Attempt {
	var out []Attempt
	limit := time.Now().Add(-p.timeout - 50*time.Millisecond)
	if to.After(limit) {
		to = limit
	}
	for _, a := range p.Attempts() {
		if !a.Start.Before(from) && a.Start.Before(to) {
			out = append(out, a)
		}
	}
	return out
}

// Recovery is how traffic behaved after a disturbance at At.
type Recovery struct {
	At        time.Time
	FirstFail time.Duration // since At; -1: no failed attempt
	LastFail  time.Duration
	Fails     int
	OKs       int
	Reasons   map[string]int
	// Recovered is from At to the start of the first good attempt after
	// the last failure (0 when nothing failed).
	Recovered time.Duration
	Done      bool // traffic was good for `stable` after the last failure
}

func (r Recovery) String() string {
	if r.Fails == 0 {
		return fmt.Sprintf("no failed attempt (%d good)", r.OKs)
	}
	return fmt.Sprintf("%d failed attempts from +%v to +%v (%v), good again at +%v (%d good)",
		r.Fails, r.FirstFail.Round(time.Millisecond), r.LastFail.Round(time.Millisecond), reasons(r.Reasons),
		r.Recovered.Round(time.Millisecond), r.OKs)
}

func reasons(m map[string]int) string {
	var ks []string
	for k, v := range m {
		ks = append(ks, fmt.Sprintf("%s×%d", k, v))
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}

// recovery judges the settled attempts since at.
func (p *Probe) recovery(at time.Time, stable time.Duration) Recovery {
	r := Recovery{At: at, FirstFail: -1, Reasons: map[string]int{}}
	atts := p.Settled(at, time.Now())
	var lastFail time.Time
	for _, a := range atts {
		if a.OK {
			r.OKs++
			continue
		}
		r.Fails++
		r.Reasons[a.Reason]++
		if r.FirstFail < 0 {
			r.FirstFail = a.Start.Sub(at)
		}
		lastFail = a.Start
		r.LastFail = a.Start.Sub(at)
	}
	var firstOK time.Time
	for _, a := range atts {
		if a.OK && a.Start.After(lastFail) {
			firstOK = a.Start
			break
		}
	}
	if firstOK.IsZero() {
		return r
	}
	if r.Fails > 0 {
		r.Recovered = firstOK.Sub(at)
	}
	last := atts[len(atts)-1].Start
	r.Done = last.Sub(firstOK) >= stable
	return r
}

// WaitRecovered waits until traffic has been good for stable after the
// last failure since at (or, if nothing fails, for quiet), and fails the
// test if that has not happened within bound of at.
func (p *Probe) WaitRecovered(t testing.TB, at time.Time, bound, stable, quiet time.Duration) Recovery {
	t.Helper()
	for {
		r := p.recovery(at, stable)
		switch {
		case r.Done && r.Fails > 0:
			return r
		case r.Fails == 0 && r.OKs > 0 && time.Since(at) > quiet+p.timeout:
			r.Done = true
			return r
		case time.Since(at) > bound+stable+p.timeout+time.Second:
			t.Fatalf("traffic not good within %v of %s: %s", bound, at.Format("15:04:05.000"), r)
			return r
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitFirstOK waits for the first good attempt that started at or after
// from, and returns it (failing the test after timeout).
func (p *Probe) WaitFirstOK(t testing.TB, from time.Time, timeout time.Duration) Attempt {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var seen bool
		for _, a := range p.Attempts() {
			if a.OK && !a.Start.Before(from) {
				seen = true
				break
			}
		}
		if seen {
			// An earlier-started attempt may still be in flight.
			time.Sleep(p.timeout + 50*time.Millisecond)
			for _, a := range p.Attempts() {
				if a.OK && !a.Start.Before(from) {
					return a
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	atts := p.Settled(from, time.Now())
	r := map[string]int{}
	for _, a := range atts {
		r[a.Reason]++
	}
	t.Fatalf("no good reply within %v (%d attempts: %s; prober stderr %q)", timeout, len(atts), reasons(r), p.Stderr())
	return Attempt{}
}

// ProbeFor runs the prober in ns for d and returns its attempts (one-shot
// checks: a handful of connections, or a UDP flow).
func (b *Bed) ProbeFor(t testing.TB, ns string, d time.Duration, args ...string) *Probe {
	t.Helper()
	p := b.StartProbe(t, ns, append(args, "-duration", d.String())...)
	select {
	case <-p.done:
	case <-time.After(d + p.timeout + 10*time.Second):
		t.Fatalf("prober %v did not end", args)
	}
	return p
}

// Instance is a container of the bed's busybox image on the OVN network.
type Instance struct {
	Name   string
	Member string
	IP     string
}

// Page is the body its HTTP server answers with.
func (i Instance) Page() string { return "ovnfwd-bed " + i.Name }

// LaunchInstances launches bb containers (name → member, e.g. "m1") in
// parallel and deletes them at test end.
func (b *Bed) LaunchInstances(t *testing.T, specs map[string]string) map[string]Instance {
	t.Helper()
	var (
		mu   gosync.Mutex
		wg   gosync.WaitGroup
		out  = map[string]Instance{}
		errs []string
	)
	c := b.member(t, 1)
	for name, member := range specs {
		t.Cleanup(func() { deleteInstance(t, c, name) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := b.script(3*time.Minute, "launch", name, member)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Sprintf("launch %s on %s: %v", name, member, err))
				return
			}
			out[name] = Instance{Name: name, Member: member, IP: strings.TrimSpace(o)}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(strings.Join(errs, "; "))
	}
	for name, in := range out {
		inst, _, err := c.GetInstance(name)
		// Incus answers "Server isn't ready yet" for a while after a
		// restart (TestClusterLXDRestart) even when its members list
		// instances already: wait for it rather than fail the test.
		for deadline := time.Now().Add(time.Minute); err != nil && strings.Contains(err.Error(), "isn't ready yet") && time.Now().Before(deadline); {
			time.Sleep(time.Second)
			inst, _, err = c.GetInstance(name)
		}
		if err != nil || inst.Location != in.Member || inst.StatusCode != api.Running {
			t.Fatalf("instance %s: %+v %v, want running on %s", name, inst, err, in.Member)
		}
	}
	return out
}

func deleteInstance(t *testing.T, c lxd.InstanceServer, name string) {
	if op, err := c.UpdateInstanceState(name, api.InstanceStatePut{Action: "stop", Force: true, Timeout: -1}, ""); err == nil {
		_ = op.Wait()
	}
	if op, err := c.DeleteInstance(name); err == nil {
		if err := op.Wait(); err != nil {
			t.Errorf("cleanup: delete instance %s: %v", name, err)
		}
	} else if !api.StatusErrorCheck(err, 404) {
		t.Errorf("cleanup: delete instance %s: %v", name, err)
	}
}

// CreateMemberForward creates a forward through member n's API and
// deletes it at test end.
func (b *Bed) CreateMemberForward(t *testing.T, n int, fwd api.NetworkForwardsPost) {
	t.Helper()
	c := b.member(t, n)
	network := b.Get(t, "TB_NETWORK")
	if err := c.CreateNetworkForward(network, fwd); err != nil {
		t.Fatalf("create forward %s through m%d: %v", fwd.ListenAddress, n, err)
	}
	t.Cleanup(func() {
		if err := c.DeleteNetworkForward(network, fwd.ListenAddress); err != nil && !api.StatusErrorCheck(err, 404) {
			t.Errorf("cleanup: delete forward %s: %v", fwd.ListenAddress, err)
		}
	})
}

// FlushRouterNeigh removes the uplink router's neighbour entry for ip, so
// the next packet to it needs a fresh ARP exchange (not an entry learned
// from a GARP).
func (b *Bed) FlushRouterNeigh(t testing.TB, ip string) {
	t.Helper()
	b.must(t, nil, "ip", "netns", "exec", b.Get(t, "TB_ROUTER_NETNS"), "ip", "neigh", "flush", "to", ip)
}

// RouterNeigh is the router's neighbour entry for ip ("" when none).
func (b *Bed) RouterNeigh(t testing.TB, ip string) string {
	t.Helper()
	return strings.TrimSpace(b.must(t, nil, "ip", "netns", "exec", b.Get(t, "TB_ROUTER_NETNS"), "ip", "neigh", "show", "to", ip))
}

// WaitLXDRow waits until LXD wrote exactly one NB row of that name and
// returns it.
func (b *Bed) WaitLXDRow(t testing.TB, name string) LB {
	t.Helper()
	var row LB
	Eventually(t, 15*time.Second, 50*time.Millisecond, "NB row "+name, func() string {
		rows := b.LBsByName(t)[name]
		if len(rows) != 1 {
			return fmt.Sprintf("%d rows", len(rows))
		}
		row = rows[0]
		return ""
	})
	return row
}

// repairedAll sums "repaired" log lines for listen over all daemons.
func repairedAll(ds []*Daemon, listen string) int {
	n := 0
	for _, d := range ds {
		n += repaired(d, listen)
	}
	return n
}

// OVSDBEvent is one row change an OVSDB monitor reported, stamped when it
// arrived (initial rows included).
type OVSDBEvent struct {
	At time.Time
	// Txn numbers the committed transactions the monitor reported (one
	// "update" each), from 1; 0 for the initial rows.
	Txn      uint64
	Table    string
	UUID     string
	New, Old map[string]json.RawMessage
}

// WatchOVSDB monitors tables (name → columns) of database db on the unix
// socket sock and calls onEvent for every row change (from one goroutine),
// the initial rows first. It stops at test end.
func WatchOVSDB(t testing.TB, sock, db string, tables map[string][]string, onEvent func(OVSDBEvent)) {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("OVSDB monitor %s: %v", sock, err)
	}
	reqs := map[string]any{}
	for tbl, cols := range tables {
		r := map[string]any{}
		if cols != nil { // nil: every column
			r["columns"] = cols
		}
		reqs[tbl] = r
	}
	enc, dec := json.NewEncoder(c), json.NewDecoder(c)
	var txn uint64
	var encMu gosync.Mutex
	if err := enc.Encode(map[string]any{"id": 1, "method": "monitor", "params": []any{db, "w", reqs}}); err != nil {
		t.Fatal(err)
	}
	deliver := func(raw json.RawMessage, txn uint64) {
		now := time.Now()
		var upd map[string]map[string]struct {
			New map[string]json.RawMessage `json:"new"`
			Old map[string]json.RawMessage `json:"old"`
		}
		if json.Unmarshal(raw, &upd) != nil {
			return
		}
		for tbl, rows := range upd {
			for uuid, r := range rows {
				onEvent(OVSDBEvent{At: now, Txn: txn, Table: tbl, UUID: uuid, New: r.New, Old: r.Old})
			}
		}
	}
	replied := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		first := true
		for {
			var msg struct {
				ID     any               `json:"id"`
				Method string            `json:"method"`
				Params []json.RawMessage `json:"params"`
				Result json.RawMessage   `json:"result"`
				Error  any               `json:"error"`
			}
			if err := dec.Decode(&msg); err != nil {
				if first {
					replied <- err
				}
				return
			}
			switch {
			case first && msg.Method == "":
				first = false
				if msg.Error != nil {
					replied <- fmt.Errorf("%v", msg.Error)
					return
				}
				deliver(msg.Result, 0)
				replied <- nil
			case msg.Method == "echo":
				encMu.Lock()
				_ = enc.Encode(map[string]any{"id": msg.ID, "result": msg.Params, "error": nil})
				encMu.Unlock()
			case msg.Method == "update" && len(msg.Params) == 2:
				txn++
				deliver(msg.Params[1], txn)
			}
		}
	}()
	select {
	case err := <-replied:
		if err != nil {
			t.Fatalf("OVSDB monitor %s %s: %v", sock, db, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("OVSDB monitor %s: no reply", sock)
	}
	t.Cleanup(func() { _ = c.Close(); <-done })
}

// OVSDBRef is the UUID an OVSDB reference column holds ("" when empty).
func OVSDBRef(raw json.RawMessage) string {
	var v []json.RawMessage
	if json.Unmarshal(raw, &v) != nil || len(v) != 2 {
		return ""
	}
	var kind string
	_ = json.Unmarshal(v[0], &kind)
	if kind != "uuid" {
		return ""
	}
	var u string
	_ = json.Unmarshal(v[1], &u)
	return u
}

// OVSDBStringMap decodes an OVSDB map column of strings.
func OVSDBStringMap(raw json.RawMessage) map[string]string {
	m := map[string]string{}
	var v []json.RawMessage
	if json.Unmarshal(raw, &v) != nil || len(v) != 2 {
		return m
	}
	var pairs [][2]string
	_ = json.Unmarshal(v[1], &pairs)
	for _, p := range pairs {
		m[p[0]] = p[1]
	}
	return m
}

// TimedLine is one output line of a monitor command, stamped on arrival.
type TimedLine struct {
	At   time.Time
	Line string
}

// LineMonitor runs a monitoring command (e.g. `ip netns exec NS bridge
// monitor fdb`) and keeps its output lines with their arrival times.
type LineMonitor struct {
	cmd   *exec.Cmd
	mu    gosync.Mutex
	lines []TimedLine
	done  chan struct{}
}

// StartLineMonitor starts name args…; it is ended at test end.
func StartLineMonitor(t testing.TB, name string, args ...string) *LineMonitor {
	t.Helper()
	m := &LineMonitor{cmd: exec.Command(name, args...), done: make(chan struct{})}
	stdout, err := m.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			now := time.Now()
			m.mu.Lock()
			m.lines = append(m.lines, TimedLine{At: now, Line: sc.Text()})
			m.mu.Unlock()
		}
		_ = m.cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(func() { _ = m.cmd.Process.Kill(); <-m.done })
	return m
}

// Lines returns the lines so far.
func (m *LineMonitor) Lines() []TimedLine {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.lines)
}
