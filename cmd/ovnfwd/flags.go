package main

import (
	"github.com/urfave/cli/v2"
)

// Global flag names are a contract: scripts and the snap wrapper use them
// and their environment variables.
const (
	flagLXD           = "lxd"
	flagLXDCert       = "lxd-cert"
	flagLXDKey        = "lxd-key"
	flagLXDServerCert = "lxd-server-cert"
	flagNB            = "nb"
	flagSB            = "sb"
	flagOVNCA         = "ovn-ca"
	flagOVNCert       = "ovn-cert"
	flagOVNKey        = "ovn-key"
	flagLogLevel      = "log-level"
	flagLogFormat     = "log-format"
)

func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagLXD, EnvVars: []string{"OVNFWD_LXD"}, Category: "LXD",
			Usage: "LXD (or Incus) endpoint: unix socket path or https://host:8443 (default: $LXD_SOCKET, $LXD_DIR/unix.socket, $INCUS_SOCKET, $INCUS_DIR/unix.socket, then the first writable of the LXD snap's, the LXD package's and Incus's socket)"},
		&cli.StringFlag{Name: flagLXDCert, EnvVars: []string{"OVNFWD_LXD_CERT"}, Category: "LXD", Usage: "client certificate `FILE` for an https LXD endpoint"},
		&cli.StringFlag{Name: flagLXDKey, EnvVars: []string{"OVNFWD_LXD_KEY"}, Category: "LXD", Usage: "client key `FILE` for an https LXD endpoint"},
		&cli.StringFlag{Name: flagLXDServerCert, EnvVars: []string{"OVNFWD_LXD_SERVER_CERT"}, Category: "LXD", Usage: "LXD server certificate `FILE` to trust (default: system CAs)"},
		&cli.StringFlag{Name: flagNB, EnvVars: []string{"OVNFWD_NB"}, Category: "OVN",
			Usage: "OVN northbound DB: comma-separated unix:PATH, tcp:IP:PORT, ssl:IP:PORT (default: LXD's network.ovn.northbound_connection)"},
		&cli.StringFlag{Name: flagSB, EnvVars: []string{"OVNFWD_SB"}, Category: "OVN",
			Usage: "OVN southbound DB, same forms as --nb (default: the NB endpoints with port 6642 for 6641, or ovnsb_db.sock for ovnnb_db.sock)"},
		&cli.StringFlag{Name: flagOVNCA, EnvVars: []string{"OVNFWD_OVN_CA"}, Category: "OVN", Usage: "CA certificate `FILE` for ssl: OVN endpoints"},
		&cli.StringFlag{Name: flagOVNCert, EnvVars: []string{"OVNFWD_OVN_CERT"}, Category: "OVN", Usage: "client certificate `FILE` for ssl: OVN endpoints"},
		&cli.StringFlag{Name: flagOVNKey, EnvVars: []string{"OVNFWD_OVN_KEY"}, Category: "OVN", Usage: "client key `FILE` for ssl: OVN endpoints"},
		&cli.StringFlag{Name: flagLogLevel, EnvVars: []string{"OVNFWD_LOG_LEVEL"}, Value: "info", Category: "Logging", Usage: "debug, info, warn or error"},
		&cli.StringFlag{Name: flagLogFormat, EnvVars: []string{"OVNFWD_LOG_FORMAT"}, Value: "console", Category: "Logging", Usage: "console or json"},
	}
}
