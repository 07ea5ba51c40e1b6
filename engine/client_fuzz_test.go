package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	gosync "sync"
	"testing"
	"time"
)

// fuzzDaemon is one fake daemon whose answers each fuzz input sets.
type fuzzDaemon struct {
	mu     gosync.Mutex
	codes  map[string]int
	bodies map[string][]byte
}

func (d *fuzzDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	code, ok := d.codes[r.URL.Path]
	body := d.bodies[r.URL.Path]
	d.mu.Unlock()
	if !ok {
		code = http.StatusNotFound
	}
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// strictDecode decodes body as the daemon's JSON of a T: valid JSON of
// that type, not null.
func strictDecode[T any](body []byte) (T, bool) {
	var v T
	if bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		return v, false
	}
	err := json.Unmarshal(body, &v)
	return v, err == nil
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return string(b)
}

// fuzzCodes picks an endpoint's status from 3 bits (mostly 200).
var fuzzCodes = [8]int{200, 200, 200, 200, 200, 503, 404, 500}

var fuzzPaths = [5]string{"/readyz", "/failovers", "/routes", "/findings", "/member"}

// FuzzQueryDaemons serves fuzzed answers (status and body of /readyz,
// /failovers, /routes, /findings, /member) from a real HTTP server and
// reads them with QueryDaemons. It never panics and the daemon is never
// unreachable; an endpoint's data is reported exactly when its answer is
// a 200 with valid JSON of its type (not null), and is then exactly that
// JSON's value (its re-encoding matches); every other answer leaves the
// field nil and is listed in Errors (/member, optional for older daemons,
// only leaves Member nil); Ready only for a 200 "ready". With canonical,
// decodable bodies are first re-encoded, so valid bodies must come back
// byte for byte.
func FuzzQueryDaemons(f *testing.F) {
	fd := &fuzzDaemon{}
	srv := httptest.NewServer(fd)
	f.Cleanup(srv.Close)
	f.Add(uint16(0), []byte("ready\n"), []byte(`[{"network":"ovn1","port":"cr-lxd-net2-lr-lrp-ext","kind":"failover","from":"ch1","to":"ch2","at":"2026-01-02T03:04:05.000000006Z","unclaimed_ns":5,"flaps":1,"confirmed":"2026-01-02T03:04:05.25Z","reverified_ns":7,"reverified_after_stable_ns":3,"forwards":2}]`),
		[]byte(`{"enabled":true,"chassis":"ch1","asn":65101,"sessions":[],"networks":[],"routes":[],"findings":[],"counters":{"announcements":1,"withdrawals":0,"errors":0}}`),
		[]byte(`[]`), []byte(`{"member":"m1","writer":true,"election":"lock","version":"1.0","policy":"p"}`), false)
	f.Fuzz(func(t *testing.T, codeBits uint16, ready, failovers, routes, findings, member []byte, canonical bool) {
		if canonical {
			recode := func(b []byte, dec func([]byte) (any, bool)) []byte {
				if v, ok := dec(b); ok {
					if out, err := json.Marshal(v); err == nil {
						return out
					}
				}
				return b
			}
			failovers = recode(failovers, func(b []byte) (any, bool) { return strictDecode[[]FailoverRecord](b) })
			routes = recode(routes, func(b []byte) (any, bool) { return strictDecode[RouteStatus](b) })
			findings = recode(findings, func(b []byte) (any, bool) { return strictDecode[[]FindingOut](b) })
			member = recode(member, func(b []byte) (any, bool) { return strictDecode[MemberInfo](b) })
		}
		bodies := [5][]byte{ready, failovers, routes, findings, member}
		var codes [5]int
		fd.mu.Lock()
		fd.codes, fd.bodies = map[string]int{}, map[string][]byte{}
		for i, p := range fuzzPaths {
			codes[i] = fuzzCodes[(codeBits>>(3*i))&7]
			fd.codes[p], fd.bodies[p] = codes[i], bodies[i]
		}
		fd.mu.Unlock()

		ds := QueryDaemons(context.Background(), []string{srv.URL}, 5*time.Second)
		if len(ds) != 1 {
			t.Fatalf("%d reports", len(ds))
		}
		d := ds[0]
		if d.Address != srv.URL || !d.reachable() {
			t.Fatalf("report %+v", d)
		}
		errFor := func(path string) bool {
			for _, e := range d.Errors {
				if strings.Contains(e, srv.URL+path+":") {
					return true
				}
			}
			return false
		}
		wantErrs := 0

		// /readyz
		switch {
		case codes[0] == 200 && strings.TrimSpace(string(ready)) == "ready":
			if !d.Ready || d.NotReady != "" || errFor("/readyz") {
				t.Fatalf("ready daemon: %+v", d)
			}
		case codes[0] == 503:
			if d.Ready || d.NotReady != strings.TrimSpace(string(ready)) || errFor("/readyz") {
				t.Fatalf("not-ready daemon (%q): %+v", ready, d)
			}
		default:
			wantErrs++
			if d.Ready || !errFor("/readyz") {
				t.Fatalf("/readyz %d %q: %+v", codes[0], ready, d)
			}
		}

		check := func(i int, got any, isNil bool, want any, ok bool, optional bool) {
			t.Helper()
			path, body := fuzzPaths[i], bodies[i]
			valid := ok && codes[i] == 200
			if !valid {
				if !isNil {
					t.Fatalf("%s %d %q (malformed) reported as %s", path, codes[i], body, mustJSON(t, got))
				}
				if !optional {
					wantErrs++
					if !errFor(path) {
						t.Fatalf("%s %d %q: no error listed: %q", path, codes[i], body, d.Errors)
					}
				}
				return
			}
			if isNil || errFor(path) {
				t.Fatalf("%s %q (valid) not reported: %+v", path, body, d)
			}
			g, w := mustJSON(t, got), mustJSON(t, want)
			if g != w {
				t.Fatalf("%s: reported %s, body decodes to %s", path, g, w)
			}
			if canonical && g != string(body) {
				t.Fatalf("%s: canonical body %s came back as %s", path, body, g)
			}
		}
		fo, ok := strictDecode[[]FailoverRecord](failovers)
		check(1, d.Failovers, d.Failovers == nil, fo, ok, false)
		rs, ok := strictDecode[RouteStatus](routes)
		check(2, d.Routes, d.Routes == nil, &rs, ok, false)
		fi, ok := strictDecode[[]FindingOut](findings)
		check(3, d.Findings, d.Findings == nil, fi, ok, false)
		mi, ok := strictDecode[MemberInfo](member)
		check(4, d.Member, d.Member == nil, &mi, ok, true)
		if len(d.Errors) != wantErrs {
			t.Fatalf("%d errors, want %d: %q", len(d.Errors), wantErrs, d.Errors)
		}
		// What status makes of it never panics either.
		_ = memberStatuses(ds, nil)
		_ = mergeFailovers(ds)
		_ = collectHygiene(nil, ds)
	})
}

// FuzzDaemonURL: DaemonURL never panics; what it accepts is an http(s)
// URL with a host, without a trailing slash, and accepted again as itself.
func FuzzDaemonURL(f *testing.F) {
	f.Add("node1:9478")
	f.Fuzz(func(t *testing.T, addr string) {
		u, err := DaemonURL(addr)
		if err != nil {
			if !strings.Contains(err.Error(), "--daemon") {
				t.Fatalf("%q: error %v", addr, err)
			}
			return
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Hostname() == "" || strings.HasSuffix(u, "/") {
			t.Fatalf("%q → %q (%v)", addr, u, err)
		}
		if again, err := DaemonURL(u); err != nil || again != u {
			t.Fatalf("%q → %q → %q, %v", addr, u, again, err)
		}
	})
}
