package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// metricNames are every metric the daemon can export (route metrics
// included), with the series suffixes of histograms.
func metricNames(t *testing.T) map[string]bool {
	t.Helper()
	m := newMetrics()
	newRouteMetrics(m.reg).sessionUp.WithLabelValues("x").Set(0)
	m.findings.WithLabelValues("c", "s").Set(0)
	m.buildInfo.WithLabelValues("v", "go").Set(1)
	m.reconcile.WithLabelValues("x").Observe(1)
	m.driftFound.WithLabelValues("x").Inc()
	m.driftRepaired.WithLabelValues("x").Inc()
	m.reconnects.WithLabelValues("x").Inc()
	m.passes.WithLabelValues("x").Inc()
	m.failovers.WithLabelValues("x").Inc()
	m.connUp.WithLabelValues("x").Set(1)
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, mf := range mfs {
		n := mf.GetName()
		out[n] = true
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			out[n+s] = true
		}
	}
	return out
}

var metricRef = regexp.MustCompile(`\bovnfwd_[a-z_]+`)

func checkExpr(t *testing.T, where, expr string, known map[string]bool) {
	t.Helper()
	refs := metricRef.FindAllString(expr, -1)
	if len(refs) == 0 {
		t.Errorf("%s: %q uses no ovnfwd metric", where, expr)
	}
	for _, r := range refs {
		if !known[r] {
			t.Errorf("%s: %q uses %s, which the daemon does not export", where, expr, r)
		}
	}
}

// contrib/prometheus-alerts.yaml and contrib/grafana-dashboard.json only use
// metrics the daemon exports (issue 12; Debian's promtool is not installed
// on the test machines, this checks what matters to them).
func TestContribUsesRealMetrics(t *testing.T) {
	known := metricNames(t)
	raw, err := os.ReadFile(filepath.Join("..", "contrib", "prometheus-alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("alert rules: %v", err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			checkExpr(t, "alert "+r.Alert, r.Expr, known)
			if sev := r.Labels["severity"]; sev != "warning" && sev != "critical" {
				t.Errorf("alert %s: severity %q", r.Alert, sev)
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("alert %s has no summary", r.Alert)
			}
		}
	}
	if n < 5 {
		t.Errorf("%d alert rules", n)
	}
	raw, err = os.ReadFile(filepath.Join("..", "contrib", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			checkExpr(t, "panel "+p.Title, tg.Expr, known)
		}
	}
	if len(dash.Panels) < 6 || !strings.Contains(string(raw), "ovnfwd_writer") {
		t.Errorf("dashboard: %d panels", len(dash.Panels))
	}
}
