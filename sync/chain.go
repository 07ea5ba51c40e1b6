package sync

import (
	"fmt"
	"slices"
)

// Step names one link of a forward's verification chain
// (ovn-failover-facts.md §1), as explain shows it.
type Step string

// The links the verifier judges, in order.
const (
	StepNBRows          Step = "nb"
	StepNorthd          Step = "northd"
	StepSBLoadBalancers Step = "sb-lb"
	StepNATAddresses    Step = "nat-addresses"
	StepARPResponder    Step = "arp-responder"
	StepGateway         Step = "active-chassis"
	StepChassisRealized Step = "chassis-nb-cfg"
)

// Outcome is a step's verdict.
type Outcome string

// Outcomes of a step.
const (
	OutcomeOK   Outcome = "ok"
	OutcomeFail Outcome = "fail"
	OutcomeWarn Outcome = "warn"
	OutcomeSkip Outcome = "skip" // not applicable, or not judged
)

// StepVerdict is the verifier's judgment of one link for one forward.
type StepVerdict struct {
	Step    Step
	Outcome Outcome
	// Reason says why a step was skipped or failed.
	Reason string
	// Findings are the findings of that link (check reports the same).
	Findings []Finding
}

// Chain runs the verifier on one forward and returns its state (exactly as
// Verify judges it) and the verdict of every link of the chain, in order.
// The links are judged by the same functions Verify uses, each on its own,
// so a link after a broken one is still shown: explain reads this, and can
// never disagree with check, status or the daemon.
func Chain(res Result, in VerifyInput, key ForwardKey) (ForwardStatus, []StepVerdict) {
	order := []Step{StepNBRows, StepNorthd, StepSBLoadBalancers, StepNATAddresses, StepARPResponder, StepGateway, StepChassisRealized}
	out := make([]StepVerdict, len(order))
	for i, s := range order {
		out[i] = StepVerdict{Step: s, Outcome: OutcomeSkip}
	}
	set := func(s Step, o Outcome, reason string, fs ...Finding) {
		i := slices.Index(order, s)
		out[i] = StepVerdict{Step: s, Outcome: o, Reason: reason, Findings: fs}
	}
	skipAll := func(reason string) {
		for _, s := range order {
			set(s, OutcomeSkip, reason)
		}
	}
	if reason, ok := res.Unplanned[key]; ok {
		skipAll("not planned: " + reason)
		return ForwardStatus{Key: key, State: StateBroken, Reason: reason}, out
	}
	d, ok := res.Desired[key]
	if !ok {
		// No forward: only rows the planner found for its address (stale
		// ones) are judged, as Plan judged them.
		skipAll("no such forward in LXD: nothing to realize")
		var nb []Finding
		for _, f := range res.Findings {
			if f.Key == key {
				nb = append(nb, f)
			}
		}
		switch {
		case len(nb) == 0:
			set(StepNBRows, OutcomeOK, "no rows for this address")
		case slices.ContainsFunc(nb, func(f Finding) bool { return !nbDegrades(f.Category) }):
			set(StepNBRows, OutcomeFail, nbReason(nb[0]), nb...)
		default:
			set(StepNBRows, OutcomeWarn, nbReason(nb[0]), nb...)
		}
		return ForwardStatus{Key: key, State: StateBroken, Reason: "not planned"}, out
	}
	v := newVerifier(res, in)
	r := v.rows(&d)
	st, _ := v.gate(r)

	// NB rows.
	switch {
	case r.final != nil && r.final.State == StateBroken:
		set(StepNBRows, OutcomeFail, r.final.Reason, r.findings...)
	case len(r.nbDegraded) > 0:
		set(StepNBRows, OutcomeWarn, nbReason(r.nbDegraded[0]), r.nbDegraded...)
	default:
		set(StepNBRows, OutcomeOK, "")
	}
	if in.NBOnly {
		for _, s := range order[1:] {
			set(s, OutcomeSkip, "southbound not checked")
		}
		return st, out
	}

	// northd. Behind is a warning: what it derives may already be there
	// (then the forward is ok); if not, those links fail and the forward
	// is pending.
	if v.northdBehind {
		set(StepNorthd, OutcomeWarn, fmt.Sprintf("ovn-northd has not processed NB config %d (SB holds %d)",
			max(in.NB.NBCfg, in.Barrier), realizedCfg(in)))
	} else {
		set(StepNorthd, OutcomeOK, "")
	}

	// What northd derives: each link judged by Verify's own check.
	judge := func(s Step, skip string, issues []issue) {
		switch {
		case skip != "":
			set(s, OutcomeSkip, skip)
		case len(issues) > 0:
			fs := make([]Finding, 0, len(issues))
			for _, is := range issues {
				fs = append(fs, is.finding)
			}
			set(s, OutcomeFail, issues[0].reason, fs...)
		default:
			set(s, OutcomeOK, "")
		}
	}
	noRows := ""
	if len(d.LBs) == 0 {
		noRows = "no rows needed"
	}
	sbSkip := noRows
	if sbSkip == "" && !v.rules.AttachSwitch {
		sbSkip = "rows are attached to the router only: OVN 23.03 makes SB Load_Balancer rows for switch datapaths only"
	}
	judge(StepSBLoadBalancers, sbSkip, v.sbLoadBalancers(&d))
	natSkip := noRows
	if a, ok := parseHostAddr(key.ListenAddress); natSkip == "" && (!ok || !a.Is4()) {
		natSkip = "IPv6 listen address: OVN 23.03 lists no IPv6 VIPs in nat_addresses (no unsolicited NA)"
	}
	judge(StepNATAddresses, natSkip, v.natAddress(&d, GatewayPort(d.Prefix)))
	arpSkip := noRows
	if arpSkip == "" && !slices.ContainsFunc(d.LBs, func(lb DesiredLB) bool { return lb.Options[OptionNeighborResponder] == "all" }) {
		arpSkip = "neighbor_responder=all is not desired for this forward (--arp-responder): the router answers no ARP/ND for it; upstream learns it only from GARPs after a claim"
	}
	judge(StepARPResponder, arpSkip, v.arpResponder(&d))

	// The gateway and the chassis holding it.
	gw, f, reason := v.gateway(key, d.Prefix)
	if f != nil {
		set(StepGateway, OutcomeFail, reason, *f)
		set(StepChassisRealized, OutcomeSkip, "no active chassis")
		return st, out
	}
	set(StepGateway, OutcomeOK, "claimed by "+gw.Chassis)
	judge(StepChassisRealized, "", v.activeChassis(key, gw))
	return st, out
}
