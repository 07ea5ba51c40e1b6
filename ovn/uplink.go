package ovn

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// ProviderPatchPort finds, in the local OVS, the provider bridge that
// ovn-bridge-mappings maps an uplink network (a localnet port's
// network_name) to, and on it the patch port ovn-controller made for the
// localnet logical port (Port external_ids:ovn-localnet-port), with its
// OpenFlow port number: where OVN's own frames to the uplink enter the
// bridge.
func ProviderPatchPort(ctx context.Context, network, localnet string) (bridge, port, ofport string, err error) {
	raw, err := run(ctx, "ovs-vsctl", "--timeout=5", "get", "open_vswitch", ".", "external_ids:ovn-bridge-mappings")
	if err != nil {
		return "", "", "", err
	}
	bridge, ok := BridgeFor(strings.Trim(raw, `"`), network)
	if !ok {
		return "", "", "", fmt.Errorf("the local OVS has no ovn-bridge-mappings entry for uplink network %q (%s)", network, raw)
	}
	ports, err := run(ctx, "ovs-vsctl", "--timeout=5", "--bare", "--columns=name", "find", "Port", "external_ids:ovn-localnet-port="+localnet)
	if err != nil {
		return bridge, "", "", err
	}
	for _, p := range strings.Fields(ports) {
		br, err := run(ctx, "ovs-vsctl", "--timeout=5", "port-to-br", p)
		if err != nil || br != bridge {
			continue
		}
		of, err := run(ctx, "ovs-vsctl", "--timeout=5", "get", "Interface", p, "ofport")
		if err != nil {
			return bridge, p, "", err
		}
		if of == "" || of == "[]" || strings.HasPrefix(of, "-") {
			return bridge, p, "", fmt.Errorf("patch port %s on bridge %s has no OpenFlow port number yet (%q)", p, bridge, of)
		}
		return bridge, p, of, nil
	}
	return bridge, "", "", fmt.Errorf("bridge %s has no patch port of localnet port %s (ovn-controller makes it once the port's switch is on this chassis)", bridge, localnet)
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

// run runs an OVS command-line tool against the local OVS (OVS_RUNDIR and
// the like choose it, as for the tool itself) and returns its trimmed
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
