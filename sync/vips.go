package sync

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// vipsEqual reports whether two VIP maps mean the same to OVN: equal as
// strings, or equal after normalizing addresses (ovn-nbctl stores a port-less
// IPv6 VIP unbracketed, Incus's libovsdb writer bracketed).
func vipsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	exact := true
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			exact = false
			break
		}
	}
	if exact {
		return true
	}
	na, nb := normalizeVIPs(a), normalizeVIPs(b)
	if len(na) != len(nb) {
		return false
	}
	for k, v := range na {
		if w, ok := nb[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// normalizeVIPs rewrites every key and backend in canonical form.
func normalizeVIPs(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		backends := strings.Split(v, ",")
		for i, b := range backends {
			backends[i] = normalizeEndpoint(b)
		}
		out[normalizeEndpoint(k)] = strings.Join(backends, ",")
	}
	return out
}

// normalizeEndpoint formats "ip", "[ip]", "ip:port" or "[ip]:port"
// canonically: "1.2.3.4", "2001:db8::1", "1.2.3.4:80", "[2001:db8::1]:80".
// Anything else is returned trimmed but unchanged.
func normalizeEndpoint(s string) string {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
	}
	if a, ok := parseHostAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); ok {
		return a.String()
	}
	return s
}

// describeVIPDiff lists how have differs from want, a few entries per kind.
func describeVIPDiff(have, want map[string]string) string {
	nh, nw := normalizeVIPs(have), normalizeVIPs(want)
	var missing, extra, changed []string
	for k, v := range nw {
		switch hv, ok := nh[k]; {
		case !ok:
			missing = append(missing, k+"="+v)
		case hv != v:
			changed = append(changed, fmt.Sprintf("%s=%s (want %s)", k, hv, v))
		}
	}
	for k, v := range nh {
		if _, ok := nw[k]; !ok {
			extra = append(extra, k+"="+v)
		}
	}
	var parts []string
	for _, p := range []struct {
		label string
		items []string
	}{{"missing", missing}, {"unexpected", extra}, {"different", changed}} {
		if len(p.items) > 0 {
			parts = append(parts, p.label+" "+shortList(p.items, 4))
		}
	}
	if len(parts) == 0 {
		return "VIPs differ"
	}
	return strings.Join(parts, "; ")
}

// formatVIPs renders a VIP map sorted, at most limit entries.
func formatVIPs(m map[string]string, limit int) string {
	items := make([]string, 0, len(m))
	for k, v := range m {
		items = append(items, k+"="+v)
	}
	return "{" + shortList(items, limit) + "}"
}

// shortList sorts items and joins the first limit of them.
func shortList(items []string, limit int) string {
	slices.Sort(items)
	if len(items) <= limit {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s, … %d more", strings.Join(items[:limit], ", "), len(items)-limit)
}

// SplitVIP splits a VIP key or backend ("198.51.100.10:80", "[2001:db8::1]:80",
// a port-less "198.51.100.10") into its address and port ("" when none).
func SplitVIP(vip string) (addr, port string) {
	if ap, err := netip.ParseAddrPort(vip); err == nil {
		return ap.Addr().String(), fmt.Sprint(ap.Port())
	}
	return strings.Trim(vip, "[]"), ""
}
