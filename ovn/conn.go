package ovn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-logr/logr"
	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb/serverdb"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a connection to the NB or SB database.
type Config struct {
	// Endpoints are OVSDB endpoints (see ParseEndpoints); the first one that
	// answers (and, for a leader-only client, is the cluster leader) is used.
	// One that does not answer within the endpoint timeout (ConnectTimeout,
	// at most maxEndpointTimeout) is skipped (see endpointPicker).
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
	// ConnectTimeout bounds each connection attempt to one endpoint,
	// initial or reconnect, from the dial to the refilled replica; the
	// endpoint must have answered a probe within min(ConnectTimeout,
	// maxEndpointTimeout) first. Default 10s.
	ConnectTimeout time.Duration
	// ProbeInterval is how often an echo checks that the server is alive
	// (default 10s); an echo may take ProbeTimeout (default 30s, at least
	// ConnectTimeout, and at least 3 times the slowest answer the server
	// gave, up to DumpTimeout) before the connection is dropped and
	// re-established.
	ProbeInterval, ProbeTimeout time.Duration
	// DumpTimeout bounds the initial download of the monitored tables once
	// the server has answered, apart from ConnectTimeout and from the dial
	// context's deadline: at 50,000 forwards a loaded server needs well
	// over 10 s. Default 2 min. (A reconnect's download is still bounded
	// by ConnectTimeout: libovsdb has one timeout for a whole attempt.)
	DumpTimeout time.Duration
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
	// maxEndpointTimeout bounds how long one endpoint may take to answer
	// the probe that precedes each connection attempt (ConnectTimeout if
	// shorter) before the next endpoint is tried: it is what an endpoint
	// that accepts connections but never answers (a frozen or hung
	// ovsdb-server, a proxy whose backend is gone) costs. A healthy
	// ovsdb-server answers in milliseconds, a loaded one over TLS in tens;
	// OVN itself drops an OVSDB peer silent for 5 s (its default
	// inactivity probe).
	maxEndpointTimeout = 2 * time.Second
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
	// connection is dropped and re-established. A busy ovsdb-server is not
	// a hung one: at 50,000 forwards NB's stalled for 12.9 s on one
	// transaction here, and an echo timeout of 10 s dropped the writer
	// mid-repair, whose reconnect then re-downloaded everything. The
	// timeout also grows to slowResponses times the slowest answer the
	// server gave (a transaction, the initial download), at most
	// DumpTimeout.
	defaultProbeTimeout = 30 * time.Second
	slowResponses       = 3
	defaultDumpTimeout  = 2 * time.Minute
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
// After Close, Reset and NextBackOff park the reconnect goroutine for good.
//
// libovsdb calls Reset before the first attempt of a reconnect and
// NextBackOff after each failed one, in its reconnect goroutine and without
// its lock held: there, before each attempt, before (set once the client
// exists) hands the client the endpoint to try (conn.beforeReconnect); it
// sleeps, through wait, only once every endpoint has failed.
type closableBackOff struct {
	mu     sync.Mutex
	b      *backoff.ExponentialBackOff
	ctx    context.Context // done when the client is closed
	before func(first bool)
}

func (c *closableBackOff) Reset() {
	c.mu.Lock()
	c.b.Reset()
	c.mu.Unlock()
	if c.before != nil {
		c.before(true)
	}
	c.parkIfClosed()
}

func (c *closableBackOff) NextBackOff() time.Duration {
	if c.before != nil {
		c.before(false)
	} else {
		c.wait()
	}
	c.parkIfClosed()
	return 0
}

// wait sleeps one backoff interval; it returns false if the client was
// closed meanwhile.
func (c *closableBackOff) wait() bool {
	c.mu.Lock()
	d := c.b.NextBackOff()
	c.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// parkIfClosed never returns once the client is closed: no attempt then.
func (c *closableBackOff) parkIfClosed() {
	if c.ctx.Err() != nil {
		select {}
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
	kill     context.CancelFunc // ends bo.ctx: no reconnect attempt after Close
	eps      *endpointPicker
	timeout  time.Duration
	readOnly bool
	// slowest is the longest the server took to answer a request of ours
	// (ns): the echo timeout follows it (see defaultProbeTimeout).
	slowest     atomic.Int64
	dumpTimeout time.Duration

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
	dumpTimeout := max(cfg.DumpTimeout, timeout)
	if cfg.DumpTimeout <= 0 {
		dumpTimeout = max(defaultDumpTimeout, timeout)
	}

	life, kill := context.WithCancel(context.Background())
	c := &conn{
		log:         log,
		db:          dbModel.Name(),
		reg:         prometheus.NewRegistry(),
		bo:          &closableBackOff{b: newReconnectBackOff(), ctx: life},
		kill:        kill,
		timeout:     timeout,
		readOnly:    cfg.ReadOnly,
		dumpTimeout: dumpTimeout,
		changed:     make(chan struct{}),
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
	var eps []string
	for _, raw := range cfg.Endpoints {
		ep, err := parseEndpoint(raw)
		if err != nil {
			kill()
			return nil, err
		}
		needTLS = needTLS || strings.HasPrefix(ep, "ssl:")
		eps = append(eps, ep)
		opts = append(opts, client.WithEndpoint(ep))
	}
	var tlsCfg *tls.Config
	if needTLS {
		var err error
		if tlsCfg, err = LoadTLSConfig(cfg.CA, cfg.Cert, cfg.Key); err != nil {
			kill()
			return nil, err
		}
		opts = append(opts, client.WithTLSConfig(tlsCfg))
	}

	cl, err := client.NewOVSDBClient(dbModel, opts...)
	if err != nil {
		kill()
		return nil, fmt.Errorf("%s client: %w", c.db, err)
	}
	c.cl = cl
	c.eps = newEndpointPicker(eps, min(timeout, maxEndpointTimeout), log,
		func(ctx context.Context, ep string) error { return probeEndpoint(ctx, ep, tlsCfg) })
	c.bo.before = c.beforeReconnect
	abandon := func() {
		kill()
		cl.Close()
	}

	if err := c.connectWithRetry(ctx); err != nil {
		abandon()
		return nil, err
	}
	cl.Cache().AddEventHandler(handler(c))
	// The download is bounded by dumpTimeout, not by ctx's deadline (which
	// bounds connecting); cancelling ctx still ends it.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dumpTimeout)
	stopCancel := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.Canceled) {
			cancel()
		}
	})
	dumpStart := time.Now()
	_, err = cl.Monitor(mctx, monitor(cl))
	if err == nil {
		c.observe(time.Since(dumpStart))
	}
	stopCancel()
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

// connectWithRetry makes the first connection, one endpoint at a time
// (endpointPicker), retrying with backoff after each round until ctx is
// done.
func (c *conn) connectWithRetry(ctx context.Context) error {
	b := newReconnectBackOff()
	rounds := 0
	wait := func() bool {
		rounds++
		d := b.NextBackOff()
		c.log.Info("connect failed, retrying", "attempt", rounds, "retryIn", d.String(), "error", c.eps.lastErrors())
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	c.eps.restart()
	for {
		ep, err := c.eps.next(ctx, wait)
		if err == nil {
			c.cl.UpdateEndpoints([]string{ep})
			actx, cancel := context.WithTimeout(ctx, c.timeout)
			err = c.cl.Connect(actx)
			cancel()
			c.eps.record(err)
			if err == nil {
				return nil
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("connect to %s: %w (last errors: %s)", c.db, ctx.Err(), c.eps.lastErrors())
		}
	}
}

// beforeReconnect runs in libovsdb's reconnect loop before each attempt
// (first: the first attempt of this reconnect) and hands the client the
// next endpoint that answers, waiting a backoff interval after each round.
// Once the client is closed it returns without (the backoff then parks the
// loop).
func (c *conn) beforeReconnect(first bool) {
	if first {
		c.eps.restart()
	}
	ep, err := c.eps.next(c.bo.ctx, c.bo.wait)
	if err != nil {
		return
	}
	c.cl.UpdateEndpoints([]string{ep})
}

// endpointPicker chooses the endpoint of each connection attempt.
//
// libovsdb tries the endpoints it is given in turn under ONE deadline, the
// attempt's, in a fixed order (the one it last connected to first). An
// endpoint that accepts the connection but never answers (a frozen or hung
// ovsdb-server, a proxy whose backend is gone) therefore took the whole
// deadline on every attempt, the endpoints after it were never tried, and
// the client neither connected nor reconnected while it stayed in the list.
//
// So the client is given one endpoint at a time (UpdateEndpoints), chosen
// here: an endpoint is handed over once it answered a probe, a throwaway
// client of its _Server database connecting (list_dbs, get_schema) within
// the endpoint timeout. One that does not answer in time is skipped: it
// costs that timeout, and is tried last in later rounds until it answers
// again. A probe that fails otherwise (refused, TLS) hands the endpoint
// over all the same: the attempt then fails as fast, with the client's own
// error. The attempt itself keeps ConnectTimeout, for the replica's refill.
//
// Endpoints are tried in rounds, every endpoint once, starting after the
// one last handed over (so a reconnect tries the others before the one just
// lost, as libovsdb does after a leader change), the ones that did not
// answer their last probe at the end. The backoff applies between rounds,
// as it did between libovsdb's attempts over the whole list. Leader-only
// semantics are the client's and unchanged: each attempt checks that the
// endpoint is the leader and fails on a follower, and the next is tried.
type endpointPicker struct {
	eps     []string
	timeout time.Duration
	log     logr.Logger
	probe   func(ctx context.Context, ep string) error

	mu    sync.Mutex
	last  int     // the endpoint last handed over; -1: none yet
	hung  []bool  // did not answer its last probe
	errs  []error // last failure (nil once it succeeded)
	round []int   // endpoints left to try in this round
}

func newEndpointPicker(eps []string, timeout time.Duration, log logr.Logger,
	probe func(ctx context.Context, ep string) error,
) *endpointPicker {
	return &endpointPicker{eps: eps, timeout: timeout, log: log, probe: probe,
		last: -1, hung: make([]bool, len(eps)), errs: make([]error, len(eps))}
}

// restart begins a new series of attempts with a new round, at once.
func (p *endpointPicker) restart() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.newRound()
}

func (p *endpointPicker) newRound() {
	n := len(p.eps)
	p.round = p.round[:0]
	var hung []int
	for k := 1; k <= n; k++ {
		i := (p.last + k) % n
		if p.hung[i] {
			hung = append(hung, i)
		} else {
			p.round = append(p.round, i)
		}
	}
	p.round = append(p.round, hung...)
}

// next returns the next endpoint of the round to hand over. When the round
// is used up it calls wait (false: stop) and starts the next one. It fails
// only when ctx is done.
func (p *endpointPicker) next(ctx context.Context, wait func() bool) (string, error) {
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		p.mu.Lock()
		if len(p.round) == 0 {
			p.mu.Unlock()
			if !wait() {
				return "", ctx.Err()
			}
			p.mu.Lock()
			p.newRound()
		}
		i := p.round[0]
		p.round = p.round[1:]
		wasHung := p.hung[i]
		p.mu.Unlock()

		ep := p.eps[i]
		if len(p.eps) == 1 {
			// Nothing to skip to: the attempt's own timeout bounds it.
			p.mu.Lock()
			p.last = i
			p.mu.Unlock()
			return ep, nil
		}
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, p.timeout)
		err := p.probe(pctx, ep)
		noAnswer := err != nil && pctx.Err() != nil
		cancel()
		if noAnswer {
			err = fmt.Errorf("%s did not answer within %v", ep, min(p.timeout, time.Since(start).Round(time.Millisecond)))
		}
		p.mu.Lock()
		if noAnswer {
			p.errs[i] = err
			if ctx.Err() == nil {
				p.hung[i] = true
			}
		} else {
			p.hung[i] = false
			p.last = i
		}
		p.mu.Unlock()
		switch {
		case noAnswer && ctx.Err() != nil:
			return "", ctx.Err()
		case noAnswer && !wasHung:
			p.log.Info("OVSDB endpoint did not answer in time (hung, frozen or unreachable?), trying the next", "endpoint", ep, "timeout", p.timeout.String())
		case noAnswer:
			p.log.V(1).Info("OVSDB endpoint still does not answer", "endpoint", ep)
		case wasHung:
			p.log.Info("OVSDB endpoint answers again", "endpoint", ep)
		}
		if !noAnswer {
			return ep, nil
		}
	}
}

// record records the outcome of the attempt on the endpoint last handed
// over (nil: success).
func (p *endpointPicker) record(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last >= 0 {
		p.errs[p.last] = err
	}
}

// markHung sends ep to the end of the rounds (it stopped answering while
// connected) until it answers a probe again.
func (p *endpointPicker) markHung(ep string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := slices.Index(p.eps, ep); i >= 0 {
		p.hung[i] = true
	}
}

// lastErrors lists each endpoint's last failure, in the configured order.
func (p *endpointPicker) lastErrors() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, err := range p.errs {
		if err != nil {
			out = append(out, err.Error())
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "; ")
}

// probeEndpoint checks that ep answers OVSDB: a throwaway client of its
// _Server database connects (list_dbs, get_schema).
func probeEndpoint(ctx context.Context, ep string, tlsCfg *tls.Config) error {
	m, err := serverdb.FullDatabaseModel()
	if err != nil {
		return err
	}
	opts := []client.Option{client.WithEndpoint(ep)}
	if tlsCfg != nil {
		opts = append(opts, client.WithTLSConfig(tlsCfg))
	}
	cl, err := client.NewOVSDBClient(m, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.Connect(ctx)
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
		ep := c.cl.CurrentEndpoint()
		limit := c.echoTimeout(timeout)
		ectx, cancel := context.WithTimeout(ctx, limit)
		start := time.Now()
		err := c.cl.Echo(ectx)
		cancel()
		if err == nil {
			c.observe(time.Since(start))
		}
		if err != nil && ctx.Err() == nil && c.connected.Load() {
			c.log.Info("server did not answer an echo, reconnecting", "endpoint", ep, "error", err.Error())
			c.eps.markHung(ep)
			c.cl.Disconnect()
		}
	}
}

// observe records how long the server took to answer a request.
func (c *conn) observe(d time.Duration) {
	for {
		old := c.slowest.Load()
		if int64(d) <= old || c.slowest.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

// echoTimeout is how long an echo may take: base, or slowResponses times
// the slowest answer the server gave, at most the dump timeout.
func (c *conn) echoTimeout(base time.Duration) time.Duration {
	return max(base, min(slowResponses*time.Duration(c.slowest.Load()), c.dumpTimeout))
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
		c.kill()
		c.stop()
		c.cl.Close()
		c.wg.Wait()
		c.signal()
	})
}

// cache returns the client's table cache (never nil after dial).
func (c *conn) cache() *cache.TableCache { return c.cl.Cache() }
