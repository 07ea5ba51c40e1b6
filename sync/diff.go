package sync

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// attachTarget is where a forward's rows must be attached.
type attachTarget struct {
	routerUUID, routerName string
	// switchUUID / switchName are "" when rows go on the router only.
	switchUUID, switchName string
}

// String describes the target for findings.
func (t attachTarget) String() string {
	if t.switchUUID == "" {
		return "router " + t.routerName + " only"
	}
	return "router " + t.routerName + " and switch " + t.switchName
}

// forwardDiff collects the ops and findings of one forward key.
type forwardDiff struct {
	key      ForwardKey
	ops      []Op
	findings []Finding
	deletes  int
}

func (fd *forwardDiff) find(cat Category, sev Severity, detail, repair string) {
	fd.findings = append(fd.findings, Finding{Key: fd.key, Category: cat, Severity: sev, Detail: detail, Repair: repair})
}

// differ compares desired rows with the rows of one NB index. Plan and
// Verify share it, so both judge NB the same way.
type differ struct {
	idx *NBIndex
}

// diffLB compares desired row want with the rows of its name (sorted by UUID).
func (x differ) diffLB(fd *forwardDiff, want *DesiredLB, rows []*NBLoadBalancer, t attachTarget) {
	if len(rows) == 0 {
		fd.find(CatMissing, SeverityError,
			fmt.Sprintf("Load_Balancer %s is absent (want VIPs %s)", want.Name, formatVIPs(want.VIPs, 4)),
			fmt.Sprintf("create %s and attach it to %s", want.Name, t))
		fd.ops = append(fd.ops, Op{Kind: OpCreateLB, Name: want.Name, Protocol: want.Protocol,
			VIPs: want.VIPs, Options: createOptions(want.Options)})
		fd.ops = append(fd.ops, Op{Kind: OpAttachRouter, Name: want.Name, Target: t.routerUUID, TargetName: t.routerName})
		if t.switchUUID != "" {
			fd.ops = append(fd.ops, Op{Kind: OpAttachSwitch, Name: want.Name, Target: t.switchUUID, TargetName: t.switchName})
		}
		return
	}

	keep := rows[0]
	if len(rows) > 1 {
		for _, r := range rows {
			if x.matches(r, want) && x.attached(r, t) {
				keep = r
				break
			}
		}
		var uuids, drop []string
		for _, r := range rows {
			uuids = append(uuids, r.UUID)
			if r != keep {
				drop = append(drop, r.UUID)
				fd.ops = append(fd.ops, x.deleteOp(r))
				fd.deletes++
			}
		}
		fd.find(CatDuplicate, SeverityError,
			fmt.Sprintf("%d Load_Balancer rows are named %s (%s)", len(rows), want.Name, strings.Join(uuids, ", ")),
			fmt.Sprintf("keep %s, delete %s and detach them from every router and switch", keep.UUID, strings.Join(drop, ", ")))
	}

	update := false
	if !vipsEqual(keep.VIPs, want.VIPs) {
		update = true
		fd.find(CatVIPMismatch, SeverityError,
			fmt.Sprintf("Load_Balancer %s (%s) VIPs differ: %s", want.Name, keep.UUID, describeVIPDiff(keep.VIPs, want.VIPs)),
			fmt.Sprintf("set VIPs of %s to %s", keep.UUID, formatVIPs(want.VIPs, 4)))
	}
	if !protocolOK(keep.Protocol, want.Protocol) {
		update = true
		fd.find(CatProtocolMismatch, SeverityError,
			fmt.Sprintf("Load_Balancer %s (%s) has protocol %q, want %q", want.Name, keep.UUID, keep.Protocol, want.Protocol),
			fmt.Sprintf("set protocol of %s to %s", keep.UUID, want.Protocol))
	}
	if want.Options != nil && keep.Options[OptionNeighborResponder] != want.Options[OptionNeighborResponder] {
		update = true
		fd.find(CatOptionsMismatch, SeverityWarning,
			fmt.Sprintf("Load_Balancer %s (%s) has %s, want %s", want.Name, keep.UUID,
				describeOption(keep.Options), describeOption(want.Options)),
			fmt.Sprintf("set %s of %s, keeping its other options", describeOption(want.Options), keep.UUID))
	}
	if update {
		fd.ops = append(fd.ops, Op{Kind: OpUpdateLB, Name: want.Name, UUID: keep.UUID, Protocol: want.Protocol,
			VIPs: want.VIPs, Options: mergeOptions(keep.Options, want.Options), OldVIPs: keep.VIPs})
	}

	routers, switches := x.idx.LBRouters[keep.UUID], x.idx.LBSwitches[keep.UUID]
	if !slices.Contains(routers, t.routerUUID) {
		fd.find(CatDetached, SeverityError,
			fmt.Sprintf("Load_Balancer %s (%s) is not attached to router %s (%s)", want.Name, keep.UUID, t.routerName, t.routerUUID),
			fmt.Sprintf("attach %s to router %s", keep.UUID, t.routerName))
		fd.ops = append(fd.ops, Op{Kind: OpAttachRouter, Name: want.Name, UUID: keep.UUID, Target: t.routerUUID, TargetName: t.routerName})
	}
	if t.switchUUID != "" && !slices.Contains(switches, t.switchUUID) {
		fd.find(CatDetached, SeverityError,
			fmt.Sprintf("Load_Balancer %s (%s) is not attached to switch %s (%s)", want.Name, keep.UUID, t.switchName, t.switchUUID),
			fmt.Sprintf("attach %s to switch %s", keep.UUID, t.switchName))
		fd.ops = append(fd.ops, Op{Kind: OpAttachSwitch, Name: want.Name, UUID: keep.UUID, Target: t.switchUUID, TargetName: t.switchName})
	}
	for _, r := range routers {
		if r != t.routerUUID {
			name := x.idx.routerName(r)
			fd.find(CatExtraAttachment, SeverityWarning,
				fmt.Sprintf("Load_Balancer %s (%s) is attached to router %s (%s); it belongs on %s", want.Name, keep.UUID, name, r, t),
				fmt.Sprintf("detach %s from router %s", keep.UUID, name))
			fd.ops = append(fd.ops, Op{Kind: OpDetachRouter, Name: want.Name, UUID: keep.UUID, Target: r, TargetName: name})
		}
	}
	for _, s := range switches {
		if s != t.switchUUID {
			name := x.idx.switchName(s)
			fd.find(CatExtraAttachment, SeverityWarning,
				fmt.Sprintf("Load_Balancer %s (%s) is attached to switch %s (%s); it belongs on %s", want.Name, keep.UUID, name, s, t),
				fmt.Sprintf("detach %s from switch %s", keep.UUID, name))
			fd.ops = append(fd.ops, Op{Kind: OpDetachSwitch, Name: want.Name, UUID: keep.UUID, Target: s, TargetName: name})
		}
	}
}

// deleteStale adds a stale finding and a delete op for each row.
func (x differ) deleteStale(fd *forwardDiff, rows []*NBLoadBalancer, why string) {
	for _, r := range rows {
		fd.find(CatStale, SeverityWarning,
			fmt.Sprintf("Load_Balancer %s (%s, VIPs %s) is stale: %s", r.Name, r.UUID, formatVIPs(r.VIPs, 4), why),
			fmt.Sprintf("delete %s and detach it from every router and switch", r.UUID))
		fd.ops = append(fd.ops, x.deleteOp(r))
		fd.deletes++
	}
}

// deleteOp deletes row r and detaches it from everything referencing it.
func (x differ) deleteOp(r *NBLoadBalancer) Op {
	return Op{Kind: OpDeleteLB, Name: r.Name, UUID: r.UUID,
		Routers: x.idx.LBRouters[r.UUID], Switches: x.idx.LBSwitches[r.UUID]}
}

// matches reports whether row r has the content want asks for.
func (x differ) matches(r *NBLoadBalancer, want *DesiredLB) bool {
	return vipsEqual(r.VIPs, want.VIPs) && protocolOK(r.Protocol, want.Protocol) &&
		(want.Options == nil || r.Options[OptionNeighborResponder] == want.Options[OptionNeighborResponder])
}

// attached reports whether row r is attached everywhere t asks for.
func (x differ) attached(r *NBLoadBalancer, t attachTarget) bool {
	return slices.Contains(x.idx.LBRouters[r.UUID], t.routerUUID) &&
		(t.switchUUID == "" || slices.Contains(x.idx.LBSwitches[r.UUID], t.switchUUID))
}

// protocolOK: an unset protocol column means tcp to OVN, so it is not a
// divergence for a -tcp row (an update still writes "tcp" explicitly).
func protocolOK(have, want string) bool {
	return have == want || (have == "" && want == "tcp")
}

// createOptions returns the options of a new row: the managed keys that are
// set, or nil.
func createOptions(want map[string]string) map[string]string {
	if len(want) == 0 {
		return nil
	}
	return maps.Clone(want)
}

// mergeOptions returns the complete new options of an existing row: its
// current options with the managed keys set or removed as want says. The
// result is never nil, so the adapter can write it as the whole column.
func mergeOptions(have, want map[string]string) map[string]string {
	out := make(map[string]string, len(have)+1)
	maps.Copy(out, have)
	if want == nil {
		return out
	}
	if v := want[OptionNeighborResponder]; v != "" {
		out[OptionNeighborResponder] = v
	} else {
		delete(out, OptionNeighborResponder)
	}
	return out
}

// describeOption renders the managed option of an options map.
func describeOption(opts map[string]string) string {
	if v, ok := opts[OptionNeighborResponder]; ok {
		return OptionNeighborResponder + "=" + v
	}
	return OptionNeighborResponder + " unset"
}
