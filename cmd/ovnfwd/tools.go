//go:build tools

package main

// Pins modules used by go:generate (modelgen) and the pinned GoBGP version
// the route-state work builds on, so `go mod tidy` keeps them.
import (
	_ "github.com/osrg/gobgp/v3/pkg/server"
	_ "github.com/ovn-kubernetes/libovsdb/cmd/modelgen"
)
