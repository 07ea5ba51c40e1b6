package sync

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"time"
)

// LXD cluster roles and member statuses the HA rules depend on.
const (
	// RoleOVNChassis: when any member has it, only those members join the
	// networks' HA chassis groups.
	RoleOVNChassis = "ovn-chassis"
	// MemberStatusEvacuated is the status of an evacuated member; LXD takes
	// its chassis out of the groups (but not on 5.0, canonical/lxd#14902).
	MemberStatusEvacuated = "Evacuated"
)

// lxdChassisPriorityMax is LXD's ovnChassisPriorityMax (driver_ovn.go) and
// the maximum of the HA_Chassis.priority column.
const lxdChassisPriorityMax = 32767

// Member is one LXD cluster member (a standalone server is one member).
type Member struct {
	Name string
	// ID orders the members as LXD's database IDs do. Only the order
	// matters to LXDPriorities, so the position in LXD's member list
	// (LXD lists members by ascending ID; lxdwatch uses that position) will do.
	// IDs must be distinct.
	ID     int64
	Roles  []string
	Status string // "Online", "Offline", "Evacuated", "Blocked"
	// Published is what the member's own ovnfwd published about itself
	// (LXD cluster member config user.ovnfwd.*): chassis, version, policy.
	Published map[string]string
}

// LXDPriorities returns the HA_Chassis priority LXD gives the chassis of
// each cluster member in HA chassis group group, by member ID.
//
// memberIDs must be the IDs of ALL cluster members (LXD draws over
// tx.GetNodes, every non-pending member, whether or not it joins the group):
// a member that does not join still consumes a draw. Order and duplicates
// do not matter.
//
// LXD's algorithm (canonical/lxd lxd/network/driver_ovn.go, method
// (*ovn).addChassisGroupEntry, identical in tags lxd-5.0.2, lxd-5.0.9,
// lxd-5.21.0, lxd-6.1, lxd-6.9 and main as of 2025): the generator is
// util.GetStableRandomGenerator(groupName) (lxd/util/random.go): math/rand
// v1 rand.New(rand.NewSource(int64(fnv.New64a(groupName).Sum64()))). The
// member IDs are sorted ascending and one r.Intn(ovnChassisPriorityMax+1)
// = Intn(32768) is drawn per member until the local member's; that draw is
// its priority. So the k-th member by ID gets the k-th draw, and removing a
// member shifts the priorities of every member after it. Checked on the
// test bed: LXD 5.0.2 standalone (member ID 1) wrote 1138 into lxd-net2.
func LXDPriorities(group string, memberIDs []int64) map[int64]int {
	ids := slices.Clone(memberIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	h := fnv.New64a()
	h.Write([]byte(group)) // never fails
	// Deliberately math/rand v1 with an explicit source: it is LXD's
	// generator and stays deterministic for a given seed.
	r := rand.New(rand.NewSource(int64(h.Sum64())))
	out := make(map[int64]int, len(ids))
	for _, id := range ids {
		out[id] = r.Intn(lxdChassisPriorityMax + 1)
	}
	return out
}

// GatewayPort is the SB chassisredirect port of prefix's gateway:
// cr-<prefix>-lr-lrp-ext. Whoever holds it serves the network's forwards.
func GatewayPort(prefix string) string { return "cr-" + prefix + "-lr-lrp-ext" }

// GatewayPrefix is the inverse of GatewayPort.
func GatewayPrefix(port string) (string, bool) {
	rest, ok := strings.CutPrefix(port, "cr-")
	if !ok {
		return "", false
	}
	prefix, ok := strings.CutSuffix(rest, "-lr-lrp-ext")
	return prefix, ok && prefix != ""
}

// IsHAOp reports whether k is an HA chassis group op (applied by
// ovn.NB.ApplyHA, not ovn.NB.Apply).
func IsHAOp(k OpKind) bool {
	switch k {
	case OpHAAdd, OpHARemove, OpHASetPriority:
		return true
	}
	return false
}

// HANetwork is one mapped LXD network whose HA chassis group is checked.
type HANetwork struct {
	Network NetworkRef
	// Prefix is the network's OVN prefix: the group is named after it and
	// its gateway port is GatewayPort(Prefix).
	Prefix string
	// UnclaimedFor is how long the gateway port has had no claim, as the
	// caller measured it (ClaimTracker.UnclaimedFor); 0 when claimed.
	UnclaimedFor time.Duration
}

// HANetworks lists the networks of the mappings that mapped to a prefix,
// sorted, with UnclaimedFor unset.
func HANetworks(mappings map[NetworkRef]Mapping) []HANetwork {
	var out []HANetwork
	for ref, m := range mappings {
		if m.OK() {
			out = append(out, HANetwork{Network: ref, Prefix: m.Prefix})
		}
	}
	slices.SortFunc(out, func(a, b HANetwork) int { return compareNetworkRef(a.Network, b.Network) })
	return out
}

// HAInput is what PlanHA judges the HA chassis groups by.
type HAInput struct {
	// Members are all LXD cluster members. Nil means unknown (the listing
	// failed): the rules that need membership are skipped.
	Members []Member
	// MemberChassis maps a member name to its chassis name, overriding the
	// hostname match (see PlanHA). Optional.
	MemberChassis map[string]string
	// NB supplies HAChassisGroups, HAChassis and NBGlobalOptions.
	NB NBState
	// SB supplies Chassis and PortBindings.
	SB SBState
	// Networks are the networks whose groups are judged.
	Networks []HANetwork
	// Unresponsive holds the chassis names that did not follow the last
	// nb_cfg ping (their Chassis_Private.nb_cfg stayed behind).
	Unresponsive map[string]bool
	// AbsentFor is how long each chassis name has had neither an SB
	// Chassis nor a Chassis_Private row, as the caller measured it
	// (ChassisAbsence). Nil: not measured, every absent chassis counts as
	// absent for ever. Otherwise a name not in the map counts as just gone.
	AbsentFor map[string]time.Duration
}

// HAOptions tune PlanHA.
type HAOptions struct {
	// RemoveUnresponsive removes unresponsive chassis from the groups;
	// without it they are only reported.
	RemoveUnresponsive bool
	// DarkAfter is how long a gateway port of a group of two or more
	// chassis may be unclaimed before its forwards count as dark
	// everywhere; 0 means BFDDetectionTime of NB_Global's options.
	DarkAfter time.Duration
	// AbsentGrace keeps entries of chassis absent from SB for less than
	// this (an ovn-controller restart deletes and re-creates its rows).
	AbsentGrace time.Duration
}

// OVS BFD defaults (vswitchd.xml, Interface bfd:min_rx / min_tx / mult);
// ovn-controller copies NB_Global options bfd-min-rx / bfd-min-tx /
// bfd-mult onto every tunnel through SB_Global (controller/bfd.c).
const (
	bfdDefaultMinRx = 1000
	bfdDefaultMinTx = 100
	bfdDefaultMult  = 3
)

// BFDDetectionTime is the BFD detection time of the gateway tunnels for
// NB_Global options opts: mult × max(min_rx, min_tx) (3 s by default).
// Unparseable or non-positive values fall back to the defaults.
func BFDDetectionTime(opts map[string]string) time.Duration {
	get := func(key string, def int) int {
		if n, err := strconv.Atoi(strings.TrimSpace(opts[key])); err == nil && n > 0 {
			return n
		}
		return def
	}
	rx, tx, mult := get("bfd-min-rx", bfdDefaultMinRx), get("bfd-min-tx", bfdDefaultMinTx), get("bfd-mult", bfdDefaultMult)
	return time.Duration(mult*max(rx, tx)) * time.Millisecond
}

// PlanHA judges the HA chassis group of every network in in.Networks and
// returns the changes that repair them (one Change per group, Key naming
// the network, Prefix the group) and the findings, sorted.
//
// Member ↔ chassis: LXD names its chassis after the member's OVS system-id
// and the member after the host, so a member's chassis is taken to be the
// SB Chassis whose hostname equals the member name, unless
// in.MemberChassis names it. Several chassis with that hostname (a
// reinstalled host) are narrowed to the responsive ones; if that still
// leaves several, the member is left alone and reported.
//
// Per group entry (HA_Chassis), in this order:
//   - a second entry of the same chassis: stale, removed (the one with
//     LXD's priority, else the lowest UUID, stays);
//   - chassis with neither a Chassis nor a Chassis_Private row in SB: stale,
//     removed once absent for in.AbsentFor ≥ o.AbsentGrace;
//   - chassis of an evacuated member, of a member without the ovn-chassis
//     role while others have it, or named in MemberChassis for a member no
//     longer listed: stale, removed;
//   - unresponsive chassis: reported; removed only with
//     o.RemoveUnresponsive;
//   - chassis of a member that belongs in the group: priority set to
//     LXDPriorities when it differs;
//   - any other chassis (not an LXD member's, present in SB): left alone.
//
// Members that belong in the group (the ovn-chassis role holders, or all
// members when none has it; never evacuated ones) whose chassis has an SB
// Chassis row, is responsive and is not in the group are missing: added
// with LXD's priority. Removals that would leave a group empty are held
// back and reported.
//
// A group of two or more chassis whose gateway port is unclaimed in SB and
// has been for longer than o.DarkAfter is critical: the network's forwards
// are dark everywhere (OVN only claims with BFD up between the gateways).
func PlanHA(in HAInput, o HAOptions) ([]Change, []Finding) {
	p := newHAPlanner(in, o)
	p.resolveMembers()
	for _, n := range in.Networks {
		p.network(n)
	}
	slices.SortFunc(p.changes, func(a, b Change) int { return CompareKeys(a.Key, b.Key) })
	sortFindings(p.findings)
	return p.changes, p.findings
}

// haPlanner holds one PlanHA pass.
type haPlanner struct {
	in        HAInput
	o         HAOptions
	darkAfter time.Duration
	sb        map[string]*SBChassis
	ports     map[string]*SBPortBinding
	groups    map[string]*NBHAChassisGroup
	rows      map[string]*NBHAChassis

	// members is false when membership is unknown or unusable.
	members bool
	// chassisMember maps a chassis to the member it belongs to.
	chassisMember map[string]*Member
	// memberChassis maps a member name to its resolved chassis.
	memberChassis map[string]string
	// formerChassis maps a chassis to the MemberChassis member that is no
	// longer listed.
	formerChassis map[string]string
	// eligible holds the members that belong in every group, by ID order.
	eligible []*Member
	// inGroups: member name → it belongs in the groups.
	inGroups   map[string]bool
	withRole   bool
	memberIDs  []int64
	findings   []Finding
	changes    []Change
	priorities map[string]map[int64]int
}

func newHAPlanner(in HAInput, o HAOptions) *haPlanner {
	p := &haPlanner{
		in: in, o: o, darkAfter: o.DarkAfter,
		sb:            make(map[string]*SBChassis, len(in.SB.Chassis)),
		ports:         make(map[string]*SBPortBinding),
		groups:        make(map[string]*NBHAChassisGroup, len(in.NB.HAChassisGroups)),
		rows:          make(map[string]*NBHAChassis, len(in.NB.HAChassis)),
		chassisMember: map[string]*Member{},
		memberChassis: map[string]string{},
		formerChassis: map[string]string{},
		inGroups:      map[string]bool{},
		priorities:    map[string]map[int64]int{},
	}
	if p.darkAfter <= 0 {
		p.darkAfter = BFDDetectionTime(in.NB.NBGlobalOptions)
	}
	for i := range in.SB.Chassis {
		c := &in.SB.Chassis[i]
		p.sb[c.Name] = c
	}
	for i := range in.SB.PortBindings {
		pb := &in.SB.PortBindings[i]
		if pb.Type == "chassisredirect" {
			p.ports[pb.LogicalPort] = pb
		}
	}
	for i := range in.NB.HAChassisGroups {
		g := &in.NB.HAChassisGroups[i]
		p.groups[g.Name] = g
	}
	for i := range in.NB.HAChassis {
		r := &in.NB.HAChassis[i]
		p.rows[r.UUID] = r
	}
	return p
}

func (p *haPlanner) find(key ForwardKey, cat Category, sev Severity, repair, format string, a ...any) {
	p.findings = append(p.findings, Finding{Key: key, Category: cat, Severity: sev, Detail: fmt.Sprintf(format, a...), Repair: repair})
}

// resolveMembers maps members to chassis and decides who belongs in the
// groups. Problems are reported once, not per network.
func (p *haPlanner) resolveMembers() {
	ms := p.in.Members
	if ms == nil {
		return
	}
	seen := map[int64]string{}
	for i := range ms {
		if other, dup := seen[ms[i].ID]; dup {
			p.find(ForwardKey{}, CatHAMissing, SeverityError, "none: membership rules skipped",
				"LXD members %s and %s share ID %d: cannot compute LXD's HA chassis priorities", other, ms[i].Name, ms[i].ID)
			return
		}
		seen[ms[i].ID] = ms[i].Name
	}
	p.members = true

	sorted := make([]*Member, len(ms))
	for i := range ms {
		sorted[i] = &ms[i]
	}
	slices.SortFunc(sorted, func(a, b *Member) int { return cmp.Compare(a.ID, b.ID) })
	for _, m := range sorted {
		p.memberIDs = append(p.memberIDs, m.ID)
		if slices.Contains(m.Roles, RoleOVNChassis) {
			p.withRole = true
		}
	}
	listed := map[string]bool{}
	for _, m := range sorted {
		listed[m.Name] = true
		if (!p.withRole || slices.Contains(m.Roles, RoleOVNChassis)) && m.Status != MemberStatusEvacuated {
			p.eligible = append(p.eligible, m)
			p.inGroups[m.Name] = true
		}
	}
	for _, name := range sortedKeys(p.in.MemberChassis) {
		if c := p.in.MemberChassis[name]; c != "" && !listed[name] {
			p.formerChassis[c] = name
		}
	}

	byHost := map[string][]string{}
	for _, c := range p.in.SB.Chassis {
		if c.HasChassisRow && c.Hostname != "" {
			byHost[c.Hostname] = append(byHost[c.Hostname], c.Name)
		}
	}
	claimedBy := map[string][]*Member{}
	for _, m := range sorted {
		c := p.in.MemberChassis[m.Name]
		if c == "" {
			cands := byHost[m.Name]
			if len(cands) > 1 {
				cands = slices.DeleteFunc(slices.Clone(cands), func(n string) bool { return p.in.Unresponsive[n] })
			}
			switch len(cands) {
			case 0:
				if p.inGroups[m.Name] {
					p.find(ForwardKey{}, CatHAMissing, SeverityInfo, "none: map the member to its chassis explicitly",
						"LXD member %s: no SB Chassis has hostname %s; its chassis is unknown", m.Name, m.Name)
				}
				continue
			case 1:
				c = cands[0]
			default:
				slices.Sort(cands)
				p.find(ForwardKey{}, CatHAMissing, SeverityWarning, "none: map the member to its chassis explicitly",
					"LXD member %s: several responsive SB chassis have hostname %s (%s); its entries are left alone",
					m.Name, m.Name, strings.Join(cands, ", "))
				continue
			}
		} else if s := p.sb[c]; (s == nil || !s.HasChassisRow) && p.inGroups[m.Name] {
			p.find(ForwardKey{}, CatHAMissing, SeverityInfo, "none: it is added once its ovn-controller registers",
				"LXD member %s: its chassis %s has no SB Chassis row", m.Name, c)
		}
		claimedBy[c] = append(claimedBy[c], m)
	}
	for _, c := range sortedKeys(claimedBy) {
		owners := claimedBy[c]
		if len(owners) > 1 {
			names := make([]string, len(owners))
			for i, m := range owners {
				names[i] = m.Name
			}
			p.find(ForwardKey{}, CatHAMissing, SeverityWarning, "none: map the members to their chassis explicitly",
				"chassis %s matches several LXD members (%s); its entries are left alone", c, strings.Join(names, ", "))
			continue
		}
		p.chassisMember[c] = owners[0]
		p.memberChassis[owners[0].Name] = c
	}
}

// priority is LXD's priority for member m in group.
func (p *haPlanner) priority(group string, m *Member) int {
	pr, ok := p.priorities[group]
	if !ok {
		pr = LXDPriorities(group, p.memberIDs)
		p.priorities[group] = pr
	}
	return pr[m.ID]
}

// removal is a planned OpHARemove and the finding explaining it.
type removal struct {
	op      Op
	finding Finding
	// duplicate removals never empty a group.
	duplicate bool
}

// network judges the group of one network.
func (p *haPlanner) network(n HANetwork) {
	key := ForwardKey{Project: n.Network.Project, Network: n.Network.Name}
	group := n.Prefix
	g := p.groups[group]
	if g == nil {
		p.find(key, CatHAMissing, SeverityError, "none: LXD creates the group when the network starts",
			"network %s/%s: NB has no HA_Chassis_Group %s", key.Project, key.Network, group)
		return
	}
	planned := slices.Sorted(slices.Values(g.HAChassis))
	haOp := func(kind OpKind, chassis string) Op {
		return Op{Kind: kind, Name: group, Target: g.UUID, Chassis: chassis, GroupHAChassis: planned}
	}

	byName := map[string][]*NBHAChassis{}
	for _, u := range g.HAChassis {
		if r := p.rows[u]; r != nil {
			byName[r.ChassisName] = append(byName[r.ChassisName], r)
		}
	}
	names := sortedKeys(byName)

	var removes []removal
	var sets, adds []Op
	remove := func(r *NBHAChassis, dup bool, cat Category, sev Severity, repair, format string, a ...any) {
		op := haOp(OpHARemove, r.ChassisName)
		op.HAUUID = r.UUID
		removes = append(removes, removal{op: op, duplicate: dup, finding: Finding{
			Key: key, Category: cat, Severity: sev, Detail: fmt.Sprintf(format, a...), Repair: repair}})
	}
	removeRepair := func(r *NBHAChassis) string {
		return fmt.Sprintf("remove HA_Chassis %s (%s) from group %s", r.ChassisName, r.UUID, group)
	}

	for _, name := range names {
		rows := byName[name]
		slices.SortFunc(rows, func(a, b *NBHAChassis) int { return strings.Compare(a.UUID, b.UUID) })
		m := p.chassisMember[name]
		belongs := p.members && m != nil && p.inGroups[m.Name]
		want := 0
		if belongs {
			want = p.priority(group, m)
		}
		keep := rows[0]
		if belongs {
			if i := slices.IndexFunc(rows, func(r *NBHAChassis) bool { return r.Priority == want }); i >= 0 {
				keep = rows[i]
			}
		}
		for _, r := range rows {
			if r != keep {
				remove(r, true, CatHAStale, SeverityWarning, removeRepair(r),
					"group %s has chassis %s more than once: HA_Chassis %s (priority %d) duplicates %s (priority %d)",
					group, name, r.UUID, r.Priority, keep.UUID, keep.Priority)
			}
		}

		r := keep
		sbc := p.sb[name]
		if sbc == nil {
			absent, measured := p.in.AbsentFor[name]
			if p.in.AbsentFor == nil || (measured && absent >= p.o.AbsentGrace) {
				how := "no SB Chassis or Chassis_Private row"
				if p.in.AbsentFor != nil {
					how += " for " + absent.String()
				}
				remove(r, false, CatHAStale, SeverityWarning, removeRepair(r),
					"group %s: chassis %s (HA_Chassis %s, priority %d) has %s", group, name, r.UUID, r.Priority, how)
			} else {
				p.find(key, CatHAStale, SeverityInfo, fmt.Sprintf("none yet: removed if still absent after %s", p.o.AbsentGrace),
					"group %s: chassis %s (HA_Chassis %s) has no SB Chassis or Chassis_Private row for %s", group, name, r.UUID, absent)
			}
			continue
		}
		if p.members {
			switch {
			case m != nil && m.Status == MemberStatusEvacuated:
				remove(r, false, CatHAStale, SeverityWarning, removeRepair(r),
					"group %s: chassis %s belongs to LXD member %s, which is evacuated", group, name, m.Name)
				continue
			case m != nil && !p.inGroups[m.Name]:
				remove(r, false, CatHAStale, SeverityWarning, removeRepair(r),
					"group %s: chassis %s belongs to LXD member %s, which lacks the %s role other members have", group, name, m.Name, RoleOVNChassis)
				continue
			case m == nil && p.formerChassis[name] != "":
				remove(r, false, CatHAStale, SeverityWarning, removeRepair(r),
					"group %s: chassis %s belonged to LXD member %s, which is no longer a cluster member", group, name, p.formerChassis[name])
				continue
			}
		}
		if p.in.Unresponsive[name] {
			detail := fmt.Sprintf("group %s: chassis %s (%s) did not follow the last nb_cfg ping (its nb_cfg is %d)", group, name, sbc.Hostname, sbc.NBCfg)
			if p.o.RemoveUnresponsive {
				remove(r, false, CatChassisUnresponsive, SeverityWarning, removeRepair(r)+" (removal of unresponsive chassis is enabled)", "%s", detail)
				continue
			}
			p.find(key, CatChassisUnresponsive, SeverityWarning, "none: removing an unresponsive chassis needs the explicit option", "%s", detail)
		}
		if belongs && r.Priority != want {
			op := haOp(OpHASetPriority, name)
			op.HAUUID, op.Priority = r.UUID, want
			sets = append(sets, op)
			p.find(key, CatHAPriority, SeverityWarning, fmt.Sprintf("set the priority of HA_Chassis %s (%s) to %d", name, r.UUID, want),
				"group %s: chassis %s of LXD member %s has priority %d, LXD gives it %d", group, name, m.Name, r.Priority, want)
		}
	}

	if p.members {
		for _, m := range p.eligible {
			c, ok := p.memberChassis[m.Name]
			if !ok || len(byName[c]) > 0 {
				continue
			}
			if s := p.sb[c]; s == nil || !s.HasChassisRow {
				continue // reported once by resolveMembers
			}
			if p.in.Unresponsive[c] {
				p.find(key, CatHAMissing, SeverityInfo, "none while the chassis is unresponsive",
					"group %s lacks chassis %s of LXD member %s, which is unresponsive", group, c, m.Name)
				continue
			}
			op := haOp(OpHAAdd, c)
			op.Priority = p.priority(group, m)
			adds = append(adds, op)
			p.find(key, CatHAMissing, SeverityWarning, fmt.Sprintf("add chassis %s to group %s with priority %d", c, group, op.Priority),
				"group %s lacks chassis %s of LXD member %s", group, c, m.Name)
		}
	}

	// Never plan a group empty: hold every non-duplicate removal back.
	entries := 0
	for _, rows := range byName {
		entries += len(rows)
	}
	hold := len(removes) > 0 && entries-len(removes)+len(adds) <= 0
	var ops []Op
	for _, rm := range removes {
		f := rm.finding
		if hold && !rm.duplicate {
			f.Repair = "none: removing it would leave group " + group + " empty"
		} else {
			ops = append(ops, rm.op)
		}
		p.findings = append(p.findings, f)
	}
	ops = append(ops, sets...)
	ops = append(ops, adds...)
	if len(ops) > 0 {
		p.changes = append(p.changes, Change{Key: key, Prefix: group, Ops: ops})
	}

	p.dark(key, n, names)
}

// dark reports a group of two or more chassis whose gateway port has been
// unclaimed for longer than the BFD detection time.
func (p *haPlanner) dark(key ForwardKey, n HANetwork, names []string) {
	port := GatewayPort(n.Prefix)
	pb := p.ports[port]
	if len(names) < 2 || pb == nil || pb.Chassis != "" || n.UnclaimedFor <= p.darkAfter {
		return
	}
	var alive []string
	for _, name := range names {
		if s := p.sb[name]; s != nil && s.HasChassisRow {
			alive = append(alive, name)
		}
	}
	repair := fmt.Sprintf("none: BFD between the gateway chassis (%s) is probably down — check the underlay and the tunnels' Interface bfd_status; "+
		"OVN lets a gateway of a group of two or more claim only while its BFD sessions are up", strings.Join(alive, ", "))
	if len(alive) < 2 {
		repair = fmt.Sprintf("none: the group has only %d chassis with an SB Chassis row out of %d; check ovn-controller on the others", len(alive), len(names))
	}
	p.find(key, CatDarkEverywhere, SeverityCritical, repair,
		"forwards of %s/%s are dark everywhere: gateway port %s has had no claim for %s (threshold %s) although group %s has %d chassis (%s)",
		key.Project, key.Network, port, n.UnclaimedFor, p.darkAfter, n.Prefix, len(names), strings.Join(names, ", "))
}

// ChassisAbsence measures, for HAInput.AbsentFor, how long each chassis
// named by an NB HA_Chassis row has had no SB row. The zero value is ready.
// It reads no clock: the caller passes the time.
type ChassisAbsence struct {
	since map[string]time.Time
}

// Update records the chassis absent at now and returns how long each has
// been absent (since the first Update that saw it absent). Names that are
// present again, or no longer in any HA_Chassis row, are forgotten.
func (a *ChassisAbsence) Update(now time.Time, nb NBState, sb SBState) map[string]time.Duration {
	present := make(map[string]bool, len(sb.Chassis))
	for _, c := range sb.Chassis {
		present[c.Name] = true
	}
	old := a.since
	a.since = map[string]time.Time{}
	out := map[string]time.Duration{}
	for _, r := range nb.HAChassis {
		if present[r.ChassisName] {
			continue
		}
		t, ok := old[r.ChassisName]
		if !ok {
			t = now
		}
		a.since[r.ChassisName] = t
		out[r.ChassisName] = now.Sub(t)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
