package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ovnfwd/ovnfwd/engine"
	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// haFlags configure HA chassis group hygiene (check --deep, repair, run).
func haFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "member-chassis", EnvVars: []string{"OVNFWD_MEMBER_CHASSIS"},
			Usage: "`MEMBER=CHASSIS`: the OVN chassis of an LXD cluster member, when the chassis's hostname is not the member name (repeatable)"},
		&cli.BoolFlag{Name: "remove-unresponsive", EnvVars: []string{"OVNFWD_REMOVE_UNRESPONSIVE"}, Usage: "let repairs remove HA group entries of chassis that do not follow nb_cfg (never automatic otherwise)"},
		&cli.DurationFlag{Name: "ha-absent-grace", Value: 5 * time.Minute, EnvVars: []string{"OVNFWD_HA_ABSENT_GRACE"},
			Usage: "run: keep HA group entries of chassis missing from SB for this long (an ovn-controller restart deletes and re-creates them)"},
		&cli.BoolFlag{Name: "no-ha", EnvVars: []string{"OVNFWD_NO_HA"}, Usage: "do not check or repair HA chassis groups"},
	}
}

// haFromFlags builds the HA configuration; nil with --no-ha.
func haFromFlags(c *cli.Context) (*engine.HAConfig, error) {
	if c.Bool("no-ha") {
		return nil, nil
	}
	h := &engine.HAConfig{MemberChassis: map[string]string{}, Options: fwdsync.HAOptions{RemoveUnresponsive: c.Bool("remove-unresponsive")}}
	for _, kv := range c.StringSlice("member-chassis") {
		m, ch, ok := strings.Cut(kv, "=")
		if !ok || m == "" || ch == "" {
			return nil, fmt.Errorf("--member-chassis %q: want MEMBER=CHASSIS", kv)
		}
		h.MemberChassis[m] = ch
	}
	return h, nil
}
