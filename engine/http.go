package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serveRoutes is /routes: the route state, and which member this is even
// with BGP off (status shows it per member).
func (d *Daemon) serveRoutes(w http.ResponseWriter, r *http.Request) {
	st := d.routes.Status(r.Context())
	if st.Chassis == "" {
		st.Chassis = d.chassis
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

// HTTPLimits bound what clients of the daemon's HTTP API may hold: it
// serves on --metrics-address, often reachable from other members, and
// must stay up for Prometheus, status and the liveness check whatever a
// client does.
type HTTPLimits struct {
	// ReadHeaderTimeout: a client that has not sent its request headers
	// by then is cut (slowloris).
	ReadHeaderTimeout time.Duration
	// ReadTimeout: the whole request, headers and body.
	ReadTimeout time.Duration
	// WriteTimeout: from the end of the request headers to the end of the
	// answer (a client that does not read its answer is cut). pprof
	// handlers get the profile's duration on top.
	WriteTimeout time.Duration
	// IdleTimeout: a kept-alive connection without a request is closed.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request headers.
	MaxHeaderBytes int
	// MaxConcurrent requests are served at once; more are answered 503
	// with Retry-After at once (all but /healthz, which is always
	// answered).
	MaxConcurrent int
}

// DefaultHTTPLimits are the limits of Serve. The answers are small and
// made in milliseconds (/forwards of 10,000 forwards: a few MB), the
// clients are Prometheus and the members' status commands (five requests
// each): 32 at once is far above normal use.
var DefaultHTTPLimits = HTTPLimits{
	ReadHeaderTimeout: 5 * time.Second,
	ReadTimeout:       10 * time.Second,
	WriteTimeout:      30 * time.Second,
	IdleTimeout:       60 * time.Second,
	MaxHeaderBytes:    64 << 10,
	MaxConcurrent:     32,
}

// Serve serves the HTTP API on addr with DefaultHTTPLimits.
func (d *Daemon) Serve(addr string) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return d.serveOn(ln, DefaultHTTPLimits), nil
}

// serveOn serves the HTTP API on ln with limits lim.
func (d *Daemon) serveOn(ln net.Listener, lim HTTPLimits) *http.Server {
	srv := &http.Server{
		Handler:           limitConcurrency(lim.MaxConcurrent, d.handler(lim)),
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
	}
	go func() { _ = srv.Serve(ln) }()
	return srv
}

// limitConcurrency serves at most n requests at once (n <= 0: no limit);
// one more is answered 503 at once, except /healthz.
func limitConcurrency(n int, h http.Handler) http.Handler {
	if n <= 0 {
		return h
	}
	sem := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			h.ServeHTTP(w, r)
			return
		}
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
			h.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many concurrent requests", http.StatusServiceUnavailable)
		}
	})
}

// maxProfileSeconds bounds the write deadline a pprof request may ask for.
const maxProfileSeconds = 600

// profileDeadline lets a pprof handler run past the server's WriteTimeout
// by the ?seconds= it was asked for: the profile and trace handlers sleep
// that long before they write, and refuse a duration at or beyond the
// server's WriteTimeout, so they see a server without one.
func profileDeadline(writeTimeout time.Duration, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sec, err := strconv.ParseFloat(r.URL.Query().Get("seconds"), 64)
		if err != nil || sec <= 0 {
			sec = 30 // pprof's default
		}
		sec = min(sec, maxProfileSeconds)
		if writeTimeout > 0 {
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Duration(sec*float64(time.Second)) + writeTimeout))
		}
		h(w, r.WithContext(context.WithValue(r.Context(), http.ServerContextKey, &http.Server{})))
	}
}

// handler is the daemon's HTTP API.
func (d *Daemon) handler(lim HTTPLimits) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/forwards", func(w http.ResponseWriter, _ *http.Request) {
		// Every forward's last verified state, for scripts and tests.
		out := []ForwardOut{}
		if p := d.ready.Load(); p != nil && *p == "" {
			for _, s := range d.e.allStatuses() {
				out = append(out, ForwardOut{Project: ProjectName(s.Key.Project), Network: s.Key.Network,
					ListenAddress: s.Key.ListenAddress, State: string(s.State), Reason: s.Reason,
					Rows: d.e.verifiedRows(s.Key)})
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("/findings", func(w http.ResponseWriter, _ *http.Request) {
		// The last full verification's findings and the latest HA findings.
		out := []FindingOut{}
		if p := d.ready.Load(); p != nil && *p == "" {
			out = ToFindings(d.e.currentFindings())
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("/failovers", func(w http.ResponseWriter, _ *http.Request) {
		out := []FailoverRecord{}
		if p := d.ready.Load(); p != nil && *p == "" {
			out = append(out, d.gw.failovers()...)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("/member", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(d.memberInfo())
	})
	mux.HandleFunc("/routes", d.serveRoutes)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if msg := d.notReady(); msg != "" {
			http.Error(w, msg, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if d.pprof {
		mux.HandleFunc("/debug/pprof/", profileDeadline(lim.WriteTimeout, pprof.Index))
		mux.HandleFunc("/debug/pprof/profile", profileDeadline(lim.WriteTimeout, pprof.Profile))
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", profileDeadline(lim.WriteTimeout, pprof.Trace))
	}
	return mux
}

func (d *Daemon) notReady() string {
	if p := d.ready.Load(); p == nil || *p != "" {
		return "connecting to LXD and OVN"
	}
	switch {
	case !d.src.LXD.Connected():
		return "LXD event stream down"
	case !d.src.NB.Connected():
		return "OVN northbound DB down"
	case !d.src.SB.Connected():
		return "OVN southbound DB down"
	case !d.e.isSynced():
		return "initial sync not done"
	}
	return ""
}

// MemberInfo is /member: who this daemon is and whether it writes.
type MemberInfo struct {
	// Member is the LXD cluster member name ("" when LXD is not clustered).
	Member  string `json:"member"`
	Chassis string `json:"chassis,omitempty"`
	// Writer: this member writes NB now (holds the writer lock).
	Writer bool `json:"writer"`
	// Election is "lock" (an OVSDB lock on NB elects the writer) or "off".
	Election string `json:"election"`
	Version  string `json:"version"`
	Policy   string `json:"policy"`
}

func (d *Daemon) memberInfo() MemberInfo {
	mi := MemberInfo{Member: d.member(), Chassis: d.chassis, Election: "off", Version: d.cfg.Version, Policy: d.cfg.Policy, Writer: true}
	if d.election != nil {
		mi.Election, mi.Writer = "lock", d.election.Held()
	}
	return mi
}
