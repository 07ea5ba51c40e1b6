package sync

import "testing"

func TestChangeSetsOnlyOptions(t *testing.T) {
	vips := map[string]string{"198.51.100.10:80": "10.10.10.5:80"}
	other := map[string]string{"198.51.100.10:80": "10.10.10.6:80"}
	opts := map[string]string{OptionNeighborResponder: ARPResponderAll}
	for _, c := range []struct {
		name string
		ops  []Op
		want bool
	}{
		{"options on the row's own VIPs", []Op{{Kind: OpUpdateLB, VIPs: vips, OldVIPs: vips, Options: opts}}, true},
		{"two rows, options only", []Op{{Kind: OpUpdateLB, VIPs: vips, OldVIPs: vips}, {Kind: OpUpdateLB, VIPs: other, OldVIPs: other}}, true},
		{"VIPs back to others", []Op{{Kind: OpUpdateLB, VIPs: vips, OldVIPs: other, Options: opts}}, false},
		{"a VIP more", []Op{{Kind: OpUpdateLB, VIPs: vips, OldVIPs: map[string]string{}}}, false},
		{"a create", []Op{{Kind: OpCreateLB, VIPs: vips}}, false},
		{"options and an attach", []Op{{Kind: OpUpdateLB, VIPs: vips, OldVIPs: vips}, {Kind: OpAttachRouter}}, false},
		{"nothing", nil, false},
	} {
		if got := (Change{Ops: c.ops}).SetsOnlyOptions(); got != c.want {
			t.Errorf("%s: SetsOnlyOptions() = %v, want %v", c.name, got, c.want)
		}
	}
}
