package engine

import (
	"context"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// Prefetch is an LXD whose first List was started early, while the
// OVN databases were still being dialed and downloaded: a read-only check
// then costs about the longer of the two reads instead of their sum.
//
// That first listing is not ordered after the NB snapshot the way a pass
// orders its reads (NB first, then LXD), so a forward created or deleted
// during the check could look stale or missing. It is only ever used by
// check, which never writes, and runOneShot confirms any finding with a
// second, ordered pass (see overlapped).
type Prefetch struct {
	LXD
	done chan struct{}
	st   fwdsync.LXDState
	err  error
	used bool
}

// StartPrefetch starts listing every forward now.
func StartPrefetch(ctx context.Context, src LXD) *Prefetch {
	p := &Prefetch{LXD: src, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.st, p.err = src.List(ctx)
	}()
	return p
}

// List returns the prefetched listing the first time, a live one after.
func (p *Prefetch) List(ctx context.Context) (fwdsync.LXDState, error) {
	if p.used {
		return p.LXD.List(ctx)
	}
	p.used = true
	select {
	case <-p.done:
		return p.st, p.err
	case <-ctx.Done():
		return fwdsync.LXDState{}, ctx.Err()
	}
}

// overlapped reports whether the last List served the early listing, not
// one taken after the NB snapshot.
func (p *Prefetch) overlapped() bool { return p.used }
