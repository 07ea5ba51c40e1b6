package ovn

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// PortACLs reads, in one-off selects (NB's replica does not monitor these
// tables), the Logical_Switch_Ports whose addresses or dynamic_addresses
// hold address (as a whole word), with the ACLs that apply to each: those
// of the port groups holding it and of its logical switch. For explain;
// it reads every port, so it is not for the daemon's passes.
func (n *NB) PortACLs(ctx context.Context, address string) ([]fwdsync.OVNPort, error) {
	sel := func(table string, cols ...string) ([]ovsdb.Row, error) {
		res, err := n.c.cl.Transact(ctx, ovsdb.Operation{Op: ovsdb.OperationSelect, Table: table, Where: []ovsdb.Condition{}, Columns: cols})
		if err != nil {
			return nil, fmt.Errorf("select %s: %w", table, err)
		}
		rows, err := selectRows(res)
		if err != nil {
			return nil, fmt.Errorf("select %s: %w", table, err)
		}
		return rows, nil
	}
	lsps, err := sel("Logical_Switch_Port", "_uuid", "name", "addresses", "dynamic_addresses")
	if err != nil {
		return nil, err
	}
	var ports []fwdsync.OVNPort
	var uuids []string
	for _, r := range lsps {
		addrs := rowStrings(r["addresses"])
		if d := rowStrings(r["dynamic_addresses"]); len(d) > 0 {
			addrs = append(addrs, d...)
		}
		if !slices.ContainsFunc(addrs, func(a string) bool { return MentionsAddress(a, address) }) {
			continue
		}
		ports = append(ports, fwdsync.OVNPort{Name: rowString(r["name"]), Addresses: addrs, ACLs: []fwdsync.OVNACL{}})
		uuids = append(uuids, rowUUID(r["_uuid"]))
	}
	if len(ports) == 0 {
		return nil, nil
	}
	acls, err := sel("ACL", "_uuid", "direction", "priority", "match", "action", "name")
	if err != nil {
		return nil, err
	}
	aclByUUID := make(map[string]ovsdb.Row, len(acls))
	for _, r := range acls {
		aclByUUID[rowUUID(r["_uuid"])] = r
	}
	attach := func(table, what string) error {
		rows, err := sel(table, "name", "ports", "acls")
		if err != nil {
			return err
		}
		for _, r := range rows {
			members := rowUUIDs(r["ports"])
			for i, u := range uuids {
				if !slices.Contains(members, u) {
					continue
				}
				if what == "switch" {
					ports[i].Switch = rowString(r["name"])
				}
				for _, a := range rowUUIDs(r["acls"]) {
					if ar, ok := aclByUUID[a]; ok {
						ports[i].ACLs = append(ports[i].ACLs, fwdsync.OVNACL{
							On: what + " " + rowString(r["name"]), Direction: rowString(ar["direction"]),
							Priority: rowInt(ar["priority"]), Match: rowString(ar["match"]), Action: rowString(ar["action"]),
							Name: rowString(rowOptional(ar["name"])),
						})
					}
				}
			}
		}
		return nil
	}
	if err := attach("Port_Group", "port_group"); err != nil {
		return nil, err
	}
	if err := attach("Logical_Switch", "switch"); err != nil {
		return nil, err
	}
	for i := range ports {
		slices.SortFunc(ports[i].ACLs, func(a, b fwdsync.OVNACL) int {
			switch {
			case a.Direction != b.Direction:
				return strings.Compare(a.Direction, b.Direction)
			case a.Priority != b.Priority:
				return b.Priority - a.Priority
			}
			return strings.Compare(a.Match, b.Match)
		})
	}
	slices.SortFunc(ports, func(a, b fwdsync.OVNPort) int { return strings.Compare(a.Name, b.Name) })
	return ports, nil
}

// rowStrings reads a string or set-of-strings column.
func rowStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case ovsdb.OvsSet:
		var out []string
		for _, e := range x.GoSet {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// rowUUIDs reads a UUID or set-of-UUIDs column.
func rowUUIDs(v any) []string {
	switch x := v.(type) {
	case ovsdb.UUID:
		return []string{x.GoUUID}
	case ovsdb.OvsSet:
		var out []string
		for _, e := range x.GoSet {
			if u := rowUUID(e); u != "" {
				out = append(out, u)
			}
		}
		return out
	}
	return nil
}

// rowOptional unwraps a 0..1 set.
func rowOptional(v any) any {
	if s, ok := v.(ovsdb.OvsSet); ok {
		if len(s.GoSet) == 1 {
			return s.GoSet[0]
		}
		return nil
	}
	return v
}
