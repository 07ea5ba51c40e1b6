// Package lxdwatch is ovnfwd's LXD adapter: it lists LXD (or Incus) OVN
// networks, network forwards and network load balancers, re-reads single
// objects, and follows the lifecycle event stream. Everything it returns is in
// the project's own types (package sync); nothing here decides what to do.
//
// The LXD Go client is used for the REST calls. Its event listener is not: it
// has no read deadline and no reconnect, so Watch dials the events websocket
// itself (the same way the client's RawWebsocket does, but cancellable) and
// adds a liveness deadline, reconnects and coalescing.
package lxdwatch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
	"go.uber.org/zap"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// Defaults for the optional Config fields.
const (
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 30 * time.Second
	DefaultIdleTimeout    = 30 * time.Second
	DefaultCoalesceWindow = 20 * time.Millisecond
	DefaultReconnectMin   = 500 * time.Millisecond
	DefaultReconnectMax   = 10 * time.Second
)

// Config says how to reach LXD.
type Config struct {
	// URL is a unix socket path, "unix:PATH", or "https://host:8443".
	// "" searches like the LXD and Incus clients (searchSocket): $LXD_SOCKET,
	// $LXD_DIR/unix.socket, $INCUS_SOCKET, $INCUS_DIR/unix.socket, then the
	// first writable of the LXD snap's, the LXD package's and Incus's socket.
	URL string
	// ClientCert, ClientKey and ServerCert are PEM file paths, used for https
	// only. ClientCert and ClientKey are required there; ServerCert is needed
	// unless the server certificate is signed by a system CA.
	ClientCert, ClientKey, ServerCert string
	// Logger receives warnings about partial listings and the event stream.
	// nil discards them.
	Logger *zap.Logger

	// Optional tuning; zero means the Default… value.

	// DialTimeout bounds Connect and each events websocket handshake.
	DialTimeout time.Duration
	// RequestTimeout bounds each REST request.
	RequestTimeout time.Duration
	// IdleTimeout: the event stream is dropped and redialled when nothing
	// (no event, no ping, no pong) arrived for this long. LXD pings every 10 s.
	IdleTimeout time.Duration
	// CoalesceWindow: identical events arriving within this window after the
	// first are delivered once, at the end of the window. Negative disables.
	CoalesceWindow time.Duration
	// ReconnectMin and ReconnectMax bound the exponential reconnect backoff.
	ReconnectMin, ReconnectMax time.Duration
}

func (cfg Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.DialTimeout, DefaultDialTimeout)
	def(&cfg.RequestTimeout, DefaultRequestTimeout)
	def(&cfg.IdleTimeout, DefaultIdleTimeout)
	def(&cfg.CoalesceWindow, DefaultCoalesceWindow)
	def(&cfg.ReconnectMin, DefaultReconnectMin)
	def(&cfg.ReconnectMax, DefaultReconnectMax)
	if cfg.ReconnectMax < cfg.ReconnectMin {
		cfg.ReconnectMax = cfg.ReconnectMin
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return cfg
}

// Client talks to one LXD daemon. Its methods are safe for concurrent use;
// run at most one Watch at a time.
type Client struct {
	cfg      Config
	log      *zap.Logger
	endpoint string // for messages: socket path or https URL

	// base is never mutated once stored: every call works on a copy made by
	// UseProject, whose context is then set (the client's WithContext mutates
	// its receiver, and requests use the context stored at connect time).
	base atomic.Pointer[lxd.ProtocolLXD]

	mu     sync.Mutex
	server *api.Server // last GET /1.0

	connected  atomic.Bool
	reconnects atomic.Uint64
	coalesced  atomic.Uint64
}

// Connect connects to LXD and reads its server information. It fails within
// about Config.DialTimeout when LXD cannot be reached.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	c := &Client{cfg: cfg, log: cfg.Logger}

	args := &lxd.ConnectionArgs{UserAgent: "ovnfwd", SkipGetServer: true}
	var (
		srv lxd.InstanceServer
		err error
	)
	if strings.HasPrefix(cfg.URL, "https://") {
		c.endpoint = strings.TrimSuffix(cfg.URL, "/")
		if err := loadTLS(cfg, args); err != nil {
			return nil, err
		}
		srv, err = lxd.ConnectLXDWithContext(context.Background(), c.endpoint, args)
	} else {
		path, perr := socketPath(cfg.URL)
		if perr != nil {
			return nil, perr
		}
		c.endpoint = path
		srv, err = lxd.ConnectLXDUnixWithContext(context.Background(), path, args)
	}
	if err != nil {
		return nil, c.connectError(err)
	}
	p, ok := srv.(*lxd.ProtocolLXD)
	if !ok {
		return nil, fmt.Errorf("lxd client returned %T, want *lxd.ProtocolLXD", srv)
	}
	c.base.Store(p)

	dctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	s, err := c.refreshServer(dctx)
	if err != nil {
		return nil, c.connectError(err)
	}
	if s.Auth != "trusted" {
		cert := cfg.ClientCert
		if cert == "" {
			cert = "<client certificate>"
		}
		return nil, fmt.Errorf("LXD at %s does not trust this client (auth %q): add the client certificate on the server with `lxc config trust add %s`",
			c.endpoint, s.Auth, cert)
	}
	return c, nil
}

// Endpoint is the socket path or URL the client talks to.
func (c *Client) Endpoint() string { return c.endpoint }

// socketPath resolves Config.URL for a unix socket, searching like the LXD
// client when it is empty (done here so errors can name the path).
func socketPath(u string) (string, error) {
	switch {
	case strings.HasPrefix(u, "unix:"):
		u = strings.TrimPrefix(u, "unix:")
		if strings.HasPrefix(u, "//") {
			u = strings.TrimPrefix(u, "//")
		}
	case strings.Contains(u, "://"):
		return "", fmt.Errorf("unsupported LXD URL %q: use a unix socket path, unix:PATH or https://host:8443", u)
	}
	if u != "" {
		return u, nil
	}
	return searchSocket(os.Getenv, func(p string) bool { return syscall.Access(p, 2 /* W_OK */) == nil }), nil
}

// Where LXD and Incus put their unix sockets.
const (
	lxdSnapSocket    = "/var/snap/lxd/common/lxd/unix.socket"
	lxdPackageSocket = "/var/lib/lxd/unix.socket"
	incusSocket      = "/var/lib/incus/unix.socket"
)

// searchSocket finds the local daemon's socket the way its own client
// does, LXD first: $LXD_SOCKET, $LXD_DIR/unix.socket, $INCUS_SOCKET,
// $INCUS_DIR/unix.socket, then the LXD snap's, the LXD package's and
// Incus's socket, the first one that is writable. With none writable it
// returns the LXD package's path (the error then names it). Incus is LXD's
// fork with the same API: ovnfwd serves both (status and version say which
// one answered).
func searchSocket(getenv func(string) string, writable func(string) bool) string {
	if p := getenv("LXD_SOCKET"); p != "" {
		return p
	}
	if d := getenv("LXD_DIR"); d != "" {
		return filepath.Join(d, "unix.socket")
	}
	if p := getenv("INCUS_SOCKET"); p != "" {
		return p
	}
	if d := getenv("INCUS_DIR"); d != "" {
		return filepath.Join(d, "unix.socket")
	}
	for _, p := range []string{lxdSnapSocket, lxdPackageSocket, incusSocket} {
		if writable(p) {
			return p
		}
	}
	return lxdPackageSocket
}

func loadTLS(cfg Config, args *lxd.ConnectionArgs) error {
	if cfg.ClientCert == "" || cfg.ClientKey == "" {
		return fmt.Errorf("connecting to LXD at %s needs a client certificate and key (set --lxd-cert and --lxd-key)", cfg.URL)
	}
	read := func(what, path string) (string, error) {
		if path == "" {
			return "", nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read LXD %s: %w", what, err)
		}
		return string(b), nil
	}
	var err error
	if args.TLSClientCert, err = read("client certificate", cfg.ClientCert); err != nil {
		return err
	}
	if args.TLSClientKey, err = read("client key", cfg.ClientKey); err != nil {
		return err
	}
	if args.TLSServerCert, err = read("server certificate", cfg.ServerCert); err != nil {
		return err
	}
	return nil
}

// connectError turns a failed first contact into a message naming the
// endpoint and the likely fix.
func (c *Client) connectError(err error) error {
	hint := "is LXD running? set --lxd"
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		hint = fmt.Sprintf("no answer within %s; is LXD running and reachable? set --lxd", c.cfg.DialTimeout)
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOENT):
		hint = "the socket does not exist; is LXD running? set --lxd"
	case errors.Is(err, syscall.EACCES) || errors.Is(err, os.ErrPermission):
		hint = "run as root or as a member of the lxd group, or set --lxd"
	case api.StatusErrorCheck(err, http.StatusForbidden):
		hint = "the client certificate (--lxd-cert) is not trusted: add it with `lxc config trust add`"
	case strings.Contains(err.Error(), "x509") || strings.Contains(err.Error(), "tls:"):
		hint = "TLS failed; check --lxd-server-cert (needed unless a system CA signed the server certificate), --lxd-cert and --lxd-key"
	}
	return fmt.Errorf("cannot reach LXD at %s: %w (%s)", c.endpoint, err, hint)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// api returns a client for one call: project "" means none. The returned
// cancel must be called when the call is done.
func (c *Client) api(ctx context.Context, project string) (*lxd.ProtocolLXD, context.CancelFunc) {
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	p := c.base.Load().UseProject(project).(*lxd.ProtocolLXD)
	p.WithContext(rctx)
	return p, cancel
}

// refreshServer re-reads GET /1.0 and publishes a new base client carrying
// it (the LXD client checks API extensions against its cached copy).
func (c *Client) refreshServer(ctx context.Context) (*api.Server, error) {
	p, cancel := c.api(ctx, "")
	defer cancel()
	s, _, err := p.GetServer()
	if err != nil {
		return nil, err
	}
	p.WithContext(context.Background())
	c.base.Store(p)
	c.mu.Lock()
	c.server = s
	c.mu.Unlock()
	return s, nil
}

func (c *Client) cachedServer() *api.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.server
}

func (c *Client) hasExtension(name string) bool {
	s := c.cachedServer()
	if s == nil {
		return false
	}
	for _, e := range s.APIExtensions {
		if e == name {
			return true
		}
	}
	return false
}

// Server re-reads the server information: kind ("lxd" or "incus") and version.
func (c *Client) Server(ctx context.Context) (fwdsync.ServerInfo, error) {
	s, err := c.refreshServer(ctx)
	if err != nil {
		return fwdsync.ServerInfo{}, fmt.Errorf("read LXD server info at %s: %w", c.endpoint, err)
	}
	return serverInfo(s), nil
}

func serverInfo(s *api.Server) fwdsync.ServerInfo {
	kind := strings.ToLower(s.Environment.Server)
	if kind == "" {
		kind = "lxd"
	}
	return fwdsync.ServerInfo{Kind: kind, Version: s.Environment.ServerVersion}
}

// Connected reports whether the event stream is currently connected.
func (c *Client) Connected() bool { return c.connected.Load() }

// Reconnects counts event stream connections after the first one.
func (c *Client) Reconnects() uint64 { return c.reconnects.Load() }

// Coalesced counts events dropped as duplicates of one already pending.
func (c *Client) Coalesced() uint64 { return c.coalesced.Load() }

// eventsURL is the events websocket URL for the client's base URL.
func eventsURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	case "http":
		u.Scheme = "ws"
	default:
		return "", fmt.Errorf("unexpected LXD URL scheme %q", u.Scheme)
	}
	u.Path = "/1.0/events"
	u.RawQuery = "type=lifecycle&all-projects=true"
	return u.String(), nil
}

// NorthboundConnection returns LXD's own network.ovn.northbound_connection
// ("" when unset): ovnfwd's default NB endpoint.
func (c *Client) NorthboundConnection(ctx context.Context) (string, error) {
	o, err := c.OVN(ctx)
	return o.Northbound, err
}

// OVNSettings is how LXD itself reaches OVN: its network.ovn.* server
// config (the certificates as PEM text).
type OVNSettings struct {
	Northbound             string
	CA, ClientCert, Client string
}

// OVN reads LXD's network.ovn.northbound_connection, network.ovn.ca_cert,
// network.ovn.client_cert and network.ovn.client_key.
func (c *Client) OVN(ctx context.Context) (OVNSettings, error) {
	s, err := c.refreshServer(ctx)
	if err != nil {
		return OVNSettings{}, fmt.Errorf("read LXD server config at %s: %w", c.endpoint, err)
	}
	get := func(k string) string { v, _ := s.Config[k].(string); return v }
	return OVNSettings{Northbound: get("network.ovn.northbound_connection"), CA: get("network.ovn.ca_cert"),
		ClientCert: get("network.ovn.client_cert"), Client: get("network.ovn.client_key")}, nil
}
