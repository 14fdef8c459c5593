package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
)

// ErrRunning is returned by Run while another Run is active.
var ErrRunning = errors.New("rabbitmq: Run is already running")

// Run consumes the storage queue with Options.Consumers consumers until ctx
// ends or Shutdown is called (both a clean stop: nil), handing messages to c
// and acknowledging them once c returned nil. Deliveries not acknowledged
// when Run stops go back to the queue.
func (q *Queue) Run(ctx context.Context, c pipeline.Consumer) error {
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		return ErrClosed
	}
	if q.running {
		q.mu.Unlock()
		return ErrRunning
	}
	dctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	q.running, q.runDone, q.cancelDelivery = true, done, cancel
	q.mu.Unlock()
	defer func() {
		cancel()
		q.mu.Lock()
		q.running = false
		q.mu.Unlock()
		close(done)
	}()
	var wg sync.WaitGroup
	for i := 0; i < q.opts.Consumers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q.consumer(ctx, dctx, c)
		}()
	}
	wg.Wait()
	return nil
}

// stopping reports whether Run must stop.
func (q *Queue) stopping(ctx context.Context) bool {
	select {
	case <-q.stopRun:
		return true
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// wait sleeps d, or until Run must stop (false) or the session changes.
func (q *Queue) wait(ctx context.Context, d time.Duration, changed <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-changed:
	case <-q.stopRun:
		return false
	case <-ctx.Done():
		return false
	}
	return true
}

// consumer is one storage consumer: a channel with its own prefetch window,
// reopened on every new connection.
func (q *Queue) consumer(ctx, dctx context.Context, c pipeline.Consumer) {
	for attempt := 0; ; {
		if q.stopping(ctx) {
			return
		}
		s, changed, _ := q.current()
		if s == nil {
			if !q.wait(ctx, time.Minute, changed) {
				return
			}
			continue
		}
		ch, deliveries, err := q.openConsumer(s)
		if err != nil {
			q.log.Warn("rabbitmq: open consumer", zap.Error(err))
			if !q.wait(ctx, q.backoff(attempt), changed) {
				return
			}
			attempt++
			continue
		}
		attempt = 0
		q.consume(ctx, dctx, c, ch, deliveries)
		_ = ch.Close() // unacknowledged deliveries return to the queue
	}
}

func (q *Queue) openConsumer(s *session) (*amqp.Channel, <-chan amqp.Delivery, error) {
	ch, err := s.conn.Channel()
	if err != nil {
		return nil, nil, fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Qos(q.opts.Prefetch, 0, false); err != nil {
		_ = ch.Close()
		return nil, nil, fmt.Errorf("set prefetch %d: %w", q.opts.Prefetch, err)
	}
	ds, err := ch.Consume(q.opts.Queue, "", false, false, false, false, nil)
	if err != nil {
		_ = ch.Close()
		return nil, nil, fmt.Errorf("consume %q: %w", q.opts.Queue, err)
	}
	return ch, ds, nil
}

// consume handles deliveries until the channel closes or Run must stop.
func (q *Queue) consume(ctx, dctx context.Context, c pipeline.Consumer, ch *amqp.Channel, raw <-chan amqp.Delivery) {
	deliveries, settled := q.countUnacked(raw)
	defer settled(nil)
	ds := make([]amqp.Delivery, 0, q.opts.MaxDelivery)
	for {
		ds = ds[:0]
		select {
		case d, ok := <-deliveries:
			if !ok {
				return
			}
			ds = append(ds, d)
		case <-q.stopRun:
			return
		case <-ctx.Done():
			return
		}
	fill:
		for len(ds) < q.opts.MaxDelivery {
			select {
			case d, ok := <-deliveries:
				if !ok {
					break fill
				}
				ds = append(ds, d)
			default:
				break fill
			}
		}
		q.held.Add(int64(len(ds)))
		ok := q.handle(ctx, dctx, c, ds)
		q.held.Add(-int64(len(ds)))
		if !ok {
			return
		}
		settled(ds)
	}
}

// countUnacked forwards raw (the library buffers what the broker pushed, up
// to the prefetch window) and counts every delivery received in
// Queue.unacked until settled is called with it (acknowledged). settled(nil)
// ends the count: what is still unacknowledged returns to the queue with
// the channel, and leaves the count.
func (q *Queue) countUnacked(raw <-chan amqp.Delivery) (deliveries <-chan amqp.Delivery, settled func([]amqp.Delivery)) {
	out := make(chan amqp.Delivery, q.opts.Prefetch)
	done := make(chan struct{})
	exited := make(chan struct{})
	var mu sync.Mutex
	var n, nbytes int64 // this channel's share of the count
	add := func(dn, db int64) {
		mu.Lock()
		n, nbytes = n+dn, nbytes+db
		mu.Unlock()
		q.unacked.Add(dn)
		q.unackedBytes.Add(db)
	}
	go func() {
		defer close(exited)
		defer close(out)
		for {
			select {
			case d, ok := <-raw:
				if !ok {
					return
				}
				add(1, int64(len(d.Body)))
				select {
				case out <- d:
				case <-done:
					return
				}
			case <-done:
				return
			}
		}
	}()
	return out, func(ds []amqp.Delivery) {
		if ds != nil {
			var b int64
			for _, d := range ds {
				b += int64(len(d.Body))
			}
			add(-int64(len(ds)), -b)
			return
		}
		close(done)
		<-exited
		mu.Lock()
		dn, db := n, nbytes
		mu.Unlock()
		add(-dn, -db)
	}
}

// handle decodes ds, dead-letters what cannot be decoded and delivers the
// rest; it returns false if the channel is unusable or Run must stop (the
// unacknowledged deliveries then return to the queue).
func (q *Queue) handle(ctx, dctx context.Context, c pipeline.Consumer, ds []amqp.Delivery) bool {
	good := make([]amqp.Delivery, 0, len(ds))
	bs := make([]*sawmillv1.LogBatch, 0, len(ds))
	for _, d := range ds {
		b := new(sawmillv1.LogBatch)
		err := proto.Unmarshal(d.Body, b)
		if err == nil && b.GetBatchId() == "" {
			err = errors.New("batch has no id")
		}
		if err != nil {
			if !q.deadLetter(ctx, d, fmt.Errorf("decode batch: %w", err)) {
				return false
			}
			continue
		}
		good = append(good, d)
		bs = append(bs, b)
	}
	if len(good) == 0 {
		return true
	}
	return q.deliver(ctx, dctx, c, good, bs)
}

// deliver hands bs to c until they are stored or dead-lettered, then
// acknowledges ds.
func (q *Queue) deliver(ctx, dctx context.Context, c pipeline.Consumer, ds []amqp.Delivery, bs []*sawmillv1.LogBatch) bool {
	for attempt := 0; ; attempt++ {
		err := c.ConsumeBatches(dctx, bs)
		if err == nil {
			for _, d := range ds {
				if err := d.Ack(false); err != nil {
					q.log.Warn("rabbitmq: ack after store; the broker will deliver again (the store skips it)", zap.Error(err))
					return false
				}
			}
			q.delivered.Add(int64(len(ds)))
			return true
		}
		if pipeline.IsPermanent(err) {
			if len(ds) == 1 {
				return q.deadLetter(ctx, ds[0], err)
			}
			for i := range ds { // find the batches that fail on their own
				if !q.deliver(ctx, dctx, c, ds[i:i+1], bs[i:i+1]) {
					return false
				}
			}
			return true
		}
		if q.stopping(ctx) {
			return false
		}
		q.log.Warn("rabbitmq: store failed; retrying", zap.Int("batches", len(bs)), zap.String("first_batch_id", bs[0].GetBatchId()),
			zap.Int("attempt", attempt+1), zap.Error(err))
		if !q.wait(ctx, storeBackoff(attempt), nil) {
			return false
		}
	}
}

// storeBackoff is the wait before store retry attempt+1: 100 ms doubling to
// 5 s, with jitter.
func storeBackoff(attempt int) time.Duration {
	return pipeline.Backoff(attempt, 100*time.Millisecond, 5*time.Second)
}

// deadLetter publishes d to the dead-letter queue with reason (confirmed)
// and acknowledges it; false if that cannot be done before the channel dies
// or Run must stop (d then returns to the queue and is tried again).
func (q *Queue) deadLetter(ctx context.Context, d amqp.Delivery, reason error) bool {
	for attempt := 0; ; attempt++ {
		err := q.publishDeadLetter(ctx, d, reason)
		if err == nil {
			if err := d.Ack(false); err != nil {
				q.log.Warn("rabbitmq: ack dead-lettered message", zap.Error(err))
				return false
			}
			q.deadLettered.Add(1)
			q.log.Error("rabbitmq: dead-lettered a message", zap.String("message_id", d.MessageId),
				zap.String("queue", q.opts.deadLetterQueue()), zap.Error(reason))
			return true
		}
		q.log.Warn("rabbitmq: dead-letter publish; retrying", zap.Error(err))
		if q.stopping(ctx) || !q.wait(ctx, storeBackoff(attempt), nil) {
			return false
		}
		if s, _, _ := q.current(); s == nil {
			return false // the delivery's channel is gone with the connection
		}
	}
}

func (q *Queue) publishDeadLetter(ctx context.Context, d amqp.Delivery, reason error) error {
	s, _, _ := q.current()
	if s == nil {
		return pipeline.ErrUnavailable
	}
	ch := s.pubs[q.next.Add(1)%uint64(len(s.pubs))]
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", q.opts.deadLetterQueue(), false, false, amqp.Publishing{
		Headers: amqp.Table{
			"x-sawmill-reason":       reason.Error(),
			"x-sawmill-source-queue": q.opts.Queue,
			"x-sawmill-dead-at":      time.Now().UTC().Format(time.RFC3339Nano),
		},
		ContentType:  d.ContentType,
		Type:         d.Type,
		MessageId:    d.MessageId,
		DeliveryMode: amqp.Persistent,
		Timestamp:    d.Timestamp,
		Body:         d.Body,
	})
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, q.opts.ConfirmTimeout)
	defer cancel()
	ok, err := dc.WaitContext(wctx)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("dead-letter publish not confirmed")
	}
	return nil
}

// openLive declares this replica's exclusive live queue, binds it and
// starts consuming it, before the session is used: the live view then sees
// even the first batch this replica publishes.
func (q *Queue) openLive(conn *amqp.Connection) (*amqp.Channel, <-chan amqp.Delivery, error) {
	if q.opts.Observer == nil {
		return nil, nil, nil
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, nil, fmt.Errorf("open live channel: %w", err)
	}
	lq, err := ch.QueueDeclare("", false, true, true, false, amqp.Table{
		"x-max-length-bytes": int64(q.opts.LiveMaxBytes),
		"x-overflow":         "drop-head",
	})
	if err == nil {
		err = ch.QueueBind(lq.Name, "", q.opts.Exchange, false, nil)
	}
	var ds <-chan amqp.Delivery
	if err == nil {
		ds, err = ch.Consume(lq.Name, "", true, true, false, false, nil)
	}
	if err != nil {
		_ = ch.Close()
		return nil, nil, fmt.Errorf("live queue: %w", err)
	}
	return ch, ds, nil
}

// runLive feeds the Observer from the live queue until the connection
// closes.
func (q *Queue) runLive(s *session) {
	if s.live == nil {
		return
	}
	q.lastLive.Store(time.Now().UnixNano())
	for d := range s.live {
		q.lastLive.Store(time.Now().UnixNano())
		b := new(sawmillv1.LogBatch)
		if err := proto.Unmarshal(d.Body, b); err != nil {
			continue // the storage consumers dead-letter it
		}
		q.opts.Observer.Observe(b)
	}
}
