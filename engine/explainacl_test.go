package engine

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// ExplainACLsFor lists the network's and the target NICs' LXD ACLs (each
// read once) and the OVN ports of every distinct target; failed reads are
// listed, not fatal.
func TestExplainACLsFor(t *testing.T) {
	n := fwdsync.Network{Project: "default", Name: "ovn0", Config: map[string]string{"security.acls": "web, ssh", "security.acls.default.ingress.action": "drop"}}
	f := fwdsync.Forward{Project: "default", Network: "ovn0", ListenAddress: "198.51.100.10", DefaultTarget: "10.10.10.5",
		Ports: []fwdsync.ForwardPort{{Protocol: "tcp", ListenPort: "80", TargetAddress: "10.10.10.6"}, {Protocol: "tcp", ListenPort: "81", TargetAddress: "10.10.10.5"}}}
	nics := []fwdsync.InstanceNIC{
		{Project: "default", Instance: "c1", Device: "eth0", Network: fwdsync.NetworkRef{Project: "default", Name: "ovn0"}, Address: "10.10.10.5", ACLs: "web,db"},
		{Project: "default", Instance: "c9", Device: "eth0", Network: fwdsync.NetworkRef{Project: "default", Name: "ovn9"}, Address: "10.10.10.6", ACLs: "other"},
	}
	var asked [][]string
	var portsAsked []string
	r := ACLReaders{
		LXDACLs: func(project string, names []string) ([]fwdsync.NetworkACL, error) {
			asked = append(asked, append([]string{project}, names...))
			return []fwdsync.NetworkACL{{Project: project, Name: "web"}}, errors.New("read LXD network ACL ssh: not found")
		},
		PortACLs: func(a string) ([]fwdsync.OVNPort, error) {
			portsAsked = append(portsAsked, a)
			if a == "10.10.10.5" {
				return []fwdsync.OVNPort{{Name: "lsp-c1", Switch: "ls-int", ACLs: []fwdsync.OVNACL{{On: "port_group lxd_acl1", Direction: "to-lport", Priority: 300, Match: "tcp.dst == 80", Action: "allow-related"}}}}, nil
			}
			return nil, nil
		},
	}
	a := ExplainACLsFor(f, n, nics, r)
	if !reflect.DeepEqual(a.NetworkACLs, []string{"web", "ssh"}) || a.DefaultIngressAction != "drop" {
		t.Errorf("network %v %q", a.NetworkACLs, a.DefaultIngressAction)
	}
	if !reflect.DeepEqual(asked, [][]string{{"default", "web", "ssh", "db"}}) {
		t.Errorf("LXD ACLs asked %v", asked)
	}
	if !reflect.DeepEqual(portsAsked, []string{"10.10.10.5", "10.10.10.6"}) {
		t.Errorf("ports asked %v", portsAsked)
	}
	if len(a.Targets) != 2 || !reflect.DeepEqual(a.Targets[0].NICs, []string{"c1/eth0 (project default)"}) ||
		!reflect.DeepEqual(a.Targets[0].NICACLs, []string{"web", "db"}) || len(a.Targets[1].NICs) != 0 || len(a.Targets[0].OVNPorts) != 1 {
		t.Errorf("targets %+v", a.Targets)
	}
	if len(a.Errors) != 1 || len(a.LXDACLs) != 1 {
		t.Errorf("errors %v, acls %v", a.Errors, a.LXDACLs)
	}
	text := strings.Join(a.Lines(), "\n")
	for _, want := range []string{"network security.acls: web, ssh (default ingress action: drop)", "OVN port lsp-c1 (switch ls-int): 1 ACLs",
		"port_group lxd_acl1 to-lport prio 300 tcp.dst == 80 → allow-related", "no OVN logical switch port holds 10.10.10.6", "cannot read: read LXD network ACL ssh"} {
		if !strings.Contains(text, want) {
			t.Errorf("lines lack %q:\n%s", want, text)
		}
	}
	if (*ExplainACLs)(nil).Lines() != nil {
		t.Error("nil ACLs render lines")
	}
}
