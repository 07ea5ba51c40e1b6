package ovn

// OVSDB lock client: elects the one ovnfwd daemon of a cluster that writes
// NB, the way ovn-northd elects its active instance (RFC 7047 §4.1.8-4.1.10).
//
// # Protocol
//
// A session sends {"method":"lock","params":[name]}; the reply
// {"locked":true} grants the lock at once, {"locked":false} queues the
// session, and the server later sends the notification "locked" when it is
// granted. "stolen" tells the owner that another session took the lock with
// "steal" (never used here); a session that asked with "lock" stays queued
// and gets "locked" again when the thief lets go. The server releases every
// lock of a session when the session ends ("unlock", or the connection
// closes). This client answers the server's echo requests and sends its own.
//
// # Clustered databases: connect to the leader only
//
// Locks are not part of the database and are not replicated: ovsdb-server
// keeps them in its per-process struct ovsdb_server (ovsdb/server.c,
// ovsdb_server_lock), looked up by name only, and ovsdb/jsonrpc-server.c
// (ovsdb_jsonrpc_session_lock) grants them from that table without asking
// Raft. Each member of a Raft cluster therefore has its own, independent
// lock table: two clients that lock "the same" lock through two different
// members both get it. ovsdb-idl (lib/ovsdb-cs.c) is leader-only by default
// (leader_only = true in ovsdb_cs_create) and, in
// ovsdb_cs_check_server_db__, drops any server whose _Server Database row
// for its database is clustered but not "connected" or not "leader",
// re-checking on every _Server update; that is how ovn-northd's lock ends
// up on the leader. ovsdb-server does not disconnect clients when
// leadership moves (it only updates _Server), so a client must watch that
// row itself. Relay servers (model "relay") have their own lock tables too
// and are refused, as ovsdb-cs refuses them for leader-only clients; a
// backup server of an active-backup pair is read-only and answers "lock"
// with an error ("lock and unlock methods not allowed, DB server is read
// only"), which makes this client try the next endpoint.
//
// So every session first monitors _Server's Database table (columns name,
// model, connected, leader) and requests the lock only if the row of
// LockConfig.Database is standalone, or clustered with connected and leader
// both true. Any later update that breaks this ends the session at once
// (which also releases the lock on that server), and the client moves on to
// the next endpoint until it finds the leader. Leadership is per database,
// so it is the leader of Database that matters, even though the lock itself
// is server-wide.
//
// # Lease: why a holder that is cut off gives up first
//
// Held reports true only while (a) the server granted the lock to the
// current session and (b) the newest request this session got an answer to
// was sent less than ProbeTimeout ago. Echo requests go out every
// ProbeInterval (< ProbeTimeout), so on a healthy session (b) holds
// continuously as long as a round trip takes less than ProbeTimeout -
// ProbeInterval. Held reads the clock when called, so it turns false on
// time even when no goroutine runs; the session is closed at the same
// deadline and Changes reports false.
//
// The server frees a lock held by a session it cannot hear only through its
// inactivity probe (lib/reconnect.c): a tcp or ssl session that sent nothing
// for probe_interval gets an echo request, and is dropped if still nothing
// arrives within another probe_interval, so no earlier than
// 2 x probe_interval after the last byte received from the client (a send
// backlog that drains also counts as activity, which only delays the drop).
// probe_interval defaults to RECONNECT_DEFAULT_PROBE_INTERVAL = 5000 ms
// (lib/reconnect.h; a Connection row's inactivity_probe overrides it; 0
// disables it); unix sockets are never probed (stream-unix.c sets
// needs_probes = false), a dead unix peer is noticed only when its socket
// closes. An answered request proves that the server received the session's
// bytes after that request was sent, so the server cannot drop the session,
// and hand the lock to another, before send time + 2 x 5 s. The holder stops
// claiming the lock at send time + ProbeTimeout = 2 s by default: an 8 s
// margin. It stays safe as long as ProbeTimeout < 2 x inactivity_probe (keep
// ProbeTimeout <= inactivity_probe for a margin, e.g. with
// inactivity_probe=1000 ms use ProbeTimeout <= 1 s).
//
// After the lease ran out, the session is closed and the lock is reported
// held again only after a new session is granted it.
//
// Not covered: a network that resets the connection on the server's side
// only (the server frees the lock at once while the holder hears nothing
// until its lease ends). And a holder frozen on a unix socket (SIGSTOP)
// keeps the lock on the server, which never probes it, until it resumes;
// Held is false when it resumes, since its lease ran out.
//
// # Takeover delay: grants from a fresh lock table
//
// The argument above relies on the server that grants the lock having seen
// the previous holder's session end. That is not so when the lock table is
// new: the server restarted (the old holder may not have heard the reset),
// or a new Raft leader took over while the old holder still talks to the
// old one. (A holder that hears its server's connection close lets go at
// once; this is about one that does not.) The new holder could then overlap
// with the old holder's remaining lease: its newest answered request left
// before the old server died, so at most ProbeTimeout (for holders
// configured alike). So a lock granted in the reply to a session's
// first "lock" request (the table had no owner) is reported held only
// TakeoverDelay (default ProbeTimeout) later. A grant by "locked"
// notification needs no delay: the same server saw the previous owner's
// session end, as argued above, and that owner waited out its own delay.
// A clean hand-over (the holder's Run ends, it unlocks) is therefore
// immediate.
//
// Nor does a grant to the previous holder itself, when its own session
// ended because the server closed it or stopped being the leader (a killed
// or restarted server, a leadership change) and no other client was seen
// holding the lock since: the holder the delay waits for is this client,
// which let go at that moment (within lastHolderWindow). So that the
// previous holder, not a standby, is the one a new leader grants the lock
// to, a client that was not the last holder sends its first "lock" of a
// session that follows such an end 2 x ProbeInterval late (standbyLockDelay),
// while the last holder retries the endpoints every ProbeInterval/2 at most:
// after a Raft leader is killed, writes resume once a new leader is elected
// and the holder has reconnected, not a takeover delay later.
//
// Residual window, not covered by the defaults: a Raft leader cut off from
// its peers but not from its lock holder keeps answering echoes until it
// steps down. ovsdb/raft.c checks the quorum once per election timeout
// (election timer + up to 1 s) and steps down when no majority answered
// during the last period, i.e. up to 2 x (ET + 1 s) after the cut, while a
// new leader may be elected from about 2/3 ET after it. The old holder
// drops the lock as soon as the _Server update reports leader=false. To
// exclude overlap in that case too, set TakeoverDelay >= 4/3 ET + 2 s
// (3.4 s with the default ET of 1 s); the price is a longer failover after
// a server crash. Writes are not fenced (the lock is owned by this session,
// the writes go through another connection, so they cannot carry an
// "assert" of the lock); callers should keep their writes guarded.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-logr/logr"
)

const (
	defaultLockDatabase       = "OVN_Northbound"
	defaultLockProbeInterval  = time.Second
	defaultLockProbeTimeout   = 2 * time.Second
	defaultLockConnectTimeout = 5 * time.Second
	defaultLockMaxBackoff     = 2 * time.Second
	lockMinBackoff            = 50 * time.Millisecond
	// lockReleaseTimeout bounds the "unlock" write when Run ends.
	lockReleaseTimeout = 200 * time.Millisecond
	// lockServerMonitor is the monitor id of the _Server monitor.
	lockServerMonitor = "ovnfwd_lock_server"
)

// ovsdbID is what ovsdb-server accepts as a lock name (ovsdb_parser_is_id).
var ovsdbID = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// errNotLeader means the server is a clustered member that is not, or no
// longer, the leader of the database (or not connected to its cluster).
var errNotLeader = errors.New("not the cluster leader")

// LockConfig configures a Lock.
type LockConfig struct {
	// Endpoints are OVSDB endpoints (see ParseEndpoints): all members of a
	// clustered database, or the one standalone server. They are tried in
	// turn; only the leader of a clustered Database is used. There is no
	// switch for followers: locks are per server process, so a lock taken
	// on a follower would exclude nobody.
	Endpoints []string
	// CA, Cert and Key are PEM files for ssl: endpoints (see LoadTLSConfig).
	CA, Cert, Key string
	// Database whose leader holds the lock table. Default "OVN_Northbound".
	Database string
	// Name is the lock's name, an OVSDB id ([A-Za-z_][A-Za-z0-9_]*), for
	// example "ovnfwd_writer". Locks are server-wide: the name must not be
	// used by other software on the same server.
	Name string
	// Logger; default discard.
	Logger logr.Logger
	// ProbeInterval is how often an echo request checks the session.
	// Default 1s.
	ProbeInterval time.Duration
	// ProbeTimeout is the lease: the lock counts as held only while the
	// newest answered request was sent less than ProbeTimeout ago. It must
	// exceed ProbeInterval and, for safety, stay below twice the server's
	// inactivity probe (5 s by default for tcp and ssl). Every request must
	// also be answered within ProbeTimeout, or the session is given up.
	// Default 2s, or 2 x ProbeInterval if that is longer.
	ProbeTimeout time.Duration
	// TakeoverDelay is how long a lock granted by a lock table that had no
	// owner (first "lock" of a session answered with locked:true) waits
	// before it counts as held, so that a holder that lost a previous
	// server or leader silently has given up first. Default ProbeTimeout;
	// negative: none.
	TakeoverDelay time.Duration
	// ConnectTimeout bounds the dial (and TLS handshake) of one endpoint.
	// Default 5s.
	ConnectTimeout time.Duration
	// MaxBackoff caps the pause after a round in which no endpoint could be
	// used. Default 2s.
	MaxBackoff time.Duration
}

// Lock is an OVSDB lock kept by one long-lived session (see the comment at
// the top of lock.go for the protocol, the leader rule and the lease). Create
// it with NewLock, run it with Run and ask Held before every write.
type Lock struct {
	cfg     LockConfig
	tls     *tls.Config
	log     logr.Logger
	changes chan bool
	running atomic.Bool

	mu   sync.Mutex
	st   lockState
	conn net.Conn // transport of the current session

	// published is the value last sent on changes (Run's goroutine only).
	published bool
	// lastEnd is how the last session ended (Run's goroutine only).
	lastEnd sessionEnd
}

// sessionEnd records the end of a session for the next one's takeover
// rules.
type sessionEnd struct {
	at time.Time
	// heard: the server closed the session or stopped being the leader:
	// it is gone or no longer grants this lock table's locks.
	heard bool
	// holder: the session held the lock when it ended, and no client was
	// seen holding it since.
	holder bool
}

// lastHolderWindow bounds how long after its session ended a client that
// held the lock may take it again from a fresh lock table without the
// takeover delay.
const lastHolderWindow = 30 * time.Second

// skipsTakeover reports whether a fresh-table grant at now needs no
// takeover delay: this client was the last holder and heard its session end.
func (e sessionEnd) skipsTakeover(now time.Time) bool {
	return e.holder && e.heard && now.Sub(e.at) < lastHolderWindow
}

// defersLock reports whether a new session's first "lock" request waits
// standbyLockDelay: the last session heard its server go, and this client
// was not the holder (the holder should get the new leader's lock first).
func (e sessionEnd) defersLock(now time.Time) bool {
	return e.heard && !e.holder && now.Sub(e.at) < lastHolderWindow
}

// lockState is the state of the current session, guarded by Lock.mu.
type lockState struct {
	session  uint64 // current session; 0: none
	endpoint string
	granted  bool      // the server granted the lock to this session
	heldFrom time.Time // granted: counts as held from then on
	lastAck  time.Time // send time of the newest answered request
}

func (s *lockState) heldAt(now time.Time, lease time.Duration) bool {
	return s.session != 0 && s.granted && !now.Before(s.heldFrom) &&
		!s.lastAck.IsZero() && now.Sub(s.lastAck) < lease
}

// NewLock validates cfg and fills in the defaults.
func NewLock(cfg LockConfig) (*Lock, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("ovsdb lock: no endpoints configured")
	}
	if !ovsdbID.MatchString(cfg.Name) {
		return nil, fmt.Errorf("ovsdb lock: invalid lock name %q: want [A-Za-z_][A-Za-z0-9_]*", cfg.Name)
	}
	eps := make([]string, 0, len(cfg.Endpoints))
	needTLS := false
	for _, raw := range cfg.Endpoints {
		ep, err := parseEndpoint(raw)
		if err != nil {
			return nil, fmt.Errorf("ovsdb lock: %w", err)
		}
		needTLS = needTLS || strings.HasPrefix(ep, "ssl:")
		eps = append(eps, ep)
	}
	cfg.Endpoints = eps
	if cfg.Database == "" {
		cfg.Database = defaultLockDatabase
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = defaultLockProbeInterval
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = max(defaultLockProbeTimeout, 2*cfg.ProbeInterval)
	}
	if cfg.ProbeTimeout <= cfg.ProbeInterval {
		return nil, fmt.Errorf("ovsdb lock: probe timeout %v must exceed probe interval %v", cfg.ProbeTimeout, cfg.ProbeInterval)
	}
	switch {
	case cfg.TakeoverDelay == 0:
		cfg.TakeoverDelay = cfg.ProbeTimeout
	case cfg.TakeoverDelay < 0:
		cfg.TakeoverDelay = 0
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = defaultLockConnectTimeout
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = defaultLockMaxBackoff
	}
	l := &Lock{cfg: cfg, changes: make(chan bool, 1)}
	if needTLS {
		t, err := LoadTLSConfig(cfg.CA, cfg.Cert, cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("ovsdb lock: %w", err)
		}
		l.tls = t
	}
	l.log = cfg.Logger
	if l.log.GetSink() == nil {
		l.log = logr.Discard()
	}
	l.log = l.log.WithValues("lock", cfg.Name, "database", cfg.Database)
	return l, nil
}

// Held reports whether this client holds the lock now: the current session
// was granted it (and any takeover delay has passed) and its newest answered
// request was sent less than ProbeTimeout ago. Check it right before every
// write; it is cheap.
func (l *Lock) Held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st.heldAt(time.Now(), l.cfg.ProbeTimeout)
}

// Changes delivers the new value of Held on every change (buffer 1, latest
// value wins). An expired lease is reported when Run notices it, which may be
// a little after Held turned false; Held is authoritative.
func (l *Lock) Changes() <-chan bool { return l.changes }

// Endpoint returns the endpoint of the current session ("" if none): the
// server, the leader for a clustered database, whose lock table is used.
func (l *Lock) Endpoint() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st.endpoint
}

// Run keeps a session open until ctx ends: it tries the endpoints in turn
// (pausing with a capped exponential backoff after a round in which none was
// usable), accepts only a standalone server or the cluster leader of
// Database, requests the lock on every new session and tracks ownership.
// When ctx ends it stops claiming the lock, sends "unlock" and closes the
// connection, so that a waiting client gets the lock at once, and returns
// nil. Run must not be called concurrently.
func (l *Lock) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("ovsdb lock: Run is already running")
	}
	defer l.running.Store(false)

	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = lockMinBackoff
	bo.MaxInterval = l.cfg.MaxBackoff
	bo.MaxElapsedTime = 0
	bo.Reset()

	n := len(l.cfg.Endpoints)
	var session uint64
	failed, outage := 0, false
	for next := 0; ctx.Err() == nil; next = (next + 1) % n {
		ep := l.cfg.Endpoints[next]
		session++
		began := time.Now()
		established, err := l.runSession(ctx, session, ep)
		if ctx.Err() != nil {
			break
		}
		if established && time.Since(began) >= l.cfg.ProbeTimeout {
			// A session that worked for a while: try the others at once.
			l.log.Info("lock session ended", "endpoint", ep, "reason", err.Error())
			failed, outage = 0, false
			bo.Reset()
			continue
		}
		l.log.V(1).Info("lock server not usable", "endpoint", ep, "reason", err.Error())
		if failed++; failed%n != 0 {
			continue
		}
		wait := bo.NextBackOff()
		if l.lastEnd.skipsTakeover(time.Now()) {
			// The last holder retries quickly, to reach the new server
			// before the standbys' deferred requests (standbyLockDelay).
			wait = min(wait, l.cfg.ProbeInterval/2)
		}
		if !outage {
			outage = true
			l.log.Info("no usable OVSDB server for the lock, retrying", "lastEndpoint", ep, "lastError", err.Error(), "retryIn", wait.String())
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	return nil
}

// publish sends Held's value on changes if it changed (Run's goroutine).
func (l *Lock) publish(reason string) {
	held := l.Held()
	if held == l.published {
		return
	}
	l.published = held
	if held {
		l.log.Info("acquired OVSDB lock", "endpoint", l.Endpoint())
	} else {
		l.log.Info("lost OVSDB lock", "reason", reason)
	}
	select {
	case <-l.changes:
	default:
	}
	select {
	case l.changes <- held:
	default:
	}
}

// cutTransport closes the current session's connection without unlocking,
// as when the process or its host dies: the session stops counting as
// holder first. For tests.
func (l *Lock) cutTransport() {
	l.mu.Lock()
	c := l.conn
	l.st = lockState{}
	l.conn = nil
	l.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// update applies f to the state if session s is still the current one.
func (l *Lock) update(s uint64, f func(st *lockState)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st.session == s {
		f(&l.st)
	}
}

func (l *Lock) state() lockState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

func (l *Lock) dial(ctx context.Context, ep string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.ConnectTimeout)
	defer cancel()
	scheme, addr, _ := strings.Cut(ep, ":")
	var d net.Dialer
	switch scheme {
	case "unix":
		return d.DialContext(ctx, "unix", addr)
	case "tcp":
		return d.DialContext(ctx, "tcp", addr)
	case "ssl":
		td := tls.Dialer{NetDialer: &d, Config: l.tls}
		return td.DialContext(ctx, "tcp", addr)
	}
	return nil, fmt.Errorf("unsupported endpoint %q", ep)
}

// rpcMsg is any JSON-RPC 1.0 message: a request or notification (Method
// set) or a response.
type rpcMsg struct {
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  json.RawMessage `json:"error,omitempty"`
	ID     json.RawMessage `json:"id,omitempty"`
}

type rpcRequest struct {
	Method string `json:"method"`
	Params []any  `json:"params"`
	ID     uint64 `json:"id"`
}

type rpcResponse struct {
	Result json.RawMessage `json:"result"`
	Error  any             `json:"error"`
	ID     json.RawMessage `json:"id"`
}

func isNull(r json.RawMessage) bool { return len(r) == 0 || string(r) == "null" }

// lockSession is one connection to one server.
type lockSession struct {
	l    *Lock
	id   uint64
	ep   string
	conn net.Conn

	msgs       chan rpcMsg
	readErr    chan error
	done       chan struct{}
	readerDone chan struct{}

	nextID  uint64
	pending map[uint64]pendingRequest
	rows    map[string]map[string]json.RawMessage // _Server Database rows
	// lockSent: the "lock" request went out; answered: the server accepted it.
	lockSent, answered bool
	// lockAt: when the deferred first "lock" request goes out (zero: not
	// deferred, or sent).
	lockAt time.Time
	// heardEnd: the server closed the connection; othersHeld: the server
	// said another client holds the lock.
	heardEnd, othersHeld bool
}

type pendingRequest struct {
	method string
	sent   time.Time
}

// runSession connects to ep and runs one session until it fails or ctx
// ends. established reports whether the server accepted the lock request.
func (l *Lock) runSession(ctx context.Context, id uint64, ep string) (established bool, err error) {
	conn, err := l.dial(ctx, ep)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	s := &lockSession{
		l: l, id: id, ep: ep, conn: conn,
		msgs:       make(chan rpcMsg),
		readErr:    make(chan error, 1),
		done:       make(chan struct{}),
		readerDone: make(chan struct{}),
		pending:    map[uint64]pendingRequest{},
		rows:       map[string]map[string]json.RawMessage{},
	}
	l.mu.Lock()
	l.st = lockState{session: id, endpoint: ep}
	l.conn = conn
	l.mu.Unlock()
	go s.read()
	err = s.loop(ctx)
	st := l.state()
	end := sessionEnd{at: time.Now(), heard: s.heardEnd || errors.Is(err, errNotLeader),
		holder: st.session == id && st.granted && !s.othersHeld}
	if !end.holder && !s.othersHeld && !s.answered && l.lastEnd.holder {
		// A session that never got an answer to "lock" (a follower, a
		// server still electing) leaves the previous holder's end as it
		// was.
		end = l.lastEnd
	}
	l.lastEnd = end
	s.close(err)
	return s.answered, err
}

// read decodes messages until the connection fails.
func (s *lockSession) read() {
	defer close(s.readerDone)
	dec := json.NewDecoder(s.conn)
	for {
		var m rpcMsg
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("connection closed by the server")
			}
			s.readErr <- err
			return
		}
		select {
		case s.msgs <- m:
		case <-s.done:
			return
		}
	}
}

// close ends the session: it stops counting as holder, then closes the
// connection and waits for the reader.
func (s *lockSession) close(why error) {
	s.l.mu.Lock()
	if s.l.st.session == s.id {
		s.l.st = lockState{}
		s.l.conn = nil
	}
	s.l.mu.Unlock()
	s.l.publish(fmt.Sprintf("session to %s ended: %v", s.ep, why))
	_ = s.conn.Close()
	close(s.done)
	<-s.readerDone
}

// release runs when ctx ended: stop claiming the lock first, then unlock.
func (s *lockSession) release() {
	s.l.update(s.id, func(st *lockState) { st.granted = false })
	s.l.publish("shutting down")
	if s.lockSent {
		_ = s.conn.SetWriteDeadline(time.Now().Add(lockReleaseTimeout))
		s.nextID++
		_ = s.write(rpcRequest{Method: "unlock", Params: []any{s.l.cfg.Name}, ID: s.nextID})
	}
}

func (s *lockSession) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := s.conn.Write(b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// sendLock sends the session's "lock" request.
func (s *lockSession) sendLock() error {
	s.lockSent = true
	return s.request("lock", s.l.cfg.Name)
}

// standbyLockDelay is how late a client that was not the last holder asks
// a new server for the lock after its last server went (sessionEnd.defersLock):
// four times the pause between the last holder's own attempts then.
func standbyLockDelay(cfg LockConfig) time.Duration { return 2 * cfg.ProbeInterval }

func (s *lockSession) request(method string, params ...any) error {
	s.nextID++
	now := time.Now()
	_ = s.conn.SetWriteDeadline(now.Add(s.l.cfg.ProbeTimeout))
	if params == nil {
		params = []any{}
	}
	if err := s.write(rpcRequest{Method: method, Params: params, ID: s.nextID}); err != nil {
		return fmt.Errorf("send %s: %w", method, err)
	}
	s.pending[s.nextID] = pendingRequest{method: method, sent: now}
	return nil
}

func (s *lockSession) echoPending() bool {
	for _, p := range s.pending {
		if p.method == "echo" {
			return true
		}
	}
	return false
}

func (s *lockSession) loop(ctx context.Context) error {
	cfg := &s.l.cfg
	start := time.Now()
	err := s.request("monitor", "_Server", lockServerMonitor, map[string]any{
		"Database": map[string]any{"columns": []string{"name", "model", "connected", "leader"}},
	})
	if err != nil {
		return err
	}
	echo := time.NewTicker(cfg.ProbeInterval)
	defer echo.Stop()
	timer := time.NewTimer(cfg.ProbeTimeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			s.release()
			return ctx.Err()
		case err := <-s.readErr:
			s.heardEnd = true
			return err
		case m := <-s.msgs:
			if err := s.handle(m); err != nil {
				return err
			}
		case <-echo.C:
			if !s.echoPending() {
				if err := s.request("echo"); err != nil {
					return err
				}
			}
		case <-timer.C:
		}
		// The lease: the newest answered request (before the first answer:
		// the first request) must be younger than ProbeTimeout. And every
		// request must be answered within ProbeTimeout, so that a server
		// that answers echoes but nothing else is left as well.
		now := time.Now()
		st := s.l.state()
		if st.session != s.id {
			return errors.New("transport closed")
		}
		base := start
		if st.lastAck.After(base) {
			base = st.lastAck
		}
		deadline := base.Add(cfg.ProbeTimeout)
		if !now.Before(deadline) {
			return fmt.Errorf("no answer from the server within %v", cfg.ProbeTimeout)
		}
		for _, p := range s.pending {
			due := p.sent.Add(cfg.ProbeTimeout)
			if !now.Before(due) {
				return fmt.Errorf("no answer to %s within %v", p.method, cfg.ProbeTimeout)
			}
			deadline = minTime(deadline, due)
		}
		s.l.publish("no recent answer from the server")
		if !s.lockAt.IsZero() && !now.Before(s.lockAt) {
			s.lockAt = time.Time{}
			if err := s.sendLock(); err != nil {
				return err
			}
		}
		next := deadline
		if !s.lockAt.IsZero() && s.lockAt.Before(next) {
			next = s.lockAt
		}
		if st.granted && now.Before(st.heldFrom) && st.heldFrom.Before(next) {
			next = st.heldFrom
		}
		timer.Reset(next.Sub(now))
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (s *lockSession) handle(m rpcMsg) error {
	if m.Method != "" {
		return s.handleRequest(m)
	}
	var id uint64
	if err := json.Unmarshal(m.ID, &id); err != nil {
		return nil // not an answer to us
	}
	p, ok := s.pending[id]
	if !ok {
		return nil
	}
	delete(s.pending, id)
	if !isNull(m.Error) {
		return fmt.Errorf("%s: server error %s", p.method, m.Error)
	}
	// An answer proves the server heard from us after p.sent.
	s.l.update(s.id, func(st *lockState) {
		if p.sent.After(st.lastAck) {
			st.lastAck = p.sent
		}
	})
	switch p.method {
	case "monitor":
		var initial map[string]map[string]rowUpdate
		if err := json.Unmarshal(m.Result, &initial); err != nil {
			return fmt.Errorf("_Server monitor reply: %w", err)
		}
		s.applyRows(initial["Database"])
		if err := s.checkServer(); err != nil {
			return err
		}
		if s.l.lastEnd.defersLock(time.Now()) {
			// Let the previous holder take the new leader's lock first.
			s.lockAt = time.Now().Add(standbyLockDelay(s.l.cfg))
			return nil
		}
		return s.sendLock()
	case "lock":
		var r struct {
			Locked bool `json:"locked"`
		}
		if err := json.Unmarshal(m.Result, &r); err != nil {
			return fmt.Errorf("lock reply: %w", err)
		}
		s.answered = true
		if !r.Locked {
			s.othersHeld = true
			s.l.log.V(1).Info("lock owned by another client, waiting", "endpoint", s.ep)
			return nil
		}
		// Granted by a lock table without owner: wait out the takeover
		// delay (see the comment at the top), unless this client was the
		// last holder and heard its session end.
		now := time.Now()
		delay := s.l.cfg.TakeoverDelay
		if s.l.lastEnd.skipsTakeover(now) {
			delay = 0
			s.l.log.Info("lock granted again to its last holder, which let go when its server went: no takeover delay",
				"endpoint", s.ep, "since", now.Sub(s.l.lastEnd.at).Round(time.Millisecond).String())
		}
		s.l.update(s.id, func(st *lockState) { st.granted, st.heldFrom = true, now.Add(delay) })
		if delay > 0 {
			s.l.log.V(1).Info("lock granted, waiting out the takeover delay", "endpoint", s.ep, "delay", delay.String())
		}
	}
	return nil
}

func (s *lockSession) handleRequest(m rpcMsg) error {
	switch m.Method {
	case "echo":
		if isNull(m.ID) {
			return nil
		}
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.l.cfg.ProbeTimeout))
		params := m.Params
		if isNull(params) {
			params = json.RawMessage("[]")
		}
		return s.write(rpcResponse{Result: params, Error: nil, ID: m.ID})
	case "update":
		var params []json.RawMessage
		if err := json.Unmarshal(m.Params, &params); err != nil || len(params) != 2 {
			return nil
		}
		var mon string
		if json.Unmarshal(params[0], &mon) != nil || mon != lockServerMonitor {
			return nil
		}
		var tu map[string]map[string]rowUpdate
		if err := json.Unmarshal(params[1], &tu); err != nil {
			return fmt.Errorf("_Server update: %w", err)
		}
		s.applyRows(tu["Database"])
		return s.checkServer()
	case "locked", "stolen":
		var params []string
		if err := json.Unmarshal(m.Params, &params); err != nil || len(params) != 1 ||
			params[0] != s.l.cfg.Name || !s.lockSent {
			return nil
		}
		if m.Method == "locked" {
			// Handed over by this server, which saw the previous owner's
			// session end: no takeover delay.
			now := time.Now()
			s.l.update(s.id, func(st *lockState) {
				if !st.granted {
					st.granted, st.heldFrom = true, now
				}
			})
			return nil
		}
		// Stolen: still queued (we asked with "lock"), "locked" follows
		// when the thief lets go.
		s.l.update(s.id, func(st *lockState) { st.granted = false })
		s.l.publish("stolen by another client")
	}
	return nil
}

// rowUpdate is a <row-update> of monitor version 1.
type rowUpdate struct {
	Old map[string]json.RawMessage `json:"old"`
	New map[string]json.RawMessage `json:"new"`
}

func (s *lockSession) applyRows(table map[string]rowUpdate) {
	for uuid, u := range table {
		if u.New == nil {
			delete(s.rows, uuid)
			continue
		}
		row := s.rows[uuid]
		if row == nil {
			row = map[string]json.RawMessage{}
			s.rows[uuid] = row
		}
		for k, v := range u.New {
			row[k] = v
		}
	}
}

// checkServer reports why the server cannot hold the lock, if it cannot.
func (s *lockSession) checkServer() error {
	db := s.l.cfg.Database
	for _, row := range s.rows {
		var name, model string
		var connected, leader bool
		if json.Unmarshal(row["name"], &name) != nil || name != db {
			continue
		}
		_ = json.Unmarshal(row["model"], &model)
		_ = json.Unmarshal(row["connected"], &connected)
		_ = json.Unmarshal(row["leader"], &leader)
		switch model {
		case "relay":
			return errors.New("relay server: locks are local to each server, use the cluster's servers")
		case "clustered":
			if !connected {
				return fmt.Errorf("%w: disconnected from its cluster", errNotLeader)
			}
			if !leader {
				return errNotLeader
			}
		}
		return nil
	}
	return fmt.Errorf("server has no %s database", db)
}
