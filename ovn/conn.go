package ovn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-logr/logr"
	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a connection to the NB or SB database.
type Config struct {
	// Endpoints are OVSDB endpoints (see ParseEndpoints); the first one that
	// answers (and, for a leader-only client, is the cluster leader) is used.
	Endpoints []string
	// CA, Cert and Key are PEM files for ssl: endpoints.
	CA, Cert, Key string
	// Logger receives libovsdb's and this package's logs; default discard.
	Logger logr.Logger
	// ReadOnly makes every write (Apply, Barrier) fail with ErrReadOnly
	// before anything is sent.
	ReadOnly bool
	// LeaderOnly connects only to the leader of a clustered database. The NB
	// client always does so unless ReadOnly is set; the SB client does so
	// only when asked.
	LeaderOnly bool
	// GatewayOnly (SB): monitor only what HA groups and gateway claims need
	// (port bindings, chassis, SB_Global), not the Load_Balancer and
	// Address_Set rows (20,000 at 10,000 forwards).
	GatewayOnly bool
	// ConnectTimeout bounds each connection attempt, initial or reconnect.
	// Default 10s.
	ConnectTimeout time.Duration
	// ProbeInterval is how often an echo checks that the server is alive
	// (default 10s); an echo may take ProbeTimeout (default 10s, at least
	// ConnectTimeout) before the connection is dropped and re-established.
	ProbeInterval, ProbeTimeout time.Duration
}

const (
	defaultConnectTimeout = 10 * time.Second
	// watchInterval is how often the connection state is sampled.
	watchInterval = 100 * time.Millisecond
	// fallbackPoll bounds the wait for cache conditions when a cache event
	// was dropped (libovsdb drops events when its buffer is full).
	fallbackPoll = 100 * time.Millisecond
	// initialEventStall ends the wait for the initial fill's events.
	initialEventStall = 500 * time.Millisecond
)

// Echo probing defaults (Config.ProbeInterval, Config.ProbeTimeout).
const (
	// defaultProbeInterval is how often an echo checks that the server is
	// alive (a dead host behind a TCP connection is otherwise noticed only
	// by TCP keepalive, minutes later). libovsdb's own WithInactivityCheck
	// is not used: in v0.8.1 it closes a channel that transact may still
	// send on (a data race, and a possible "send on closed channel" panic).
	defaultProbeInterval = 10 * time.Second
	// defaultProbeTimeout is the least time an echo may take before the
	// connection is dropped and re-established.
	defaultProbeTimeout = 10 * time.Second
)

// newReconnectBackOff is the backoff between reconnect attempts. It never
// gives up: libovsdb panics when the reconnect backoff stops.
//
// It stays short (100 ms, growing to at most 500 ms): after a Raft leader
// dies, every member answers "not leader" until the election ends (1–2 s
// with the default 1 s election timer), and the writer must be back within
// a few hundred ms of that. Measured on a real 3-member NB cluster
// (ovn/raft_test.go): with the former 500 ms doubling to 10 s, one leader
// kill in six left the writer without NB for 2.9–3.9 s, the attempt just
// before the election's end being followed by one 2 s later; with this
// one, at most 0.6 s after the election. An attempt is one connect to a
// unix or TCP socket: two a second against a dead central is cheap.
func newReconnectBackOff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.Multiplier = 1.5
	b.RandomizationFactor = 0.2
	b.MaxInterval = 500 * time.Millisecond
	b.MaxElapsedTime = 0
	b.Reset()
	return b
}

// closableBackOff wraps the reconnect backoff for libovsdb. It sleeps inside
// NextBackOff and returns 0, so that after Close no new reconnect attempt
// starts: libovsdb's reconnect loop cannot be stopped otherwise (it panics
// when the backoff gives up, and Close does not stop it while disconnected).
// After Close, NextBackOff parks the reconnect goroutine for good.
type closableBackOff struct {
	mu     sync.Mutex
	b      *backoff.ExponentialBackOff
	closed chan struct{}
}

func (c *closableBackOff) Reset() {
	c.mu.Lock()
	c.b.Reset()
	c.mu.Unlock()
}

func (c *closableBackOff) NextBackOff() time.Duration {
	c.mu.Lock()
	d := c.b.NextBackOff()
	c.mu.Unlock()
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-c.closed:
		t.Stop()
	}
	select {
	case <-c.closed:
		select {} // closed: never attempt again
	default:
		return 0
	}
}

// conn is what NB and SB share: the libovsdb client, connection state,
// reconnect detection, callbacks and a change notifier for waiters.
type conn struct {
	cl       client.Client
	log      logr.Logger
	db       string
	reg      *prometheus.Registry
	bo       *closableBackOff
	timeout  time.Duration
	readOnly bool

	connected  atomic.Bool
	closed     atomic.Bool
	reconnects atomic.Uint64

	// Until ready, cache events are the initial fill of the replica: they
	// are counted, not reported (see awaitInitialEvents).
	ready   atomic.Bool
	initial atomic.Int64

	cbMu        sync.Mutex
	onReconnect []func()

	// changed is closed and replaced whenever the cache changes or the
	// client reconnects.
	chMu    sync.Mutex
	changed chan struct{}

	stop      context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// dial connects with retries until ctx is done, registers the event handler
// and starts exactly one monitor.
func dial(ctx context.Context, cfg Config, dbModel model.ClientDBModel, leaderOnly bool,
	monitor func(client.Client) *client.Monitor, handler func(c *conn) cache.EventHandler,
) (*conn, error) {
	var tables []string
	for t := range dbModel.Types() {
		tables = append(tables, t)
	}
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("no OVSDB endpoints configured")
	}
	log := cfg.Logger
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	log = log.WithValues("database", dbModel.Name())
	timeout := cfg.ConnectTimeout
	if timeout <= 0 {
		timeout = defaultConnectTimeout
	}

	c := &conn{
		log:      log,
		db:       dbModel.Name(),
		reg:      prometheus.NewRegistry(),
		bo:       &closableBackOff{b: newReconnectBackOff(), closed: make(chan struct{})},
		timeout:  timeout,
		readOnly: cfg.ReadOnly,
		changed:  make(chan struct{}),
	}

	opts := []client.Option{
		client.WithLogger(&log),
		client.WithLeaderOnly(leaderOnly),
		client.WithReconnect(timeout, c.bo),
		// A private registry: the disconnect counter is how reconnects that
		// complete between two samples of the connection state are noticed.
		client.WithMetricsRegistry(c.reg),
	}
	var needTLS bool
	for _, raw := range cfg.Endpoints {
		ep, err := parseEndpoint(raw)
		if err != nil {
			return nil, err
		}
		needTLS = needTLS || strings.HasPrefix(ep, "ssl:")
		opts = append(opts, client.WithEndpoint(ep))
	}
	if needTLS {
		tlsCfg, err := LoadTLSConfig(cfg.CA, cfg.Cert, cfg.Key)
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithTLSConfig(tlsCfg))
	}

	cl, err := client.NewOVSDBClient(dbModel, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s client: %w", c.db, err)
	}
	c.cl = cl
	abandon := func() {
		close(c.bo.closed)
		cl.Close()
	}

	if err := c.connectWithRetry(ctx); err != nil {
		abandon()
		return nil, err
	}
	cl.Cache().AddEventHandler(handler(c))
	mctx, cancel := context.WithTimeout(ctx, timeout)
	_, err = cl.Monitor(mctx, monitor(cl))
	cancel()
	if err != nil {
		abandon()
		return nil, fmt.Errorf("%s monitor: %w", c.db, err)
	}
	c.awaitInitialEvents(tables)
	c.connected.Store(true)

	wctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	c.wg.Add(2)
	go c.watch(wctx)
	every, probeTimeout := cfg.ProbeInterval, cfg.ProbeTimeout
	if every <= 0 {
		every = defaultProbeInterval
	}
	if probeTimeout <= 0 {
		probeTimeout = defaultProbeTimeout
	}
	go c.probe(wctx, every, max(timeout, probeTimeout))
	log.V(1).Info("connected", "endpoint", cl.CurrentEndpoint())
	return c, nil
}

// awaitInitialEvents waits until libovsdb has dispatched the add events of
// the initial fill (one per row), so that callbacks report only changes
// made after Dial returned, not the whole database. It gives up when no
// event arrives for initialEventStall: libovsdb drops events when its
// buffer (65536) is full.
func (c *conn) awaitInitialEvents(tables []string) {
	defer c.ready.Store(true)
	tc := c.cache()
	var rows int64
	for _, t := range tables {
		if rc := tc.Table(t); rc != nil {
			rows += int64(rc.Len())
		}
	}
	last, lastChange := c.initial.Load(), time.Now()
	for {
		seen := c.initial.Load()
		if seen >= rows {
			return
		}
		if seen != last {
			last, lastChange = seen, time.Now()
		} else if time.Since(lastChange) > initialEventStall {
			c.log.V(1).Info("initial cache events incomplete", "rows", rows, "events", seen)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// initialEvent counts an event of the initial fill; it reports false once
// the client is ready and events are changes to report.
func (c *conn) initialEvent() bool {
	if c.ready.Load() {
		return false
	}
	c.initial.Add(1)
	return true
}

// connectWithRetry makes the first connection, retrying with backoff until
// ctx is done.
func (c *conn) connectWithRetry(ctx context.Context) error {
	b := newReconnectBackOff()
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		err := c.cl.Connect(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("connect to %s: %w (last error: %v)", c.db, ctx.Err(), err)
		}
		wait := b.NextBackOff()
		c.log.Info("connect failed, retrying", "attempt", attempt, "retryIn", wait.String(), "error", err.Error())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("connect to %s: %w (last error: %v)", c.db, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// disconnects reads libovsdb's disconnect counter from the private registry.
func (c *conn) disconnects() float64 {
	mfs, err := c.reg.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == "libovsdb_disconnects_total" {
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	return 0
}

// watch samples the connection state and fires the reconnect callbacks once
// the client is connected again and its cache refilled. libovsdb reports
// Connected() == true while it is reconnecting, so the state is derived from
// CurrentEndpoint (empty while there is no RPC connection) and the
// disconnect counter (which catches a reconnect faster than one sample).
func (c *conn) watch(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	last := c.disconnects()
	pending := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d := c.disconnects()
		// CurrentEndpoint blocks while a reconnect attempt holds the lock; it
		// returns once the monitor is restarted and the cache refilled.
		up := c.cl.CurrentEndpoint() != "" && c.cl.Connected()
		if ctx.Err() != nil {
			return
		}
		if d != last || !up {
			last = d
			pending = true
			if c.connected.Swap(false) {
				c.log.Info("disconnected, reconnecting")
			}
		}
		if up && pending {
			pending = false
			c.connected.Store(true)
			n := c.reconnects.Add(1)
			c.log.Info("reconnected", "endpoint", c.cl.CurrentEndpoint(), "reconnects", n)
			c.signal()
			c.cbMu.Lock()
			cbs := append([]func(){}, c.onReconnect...)
			c.cbMu.Unlock()
			for _, f := range cbs {
				f()
			}
		}
	}
}

// probe sends an echo every `every` while connected and drops the
// connection (libovsdb then reconnects) when the server does not answer.
func (c *conn) probe(ctx context.Context, every, timeout time.Duration) {
	defer c.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !c.connected.Load() {
			continue
		}
		ectx, cancel := context.WithTimeout(ctx, timeout)
		err := c.cl.Echo(ectx)
		cancel()
		if err != nil && ctx.Err() == nil && c.connected.Load() {
			c.log.Info("server did not answer an echo, reconnecting", "error", err.Error())
			c.cl.Disconnect()
		}
	}
}

// signal wakes everyone waiting in waitFor.
func (c *conn) signal() {
	c.chMu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.chMu.Unlock()
}

func (c *conn) changedCh() <-chan struct{} {
	c.chMu.Lock()
	defer c.chMu.Unlock()
	return c.changed
}

// waitFor waits until cond holds, re-checking on every cache change (and
// every fallbackPoll, in case an event was dropped). It returns false when
// timeout or ctx ends first.
func (c *conn) waitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	poll := time.NewTicker(fallbackPoll)
	defer poll.Stop()
	for {
		ch := c.changedCh()
		if cond() {
			return true
		}
		select {
		case <-ch:
		case <-poll.C:
		case <-deadline.C:
			return cond()
		case <-ctx.Done():
			return false
		}
	}
}

func (c *conn) addReconnect(f func()) {
	c.cbMu.Lock()
	c.onReconnect = append(c.onReconnect, f)
	c.cbMu.Unlock()
}

func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.connected.Store(false)
		close(c.bo.closed)
		c.stop()
		c.cl.Close()
		c.wg.Wait()
		c.signal()
	})
}

// cache returns the client's table cache (never nil after dial).
func (c *conn) cache() *cache.TableCache { return c.cl.Cache() }
