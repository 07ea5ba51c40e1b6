//go:build bedbench

package engine

// Benchmarks of the Daemon's hot paths against the real test bed (make
// bench seeds it): go test -tags bedbench -run '^$' -bench Bed ./cmd/ovnfwd/
// with integration/.testbed/env sourced.

import (
	"context"
	"os"
	"testing"

	"go.uber.org/zap"

	"github.com/ovnfwd/ovnfwd/lxdwatch"
	"github.com/ovnfwd/ovnfwd/ovn"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

func bedEngine(b *testing.B) *Engine {
	ctx := context.Background()
	l, err := lxdwatch.Connect(ctx, lxdwatch.Config{URL: os.Getenv("OVNFWD_LXD")})
	if err != nil {
		b.Skip("no bed: ", err)
	}
	nb, err := ovn.DialNB(ctx, ovn.Config{Endpoints: []string{os.Getenv("OVNFWD_NB")}, ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nb.Close)
	sb, err := ovn.DialSB(ctx, ovn.Config{Endpoints: []string{os.Getenv("OVNFWD_SB")}, ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sb.Close)
	e := newEngine(l, nb, sb, fwdsync.Options{DeletionBudget: 100, ARPResponder: fwdsync.ARPResponderAuto}, zap.NewNop())
	if _, err := e.pass(ctx, false); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d forwards, %v", len(e.allStatuses()), e.stateCounts())
	return e
}

// BenchmarkBedReverify: what a stable claim change costs the worker.
func BenchmarkBedReverify(b *testing.B) {
	e := bedEngine(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if sts := e.reverify(); len(sts) == 0 {
			b.Fatal("nothing verified")
		}
	}
}

// BenchmarkBedRegate: the same after a claim change with nothing else
// changed (the verdicts re-judged).
func BenchmarkBedRegate(b *testing.B) {
	e := bedEngine(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if sts, ok := e.regate(); !ok || len(sts) == 0 {
			b.Fatal("no regate")
		}
	}
}
