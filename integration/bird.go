//go:build integration

package integration

import (
	"bufio"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// Bird is the test bed's BIRD 2, the uplink router of the route-state tests
// (`testbed.sh bird-up`): it listens on loopback and accepts BGP from
// 127.0.0.11/12/13, one ovnfwd instance per chassis ch1..ch3, as protocols
// ovnfwd_ch1..3. It installs nothing; its routes are read with birdc.
type Bird struct {
	bed *Bed
	Env map[string]string
}

// BirdUp starts BIRD (or reloads its config) and returns it.
func (b *Bed) BirdUp(t testing.TB) *Bird {
	t.Helper()
	b.Script(t, "bird-up")
	env, err := LoadEnv(filepath.Join(b.Get(t, "TB_STATE"), "bird", "env"))
	if err != nil {
		t.Fatal(err)
	}
	return &Bird{bed: b, Env: env}
}

// Address is BIRD's BGP endpoint, ADDRESS:PORT, as ovnfwd's --bgp-peer
// takes it (with the ASN).
func (br *Bird) PeerFlag() string {
	return fmt.Sprintf("%s:%s,%s", br.Env["TB_BIRD_ADDRESS"], br.Env["TB_BIRD_PORT"], br.Env["TB_BIRD_ASN"])
}

// Birdc runs one birdc command against BIRD's control socket.
func (br *Bird) Birdc(t testing.TB, args ...string) string {
	t.Helper()
	return br.bed.must(t, nil, "birdc", append([]string{"-s", br.Env["TB_BIRD_SOCKET"]}, args...)...)
}

// BirdRoute is one route BIRD holds (`show route all`).
type BirdRoute struct {
	Prefix   string
	Protocol string // ovnfwd_chN
	From     string // the BGP neighbor
	Primary  bool   // BIRD's best route for the prefix
	NextHop  string // BGP.next_hop
	ASPath   string
	MED      string   // BGP.med, "" when absent
	Comms    []string // BGP.community (and large_community), as BIRD prints them
}

func (r BirdRoute) String() string {
	s := fmt.Sprintf("%s from %s nh %s", r.Prefix, r.Protocol, r.NextHop)
	if r.MED != "" {
		s += " med " + r.MED
	}
	if len(r.Comms) > 0 {
		s += " comm " + strings.Join(r.Comms, " ")
	}
	return s
}

var birdRouteLine = regexp.MustCompile(`^(\S+)?\s+\S+.*?\[(\S+) [^\]]*?(?:from (\S+))?\]\s*(\*)?`)

// ParseBirdRoutes parses `birdc show route all`.
func ParseBirdRoutes(out string) []BirdRoute {
	var routes []BirdRoute
	prefix := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "BIRD ") || strings.HasPrefix(line, "Table ") || strings.TrimSpace(line) == "":
		case strings.HasPrefix(line, "\t"):
			if len(routes) == 0 {
				continue
			}
			r := &routes[len(routes)-1]
			k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
			if !ok {
				continue
			}
			switch k {
			case "BGP.next_hop":
				r.NextHop = v
			case "BGP.as_path":
				r.ASPath = v
			case "BGP.med":
				r.MED = v
			case "BGP.community", "BGP.large_community":
				r.Comms = append(r.Comms, strings.Fields(v)...)
			}
		default:
			m := birdRouteLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			if m[1] != "" {
				prefix = m[1]
			}
			routes = append(routes, BirdRoute{Prefix: prefix, Protocol: m[2], From: m[3], Primary: m[4] == "*"})
		}
	}
	sort.Slice(routes, func(i, j int) bool {
		if routes[i].Prefix != routes[j].Prefix {
			return routes[i].Prefix < routes[j].Prefix
		}
		return routes[i].Protocol < routes[j].Protocol
	})
	return routes
}

// Routes returns every route BIRD holds.
func (br *Bird) Routes(t testing.TB) []BirdRoute {
	t.Helper()
	return ParseBirdRoutes(br.Birdc(t, "show", "route", "all"))
}

// RoutesNoFail is Routes for goroutines other than the test's: it returns
// the error instead of failing the test.
func (br *Bird) RoutesNoFail() ([]BirdRoute, error) {
	ctx, cancel := waitCtx(10 * time.Second)
	defer cancel()
	out, err := run(ctx, nil, "birdc", "-s", br.Env["TB_BIRD_SOCKET"], "show", "route", "all")
	if err != nil {
		return nil, err
	}
	return ParseBirdRoutes(out), nil
}

// BirdSample is BIRD's route set (RouteSet lines) at one moment.
type BirdSample struct {
	At  time.Time
	Set string
}

// Sample reads BIRD's routes (those keep accepts) every 2 ms until stop is
// closed, then sends every change of the set on the returned channel.
func (br *Bird) Sample(keep func(BirdRoute) bool, stop <-chan struct{}) <-chan []BirdSample {
	out := make(chan []BirdSample, 1)
	go func() {
		var samples []BirdSample
		last := "\x00"
		for {
			select {
			case <-stop:
				out <- samples
				return
			default:
			}
			if rs, err := br.RoutesNoFail(); err == nil {
				now := time.Now()
				if set := strings.Join(RouteSet(rs, keep), "\n"); set != last {
					samples = append(samples, BirdSample{At: now, Set: set})
					last = set
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return out
}

// Protocols returns each BGP protocol's state line (`show protocols`):
// name → "Established", "Passive", "Active", ….
func (br *Bird) Protocols(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(br.Birdc(t, "show", "protocols"), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[1] == "BGP" {
			out[f[0]] = strings.Join(f[5:], " ")
		}
	}
	return out
}

// WaitEstablished waits until every named protocol's session is up.
func (br *Bird) WaitEstablished(t testing.TB, timeout time.Duration, protos ...string) {
	t.Helper()
	Eventually(t, timeout, 50*time.Millisecond, "BIRD sessions established", func() string {
		ps := br.Protocols(t)
		for _, p := range protos {
			if !strings.HasPrefix(ps[p], "Established") {
				return fmt.Sprintf("%s: %q", p, ps[p])
			}
		}
		return ""
	})
}

// RouteSet summarizes routes as sorted "prefix from protocol nh …" lines,
// keeping only prefixes for which keep returns true (nil: all).
func RouteSet(routes []BirdRoute, keep func(BirdRoute) bool) []string {
	var out []string
	for _, r := range routes {
		if keep == nil || keep(r) {
			out = append(out, r.String())
		}
	}
	sort.Strings(out)
	return out
}
