package engine

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

// testLimits are DefaultHTTPLimits shrunk for tests.
var testLimits = HTTPLimits{
	ReadHeaderTimeout: 300 * time.Millisecond,
	ReadTimeout:       500 * time.Millisecond,
	WriteTimeout:      time.Second,
	IdleTimeout:       500 * time.Millisecond,
	MaxHeaderBytes:    4 << 10,
	MaxConcurrent:     2,
}

// serveTest serves a fresh daemon's API (not running: not ready) with lim.
func serveTest(t *testing.T, lim HTTPLimits, pprofOn bool) (string, *http.Server) {
	t.Helper()
	d := NewDaemon(DaemonConfig{Logger: zap.NewNop(), Pprof: pprofOn, Chassis: "ch1", Version: "v-test"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := d.serveOn(ln, lim)
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String(), srv
}

// closedWithin reports whether the server closes conn within d (reading
// and discarding whatever it sends first).
func closedWithin(t *testing.T, conn net.Conn, d time.Duration) bool {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true // EOF or reset: closed by the server
}

func TestDefaultHTTPLimitsSet(t *testing.T) {
	l := DefaultHTTPLimits
	if l.ReadHeaderTimeout <= 0 || l.ReadTimeout < l.ReadHeaderTimeout || l.WriteTimeout <= 0 || l.IdleTimeout <= 0 ||
		l.MaxHeaderBytes <= 0 || l.MaxConcurrent <= 0 {
		t.Fatalf("%+v", l)
	}
}

// Every endpoint answers as before behind the limits.
func TestHTTPNormalRequests(t *testing.T) {
	base, _ := serveTest(t, testLimits, false)
	for path, code := range map[string]int{"/healthz": 200, "/readyz": 503, "/metrics": 200, "/forwards": 200,
		"/findings": 200, "/failovers": 200, "/member": 200, "/routes": 200, "/debug/pprof/": 404} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("%s: HTTP %d %q, want %d", path, resp.StatusCode, body, code)
		}
	}
	// /routes names the member's chassis even with BGP off (status shows it).
	resp, err := http.Get(base + "/routes")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rs RouteStatus
	if err := json.NewDecoder(resp.Body).Decode(&rs); err != nil || rs.Chassis != "ch1" || rs.Enabled {
		t.Errorf("/routes %+v %v", rs, err)
	}
}

// A client that never finishes its request headers is cut after
// ReadHeaderTimeout, one that never finishes its body after ReadTimeout,
// and an idle kept-alive connection after IdleTimeout.
func TestHTTPSlowClientsCut(t *testing.T) {
	base, _ := serveTest(t, testLimits, false)
	addr := strings.TrimPrefix(base, "http://")
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	t.Run("headers", func(t *testing.T) {
		c := dial()
		start := time.Now()
		fmt.Fprintf(c, "GET /member HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		// Trickle header bytes: each arrives well inside any per-read
		// timeout, the headers never end.
		go func() {
			for i := 0; i < 40; i++ {
				time.Sleep(50 * time.Millisecond)
				if _, err := c.Write([]byte("a")); err != nil {
					return
				}
			}
		}()
		if !closedWithin(t, c, 3*time.Second) {
			t.Fatal("a client trickling its headers is still connected after 3 s")
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("cut after %v, ReadHeaderTimeout is %v", took, testLimits.ReadHeaderTimeout)
		}
	})

	t.Run("body", func(t *testing.T) {
		c := dial()
		start := time.Now()
		fmt.Fprintf(c, "POST /member HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789")
		if !closedWithin(t, c, 3*time.Second) {
			t.Fatal("a client that never finishes its body is still connected after 3 s")
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("cut after %v, ReadTimeout is %v", took, testLimits.ReadTimeout)
		}
	})

	t.Run("idle", func(t *testing.T) {
		c := dial()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		start := time.Now()
		if !closedWithin(t, c, 3*time.Second) {
			t.Fatal("an idle kept-alive connection is still open after 3 s")
		}
		if took := time.Since(start); took < testLimits.IdleTimeout/2 || took > 2*time.Second {
			t.Errorf("idle connection closed after %v, IdleTimeout is %v", took, testLimits.IdleTimeout)
		}
	})

	t.Run("huge headers", func(t *testing.T) {
		req, _ := http.NewRequest("GET", base+"/member", nil)
		req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("64 KiB header with MaxHeaderBytes 4 KiB: HTTP %d", resp.StatusCode)
		}
	})
}

// Requests beyond MaxConcurrent are answered 503 with Retry-After at
// once; /healthz is always answered; the slots come back.
func TestHTTPConcurrencyLimit(t *testing.T) {
	release := make(chan struct{})
	var inFlight atomic.Int32
	h := limitConcurrency(2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			inFlight.Add(1)
			<-release
		}
		fmt.Fprintln(w, "ok")
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	base := "http://" + ln.Addr().String()

	done := make(chan int, 2)
	for range 2 {
		go func() {
			resp, err := http.Get(base + "/block")
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
	}
	waitFor(t, "two requests in flight", func() bool { return inFlight.Load() == 2 })

	start := time.Now()
	resp, err := http.Get(base + "/member")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || time.Since(start) > time.Second {
		t.Errorf("third request: HTTP %d Retry-After %q after %v", resp.StatusCode, resp.Header.Get("Retry-After"), time.Since(start))
	}
	resp, err = http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("/healthz while full: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	close(release)
	for range 2 {
		if code := <-done; code != 200 {
			t.Errorf("blocked request: HTTP %d", code)
		}
	}
	resp, err = http.Get(base + "/member")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after release: %v %v", resp, err)
	}
	resp.Body.Close()
}

// The daemon's own server applies the limit: a CPU profile holds one of
// MaxConcurrent=1 slots, /member gets 503, /healthz 200; and pprof still
// works for a profile as long as the WriteTimeout (pprof refuses that
// against a plain server).
func TestHTTPDaemonLimitAndPprof(t *testing.T) {
	lim := testLimits
	lim.MaxConcurrent = 1
	base, _ := serveTest(t, lim, true)

	type result struct {
		code int
		body []byte
		err  error
	}
	prof := make(chan result, 1)
	go func() {
		// The test's own /member polls below may hold the only slot when
		// the profile arrives: it is then refused (503) and asked again.
		for try := 0; ; try++ {
			resp, err := http.Get(base + "/debug/pprof/profile?seconds=1") // = WriteTimeout
			if err != nil {
				prof <- result{err: err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable && try < 100 {
				time.Sleep(2 * time.Millisecond)
				continue
			}
			prof <- result{resp.StatusCode, b, err}
			return
		}
	}()

	waitFor(t, "the profile to hold the only slot", func() bool {
		resp, err := http.Get(base + "/member")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz while full: %v %v", resp, err)
	}
	resp.Body.Close()

	r := <-prof
	if r.err != nil || r.code != 200 || len(r.body) == 0 {
		t.Fatalf("profile: HTTP %d %q %v", r.code, r.body, r.err)
	}
	resp, err = http.Get(base + "/member")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/member after the profile: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get(base + "/debug/pprof/goroutine?debug=1")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("goroutine profile: %v %v", resp, err)
	}
	resp.Body.Close()
}
