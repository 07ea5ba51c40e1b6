package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/ovnfwd/ovnfwd/engine"
)

// writeRouteTable prints the route state of the members that answered
// /routes: one line per member and network, then one per BGP session.
func writeRouteTable(w io.Writer, members []engine.MemberStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHASSIS\tNETWORK\tGATEWAY HOLDER\tANNOUNCED\tROUTES\tREASON")
	for _, m := range members {
		if !m.BGP {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t0\tBGP off\n", orDash(m.Chassis))
			continue
		}
		if len(m.Networks) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t%d\tno network\n", m.Chassis, m.Routes)
		}
		for _, n := range m.Networks {
			fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%v\t%d\t%s\n", m.Chassis, n.Project, n.Network, orDash(n.Holder), n.Announced, n.Routes, n.Reason)
		}
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "CHASSIS\tPEER\tASN\tSESSION\tSINCE\tADVERTISED")
	for _, m := range members {
		for _, s := range m.Sessions {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\n", m.Chassis, s.Peer, s.ASN, s.State, s.Since.Format(time.RFC3339), s.Advertised)
		}
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
