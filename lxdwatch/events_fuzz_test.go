package lxdwatch

import (
	"encoding/json"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/canonical/lxd/shared/api"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// checkEvent checks what ParseLifecycle accepted: a known action of the
// event's kind; a forward or load balancer key with a canonical IP listen
// address, a non-empty network and project that agree with Network; a
// network event with a non-empty network and project; a member event
// with a member name.
func checkEvent(t *testing.T, ev Event) {
	t.Helper()
	if k, ok := actions[ev.Action]; !ok || k != ev.Kind {
		t.Fatalf("action %q of kind %v", ev.Action, ev.Kind)
	}
	switch ev.Kind {
	case KindForward, KindLoadBalancer:
		ip := net.ParseIP(ev.Key.ListenAddress)
		if ip == nil || ip.String() != ev.Key.ListenAddress || CanonicalIP(ev.Key.ListenAddress) != ev.Key.ListenAddress {
			t.Fatalf("listen address %q is not a canonical IP", ev.Key.ListenAddress)
		}
		if ev.Key.Network == "" || ev.Key.Project == "" || ev.Key.Network != ev.Network.Name || ev.Key.Project != ev.Network.Project {
			t.Fatalf("key %+v, network %+v", ev.Key, ev.Network)
		}
	case KindNetwork:
		if ev.Network.Name == "" || ev.Network.Project == "" || ev.Key != (fwdsync.ForwardKey{}) {
			t.Fatalf("network event %+v", ev)
		}
	case KindMember:
		if ev.Member == "" || ev.Network.Name != "" {
			t.Fatalf("member event %+v", ev)
		}
	default:
		t.Fatalf("kind %v", ev.Kind)
	}
}

// FuzzParseLifecycle feeds raw events (type, metadata JSON, envelope
// project): never a panic, the same answer twice, and whatever is
// accepted passes checkEvent.
func FuzzParseLifecycle(f *testing.F) {
	f.Add("lifecycle", []byte(`{"action":"network-forward-created","source":"/1.0/networks/ovn1/forwards/192.0.2.10?project=p"}`), "")
	f.Fuzz(func(t *testing.T, typ string, metadata []byte, envelope string) {
		raw := api.Event{Type: typ, Metadata: metadata, Project: envelope}
		ev, ok := ParseLifecycle(raw)
		ev2, ok2 := ParseLifecycle(raw)
		if ok != ok2 || ev != ev2 {
			t.Fatalf("two answers: %+v %v / %+v %v", ev, ok, ev2, ok2)
		}
		if !ok {
			if ev != (Event{}) {
				t.Fatalf("rejected but returned %+v", ev)
			}
			return
		}
		if typ != api.EventTypeLifecycle {
			t.Fatalf("type %q accepted", typ)
		}
		checkEvent(t, ev)
	})
}

// fuzzActions are the followed actions, by kind, for FuzzLifecycleSource.
var fuzzActions = func() []string {
	var out []string
	for a := range actions {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}()

// FuzzLifecycleSource builds the source URL LXD would send for a network,
// listen address and project (escaped as LXD escapes them): the project
// of ?project= comes back exactly (else the envelope's, else "default"),
// the network name too, and the listen address canonical; a forward event
// whose listen address is no IP address is refused.
func FuzzLifecycleSource(f *testing.F) {
	f.Add(uint8(0), "ovn1", "2001:DB8::10", "tenant a", "", "node1")
	f.Fuzz(func(t *testing.T, ai uint8, network, listen, project, envelope, member string) {
		action := fuzzActions[int(ai)%len(fuzzActions)]
		kind := actions[action]
		var src string
		switch kind {
		case KindForward:
			src = "/1.0/networks/" + url.PathEscape(network) + "/forwards/" + url.PathEscape(listen)
		case KindLoadBalancer:
			src = "/1.0/networks/" + url.PathEscape(network) + "/load-balancers/" + url.PathEscape(listen)
		case KindNetwork:
			src = "/1.0/networks/" + url.PathEscape(network)
		case KindMember:
			src = "/1.0/cluster/members/" + url.PathEscape(member)
		}
		if project != "" {
			src += "?project=" + url.QueryEscape(project)
		}
		md, err := json.Marshal(api.EventLifecycle{Action: action, Source: src})
		if err != nil {
			t.Fatal(err)
		}
		ev, ok := ParseLifecycle(api.Event{Type: api.EventTypeLifecycle, Metadata: md, Project: envelope})
		if ok {
			checkEvent(t, ev)
		}
		wantProject := project
		if wantProject == "" {
			wantProject = envelope
		}
		if wantProject == "" {
			wantProject = "default"
		}
		switch kind {
		case KindForward, KindLoadBalancer:
			ip := net.ParseIP(strings.TrimSpace(listen)) // as CanonicalIP and the planner read it
			if want := network != "" && ip != nil; ok != want {
				t.Fatalf("%s %q: ok=%v, want %v (%+v)", action, src, ok, want, ev)
			}
			if ok && (ev.Key.Project != wantProject || ev.Key.Network != network || ev.Key.ListenAddress != ip.String()) {
				t.Fatalf("%q (envelope %q): key %+v, want project %q network %q listen %q", src, envelope, ev.Key, wantProject, network, ip)
			}
		case KindNetwork:
			if ok != (network != "") || ok && (ev.Network.Project != wantProject || ev.Network.Name != network) {
				t.Fatalf("%q (envelope %q): %+v %v", src, envelope, ev, ok)
			}
		case KindMember:
			if ok != (member != "") || ok && ev.Member != member {
				t.Fatalf("%q: %+v %v", src, ev, ok)
			}
		}
	})
}
