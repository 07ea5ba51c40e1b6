package ovn

import (
	"context"
	"fmt"
	"slices"
	"strings"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"

	"github.com/ovn-kubernetes/libovsdb/ovsdb"
)

// StageFlows reads, in one-off selects (the SB replica does not monitor
// Logical_Flow), the logical flows of pipeline stage (e.g. "lr_in_dnat")
// whose match mentions address as a whole word. The stage is filtered on
// the server (external_ids includes stage-name), the address here. Flows
// are sorted by datapath, priority (highest first) and match.
func (s *SB) StageFlows(ctx context.Context, stage, address string) ([]fwdsync.LogicalFlow, error) {
	cl := s.c.cl
	res, err := cl.Transact(ctx, ovsdb.Operation{
		Op:    ovsdb.OperationSelect,
		Table: "Logical_Flow",
		Where: []ovsdb.Condition{{
			Column:   "external_ids",
			Function: ovsdb.ConditionIncludes,
			Value:    ovsdb.OvsMap{GoMap: map[any]any{"stage-name": stage}},
		}},
		Columns: []string{"_uuid", "priority", "match", "actions", "logical_datapath"},
	})
	if err != nil {
		return nil, fmt.Errorf("select Logical_Flow of stage %s: %w", stage, err)
	}
	rows, err := selectRows(res)
	if err != nil {
		return nil, fmt.Errorf("select Logical_Flow of stage %s: %w", stage, err)
	}
	var out []fwdsync.LogicalFlow
	datapaths := map[string]bool{}
	for _, r := range rows {
		f := fwdsync.LogicalFlow{
			UUID:     rowUUID(r["_uuid"]),
			Priority: rowInt(r["priority"]),
			Match:    rowString(r["match"]),
			Actions:  rowString(r["actions"]),
			Datapath: rowUUID(r["logical_datapath"]),
		}
		if !MentionsAddress(f.Match, address) {
			continue
		}
		if f.Datapath != "" {
			datapaths[f.Datapath] = true
		}
		out = append(out, f)
	}
	if len(datapaths) > 0 {
		names, err := s.datapathNames(ctx)
		if err != nil {
			return nil, err
		}
		for i := range out {
			if n := names[out[i].Datapath]; n != "" {
				out[i].Datapath = n
			}
		}
	}
	slices.SortFunc(out, func(a, b fwdsync.LogicalFlow) int {
		switch {
		case a.Datapath != b.Datapath:
			return strings.Compare(a.Datapath, b.Datapath)
		case a.Priority != b.Priority:
			return b.Priority - a.Priority
		}
		return strings.Compare(a.Match, b.Match)
	})
	return out, nil
}

// datapathNames maps Datapath_Binding UUIDs to their external_ids:name.
func (s *SB) datapathNames(ctx context.Context) (map[string]string, error) {
	res, err := s.c.cl.Transact(ctx, ovsdb.Operation{
		Op:      ovsdb.OperationSelect,
		Table:   "Datapath_Binding",
		Where:   []ovsdb.Condition{},
		Columns: []string{"_uuid", "external_ids"},
	})
	if err != nil {
		return nil, fmt.Errorf("select Datapath_Binding: %w", err)
	}
	rows, err := selectRows(res)
	if err != nil {
		return nil, fmt.Errorf("select Datapath_Binding: %w", err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		if m, ok := r["external_ids"].(ovsdb.OvsMap); ok {
			if n, ok := m.GoMap["name"].(string); ok {
				out[rowUUID(r["_uuid"])] = n
			}
		}
	}
	return out, nil
}

// MentionsAddress reports whether an OVN match expression names address as
// a whole token (so 10.0.0.1 does not match 10.0.0.10).
func MentionsAddress(match, address string) bool {
	if address == "" {
		return true
	}
	for i := 0; ; {
		j := strings.Index(match[i:], address)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(address)
		if (start == 0 || !addrChar(match[start-1])) && (end == len(match) || !addrChar(match[end])) {
			return true
		}
		i = start + 1
	}
}

// addrChar reports whether c can be part of an IPv4 or IPv6 address.
func addrChar(c byte) bool {
	return c == '.' || c == ':' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func selectRows(res []ovsdb.OperationResult) ([]ovsdb.Row, error) {
	if len(res) != 1 {
		return nil, fmt.Errorf("%d results for one operation", len(res))
	}
	if res[0].Error != "" {
		return nil, fmt.Errorf("%s: %s", res[0].Error, res[0].Details)
	}
	return res[0].Rows, nil
}

// rowUUID reads a UUID column, or an optional (0..1 set) UUID column.
func rowUUID(v any) string {
	switch x := v.(type) {
	case ovsdb.UUID:
		return x.GoUUID
	case ovsdb.OvsSet:
		if len(x.GoSet) == 1 {
			return rowUUID(x.GoSet[0])
		}
	case string:
		return x
	}
	return ""
}

func rowString(v any) string {
	s, _ := v.(string)
	return s
}

func rowInt(v any) int {
	switch x := v.(type) {
	case float64:
		return int(x)
	case int:
		return x
	case int64:
		return int(x)
	}
	return 0
}
