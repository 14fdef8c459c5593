package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

// Publisher makes a validated batch durable.
//
// When Publish returns nil the batch survives a crash of this process: it is
// fsynced to the embedded queue, confirmed by the broker, or committed to the
// store. Publish may be called concurrently; it may keep b, and the caller
// must not modify b after the call. Errors are ErrFull (retry later),
// ErrUnavailable (a dependency is away, retry later), or a context error.
type Publisher interface {
	Publish(ctx context.Context, b *sawmillv1.LogBatch) error
}

// Consumer stores batches taken from a queue.
//
// ConsumeBatches returns nil only when every batch of bs is durable in the
// store; the queue then acknowledges them. It must be idempotent by batch id:
// a queue may deliver a batch again after a crash or a reconnect, and a batch
// id already stored is skipped. An error marked Permanent means the batches
// can never be stored (the queue dead-letters them); any other error is
// retried. ConsumeBatches is called from one goroutine per queue consumer and
// does not keep bs after it returns.
type Consumer interface {
	ConsumeBatches(ctx context.Context, bs []*sawmillv1.LogBatch) error
}

// ConsumerFunc adapts a function to Consumer.
type ConsumerFunc func(ctx context.Context, bs []*sawmillv1.LogBatch) error

// ConsumeBatches calls f.
func (f ConsumerFunc) ConsumeBatches(ctx context.Context, bs []*sawmillv1.LogBatch) error {
	return f(ctx, bs)
}

// Observer sees every durable batch once, soon after it was published, for
// the live tail, the recent cache and real-time rates. Observe must not
// block and must not modify b; it is best effort (a replica that restarts
// does not replay what its observers missed).
type Observer interface {
	Observe(b *sawmillv1.LogBatch)
}

// LiveGap tells an Observer that batches may have passed it unseen: the
// live view (not the store) missed them, between From and To.
type LiveGap struct {
	From, To time.Time
	// Batches and Records count what was missed; -1 when unknown (a broker
	// queue lost with its connection cannot say what it held).
	Batches, Records int64
	// Reason says why, in words for the person reading the tail.
	Reason string
}

// GapObserver is an Observer that wants to know when it may have missed
// batches (a queue that lost its live feed for a while tells it).
type GapObserver interface {
	ObserveGap(g LiveGap)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(b *sawmillv1.LogBatch)

// Observe calls f.
func (f ObserverFunc) Observe(b *sawmillv1.LogBatch) { f(b) }

// Queue is a durable queue between ingest and the store.
//
// Run delivers batches to c until ctx ends or Shutdown is called, retrying a
// failing Consumer with backoff; it returns nil on a clean stop. Depth
// reports what waits for the store (batches and bytes) for metrics and
// backpressure. Shutdown stops accepting new batches, lets Run finish the
// delivery under way, and releases the queue; it is idempotent.
type Queue interface {
	Publisher
	Run(ctx context.Context, c Consumer) error
	Depth() (batches, bytes int64)
	Shutdown(ctx context.Context) error
}

// ErrFull means the queue is at its bound; ingest answers ResourceExhausted
// with the retry delay of a FullError when there is one.
var ErrFull = errors.New("queue full")

// ErrUnavailable means a dependency (broker, database) cannot be reached;
// ingest answers Unavailable and the client retries the same batch id.
var ErrUnavailable = errors.New("unavailable")

// FullError is ErrFull with a hint of when to retry and, when it is not the
// queue's own bound, what is full.
type FullError struct {
	RetryAfter time.Duration
	// Reason says what refused the batch, in words for the client ("disk
	// nearly full: ...", "broker blocked publishing: low on memory"); empty
	// means the queue's own bound.
	Reason string
}

func (e *FullError) Error() string {
	reason := e.Reason
	if reason == "" {
		reason = "queue full"
	}
	return fmt.Sprintf("%s, retry after %s", reason, e.RetryAfter)
}

// Is makes errors.Is(err, ErrFull) true for a *FullError.
func (e *FullError) Is(target error) bool { return target == ErrFull }

type permanentError struct{ err error }

func (e permanentError) Error() string { return "permanent: " + e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot fix (for example a batch
// that cannot be decoded). It returns nil for a nil err.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Backoff is the wait before retry attempt+1 (attempt counts from 0):
// exponential from base, capped at limit, with jitter in [d/2, d) so that
// replicas retrying together spread out.
func Backoff(attempt int, base, limit time.Duration) time.Duration {
	d := limit
	if attempt >= 0 && attempt < 32 && base<<attempt > 0 {
		d = min(base<<attempt, limit)
	}
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}
