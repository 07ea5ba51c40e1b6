package ovn

import (
	"context"
	"fmt"
)

// LocalChassisID reads the local chassis name the way ovn-controller does:
// external_ids:system-id of the local OVS database at endpoint (unix:PATH
// or an absolute path; "" finds it as LocalOVSEndpoint does).
func LocalChassisID(ctx context.Context, endpoint string) (string, error) {
	var id string
	err := withLocalOVS(ctx, endpoint, func(ctx context.Context, db *localOVS) error {
		r, err := db.root(ctx)
		if err != nil {
			return err
		}
		id = r.ExternalIDs["system-id"]
		if id == "" {
			return fmt.Errorf("the local OVS (%s) has no external_ids:system-id, which names its OVN chassis "+
				"(set it as for ovn-controller, or give ovnfwd --chassis)", db.endpoint)
		}
		return nil
	})
	return id, err
}
