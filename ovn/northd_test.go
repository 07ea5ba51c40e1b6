package ovn

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovnfwd/ovnfwd/ovn/nbdb"
)

// End to end with the real ovn-northd 23.03: a forward's row is created and
// attached, the barrier passes once northd has written SB, and SB shows the
// load balancer (lb_id = NB UUID), the gateway's cr- port and the VIP in the
// router port's nat_addresses.
func TestNorthdEndToEnd(t *testing.T) {
	s := startRealServer(t, nbSchemaFile(), sbSchemaFile())
	s.startNorthd()
	raw := rawNB(t, s.endpoint())
	eventually(t, "northd creates NB_Global", func() bool { return len(raw.selectRows(nbdb.NBGlobalTable)) == 1 })
	tp := seedTopology(t, raw)
	// The external switch with the router-type port LXD makes.
	raw.transact(
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: nbdb.LogicalSwitchPortTable, UUIDName: "lsp", Row: ovsdb.Row{
			"name": "lxd-net1-ls-ext-lsp-router", "type": "router", "addresses": set("router"),
			"options": ovsMap(map[string]string{"router-port": "lxd-net1-lr-lrp-ext", "nat-addresses": "router"}),
		}},
		ovsdb.Operation{Op: ovsdb.OperationInsert, Table: nbdb.LogicalSwitchTable, Row: ovsdb.Row{
			"name": "lxd-net1-ls-ext", "ports": set(uuidRef("lsp")),
		}},
	)

	nb := dialTestNB(t, s.endpoint(), false)
	sb := dialTestSB(t, s.endpoint())
	if err := apply(t, nb, createOps(tp)...); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	nbUUID := lbsNamed(nb.Snapshot(), lbName)[0].UUID

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg, err := nb.Barrier(ctx, 15*time.Second)
	if err != nil {
		t.Fatalf("Barrier: %v", err)
	}
	if st := nb.Snapshot(); st.SBCfg < cfg {
		t.Fatalf("sb_cfg %d < barrier %d", st.SBCfg, cfg)
	}

	// The SB replica may trail the SB server by a moment.
	eventually(t, "SB load balancer", func() bool {
		for _, lb := range sb.Snapshot().LoadBalancers {
			if lb.Name == lbName && lb.ExternalIDs["lb_id"] == nbUUID && len(lb.VIPs) == len(vips1) {
				return true
			}
		}
		return false
	})
	eventually(t, "SB gateway and patch ports", func() bool {
		var cr, natOK bool
		for _, pb := range sb.Snapshot().PortBindings {
			if pb.LogicalPort == "cr-lxd-net1-lr-lrp-ext" && pb.Type == "chassisredirect" && pb.Chassis == "" {
				cr = true
			}
			if pb.LogicalPort == "lxd-net1-ls-ext-lsp-router" && pb.Type == "patch" {
				natOK = slices.ContainsFunc(pb.NatAddresses, func(a string) bool {
					return strings.Contains(a, " 198.51.100.1") && strings.Contains(a, `is_chassis_resident("cr-lxd-net1-lr-lrp-ext")`)
				})
			}
		}
		return cr && natOK
	})
	t.Logf("SB port bindings: %+v", sb.Snapshot().PortBindings)
}
