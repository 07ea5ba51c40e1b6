// Package ovn is ovnfwd's adapter to the OVN databases. It turns the OVSDB rows
// ovnfwd reads into fwdsync.NBState / fwdsync.SBState and applies a
// fwdsync.Change to the northbound database as one guarded transaction.
//
// Both clients keep a local replica (libovsdb's cache) filled by exactly one
// monitor on only the columns ovnfwd reads, reconnect forever with a capped
// exponential backoff, and report changes and reconnects through callbacks.
// Snapshots are read from the replica and never touch the network.
//
// A snapshot reads the tables one after another, so a transaction that lands
// in the middle can be half visible (say, a new row not yet attached). Every
// write is guarded on the server side (see Apply), so acting on such a
// snapshot fails with ErrConflict instead of doing harm, and the change
// callbacks fire again for the second half.
//
// The NB and SB models in nbdb/ and sbdb/ are generated from the OVN 23.03
// schemas in schema/; the clients register only the tables they monitor, so
// a newer server (more tables and columns) is accepted.
package ovn
