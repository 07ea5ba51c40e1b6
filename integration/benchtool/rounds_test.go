//go:build bench

package main

import (
	"strings"
	"testing"
)

func TestRoundsSplitsInOrder(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	rs := rounds(xs, 5)
	if len(rs) != 5 {
		t.Fatalf("%d rounds, want 5", len(rs))
	}
	var joined []float64
	for _, r := range rs {
		if len(r) < 2 || len(r) > 3 {
			t.Errorf("round of %d samples, want 2 or 3: %v", len(r), rs)
		}
		joined = append(joined, r...)
	}
	for i := range xs {
		if joined[i] != xs[i] {
			t.Fatalf("rounds %v do not hold the samples in order", rs)
		}
	}
	if rounds(xs[:4], 5) != nil {
		t.Error("4 samples split into 5 rounds")
	}
}

func TestRoundsTextSpread(t *testing.T) {
	// Rounds of two: p99 of each is its larger sample.
	xs := []float64{0.010, 0.020, 0.030, 0.040, 0.050, 0.060, 0.070, 0.080, 0.090, 0.100}
	got := roundsText(xs)
	if !strings.Contains(got, "p99 20.0 ms / 60.0 ms / 100.0 ms") || !strings.Contains(got, "over 5 rounds of 2 consecutive") {
		t.Errorf("roundsText = %q", got)
	}
	if roundsText(xs[:3]) != "" {
		t.Error("a spread over rounds from 3 samples")
	}
}
