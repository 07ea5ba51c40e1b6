//go:build integration

package integration

import (
	"strings"
	"testing"
)

// lbSnapshot is every column of a forward's rows but the UUID, and where
// they are attached, as ovn-nbctl prints them.
func lbSnapshot(t *testing.T, b *Bed, prefix, listen string) string {
	t.Helper()
	var out []string
	for _, proto := range []string{"tcp", "udp"} {
		name := prefix + "-lb-" + listen + "-" + proto
		uuids := b.rowUUIDs(t, name)
		if len(uuids) == 0 {
			out = append(out, name+": no row")
			continue
		}
		if len(uuids) > 1 {
			t.Fatalf("%s: %d rows", name, len(uuids))
		}
		out = append(out, b.NBCtl(t, "--columns=name,vips,protocol,options,external_ids,selection_fields,health_check,ip_port_mappings",
			"list", "Load_Balancer", uuids[0]))
		for _, parent := range []string{"Logical_Router " + prefix + "-lr", "Logical_Switch " + prefix + "-ls-int"} {
			kind, pname, _ := strings.Cut(parent, " ")
			lbs := b.NBCtl(t, "--bare", "--columns=load_balancer", "find", kind, "name="+pname)
			out = append(out, name+" on "+pname+": "+map[bool]string{true: "attached", false: "not attached"}[strings.Contains(lbs, uuids[0])])
		}
	}
	return strings.Join(out, "\n")
}

// The rows ovnfwd recreates are the stack's own, byte for byte: a forward
// with tcp and udp ports and a default target is created through the API
// (LXD or Incus writes its rows), every column and attachment is recorded,
// the rows are deleted behind its back, and `ovnfwd repair` (with
// --arp-responder unmanaged, so ovnfwd adds nothing of its own) must
// produce the same columns and attachments. On the Incus bed
// (make test-incus) this proves ovnfwd writes Incus's rows, default target
// in both rows included.
func TestRepairedRowsAreTheStacksOwn(t *testing.T) {
	b := Open(t)
	net, prefix := b.Get(t, "TB_NETWORK"), b.Prefix(t)
	const listen = "198.51.100.230"
	b.cleanupListen(t, net, prefix, listen)
	fwd := fwdPost(listen, tcp("80,443", "10.10.10.5", "8080,8443"), udp("53", "10.10.10.6", ""))
	fwd.Config = map[string]string{"target_address": "10.10.10.9"}
	if err := b.LXD.CreateNetworkForward(net, fwd); err != nil {
		t.Fatal(err)
	}
	stacks := lbSnapshot(t, b, prefix, listen)
	if strings.Contains(stacks, "no row") {
		t.Fatalf("%s wrote no row for a protocol the forward uses:\n%s", b.Stack(), stacks)
	}
	t.Logf("%s's rows:\n%s", b.Stack(), stacks)
	for _, proto := range []string{"tcp", "udp"} {
		for _, u := range b.rowUUIDs(t, prefix+"-lb-"+listen+"-"+proto) {
			b.NBCtl(t, "lb-del", u)
		}
	}
	if r := b.ovnfwd(t, "repair", "--yes", "--arp-responder", "unmanaged", "--no-ha", "--network", net, "--listen", listen); r.code != 0 {
		t.Fatalf("repair: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	if got := lbSnapshot(t, b, prefix, listen); got != stacks {
		t.Errorf("rows recreated by ovnfwd differ from %s's own:\n--- %s\n%s\n--- ovnfwd\n%s", b.Stack(), b.Stack(), stacks, got)
	}
	// And the stack agrees: it reads the forward back unchanged.
	f, _, err := b.LXD.GetNetworkForward(net, listen)
	if err != nil || f.Config["target_address"] != "10.10.10.9" || len(f.Ports) != 2 {
		t.Errorf("forward read back: %+v, %v", f, err)
	}
}
