package engine

import (
	"encoding/json"
	"testing"
)

// roundTrip checks that a value decoded from body re-encodes to JSON that
// decodes to a value encoding the same: what the daemon serves reads back
// exactly.
func roundTrip[T any](t *testing.T, body []byte) {
	t.Helper()
	v, ok := strictDecode[T](body)
	if !ok {
		return
	}
	first, err := json.Marshal(v)
	if err != nil {
		return // e.g. a time past year 9999: the daemon never has one
	}
	var w T
	if err := json.Unmarshal(first, &w); err != nil {
		t.Fatalf("%T: %s does not decode: %v", v, first, err)
	}
	second, err := json.Marshal(w)
	if err != nil || string(second) != string(first) {
		t.Fatalf("%T: %s re-encodes as %s (%v)", v, first, second, err)
	}
}

// FuzzDaemonJSON: every JSON type the daemon serves (/forwards,
// /findings, /failovers, /routes, /member) and check/repair print
// round-trips: decode, encode, decode, encode gives the same bytes.
func FuzzDaemonJSON(f *testing.F) {
	f.Add([]byte(`[{"project":"default","network":"ovn1","listen_address":"198.51.100.10","state":"ok","rows":{"lxd-net2-lb-198.51.100.10-tcp":{"198.51.100.10:80":"10.2.0.5:80"}}}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		roundTrip[[]ForwardOut](t, body)
		roundTrip[ForwardOut](t, body)
		roundTrip[[]FindingOut](t, body)
		roundTrip[[]FailoverRecord](t, body)
		roundTrip[FailoverRecord](t, body)
		roundTrip[RouteStatus](t, body)
		roundTrip[MemberInfo](t, body)
		roundTrip[Report](t, body)
	})
}
