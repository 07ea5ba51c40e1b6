//go:build integration

package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The bed is real: a forward created with lxc becomes LXD's Load_Balancer
// rows in NB and realized rows, DNAT flows and nat_addresses in SB.
func TestBedForwardRealized(t *testing.T) {
	b := Open(t)
	net := b.Get(t, "TB_NETWORK")
	prefix := b.Prefix(t)
	listen := "198.51.100.201"
	b.Lxc(t, "network", "forward", "create", net, listen)
	t.Cleanup(func() { b.Lxc(t, "network", "forward", "delete", net, listen) })
	b.Lxc(t, "network", "forward", "port", "add", net, listen, "tcp", "80,90-91", "10.10.10.5", "8080,9000-9001")

	name := prefix + "-lb-" + listen + "-tcp"
	want := map[string]string{
		listen + ":80": "10.10.10.5:8080",
		listen + ":90": "10.10.10.5:9000",
		listen + ":91": "10.10.10.5:9001",
	}
	lbs := b.LBsByName(t)[name]
	if len(lbs) != 1 {
		t.Fatalf("NB rows named %s: %d, want 1", name, len(lbs))
	}
	if fmt.Sprint(lbs[0].VIPs) != fmt.Sprint(want) || lbs[0].Protocol != "tcp" {
		t.Fatalf("NB %s: protocol %q vips %v, want tcp %v", name, lbs[0].Protocol, lbs[0].VIPs, want)
	}
	if out := b.NBCtl(t, "lr-lb-list", prefix+"-lr"); !strings.Contains(out, lbs[0].UUID) {
		t.Fatalf("%s not attached to %s-lr:\n%s", name, prefix, out)
	}
	if out := b.NBCtl(t, "ls-lb-list", prefix+"-ls-int"); !strings.Contains(out, lbs[0].UUID) {
		t.Fatalf("%s not attached to %s-ls-int (LXD 5.0 attaches both):\n%s", name, prefix, out)
	}

	cr := fmt.Sprintf(`is_chassis_resident("cr-%s-lr-lrp-ext")`, prefix)
	Eventually(t, 10*time.Second, 50*time.Millisecond, "SB realizes the forward", func() string {
		sb := b.SBCtl(t, "--bare", "--columns=_uuid,external_ids,vips", "find", "Load_Balancer", "name="+name)
		// OVN 23.03 links it by external_ids:lb_id, 25.03 by the NB row's UUID.
		if !strings.Contains(sb, "lb_id="+lbs[0].UUID) && !strings.HasPrefix(strings.TrimSpace(sb), lbs[0].UUID) || !strings.Contains(sb, listen+":90") {
			return "SB Load_Balancer " + name + ": " + sb
		}
		flows := b.SBCtl(t, "--bare", "--columns=match,actions", "find", "Logical_Flow", "pipeline=ingress", "table_id=6")
		if !strings.Contains(flows, "ct_lb_mark(backends=10.10.10.5:9000)") {
			// table numbers move between OVN versions; fall back to a search.
			flows = b.SBCtl(t, "lflow-list", prefix+"-lr")
		}
		var dnat bool
		for _, l := range strings.Split(flows, "\n") {
			if strings.Contains(l, "lr_in_dnat") && strings.Contains(l, listen) && strings.Contains(l, "ct_lb_mark(backends=10.10.10.5:8080)") && strings.Contains(l, cr) {
				dnat = true
			}
		}
		if !dnat {
			return "no lr_in_dnat ct_lb_mark flow for " + listen + " guarded by " + cr
		}
		nat := b.NatAddresses(t, prefix+"-ls-ext-lsp-router")
		for _, e := range nat {
			f := strings.Fields(e)
			if len(f) > 2 && f[len(f)-1] == cr && contains(f[1:len(f)-1], listen) {
				return ""
			}
		}
		return fmt.Sprintf("nat_addresses lacks %s guarded by %s: %q", listen, cr, nat)
	})
}

// Gateway failover is real and BFD-driven: kill -9 of the active chassis's
// ovs-vswitchd + ovn-controller moves the cr-… claim to another chassis, and
// restarting it takes the claim back (pre-emption).
func TestBedFailover(t *testing.T) {
	b := Open(t)
	prefix := b.Prefix(t)
	active := b.GatewayChassis(t, prefix)
	if active == "" {
		t.Fatalf("cr-%s-lr-lrp-ext is not claimed: BFD between gateways is down", prefix)
	}
	n := strings.TrimPrefix(active, "ch")
	t.Cleanup(func() { b.Script(t, "chassis-start", n); b.WaitLXDCluster(t) })

	b.Script(t, "chassis-kill", n)
	killed := time.Now()
	var newActive string
	took := Eventually(t, 15*time.Second, 20*time.Millisecond, "another chassis claims the gateway", func() string {
		newActive = b.GatewayChassis(t, prefix)
		if newActive == "" || newActive == active {
			return "claim still " + fmt.Sprintf("%q", newActive)
		}
		return ""
	})
	t.Logf("failover %s -> %s: SB claim moved %v after kill -9 (BFD %s ms x3)", active, newActive, took.Round(time.Millisecond), b.Env["TB_BFD_MS"])
	_ = killed

	b.Script(t, "chassis-start", n)
	back := Eventually(t, 20*time.Second, 20*time.Millisecond, "pre-emption returns the claim", func() string {
		if c := b.GatewayChassis(t, prefix); c != active {
			return "claim is " + fmt.Sprintf("%q", c)
		}
		return ""
	})
	t.Logf("pre-emption: %s holds the claim again %v after restart", active, back.Round(time.Millisecond))
}
