package engine

import (
	"slices"
	"testing"
	"time"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

func TestQueueCoalesces(t *testing.T) {
	q := newQueue()
	k := fwdsync.ForwardKey{Network: "ovn0", ListenAddress: "198.51.100.1"}
	t0 := time.Now()
	q.add(workItem{key: k, trigger: "nb-change", since: t0.Add(time.Second)})
	q.add(workItem{key: k, read: readFresh, trigger: "lxd-event", since: t0})
	q.addFull("periodic")
	q.addFull("start") // one pending full pass, first trigger kept
	q.addFull("start")
	q.addFull("periodic")
	q.addReverify(false)
	b := q.take(time.Now(), settleTimes{})
	if b.full != "periodic" || !slices.Equal(b.fullAlso, []string{"start"}) || !b.reverifyPending || b.reverifyAll {
		t.Fatalf("batch %+v", b)
	}
	if len(b.items) != 1 || b.items[0].read != readFresh || !b.items[0].since.Equal(t0) {
		t.Fatalf("items %+v: want one fresh item with the earliest trigger time", b.items)
	}
	if b = q.take(time.Now(), settleTimes{}); b.full != "" || b.fullAlso != nil || len(b.items) != 0 {
		t.Fatalf("second take not empty: %+v", b)
	}
}

// NB names are held until they have been quiet for the settle time, and
// are busy meanwhile.
func TestQueueSettlesNames(t *testing.T) {
	q := newQueue()
	q.addName("lxd-net2-lb-198.51.100.1-tcp")
	if !q.busy("lxd-net2-lb-198.51.100.1-tcp") || q.busy("other") {
		t.Fatal("busy() wrong")
	}
	b := q.take(time.Now(), settleTimes{edited: time.Hour})
	if len(b.names) != 0 {
		t.Fatalf("a name was released before it settled: %v", b.names)
	}
	b = q.take(time.Now().Add(2*time.Hour), settleTimes{edited: time.Hour})
	if len(b.names) != 1 || q.busy("lxd-net2-lb-198.51.100.1-tcp") {
		t.Fatalf("settled name not released: %v", b.names)
	}
	// A name whose row was inserted waits the inserted settle, even when a
	// change of it (the insertion's own attachment) follows.
	q.addInserted("new")
	q.addName("new")
	if b = q.take(time.Now(), settleTimes{inserted: time.Hour}); len(b.names) != 0 {
		t.Fatalf("an inserted name was released before it settled: %v", b.names)
	}
	q.addName("edited")
	if b = q.take(time.Now(), settleTimes{inserted: time.Hour}); len(b.names) != 1 || b.names["edited"].IsZero() {
		t.Fatalf("an edited name was not released at once: %v", b.names)
	}
	_ = q.take(time.Now().Add(2*time.Hour), settleTimes{inserted: time.Hour})
	<-q.wake
	// The worker is woken when a held name becomes due.
	q.addName("n")
	<-q.wake // from addName
	_ = q.take(time.Now(), settleTimes{edited: 20 * time.Millisecond})
	select {
	case <-q.wake:
	case <-time.After(2 * time.Second):
		t.Fatal("no wake-up when the held name became due")
	}
}

func TestBackoff(t *testing.T) {
	if Backoff(0) != 50*time.Millisecond || Backoff(1) != 100*time.Millisecond || Backoff(30) != 30*time.Second {
		t.Fatalf("backoff: %v %v %v", Backoff(0), Backoff(1), Backoff(30))
	}
}

// A full pass covers the NB changes queued before it read NB, except the
// rows it skipped as busy (someone was mid-write): those keep their
// reconcile (a writer's first pass after a takeover lost a drift repair
// that way).
func TestQueueDropNamesBeforeKeepsPostponed(t *testing.T) {
	q := newQueue()
	q.addName("covered")
	q.addName("busy")
	time.Sleep(time.Millisecond)
	start := time.Now()
	q.addName("later")
	q.dropNamesBefore(start, map[string]bool{"busy": true})
	for name, want := range map[string]bool{"covered": false, "busy": true, "later": true} {
		if got := q.busy(name); got != want {
			t.Errorf("%s queued %v after the pass, want %v", name, got, want)
		}
	}
}

// A held name goes back in the queue (busy for the full pass), and an
// LXD event for its forward releases it at once.
func TestQueueHoldAndRelease(t *testing.T) {
	q := newQueue()
	q.addInserted("a")
	b := q.take(time.Now().Add(time.Second), settleTimes{inserted: time.Millisecond})
	c, ok := b.server["a"]
	if !ok || len(b.names) != 1 {
		t.Fatalf("an inserted name is not marked as a possible server write: %+v", b)
	}
	c.cfg = 7
	q.hold("a", c, time.Hour)
	if !q.busy("a") {
		t.Fatal("a held name is not busy")
	}
	if b = q.take(time.Now().Add(time.Second), settleTimes{inserted: time.Millisecond}); b.server["a"].cfg != 7 {
		t.Fatalf("the hold's target was lost: %+v", b.server)
	}
	q.hold("a", b.server["a"], time.Hour)
	got := q.release(func(n string, _ time.Time) bool { return n == "a" })
	if _, ok := got["a"]; !ok || q.busy("a") {
		t.Fatalf("release: %v, still busy %v", got, q.busy("a"))
	}
}
