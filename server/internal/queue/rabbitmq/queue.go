package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
)

// ErrClosed is returned by Publish and Run after Shutdown.
var ErrClosed = errors.New("rabbitmq: queue shut down")

// Queue is the RabbitMQ queue; see the package comment.
type Queue struct {
	opts Options
	log  *zap.Logger

	mu      sync.Mutex
	sess    *session      // current connection, nil while down
	changed chan struct{} // closed and replaced whenever sess changes
	closing bool
	running bool

	stop           chan struct{} // closed by Shutdown: the manager disconnects
	stopRun        chan struct{} // closed by Shutdown: consumers finish and return
	runDone        chan struct{} // closed when Run returns
	cancelDelivery context.CancelFunc
	done           chan struct{} // closed when the manager has exited

	next atomic.Uint64 // round robin over publisher channels

	inflight      atomic.Int64 // publishes awaiting a confirm
	inflightBytes atomic.Int64
	held          atomic.Int64 // deliveries handed to the Consumer, not acknowledged yet
	unacked       atomic.Int64 // deliveries received by this replica's consumers, not acknowledged yet
	unackedBytes  atomic.Int64
	brokerDepth   atomic.Int64 // ready messages in the storage queue, -1 unknown
	lastLive      atomic.Int64 // unix ns of the last live delivery (or of the live queue's start)
	deadLettered  atomic.Int64
	reconnects    atomic.Int64
	published     atomic.Int64
	delivered     atomic.Int64
}

// session is one connection and its channels.
type session struct {
	conn   *amqp.Connection
	pubs   []*amqp.Channel
	live   <-chan amqp.Delivery // the live queue's deliveries (nil without an Observer)
	closed chan struct{}        // closed when the connection is lost

	bmu           sync.Mutex
	blockedReason string        // non-empty while the broker blocks publishers
	blockedNow    chan struct{} // closed when the broker starts blocking
}

// setBlocked records a connection.blocked / unblocked notification.
func (s *session) setBlocked(b amqp.Blocking) {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	switch {
	case b.Active && s.blockedReason == "":
		s.blockedReason = b.Reason
		if s.blockedReason == "" {
			s.blockedReason = "resource alarm"
		}
		close(s.blockedNow)
	case !b.Active && s.blockedReason != "":
		s.blockedReason = ""
		s.blockedNow = make(chan struct{})
	}
}

// blocked returns why the broker blocks publishers ("" when it does not)
// and a channel closed when it starts to.
func (s *session) blocked() (string, <-chan struct{}) {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	return s.blockedReason, s.blockedNow
}

// errBlocked cancels a confirm wait when the broker starts blocking.
var errBlocked = errors.New("broker blocked publishing")

// blockedError is what a publish refused (or cut short) by a broker alarm
// returns: a FullError naming the alarm, with a retry delay.
func blockedError(reason string) error {
	return &pipeline.FullError{RetryAfter: time.Second, Reason: "broker blocked publishing: " + reason}
}

var _ pipeline.Queue = (*Queue)(nil)

// New connects to the broker (waiting at most Options.ConnectTimeout),
// declares the topology and starts the connection manager, which keeps the
// connection up until Shutdown.
func New(ctx context.Context, opts Options) (*Queue, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	q := &Queue{
		opts:    opts,
		log:     opts.Logger,
		changed: make(chan struct{}),
		stop:    make(chan struct{}),
		stopRun: make(chan struct{}),
		done:    make(chan struct{}),
	}
	q.brokerDepth.Store(-1)
	cctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	var sess *session
	var lastErr error
	for attempt := 0; ; attempt++ {
		s, err := q.connect()
		if err == nil {
			sess = s
			break
		}
		lastErr = err
		if !sleepCtx(cctx, q.backoff(attempt)) {
			return nil, fmt.Errorf("rabbitmq: connect to %s: %w", redact(opts.URL), lastErr)
		}
	}
	q.setSession(sess)
	go q.manage(sess)
	return q, nil
}

// connect dials, declares the topology and opens the publisher channels.
func (q *Queue) connect() (*session, error) {
	cfg := amqp.Config{
		Heartbeat:  10 * time.Second,
		Locale:     "en_US",
		Dial:       amqp.DefaultDial(5 * time.Second),
		Properties: amqp.Table{"connection_name": q.opts.Name},
	}
	conn, err := amqp.DialConfig(q.opts.URL, cfg)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	s := &session{conn: conn, closed: make(chan struct{}), blockedNow: make(chan struct{})}
	if err := q.declare(conn); err != nil {
		_ = conn.Close()
		return nil, err
	}
	for i := 0; i < q.opts.PublishChannels; i++ {
		ch, err := conn.Channel()
		if err == nil {
			err = ch.Confirm(false)
		}
		if err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("open publisher channel: %w", err)
		}
		s.pubs = append(s.pubs, ch)
	}
	if _, s.live, err = q.openLive(conn); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return s, nil
}

// queueArgs are the arguments of the storage and dead-letter queues.
func (q *Queue) queueArgs() amqp.Table {
	if q.opts.QueueType == QueueClassic {
		return amqp.Table{"x-queue-type": "classic", "x-queue-version": int32(2)}
	}
	return amqp.Table{"x-queue-type": "quorum"}
}

// declare declares the exchange and the durable queues.
func (q *Queue) declare(conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if err := ch.ExchangeDeclare(q.opts.Exchange, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %q: %w", q.opts.Exchange, err)
	}
	for _, name := range []string{q.opts.Queue, q.opts.deadLetterQueue()} {
		if _, err := ch.QueueDeclare(name, true, false, false, false, q.queueArgs()); err != nil {
			return fmt.Errorf("declare %s queue %q (an existing queue of another type needs deleting first): %w", q.opts.QueueType, name, err)
		}
	}
	if err := ch.QueueBind(q.opts.Queue, "", q.opts.Exchange, false, nil); err != nil {
		return fmt.Errorf("bind queue %q to %q: %w", q.opts.Queue, q.opts.Exchange, err)
	}
	return nil
}

// manage owns the connection: it watches it, reconnects with backoff when it
// is lost, runs the live consumer and polls the broker depth, until Shutdown.
// After a reconnection it tells a pipeline.GapObserver that batches
// published since the last live delivery may be missing from the live view:
// the old live queue, and what it held, went with the connection.
func (q *Queue) manage(sess *session) {
	defer close(q.done)
	var liveLost time.Time // the last live delivery before the connection was lost
	for attempt := 0; ; {
		if sess != nil {
			attempt = 0
			q.watch(sess) // until the connection is lost or stop
			q.setSession(nil)
			select {
			case <-q.stop:
				return
			default:
			}
			liveLost = time.Unix(0, q.lastLive.Load())
			q.log.Warn("rabbitmq: connection lost; reconnecting")
			sess = nil
		}
		if !sleepChan(q.stop, q.backoff(attempt)) {
			return
		}
		s, err := q.connect()
		if err != nil {
			attempt++
			if attempt == 1 || attempt%10 == 0 {
				q.log.Warn("rabbitmq: reconnect", zap.Int("attempt", attempt), zap.Error(err))
			}
			continue
		}
		q.reconnects.Add(1)
		q.log.Info("rabbitmq: reconnected", zap.Int("attempts", attempt+1))
		sess = s
		q.setSession(s)
		if g, ok := q.opts.Observer.(pipeline.GapObserver); ok && s.live != nil {
			g.ObserveGap(pipeline.LiveGap{From: liveLost, To: time.Now(), Batches: -1, Records: -1,
				Reason: "the connection to the broker was lost; batches published meanwhile are not in the live view"})
		}
	}
}

// watch runs the live consumer and the depth poller of sess until the
// connection is lost or Shutdown; it closes the connection before it returns.
func (q *Queue) watch(s *session) {
	lost := s.conn.NotifyClose(make(chan *amqp.Error, 1))
	blocked := s.conn.NotifyBlocked(make(chan amqp.Blocking, 4))
	var chLost []chan *amqp.Error
	for _, ch := range s.pubs {
		chLost = append(chLost, ch.NotifyClose(make(chan *amqp.Error, 1)))
	}
	pubLost := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for _, c := range chLost {
		wg.Add(1)
		go func(c chan *amqp.Error) {
			defer wg.Done()
			// amqp091 closes c when the channel or the connection closes.
			if e, ok := <-c; ok && e != nil {
				q.log.Warn("rabbitmq: publisher channel closed", zap.Error(e))
				once.Do(func() { close(pubLost) })
			}
		}(c)
	}
	wg.Add(2)
	go func() { defer wg.Done(); q.runLive(s) }()
	go func() { defer wg.Done(); q.pollDepth(s) }()
	defer func() {
		close(s.closed)
		_ = s.conn.Close() // ends the live consumer, the poller and the channel watchers
		wg.Wait()
	}()
	for {
		select {
		case e := <-lost:
			if e != nil {
				q.log.Warn("rabbitmq: connection closed", zap.Error(e))
			}
			return
		case b := <-blocked:
			s.setBlocked(b)
			q.log.Warn("rabbitmq: broker flow control", zap.Bool("blocked", b.Active), zap.String("reason", b.Reason))
		case <-pubLost:
			return // a publisher channel died: start over on a new connection
		case <-q.stop:
			return
		}
	}
}

// pollDepth reads the storage queue's depth every 2 s.
func (q *Queue) pollDepth(s *session) {
	defer q.brokerDepth.Store(-1)
	var ch *amqp.Channel
	defer func() {
		if ch != nil {
			_ = ch.Close()
		}
	}()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		if ch == nil || ch.IsClosed() {
			c, err := s.conn.Channel()
			if err != nil {
				return // connection gone
			}
			ch = c
		}
		if qi, err := ch.QueueDeclarePassive(q.opts.Queue, true, false, false, false, q.queueArgs()); err == nil {
			q.brokerDepth.Store(int64(qi.Messages))
		}
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
	}
}

func (q *Queue) setSession(s *session) {
	q.mu.Lock()
	q.sess = s
	close(q.changed)
	q.changed = make(chan struct{})
	q.mu.Unlock()
}

// current returns the live session (nil while down) and a channel closed at
// the next change.
func (q *Queue) current() (*session, <-chan struct{}, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.sess, q.changed, q.closing
}

// Publish sends b to the broker and waits for its confirm.
func (q *Queue) Publish(ctx context.Context, b *sawmillv1.LogBatch) error {
	s, _, closing := q.current()
	if closing {
		return fmt.Errorf("rabbitmq: batch %s: %w", b.GetBatchId(), ErrClosed)
	}
	if s == nil {
		return fmt.Errorf("rabbitmq: batch %s: broker not connected: %w", b.GetBatchId(), pipeline.ErrUnavailable)
	}
	reason, blockedNow := s.blocked()
	if reason != "" {
		return blockedError(reason)
	}
	body, err := proto.Marshal(b)
	if err != nil {
		return pipeline.Permanent(fmt.Errorf("rabbitmq: encode batch %s: %w", b.GetBatchId(), err))
	}
	ch := s.pubs[q.next.Add(1)%uint64(len(s.pubs))]
	q.inflight.Add(1)
	q.inflightBytes.Add(int64(len(body)))
	defer func() {
		q.inflight.Add(-1)
		q.inflightBytes.Add(-int64(len(body)))
	}()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, q.opts.Exchange, "", false, false, amqp.Publishing{
		ContentType:  "application/x-protobuf",
		Type:         "sawmill.v1.LogBatch",
		MessageId:    b.GetBatchId(),
		DeliveryMode: amqp.Persistent,
		Timestamp:    time.Now(),
		Body:         body,
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("rabbitmq: publish batch %s: %w (%w)", b.GetBatchId(), pipeline.ErrUnavailable, err)
	}
	// A broker that raises an alarm stops confirming until it clears: a
	// publish under way then fails at once rather than at the client's
	// deadline. The broker may still store it; the client's retry of the
	// same batch id is stored once and shown once (the live hub dedupes).
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wctx, cancelT := context.WithTimeout(wctx, q.opts.ConfirmTimeout)
	defer cancelT()
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go func() {
		select {
		case <-blockedNow:
			cancel(errBlocked)
		case <-stopWatch:
		}
	}()
	ok, err := dc.WaitContext(wctx)
	switch {
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case err != nil && errors.Is(context.Cause(wctx), errBlocked):
		reason, _ := s.blocked()
		if reason == "" {
			reason = "resource alarm"
		}
		return blockedError(reason)
	case err != nil:
		return fmt.Errorf("rabbitmq: batch %s: no confirm within %s: %w", b.GetBatchId(), q.opts.ConfirmTimeout, pipeline.ErrUnavailable)
	case !ok:
		return fmt.Errorf("rabbitmq: batch %s: broker nacked it or the channel closed: %w", b.GetBatchId(), pipeline.ErrUnavailable)
	}
	q.published.Add(1)
	return nil
}

// Depth returns the backlog this replica can see, in batches: its publishes
// awaiting a confirm, the storage queue's ready messages (all replicas, as
// last polled) and the deliveries its own consumers hold unacknowledged
// (prefetched or being stored). Other replicas' unacknowledged deliveries
// are not visible over AMQP: with one replica it is the whole backlog. Bytes
// count what this replica knows the size of (its publishes and deliveries).
func (q *Queue) Depth() (batches, bytes int64) {
	return q.inflight.Load() + max(q.brokerDepth.Load(), 0) + q.unacked.Load(),
		q.inflightBytes.Load() + q.unackedBytes.Load()
}

// Unconfirmed returns this replica's publishes awaiting a confirm: what it
// still owes its clients, and all a graceful stop waits for (what the
// broker holds is durable already).
func (q *Queue) Unconfirmed() (batches, bytes int64) {
	return q.inflight.Load(), q.inflightBytes.Load()
}

// BrokerDepth returns the ready messages of the storage queue as last
// polled, or -1 while unknown. Ready messages exclude those delivered to a
// consumer and not yet acknowledged.
func (q *Queue) BrokerDepth() int64 { return q.brokerDepth.Load() }

// Unacked returns the deliveries this replica's storage consumers received
// and have not acknowledged yet (prefetched, or being stored), and their bytes.
func (q *Queue) Unacked() (messages, bytes int64) { return q.unacked.Load(), q.unackedBytes.Load() }

// Held returns the deliveries this replica's consumers handed to the
// Consumer and have not acknowledged yet.
func (q *Queue) Held() int64 { return q.held.Load() }

// Blocked returns why the broker blocks this replica's publishes (a memory
// or disk alarm: "low on memory"), or "" when it does not.
func (q *Queue) Blocked() string {
	s, _, _ := q.current()
	if s == nil {
		return ""
	}
	reason, _ := s.blocked()
	return reason
}

// DeadLettered returns the messages sent to the dead-letter queue.
func (q *Queue) DeadLettered() int64 { return q.deadLettered.Load() }

// Reconnects returns how often the connection was re-established.
func (q *Queue) Reconnects() int64 { return q.reconnects.Load() }

// Connected reports whether the broker connection is up.
func (q *Queue) Connected() bool {
	s, _, _ := q.current()
	return s != nil
}

// Shutdown stops accepting publishes, lets Run finish the delivery under
// way (until ctx ends), and closes the connection. It is idempotent.
func (q *Queue) Shutdown(ctx context.Context) error {
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		<-q.done
		return nil
	}
	q.closing = true
	runDone, cancelDelivery := q.runDone, q.cancelDelivery
	close(q.stopRun)
	q.mu.Unlock()
	var err error
	if runDone != nil {
		select {
		case <-runDone:
		case <-ctx.Done():
			err = fmt.Errorf("rabbitmq: shutdown: %w", ctx.Err())
			cancelDelivery() // unacknowledged deliveries return to the queue
		}
	}
	close(q.stop)
	<-q.done
	if runDone != nil {
		<-runDone // the connection is closed: Run returns promptly
	}
	return err
}

// backoff is the wait before attempt+1: exponential from 100 ms up to
// Options.ReconnectMax, with jitter in [d/2, d).
func (q *Queue) backoff(attempt int) time.Duration {
	return pipeline.Backoff(attempt, 100*time.Millisecond, q.opts.ReconnectMax)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func sleepChan(stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}

// redact hides the password of an AMQP URL.
func redact(u string) string {
	uri, err := amqp.ParseURI(u)
	if err != nil {
		return "(unparseable URL)"
	}
	uri.Password = "xxx"
	return uri.String()
}
