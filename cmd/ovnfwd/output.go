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
// contract for scripts (README "Commands and output"): fields are only
// ever added.
type report struct {
	Summary  summary      `json:"summary" yaml:"summary"`
	Findings []findingOut `json:"findings" yaml:"findings"`
	// NotOK lists the forwards in scope whose state is not ok.
	NotOK []forwardStatus `json:"not_ok" yaml:"not_ok"`
	// Changes are the changes repair applied (or, with --dry-run, would
	// apply); check leaves them out.
	Changes []changeOut `json:"changes,omitempty" yaml:"changes,omitempty"`
}

type summary struct {
	Forwards   int            `json:"forwards" yaml:"forwards"`
	OK         int            `json:"ok" yaml:"ok"`
	Findings   int            `json:"findings" yaml:"findings"`
	ByCategory map[string]int `json:"by_category" yaml:"by_category"`
	ByState    map[string]int `json:"by_state" yaml:"by_state"`
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

// keyProject is the project of a key: "" for a key of no network (an
// orphan row, the deletion budget).
func keyProject(k fwdsync.ForwardKey) string {
	if k.Network == "" {
		return ""
	}
	return projectName(k.Project)
}

func toFindings(fs []fwdsync.Finding) []findingOut {
	out := make([]findingOut, 0, len(fs))
	for _, f := range fs {
		out = append(out, findingOut{
			Project: keyProject(f.Key), Network: f.Key.Network, ListenAddress: f.Key.ListenAddress,
			Category: string(f.Category), Severity: string(f.Severity), Detail: f.Detail, Repair: f.Repair,
		})
	}
	return out
}

func (r *report) setChanges(chs []fwdsync.Change) {
	r.Changes = make([]changeOut, 0, len(chs))
	for _, ch := range chs {
		c := changeOut{Project: keyProject(ch.Key), Network: ch.Key.Network, ListenAddress: ch.Key.ListenAddress}
		for _, op := range ch.Ops {
			c.Ops = append(c.Ops, opString(op))
		}
		r.Changes = append(r.Changes, c)
	}
	r.Summary.Changes = len(chs)
}

func opString(op fwdsync.Op) string {
	s := string(op.Kind) + " " + op.Name
	if op.UUID != "" {
		s += " (" + op.UUID + ")"
	}
	if op.TargetName != "" {
		s += " → " + op.TargetName
	}
	return s
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

// writeStructured writes v as indented JSON or as YAML.
func writeStructured(w io.Writer, format string, v any) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return enc.Close()
}

// forwardLabel names a forward (or a network, or an orphan address) in a
// table.
func forwardLabel(project, network, listen string) string {
	switch {
	case network == "" && listen == "":
		return "-"
	case network == "":
		return "(no network) " + listen
	case listen == "":
		return project + "/" + network
	}
	return project + "/" + network + "/" + listen
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// countList renders a count map as "a=1, b=2", sorted by key.
func countList(m map[string]int) string {
	parts := make([]string, 0, len(m))
	for k, n := range m {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, n))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// writeReport renders check's and repair's report. verb labels the changes
// ("applied", "would apply").
func writeReport(w io.Writer, format string, r report, verb string) error {
	if format != "table" {
		return writeStructured(w, format, r)
	}
	if r.Changes != nil {
		if err := writeChanges(w, r.Changes, verb); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(r.Findings) > 0 {
		fmt.Fprintln(tw, "FORWARD\tCATEGORY\tSEVERITY\tDETAIL\tREPAIR")
		for _, f := range r.Findings {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", forwardLabel(f.Project, f.Network, f.ListenAddress), f.Category, f.Severity, f.Detail, f.Repair)
		}
		fmt.Fprintln(tw)
	}
	if len(r.NotOK) > 0 {
		fmt.Fprintln(tw, "FORWARD\tSTATE\tREASON")
		for _, s := range r.NotOK {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", forwardLabel(s.Project, s.Network, s.ListenAddress), s.State, s.Reason)
		}
		fmt.Fprintln(tw)
	}
	line := fmt.Sprintf("%s checked, %d ok", plural(r.Summary.Forwards, "forward"), r.Summary.OK)
	if states := r.Summary.ByState; r.Summary.OK < r.Summary.Forwards {
		s := map[string]int{}
		for k, n := range states {
			if k != string(fwdsync.StateOK) {
				s[k] = n
			}
		}
		line += " (" + countList(s) + ")"
	}
	line += ", " + plural(r.Summary.Findings, "finding")
	if len(r.Summary.ByCategory) > 0 {
		line += " (" + countList(r.Summary.ByCategory) + ")"
	}
	if r.Changes != nil {
		line += fmt.Sprintf(", %s %s", plural(r.Summary.Changes, "change"), verb)
	}
	fmt.Fprintf(tw, "%s in %d ms\n", line, r.Summary.DurationMS)
	return tw.Flush()
}

// writeChanges renders changes as a table headed by verb.
func writeChanges(w io.Writer, chs []changeOut, verb string) error {
	if len(chs) == 0 {
		_, err := fmt.Fprintf(w, "Nothing to change.\n\n")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s:\n", capitalize(verb))
	fmt.Fprintln(tw, "FORWARD\tOPERATIONS")
	for _, c := range chs {
		fmt.Fprintf(tw, "%s\t%s\n", forwardLabel(c.Project, c.Network, c.ListenAddress), strings.Join(c.Ops, "; "))
	}
	fmt.Fprintln(tw)
	return tw.Flush()
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
