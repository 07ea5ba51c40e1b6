package ovn

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// pemSource is one argument of LoadTLSConfig: PEM text, which never changes,
// or the name of a file, which is re-read when it changes.
type pemSource struct {
	arg  string // the file name, or the PEM text itself
	what string // prefix of a read error: "read CA certificate"
	text []byte // the PEM text; nil for a file
}

func newPEMSource(arg, what string) pemSource {
	s := pemSource{arg: arg, what: what}
	if isPEMText(arg) {
		s.text = []byte(arg)
	}
	return s
}

// isPEMText tells PEM text (LXD's network.ovn.* settings) from a file name.
func isPEMText(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), "-----BEGIN") }

func (s pemSource) static() bool { return s.text != nil }

// name is how an error names the source: the file, never the PEM text.
func (s pemSource) name() string {
	if s.static() {
		return "(PEM text)"
	}
	return s.arg
}

// read returns the source's bytes and, for a file, the stat of the file
// actually read (of the open descriptor, so it matches the bytes).
func (s pemSource) read() ([]byte, os.FileInfo, error) {
	if s.static() {
		return s.text, nil, nil
	}
	f, err := os.Open(s.arg)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.what, err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: read %s: %w", s.what, s.arg, err)
	}
	return b, fi, nil
}

// sameFile reports whether the file now at a path (now, statErr) is the one
// last read (then, nil when that read failed): same file, mtime and size.
func sameFile(then, now os.FileInfo, statErr error) bool {
	if then == nil || statErr != nil {
		// A file that could not be read (gone mid-rotation) is not retried
		// until it can at least be stat'ed again.
		return then == nil && statErr != nil
	}
	return os.SameFile(then, now) && then.ModTime().Equal(now.ModTime()) && then.Size() == now.Size()
}

// reloader keeps material parsed from PEM sources (a CA pool, a certificate
// and its key). Before each use it stats the files among its sources and,
// when one changed (mtime, size or the file itself, as after a rename),
// re-reads and re-parses them all. When that fails, for example because a
// certificate and its key are mid-rotation and do not match yet, it keeps
// the last good material and tries again at the next change; the failure
// is returned only when there never was good material.
type reloader[T any] struct {
	srcs  []pemSource
	parse func(pems [][]byte) (T, error)

	mu     sync.Mutex
	stamps []os.FileInfo // of the last read of each file source
	cur    T
	good   bool
	err    error // of the last load
}

func newReloader[T any](parse func([][]byte) (T, error), srcs ...pemSource) *reloader[T] {
	r := &reloader[T]{srcs: srcs, parse: parse, stamps: make([]os.FileInfo, len(srcs))}
	r.load()
	return r
}

// static reports whether no source is a file: the material never changes.
func (r *reloader[T]) static() bool {
	for _, s := range r.srcs {
		if !s.static() {
			return false
		}
	}
	return true
}

// get returns the current material, re-read if a file changed.
func (r *reloader[T]) get() (T, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.changed() {
		r.load()
	}
	if !r.good {
		var zero T
		return zero, r.err
	}
	return r.cur, nil
}

// lastErr is the error of the last load (nil when it succeeded).
func (r *reloader[T]) lastErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *reloader[T]) changed() bool {
	for i, s := range r.srcs {
		if s.static() {
			continue
		}
		fi, err := os.Stat(s.arg)
		if !sameFile(r.stamps[i], fi, err) {
			return true
		}
	}
	return false
}

// load reads every source and parses them; the caller holds mu (or is the
// constructor).
func (r *reloader[T]) load() {
	pems := make([][]byte, len(r.srcs))
	var readErr error
	for i, s := range r.srcs {
		b, fi, err := s.read()
		r.stamps[i] = fi
		pems[i] = b
		if readErr == nil {
			readErr = err
		}
	}
	if readErr != nil {
		r.err = readErr
		return
	}
	v, err := r.parse(pems)
	if err != nil {
		r.err = err
		return
	}
	r.cur, r.good, r.err = v, true, nil
}

// caPool reloads the CA certificates that the server certificate must chain to.
func caPool(ca pemSource) *reloader[*x509.CertPool] {
	return newReloader(func(pems [][]byte) (*x509.CertPool, error) {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pems[0]) {
			return nil, fmt.Errorf("read CA certificate %s: no PEM certificate found", ca.name())
		}
		return pool, nil
	}, ca)
}

// clientPair reloads the client certificate and its key.
func clientPair(cert, key pemSource) *reloader[*tls.Certificate] {
	return newReloader(func(pems [][]byte) (*tls.Certificate, error) {
		c, err := tls.X509KeyPair(pems[0], pems[1])
		if err != nil {
			return nil, fmt.Errorf("load client certificate %s with key %s: %w", cert.name(), key.name(), err)
		}
		return &c, nil
	}, cert, key)
}
