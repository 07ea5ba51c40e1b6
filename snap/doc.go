// Package snap is the snap packaging of ovnfwd: snapcraft.yaml, the
// configure hook (hooks/configure) and the service wrapper
// (local/ovnfwd-daemon, installed as bin/ovnfwd-daemon).
//
// The package has no code of its own. Its tests parse snapcraft.yaml and run
// the shell scripts against a fake snapctl, so that `go test ./snap/` catches
// a command the snap does not ship, a plug that no longer matches MicroOVN's
// content slots, or a hook that accepts bad settings, without snapcraft.
package snap
