package direct

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
)

// ErrClosed is returned by Publish and Run after Shutdown.
var ErrClosed = errors.New("direct: queue shut down")

// ErrRunning is returned by Run while another Run is active.
var ErrRunning = errors.New("direct: Run is already running")

// Options configure a Queue; zero values take defaults.
type Options struct {
	Writers         int   // concurrent store calls (default 2)
	MaxBatches      int   // batches per store call (default 64)
	MaxRecords      int   // records per store call (default 32768)
	MaxPendingBytes int64 // bound of what waits for a writer (default 64 MiB)
	Observer        pipeline.Observer
}

type request struct {
	b    *sawmillv1.LogBatch
	size int64
	done chan error
}

// Queue is the broker-less publisher; see the package comment.
type Queue struct {
	opts Options

	mu           sync.Mutex
	pending      []*request
	pendingBytes int64
	running      bool
	closing      bool
	wake         chan struct{} // signalled when pending grows
	stop         chan struct{} // closed by Shutdown
	runDone      chan struct{}
}

var _ pipeline.Queue = (*Queue)(nil)

// New returns a Queue; Publish works once Run runs.
func New(opts Options) *Queue {
	if opts.Writers <= 0 {
		opts.Writers = 2
	}
	if opts.MaxBatches <= 0 {
		opts.MaxBatches = 64
	}
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = 32768
	}
	if opts.MaxPendingBytes <= 0 {
		opts.MaxPendingBytes = 64 << 20
	}
	return &Queue{opts: opts, wake: make(chan struct{}, 1), stop: make(chan struct{})}
}

// Publish stores b through the running Consumer and returns its result.
func (q *Queue) Publish(ctx context.Context, b *sawmillv1.LogBatch) error {
	r := &request{b: b, size: int64(proto.Size(b)), done: make(chan error, 1)}
	q.mu.Lock()
	switch {
	case q.closing:
		q.mu.Unlock()
		return fmt.Errorf("direct: batch %s: %w", b.GetBatchId(), ErrClosed)
	case !q.running:
		q.mu.Unlock()
		return fmt.Errorf("direct: batch %s: store writer not running: %w", b.GetBatchId(), pipeline.ErrUnavailable)
	case q.pendingBytes > 0 && q.pendingBytes+r.size > q.opts.MaxPendingBytes:
		q.mu.Unlock()
		return &pipeline.FullError{RetryAfter: 100 * time.Millisecond}
	}
	q.pending = append(q.pending, r)
	q.pendingBytes += r.size
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err() // it may still be stored; a retry is skipped as a duplicate
	}
}

// Run stores published batches through c until ctx ends or Shutdown; it
// returns nil on a clean stop. Publishes pending then fail.
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
	q.running = true
	q.runDone = make(chan struct{})
	done := q.runDone
	q.mu.Unlock()
	var wg sync.WaitGroup
	for i := 0; i < q.opts.Writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q.write(ctx, c)
		}()
	}
	wg.Wait()
	q.mu.Lock()
	q.running = false
	left := q.pending
	q.pending, q.pendingBytes = nil, 0
	q.mu.Unlock()
	for _, r := range left {
		r.done <- fmt.Errorf("direct: batch %s: stopping: %w", r.b.GetBatchId(), pipeline.ErrUnavailable)
	}
	close(done)
	return nil
}

// take removes up to the per-call bounds of pending requests.
func (q *Queue) take() []*request {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, records := 0, 0
	for n < len(q.pending) && n < q.opts.MaxBatches {
		records += len(q.pending[n].b.GetRecords())
		n++
		if records >= q.opts.MaxRecords {
			break
		}
	}
	rs := q.pending[:n:n]
	q.pending = q.pending[n:]
	for _, r := range rs {
		q.pendingBytes -= r.size
	}
	if len(q.pending) > 0 {
		select {
		case q.wake <- struct{}{}: // more for another writer
		default:
		}
	}
	return rs
}

func (q *Queue) write(ctx context.Context, c pipeline.Consumer) {
	for {
		select {
		case <-q.wake:
		case <-q.stop:
			return
		case <-ctx.Done():
			return
		}
		for {
			rs := q.take()
			if len(rs) == 0 {
				break
			}
			q.store(ctx, c, rs)
		}
	}
}

// store writes rs in one call and answers their publishers.
func (q *Queue) store(ctx context.Context, c pipeline.Consumer, rs []*request) {
	bs := make([]*sawmillv1.LogBatch, len(rs))
	for i, r := range rs {
		bs[i] = r.b
	}
	err := c.ConsumeBatches(ctx, bs)
	if err != nil && pipeline.IsPermanent(err) && len(rs) > 1 {
		for i := range rs { // find the batches that fail on their own
			q.store(ctx, c, rs[i:i+1])
		}
		return
	}
	for _, r := range rs {
		switch {
		case err == nil:
			if q.opts.Observer != nil {
				q.opts.Observer.Observe(r.b)
			}
			r.done <- nil
		case pipeline.IsPermanent(err):
			r.done <- fmt.Errorf("direct: batch %s: %w", r.b.GetBatchId(), err)
		default:
			r.done <- fmt.Errorf("direct: batch %s: %w (%w)", r.b.GetBatchId(), pipeline.ErrUnavailable, err)
		}
	}
}

// Depth returns what waits for a writer.
func (q *Queue) Depth() (batches, bytes int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return int64(len(q.pending)), q.pendingBytes
}

// Shutdown stops accepting publishes and stops Run once the store calls
// under way return (or ctx ends). It is idempotent.
func (q *Queue) Shutdown(ctx context.Context) error {
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		return nil
	}
	q.closing = true
	close(q.stop)
	done := q.runDone
	q.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("direct: shutdown: %w", ctx.Err())
	}
}
