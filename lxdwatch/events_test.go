package lxdwatch

import (
	"encoding/json"
	"testing"

	"github.com/canonical/lxd/shared/api"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

func TestParseLifecycle(t *testing.T) {
	ref := func(p, n string) fwdsync.NetworkRef { return fwdsync.NetworkRef{Project: p, Name: n} }
	key := func(p, n, a string) fwdsync.ForwardKey {
		return fwdsync.ForwardKey{Project: p, Network: n, ListenAddress: a}
	}
	tests := []struct {
		name     string
		action   string
		source   string
		envelope string // event envelope project
		context  map[string]any
		want     Event
		ok       bool
	}{
		{
			name: "forward in default project", action: "network-forward-created",
			source: "/1.0/networks/ovn1/forwards/192.0.2.10",
			want:   Event{Kind: KindForward, Action: "network-forward-created", Key: key("default", "ovn1", "192.0.2.10"), Network: ref("default", "ovn1")},
			ok:     true,
		},
		{
			name: "forward with ?project=", action: "network-forward-updated",
			source: "/1.0/networks/ovn1/forwards/192.0.2.10?project=tenant", envelope: "tenant",
			want: Event{Kind: KindForward, Action: "network-forward-updated", Key: key("tenant", "ovn1", "192.0.2.10"), Network: ref("tenant", "ovn1")},
			ok:   true,
		},
		{
			name: "query project wins over envelope", action: "network-forward-deleted",
			source: "/1.0/networks/ovn1/forwards/192.0.2.10?project=a%20b", envelope: "other",
			want: Event{Kind: KindForward, Action: "network-forward-deleted", Key: key("a b", "ovn1", "192.0.2.10"), Network: ref("a b", "ovn1")},
			ok:   true,
		},
		{
			name: "project from envelope only", action: "network-forward-deleted",
			source: "/1.0/networks/ovn1/forwards/192.0.2.10", envelope: "tenant",
			want: Event{Kind: KindForward, Action: "network-forward-deleted", Key: key("tenant", "ovn1", "192.0.2.10"), Network: ref("tenant", "ovn1")},
			ok:   true,
		},
		{
			name: "URL-encoded non-canonical IPv6", action: "network-forward-created",
			source: "/1.0/networks/ovn1/forwards/2001%3ADB8%3A0%3A0%3A0%3A0%3A0%3A10",
			want:   Event{Kind: KindForward, Action: "network-forward-created", Key: key("default", "ovn1", "2001:db8::10"), Network: ref("default", "ovn1")},
			ok:     true,
		},
		{
			name: "plain IPv6", action: "network-forward-created",
			source: "/1.0/networks/ovn1/forwards/2001:db8::10?project=tenant",
			want:   Event{Kind: KindForward, Action: "network-forward-created", Key: key("tenant", "ovn1", "2001:db8::10"), Network: ref("tenant", "ovn1")},
			ok:     true,
		},
		{
			name: "load balancer", action: "network-load-balancer-created",
			source: "/1.0/networks/ovn1/load-balancers/192.0.2.20?project=tenant",
			want:   Event{Kind: KindLoadBalancer, Action: "network-load-balancer-created", Key: key("tenant", "ovn1", "192.0.2.20"), Network: ref("tenant", "ovn1")},
			ok:     true,
		},
		{
			name: "network", action: "network-updated",
			source: "/1.0/networks/ovn1?project=tenant",
			want:   Event{Kind: KindNetwork, Action: "network-updated", Network: ref("tenant", "ovn1")},
			ok:     true,
		},
		{
			name: "network renamed", action: "network-renamed",
			source: "/1.0/networks/ovn2", context: map[string]any{"old_name": "ovn1"},
			want: Event{Kind: KindNetwork, Action: "network-renamed", Network: ref("default", "ovn2"), OldName: "ovn1"},
			ok:   true,
		},
		{
			name: "member evacuated", action: "cluster-member-evacuated",
			source: "/1.0/cluster/members/node2",
			want:   Event{Kind: KindMember, Action: "cluster-member-evacuated", Member: "node2"},
			ok:     true,
		},
		{
			name: "member added", action: "cluster-member-added",
			source: "/1.0/cluster/members/node%2D3",
			want:   Event{Kind: KindMember, Action: "cluster-member-added", Member: "node-3"},
			ok:     true,
		},
		{name: "unknown action", action: "instance-started", source: "/1.0/instances/c1"},
		{name: "network acl (also network-*)", action: "network-acl-created", source: "/1.0/network-acls/a"},
		{name: "forward action, network source", action: "network-forward-created", source: "/1.0/networks/ovn1"},
		{name: "network action, forward source", action: "network-updated", source: "/1.0/networks/ovn1/forwards/192.0.2.1"},
		{name: "forward action, load balancer source", action: "network-forward-created", source: "/1.0/networks/ovn1/load-balancers/192.0.2.1"},
		{name: "bad escape", action: "network-forward-created", source: "/1.0/networks/ovn1/forwards/%zz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, _ := json.Marshal(api.EventLifecycle{Action: tt.action, Source: tt.source, Context: tt.context})
			got, ok := ParseLifecycle(api.Event{Type: "lifecycle", Metadata: md, Project: tt.envelope})
			if ok != tt.ok || got != tt.want {
				t.Errorf("ParseLifecycle = %+v, %v\nwant %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}

	t.Run("not lifecycle", func(t *testing.T) {
		md, _ := json.Marshal(api.EventLifecycle{Action: "network-forward-created", Source: "/1.0/networks/n/forwards/192.0.2.1"})
		if _, ok := ParseLifecycle(api.Event{Type: "logging", Metadata: md}); ok {
			t.Error("logging event parsed")
		}
		if _, ok := ParseLifecycle(api.Event{Type: "lifecycle", Metadata: json.RawMessage(`"x"`)}); ok {
			t.Error("bad metadata parsed")
		}
	})
}
