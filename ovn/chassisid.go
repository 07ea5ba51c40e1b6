package ovn

import (
	"context"
	"fmt"
	"strings"
)

// LocalChassisID reads the local chassis name the way ovn-controller does.
func LocalChassisID(ctx context.Context) (string, error) {
	out, err := run(ctx, "ovs-vsctl", "--timeout=5", "get", "open_vswitch", ".", "external_ids:system-id")
	if err != nil {
		return "", err
	}
	id := strings.Trim(out, `"`)
	if id == "" {
		return "", fmt.Errorf("OVS has no external_ids:system-id")
	}
	return id, nil
}
