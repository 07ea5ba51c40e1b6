package ovn

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// LocalChassisID reads the local chassis name the way ovn-controller does.
func LocalChassisID(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "ovs-vsctl", "--timeout=5", "get", "open_vswitch", ".", "external_ids:system-id").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("ovs-vsctl get open_vswitch . external_ids:system-id: %w", err)
	}
	id := strings.Trim(strings.TrimSpace(string(out)), `"`)
	if id == "" {
		return "", fmt.Errorf("OVS has no external_ids:system-id")
	}
	return id, nil
}
