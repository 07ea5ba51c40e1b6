package lxdwatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
	"github.com/canonical/lxd/shared/tcp"
	"github.com/gorilla/websocket"
	"go.uber.org/zap"

	fwdsync "github.com/ovnfwd/ovnfwd/sync"
)

// writeWait bounds one control frame write (ping, pong, close).
const writeWait = 5 * time.Second

// Watch follows LXD's lifecycle events until ctx is done, then returns nil.
//
// It sends an Event of KindResync after every successful (re)connect — the
// caller must then re-read everything — and the events it understands (see
// ParseLifecycle), identical ones within Config.CoalesceWindow sent once.
// It reconnects with exponential backoff (Config.ReconnectMin…ReconnectMax)
// and never gives up. A stream on which nothing arrives for
// Config.IdleTimeout is considered dead and redialled; Watch pings LXD itself
// too, so a healthy stream always has traffic.
//
// Drain out promptly: LXD drops listeners that stall for 5 s, and a consumer
// stalled longer than IdleTimeout causes a reconnect (and a Resync).
func (c *Client) Watch(ctx context.Context, out chan<- Event) error {
	if out == nil {
		return errors.New("lxdwatch: Watch needs an output channel")
	}
	backoff := c.cfg.ReconnectMin
	first := true
	wait := func(why string, err error) bool {
		c.log.Warn(why, zap.String("lxd", c.endpoint), zap.Duration("retry_in", backoff), zap.Error(err))
		t := time.NewTimer(backoff)
		defer t.Stop()
		backoff = min(2*backoff, c.cfg.ReconnectMax)
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	for ctx.Err() == nil {
		conn, err := c.dialEvents(ctx)
		if err != nil {
			if ctx.Err() != nil || !wait("cannot connect to the LXD event stream", err) {
				break
			}
			continue
		}
		if !first {
			c.reconnects.Add(1)
		}
		first = false
		c.connected.Store(true)
		c.log.Info("connected to the LXD event stream", zap.String("lxd", c.endpoint))
		start := time.Now()
		err = c.session(ctx, conn, out)
		c.connected.Store(false)
		if ctx.Err() != nil {
			break
		}
		// Only a stream that stayed up a while resets the backoff, so a server
		// that accepts and drops at once is not hammered with resyncs.
		if time.Since(start) >= c.cfg.ReconnectMax {
			backoff = c.cfg.ReconnectMin
		}
		if !wait("LXD event stream lost", err) {
			break
		}
	}
	return nil
}

// dialEvents opens the events websocket the way the LXD client's
// RawWebsocket does (same transport, TLS config and proxy), but with ctx.
func (c *Client) dialEvents(ctx context.Context) (*websocket.Conn, error) {
	p := c.base.Load()
	hc, err := p.GetHTTPClient()
	if err != nil {
		return nil, err
	}
	var t *http.Transport
	switch tr := hc.Transport.(type) {
	case *http.Transport:
		t = tr
	case lxd.HTTPTransporter:
		t = tr.Transport()
	default:
		return nil, fmt.Errorf("unexpected LXD client transport %T", hc.Transport)
	}
	info, err := p.GetConnectionInfo()
	if err != nil {
		return nil, err
	}
	u, err := eventsURL(info.URL)
	if err != nil {
		return nil, err
	}
	d := websocket.Dialer{
		NetDialContext:   t.DialContext,
		TLSClientConfig:  t.TLSClientConfig,
		Proxy:            t.Proxy,
		HandshakeTimeout: c.cfg.DialTimeout,
	}
	conn, resp, err := d.DialContext(ctx, u, http.Header{"User-Agent": {"ovnfwd"}})
	if err != nil {
		if resp != nil {
			var r api.Response
			if json.NewDecoder(resp.Body).Decode(&r) == nil && r.Error != "" {
				err = fmt.Errorf("%s (HTTP %d)", r.Error, resp.StatusCode)
			}
			_ = resp.Body.Close()
		}
		return nil, fmt.Errorf("events websocket at %s: %w", c.endpoint, err)
	}
	if tc, _ := tcp.ExtractConn(conn.UnderlyingConn()); tc != nil {
		_ = tcp.SetTimeouts(tc, 0) // as the LXD client does: keepalives, user timeout
	}
	return conn, nil
}

// session runs one connection: Resync, then events, until the stream fails
// (returned) or ctx is done.
func (c *Client) session(ctx context.Context, conn *websocket.Conn, out chan<- Event) error {
	in := make(chan Event, 256)
	done := make(chan struct{})
	readErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		readErr <- c.readEvents(conn, in, done)
	}()
	go func() {
		defer wg.Done()
		c.ping(conn, done)
	}()
	defer func() {
		close(done)
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(100*time.Millisecond))
		_ = conn.Close()
		wg.Wait()
	}()

	if !send(ctx, out, Event{Kind: KindResync, Received: time.Now()}) {
		return ctx.Err()
	}

	q := newCoalescer(c.cfg.CoalesceWindow)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	armed := false
	arm := func() {
		next, ok := q.next()
		if ok && !armed {
			timer.Reset(time.Until(next))
			armed = true
		}
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-readErr:
			// The reader has stopped: take what it queued, flush, report.
			for len(in) > 0 {
				q.add(<-in)
			}
			for _, ev := range q.drain() {
				if !send(ctx, out, ev) {
					return ctx.Err()
				}
			}
			return err
		case ev := <-in:
			if c.cfg.CoalesceWindow < 0 {
				if !send(ctx, out, ev) {
					return ctx.Err()
				}
				continue
			}
			if !q.add(ev) {
				c.coalesced.Add(1)
			}
			arm()
		case now := <-timer.C:
			armed = false
			for _, ev := range q.due(now) {
				if !send(ctx, out, ev) {
					return ctx.Err()
				}
			}
			arm()
		}
	}
}

// readEvents reads the stream until it fails or done is closed. Every frame,
// including LXD's pings and the pongs to our pings, extends the deadline.
func (c *Client) readEvents(conn *websocket.Conn, in chan<- Event, done <-chan struct{}) error {
	idle := c.cfg.IdleTimeout
	alive := func() { _ = conn.SetReadDeadline(time.Now().Add(idle)) }
	alive()
	conn.SetPingHandler(func(data string) error {
		alive()
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeWait))
		if err == nil || errors.Is(err, websocket.ErrCloseSent) || isTimeout(err) {
			return nil
		}
		return err
	})
	conn.SetPongHandler(func(string) error {
		alive()
		return nil
	})
	for {
		mt, data, err := conn.ReadMessage()
		if err != nil {
			if isTimeout(err) {
				return fmt.Errorf("nothing received from LXD for %s (no event, ping or pong): %w", idle, err)
			}
			return err
		}
		alive()
		if mt != websocket.TextMessage {
			continue
		}
		var raw api.Event
		if json.Unmarshal(data, &raw) != nil {
			continue
		}
		ev, ok := ParseLifecycle(raw)
		if !ok {
			continue
		}
		ev.Received = time.Now()
		select {
		case in <- ev:
		case <-done:
			return nil
		}
	}
}

// ping sends a ping every third of the idle timeout, so that the deadline is
// kept alive by pongs even if the server's own pings were to stop.
func (c *Client) ping(conn *websocket.Conn, done <-chan struct{}) {
	t := time.NewTicker(c.cfg.IdleTimeout / 3)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(min(writeWait, c.cfg.IdleTimeout))) != nil {
				return
			}
		}
	}
}

func send(ctx context.Context, out chan<- Event, ev Event) bool {
	select {
	case out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// coalescer holds events for a window after their first arrival; copies that
// arrive meanwhile are dropped. The window closes after the last copy LXD
// cluster members re-emit, so the caller's re-read sees the newest state.
type coalescer struct {
	window  time.Duration
	queue   []pendingEvent // in arrival order, hence in due order
	pending map[coalesceKey]bool
}

type pendingEvent struct {
	ev  Event
	due time.Time
}

type coalesceKey struct {
	kind    EventKind
	action  string
	key     fwdsync.ForwardKey
	network fwdsync.NetworkRef
	member  string
	oldName string
}

func newCoalescer(window time.Duration) *coalescer {
	return &coalescer{window: window, pending: map[coalesceKey]bool{}}
}

func keyOf(ev Event) coalesceKey {
	return coalesceKey{ev.Kind, ev.Action, ev.Key, ev.Network, ev.Member, ev.OldName}
}

// add queues ev; false if an identical event is already pending.
func (q *coalescer) add(ev Event) bool {
	k := keyOf(ev)
	if q.pending[k] {
		return false
	}
	q.pending[k] = true
	q.queue = append(q.queue, pendingEvent{ev: ev, due: ev.Received.Add(q.window)})
	return true
}

// next is when the oldest pending event is due.
func (q *coalescer) next() (time.Time, bool) {
	if len(q.queue) == 0 {
		return time.Time{}, false
	}
	return q.queue[0].due, true
}

// due removes and returns the events due at now.
func (q *coalescer) due(now time.Time) []Event {
	n := 0
	for n < len(q.queue) && !q.queue[n].due.After(now) {
		n++
	}
	return q.take(n)
}

// drain removes and returns every pending event.
func (q *coalescer) drain() []Event { return q.take(len(q.queue)) }

func (q *coalescer) take(n int) []Event {
	if n == 0 {
		return nil
	}
	out := make([]Event, n)
	for i, p := range q.queue[:n] {
		out[i] = p.ev
		delete(q.pending, keyOf(p.ev))
	}
	q.queue = append(q.queue[:0], q.queue[n:]...)
	return out
}
