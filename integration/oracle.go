//go:build integration

package integration

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/canonical/lxd/shared/api"
)

// ExpectedLBs computes, independently of ovnfwd's sync package, the
// Load_Balancer rows LXD 5.0 writes for an IPv4 forward: name → VIPs.
func ExpectedLBs(t testing.TB, prefix, listen, defaultTarget string, ports []api.NetworkForwardPort) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	add := func(proto, k, v string) {
		name := prefix + "-lb-" + listen + "-" + proto
		if out[name] == nil {
			out[name] = map[string]string{}
		}
		out[name][k] = v
	}
	for _, p := range ports {
		lp := expandPorts(t, p.ListenPort)
		tp := expandPorts(t, p.TargetPort)
		for i, l := range lp {
			target := l
			switch {
			case len(tp) == 1:
				target = tp[0]
			case len(tp) > 1:
				target = tp[i]
			}
			add(p.Protocol, fmt.Sprintf("%s:%d", listen, l), fmt.Sprintf("%s:%d", p.TargetAddress, target))
		}
	}
	if defaultTarget != "" {
		add("tcp", listen, defaultTarget)
		// The bed's Incus (6.0.4; every 6.0.2+) also puts the port-less
		// default target into the -udp row, and so makes that row for a
		// forward with a default target alone (LXD 5.0.2: -tcp only).
		if strings.HasPrefix(prefix, "incus-net") {
			add("udp", listen, defaultTarget)
		}
	}
	return out
}

func expandPorts(t testing.TB, spec string) []int {
	var out []int
	if spec == "" {
		return nil
	}
	for _, part := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			t.Fatalf("bad port %q", spec)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				t.Fatalf("bad port %q", spec)
			}
		}
		for p := a; p <= b; p++ {
			out = append(out, p)
		}
	}
	return out
}

// NBMatches compares NB with the expected rows of every listed forward
// (want: name → VIPs) for names with the given prefix: every expected
// name has exactly one row with exactly those VIPs, attached to the router
// and ls-int, and no other row of the prefix exists. It returns "" when NB
// matches, or what differs.
func (b *Bed) NBMatches(t testing.TB, prefix string, want map[string]map[string]string) string {
	t.Helper()
	rows := b.LBsByName(t)
	attachedR := b.NBCtl(t, "--bare", "--columns=load_balancer", "list", "Logical_Router", prefix+"-lr")
	attachedS := b.NBCtl(t, "--bare", "--columns=load_balancer", "list", "Logical_Switch", prefix+"-ls-int")
	var diffs []string
	for name, vips := range want {
		rs := rows[name]
		if len(rs) != 1 {
			diffs = append(diffs, fmt.Sprintf("%s: %d rows", name, len(rs)))
			continue
		}
		if proto := name[strings.LastIndex(name, "-")+1:]; rs[0].Protocol != proto {
			diffs = append(diffs, fmt.Sprintf("%s: protocol %q, want %q", name, rs[0].Protocol, proto))
		}
		if fmt.Sprint(rs[0].VIPs) != fmt.Sprint(vips) {
			diffs = append(diffs, fmt.Sprintf("%s: vips %v, want %v", name, rs[0].VIPs, vips))
		}
		if !strings.Contains(attachedR, rs[0].UUID) || !strings.Contains(attachedS, rs[0].UUID) {
			diffs = append(diffs, name+": not attached to router and ls-int")
		}
	}
	for name := range rows {
		if strings.HasPrefix(name, prefix+"-lb-") && want[name] == nil {
			diffs = append(diffs, name+": unexpected row")
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "; ")
}
