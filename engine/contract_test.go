package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/ovnfwd/ovnfwd/engine/enginetest"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// contractWorld is the drifted fixture with HA hygiene on and, optionally,
// a stale HA_Chassis entry (a chassis SB has never heard of).
func contractWorld(staleHA bool) (*enginetest.LXD, *enginetest.NB) {
	l := &enginetest.LXD{St: enginetest.FxLXD()}
	n := &enginetest.NB{St: enginetest.FxNB()}
	if staleHA {
		const u = "a0000000-0000-4000-8000-0000000000aa"
		n.St.HAChassis = append(n.St.HAChassis, fwdsync.NBHAChassis{UUID: u, ChassisName: "gone", Priority: 5})
		n.St.HAChassisGroups[0].HAChassis = append(n.St.HAChassisGroups[0].HAChassis, u)
	}
	return l, n
}

// oneShotOn runs check or repair the way the commands do: check without
// --deep verifies forwards in NB only and still judges the HA groups.
func oneShotOn(t *testing.T, l *enginetest.LXD, n *enginetest.NB, o OneShotOpts) OneShotResult {
	t.Helper()
	e := New(Config{LXD: l, NB: n, SB: enginetest.SB{NB: n}, NBOnly: !o.Deep && !o.Repair,
		Options: fwdsync.Options{DeletionBudget: 100}, HA: &HAConfig{}, Logger: zap.NewNop()})
	res, err := RunOneShot(context.Background(), e, o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

type judged struct{ key, category, severity string }

func judgedOf(fs []FindingOut) []judged {
	out := make([]judged, 0, len(fs))
	for _, f := range fs {
		out = append(out, judged{f.Project + "/" + f.Network + "/" + f.ListenAddress, f.Category, f.Severity})
	}
	slices.SortFunc(out, func(a, b judged) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return slices.Compact(out)
}

// One findings contract (issue 12): check reports every divergence repair
// would change — HA groups included, with or without --deep — and check,
// repair --dry-run and status judge alike: the same categories and
// severities, and the same exit code. The fixture holds most categories
// (missing, stale, vip-mismatch, detached, duplicate, orphan, bad-forward,
// unmapped-network, options-mismatch, not-realized, ha-*, …).
func TestFindingsContract(t *testing.T) {
	for _, staleHA := range []bool{false, true} {
		for _, deep := range []bool{false, true} {
			t.Run(fmt.Sprintf("stale-ha=%v,deep=%v", staleHA, deep), func(t *testing.T) {
				l, n := contractWorld(staleHA)
				check := oneShotOn(t, l, n, OneShotOpts{Deep: deep})
				dry := oneShotOn(t, l, n, OneShotOpts{Repair: true, DryRun: true, Deep: true})
				if n.Applied != 0 {
					t.Fatalf("check or a dry run wrote %d changes", n.Applied)
				}
				// Every change repair would make is announced by a finding
				// of check for the same forward or network.
				keys := map[string]bool{}
				for _, f := range check.Report.Findings {
					keys[f.Project+"/"+f.Network+"/"+f.ListenAddress] = true
					keys[f.Project+"/"+f.Network+"/"] = keys[f.Project+"/"+f.Network+"/"] || f.ListenAddress == ""
				}
				for _, c := range dry.Report.Changes {
					if !keys[c.Project+"/"+c.Network+"/"+c.ListenAddress] {
						t.Errorf("repair would change %s/%s/%s (%v), check reports nothing there", c.Project, c.Network, c.ListenAddress, c.Ops)
					}
				}
				if staleHA && !slices.ContainsFunc(check.Report.Findings, func(f FindingOut) bool { return f.Category == string(fwdsync.CatHAStale) }) {
					t.Errorf("check (deep=%v) does not report the stale HA entry repair removes", deep)
				}
				// The NB findings (what repair changes) are the same in
				// both, category and severity; deep adds SB findings only.
				nbOf := func(fs []FindingOut) []judged {
					var out []FindingOut
					for _, f := range fs {
						switch fwdsync.Category(f.Category) {
						case fwdsync.CatNotRealized, fwdsync.CatNoNatAddress, fwdsync.CatChassisBehind, fwdsync.CatNoActiveChassis:
						default:
							out = append(out, f)
						}
					}
					return judgedOf(out)
				}
				if a, b := nbOf(check.Report.Findings), nbOf(dry.Report.Findings); !slices.Equal(a, b) {
					t.Errorf("check and repair --dry-run judge differently:\n check  %v\n repair %v", a, b)
				}
				if check.ExitCode() != dry.ExitCode() {
					t.Errorf("exit codes: check %d, repair --dry-run %d", check.ExitCode(), dry.ExitCode())
				}

				// status, over the same world, exits alike and lists the
				// same HA findings.
				e := New(Config{LXD: l, NB: n, SB: enginetest.SB{NB: n}, Options: fwdsync.Options{DeletionBudget: 100},
					HA: &HAConfig{}, Logger: zap.NewNop()})
				pr, err := e.ReadOnlyPass(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				st := BuildStatus(StatusInput{Networks: l.St.Networks, Mappings: pr.Plan.Mappings, Statuses: pr.Statuses,
					Findings: pr.Findings, NB: n.St, SB: enginetest.FxSBFrom(n.St), Took: time.Millisecond})
				if st.ExitCode() != dry.ExitCode() {
					t.Errorf("exit codes: status %d, repair --dry-run %d", st.ExitCode(), dry.ExitCode())
				}
				var ha []string
				for _, net := range st.Networks {
					for _, h := range net.HygieneFindings {
						if strings.HasPrefix(h.Category, "ha-") {
							ha = append(ha, h.Category+" "+h.Severity)
						}
					}
				}
				var checkHA []string
				for _, f := range check.Report.Findings {
					if strings.HasPrefix(f.Category, "ha-") && f.Network != "" {
						checkHA = append(checkHA, f.Category+" "+f.Severity)
					}
				}
				slices.Sort(ha)
				slices.Sort(checkHA)
				if !slices.Equal(ha, checkHA) {
					t.Errorf("HA findings: status %v, check %v", ha, checkHA)
				}
			})
		}
	}
}

// info never changes an exit code; warning and above always do.
func TestExitCodeFollowsSeverity(t *testing.T) {
	for _, tc := range []struct {
		sev  fwdsync.Severity
		want int
	}{{fwdsync.SeverityInfo, ExitOK}, {fwdsync.SeverityWarning, ExitFindings}, {fwdsync.SeverityError, ExitFindings}, {fwdsync.SeverityCritical, ExitFindings}} {
		r := OneShotResult{Report: Report{Findings: []FindingOut{{Category: "ha-missing", Severity: string(tc.sev)}},
			Summary: Summary{Forwards: 1, OK: 1, Findings: 1}}}
		if got := r.ExitCode(); got != tc.want {
			t.Errorf("one %s finding: check/repair exit %d, want %d", tc.sev, got, tc.want)
		}
		st := StatusReport{Summary: StatusSummary{Forwards: 1, ByState: map[string]int{"ok": 1}},
			HygieneFindings: []HygieneFinding{{Category: "ha-missing", Severity: string(tc.sev), Sources: []string{LocalSource}}}}
		if got := st.ExitCode(); got != tc.want {
			t.Errorf("one %s hygiene finding: status exit %d, want %d", tc.sev, got, tc.want)
		}
		st.HygieneFindings[0].Sources = []string{"node1:9478"}
		if got := st.ExitCode(); got != ExitOK {
			t.Errorf("a daemon's %s finding changed status's exit code to %d", tc.sev, got)
		}
	}
}
