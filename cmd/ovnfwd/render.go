package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ovnfwd/ovnfwd/engine"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// isTerminal reports whether f is a character device (a TTY).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// resolveFormat picks the output format among allowed (default: all):
// the flag, else table. It does not depend on whether stdout is a
// terminal (lxc and ovn-nbctl print the same either way); scripts pass
// --format json.
func resolveFormat(flag string, allowed ...string) (string, error) {
	if len(allowed) == 0 {
		allowed = []string{"table", "compact", "csv", "json", "yaml"}
	}
	if flag == "" {
		return "table", nil
	}
	if slices.Contains(allowed, flag) {
		return flag, nil
	}
	return "", fmtError(flag, strings.Join(allowed, ", "))
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
func writeReport(w io.Writer, format string, r engine.Report, verb string) error {
	return writeReportWidth(w, format, r, verb, termWidth(), false)
}

// writeReportWidth renders check's and repair's report. Tables fit width
// (DETAIL wraps; REPAIR is shown with wide, where nothing wraps); compact
// is one line per row; csv prints the findings (and, for repair, nothing
// else) as CSV.
func writeReportWidth(w io.Writer, format string, r engine.Report, verb string, width int, wide bool) error {
	findings := table{header: []string{"FORWARD", "CATEGORY", "SEVERITY", "DETAIL"}}
	if wide {
		findings.header = []string{"FORWARD", "CATEGORY", "SEVERITY", "DETAIL", "REPAIR"}
	}
	for _, f := range r.Findings {
		row := []string{forwardLabel(f.Project, f.Network, f.ListenAddress), f.Category, f.Severity, f.Detail}
		if wide {
			row = append(row, f.Repair)
		}
		findings.add(row...)
	}
	switch format {
	case "json", "yaml":
		return writeStructured(w, format, r)
	case "csv":
		findings.header = []string{"project", "network", "listen_address", "category", "severity", "detail", "repair"}
		findings.rows = nil
		for _, f := range r.Findings {
			findings.add(f.Project, f.Network, f.ListenAddress, f.Category, f.Severity, f.Detail, f.Repair)
		}
		return findings.writeCSV(w)
	case "compact", "table":
	default:
		return fmtError(format, "table, compact, csv, json or yaml")
	}
	if format == "compact" || wide {
		width = 0
	}
	if r.Changes != nil {
		if err := writeChangesWidth(w, r.Changes, verb, width); err != nil {
			return err
		}
	}
	if len(r.Findings) > 0 {
		if err := findings.write(w, width); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	if len(r.NotOK) > 0 {
		notOK := table{header: []string{"FORWARD", "STATE", "REASON"}}
		for _, s := range r.NotOK {
			notOK.add(forwardLabel(s.Project, s.Network, s.ListenAddress), s.State, s.Reason)
		}
		if err := notOK.write(w, width); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	line := fmt.Sprintf("%s checked, %d ok", engine.Plural(r.Summary.Forwards, "forward"), r.Summary.OK)
	if states := r.Summary.ByState; r.Summary.OK < r.Summary.Forwards {
		s := map[string]int{}
		for k, n := range states {
			if k != string(fwdsync.StateOK) {
				s[k] = n
			}
		}
		line += " (" + countList(s) + ")"
	}
	line += ", " + engine.Plural(r.Summary.Findings, "finding")
	if len(r.Summary.ByCategory) > 0 {
		line += " (" + countList(r.Summary.ByCategory) + ")"
	}
	if r.Changes != nil {
		line += fmt.Sprintf(", %s %s", engine.Plural(r.Summary.Changes, "change"), verb)
	}
	line += fmt.Sprintf(" in %d ms", r.Summary.DurationMS)
	for _, l := range wrap(line, width) {
		fmt.Fprintln(w, l)
	}
	return nil
}

// writeChanges renders changes as a table headed by verb.
func writeChanges(w io.Writer, chs []engine.ChangeOut, verb string) error {
	return writeChangesWidth(w, chs, verb, termWidth())
}

// writeChangesWidth renders changes as a table headed by verb, one
// operation per line, fitting width (0: no limit).
func writeChangesWidth(w io.Writer, chs []engine.ChangeOut, verb string, width int) error {
	if len(chs) == 0 {
		_, err := fmt.Fprintf(w, "Nothing to change.\n\n")
		return err
	}
	fmt.Fprintf(w, "%s:\n", capitalize(verb))
	t := table{header: []string{"FORWARD", "OPERATIONS"}}
	for _, c := range chs {
		for i, op := range c.Ops {
			label := forwardLabel(c.Project, c.Network, c.ListenAddress)
			if i > 0 {
				label = ""
			}
			t.add(label, op)
		}
	}
	if err := t.write(w, width); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w)
	return err
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
