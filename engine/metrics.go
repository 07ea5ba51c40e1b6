package engine

import (
	"github.com/prometheus/client_golang/prometheus"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// metrics are the daemon's Prometheus metrics (namespace ovnfwd).
type metrics struct {
	reg              *prometheus.Registry
	reconcile        *prometheus.HistogramVec // by trigger
	eventToVerified  prometheus.Histogram
	changeToVerified prometheus.Histogram
	driftFound       *prometheus.CounterVec // by category
	driftRepaired    *prometheus.CounterVec // by category
	forwards         *prometheus.GaugeVec   // by state
	connUp           *prometheus.GaugeVec   // by target: lxd, nb, sb
	reconnects       *prometheus.CounterVec // by target
	budgetHeld       prometheus.Counter
	passes           *prometheus.CounterVec // by result
	failovers        *prometheus.CounterVec // by kind
	failoverReverify prometheus.Histogram
	// failoverReverifyStable counts from the end of the debounce window.
	failoverReverifyStable prometheus.Histogram
	unresponsive           prometheus.Gauge
	livenessGap            prometheus.Gauge
	// writer is 1 on the member that writes NB.
	writer prometheus.Gauge
	// findings are the current findings, by category and severity.
	findings *prometheus.GaugeVec
	// lastFullPass is when the last full pass ended (Unix seconds).
	lastFullPass prometheus.Gauge
	buildInfo    *prometheus.GaugeVec
}

func newMetrics() *metrics {
	latency := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		reconcile: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "ovnfwd", Name: "reconcile_duration_seconds",
			Help: "Time of one reconcile (a full pass or one forward), by trigger; a full pass that served several coalesced triggers counts under each.", Buckets: latency,
		}, []string{"trigger"}),
		eventToVerified: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "ovnfwd", Name: "event_to_verified_seconds",
			Help: "From an LXD forward event reaching ovnfwd to the forward verified ok down to the active chassis.", Buckets: latency,
		}),
		changeToVerified: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "ovnfwd", Name: "change_to_verified_seconds",
			Help: "From the first trigger of a forward (an NB change or an LXD event) reaching ovnfwd to the forward verified ok.", Buckets: latency,
		}),
		driftFound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ovnfwd", Name: "drift_found_total", Help: "Findings seen, by category.",
		}, []string{"category"}),
		driftRepaired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ovnfwd", Name: "drift_repaired_total", Help: "Findings repaired by an applied change, by category.",
		}, []string{"category"}),
		forwards: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "ovnfwd", Name: "forwards", Help: "Forwards by verified state.",
		}, []string{"state"}),
		connUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "ovnfwd", Name: "connection_up", Help: "1 when the connection to lxd, nb or sb is up.",
		}, []string{"target"}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ovnfwd", Name: "reconnects_total", Help: "Reconnections, by target.",
		}, []string{"target"}),
		budgetHeld: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "ovnfwd", Name: "deletion_budget_exceeded_total",
			Help: "Passes whose deletions were held back by --deletion-budget.",
		}),
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ovnfwd", Name: "full_passes_total", Help: "Full resync passes, by result.",
		}, []string{"result"}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ovnfwd", Name: "gateway_claim_changes_total",
			Help: "Stable changes of a gateway port's claim, by kind (acquired, failover, restored, lost).",
		}, []string{"kind"}),
		failoverReverify: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "ovnfwd", Name: "failover_reverified_seconds",
			Help: "From a gateway claim change in SB to every forward of the network verified ok on the new chassis.", Buckets: latency,
		}),
		failoverReverifyStable: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "ovnfwd", Name: "failover_reverified_after_stable_seconds",
			Help: "From a gateway claim change becoming stable (--claim-debounce) to every forward of the network verified ok.", Buckets: latency,
		}),
		livenessGap: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "ovnfwd", Name: "liveness_interval_seconds", Help: "Current wait between two nb_cfg liveness pings of the writer (--liveness-interval, stretched by --liveness-northd-share).",
		}),
		unresponsive: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "ovnfwd", Name: "chassis_unresponsive", Help: "Chassis that did not follow the last nb_cfg liveness ping.",
		}),
	}
	m.writer = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "ovnfwd", Name: "writer", Help: "1 while this member is the one that writes NB (holds the writer lock), else 0.",
	})
	m.findings = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "ovnfwd", Name: "findings", Help: "Current findings (the last full verification and the latest HA pass), by category and severity.",
	}, []string{"category", "severity"})
	m.lastFullPass = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "ovnfwd", Name: "last_full_pass_timestamp_seconds", Help: "When the last full pass ended (Unix time); 0 before the first.",
	})
	m.buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "ovnfwd", Name: "build_info", Help: "Always 1; the labels say which ovnfwd runs.",
	}, []string{"version", "goversion"})
	m.reg.MustRegister(m.writer, m.findings, m.lastFullPass, m.buildInfo)
	m.reg.MustRegister(m.failovers, m.failoverReverify, m.failoverReverifyStable, m.unresponsive, m.livenessGap)
	m.reg.MustRegister(m.reconcile, m.eventToVerified, m.changeToVerified, m.driftFound, m.driftRepaired, m.forwards,
		m.connUp, m.reconnects, m.budgetHeld, m.passes,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	for _, s := range []fwdsync.State{fwdsync.StateOK, fwdsync.StatePending, fwdsync.StateDegraded, fwdsync.StateBroken} {
		m.forwards.WithLabelValues(string(s))
	}
	return m
}

func (m *metrics) observeFindings(fs []fwdsync.Finding, _ bool) {
	for _, f := range fs {
		m.driftFound.WithLabelValues(string(f.Category)).Inc()
	}
}

// observeRepairs counts the findings of the forwards whose change applied.
func (m *metrics) observeRepairs(fs []fwdsync.Finding, applied []fwdsync.Change) {
	done := make(map[fwdsync.ForwardKey]bool, len(applied))
	for _, ch := range applied {
		done[ch.Key] = true
	}
	for _, f := range fs {
		if done[f.Key] {
			m.driftRepaired.WithLabelValues(string(f.Category)).Inc()
		}
	}
}

func (m *metrics) setStates(c map[fwdsync.State]int) {
	for _, s := range []fwdsync.State{fwdsync.StateOK, fwdsync.StatePending, fwdsync.StateDegraded, fwdsync.StateBroken} {
		m.forwards.WithLabelValues(string(s)).Set(float64(c[s]))
	}
}

func (m *metrics) setConn(target string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.connUp.WithLabelValues(target).Set(v)
}

// setFindings replaces the current findings gauge.
func (m *metrics) setFindings(fs []fwdsync.Finding) {
	m.findings.Reset()
	for _, f := range fs {
		m.findings.WithLabelValues(string(f.Category), string(f.Severity)).Inc()
	}
}
