package sync

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// step is one input of a synthetic timeline: an observation of port
// (default gw) held by chassis at ms, or a tick at ms.
type step struct {
	ms      int
	chassis string
	port    string
	tick    bool
}

func obs(ms int, chassis string) step   { return step{ms: ms, chassis: chassis} }
func tick(ms int) step                  { return step{ms: ms, tick: true} }
func obsOn(ms int, port, c string) step { return step{ms: ms, chassis: c, port: port} }

var (
	gw  = GatewayPort("lxd-net2")
	gw3 = GatewayPort("lxd-net3")
	t0  = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// ev renders an event compactly: "<port?>kind from>to at=… conf=… gap=… flaps=…".
func ev(e ClaimEvent) string {
	port := ""
	if e.Port != gw {
		port = e.Port + " "
	}
	if e.Prefix != "" {
		if p, _ := GatewayPrefix(e.Port); p != e.Prefix {
			port += "BADPREFIX "
		}
	}
	s := fmt.Sprintf("%s%s %s>%s at=%d conf=%d gap=%d", port, e.Kind, e.From, e.To,
		e.At.Sub(t0).Milliseconds(), e.Confirmed.Sub(t0).Milliseconds(), e.Unclaimed.Milliseconds())
	if e.Previous != e.From {
		s += " prev=" + e.Previous
	}
	if e.Flaps > 0 {
		s += fmt.Sprintf(" flaps=%d", e.Flaps)
	}
	return s
}

func run(tr *ClaimTracker, steps []step) []string {
	var out []string
	for _, s := range steps {
		var evs []ClaimEvent
		if s.tick {
			evs = tr.Tick(at(s.ms))
		} else {
			port := s.port
			if port == "" {
				port = gw
			}
			evs = tr.Observe(at(s.ms), port, s.chassis)
		}
		for _, e := range evs {
			out = append(out, ev(e))
		}
	}
	return out
}

func TestClaimTracker(t *testing.T) {
	// BFD partition: A and B swap the claim every 500 ms for 5 s.
	var partition []step
	partition = append(partition, obs(0, "A"))
	for i := 1; i <= 10; i++ {
		c := "B"
		if i%2 == 0 {
			c = "A"
		}
		partition = append(partition, obs(10000+i*500, c))
	}
	partition = append(partition, tick(30000))

	tests := []struct {
		name     string
		debounce time.Duration
		steps    []step
		want     []string
	}{
		{name: "first observation sets the holder, no event",
			steps: []step{obs(0, "A"), tick(5000)}},
		{name: "first observation unclaimed, no event",
			steps: []step{obs(0, ""), tick(5000)}},
		{name: "repeated observations of the same holder: nothing",
			steps: []step{obs(0, "A"), obs(1000, "A"), obs(2000, "A"), tick(9000)}},
		{name: "direct failover (hard kill: the claim moves A→B)",
			steps: []step{obs(0, "A"), obs(10000, "B"), tick(10500), tick(11000)},
			want:  []string{"failover A>B at=10000 conf=11000 gap=0"}},
		{name: "failover through an unclaimed gap (graceful stop deletes A's rows)",
			steps: []step{obs(0, "A"), obs(10000, ""), obs(10200, "B"), tick(11200)},
			want:  []string{"failover A>B at=10200 conf=11200 gap=200 flaps=1"}},
		{name: "flap A→B→A within the window: no failover",
			steps: []step{obs(0, "A"), obs(10000, "B"), obs(10400, "A"), tick(20000)}},
		{name: "A→unclaimed→A within the window: no event",
			steps: []step{obs(0, "A"), obs(10000, ""), obs(10300, "A"), tick(20000)}},
		{name: "BFD partition: swaps every 500 ms never count",
			steps: partition},
		{name: "partition ends with B holding: one failover with the flaps",
			steps: append(slices.Clone(partition[:len(partition)-1]), obs(15600, "B"), tick(30000)),
			want:  []string{"failover A>B at=15600 conf=16600 gap=0 flaps=10"}},
		{name: "the last of several candidates wins, from its own start",
			steps: []step{obs(0, "A"), obs(10000, "B"), obs(10500, "C"), tick(11200), tick(11500)},
			want:  []string{"failover A>C at=10500 conf=11500 gap=0 flaps=1"}},
		{name: "lost, then restored by the same chassis",
			steps: []step{obs(0, "A"), obs(10000, ""), tick(11000), obs(15000, "A"), tick(16000)},
			want: []string{
				"lost A> at=10000 conf=11000 gap=1000",
				"restored >A at=15000 conf=16000 gap=5000 prev=A",
			}},
		{name: "lost, then claimed by another chassis: a failover with the whole gap",
			steps: []step{obs(0, "A"), obs(10000, ""), tick(11000), obs(12000, "C"), obs(12100, ""), obs(14000, "B"), tick(15000)},
			want: []string{
				"lost A> at=10000 conf=11000 gap=1000",
				"failover >B at=14000 conf=15000 gap=3900 prev=A flaps=2",
			}},
		{name: "unclaimed at start, then acquired",
			steps: []step{obs(0, ""), obs(3000, "B"), tick(4000)},
			want:  []string{"acquired >B at=3000 conf=4000 gap=3000"}},
		{name: "pre-emption: A fails over to B, then takes it back",
			steps: []step{obs(0, "A"), obs(10000, "B"), tick(11000), obs(20000, "C"), obs(20005, "A"), tick(21005)},
			want: []string{
				"failover A>B at=10000 conf=11000 gap=0",
				"failover B>A at=20005 conf=21005 gap=0 flaps=1",
			}},
		{name: "an observation releases what became stable before it",
			steps: []step{obs(0, "A"), obs(10000, "B"), obs(11000, "A")},
			want:  []string{"failover A>B at=10000 conf=11000 gap=0"}},
		{name: "an observation of one port releases another port's event",
			steps: []step{obs(0, "A"), obsOn(0, gw3, "A"), obsOn(1000, gw3, "B"), obs(5000, "A")},
			want:  []string{gw3 + " failover A>B at=1000 conf=2000 gap=0"}},
		{name: "no debounce: every change at once",
			debounce: -1,
			steps:    []step{obs(0, "A"), obs(10, "B"), obs(20, "A"), obs(30, ""), obs(40, "A")},
			want: []string{
				"failover A>B at=10 conf=10 gap=0",
				"failover B>A at=20 conf=20 gap=0",
				"lost A> at=30 conf=30 gap=0",
				"restored >A at=40 conf=40 gap=10 prev=A",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.debounce
			if d == 0 {
				d = DefaultClaimDebounce
			}
			tr := &ClaimTracker{Debounce: max(d, 0)}
			if got := run(tr, tt.steps); !slices.Equal(got, tt.want) {
				t.Errorf("events:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestClaimTrackerStatus(t *testing.T) {
	tr := &ClaimTracker{Debounce: time.Second}
	if _, ok := tr.Status(gw); ok {
		t.Error("untracked port has a status")
	}
	run(tr, []step{obs(0, "A"), obs(10000, ""), obs(10200, "B"), obs(10300, "A")})
	st, _ := tr.Status(gw)
	want := ClaimStatus{Holder: "A", Since: at(0), Current: "A", CurrentSince: at(10300), Changes: 3}
	if st != want {
		t.Errorf("status after flaps = %+v, want %+v", st, want)
	}
	if _, ok := tr.LastFailover(gw); ok {
		t.Error("flaps recorded as a failover")
	}

	run(tr, []step{obs(20000, ""), tick(20700)})
	if got := tr.UnclaimedFor(at(20700), gw); got != 700*time.Millisecond {
		t.Errorf("UnclaimedFor while unclaimed = %s", got)
	}
	run(tr, []step{obs(20900, "B"), tick(21900)})
	if got := tr.UnclaimedFor(at(21900), gw); got != 0 {
		t.Errorf("UnclaimedFor while claimed = %s", got)
	}
	last, ok := tr.Last(gw)
	fo, ok2 := tr.LastFailover(gw)
	if !ok || !ok2 || ev(last) != "failover A>B at=20900 conf=21900 gap=900 flaps=4" || ev(fo) != ev(last) {
		t.Errorf("Last = %s, LastFailover = %s", ev(last), ev(fo))
	}
	run(tr, []step{obs(30000, ""), tick(31000)})
	last, _ = tr.Last(gw)
	fo, _ = tr.LastFailover(gw)
	if last.Kind != ClaimLost || fo.To != "B" {
		t.Errorf("after loss: Last = %s, LastFailover = %s", ev(last), ev(fo))
	}

	if got := tr.Ports(); !slices.Equal(got, []string{gw}) {
		t.Errorf("Ports = %v", got)
	}
	tr.Forget(gw)
	if len(tr.Ports()) != 0 || tr.UnclaimedFor(at(40000), gw) != 0 {
		t.Error("Forget kept the port")
	}
}

func TestClaimTrackerObserveSB(t *testing.T) {
	sb := func(holders ...string) SBState {
		var st SBState
		for i, h := range holders {
			st.PortBindings = append(st.PortBindings, SBPortBinding{
				LogicalPort: GatewayPort(fmt.Sprintf("lxd-net%d", i+2)), Type: "chassisredirect", Chassis: h})
		}
		st.PortBindings = append(st.PortBindings,
			SBPortBinding{LogicalPort: "cr-other-port", Type: "chassisredirect", Chassis: "A"},
			SBPortBinding{LogicalPort: "lxd-net2-ls-ext-lsp-router", Type: "patch"})
		return st
	}
	tr := &ClaimTracker{Debounce: time.Second}
	if evs := tr.ObserveSB(at(0), sb("A", "A")); len(evs) != 0 {
		t.Errorf("first observation: %v", evs)
	}
	if got := tr.Ports(); !slices.Equal(got, []string{gw, gw3}) {
		t.Errorf("Ports = %v, want only the gateway ports", got)
	}
	tr.ObserveSB(at(1000), sb("B", "B"))
	evs := tr.ObserveSB(at(2000), sb("B"))
	var got []string
	for _, e := range evs {
		got = append(got, ev(e))
	}
	want := []string{"failover A>B at=1000 conf=2000 gap=0", gw3 + " failover A>B at=1000 conf=2000 gap=0"}
	if !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	if got := tr.Ports(); !slices.Equal(got, []string{gw}) {
		t.Errorf("Ports after lxd-net3 went = %v", got)
	}
	if evs[0].Prefix != "lxd-net2" {
		t.Errorf("prefix %q", evs[0].Prefix)
	}
}
