package sync

import (
	"slices"
	"strings"
)

// NBIndex indexes one NBState: rows by name and UUID, and the reverse
// references from a Load_Balancer row to the routers and switches holding it.
// It points into the NBState it was built from; treat both as read-only.
type NBIndex struct {
	// LBsByName holds every Load_Balancer row of a name, sorted by UUID
	// (more than one means duplicates).
	LBsByName map[string][]*NBLoadBalancer
	LBByUUID  map[string]*NBLoadBalancer

	// RouterByName, PortByName and SwitchByName hold the lowest-UUID row of a
	// name; RouterNames, PortNames and SwitchNames count the rows per name.
	RouterByName, RouterByUUID map[string]*NBRouter
	PortByName, PortByUUID     map[string]*NBRouterPort
	SwitchByName, SwitchByUUID map[string]*NBSwitch
	RouterNames, PortNames     map[string]int
	SwitchNames                map[string]int

	// LBRouters and LBSwitches map a Load_Balancer UUID to the UUIDs of the
	// routers / switches that reference it, sorted.
	LBRouters, LBSwitches map[string][]string
}

// IndexNB builds the index of nb in time linear in its size (rows sharing a
// name are sorted among themselves).
func IndexNB(nb NBState) *NBIndex {
	idx := &NBIndex{
		LBsByName:    make(map[string][]*NBLoadBalancer, len(nb.LoadBalancers)),
		LBByUUID:     make(map[string]*NBLoadBalancer, len(nb.LoadBalancers)),
		RouterByName: make(map[string]*NBRouter, len(nb.Routers)),
		RouterByUUID: make(map[string]*NBRouter, len(nb.Routers)),
		PortByName:   make(map[string]*NBRouterPort, len(nb.RouterPorts)),
		PortByUUID:   make(map[string]*NBRouterPort, len(nb.RouterPorts)),
		SwitchByName: make(map[string]*NBSwitch, len(nb.Switches)),
		SwitchByUUID: make(map[string]*NBSwitch, len(nb.Switches)),
		RouterNames:  make(map[string]int, len(nb.Routers)),
		PortNames:    make(map[string]int, len(nb.RouterPorts)),
		SwitchNames:  make(map[string]int, len(nb.Switches)),
		LBRouters:    make(map[string][]string, len(nb.LoadBalancers)),
		LBSwitches:   make(map[string][]string, len(nb.LoadBalancers)),
	}

	// Names are nearly always unique: give each name a one-element window of
	// one shared array instead of a slice of its own (appending to a window
	// of capacity 1 copies it out).
	lbPtrs := make([]*NBLoadBalancer, len(nb.LoadBalancers))
	var dupNames []string
	for i := range nb.LoadBalancers {
		lb := &nb.LoadBalancers[i]
		idx.LBByUUID[lb.UUID] = lb
		rows, seen := idx.LBsByName[lb.Name]
		if !seen {
			lbPtrs[i] = lb
			idx.LBsByName[lb.Name] = lbPtrs[i : i+1 : i+1]
			continue
		}
		if len(rows) == 1 {
			dupNames = append(dupNames, lb.Name)
		}
		idx.LBsByName[lb.Name] = append(rows, lb)
	}
	for _, name := range dupNames {
		slices.SortFunc(idx.LBsByName[name], func(a, b *NBLoadBalancer) int { return strings.Compare(a.UUID, b.UUID) })
	}

	// Routers and switches are few: sort them so the reverse references come
	// out sorted without sorting per Load_Balancer.
	routers := make([]*NBRouter, len(nb.Routers))
	for i := range nb.Routers {
		routers[i] = &nb.Routers[i]
	}
	slices.SortFunc(routers, func(a, b *NBRouter) int { return strings.Compare(a.UUID, b.UUID) })
	for _, r := range routers {
		idx.RouterByUUID[r.UUID] = r
		idx.RouterNames[r.Name]++
		if _, ok := idx.RouterByName[r.Name]; !ok {
			idx.RouterByName[r.Name] = r
		}
		addRefs(idx.LBRouters, r.LoadBalancers, r.UUID)
	}

	switches := make([]*NBSwitch, len(nb.Switches))
	for i := range nb.Switches {
		switches[i] = &nb.Switches[i]
	}
	slices.SortFunc(switches, func(a, b *NBSwitch) int { return strings.Compare(a.UUID, b.UUID) })
	for _, s := range switches {
		idx.SwitchByUUID[s.UUID] = s
		idx.SwitchNames[s.Name]++
		if _, ok := idx.SwitchByName[s.Name]; !ok {
			idx.SwitchByName[s.Name] = s
		}
		addRefs(idx.LBSwitches, s.LoadBalancers, s.UUID)
	}

	for i := range nb.RouterPorts {
		p := &nb.RouterPorts[i]
		idx.PortByUUID[p.UUID] = p
		idx.PortNames[p.Name]++
		if cur, ok := idx.PortByName[p.Name]; !ok || p.UUID < cur.UUID {
			idx.PortByName[p.Name] = p
		}
	}
	return idx
}

// addRefs records that holder references each Load_Balancer in lbs. A first
// reference gets a one-element window of a shared array (see LBsByName).
func addRefs(refs map[string][]string, lbs []string, holder string) {
	shared := make([]string, len(lbs))
	for i, lb := range lbs {
		if cur, ok := refs[lb]; ok {
			refs[lb] = append(cur, holder)
			continue
		}
		shared[i] = holder
		refs[lb] = shared[i : i+1 : i+1]
	}
}

// routerName returns the name of router uuid, or the UUID when unknown.
func (idx *NBIndex) routerName(uuid string) string {
	if r := idx.RouterByUUID[uuid]; r != nil {
		return r.Name
	}
	return uuid
}

// switchName returns the name of switch uuid, or the UUID when unknown.
func (idx *NBIndex) switchName(uuid string) string {
	if s := idx.SwitchByUUID[uuid]; s != nil {
		return s.Name
	}
	return uuid
}
