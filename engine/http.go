package engine

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
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

func (d *Daemon) Serve(addr string) (*http.Server, error) {
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
	mux.Handle("/routes", d.routes)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if msg := d.notReady(); msg != "" {
			http.Error(w, msg, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if d.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
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
