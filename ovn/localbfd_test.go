package ovn

import (
	"context"
	"maps"
	"strings"
	"testing"
)

// LocalBFD against a real ovsdb-server with the tunnel ports ovn-controller
// makes (external_ids:ovn-chassis-id) and the bfd/bfd_status columns
// ovs-vswitchd writes: forwarding per chassis, ports of other owners and
// tunnels without BFD left out, several tunnels to one chassis up if one
// is.
func TestLocalBFDRealOVSDB(t *testing.T) {
	s := startLocalOVS(t)
	s.vs("init")
	s.vs("add-br", "br-int")
	tunnel := func(port, id, enable, forwarding string) {
		s.vs("add-port", "br-int", port, "--", "set", "Interface", port, "type=geneve", "options:remote_ip=172.31.250.9",
			"--", "set", "Port", port, "external_ids:ovn-chassis-id="+id)
		if enable != "" {
			s.vs("set", "Interface", port, "bfd:enable="+enable)
		}
		if forwarding != "" {
			s.vs("set", "Interface", port, "bfd_status:forwarding="+forwarding, "bfd_status:state=up")
		}
	}
	tunnel("ovn-ch1-0", "ch1@172.31.250.1", "true", "true")
	tunnel("ovn-ch2-0", "ch2@172.31.250.2", "true", "false")
	tunnel("ovn-ch4-0", "ch4", "true", "true")               // older OVN: the bare name
	tunnel("ovn-ch5-0", "ch5@172.31.250.5", "false", "true") // BFD off: no view of ch5
	tunnel("ovn-ch6-0", "ch6@172.31.250.6", "true", "false")
	tunnel("ovn-ch6-1", "ch6@172.31.251.6", "true", "true") // a second encap of ch6 is up
	tunnel("ovn-ch7-0", "ch7@172.31.250.7", "true", "")     // no status yet: not up
	s.vs("add-port", "br-int", "veth-lxd", "--", "set", "Interface", "veth-lxd", "bfd:enable=true", "bfd_status:forwarding=true")

	got, err := LocalBFD(context.Background(), s.endpoint())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"ch1": true, "ch2": false, "ch4": true, "ch6": true, "ch7": false}
	if !maps.Equal(got, want) {
		t.Errorf("LocalBFD = %v, want %v", got, want)
	}
}

// An unreachable local OVS is an error naming it, never an empty view (an
// empty view would read as "every other chassis is down").
func TestLocalBFDUnreachable(t *testing.T) {
	dir := noLocalOVS(t)
	got, err := LocalBFD(context.Background(), "unix:"+dir+"/none.sock")
	if err == nil || got != nil {
		t.Fatalf("LocalBFD of a missing socket = %v, %v; want an error", got, err)
	}
	if want := dir + "/none.sock"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
}
