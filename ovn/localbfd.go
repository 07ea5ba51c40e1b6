package ovn

import (
	"context"
	"strings"
)

// LocalBFD reads, from the local OVS database at endpoint ("" finds it, see
// LocalOVSEndpoint), whether this chassis's BFD session to each other
// chassis is forwarding: the view ovn-controller decides HA gateway
// ownership from. Tunnel ports are the ones ovn-controller made, named by
// their external_ids:ovn-chassis-id ("<chassis>@<encap ip>", or the bare
// chassis name in older OVN); a chassis without a tunnel with BFD enabled
// is absent from the map. Several tunnels to one chassis (several encaps):
// up if any of them is forwarding.
func LocalBFD(ctx context.Context, endpoint string) (map[string]bool, error) {
	out := map[string]bool{}
	err := withLocalOVS(ctx, endpoint, func(ctx context.Context, db *localOVS) error {
		var ports []*ovsPort
		if err := selectInto(ctx, db, ovsPortTable, nil, []string{"name", "external_ids", "interfaces"}, &ports); err != nil {
			return err
		}
		var ifaces []*ovsInterface
		if err := selectInto(ctx, db, ovsInterfaceTable, nil, []string{"name", "bfd", "bfd_status"}, &ifaces); err != nil {
			return err
		}
		byUUID := make(map[string]*ovsInterface, len(ifaces))
		for _, i := range ifaces {
			byUUID[i.UUID] = i
		}
		for _, p := range ports {
			id := p.ExternalIDs["ovn-chassis-id"]
			if id == "" {
				continue
			}
			chassis, _, _ := strings.Cut(id, "@")
			for _, iu := range p.Interfaces {
				i := byUUID[iu]
				if i == nil || i.BFD["enable"] != "true" {
					continue
				}
				out[chassis] = out[chassis] || i.BFDStatus["forwarding"] == "true"
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
