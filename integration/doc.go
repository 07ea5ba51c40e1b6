// Package integration holds the real-daemon test bed of ovnfwd and the tests
// that run against it: OVN 23.03 central, three chassis whose gateway failover
// is driven by real BFD, and LXD 5.0.2, all in private network namespaces.
//
// `make testbed-single-up` (integration/testbed.sh up) starts the
// single-member bed, `make testbed-up` the three-member LXD cluster bed
// (TB_MODE=cluster), `make testbed-raft-up` the single-member bed with NB
// and SB as 3-member Raft clusters reached over ssl (TB_CENTRAL=raft, the
// TestRaft* tests); each writes integration/.testbed/env; `make test` runs the tests built with the
// `integration` tag against it. Helpers: Open, Bed.NBCtl, Bed.SBCtl, Bed.Lxc,
// Bed.LXDSQL, Bed.Script, Eventually.
package integration
