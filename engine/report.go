package engine

import (
	"fmt"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// Report is the output of check and repair. Its JSON/YAML shape is a
// contract for scripts (README "Commands and output"): fields are only
// ever added.
type Report struct {
	Summary  Summary      `json:"summary" yaml:"summary"`
	Findings []FindingOut `json:"findings" yaml:"findings"`
	// NotOK lists the forwards in scope whose state is not ok.
	NotOK []ForwardOut `json:"not_ok" yaml:"not_ok"`
	// Changes are the changes repair applied (or, with --dry-run, would
	// apply); check leaves them out.
	Changes []ChangeOut `json:"changes,omitempty" yaml:"changes,omitempty"`
}

type Summary struct {
	Forwards   int            `json:"forwards" yaml:"forwards"`
	OK         int            `json:"ok" yaml:"ok"`
	Findings   int            `json:"findings" yaml:"findings"`
	ByCategory map[string]int `json:"by_category" yaml:"by_category"`
	ByState    map[string]int `json:"by_state" yaml:"by_state"`
	Changes    int            `json:"changes,omitempty" yaml:"changes,omitempty"`
	DurationMS int64          `json:"duration_ms" yaml:"duration_ms"`
}

type FindingOut struct {
	Project       string `json:"project" yaml:"project"`
	Network       string `json:"network" yaml:"network"`
	ListenAddress string `json:"listen_address" yaml:"listen_address"`
	Category      string `json:"category" yaml:"category"`
	Severity      string `json:"severity" yaml:"severity"`
	Detail        string `json:"detail" yaml:"detail"`
	Repair        string `json:"repair" yaml:"repair"`
}

type ChangeOut struct {
	Project       string   `json:"project" yaml:"project"`
	Network       string   `json:"network" yaml:"network"`
	ListenAddress string   `json:"listen_address" yaml:"listen_address"`
	Ops           []string `json:"ops" yaml:"ops"`
}

type ForwardOut struct {
	Project       string `json:"project" yaml:"project"`
	Network       string `json:"network" yaml:"network"`
	ListenAddress string `json:"listen_address" yaml:"listen_address"`
	State         string `json:"state" yaml:"state"`
	Reason        string `json:"reason,omitempty" yaml:"reason,omitempty"`
	// Rows are the Load_Balancer rows (name → VIPs) the state was verified
	// against (daemon /forwards only).
	Rows map[string]map[string]string `json:"rows,omitempty" yaml:"rows,omitempty"`
}

func ProjectName(p string) string {
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
	return ProjectName(k.Project)
}

func ToFindings(fs []fwdsync.Finding) []FindingOut {
	out := make([]FindingOut, 0, len(fs))
	for _, f := range fs {
		out = append(out, FindingOut{
			Project: keyProject(f.Key), Network: f.Key.Network, ListenAddress: f.Key.ListenAddress,
			Category: string(f.Category), Severity: string(f.Severity), Detail: f.Detail, Repair: f.Repair,
		})
	}
	return out
}

func (r *Report) SetChanges(chs []fwdsync.Change) {
	r.Changes = make([]ChangeOut, 0, len(chs))
	for _, ch := range chs {
		c := ChangeOut{Project: keyProject(ch.Key), Network: ch.Key.Network, ListenAddress: ch.Key.ListenAddress}
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

// Severe reports whether any finding changes the exit code: every one of
// severity warning or above; info is shown but never does (one rule for
// check, repair, status and explain).
func Severe(fs []FindingOut) bool {
	for _, f := range fs {
		if SevereSeverity(f.Severity) {
			return true
		}
	}
	return false
}

// SevereSeverity: warning, error and critical change exit codes; info not.
func SevereSeverity(s string) bool { return s != "" && s != string(fwdsync.SeverityInfo) }

// Exit codes of every command: the one rule scripts and monitoring read:
// 0 no finding of severity warning or above (and every forward ok), 1 at
// least one, 2 could not judge.
const (
	ExitOK       = 0 // nothing to report
	ExitFindings = 1 // findings (or forwards not ok)
	ExitError    = 2 // could not judge: unreachable, bad input, a change failed
)

// dash stands for an empty value in text.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Plural renders a count with its noun: "1 forward", "2 forwards".
func Plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
