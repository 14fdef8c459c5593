package rabbitmq_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
	"github.com/sawmill-dev/sawmill/server/internal/queue/rabbitmq"
	"github.com/sawmill-dev/sawmill/server/internal/queue/rabbitmq/amqptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func batch(id string, n int) *sawmillv1.LogBatch {
	b := &sawmillv1.LogBatch{BatchId: id, Resource: &sawmillv1.Resource{Service: "orders"}}
	for i := 0; i < n; i++ {
		b.Records = append(b.Records, &sawmillv1.LogRecord{TimeUnixNano: uint64(time.Now().UnixNano()), Body: fmt.Sprintf("record %d of %s", i, id)})
	}
	return b
}

// recorder is a Consumer that remembers the batch ids it stored.
type recorder struct {
	mu    sync.Mutex
	ids   map[string]int
	calls int
	fail  func(bs []*sawmillv1.LogBatch) error
}

func newRecorder() *recorder { return &recorder{ids: map[string]int{}} }

func (r *recorder) ConsumeBatches(_ context.Context, bs []*sawmillv1.LogBatch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.fail != nil {
		if err := r.fail(bs); err != nil {
			return err
		}
	}
	for _, b := range bs {
		r.ids[b.GetBatchId()]++
	}
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

// observed counts the batches an Observer saw.
type observed struct {
	mu  sync.Mutex
	ids map[string]int
}

func (o *observed) Observe(b *sawmillv1.LogBatch) {
	o.mu.Lock()
	o.ids[b.GetBatchId()]++
	o.mu.Unlock()
}

func (o *observed) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.ids)
}

func open(t *testing.T, url string, mod func(*rabbitmq.Options)) *rabbitmq.Queue {
	t.Helper()
	opts := rabbitmq.Options{URL: url, Logger: zaptest.NewLogger(t), ReconnectMax: 300 * time.Millisecond, ConfirmTimeout: 5 * time.Second}
	if mod != nil {
		mod(&opts)
	}
	q, err := rabbitmq.New(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, q.Shutdown(ctx))
		assert.NoError(t, q.Shutdown(ctx), "Shutdown is idempotent")
	})
	return q
}

// run runs q.Run(c) until the test ends.
func run(t *testing.T, q *rabbitmq.Queue, c pipeline.Consumer) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, c) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
}

func publishAll(t *testing.T, q *rabbitmq.Queue, prefix string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			errs <- q.Publish(ctx, batch(fmt.Sprintf("%s-%04d", prefix, i), 10))
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestPublishConsumeObserve(t *testing.T) {
	for _, qt := range []string{rabbitmq.QueueQuorum, rabbitmq.QueueClassic} {
		t.Run(qt, func(t *testing.T) {
			url, _ := amqptest.NewVhost(t)
			obs := &observed{ids: map[string]int{}}
			q := open(t, url, func(o *rabbitmq.Options) { o.QueueType = qt; o.Observer = obs })
			rec := newRecorder()
			run(t, q, rec)
			publishAll(t, q, "b", 300) // 300 publishes in flight at once
			require.Eventually(t, func() bool { return rec.count() == 300 && obs.count() == 300 }, 20*time.Second, 20*time.Millisecond, "stored %d, observed %d", rec.count(), obs.count())
			rec.mu.Lock()
			for id, n := range rec.ids {
				assert.Equal(t, 1, n, "batch %s stored once", id)
			}
			assert.Less(t, rec.calls, 300, "deliveries carry several batches")
			rec.mu.Unlock()
			b, _ := q.Unconfirmed()
			assert.Zero(t, b, "nothing awaits a confirm")
		})
	}
}

func TestReplicasShareStorageAndSeeAllLive(t *testing.T) {
	url, _ := amqptest.NewVhost(t)
	obsA, obsB := &observed{ids: map[string]int{}}, &observed{ids: map[string]int{}}
	a := open(t, url, func(o *rabbitmq.Options) { o.Observer = obsA; o.Name = "a" })
	b := open(t, url, func(o *rabbitmq.Options) { o.Observer = obsB; o.Name = "b" })
	recA, recB := newRecorder(), newRecorder()
	run(t, a, recA)
	run(t, b, recB)
	publishAll(t, a, "a", 100)
	publishAll(t, b, "b", 100)
	require.Eventually(t, func() bool { return recA.count()+recB.count() == 200 && obsA.count() == 200 && obsB.count() == 200 },
		20*time.Second, 20*time.Millisecond)
	for id := range recA.ids {
		assert.NotContains(t, recB.ids, id, "a batch is stored by one replica")
	}
}

func TestUndecodableMessageIsDeadLettered(t *testing.T) {
	url, _ := amqptest.NewVhost(t)
	q := open(t, url, nil)
	rec := newRecorder()
	run(t, q, rec)

	conn, err := amqp.Dial(url)
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.PublishWithContext(context.Background(), "sawmill.logs", "", false, false,
		amqp.Publishing{MessageId: "garbage", Body: []byte{0xff, 0xff, 0xff, 0x01}}))
	publishAll(t, q, "ok", 5)

	require.Eventually(t, func() bool { return q.DeadLettered() == 1 && rec.count() == 5 }, 10*time.Second, 20*time.Millisecond)
	var msg amqp.Delivery
	require.Eventually(t, func() bool {
		var ok bool
		msg, ok, err = ch.Get("sawmill.store.dead-letter", true)
		require.NoError(t, err)
		return ok
	}, 5*time.Second, 50*time.Millisecond)
	assert.Equal(t, "garbage", msg.MessageId)
	assert.Equal(t, []byte{0xff, 0xff, 0xff, 0x01}, msg.Body)
	assert.Contains(t, msg.Headers["x-sawmill-reason"], "decode batch")
}

func TestConsumerErrors(t *testing.T) {
	url, _ := amqptest.NewVhost(t)
	q := open(t, url, nil)
	rec := newRecorder()
	var transient atomic.Int32
	rec.fail = func(bs []*sawmillv1.LogBatch) error {
		for _, b := range bs {
			if b.GetBatchId() == "poison" {
				return pipeline.Permanent(errors.New("cannot store poison"))
			}
		}
		if transient.Add(1) <= 3 {
			return errors.New("database away")
		}
		return nil
	}
	run(t, q, rec)
	require.NoError(t, q.Publish(context.Background(), batch("poison", 1)))
	publishAll(t, q, "ok", 20)
	require.Eventually(t, func() bool { return q.DeadLettered() == 1 && rec.count() == 20 }, 20*time.Second, 20*time.Millisecond)
	assert.NotContains(t, rec.ids, "poison")
}

func TestUnavailableWhileBrokerAwayThenResumes(t *testing.T) {
	url, vhost := amqptest.NewVhost(t)
	q := open(t, url, nil)
	rec := newRecorder()
	run(t, q, rec)
	publishAll(t, q, "before", 10)

	// The broker refuses this vhost: the connection drops and reconnecting fails.
	require.NoError(t, amqptest.Revoke(vhost))
	require.NoError(t, amqptest.CloseConnections(vhost))
	require.Eventually(t, func() bool { return !q.Connected() }, 10*time.Second, 10*time.Millisecond)
	start := time.Now()
	err := q.Publish(context.Background(), batch("while-away", 1))
	require.ErrorIs(t, err, pipeline.ErrUnavailable)
	assert.Less(t, time.Since(start), time.Second, "fails at once, nothing buffered")

	require.NoError(t, amqptest.Grant(vhost))
	require.Eventually(t, func() bool { return q.Connected() }, 10*time.Second, 20*time.Millisecond)
	assert.GreaterOrEqual(t, q.Reconnects(), int64(1))
	publishAll(t, q, "after", 10)
	require.Eventually(t, func() bool { return rec.count() == 20 }, 20*time.Second, 20*time.Millisecond)
}

func TestShutdownStopsPublishAndRun(t *testing.T) {
	url, _ := amqptest.NewVhost(t)
	q, err := rabbitmq.New(context.Background(), rabbitmq.Options{URL: url})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- q.Run(context.Background(), newRecorder()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, q.Shutdown(ctx))
	if err := <-done; err != nil {
		require.ErrorIs(t, err, rabbitmq.ErrClosed, "Run ends cleanly, or refuses to start after Shutdown")
	}
	assert.ErrorIs(t, q.Publish(ctx, batch("late", 1)), rabbitmq.ErrClosed)
	assert.ErrorIs(t, q.Run(ctx, newRecorder()), rabbitmq.ErrClosed)
}

func TestBadOptions(t *testing.T) {
	_, err := rabbitmq.New(context.Background(), rabbitmq.Options{})
	require.Error(t, err)
	_, err = rabbitmq.New(context.Background(), rabbitmq.Options{URL: amqptest.DefaultURL, QueueType: "stream"})
	require.ErrorContains(t, err, "quorum or classic")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = rabbitmq.New(ctx, rabbitmq.Options{URL: "amqp://guest:guest@127.0.0.1:1/", ConnectTimeout: time.Second})
	require.ErrorContains(t, err, "connect to amqp://guest:xxx@127.0.0.1:1/")
}
