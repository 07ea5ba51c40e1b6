package engine

import (
	"github.com/ovnfwd/ovnfwd/engine/enginetest"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
	"go.uber.org/zap"
)

// The tests' fakes and fixture live in enginetest (the commands' tests use
// them too); these are their short names here.
type (
	fakeLXD = enginetest.LXD
	fakeNB  = enginetest.NB
	fxSB    = enginetest.SB
)

// newEngine is New with the tests' usual arguments.
func newEngine(l LXD, nb NB, sb SB, opts fwdsync.Options, log *zap.Logger) *Engine {
	return New(Config{LXD: l, NB: nb, SB: sb, Options: opts, Logger: log})
}
