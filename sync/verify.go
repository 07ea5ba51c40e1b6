package sync

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// ForwardStatus is the verified state of one forward.
type ForwardStatus struct {
	Key    ForwardKey
	State  State
	Reason string
}

// VerifyInput is the OVN state a plan is verified against.
type VerifyInput struct {
	NB NBState
	SB SBState
	// Barrier is the NB nb_cfg the active chassis must have reached; 0 skips
	// the check.
	Barrier int
	// NBOnly stops the chain at NB (check without --deep): SB is not read.
	NBOnly bool
	// Unannounced holds the gateway ports (cr-…) whose new holder may not
	// be reachable from the uplink yet, with why: claimed moments ago and
	// not announced on the uplink (OVN's own announcement follows 1 s after
	// its claim). Their forwards are pending, not ok (daemon only).
	Unannounced map[string]string
}

// Verify follows each forward of res down the chain of ovn-failover-facts.md
// §1 and returns its state, sorted by key, with the findings behind it:
//
//   - broken: its network is unmapped or its input bad (res.Unplanned), its
//     NB rows are missing, wrong, detached or duplicated, or the gateway port
//     cr-<prefix>-lr-lrp-ext has no SB binding or no chassis;
//   - pending: NB is right but northd has not caught up (sb_cfg < nb_cfg, or
//     below Barrier) and part of SB is not there yet;
//   - degraded: northd caught up but SB lacks the Load_Balancer (checked only
//     when rows are attached to a switch: OVN 23.03 realizes SB
//     Load_Balancer rows for switch datapaths only), the patch port's
//     nat_addresses lack the IPv4 listen address, the ARP responder address
//     set lacks it (when neighbor_responder=all is desired), the active
//     chassis has no SB row or is behind Barrier; or NB has stale rows,
//     extra attachments or a wrong neighbor_responder;
//   - ok otherwise.
func Verify(res Result, in VerifyInput) ([]ForwardStatus, []Finding) {
	sts, fs, _ := VerifyVerdicts(res, in)
	return sts, fs
}

// Verdicts keep, per forward, the part of a verification that a change of
// the gateway claim cannot alter: the NB rows, the SB Load_Balancer rows,
// the NAT addresses and the ARP/ND responder sets. Regate re-judges only
// the rest (who holds the gateway, and whether that chassis has processed
// the barrier), so a failover re-verifies thousands of forwards in
// milliseconds, as long as nothing else changed (the caller checks that).
type Verdicts struct {
	rules     Rules
	keys      []ForwardKey
	unplanned map[ForwardKey]string
	rows      map[ForwardKey]*rowVerdict
}

// Len is the number of forwards the verdicts cover.
func (vs Verdicts) Len() int { return len(vs.keys) }

// VerifyVerdicts is Verify that also returns its verdicts for Regate.
func VerifyVerdicts(res Result, in VerifyInput) ([]ForwardStatus, []Finding, Verdicts) {
	v := newVerifier(res, in)
	keys := make([]ForwardKey, 0, len(res.Desired)+len(res.Unplanned))
	for k := range res.Desired {
		keys = append(keys, k)
	}
	for k := range res.Unplanned {
		if _, ok := res.Desired[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, CompareKeys)
	vs := Verdicts{rules: res.Rules, keys: keys, unplanned: res.Unplanned, rows: make(map[ForwardKey]*rowVerdict, len(keys))}
	for _, k := range keys {
		if _, ok := res.Unplanned[k]; ok {
			continue
		}
		d := res.Desired[k]
		vs.rows[k] = v.rows(&d)
	}
	sts, fs := vs.judge(v)
	return sts, fs, vs
}

// Regate re-judges the verdicts against fresh gateway facts: in needs only
// NB's nb_cfg/sb_cfg, SB's nb_cfg, Port_Bindings and Chassis, and the
// barrier.
func (vs Verdicts) Regate(in VerifyInput) ([]ForwardStatus, []Finding) {
	return vs.judge(newGateVerifier(vs.rules, in))
}

func (vs Verdicts) judge(v *verifier) ([]ForwardStatus, []Finding) {
	statuses := make([]ForwardStatus, 0, len(vs.keys))
	var findings []Finding
	for _, k := range vs.keys {
		if reason, ok := vs.unplanned[k]; ok {
			statuses = append(statuses, ForwardStatus{Key: k, State: StateBroken, Reason: reason})
			continue
		}
		st, fs := v.gate(vs.rows[k])
		statuses = append(statuses, st)
		findings = append(findings, fs...)
	}
	sortFindings(findings)
	return statuses, findings
}

// verifier holds the indexes of one Verify call.
type verifier struct {
	rules        Rules
	in           VerifyInput
	idx          *NBIndex
	x            differ
	northdBehind bool
	sbLBs        map[string][]*SBLoadBalancer
	ports        map[string]*SBPortBinding
	chassis      map[string]*SBChassis
	// responder holds the addresses of the router ARP/ND responder sets
	// (_rtr_lb_*_ip4 / _ip6).
	responder map[netip.Addr]bool
	// nat holds every address of every nat_addresses entry, with the port
	// and the is_chassis_resident guard it appears under.
	nat map[natAddress]bool
}

// natAddress is one address of a nat_addresses entry.
type natAddress struct {
	port, guard, addr string
}

// newGateVerifier indexes only what gate needs: the gateway ports and the
// chassis.
func newGateVerifier(rules Rules, in VerifyInput) *verifier {
	v := &verifier{
		rules: rules, in: in,
		northdBehind: realizedCfg(in) < in.NB.NBCfg || (in.Barrier > 0 && realizedCfg(in) < in.Barrier),
		ports:        make(map[string]*SBPortBinding, len(in.SB.PortBindings)),
		chassis:      make(map[string]*SBChassis, len(in.SB.Chassis)),
	}
	for i := range in.SB.PortBindings {
		v.ports[in.SB.PortBindings[i].LogicalPort] = &in.SB.PortBindings[i]
	}
	for i := range in.SB.Chassis {
		v.chassis[in.SB.Chassis[i].Name] = &in.SB.Chassis[i]
	}
	return v
}

func newVerifier(res Result, in VerifyInput) *verifier {
	idx := IndexNB(in.NB)
	v := &verifier{
		rules: res.Rules, in: in, idx: idx, x: differ{idx: idx},
		northdBehind: realizedCfg(in) < in.NB.NBCfg || (in.Barrier > 0 && realizedCfg(in) < in.Barrier),
		sbLBs:        make(map[string][]*SBLoadBalancer, len(in.SB.LoadBalancers)),
		ports:        make(map[string]*SBPortBinding, len(in.SB.PortBindings)),
		chassis:      make(map[string]*SBChassis, len(in.SB.Chassis)),
		responder:    make(map[netip.Addr]bool),
	}
	for i := range in.SB.LoadBalancers {
		lb := &in.SB.LoadBalancers[i]
		v.sbLBs[lb.Name] = append(v.sbLBs[lb.Name], lb)
	}
	v.nat = make(map[natAddress]bool)
	for i := range in.SB.PortBindings {
		pb := &in.SB.PortBindings[i]
		v.ports[pb.LogicalPort] = pb
		for _, e := range pb.NatAddresses {
			guard, addrs := parseNatEntry(e)
			for _, a := range addrs {
				v.nat[natAddress{port: pb.LogicalPort, guard: guard, addr: a}] = true
			}
		}
	}
	for i := range in.SB.Chassis {
		c := &in.SB.Chassis[i]
		v.chassis[c.Name] = c
	}
	for _, as := range in.SB.AddressSets {
		if !strings.HasPrefix(as.Name, "_rtr_lb_") ||
			!(strings.HasSuffix(as.Name, "_ip4") || strings.HasSuffix(as.Name, "_ip6")) {
			continue
		}
		for _, a := range as.Addresses {
			if addr, ok := parseAddrMaybeCIDR(a); ok {
				v.responder[addr] = true
			}
		}
	}
	return v
}

// realizedCfg is the NB config the SB snapshot is known to contain:
// SB_Global.nb_cfg when the snapshot has it (northd writes it with the SB
// changes), else NB_Global.sb_cfg.
func realizedCfg(in VerifyInput) int {
	if in.SB.NBCfg > 0 {
		return in.SB.NBCfg
	}
	return in.NB.SBCfg
}

// issue is one shortfall found while verifying a forward.
type issue struct {
	// step is the link of the chain it breaks (explain shows it there).
	step    Step
	finding Finding
	reason  string
	// catchingUp: the chain is right but a chassis has not processed it
	// yet; the forward is pending, not degraded.
	catchingUp bool
}

// rowVerdict is the part of one forward's verification a gateway claim
// change cannot alter.
type rowVerdict struct {
	key    ForwardKey
	prefix string
	// final: decided before the gateway (NB broken, or the chain stops at
	// NB), with findings.
	final *ForwardStatus
	// findings are the NB findings (all of them when final is set).
	findings   []Finding
	nbDegraded []Finding
	// issues of the SB rows, NAT addresses and responder sets.
	issues []issue
}

// rows verifies one planned forward up to the gateway.
func (v *verifier) rows(d *DesiredForward) *rowVerdict {
	key := d.Key
	r := &rowVerdict{key: key, prefix: d.Prefix}
	decide := func(st ForwardStatus, fs []Finding) *rowVerdict {
		r.final, r.findings = &st, fs
		return r
	}

	// NB: the rows, judged as Plan judges them.
	t, missing := v.target(d)
	if missing != "" {
		return decide(ForwardStatus{Key: key, State: StateBroken, Reason: missing + " is missing from NB"},
			[]Finding{{Key: key, Category: CatUnmappedNetwork, Severity: SeverityError,
				Detail: missing + " is missing from NB", Repair: "none: the network's OVN objects are gone"}})
	}
	fd := &forwardDiff{key: key}
	for _, proto := range protocols {
		rows := v.idx.LBsByName[LBName(d.Prefix, key.ListenAddress, proto)]
		if want := d.LB(proto); want != nil {
			v.x.diffLB(fd, want, rows, t)
		} else if len(rows) > 0 {
			v.x.deleteStale(fd, rows, "the forward has no "+proto+" VIPs")
		}
	}
	var nbBroken []Finding
	for _, f := range fd.findings {
		if nbDegrades(f.Category) {
			r.nbDegraded = append(r.nbDegraded, f)
		} else {
			nbBroken = append(nbBroken, f)
		}
	}
	r.findings = fd.findings
	if len(nbBroken) > 0 {
		return decide(ForwardStatus{Key: key, State: StateBroken, Reason: nbReason(nbBroken[0])}, fd.findings)
	}
	if v.in.NBOnly {
		if len(r.nbDegraded) > 0 {
			return decide(ForwardStatus{Key: key, State: StateDegraded, Reason: nbReason(r.nbDegraded[0])}, fd.findings)
		}
		return decide(ForwardStatus{Key: key, State: StateOK, Reason: "NB rows agree (southbound not checked)"}, fd.findings)
	}

	// SB: realized by northd and advertised.
	if len(d.LBs) > 0 {
		cr := GatewayPort(d.Prefix)
		r.issues = append(r.issues, v.sbLoadBalancers(d)...)
		r.issues = append(r.issues, v.natAddress(d, cr)...)
		r.issues = append(r.issues, v.arpResponder(d)...)
	}
	return r
}

// forward verifies one planned forward.
func (v *verifier) forward(d *DesiredForward) (ForwardStatus, []Finding) {
	return v.gate(v.rows(d))
}

// gate finishes a forward's verification: someone must hold the gateway
// and have processed the barrier.
func (v *verifier) gate(r *rowVerdict) (ForwardStatus, []Finding) {
	if r.final != nil {
		return *r.final, r.findings
	}
	key := r.key
	broken := func(f Finding, reason string) (ForwardStatus, []Finding) {
		return ForwardStatus{Key: key, State: StateBroken, Reason: reason}, []Finding{f}
	}

	gw, f, reason := v.gateway(key, r.prefix)
	if f != nil {
		return broken(*f, reason)
	}

	// Processed by the active chassis.
	issues := append(slices.Clip(r.issues), v.activeChassis(key, gw)...)
	nbDegraded := r.nbDegraded

	findings := slices.Clip(r.findings)
	catchingUp := len(issues) > 0
	for _, is := range issues {
		catchingUp = catchingUp && is.catchingUp
	}
	switch {
	case catchingUp && !v.northdBehind && len(nbDegraded) == 0:
		for _, is := range issues {
			findings = append(findings, is.finding)
		}
		return ForwardStatus{Key: key, State: StatePending, Reason: issues[0].reason}, findings
	case len(issues) > 0 && !v.northdBehind:
		for _, is := range issues {
			findings = append(findings, is.finding)
		}
		return ForwardStatus{Key: key, State: StateDegraded, Reason: issues[0].reason}, findings
	case len(nbDegraded) > 0:
		return ForwardStatus{Key: key, State: StateDegraded, Reason: nbReason(nbDegraded[0])}, findings
	case len(issues) > 0:
		return ForwardStatus{Key: key, State: StatePending,
			Reason: fmt.Sprintf("waiting for ovn-northd (sb_cfg %d, nb_cfg %d): %s", v.in.NB.SBCfg, max(v.in.NB.NBCfg, v.in.Barrier), issues[0].reason)}, findings
	}
	reason = "realized: NB rows, SB load balancer, NAT addresses and active chassis agree"
	if !v.rules.AttachSwitch {
		reason = "realized: NB rows, NAT addresses and active chassis agree (no SB load balancer for router-only rows)"
	}
	return ForwardStatus{Key: key, State: StateOK, Reason: reason}, findings
}

// gateway finds the chassisredirect port cr-<prefix>-lr-lrp-ext and its
// claim: someone must hold it. Otherwise it returns the finding and reason.
func (v *verifier) gateway(key ForwardKey, prefix string) (*SBPortBinding, *Finding, string) {
	cr := GatewayPort(prefix)
	gw := v.ports[cr]
	switch {
	case gw == nil || gw.Type != "chassisredirect":
		return nil, &Finding{Key: key, Category: CatNoActiveChassis, Severity: SeverityCritical,
			Detail: fmt.Sprintf("SB has no chassisredirect Port_Binding %s", cr),
			Repair: "none: check ovn-northd and the HA chassis group " + prefix}, "gateway port " + cr + " is not in SB"
	case gw.Chassis == "":
		return gw, &Finding{Key: key, Category: CatNoActiveChassis, Severity: SeverityCritical,
			Detail: fmt.Sprintf("gateway Port_Binding %s (%s) is claimed by no chassis", cr, gw.UUID),
			Repair: "none: check the gateway chassis of HA chassis group " + prefix + " (BFD, ovn-controller)"}, "no chassis is active for gateway " + cr
	}
	return gw, nil, ""
}

// target resolves the router and switch of d in the current NB, or names
// the one that is missing.
func (v *verifier) target(d *DesiredForward) (attachTarget, string) {
	var t attachTarget
	r := v.idx.RouterByName[d.RouterName]
	if r == nil {
		return t, "Logical_Router " + d.RouterName
	}
	t.routerUUID, t.routerName = r.UUID, r.Name
	if len(d.SwitchNames) > 0 {
		s := v.idx.SwitchByName[d.SwitchNames[0]]
		if s == nil {
			return t, "Logical_Switch " + d.SwitchNames[0]
		}
		t.switchUUID, t.switchName = s.UUID, s.Name
	}
	return t, ""
}

// sbLoadBalancers checks that northd copied every row to SB (switch-attached
// rows only, see Verify).
func (v *verifier) sbLoadBalancers(d *DesiredForward) []issue {
	if !v.rules.AttachSwitch {
		return nil
	}
	var out []issue
	for i := range d.LBs {
		want := &d.LBs[i]
		if slices.ContainsFunc(v.sbLBs[want.Name], func(lb *SBLoadBalancer) bool { return vipsEqual(lb.VIPs, want.VIPs) }) {
			continue
		}
		detail := fmt.Sprintf("SB has no Load_Balancer %s", want.Name)
		if n := len(v.sbLBs[want.Name]); n > 0 {
			detail = fmt.Sprintf("SB Load_Balancer %s (%d rows) lacks the NB VIPs %s", want.Name, n, formatVIPs(want.VIPs, 4))
		}
		out = append(out, issue{step: StepSBLoadBalancers,
			finding: Finding{Key: d.Key, Category: CatNotRealized, Severity: SeverityWarning, Detail: detail,
				Repair: "none: ovn-northd should copy the row; check ovn-northd"},
			reason: "SB lacks load balancer " + want.Name,
		})
	}
	return out
}

// natAddress checks that the uplink-side patch port advertises the IPv4
// listen address as resident on the gateway chassis (OVN 23.03 lists no IPv6
// VIPs there).
func (v *verifier) natAddress(d *DesiredForward, cr string) []issue {
	addr, ok := parseHostAddr(d.Key.ListenAddress)
	if !ok || !addr.Is4() {
		return nil
	}
	patch := d.Prefix + "-ls-ext-lsp-router"
	if v.nat[natAddress{port: patch, guard: cr, addr: d.Key.ListenAddress}] {
		return nil
	}
	pb := v.ports[patch]
	detail := fmt.Sprintf("SB Port_Binding %s is missing", patch)
	if pb != nil {
		detail = fmt.Sprintf("SB Port_Binding %s (%s) nat_addresses has no entry with %s and is_chassis_resident(%q)", patch, pb.UUID, d.Key.ListenAddress, cr)
	}
	return []issue{{step: StepNATAddresses,
		finding: Finding{Key: d.Key, Category: CatNoNatAddress, Severity: SeverityWarning, Detail: detail,
			Repair: "none: ovn-northd derives it from the router attachment and options:nat-addresses=router"},
		reason: "listen address is not in the gateway's NAT addresses (no GARPs)",
	}}
}

// parseNatEntry splits a nat_addresses entry
// `<mac> <ip>… is_chassis_resident("cr-…")` into the guarding port and the
// words before the guard (the MAC among them, which matches no address).
// An entry without a guard yields nothing.
func parseNatEntry(e string) (guard string, words []string) {
	const open = `is_chassis_resident("`
	head, rest, ok := strings.Cut(e, open)
	if !ok {
		return "", nil
	}
	guard, _, ok = strings.Cut(rest, `")`)
	if !ok {
		return "", nil
	}
	return guard, strings.Fields(head)
}

// arpResponder checks that a listen address with neighbor_responder=all is
// in a router ARP/ND responder address set.
func (v *verifier) arpResponder(d *DesiredForward) []issue {
	if !slices.ContainsFunc(d.LBs, func(lb DesiredLB) bool { return lb.Options[OptionNeighborResponder] == "all" }) {
		return nil
	}
	addr, ok := parseHostAddr(d.Key.ListenAddress)
	if !ok || v.responder[addr] {
		return nil
	}
	family := "ip4"
	if addr.Is6() {
		family = "ip6"
	}
	return []issue{{step: StepARPResponder,
		finding: Finding{Key: d.Key, Category: CatNotRealized, Severity: SeverityWarning,
			Detail: fmt.Sprintf("%s is in no SB Address_Set _rtr_lb_*_%s although neighbor_responder=all is desired", d.Key.ListenAddress, family),
			Repair: "none: ovn-northd adds it once the row has neighbor_responder=all"},
		reason: "listen address is not in the router's ARP/ND responder set",
	}}
}

// activeChassis checks that the chassis holding the gateway is known and has
// processed the barrier.
func (v *verifier) activeChassis(key ForwardKey, gw *SBPortBinding) []issue {
	c := v.chassis[gw.Chassis]
	if why, ok := v.in.Unannounced[gw.LogicalPort]; ok && c != nil && c.HasChassisRow {
		return []issue{{step: StepChassisRealized,
			finding: Finding{Key: key, Category: CatChassisBehind, Severity: SeverityWarning,
				Detail: fmt.Sprintf("active chassis %s (%s) of %s is not reachable from the uplink yet: %s", c.Name, c.Hostname, gw.LogicalPort, why),
				Repair: "none: wait for the announcement; run ovnfwd (--announce-gateway) on every member, so the member that takes a gateway announces it at once"},
			reason:     fmt.Sprintf("gateway %s not announced on the uplink yet (%s)", c.Name, why),
			catchingUp: true,
		}}
	}
	switch {
	case c == nil || !c.HasChassisRow:
		return []issue{{step: StepChassisRealized,
			finding: Finding{Key: key, Category: CatChassisBehind, Severity: SeverityWarning,
				Detail: fmt.Sprintf("active chassis %s of %s has no SB Chassis row", gw.Chassis, gw.LogicalPort),
				Repair: "none: check ovn-controller on " + gw.Chassis},
			reason: "active chassis " + gw.Chassis + " has no SB row",
		}}
	case v.in.Barrier > 0 && c.NBCfg < v.in.Barrier:
		return []issue{{step: StepChassisRealized,
			finding: Finding{Key: key, Category: CatChassisBehind, Severity: SeverityWarning,
				Detail: fmt.Sprintf("active chassis %s (%s) has processed nb_cfg %d, barrier is %d", c.Name, c.Hostname, c.NBCfg, v.in.Barrier),
				Repair: "none: wait, or check ovn-controller on " + c.Name},
			reason:     fmt.Sprintf("active chassis %s has not processed the change (nb_cfg %d < %d)", c.Name, c.NBCfg, v.in.Barrier),
			catchingUp: true,
		}}
	}
	return nil
}

// nbDegrades reports whether an NB finding leaves the forward working
// (degraded) rather than broken.
func nbDegrades(c Category) bool {
	return c == CatStale || c == CatExtraAttachment || c == CatOptionsMismatch
}

// nbReason is the short reason of an NB finding.
func nbReason(f Finding) string {
	switch f.Category {
	case CatMissing:
		return "NB load balancer row is missing"
	case CatVIPMismatch:
		return "NB VIPs differ from the forward"
	case CatProtocolMismatch:
		return "NB row has the wrong protocol"
	case CatDetached:
		return "NB row is not attached where it must be"
	case CatDuplicate:
		return "NB has duplicate rows of one name"
	case CatStale:
		return "NB has a stale row for this listen address"
	case CatExtraAttachment:
		return "NB row is attached where it must not be"
	case CatOptionsMismatch:
		return "NB row has the wrong neighbor_responder"
	}
	return "NB differs: " + string(f.Category)
}
