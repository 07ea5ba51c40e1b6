package ovn

import (
	"cmp"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/ovn-kubernetes/libovsdb/ovsdb"
)

// ProviderPatchPort finds, in the local OVS, the provider bridge that
// ovn-bridge-mappings maps an uplink network (a localnet port's
// network_name) to, and on it the patch port ovn-controller made for the
// localnet logical port (Port external_ids:ovn-localnet-port), with its
// OpenFlow port number: where OVN's own frames to the uplink enter the
// bridge. It reads the OVS database at endpoint (unix:PATH or an absolute
// path; "" finds it as LocalOVSEndpoint does), and also returns rundir,
// the directory of the database socket, where ovs-vswitchd keeps the
// bridges' OpenFlow management sockets (<rundir>/<bridge>.mgmt).
func ProviderPatchPort(ctx context.Context, endpoint, network, localnet string) (bridge, port, ofport, rundir string, err error) {
	err = withLocalOVS(ctx, endpoint, func(ctx context.Context, db *localOVS) error {
		rundir = filepath.Dir(strings.TrimPrefix(db.endpoint, "unix:"))
		r, err := db.root(ctx)
		if err != nil {
			return err
		}
		raw, set := r.ExternalIDs["ovn-bridge-mappings"]
		var ok bool
		if bridge, ok = BridgeFor(raw, network); !ok {
			have := fmt.Sprintf("ovn-bridge-mappings=%q", raw)
			if !set {
				have = "external_ids:ovn-bridge-mappings is not set"
			}
			return fmt.Errorf("the local OVS has no ovn-bridge-mappings entry for uplink network %q (%s)", network, have)
		}
		var bridges []*ovsBridge
		if err := selectInto(ctx, db, ovsBridgeTable,
			[]ovsdb.Condition{ovsdb.NewCondition("name", ovsdb.ConditionEqual, bridge)},
			[]string{"name", "ports"}, &bridges); err != nil {
			return err
		}
		if len(bridges) == 0 {
			return fmt.Errorf("the local OVS has no bridge %s, which its ovn-bridge-mappings maps uplink network %q to", bridge, network)
		}
		onBridge := make(map[string]bool, len(bridges[0].Ports))
		for _, u := range bridges[0].Ports {
			onBridge[u] = true
		}
		var ports []*ovsPort
		if err := selectInto(ctx, db, ovsPortTable,
			[]ovsdb.Condition{{Column: "external_ids", Function: ovsdb.ConditionIncludes,
				Value: ovsdb.OvsMap{GoMap: map[any]any{"ovn-localnet-port": localnet}}}},
			[]string{"name", "external_ids", "interfaces"}, &ports); err != nil {
			return err
		}
		// The localnet port's patch pair has a port on br-int too, with the
		// same external_ids: only the one on the provider bridge counts.
		ports = slices.DeleteFunc(ports, func(p *ovsPort) bool { return !onBridge[p.UUID] })
		if len(ports) == 0 {
			return fmt.Errorf("bridge %s has no patch port of localnet port %s (ovn-controller makes it once the port's switch is on this chassis)", bridge, localnet)
		}
		slices.SortFunc(ports, func(a, b *ovsPort) int { return cmp.Compare(a.Name, b.Name) })
		p := ports[0]
		port = p.Name
		var ifaces []*ovsInterface
		for _, u := range p.Interfaces {
			if err := selectInto(ctx, db, ovsInterfaceTable, uuidCond(u), []string{"name", "ofport", "error"}, &ifaces); err != nil {
				return err
			}
		}
		iface, err := portInterface(p, bridge, ifaces)
		if err != nil {
			return err
		}
		switch {
		case iface.Ofport == nil:
			return fmt.Errorf("patch port %s on bridge %s has no OpenFlow port number yet (ofport [])", port, bridge)
		case *iface.Ofport < 1:
			why := ""
			if iface.Error != nil && *iface.Error != "" {
				why = ": " + *iface.Error
			}
			return fmt.Errorf("patch port %s on bridge %s has no OpenFlow port number (ofport %d: ovs-vswitchd could not add it%s)",
				port, bridge, *iface.Ofport, why)
		}
		ofport = strconv.Itoa(*iface.Ofport)
		return nil
	})
	return bridge, port, ofport, rundir, err
}

// portInterface picks the interface of port p (on bridge) whose OpenFlow
// port frames enter by: the one named like the port (as for a patch port,
// which has one), else its only one.
func portInterface(p *ovsPort, bridge string, ifaces []*ovsInterface) (*ovsInterface, error) {
	for _, i := range ifaces {
		if i.Name == p.Name {
			return i, nil
		}
	}
	if len(ifaces) == 1 {
		return ifaces[0], nil
	}
	return nil, fmt.Errorf("port %s on bridge %s has %d interfaces, none named %s: not a patch port", p.Name, bridge, len(ifaces), p.Name)
}

// BridgeFor looks network up in an ovn-bridge-mappings value
// ("physnet1:br-ex,physnet2:br-ex2").
func BridgeFor(mappings, network string) (string, bool) {
	for _, m := range strings.Split(mappings, ",") {
		net, br, ok := strings.Cut(strings.TrimSpace(m), ":")
		if ok && net == network && br != "" {
			return br, true
		}
	}
	return "", false
}

// run runs an OVS command-line tool (ovs-ofctl) and returns its trimmed
// output.
func run(ctx context.Context, tool string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, tool, args...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("%s %s: %w", tool, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}
