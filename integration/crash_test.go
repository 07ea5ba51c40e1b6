//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/canonical/lxd/shared/api"
)

// crashForwards is how many forwards the crash tests repair at once: a
// repair of this size spans many NB transactions.
const crashForwards = 10000

// nbNames follows NB's Load_Balancer names through an OVSDB monitor and
// checks, at the end of every committed transaction, that no name has two
// rows: the invariant a crash must never break.
type nbNames struct {
	mu     gosync.Mutex
	byUUID map[string]string
	count  map[string]int
	txn    uint64
	txns   int
	dups   []string    // "txn N: name ×k"
	at     []time.Time // when each transaction arrived
	// When a row of a name last arrived and last went.
	created, deleted map[string]time.Time
}

func watchNBNames(t *testing.T, b *Bed) *nbNames {
	return watchNBNamesOn(t, b.Get(t, "TB_NB_SOCK"))
}

// watchNBNamesOn watches the NB server (a Raft member: its copy) on sock.
func watchNBNamesOn(t *testing.T, sock string) *nbNames {
	w := &nbNames{byUUID: map[string]string{}, count: map[string]int{}, created: map[string]time.Time{}, deleted: map[string]time.Time{}}
	WatchOVSDB(t, sock, "OVN_Northbound", map[string][]string{"Load_Balancer": {"name"}}, func(ev OVSDBEvent) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if ev.Txn != w.txn {
			w.checkLocked()
			w.txn = ev.Txn
			w.txns++
			w.at = append(w.at, ev.At)
		}
		old, had := w.byUUID[ev.UUID]
		if had {
			w.count[old]--
			delete(w.byUUID, ev.UUID)
			if ev.New == nil && ev.Txn != 0 {
				w.deleted[old] = ev.At
			}
		}
		if ev.New != nil {
			var name string
			if raw, ok := ev.New["name"]; ok && json.Unmarshal(raw, &name) == nil {
				w.byUUID[ev.UUID] = name
				w.count[name]++
				if !had && ev.Txn != 0 {
					w.created[name] = ev.At
				}
			}
		}
	})
	return w
}

// lastCreated is when a row of name last arrived (after the initial rows).
func (w *nbNames) lastCreated(name string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at, ok := w.created[name]
	return at, ok
}

// lastDeleted is when a row of name last went.
func (w *nbNames) lastDeleted(name string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at, ok := w.deleted[name]
	return at, ok
}

// checkLocked records the names with more than one row now.
func (w *nbNames) checkLocked() {
	for name, n := range w.count {
		if n > 1 {
			w.dups = append(w.dups, fmt.Sprintf("txn %d: %s ×%d", w.txn, name, n))
		}
	}
}

// rows counts the rows of crash batch base, after checking the last
// transaction too.
func (w *nbNames) rows(prefix string, base int) int { return w.batchRows(prefix, base, crashForwards) }

// batchRows counts the rows of the batch of count forwards from base
// (seedForwardBatch), after checking the last transaction too.
func (w *nbNames) batchRows(prefix string, base, count int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.checkLocked()
	n := 0
	for name, c := range w.count {
		var a, b2, c3, d int
		var proto string
		if _, err := fmt.Sscanf(strings.TrimPrefix(name, prefix+"-lb-"), "%d.%d.%d.%d-%s", &a, &b2, &c3, &d, &proto); err == nil &&
			strings.HasPrefix(name, prefix+"-lb-198.18.") && c3 >= base && c3 < base+(count+249)/250 {
			n += c
		}
	}
	return n
}

// firstAfter is when the first transaction that arrived after t arrived.
func (w *nbNames) firstAfter(t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, at := range w.at {
		if at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

func (w *nbNames) duplicates() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.checkLocked()
	return append([]string(nil), w.dups...)
}

// crashListen is forward i of a crash batch: 198.18.<base+i/250>.<1+i%250>.
func crashListen(base, i int) string {
	return fmt.Sprintf("198.18.%d.%d", base+i/250, 1+i%250)
}

// seedCrashBatch puts crashForwards forwards into LXD's database (no OVN
// rows) and removes them, and their rows, when the (sub)test ends.
func seedCrashBatch(t *testing.T, b *Bed, base int) { seedForwardBatch(t, b, base, crashForwards) }

// seedForwardBatch puts count forwards (crashListen(base, 0…count-1)) into
// LXD's database (no OVN rows) and removes them, and their rows, when the
// (sub)test ends.
func seedForwardBatch(t *testing.T, b *Bed, base, count int) {
	t.Helper()
	net := b.Get(t, "TB_NETWORK")
	id := b.NetworkID(t, net)
	var likes []string
	for o := base; o < base+(count+249)/250; o++ {
		likes = append(likes, fmt.Sprintf("listen_address LIKE '198.18.%d.%%'", o))
	}
	t.Cleanup(func() {
		b.LXDSQL(t, fmt.Sprintf("DELETE FROM networks_forwards WHERE network_id=%d AND (%s)", id, strings.Join(likes, " OR ")))
		// The product cleans NB up: the rows are stale now.
		r := b.ovnfwd(t, "repair", "--yes", "--network", net, "--deletion-budget", "-1", "--format", "json")
		if r.code != 0 {
			t.Errorf("cleanup repair: exit %d: %.2000s %s", r.code, r.stdout, r.stderr)
		}
	})
	ports := []api.NetworkForwardPort{tcp("80", "10.10.10.5", "")}
	const chunk = 500 // one SQL argument stays under the kernel's 128 KiB
	for start := 0; start < count; start += chunk {
		var listen []string
		for i := start; i < start+chunk && i < count; i++ {
			listen = append(listen, crashListen(base, i))
		}
		b.SeedForwards(t, net, listen, ports)
	}
}

// killMidRepair kill -9s a process (kill) once NB holds at least `at`
// rows of the batch but not all (alive: it still runs); it returns how many
// rows there were at the kill. output says what the process printed.
func killMidRepair(t *testing.T, w *nbNames, prefix string, base, at int, alive func() bool, kill func(), output func() string) int {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		n := w.rows(prefix, base)
		if !alive() {
			t.Fatalf("ended before the kill (%d rows written): %.3000s", n, output())
		}
		if n >= at {
			kill()
			if n = w.rows(prefix, base); n >= crashForwards {
				t.Fatalf("killed after every row was written (%d): not mid-repair", n)
			}
			return n
		}
		if time.Now().After(deadline) {
			kill()
			t.Fatalf("%d rows written in 120 s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// kill -9 in the middle of a 10,000-forward repair, by `ovnfwd repair` and
// by `ovnfwd run`: the repair spans many NB transactions, and whatever the
// moment of the kill, NB never holds two rows of one name (an NB monitor
// checks every transaction), and the next run converges.
func TestCrashMidRepair(t *testing.T) {
	b := Open(t)
	net, prefix := b.Get(t, "TB_NETWORK"), b.Prefix(t)
	w := watchNBNames(t, b)

	t.Run("repair", func(t *testing.T) {
		const base = 100 // 198.18.100–139
		seedCrashBatch(t, b, base)
		// --timeout: connecting (LXD, NB and SB) is not under test here,
		// and the cluster bed's machine is busy after the tests before.
		cmd := exec.Command(Binary(t), "repair", "--yes", "--network", net, "--timeout", "30s")
		cmd.Env = b.OperatorEnv()
		var out lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		alive := func() bool {
			select {
			case <-done:
				return false
			default:
				return true
			}
		}
		start := time.Now()
		at := killMidRepair(t, w, prefix, base, crashForwards/4, alive, func() { _ = cmd.Process.Signal(syscall.SIGKILL); <-done }, out.String)
		t.Logf("ovnfwd repair killed -9 after %v with %d of %d rows written", time.Since(start).Round(time.Millisecond), at, crashForwards)
		// --settle as generous as the run half's 300 s: at 10,000
		// forwards northd and the chassis take over a minute on a busy
		// bed (CI's Incus phase: the barrier's 5 s and the default 10 s
		// settle ran out, repair exited 1 with forwards still pending).
		r := b.ovnfwd(t, "repair", "--yes", "--network", net, "--format", "json", "--settle", "300s")
		if r.code != 0 {
			t.Fatalf("repair after the crash: exit %d: %.2000s %s", r.code, r.stdout, r.stderr)
		}
		if n := w.rows(prefix, base); n != crashForwards {
			t.Errorf("%d rows of the batch after the second repair, want %d", n, crashForwards)
		}
		if c := b.ovnfwd(t, "check", "--network", net); c.code != 0 {
			t.Errorf("check after the second repair: exit %d: %.2000s", c.code, c.stdout)
		}
	})

	t.Run("run", func(t *testing.T) {
		const base = 160 // 198.18.160–199
		seedCrashBatch(t, b, base)
		d := b.SpawnDaemon(t)
		start := time.Now()
		at := killMidRepair(t, w, prefix, base, crashForwards/4, func() bool {
			select {
			case <-d.done:
				return false
			default:
				return true
			}
		}, d.Kill, func() string { l := d.Log(); return "daemon log tail: " + l[max(0, len(l)-3000):] })
		t.Logf("ovnfwd run killed -9 after %v with %d of %d rows written", time.Since(start).Round(time.Millisecond), at, crashForwards)
		d = b.StartDaemon(t)
		// Generous: at 10,000 forwards every step is northd-bound (BENCHMARKS
		// §2), and the cluster bed's machine is busier.
		Eventually(t, 300*time.Second, time.Second, "every forward of the batch verified", func() string {
			fs, err := d.Forwards()
			if err != nil {
				return err.Error()
			}
			ok, other := 0, map[string]int{}
			sample := ""
			for listen, f := range fs {
				var a, b2, c3, x int
				if _, err := fmt.Sscanf(listen, "%d.%d.%d.%d", &a, &b2, &c3, &x); err != nil || a != 198 || b2 != 18 || c3 < base || c3 >= base+crashForwards/250 {
					continue
				}
				if f.State == "ok" {
					ok++
					continue
				}
				other[f.State]++
				sample = listen + ": " + f.State + ": " + f.Reason
			}
			if ok != crashForwards {
				return fmt.Sprintf("%d of %d ok; others by state %v, e.g. %s", ok, crashForwards, other, sample)
			}
			return ""
		})
		if n := w.rows(prefix, base); n != crashForwards {
			t.Errorf("%d rows of the batch after the restart, want %d", n, crashForwards)
		}
		t.Logf("converged %v after the restart", time.Since(start).Round(time.Millisecond))
	})

	if dups := w.duplicates(); len(dups) > 0 {
		t.Errorf("NB held two rows of one name at the end of %d transactions (of %d seen): %v", len(dups), w.txns, dups[:min(len(dups), 10)])
	}
	t.Logf("%d NB transactions checked for duplicate names", w.txns)
}

// lockedBuffer is a bytes.Buffer a process writes while the test reads it.
type lockedBuffer struct {
	mu  gosync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
