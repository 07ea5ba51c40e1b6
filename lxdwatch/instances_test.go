package lxdwatch

import (
	"context"
	"net/http"
	"reflect"
	"testing"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// List reads the instances' NIC addresses of every project in one request
// (instance_all_projects, LXD 5.0.2 has it), from the NIC config of the
// expanded devices: a project without its own networks uses default's.
// A forward's location is kept.
func TestListInstanceNICsAndLocation(t *testing.T) {
	f := newFakeLXD(t)
	f.addProject("tenant", true)
	f.addProject("shared", false)
	f.addNetwork("default", "ovn0", "ovn", map[string]string{"network": "br0"})
	f.addNetwork("tenant", "ovn0", "ovn", map[string]string{"network": "br0"})
	loc := fwd("198.51.100.7", "")
	loc.Location = "m2"
	f.addForward("default", "ovn0", loc)
	f.addInstance("default", "c1", map[string]map[string]string{
		"eth0": {"type": "nic", "network": "ovn0", "ipv4.address": "10.10.10.50", "ipv6.address": "FD42:0::50"},
		"eth1": {"type": "nic", "nictype": "bridged", "parent": "lxdbr0", "ipv4.address": "10.0.0.9"}, // no managed network
		"root": {"type": "disk", "path": "/", "pool": "default"},
	})
	f.addInstance("tenant", "c2", map[string]map[string]string{"eth0": {"type": "nic", "network": "ovn0", "ipv4.address": "10.20.20.5"}})
	f.addInstance("shared", "c3", map[string]map[string]string{"eth0": {"type": "nic", "network": "ovn0", "ipv4.address": "10.10.10.60"}})
	f.addInstance("default", "c4", map[string]map[string]string{"eth0": {"type": "nic", "network": "ovn0"}}) // DHCP: nothing

	c := f.connect(t, nil)
	st, err := c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []fwdsync.InstanceNIC{
		{Project: "default", Instance: "c1", Device: "eth0", Network: fwdsync.NetworkRef{Project: "default", Name: "ovn0"}, Key: "ipv4.address", Address: "10.10.10.50"},
		{Project: "default", Instance: "c1", Device: "eth0", Network: fwdsync.NetworkRef{Project: "default", Name: "ovn0"}, Key: "ipv6.address", Address: "fd42::50"},
		{Project: "tenant", Instance: "c2", Device: "eth0", Network: fwdsync.NetworkRef{Project: "tenant", Name: "ovn0"}, Key: "ipv4.address", Address: "10.20.20.5"},
		{Project: "shared", Instance: "c3", Device: "eth0", Network: fwdsync.NetworkRef{Project: "default", Name: "ovn0"}, Key: "ipv4.address", Address: "10.10.10.60"},
	}
	if !reflect.DeepEqual(st.Instances, want) {
		t.Errorf("Instances = %+v\nwant %+v", st.Instances, want)
	}
	if n := f.count("/1.0/instances"); n != 1 {
		t.Errorf("%d instance list requests, want 1", n)
	}
	if len(st.Forwards) != 1 || st.Forwards[0].Location != "m2" {
		t.Errorf("Forwards = %+v, want one with location m2", st.Forwards)
	}

	// Failing instance listing: List still succeeds, without instances.
	f.failOn("/1.0/instances", "", http.StatusInternalServerError)
	st, err = c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Instances != nil || len(st.Forwards) != 1 {
		t.Errorf("after a failed instance listing: Instances = %+v, Forwards %+v", st.Instances, st.Forwards)
	}
}

// Without instance_all_projects, instances are listed project by project.
func TestInstanceNICsPerProject(t *testing.T) {
	f := newFakeLXD(t)
	var exts []string
	for _, e := range f.server.APIExtensions {
		if e != "instance_all_projects" {
			exts = append(exts, e)
		}
	}
	f.server.APIExtensions = exts
	f.addProject("tenant", true)
	f.addNetwork("default", "ovn0", "ovn", map[string]string{"network": "br0"})
	f.addInstance("tenant", "c2", map[string]map[string]string{"eth0": {"type": "nic", "network": "ovn0", "ipv4.address": "10.20.20.5"}})
	c := f.connect(t, nil)
	st, err := c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []fwdsync.InstanceNIC{{Project: "tenant", Instance: "c2", Device: "eth0", Network: fwdsync.NetworkRef{Project: "tenant", Name: "ovn0"}, Key: "ipv4.address", Address: "10.20.20.5"}}
	if !reflect.DeepEqual(st.Instances, want) {
		t.Errorf("Instances = %+v\nwant %+v", st.Instances, want)
	}
}
