package sync

import (
	"reflect"
	"strings"
	"testing"
)

func TestMemberChassis(t *testing.T) {
	ms := []Member{
		{Name: "m1", Published: map[string]string{PublishedChassis: "ch1"}},
		{Name: "m2", Published: map[string]string{PublishedChassis: "ch2"}},
		{Name: "m3"},
	}
	got := MemberChassis(ms, map[string]string{"m2": "chX", "m4": "ch4"})
	want := map[string]string{"m1": "ch1", "m2": "chX", "m4": "ch4"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MemberChassis = %v, want %v (explicit pairs win, unpublished members are left out)", got, want)
	}
}

func TestPolicyTellsWritersApart(t *testing.T) {
	base := Options{DeletionBudget: 100, ARPResponder: ARPResponderAuto}
	ha := &HAOptions{}
	p := Policy(base, ha, "10s/5s")
	for name, other := range map[string]string{
		"arp-responder": Policy(Options{DeletionBudget: 100, ARPResponder: ARPResponderOff}, ha, "10s/5s"),
		"budget":        Policy(Options{DeletionBudget: 5, ARPResponder: ARPResponderAuto}, ha, "10s/5s"),
		"ha off":        Policy(base, nil, "10s/5s"),
		"ha removes":    Policy(base, &HAOptions{RemoveUnresponsive: true}, "10s/5s"),
		"liveness":      Policy(base, ha, "1s/5s"),
	} {
		if other == p {
			t.Errorf("%s: same policy %q", name, p)
		}
	}
	if Policy(base, &HAOptions{}, "10s/5s") != p {
		t.Error("the same settings render differently")
	}
}

func TestMemberConfigFindings(t *testing.T) {
	pub := func(ver, pol string) map[string]string {
		return map[string]string{PublishedVersion: ver, PublishedPolicy: pol}
	}
	ms := []Member{
		{Name: "m1", Published: pub("v2", "arp-responder=auto")},
		{Name: "m2", Published: pub("v2", "arp-responder=off")},
		{Name: "m3", Published: pub("v1", "arp-responder=auto")},
		{Name: "m4", Published: pub("v2", "arp-responder=auto")},
		{Name: "m5"}, // no ovnfwd: not judged
	}
	fs := MemberConfigFindings(ms, "m1")
	if len(fs) != 2 {
		t.Fatalf("%d findings, want 2 (m2, m3): %+v", len(fs), fs)
	}
	for i, want := range []string{"LXD member m2", "LXD member m3"} {
		f := fs[i]
		if f.Category != CatMemberConfigMismatch || f.Severity != SeverityWarning || !strings.HasPrefix(f.Detail, want) ||
			!strings.Contains(f.Detail, "writer m1") || f.Key != (ForwardKey{}) {
			t.Errorf("finding %d: %+v", i, f)
		}
	}
	if !strings.Contains(fs[0].Detail, `policy "arp-responder=off"`) || !strings.Contains(fs[1].Detail, "version v1 (writer v2)") {
		t.Errorf("details do not say what differs: %q / %q", fs[0].Detail, fs[1].Detail)
	}
	if got := MemberConfigFindings(ms, "nobody"); got != nil {
		t.Errorf("unknown writer: %+v", got)
	}
	if got := MemberConfigFindings(ms, "m5"); got != nil {
		t.Errorf("writer that published nothing: %+v", got)
	}
}

func TestWriterIsTheNewestToTakeOver(t *testing.T) {
	ms := []Member{
		{Name: "m1", Published: map[string]string{PublishedWriterSince: "2026-12-01T10:00:00Z"}},
		{Name: "m2", Published: map[string]string{PublishedWriterSince: "2026-12-01T10:05:00.5Z"}},
		{Name: "m3", Published: map[string]string{PublishedWriterSince: "not a time"}},
		{Name: "m4"},
	}
	if w := Writer(ms); w != "m2" {
		t.Errorf("Writer = %q, want m2", w)
	}
	if w := Writer(ms[2:]); w != "" {
		t.Errorf("Writer with none published = %q", w)
	}
}
