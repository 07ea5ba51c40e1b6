// Package integration holds the real-daemon test bed of ovnfwd and the tests
// that run against it: OVN 23.03 central, three chassis whose gateway failover
// is driven by real BFD, and LXD 5.0.2, all in private network namespaces.
//
// `make testbed-single-up` (integration/testbed.sh up) starts the
// single-member bed, `make testbed-up` the three-member LXD cluster bed
// (TB_MODE=cluster); either writes integration/.testbed/env; `make test` runs the tests built with the
// `integration` tag against it. Helpers: Open, Bed.NBCtl, Bed.SBCtl, Bed.Lxc,
// Bed.LXDSQL, Bed.Script, Eventually.
package integration
