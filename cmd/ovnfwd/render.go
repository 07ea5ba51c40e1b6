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

	"github.com/ovnfwd/ovnfwd/engine"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// isTerminal reports whether f is a character device (a TTY).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// resolveFormat picks the output format: the flag, else table. It does not
// depend on whether stdout is a terminal (lxc and ovn-nbctl print the same
// either way); scripts pass --format json.
func resolveFormat(flag string, _ *os.File) (string, error) {
	switch flag {
	case "table", "json", "yaml":
		return flag, nil
	case "":
		return "table", nil
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
	fmt.Fprintf(tw, "%s in %d ms\n", line, r.Summary.DurationMS)
	return tw.Flush()
}

// writeChanges renders changes as a table headed by verb.
func writeChanges(w io.Writer, chs []engine.ChangeOut, verb string) error {
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
