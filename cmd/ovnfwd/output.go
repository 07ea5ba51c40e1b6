package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// report is the output of check and repair. Its JSON/YAML shape is a
// contract for scripts (README "Commands and output").
type report struct {
	Summary  summary         `json:"summary" yaml:"summary"`
	Findings []findingOut    `json:"findings" yaml:"findings"`
	Changes  []changeOut     `json:"changes,omitempty" yaml:"changes,omitempty"`
	Forwards []forwardStatus `json:"forwards,omitempty" yaml:"forwards,omitempty"`
}

type summary struct {
	Forwards   int            `json:"forwards" yaml:"forwards"`
	OK         int            `json:"ok" yaml:"ok"`
	Findings   int            `json:"findings" yaml:"findings"`
	ByCategory map[string]int `json:"by_category" yaml:"by_category"`
	Changes    int            `json:"changes,omitempty" yaml:"changes,omitempty"`
	DurationMS int64          `json:"duration_ms" yaml:"duration_ms"`
}

type findingOut struct {
	Project       string `json:"project" yaml:"project"`
	Network       string `json:"network" yaml:"network"`
	ListenAddress string `json:"listen_address" yaml:"listen_address"`
	Category      string `json:"category" yaml:"category"`
	Severity      string `json:"severity" yaml:"severity"`
	Detail        string `json:"detail" yaml:"detail"`
	Repair        string `json:"repair" yaml:"repair"`
}

type changeOut struct {
	Project       string   `json:"project" yaml:"project"`
	Network       string   `json:"network" yaml:"network"`
	ListenAddress string   `json:"listen_address" yaml:"listen_address"`
	Ops           []string `json:"ops" yaml:"ops"`
}

type forwardStatus struct {
	Project       string `json:"project" yaml:"project"`
	Network       string `json:"network" yaml:"network"`
	ListenAddress string `json:"listen_address" yaml:"listen_address"`
	State         string `json:"state" yaml:"state"`
	Reason        string `json:"reason,omitempty" yaml:"reason,omitempty"`
	// Rows are the Load_Balancer rows (name → VIPs) the state was verified
	// against (daemon /forwards only).
	Rows map[string]map[string]string `json:"rows,omitempty" yaml:"rows,omitempty"`
}

func projectName(p string) string {
	if p == "" {
		return "default"
	}
	return p
}

func toFindings(fs []fwdsync.Finding) []findingOut {
	out := make([]findingOut, 0, len(fs))
	for _, f := range fs {
		out = append(out, findingOut{
			Project: projectName(f.Key.Project), Network: f.Key.Network, ListenAddress: f.Key.ListenAddress,
			Category: string(f.Category), Severity: string(f.Severity), Detail: f.Detail, Repair: f.Repair,
		})
	}
	return out
}

func toChanges(chs []fwdsync.Change) []changeOut {
	out := make([]changeOut, 0, len(chs))
	for _, ch := range chs {
		c := changeOut{Project: projectName(ch.Key.Project), Network: ch.Key.Network, ListenAddress: ch.Key.ListenAddress}
		for _, op := range ch.Ops {
			c.Ops = append(c.Ops, opString(op))
		}
		out = append(out, c)
	}
	return out
}

func opString(op fwdsync.Op) string {
	s := string(op.Kind) + " " + op.Name
	if op.UUID != "" {
		s += " (" + shortUUID(op.UUID) + ")"
	}
	if op.TargetName != "" {
		s += " → " + op.TargetName
	}
	return s
}

func shortUUID(u string) string {
	if len(u) > 8 {
		return u[:8]
	}
	return u
}

func byCategory(fs []fwdsync.Finding) map[string]int {
	m := map[string]int{}
	for _, f := range fs {
		m[string(f.Category)]++
	}
	return m
}

// isTerminal reports whether f is a character device (a TTY).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// resolveFormat picks the output format: the flag, else table on a TTY and
// json otherwise.
func resolveFormat(flag string, out *os.File) (string, error) {
	switch flag {
	case "table", "json", "yaml":
		return flag, nil
	case "":
		if isTerminal(out) {
			return "table", nil
		}
		return "json", nil
	}
	return "", fmt.Errorf("--format %q: want table, json or yaml", flag)
}

func writeReport(w io.Writer, format string, r report, verb string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "yaml":
		return yaml.NewEncoder(w).Encode(r)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(r.Changes) > 0 {
		fmt.Fprintf(tw, "%s\tFORWARD\tOPERATIONS\n", strings.ToUpper(verb))
		for _, c := range r.Changes {
			fmt.Fprintf(tw, "\t%s/%s/%s\t%s\n", c.Project, c.Network, c.ListenAddress, strings.Join(c.Ops, "; "))
		}
		fmt.Fprintln(tw)
	}
	if len(r.Findings) > 0 {
		fmt.Fprintln(tw, "FORWARD\tCATEGORY\tSEVERITY\tDETAIL\tREPAIR")
		for _, f := range r.Findings {
			fwd := f.Project + "/" + f.Network + "/" + f.ListenAddress
			if f.ListenAddress == "" {
				fwd = f.Project + "/" + f.Network
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", fwd, f.Category, f.Severity, f.Detail, f.Repair)
		}
		fmt.Fprintln(tw)
	}
	cats := make([]string, 0, len(r.Summary.ByCategory))
	for c, n := range r.Summary.ByCategory {
		cats = append(cats, fmt.Sprintf("%s=%d", c, n))
	}
	sort.Strings(cats)
	line := fmt.Sprintf("%d forwards checked, %d ok, %d findings", r.Summary.Forwards, r.Summary.OK, r.Summary.Findings)
	if len(cats) > 0 {
		line += " (" + strings.Join(cats, ", ") + ")"
	}
	if r.Summary.Changes > 0 {
		line += fmt.Sprintf(", %d changes", r.Summary.Changes)
	}
	fmt.Fprintf(tw, "%s in %d ms\n", line, r.Summary.DurationMS)
	return tw.Flush()
}
