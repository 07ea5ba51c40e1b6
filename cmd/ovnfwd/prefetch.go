package main

import (
	"context"
	"errors"

	"github.com/ovnfwd/ovnfwd/lxdwatch"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// prefetchLXD is an lxdSource whose first List was started early, while the
// OVN databases were still being dialed and downloaded: a read-only check
// then costs about the longer of the two reads instead of their sum.
//
// That first listing is not ordered after the NB snapshot the way a pass
// orders its reads (NB first, then LXD), so a forward created or deleted
// during the check could look stale or missing. It is only ever used by
// check, which never writes, and runOneShot confirms any finding with a
// second, ordered pass (see overlapped).
type prefetchLXD struct {
	lxdSource
	done chan struct{}
	st   fwdsync.LXDState
	err  error
	used bool
}

// startPrefetch starts listing every forward now.
func startPrefetch(ctx context.Context, src lxdSource) *prefetchLXD {
	p := &prefetchLXD{lxdSource: src, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.st, p.err = src.List(ctx)
	}()
	return p
}

// List returns the prefetched listing the first time, a live one after.
func (p *prefetchLXD) List(ctx context.Context) (fwdsync.LXDState, error) {
	if p.used {
		return p.lxdSource.List(ctx)
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
func (p *prefetchLXD) overlapped() bool { return p.used }

// The engine finds optional LXD reads (cluster members for HA hygiene,
// uplink config for route findings) by type assertion: the wrapper must
// offer every one the client has.
var (
	_ memberLister = (*prefetchLXD)(nil)
	_ uplinkSource = (*prefetchLXD)(nil)
	_ memberLister = (*lxdwatch.Client)(nil)
	_ uplinkSource = (*lxdwatch.Client)(nil)
)

// errNoMembers: the wrapped source cannot list cluster members.
var errNoMembers = errors.New("LXD source cannot list cluster members")

// Members passes the cluster member listing through to the LXD client.
func (p *prefetchLXD) Members(ctx context.Context) ([]lxdwatch.Member, error) {
	src, ok := p.lxdSource.(memberLister)
	if !ok {
		return nil, errNoMembers
	}
	return src.Members(ctx)
}

// NetworkConfig passes uplink reads through to the LXD client.
func (p *prefetchLXD) NetworkConfig(ctx context.Context, project, name string) (map[string]string, bool, error) {
	src, ok := p.lxdSource.(uplinkSource)
	if !ok {
		return nil, false, nil
	}
	return src.NetworkConfig(ctx, project, name)
}
