//go:build bench

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/ovnfwd/ovnfwd/lxdwatch"
	"github.com/ovnfwd/ovnfwd/ovn"
)

// cmdLXDList is the LXD floor of `ovnfwd check`: connect and list every
// forward (and network, load balancer) exactly as check does, nothing else.
func cmdLXDList(args []string) error {
	fs := flag.NewFlagSet("lxd-list", flag.ExitOnError)
	_ = fs.Parse(args)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := lxdwatch.Connect(ctx, lxdwatch.Config{URL: mustEnv("OVNFWD_LXD")})
	if err != nil {
		return err
	}
	connected := time.Since(start)
	st, err := c.List(ctx)
	if err != nil {
		return err
	}
	return emit(map[string]any{"forwards": len(st.Forwards), "networks": len(st.Networks),
		"connect_s": connected.Seconds(), "total_s": time.Since(start).Seconds()})
}

// cmdNBRead is the NB floor of `ovnfwd check`: connect read-only (the
// monitor downloads the monitored tables) and take one snapshot.
func cmdNBRead(args []string) error {
	fs := flag.NewFlagSet("nb-read", flag.ExitOnError)
	_ = fs.Parse(args)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	eps, err := ovn.ParseEndpoints(mustEnv("OVNFWD_NB"))
	if err != nil {
		return err
	}
	nb, err := ovn.DialNB(ctx, ovn.Config{Endpoints: eps, ReadOnly: true})
	if err != nil {
		return err
	}
	defer nb.Close()
	connected := time.Since(start)
	st := nb.Snapshot()
	if len(st.Routers) == 0 {
		fmt.Fprintln(os.Stderr, "warning: NB has no routers")
	}
	return emit(map[string]any{"load_balancers": len(st.LoadBalancers), "connect_s": connected.Seconds(),
		"total_s": time.Since(start).Seconds()})
}
