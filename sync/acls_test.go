package sync

import (
	"strings"
	"testing"
)

func TestJudgeACLs(t *testing.T) {
	web := ACLPath{Protocol: "tcp", Address: "10.10.10.5", Port: "80"}
	allow80 := NetworkACLRule{Action: "allow", Protocol: "tcp", DestinationPort: "80"}
	for _, tc := range []struct {
		name    string
		path    ACLPath
		acls    []NetworkACL
		applied bool
		def     string
		ovn     []OVNACL
		want    []string // substrings, one per line, in order
	}{
		{name: "no ACL", path: web},
		{name: "allowed", path: web, applied: true, acls: []NetworkACL{{Name: "a", Ingress: []NetworkACLRule{allow80}}}},
		{name: "drop rule on the port", path: web, applied: true, acls: []NetworkACL{{Name: "a", Ingress: []NetworkACLRule{allow80,
			{Action: "drop", Protocol: "tcp", DestinationPort: "70-90"}}}}, want: []string{"blocked: LXD ACL a ingress rule 2 (action=drop protocol=tcp destination_port=70-90) drops tcp/80 to 10.10.10.5"}},
		{name: "reject for another port only", path: web, applied: true, acls: []NetworkACL{{Name: "a", Ingress: []NetworkACLRule{allow80,
			{Action: "reject", Protocol: "tcp", DestinationPort: "443"}}}}},
		{name: "udp rule does not touch tcp", path: web, applied: true, acls: []NetworkACL{{Name: "a", Ingress: []NetworkACLRule{allow80,
			{Action: "drop", Protocol: "udp"}}}}},
		{name: "no allow: default reject", path: web, applied: true, acls: []NetworkACL{{Name: "a", Ingress: []NetworkACLRule{{Action: "allow", Protocol: "tcp", DestinationPort: "22"}}}},
			want: []string{"default ingress action reject applies"}},
		{name: "no allow, default allow", path: web, applied: true, def: "allow", acls: []NetworkACL{{Name: "a"}}},
		{name: "destination elsewhere", path: web, applied: true, acls: []NetworkACL{{Name: "a", Ingress: []NetworkACLRule{allow80,
			{Action: "drop", Destination: "10.10.20.0/24"}}}}},
		{name: "destination by name", path: web, applied: true, acls: []NetworkACL{{Name: "a", Ingress: []NetworkACLRule{allow80,
			{Action: "drop", Destination: "@internal"}}}}, want: []string{"cannot decide: LXD ACL a ingress rule 2"}},
		{name: "OVN drop on the port", path: web, ovn: []OVNACL{{On: "port_group pg", Direction: "to-lport", Priority: 1000,
			Match: "outport == @pg && tcp && tcp.dst == 80", Action: "drop"}}, want: []string{"blocked: OVN ACL on port_group pg (priority 1000"}},
		{name: "OVN reject without port", path: web, ovn: []OVNACL{{On: "switch s", Direction: "to-lport", Priority: 0,
			Match: "outport == @pg && ip", Action: "reject"}}, want: []string{"cannot decide: OVN ACL on switch s"}},
		{name: "OVN allow and egress ignored", path: web, ovn: []OVNACL{{Direction: "to-lport", Match: "tcp.dst == 80", Action: "allow-related"},
			{Direction: "from-lport", Match: "tcp.dst == 80", Action: "drop"}}},
	} {
		got := JudgeACLs(tc.path, tc.acls, tc.applied, tc.def, tc.ovn)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %q, want %d lines like %q", tc.name, got, len(tc.want), tc.want)
			continue
		}
		for i, w := range tc.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s: line %d %q lacks %q", tc.name, i, got[i], w)
			}
		}
	}
}
