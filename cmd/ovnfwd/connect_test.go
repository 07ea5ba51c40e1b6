package main

import (
	"testing"
)

func TestDeriveSB(t *testing.T) {
	for in, want := range map[string]string{
		"unix:/run/ovn/ovnnb_db.sock":         "unix:/run/ovn/ovnsb_db.sock",
		"unix:/x/central/nb.sock":             "unix:/x/central/sb.sock",
		"tcp:10.0.0.1:6641,tcp:10.0.0.2:6641": "tcp:10.0.0.1:6642,tcp:10.0.0.2:6642",
		"ssl:[2001:db8::1]:6641":              "ssl:[2001:db8::1]:6642",
		"tcp:10.0.0.1:7000":                   "tcp:10.0.0.1:7000",
	} {
		if got := deriveSB(in); got != want {
			t.Errorf("deriveSB(%q) = %q, want %q", in, got, want)
		}
	}
}
