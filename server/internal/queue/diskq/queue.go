package diskq

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
)

// ErrClosed is returned by Publish and Run after Shutdown. It wraps
// pipeline.ErrUnavailable.
var ErrClosed = fmt.Errorf("diskq: queue is shut down: %w", pipeline.ErrUnavailable)

const (
	deadLetterDir   = "dead-letter"
	persistInterval = 100 * time.Millisecond
	// reclaimIdle is how long Run finds nothing to deliver before it
	// reclaims the delivered frames of the last segment.
	reclaimIdle   = time.Second
	minRetryAfter = 100 * time.Millisecond
	maxRetryAfter = 5 * time.Second
)

var _ pipeline.Queue = (*Queue)(nil)

// Queue is the embedded durable queue. Publish may be called from any number
// of goroutines; Run from one at a time.
type Queue struct {
	dir  string
	opts Options
	log  *zap.Logger
	lock *os.File

	reqs       chan *publishReq
	reclaims   chan chan reclaimResult // Run asks the committer to reclaim the last segment
	stopCommit chan struct{}
	commitDone chan struct{}
	stopRun    chan struct{}
	notify     chan struct{} // capacity 1: new frames are committed
	done       chan struct{} // closed when Shutdown has finished

	inflight     sync.WaitGroup // Publish calls past the closing check
	shutdownOnce sync.Once
	shutdownErr  error
	noPersist    atomic.Bool // tests: simulate a crash (skip the final ack write)
	reclaimIdle  time.Duration
	testHook     func(point string) // tests: called at each step of a reclaim and of an ack write

	c committer // owned by the committer goroutine

	persistMu   sync.Mutex // serializes ack writes and segment deletion
	lastPersist time.Time  // guarded by persistMu

	mu             sync.Mutex
	closing        bool
	running        bool
	runDone        chan struct{}
	cancelDelivery context.CancelFunc
	segs           []*segment // ascending; segs[0] holds the ack position; the last takes appends
	ack            position
	ackIdx         int64 // frames of segs[0] acknowledged since its start
	ackDirty       bool
	toDelete       []uint64 // fully acknowledged segments, deleted after the next ack write
	cache          entryFIFO
	cacheBytes     int64
	unackedBatches int64
	unackedBytes   int64
	reservedBytes  int64 // accepted by Publish, not yet committed
	rollReq        bool  // the reader found corruption in the last segment
	rateStart      time.Time
	rateBytes      int64
	drainRate      float64 // acknowledged bytes per second, smoothed
	stats          Stats
}

// Stats are counters since Open.
type Stats struct {
	Published       int64 // batches made durable
	Commits         int64 // group commits, i.e. fsyncs of a group
	Delivered       int64 // batches acknowledged after the consumer stored them
	DeadLettered    int64 // batches written to dead-letter/
	CorruptSegments int64 // segments cut short by a corrupt frame (at Open or while reading)
	Reclaimed       int64 // fully delivered last segments replaced by an empty one while idle
}

// entry is one committed frame waiting in the cache or being delivered.
type entry struct {
	pos       position
	idx       int64 // index of the frame in its segment, counted from the segment's start
	n         int64 // frame length including header
	batch     *sawmillv1.LogBatch
	raw       []byte // payload of a frame that could not be decoded
	decodeErr error
}

// Open opens (creating if needed) the queue in dir and recovers it: it
// validates every unacknowledged frame, truncates a torn tail, and positions
// Run at the first unacknowledged batch.
func Open(dir string, opts Options) (*Queue, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, deadLetterDir), 0o755); err != nil {
		return nil, fmt.Errorf("diskq: create %q: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	q := &Queue{
		dir:        dir,
		opts:       opts,
		log:        opts.Logger,
		lock:       lock,
		reqs:       make(chan *publishReq, 256),
		reclaims:   make(chan chan reclaimResult),
		stopCommit: make(chan struct{}),
		commitDone: make(chan struct{}),
		stopRun:    make(chan struct{}),
		notify:     make(chan struct{}, 1),
		done:       make(chan struct{}),
		rateStart:  time.Now(),

		reclaimIdle: reclaimIdle,
	}
	if err := q.recover(); err != nil {
		lock.Close()
		if q.c.active != nil {
			q.c.active.Close()
		}
		return nil, err
	}
	go q.commitLoop()
	return q, nil
}

// recover rebuilds the in-memory state from dir.
func (q *Queue) recover() error {
	// A temporary ack file left by a write that failed only takes space.
	if err := os.Remove(filepath.Join(q.dir, ackFileName+".tmp")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		q.log.Warn("diskq: remove stale temporary ack file", zap.Error(err))
	}
	ack, haveAck, err := readAck(q.dir)
	if err != nil {
		q.log.Warn("diskq: ignoring unreadable ack position; replaying from the oldest segment", zap.Error(err))
	}
	ids, err := listSegments(q.dir)
	if err != nil {
		return err
	}
	// Segments before the ack segment are fully acknowledged.
	var keep []uint64
	for _, id := range ids {
		if haveAck && id < ack.seg {
			if err := os.Remove(segmentPath(q.dir, id)); err != nil {
				q.log.Warn("diskq: remove acknowledged segment", zap.Uint64("segment", id), zap.Error(err))
			}
			continue
		}
		keep = append(keep, id)
	}
	for i, id := range keep {
		path := segmentPath(q.dir, id)
		var start int64
		if haveAck && id == ack.seg {
			start = ack.off
		}
		res, size, err := scanSegment(path, start)
		if err != nil {
			return err
		}
		if start > size {
			q.log.Warn("diskq: ack position beyond the end of its segment", zap.String("segment", path), zap.Int64("offset", start), zap.Int64("size", size))
			start = size
		}
		s := &segment{id: id, start: start, end: res.end, frames: res.frames}
		last := i == len(keep)-1
		if res.corrupt != nil {
			if last {
				q.log.Warn("diskq: truncating torn or corrupt tail",
					zap.String("segment", path), zap.Int64("offset", res.end), zap.Int64("dropped_bytes", size-res.end), zap.String("reason", res.corrupt.reason))
				if err := os.Truncate(path, res.end); err != nil {
					return fmt.Errorf("diskq: truncate segment %q at %d: %w", path, res.end, err)
				}
			} else {
				q.log.Error("diskq: corrupt frame inside a segment; skipping the rest of it",
					zap.String("segment", path), zap.Int64("offset", res.end), zap.Int64("skipped_bytes", size-res.end), zap.String("reason", res.corrupt.reason))
				s.corrupt = true
				q.stats.CorruptSegments++
			}
		}
		q.segs = append(q.segs, s)
		q.unackedBatches += s.frames
		q.unackedBytes += s.end - s.start
	}
	// Segment ids only grow, so an ack position never points into a newer file.
	q.c.nextID = 1
	if haveAck {
		q.c.nextID = ack.seg + 1
	}
	if len(keep) > 0 {
		q.c.nextID = max(q.c.nextID, keep[len(keep)-1]+1)
	}
	if len(q.segs) == 0 || q.segs[len(q.segs)-1].corrupt {
		q.c.q = q
		if err := q.c.roll(); err != nil {
			return err
		}
		q.segs = append(q.segs, &segment{id: q.c.activeID})
	} else {
		s := q.segs[len(q.segs)-1]
		f, err := os.OpenFile(segmentPath(q.dir, s.id), os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("diskq: open segment %q for append: %w", segmentPath(q.dir, s.id), err)
		}
		if _, err := f.Seek(s.end, 0); err != nil {
			f.Close()
			return fmt.Errorf("diskq: seek segment %q to %d: %w", segmentPath(q.dir, s.id), s.end, err)
		}
		q.c.active, q.c.activeID, q.c.activeSize = f, s.id, s.end
	}
	q.c.q = q
	q.ack = position{seg: q.segs[0].id, off: q.segs[0].start}
	q.normalizeAckLocked()
	if q.unackedBatches > 0 {
		q.log.Info("diskq: recovered unacknowledged batches", zap.String("dir", q.dir),
			zap.Int64("batches", q.unackedBatches), zap.Int64("bytes", q.unackedBytes), zap.Int("segments", len(q.segs)))
	}
	return nil
}

// Publish makes b durable: it returns nil once b is written and fsynced.
// Concurrent calls share one write and one fsync. Publish keeps b (for Run
// and the Observer); the caller must not modify it afterwards. Errors: a
// *pipeline.FullError when MaxBytes would be exceeded, ErrClosed after
// Shutdown, an error wrapping pipeline.ErrUnavailable when the disk write
// failed, or ctx's error (the batch may then still become durable).
func (q *Queue) Publish(ctx context.Context, b *sawmillv1.LogBatch) error {
	if b == nil {
		return errors.New("diskq: publish: nil batch")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	frame, err := encodeFrame(b)
	if err != nil {
		return err
	}
	n := int64(len(frame))
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		putFrame(frame)
		return ErrClosed
	}
	if n > q.opts.MaxBytes {
		q.mu.Unlock()
		putFrame(frame)
		return fmt.Errorf("diskq: publish batch %q: %d bytes exceed the queue bound of %d bytes", b.GetBatchId(), n, q.opts.MaxBytes)
	}
	if q.unackedBytes+q.reservedBytes+n > q.opts.MaxBytes {
		d := q.retryAfterLocked(q.unackedBytes + q.reservedBytes + n - q.opts.MaxBytes)
		q.mu.Unlock()
		putFrame(frame)
		return &pipeline.FullError{RetryAfter: d}
	}
	q.reservedBytes += n
	q.inflight.Add(1)
	q.mu.Unlock()
	defer q.inflight.Done()

	r := &publishReq{frame: frame, n: n, batch: b, done: make(chan error, 1)}
	select {
	case q.reqs <- r:
	case <-ctx.Done():
		q.mu.Lock()
		q.reservedBytes -= n
		q.mu.Unlock()
		putFrame(frame) // never handed to the committer
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryAfterLocked estimates when need bytes will have been acknowledged.
func (q *Queue) retryAfterLocked(need int64) time.Duration {
	rate := q.drainRate
	if el := time.Since(q.rateStart); el > time.Second {
		// No window closed lately: the drain is slow or stopped.
		rate = min(rate, float64(q.rateBytes)/el.Seconds())
	}
	if rate <= 0 {
		return maxRetryAfter
	}
	d := time.Duration(float64(need) / rate * float64(time.Second))
	return min(max(d, minRetryAfter), maxRetryAfter)
}

// Depth reports the batches and bytes (frames on disk) not yet acknowledged.
func (q *Queue) Depth() (batches, bytes int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.unackedBatches, q.unackedBytes
}

// DeadLettered reports the batches dead-lettered since Open.
func (q *Queue) DeadLettered() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stats.DeadLettered
}

// Stats returns counters since Open.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stats
}

// Shutdown stops accepting batches (Publish then returns ErrClosed), waits
// for the publishes under way to be committed, lets Run finish the delivery
// under way and return, writes the ack position and closes the files. It is
// idempotent. If ctx ends first, the delivery under way is cancelled and
// ctx's error returned; the queue still finishes closing in the background.
func (q *Queue) Shutdown(ctx context.Context) error {
	q.shutdownOnce.Do(func() { go q.shutdown() })
	select {
	case <-q.done:
		return q.shutdownErr
	case <-ctx.Done():
		q.mu.Lock()
		if q.cancelDelivery != nil {
			q.cancelDelivery()
		}
		q.mu.Unlock()
		return fmt.Errorf("diskq: shutdown: %w", ctx.Err())
	}
}

func (q *Queue) shutdown() {
	defer close(q.done)
	q.mu.Lock()
	q.closing = true
	runDone := q.runDone
	if !q.running {
		runDone = nil
	}
	q.mu.Unlock()
	close(q.stopRun)
	q.inflight.Wait()
	close(q.stopCommit)
	<-q.commitDone
	if runDone != nil {
		<-runDone
	}
	var errs []error
	if !q.noPersist.Load() {
		errs = append(errs, q.persistAck())
	}
	if q.c.active != nil {
		if err := q.c.active.Close(); err != nil {
			errs = append(errs, fmt.Errorf("diskq: close segment %d: %w", q.c.activeID, err))
		}
		q.c.active = nil
	}
	if err := q.lock.Close(); err != nil {
		errs = append(errs, fmt.Errorf("diskq: release lock: %w", err))
	}
	q.shutdownErr = errors.Join(errs...)
}

// ackLocked acknowledges es, which are the oldest unacknowledged frames.
func (q *Queue) ackLocked(es []*entry) {
	var bytes int64
	for _, e := range es {
		bytes += e.n
	}
	last := es[len(es)-1]
	q.unackedBatches -= int64(len(es))
	q.unackedBytes -= bytes
	q.ack = position{seg: last.pos.seg, off: last.pos.off + last.n}
	q.ackIdx = last.idx + 1
	q.ackDirty = true
	q.normalizeAckLocked()

	q.rateBytes += bytes
	if el := time.Since(q.rateStart); el >= 500*time.Millisecond {
		inst := float64(q.rateBytes) / el.Seconds()
		if q.drainRate == 0 {
			q.drainRate = inst
		} else {
			q.drainRate = 0.5*q.drainRate + 0.5*inst
		}
		q.rateStart, q.rateBytes = time.Now(), 0
	}
}

// normalizeAckLocked drops fully acknowledged segments (never the last one)
// and moves the ack position to the next segment's start.
func (q *Queue) normalizeAckLocked() {
	for len(q.segs) > 1 {
		s := q.segs[0]
		if s.id > q.ack.seg || (s.id == q.ack.seg && q.ack.off < s.end) {
			break
		}
		q.toDelete = append(q.toDelete, s.id)
		q.segs[0] = nil
		q.segs = q.segs[1:]
		if s.id == q.ack.seg {
			n := q.segs[0]
			q.ack, q.ackIdx, q.ackDirty = position{seg: n.id, off: n.start}, 0, true
		}
	}
}

// persistAck writes the ack position if it changed and then deletes the
// segments behind it.
func (q *Queue) persistAck() error {
	q.persistMu.Lock()
	defer q.persistMu.Unlock()
	q.lastPersist = time.Now()
	q.mu.Lock()
	dirty, pos, del := q.ackDirty, q.ack, q.toDelete
	q.ackDirty, q.toDelete = false, nil
	q.mu.Unlock()
	if dirty {
		if err := writeAck(q.dir, pos); err != nil {
			q.mu.Lock()
			q.ackDirty = true
			q.toDelete = append(del, q.toDelete...)
			q.mu.Unlock()
			return err
		}
		q.hook("ack written")
	}
	var errs []error
	for _, id := range del {
		if err := os.Remove(segmentPath(q.dir, id)); err != nil && !os.IsNotExist(err) {
			errs = append(errs, fmt.Errorf("diskq: remove acknowledged segment %d: %w", id, err))
		}
	}
	if len(del) > 0 {
		q.hook("segments deleted")
	}
	return errors.Join(errs...)
}

// hook calls the test hook, if any.
func (q *Queue) hook(point string) {
	if q.testHook != nil {
		q.testHook(point)
	}
}

// reclaimableLocked reports whether every frame of the last segment, which
// holds some, is acknowledged and no publish is under way: then the segment
// can be replaced by an empty one and deleted.
func (q *Queue) reclaimableLocked() bool {
	s := q.segs[len(q.segs)-1]
	return len(q.segs) == 1 && s.end > 0 && q.ack == position{seg: s.id, off: s.end} && q.reservedBytes == 0
}

// sincePersist reports the time since the last ack write and whether an ack
// is waiting to be written.
func (q *Queue) sincePersist() (time.Duration, bool) {
	q.persistMu.Lock()
	last := q.lastPersist
	q.persistMu.Unlock()
	q.mu.Lock()
	dirty := q.ackDirty || len(q.toDelete) > 0
	q.mu.Unlock()
	return time.Since(last), dirty
}

// entryFIFO is a queue of entries in publish order.
type entryFIFO struct {
	buf  []*entry
	head int
}

func (f *entryFIFO) len() int { return len(f.buf) - f.head }

func (f *entryFIFO) push(e *entry) { f.buf = append(f.buf, e) }

func (f *entryFIFO) front() *entry {
	if f.len() == 0 {
		return nil
	}
	return f.buf[f.head]
}

func (f *entryFIFO) pop() *entry {
	e := f.buf[f.head]
	f.buf[f.head] = nil
	f.head++
	if f.head == len(f.buf) {
		f.buf, f.head = f.buf[:0], 0
	} else if f.head > 1024 && f.head > len(f.buf)/2 {
		n := copy(f.buf, f.buf[f.head:])
		clear(f.buf[n:])
		f.buf, f.head = f.buf[:n], 0
	}
	return e
}
