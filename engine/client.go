package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	gosync "sync"
	"time"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// DaemonReport is what one daemon answered, as read.
type DaemonReport struct {
	Address string
	// Unreachable is why no endpoint answered ("" when some did).
	Unreachable string
	// Errors are the endpoints that failed while others answered.
	Errors   []string
	Ready    bool
	NotReady string // /readyz's reason when not ready
	// Failovers are its /failovers records, oldest first.
	Failovers []FailoverRecord
	// Routes is its /routes (nil when that failed).
	Routes   *RouteStatus
	Findings []FindingOut
	// Member is its /member (nil when that failed: an older ovnfwd).
	Member *MemberInfo
}

func (d DaemonReport) reachable() bool { return d.Unreachable == "" }

// QueryDaemons asks every daemon at once and returns their reports in the
// order of addrs. Each daemon gets at most timeout (and never more than
// ctx allows).
func QueryDaemons(ctx context.Context, addrs []string, timeout time.Duration) []DaemonReport {
	out := make([]DaemonReport, len(addrs))
	var wg gosync.WaitGroup
	for i, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = queryDaemon(ctx, a, timeout)
		}()
	}
	wg.Wait()
	return out
}

// queryDaemon reads /readyz, /failovers, /routes and /findings of one
// daemon concurrently.
func queryDaemon(ctx context.Context, addr string, timeout time.Duration) DaemonReport {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r := DaemonReport{Address: addr}
	base, err := DaemonURL(addr)
	if err != nil {
		r.Unreachable = err.Error()
		return r
	}
	var (
		wg        gosync.WaitGroup
		readyErr  error
		readyBody string
		readyCode int
		failErr   error
		routesErr error
		findErr   error
		routes    RouteStatus
		member    MemberInfo
		memberErr error
		// Decoded apart and kept only when the whole body decoded: a
		// malformed body must not leave half its records behind.
		failovers []FailoverRecord
		findings  []FindingOut
	)
	wg.Add(5)
	go func() { defer wg.Done(); memberErr = getJSON(ctx, base, "/member", &member) }()
	go func() {
		defer wg.Done()
		readyCode, readyBody, readyErr = httpGet(ctx, base, "/readyz")
	}()
	go func() { defer wg.Done(); failErr = getJSON(ctx, base, "/failovers", &failovers) }()
	go func() { defer wg.Done(); routesErr = getJSON(ctx, base, "/routes", &routes) }()
	go func() { defer wg.Done(); findErr = getJSON(ctx, base, "/findings", &findings) }()
	wg.Wait()

	if readyErr == nil {
		switch readyCode {
		case http.StatusOK:
			if strings.TrimSpace(readyBody) == "ready" {
				r.Ready = true
			} else {
				readyErr = fmt.Errorf("GET %s/readyz: HTTP 200 but not an ovnfwd daemon's answer: %q", base, firstLine(readyBody))
			}
		case http.StatusServiceUnavailable:
			r.NotReady = strings.TrimSpace(readyBody)
		default:
			readyErr = fmt.Errorf("GET %s/readyz: HTTP %d", base, readyCode)
		}
	}
	if failErr == nil {
		r.Failovers = failovers
	}
	if findErr == nil {
		r.Findings = findings
	}
	if routesErr == nil {
		r.Routes = &routes
	}
	if memberErr == nil {
		r.Member = &member
	}
	errs := []error{readyErr, failErr, routesErr, findErr}
	transport := 0
	for _, err := range errs {
		var ue *url.Error
		if errors.As(err, &ue) {
			transport++
		}
	}
	if transport == len(errs) {
		// Nothing answered: one reason, the first endpoint's.
		r.Unreachable = unreachableReason(readyErr, timeout)
		r.Failovers, r.Findings, r.Routes = nil, nil, nil
		return r
	}
	for _, err := range errs {
		if err != nil {
			r.Errors = append(r.Errors, err.Error())
		}
	}
	return r
}

// DaemonURL turns host:port or an http(s) URL into the base URL.
func DaemonURL(addr string) (string, error) {
	u, hasScheme := addr, strings.Contains(addr, "://")
	if !hasScheme {
		u = "http://" + addr
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Hostname() == "" || (!hasScheme && p.Port() == "") {
		return "", fmt.Errorf("--daemon %q: want HOST:PORT or http://HOST:PORT (an ovnfwd run --metrics-address)", addr)
	}
	return strings.TrimRight(u, "/"), nil
}

// unreachableReason says why a daemon did not answer, without repeating
// the URL when the dial error already names the address.
func unreachableReason(err error, timeout time.Duration) string {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err.Error()
	}
	if errors.Is(ue.Err, context.DeadlineExceeded) || ue.Timeout() {
		return fmt.Sprintf("no answer from %s within %s", ue.URL, timeout)
	}
	return ue.Err.Error()
}

// maxDaemonBody bounds what is read from one endpoint.
const maxDaemonBody = 16 << 20

func httpGet(ctx context.Context, base, path string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s%s: %v", base, path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err // a *url.Error naming the URL
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDaemonBody+1))
	if err != nil {
		return 0, "", fmt.Errorf("GET %s%s: reading the answer: %w", base, path, err)
	}
	if len(body) > maxDaemonBody {
		// Its first 16 MiB might decode; the whole answer is not judged.
		return 0, "", fmt.Errorf("GET %s%s: answer larger than %d MiB", base, path, maxDaemonBody>>20)
	}
	return resp.StatusCode, string(body), nil
}

// getJSON reads one JSON endpoint into v; on error v may hold part of the
// body: decode into a fresh value and keep it only on success.
func getJSON(ctx context.Context, base, path string, v any) error {
	code, body, err := httpGet(ctx, base, path)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s%s: HTTP %d: %s", base, path, code, firstLine(body))
	}
	if strings.TrimSpace(body) == "null" {
		// Valid JSON that decodes to nothing: no daemon sends it.
		return fmt.Errorf("GET %s%s: not the JSON of an ovnfwd daemon: null", base, path)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		return fmt.Errorf("GET %s%s: not the JSON of an ovnfwd daemon: %w", base, path, err)
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// ---------------------------------------------------------------------------
// Failovers: merged across daemons

// FailoverOut is one gateway claim change as status and explain report it:
// a failoverRecord of one or more daemons (every daemon watches the same
// SB, so the same change is usually reported by all of them).
type FailoverOut struct {
	Network string `json:"network" yaml:"network"`
	Port    string `json:"port" yaml:"port"`
	// Kind is failover, restored, acquired or lost.
	Kind         string `json:"kind" yaml:"kind"`
	From         string `json:"from" yaml:"from"`
	FromHostname string `json:"from_hostname,omitempty" yaml:"from_hostname,omitempty"`
	// Previous is the chassis that held the port before a stable loss,
	// when From is "" (the port was unclaimed for longer than the
	// daemon's --claim-debounce before To claimed it).
	Previous   string    `json:"previous,omitempty" yaml:"previous,omitempty"`
	To         string    `json:"to" yaml:"to"`
	ToHostname string    `json:"to_hostname,omitempty" yaml:"to_hostname,omitempty"`
	At         time.Time `json:"at" yaml:"at"`
	Confirmed  time.Time `json:"confirmed" yaml:"confirmed"`
	// UnclaimedMS is how long nobody held the port before To claimed it.
	UnclaimedMS int64 `json:"unclaimed_ms" yaml:"unclaimed_ms"`
	Flaps       int   `json:"flaps" yaml:"flaps"`
	// Reverified: every forward of the network was verified ok on the new
	// chassis, ReverifiedMS after the claim change (after it was stable:
	// ReverifiedAfterStableMS). Kind lost is never re-verified.
	Reverified              bool  `json:"reverified" yaml:"reverified"`
	ReverifiedMS            int64 `json:"reverified_ms" yaml:"reverified_ms"`
	ReverifiedAfterStableMS int64 `json:"reverified_after_stable_ms" yaml:"reverified_after_stable_ms"`
	Forwards                int   `json:"forwards" yaml:"forwards"`
	// SeenBy are the daemons that reported it.
	SeenBy []string `json:"seen_by" yaml:"seen_by"`
}

// sameFailoverWindow: records of different daemons with the same port,
// kind and holders this close in time are one change (each daemon stamps
// the change when its SB replica shows it: milliseconds apart, plus clock
// skew between members).
const sameFailoverWindow = 5 * time.Second

type taggedFailover struct {
	FailoverRecord
	daemon   string
	previous string
}

// mergeFailovers merges the daemons' records into one list, oldest first.
// A change reported by several daemons appears once, stamped with the
// earliest observation; two records of the same daemon are never merged.
func mergeFailovers(ds []DaemonReport) []FailoverOut {
	var all []taggedFailover
	for _, d := range ds {
		lostBy := map[string]string{} // port → chassis of the last stable loss
		for _, r := range d.Failovers {
			t := taggedFailover{FailoverRecord: r, daemon: d.Address}
			if r.From == "" && r.To != "" {
				t.previous = lostBy[r.Port]
			}
			delete(lostBy, r.Port)
			if r.To == "" && r.From != "" {
				lostBy[r.Port] = r.From
			}
			all = append(all, t)
		}
	}
	slices.SortStableFunc(all, func(a, b taggedFailover) int {
		return cmp.Or(a.At.Compare(b.At), strings.Compare(a.daemon, b.daemon))
	})
	var out []FailoverOut
	var groups [][]taggedFailover
	for _, t := range all {
		joined := false
		for gi := len(groups) - 1; gi >= 0; gi-- {
			g := groups[gi]
			first := g[0]
			if t.At.Sub(first.At) > sameFailoverWindow {
				continue
			}
			if first.Port != t.Port || first.Kind != t.Kind || first.From != t.From || first.To != t.To ||
				slices.ContainsFunc(g, func(x taggedFailover) bool { return x.daemon == t.daemon }) {
				continue
			}
			groups[gi] = append(g, t)
			joined = true
			break
		}
		if !joined {
			groups = append(groups, []taggedFailover{t})
		}
	}
	for _, g := range groups {
		rep := g[0]
		f := FailoverOut{Network: rep.Network, Port: rep.Port, Kind: rep.Kind, From: rep.From, To: rep.To,
			At: rep.At, Confirmed: rep.Confirmed, UnclaimedMS: rep.Unclaimed.Milliseconds(), Flaps: rep.Flaps, SeenBy: []string{}}
		for _, t := range g {
			f.SeenBy = append(f.SeenBy, t.daemon)
			if f.Previous == "" {
				f.Previous = t.previous
			}
			if !f.Reverified && t.Reverified > 0 {
				f.Reverified, f.ReverifiedMS, f.ReverifiedAfterStableMS, f.Forwards =
					true, t.Reverified.Milliseconds(), t.ReverifiedAfterStable.Milliseconds(), t.Forwards
			}
		}
		out = append(out, f)
	}
	slices.SortStableFunc(out, func(a, b FailoverOut) int { return a.At.Compare(b.At) })
	return out
}

// lastFailover returns the newest change of the gateway port (or, for a
// record of a daemon that did not know the network yet, of the network's
// name), with hostnames filled in from SB; nil when none.
func lastFailover(fs []FailoverOut, port, network string, chassis map[string]fwdsync.SBChassis) *FailoverOut {
	for i := len(fs) - 1; i >= 0; i-- {
		f := fs[i]
		if (port != "" && f.Port == port) || f.Network == network {
			f.FromHostname = hostnameOf(chassis, f.From)
			f.ToHostname = hostnameOf(chassis, f.To)
			return &f
		}
	}
	return nil
}

func hostnameOf(chassis map[string]fwdsync.SBChassis, name string) string {
	if h := chassis[name].Hostname; h != name {
		return h
	}
	return ""
}

// hygieneCategories are the findings status lists per network.
var hygieneCategories = map[fwdsync.Category]bool{
	fwdsync.CatHAStale: true, fwdsync.CatHAMissing: true, fwdsync.CatHAPriority: true,
	fwdsync.CatDarkEverywhere: true, fwdsync.CatChassisUnresponsive: true,
	fwdsync.CatVIPUnanswered: true, fwdsync.CatLXDBGPAlsoAnnounces: true, fwdsync.CatRouteNoNextHop: true,
	fwdsync.CatListenOutsideRoutes: true, fwdsync.CatListenIsInstanceAddress: true, fwdsync.CatListenOverlap: true,
	fwdsync.CatForwardHasLocation: true,
}

// haCategories are the hygiene categories about HA chassis groups, whose
// detail names one chassis.
var haCategories = map[fwdsync.Category]bool{
	fwdsync.CatHAStale: true, fwdsync.CatHAMissing: true, fwdsync.CatHAPriority: true, fwdsync.CatChassisUnresponsive: true,
}

// HygieneFinding is one HA or route finding, from this command's own pass
// ("local") or from daemons.
type HygieneFinding struct {
	Project       string `json:"project" yaml:"project"`
	Network       string `json:"network" yaml:"network"`
	ListenAddress string `json:"listen_address,omitempty" yaml:"listen_address,omitempty"`
	Category      string `json:"category" yaml:"category"`
	Severity      string `json:"severity" yaml:"severity"`
	// Chassis is the chassis an HA finding is about ("" for the others).
	Chassis string `json:"chassis,omitempty" yaml:"chassis,omitempty"`
	Detail  string `json:"detail" yaml:"detail"`
	Repair  string `json:"repair" yaml:"repair"`
	// Sources: "local" (status judged it now) and/or daemon addresses.
	Sources []string `json:"sources" yaml:"sources"`
}

// LocalSource names findings of the command's own pass.
const LocalSource = "local"

// chassisInDetail finds the chassis named in HA findings' details ("group
// G: chassis C (HA_Chassis …", "lacks chassis C of LXD member M", "its
// chassis C has no SB Chassis row", …; not "its chassis is unknown").
var chassisInDetail = regexp.MustCompile(`\bchassis ([^\s,:()]+) (?:\(|of |has |more |belong|matches |did )`)

// findingChassis is the chassis an HA finding's detail names first.
func findingChassis(cat, detail string) string {
	if !haCategories[fwdsync.Category(cat)] {
		return ""
	}
	if m := chassisInDetail.FindStringSubmatch(detail); m != nil {
		return m[1]
	}
	return ""
}

// collectHygiene gathers the hygiene findings of the local pass and of the
// daemons (/findings, /routes). One finding reported by several sources
// (same category, network, listen address and chassis; same detail when
// it names no chassis) appears once, worded as its first source put it.
func collectHygiene(local []fwdsync.Finding, ds []DaemonReport) []HygieneFinding {
	var out []HygieneFinding
	index := map[string]int{}
	add := func(h HygieneFinding, source string) {
		if !hygieneCategories[fwdsync.Category(h.Category)] {
			return
		}
		h.Chassis = findingChassis(h.Category, h.Detail)
		k := strings.Join([]string{h.Category, h.Project, h.Network, h.ListenAddress, h.Chassis}, "\x00")
		if h.Chassis == "" {
			k += "\x00" + h.Detail
		}
		if i, ok := index[k]; ok {
			if !slices.Contains(out[i].Sources, source) {
				out[i].Sources = append(out[i].Sources, source)
			}
			return
		}
		h.Sources = []string{source}
		index[k] = len(out)
		out = append(out, h)
	}
	for _, f := range local {
		add(HygieneFinding{Project: keyProject(f.Key), Network: f.Key.Network, ListenAddress: f.Key.ListenAddress,
			Category: string(f.Category), Severity: string(f.Severity), Detail: f.Detail, Repair: f.Repair}, LocalSource)
	}
	for _, d := range ds {
		for _, f := range d.Findings {
			p := f.Project
			if f.Network != "" {
				p = ProjectName(p)
			}
			add(HygieneFinding{Project: p, Network: f.Network, ListenAddress: f.ListenAddress,
				Category: f.Category, Severity: f.Severity, Detail: f.Detail, Repair: f.Repair}, d.Address)
		}
		if d.Routes != nil {
			for _, f := range d.Routes.Findings {
				add(HygieneFinding{Project: ProjectName(f.Project), Network: f.Network,
					Category: f.Category, Severity: f.Severity, Detail: f.Detail, Repair: f.Repair}, d.Address)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b HygieneFinding) int {
		return cmp.Or(strings.Compare(a.Project, b.Project), strings.Compare(a.Network, b.Network),
			strings.Compare(a.Category, b.Category), strings.Compare(a.Chassis, b.Chassis),
			strings.Compare(a.ListenAddress, b.ListenAddress))
	})
	return out
}

// ScopeDaemonFindings drops the daemons' findings outside the command's
// scope (the local ones are scoped already).
func ScopeDaemonFindings(ds []DaemonReport, sc Scope) {
	for i := range ds {
		var keep []FindingOut
		for _, f := range ds[i].Findings {
			if sc.Match(fwdsync.ForwardKey{Project: f.Project, Network: f.Network, ListenAddress: f.ListenAddress}) {
				keep = append(keep, f)
			}
		}
		ds[i].Findings = keep
	}
}

// ---------------------------------------------------------------------------
// Members: what each daemon says about itself

// MemberStatus is one daemon (LXD member) in status's report.
type MemberStatus struct {
	Daemon    string `json:"daemon" yaml:"daemon"`
	Reachable bool   `json:"reachable" yaml:"reachable"`
	// Member is the LXD member the daemon runs beside; Writer: it writes
	// NB now (from its /member).
	Member  string `json:"member,omitempty" yaml:"member,omitempty"`
	Writer  bool   `json:"writer" yaml:"writer"`
	Version string `json:"version,omitempty" yaml:"version,omitempty"`
	// Error is "unreachable: <reason>", or the endpoints that failed.
	Error string `json:"error,omitempty" yaml:"error,omitempty"`
	Ready bool   `json:"ready" yaml:"ready"`
	// NotReady is the daemon's reason when not ready.
	NotReady string `json:"not_ready,omitempty" yaml:"not_ready,omitempty"`
	// Chassis is the member's chassis (known when BGP is on).
	Chassis  string `json:"chassis,omitempty" yaml:"chassis,omitempty"`
	BGP      bool   `json:"bgp" yaml:"bgp"`
	ASN      uint32 `json:"asn,omitempty" yaml:"asn,omitempty"`
	RouterID string `json:"router_id,omitempty" yaml:"router_id,omitempty"`
	NextHop  string `json:"next_hop_mode,omitempty" yaml:"next_hop_mode,omitempty"`
	// Routes is how many routes it announces.
	Routes   int             `json:"routes" yaml:"routes"`
	Networks []MemberNetwork `json:"networks" yaml:"networks"`
	Sessions []MemberSession `json:"sessions" yaml:"sessions"`
	LastSync *time.Time      `json:"last_sync,omitempty" yaml:"last_sync,omitempty"`
	// RouteError is the daemon's last BGP sync error.
	RouteError string `json:"route_error,omitempty" yaml:"route_error,omitempty"`
	// Failovers is how many gateway changes it has recorded.
	Failovers int `json:"failovers" yaml:"failovers"`
	// RoutesAnswered: it answered /routes (the route fields are known).
	RoutesAnswered bool `json:"routes_answered" yaml:"routes_answered"`
}

type MemberNetwork struct {
	Project   string `json:"project" yaml:"project"`
	Network   string `json:"network" yaml:"network"`
	Holder    string `json:"holder" yaml:"holder"`
	Announced bool   `json:"announced" yaml:"announced"`
	Routes    int    `json:"routes" yaml:"routes"`
	Reason    string `json:"reason" yaml:"reason"`
}

type MemberSession struct {
	Peer        string    `json:"peer" yaml:"peer"`
	ASN         uint32    `json:"asn" yaml:"asn"`
	State       string    `json:"state" yaml:"state"`
	Since       time.Time `json:"since" yaml:"since"`
	Established uint64    `json:"established_count" yaml:"established_count"`
	Drops       uint64    `json:"drops" yaml:"drops"`
	Advertised  uint64    `json:"advertised" yaml:"advertised"`
}

// memberStatuses describes the daemons; networks outside keep (when keep
// is not nil) are left out of their route state.
func memberStatuses(ds []DaemonReport, keep func(project, network string) bool) []MemberStatus {
	out := make([]MemberStatus, 0, len(ds))
	for _, d := range ds {
		m := MemberStatus{Daemon: d.Address, Reachable: d.reachable(), Ready: d.Ready, NotReady: d.NotReady,
			Networks: []MemberNetwork{}, Sessions: []MemberSession{}, Failovers: len(d.Failovers)}
		switch {
		case !d.reachable():
			m.Error = "unreachable: " + d.Unreachable
		case len(d.Errors) > 0:
			m.Error = strings.Join(d.Errors, "; ")
		}
		if mi := d.Member; mi != nil {
			m.Member, m.Writer, m.Version, m.Chassis = mi.Member, mi.Writer, mi.Version, mi.Chassis
		}
		if r := d.Routes; r != nil {
			m.RoutesAnswered = true
			for _, n := range r.Networks {
				if keep != nil && !keep(n.Project, n.Network) {
					continue
				}
				m.Networks = append(m.Networks, MemberNetwork{Project: n.Project, Network: n.Network, Holder: n.Holder,
					Announced: n.Announced, Routes: n.Routes, Reason: n.Reason})
			}
			m.Chassis, m.BGP, m.ASN, m.RouterID, m.NextHop = cmp.Or(m.Chassis, r.Chassis), r.Enabled, r.ASN, r.RouterID, r.NextHop
			m.Routes, m.LastSync, m.RouteError = len(r.Routes), r.LastSync, r.Error
			for _, s := range r.Sessions {
				m.Sessions = append(m.Sessions, MemberSession{Peer: s.Peer, ASN: s.ASN, State: s.State, Since: s.Since,
					Established: s.Established, Drops: s.Drops, Advertised: s.Advertised})
			}
		}
		out = append(out, m)
	}
	return out
}

// FailoverSummary is one line about a failover (status, explain).
func FailoverSummary(f FailoverOut) string {
	holder := func(name, host string) string {
		switch {
		case name == "":
			return "nobody"
		case host != "":
			return name + " (" + host + ")"
		}
		return name
	}
	from := holder(f.From, f.FromHostname)
	if f.From == "" && f.Previous != "" {
		from = "nobody (after " + f.Previous + ")"
	}
	s := fmt.Sprintf("%s: %s → %s at %s", f.Kind, from, holder(f.To, f.ToHostname), f.At.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	if f.UnclaimedMS > 0 {
		s += fmt.Sprintf(", unclaimed %s", msDuration(f.UnclaimedMS))
	}
	if f.Flaps > 0 {
		s += fmt.Sprintf(", %s", Plural(f.Flaps, "flap"))
	}
	switch {
	case f.Reverified:
		s += fmt.Sprintf(", %s re-verified %s after the change (%s after it was stable)",
			Plural(f.Forwards, "forward"), msDuration(f.ReverifiedMS), msDuration(f.ReverifiedAfterStableMS))
	case f.To == "":
		s += ", forwards dark"
	default:
		s += ", re-verification pending"
	}
	return s + "; seen by " + strings.Join(f.SeenBy, ", ")
}

func msDuration(ms int64) string { return (time.Duration(ms) * time.Millisecond).String() }
