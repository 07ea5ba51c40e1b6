package ovn

import "errors"

var (
	// ErrConflict means the database no longer matches the state a change was
	// planned from: a guard (wait) failed, or the server refused the change on
	// referential-integrity or constraint grounds. Nothing was written; re-plan
	// from a fresh snapshot.
	ErrConflict = errors.New("conflicting concurrent change")
	// ErrReadOnly is returned by writes on a client opened with ReadOnly.
	ErrReadOnly = errors.New("ovn client is read-only")
	// ErrBarrierTimeout means northd did not catch up with a barrier in time.
	ErrBarrierTimeout = errors.New("barrier timed out waiting for northd")
	// ErrNotConnected is returned by writes while the client is (re)connecting.
	ErrNotConnected = errors.New("not connected to the ovn database")
	// ErrClosed is returned by writes after Close.
	ErrClosed = errors.New("ovn client closed")
)
