package sync

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Result is a plan: the NB changes that make NB match LXD, and what was
// found on the way.
type Result struct {
	// Changes holds one Change per forward key with something to do, sorted
	// by key.
	Changes []Change
	// Findings are sorted by key, category and detail.
	Findings []Finding
	// Desired holds the rows of every planned forward, by canonical key.
	Desired map[ForwardKey]DesiredForward
	// Mappings holds the mapping of every listed network.
	Mappings map[NetworkRef]Mapping
	// Deletes counts the Load_Balancer rows the Changes delete.
	Deletes int
	// BudgetExceeded: the plan wanted more deletions than
	// Options.DeletionBudget and holds all of them back.
	BudgetExceeded bool
	// Rules are the rules the plan was made with (Verify uses them).
	Rules Rules
	// Unplanned holds the forwards in scope that got no desired rows
	// (unmapped network, bad input), with the reason; Verify reports them
	// broken.
	Unplanned map[ForwardKey]string
}

// Plan compares every LXD forward with NB and returns the changes that
// repair NB. It fails only on unusable input (unknown server version or
// options). It runs in time linear in the number of forwards and rows.
//
// Rows are judged by name, <prefix>-lb-<canonical listen>-(tcp|udp):
//   - of a mapped network: the forward's rows are created, updated,
//     attached and detached as needed; duplicates are reduced to one; rows
//     without a forward or LXD load balancer are stale and deleted, but only
//     when lxd.Complete says the network's listing completed;
//   - of an LXD network load balancer: never touched nor reported;
//   - of a well-formed prefix no listed network maps to: CatOrphan, no change;
//   - anything else is foreign and ignored.
func Plan(lxd LXDState, nb NBState, o Options) (Result, error) {
	return plan(lxd, nb, o, nil)
}

// PlanForwards plans only the forwards in only, e.g. to re-plan one forward
// after an LXD event from an NB snapshot that holds every router, port and
// switch but only the Load_Balancer rows of those forwards. A key in only
// that lxd.Forwards lacks is a deleted forward: its rows are stale (when its
// network's listing is complete). Rows of other keys are never touched, and
// orphan rows are not reported. An empty only plans nothing.
func PlanForwards(lxd LXDState, nb NBState, o Options, only []ForwardKey) (Result, error) {
	scope := make(map[ForwardKey]bool, len(only))
	for _, k := range only {
		scope[canonicalKey(k)] = true
	}
	return plan(lxd, nb, o, scope)
}

// planner holds one planning pass.
type planner struct {
	lxd   LXDState
	opts  Options
	rules Rules
	idx   *NBIndex
	x     differ
	// scope limits planning to these keys; nil means everything.
	scope     map[ForwardKey]bool
	scopeNets map[NetworkRef]bool
	// loadBalancers are the listen addresses of LXD network load balancers.
	loadBalancers map[ForwardKey]bool
	// scratch is reused for every forward key (see diff).
	scratch forwardDiff
	res     Result
}

// rowGroup holds the rows of one listen address: [0] -tcp, [1] -udp.
type rowGroup [2][]*NBLoadBalancer

func plan(lxd LXDState, nb NBState, o Options, scope map[ForwardKey]bool) (Result, error) {
	rules, err := RulesFor(lxd.Server)
	if err != nil {
		return Result{}, fmt.Errorf("plan: %w", err)
	}
	if err := o.validate(); err != nil {
		return Result{}, fmt.Errorf("plan: %w", err)
	}
	idx := IndexNB(nb)
	p := &planner{
		lxd: lxd, opts: o, rules: rules, idx: idx, x: differ{idx: idx}, scope: scope,
		res: Result{
			Desired:   make(map[ForwardKey]DesiredForward, len(lxd.Forwards)),
			Unplanned: make(map[ForwardKey]string),
			Rules:     rules,
		},
	}
	if scope != nil {
		p.scopeNets = make(map[NetworkRef]bool)
		for k := range scope {
			p.scopeNets[NetworkRef{Project: k.Project, Name: k.Network}] = true
		}
	}
	p.loadBalancers = make(map[ForwardKey]bool, len(lxd.LoadBalancers))
	for _, k := range lxd.LoadBalancers {
		p.loadBalancers[canonicalKey(k)] = true
	}
	p.res.Mappings = MapNetworks(rules, lxd.Networks, idx)

	p.networkFindings()
	groups := p.groupRows()
	p.planForwards(groups)
	p.planStale(groups)
	p.applyBudget()

	slices.SortFunc(p.res.Changes, func(a, b Change) int { return CompareKeys(a.Key, b.Key) })
	sortFindings(p.res.Findings)
	return p.res, nil
}

func (p *planner) inScope(k ForwardKey) bool { return p.scope == nil || p.scope[k] }

func (p *planner) networkInScope(ref NetworkRef) bool { return p.scope == nil || p.scopeNets[ref] }

// networkFindings reports every unmapped network in scope, and every
// listed network whose forwards LXD could not list.
func (p *planner) networkFindings() {
	for ref, err := range p.lxd.ListErrors {
		if p.lxd.Complete[ref] || !p.networkInScope(ref) {
			continue
		}
		p.res.Findings = append(p.res.Findings, Finding{
			Key:      ForwardKey{Project: ref.Project, Network: ref.Name},
			Category: CatIncomplete,
			Severity: SeverityError,
			Detail: fmt.Sprintf("LXD could not list the forwards of network %s/%s (%s): none of them was checked, and no row of the network is deleted until a listing completes",
				ref.Project, ref.Name, err),
			Repair: "none: fix what makes LXD fail (see the error), then check again",
		})
	}
	for ref, m := range p.res.Mappings {
		if m.OK() || !p.networkInScope(ref) {
			continue
		}
		p.res.Findings = append(p.res.Findings, Finding{
			Key:      ForwardKey{Project: ref.Project, Network: ref.Name},
			Category: CatUnmappedNetwork,
			Severity: SeverityError,
			Detail:   fmt.Sprintf("network %s/%s: %s", ref.Project, ref.Name, m.Err),
			Repair:   "none: the network's forwards and rows are left alone until it maps to exactly one OVN prefix",
		})
	}
}

// groupRows sorts the Load_Balancer rows of mapped networks by forward key.
// Foreign rows are skipped, orphan rows reported, and rows of LXD network
// load balancers or of keys out of scope left out.
func (p *planner) groupRows() map[ForwardKey]rowGroup {
	prefixNet := make(map[string]NetworkRef, len(p.res.Mappings))
	for ref, m := range p.res.Mappings {
		if m.OK() {
			prefixNet[m.Prefix] = ref
		}
	}
	groups := make(map[ForwardKey]rowGroup, len(p.lxd.Forwards))
	for name, rows := range p.idx.LBsByName {
		prefix, addr, pi, ok := ParseLBName(p.rules.Prefix, name)
		if !ok {
			continue
		}
		ref, mapped := prefixNet[prefix]
		if !mapped {
			if p.scope == nil {
				for _, r := range rows {
					p.res.Findings = append(p.res.Findings, Finding{
						Key:      ForwardKey{ListenAddress: addr},
						Category: CatOrphan,
						Severity: SeverityInfo,
						Detail:   fmt.Sprintf("Load_Balancer %s (%s) has prefix %s, which no listed LXD network maps to", r.Name, r.UUID, prefix),
						Repair:   "none: left alone",
					})
				}
			}
			continue
		}
		key := ForwardKey{Project: ref.Project, Network: ref.Name, ListenAddress: addr}
		if p.loadBalancers[key] || !p.inScope(key) {
			continue
		}
		g := groups[key]
		g[pi] = rows
		groups[key] = g
	}
	return groups
}

// planForwards diffs every forward in scope and removes its rows from groups.
func (p *planner) planForwards(groups map[ForwardKey]rowGroup) {
	forwards := make(map[ForwardKey]*Forward, len(p.lxd.Forwards))
	twice := make(map[ForwardKey]bool)
	keys := make([]ForwardKey, 0, len(p.lxd.Forwards))
	for i := range p.lxd.Forwards {
		f := &p.lxd.Forwards[i]
		k := canonicalKey(f.Key())
		if !p.inScope(k) {
			continue
		}
		if _, seen := forwards[k]; seen {
			twice[k] = true
			continue
		}
		forwards[k] = f
		keys = append(keys, k)
	}

	unlisted := make(map[NetworkRef]bool)
	for _, k := range keys {
		ref := NetworkRef{Project: k.Project, Name: k.Network}
		m, listed := p.res.Mappings[ref]
		switch {
		case !listed:
			p.res.Unplanned[k] = fmt.Sprintf("network %s/%s is not a listed OVN network", ref.Project, ref.Name)
			if !unlisted[ref] {
				unlisted[ref] = true
				p.res.Findings = append(p.res.Findings, Finding{
					Key:      ForwardKey{Project: ref.Project, Network: ref.Name},
					Category: CatUnmappedNetwork,
					Severity: SeverityError,
					Detail:   fmt.Sprintf("network %s/%s has forwards but is not among the listed OVN networks", ref.Project, ref.Name),
					Repair:   "none: its forwards are left alone",
				})
			}
			continue
		case !m.OK():
			p.res.Unplanned[k] = fmt.Sprintf("network %s/%s is not mapped to OVN: %s", ref.Project, ref.Name, m.Err)
			continue
		}

		var d DesiredForward
		var err error
		switch {
		case twice[k]:
			err = fmt.Errorf("forward %s on network %s/%s is listed more than once", k.ListenAddress, k.Project, k.Network)
		case p.loadBalancers[k]:
			err = fmt.Errorf("forward %s on network %s/%s: its listen address is also a network load balancer", k.ListenAddress, k.Project, k.Network)
		default:
			d, err = DesiredRows(p.rules, m, *forwards[k], p.opts)
		}
		if err != nil {
			delete(groups, k)
			p.res.Unplanned[k] = err.Error()
			p.res.Findings = append(p.res.Findings, Finding{
				Key: k, Category: CatBadForward, Severity: SeverityError,
				Detail: err.Error(),
				Repair: "none: fix the forward in LXD; its rows are left alone",
			})
			continue
		}
		p.res.Desired[k] = d

		g := groups[k]
		delete(groups, k)
		fd := p.diff(k)
		t := attachTarget{routerUUID: m.RouterUUID, routerName: m.RouterName}
		if p.rules.AttachSwitch {
			t.switchUUID, t.switchName = m.IntSwitchUUID, m.IntSwitchName
		}
		for pi, proto := range protocols {
			if want := d.LB(proto); want != nil {
				p.x.diffLB(fd, want, g[pi], t)
			} else if len(g[pi]) > 0 {
				p.stale(fd, ref, g[pi], "the forward has no "+proto+" VIPs")
			}
		}
		p.add(fd, m.Prefix)
	}
}

// planStale deletes the rows left in groups: no forward in scope has them.
func (p *planner) planStale(groups map[ForwardKey]rowGroup) {
	keys := make([]ForwardKey, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, CompareKeys)
	for _, k := range keys {
		ref := NetworkRef{Project: k.Project, Name: k.Network}
		g := groups[k]
		fd := p.diff(k)
		p.stale(fd, ref, append(slices.Clip(g[0]), g[1]...), "no LXD forward or load balancer listens on "+k.ListenAddress)
		p.add(fd, p.res.Mappings[ref].Prefix)
	}
}

// stale deletes rows, or holds the deletion when the network's listing was
// incomplete.
func (p *planner) stale(fd *forwardDiff, ref NetworkRef, rows []*NBLoadBalancer, why string) {
	if p.lxd.Complete[ref] {
		p.x.deleteStale(fd, rows, why)
		return
	}
	names := make([]string, len(rows))
	for i, r := range rows {
		names[i] = r.Name + " (" + r.UUID + ")"
	}
	fd.find(CatIncomplete, SeverityWarning,
		fmt.Sprintf("listing of network %s/%s is incomplete; not deleting %s although %s", ref.Project, ref.Name, strings.Join(names, ", "), why),
		"none until a complete listing of the network confirms the rows are stale")
}

// diff returns the planner's scratch forwardDiff, reset for key k.
func (p *planner) diff(k ForwardKey) *forwardDiff {
	p.scratch = forwardDiff{key: k, ops: p.scratch.ops[:0], findings: p.scratch.findings[:0]}
	return &p.scratch
}

// add records the ops and findings of one forward key.
func (p *planner) add(fd *forwardDiff, prefix string) {
	p.res.Findings = append(p.res.Findings, fd.findings...)
	if len(fd.ops) > 0 {
		p.res.Changes = append(p.res.Changes, Change{Key: fd.key, Prefix: prefix, Ops: slices.Clone(fd.ops), Deletes: fd.deletes})
		p.res.Deletes += fd.deletes
	}
}

// applyBudget drops every delete when the plan deletes more rows than the
// budget allows.
func (p *planner) applyBudget() {
	if p.opts.DeletionBudget < 0 || p.res.Deletes <= p.opts.DeletionBudget {
		return
	}
	held := p.res.Deletes
	kept := p.res.Changes[:0]
	for _, c := range p.res.Changes {
		c.Ops = slices.DeleteFunc(c.Ops, func(op Op) bool { return op.Kind == OpDeleteLB })
		c.Deletes = 0
		if len(c.Ops) > 0 {
			kept = append(kept, c)
		}
	}
	p.res.Changes = kept
	p.res.Deletes = 0
	p.res.BudgetExceeded = true
	p.res.Findings = append(p.res.Findings, Finding{
		Category: CatDeletionBudget,
		Severity: SeverityError,
		Detail:   fmt.Sprintf("the plan would delete %d Load_Balancer rows but the deletion budget is %d: all %d deletions are held back", held, p.opts.DeletionBudget, held),
		Repair:   "none this pass: check why so many rows look stale, then raise the budget or delete them by hand",
	})
}

// parseLBName splits "<family><digits>-lb-<addr>-<proto>" into the prefix,
// the address and the protocol index. ok is false for any other name,
// including non-canonical addresses.
// ParseLBName splits a forward row name <family><digits>-lb-<canonical
// listen>-(tcp|udp) into its prefix and listen address; protoIndex is 0 for
// tcp, 1 for udp. ok is false for any other name (a foreign row).
func ParseLBName(family, name string) (prefix, addr string, protoIndex int, ok bool) {
	rest, found := strings.CutPrefix(name, family)
	if !found {
		return "", "", 0, false
	}
	digits := 0
	for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
		digits++
	}
	if digits == 0 {
		return "", "", 0, false
	}
	prefix = name[:len(family)+digits]
	rest, found = strings.CutPrefix(rest[digits:], "-lb-")
	if !found {
		return "", "", 0, false
	}
	switch {
	case strings.HasSuffix(rest, "-tcp"):
		protoIndex = 0
	case strings.HasSuffix(rest, "-udp"):
		protoIndex = 1
	default:
		return "", "", 0, false
	}
	addr = rest[:len(rest)-len("-tcp")]
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" || a.Is4In6() || a.String() != addr {
		return "", "", 0, false
	}
	return prefix, addr, protoIndex, true
}

// canonicalKey returns k with its listen address in canonical form (as is
// when it does not parse). It allocates only for a non-canonical address.
func canonicalKey(k ForwardKey) ForwardKey {
	a, ok := parseHostAddr(k.ListenAddress)
	if !ok {
		return k
	}
	var buf [64]byte
	if b := a.AppendTo(buf[:0]); string(b) != k.ListenAddress {
		k.ListenAddress = string(b)
	}
	return k
}

// CompareKeys orders forward keys by project, network and listen address.
func CompareKeys(a, b ForwardKey) int {
	return cmp.Or(
		strings.Compare(a.Project, b.Project),
		strings.Compare(a.Network, b.Network),
		strings.Compare(a.ListenAddress, b.ListenAddress),
	)
}

func sortFindings(fs []Finding) {
	slices.SortFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			CompareKeys(a.Key, b.Key),
			strings.Compare(string(a.Category), string(b.Category)),
			strings.Compare(a.Detail, b.Detail),
		)
	})
}
