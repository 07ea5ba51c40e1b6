package sync

import (
	"testing"
)

func TestSplitVIP(t *testing.T) {
	for vip, want := range map[string][2]string{
		"198.51.100.1:80":   {"198.51.100.1", "80"},
		"198.51.100.1":      {"198.51.100.1", ""},
		"[2001:db8::1]:443": {"2001:db8::1", "443"},
		"2001:db8::1":       {"2001:db8::1", ""},
		"[2001:db8::1]":     {"2001:db8::1", ""},
	} {
		if a, p := SplitVIP(vip); a != want[0] || p != want[1] {
			t.Errorf("SplitVIP(%q) = %q, %q; want %q", vip, a, p, want)
		}
	}
}
