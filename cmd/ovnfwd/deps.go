package main

// Temporary: pins dependencies until the packages that use them land.
import (
	_ "github.com/canonical/lxd/client"
	_ "github.com/go-logr/zapr"
	_ "github.com/osrg/gobgp/v3/pkg/server"
	_ "github.com/ovn-kubernetes/libovsdb/client"
	_ "github.com/ovn-kubernetes/libovsdb/database/inmemory"
	_ "github.com/ovn-kubernetes/libovsdb/server"
	_ "github.com/ovn-kubernetes/libovsdb/modelgen"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/urfave/cli/v2"
	_ "go.uber.org/zap"
	_ "gopkg.in/yaml.v3"
)


