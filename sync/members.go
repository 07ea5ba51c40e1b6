package sync

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// CatMemberConfigMismatch: a cluster member's ovnfwd runs with another
// policy (what changes what is written) or version than the writer's.
const CatMemberConfigMismatch Category = "member-config-mismatch"

// Keys every member's ovnfwd publishes about itself (Member.Published).
const (
	PublishedChassis = "chassis" // its OVN chassis (the local OVS system-id)
	PublishedVersion = "version" // ovnfwd's version
	PublishedPolicy  = "policy"  // Policy of its flags: what it would write
	// PublishedWriterSince is when it last became the NB writer (RFC 3339).
	PublishedWriterSince = "writer-since"
)

// Writer names the member that became the NB writer last (the newest
// writer-since): the writer now, unless it died since and nobody took over.
// "" when none published one.
func Writer(members []Member) string {
	var name string
	var newest time.Time
	for _, m := range members {
		t, err := time.Parse(time.RFC3339Nano, m.Published[PublishedWriterSince])
		if err == nil && t.After(newest) {
			name, newest = m.Name, t
		}
	}
	return name
}

// MemberChassis maps members to their chassis: what each member's ovnfwd
// published, overridden by explicit pairs (--member-chassis). Members
// neither names are left to PlanHA's hostname match.
func MemberChassis(members []Member, explicit map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range members {
		if c := m.Published[PublishedChassis]; c != "" {
			out[m.Name] = c
		}
	}
	maps.Copy(out, explicit)
	return out
}

// Policy renders the settings that change what a member writes to NB, in
// one canonical line: two members write alike iff their policies (and
// versions) are equal.
func Policy(o Options, ha *HAOptions, liveness string) string {
	parts := []string{
		"deletion-budget=" + fmt.Sprint(o.DeletionBudget),
		"arp-responder=" + o.ARPResponder,
	}
	if ha == nil {
		parts = append(parts, "ha=off")
	} else {
		parts = append(parts, fmt.Sprintf("ha=on remove-unresponsive=%v absent-grace=%s", ha.RemoveUnresponsive, ha.AbsentGrace))
	}
	if liveness != "" {
		parts = append(parts, "liveness="+liveness)
	}
	return strings.Join(parts, " ")
}

// MemberConfigFindings reports every member whose published policy or
// version differs from the writer's (writer names the member whose
// published values are the reference). Members that published nothing are
// not judged: they may run no ovnfwd. The writer applies its own policy;
// the others are never fought over, only reported.
func MemberConfigFindings(members []Member, writer string) []Finding {
	i := slices.IndexFunc(members, func(m Member) bool { return m.Name == writer })
	if i < 0 || members[i].Published[PublishedPolicy] == "" {
		return nil
	}
	ref := members[i].Published
	var out []Finding
	for _, m := range members {
		p := m.Published
		if m.Name == writer || p[PublishedPolicy] == "" {
			continue
		}
		var diffs []string
		if p[PublishedVersion] != ref[PublishedVersion] {
			diffs = append(diffs, fmt.Sprintf("version %s (writer %s)", p[PublishedVersion], ref[PublishedVersion]))
		}
		if p[PublishedPolicy] != ref[PublishedPolicy] {
			diffs = append(diffs, fmt.Sprintf("policy %q (writer %q)", p[PublishedPolicy], ref[PublishedPolicy]))
		}
		if len(diffs) == 0 {
			continue
		}
		out = append(out, Finding{Category: CatMemberConfigMismatch, Severity: SeverityWarning,
			Detail: fmt.Sprintf("LXD member %s: its ovnfwd differs from the writer %s: %s; only the writer's is applied",
				m.Name, writer, strings.Join(diffs, ", ")),
			Repair: "none: give every member's ovnfwd the same settings and version (snap refresh, snap set ovnfwd …)"})
	}
	return out
}
