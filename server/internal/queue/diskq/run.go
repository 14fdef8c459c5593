package diskq

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
)

const (
	backoffBase = 100 * time.Millisecond
	backoffMax  = 5 * time.Second
)

// ErrRunning is returned by Run while another Run is active.
var ErrRunning = errors.New("diskq: Run is already running")

// Run delivers batches to c in publish order, from the oldest
// unacknowledged one, until ctx ends or Shutdown is called; both are a clean
// stop and return nil. A delivery is acknowledged once c returns nil. Errors
// marked pipeline.Permanent dead-letter the batches (see the package
// comment); other errors are retried with exponential backoff and jitter.
// After Shutdown Run returns ErrClosed; while another Run is active,
// ErrRunning.
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
	rd := &reader{q: q, pos: q.ack, idx: q.ackIdx}
	q.mu.Unlock()

	defer func() {
		rd.close()
		if !q.noPersist.Load() {
			if err := q.persistAck(); err != nil {
				q.log.Error("diskq: write ack position", zap.Error(err))
			}
		}
		q.mu.Lock()
		q.running, q.cancelDelivery = false, nil
		q.mu.Unlock()
		cancel()
		close(done)
	}()

	bs := make([]*sawmillv1.LogBatch, 0, q.opts.MaxDelivery)
	readFailures := 0
	for {
		if q.stopped(ctx) {
			return nil
		}
		es, err := rd.next(ctx)
		if err != nil {
			q.log.Error("diskq: read queue", zap.Error(err))
			if !q.sleep(ctx, backoff(readFailures)) {
				return nil
			}
			readFailures++
			continue
		}
		readFailures = 0
		if es == nil {
			return nil // stopped while waiting
		}
		if !q.deliver(dctx, c, es, bs) {
			return nil
		}
		if since, dirty := q.sincePersist(); dirty && since >= persistInterval {
			if err := q.persistAck(); err != nil {
				q.log.Error("diskq: write ack position", zap.Error(err))
			}
		}
	}
}

// stopped reports whether Shutdown was called or ctx ended.
func (q *Queue) stopped(ctx context.Context) bool {
	select {
	case <-q.stopRun:
		return true
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// sleep waits d; it returns false if Run must stop first.
func (q *Queue) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-q.stopRun:
		return false
	case <-ctx.Done():
		return false
	}
}

// backoff is the wait before retry attempt+1.
func backoff(attempt int) time.Duration {
	return pipeline.Backoff(attempt, backoffBase, backoffMax)
}

// deliver hands es to c until it is acknowledged (stored or dead-lettered);
// it returns false if Run must stop first (es stay unacknowledged).
func (q *Queue) deliver(ctx context.Context, c pipeline.Consumer, es []*entry, bs []*sawmillv1.LogBatch) bool {
	if es[0].batch == nil {
		return q.deadLetter(ctx, es, fmt.Errorf("decode batch: %w", es[0].decodeErr))
	}
	bs = bs[:0]
	for _, e := range es {
		bs = append(bs, e.batch)
	}
	defer clear(bs)
	for attempt := 0; ; attempt++ {
		err := c.ConsumeBatches(ctx, bs)
		if err == nil {
			q.mu.Lock()
			q.ackLocked(es)
			q.stats.Delivered += int64(len(es))
			q.mu.Unlock()
			return true
		}
		if pipeline.IsPermanent(err) {
			if len(es) == 1 {
				return q.deadLetter(ctx, es, err)
			}
			// Find the batches that fail on their own.
			for i := range es {
				if !q.deliver(ctx, c, es[i:i+1], nil) {
					return false
				}
			}
			return true
		}
		if q.stopped(ctx) {
			return false
		}
		q.log.Warn("diskq: consumer failed; retrying", zap.Int("batches", len(es)), zap.String("first_batch_id", es[0].batch.GetBatchId()), zap.Int("attempt", attempt+1), zap.Error(err))
		if !q.sleep(ctx, backoff(attempt)) {
			return false
		}
	}
}

// deadLetter writes es to dead-letter/ and acknowledges them, retrying the
// write with backoff; it returns false if Run must stop first.
func (q *Queue) deadLetter(ctx context.Context, es []*entry, reason error) bool {
	for attempt := 0; ; attempt++ {
		path, err := writeDeadLetter(q.dir, es, reason)
		if err == nil {
			q.log.Error("diskq: dead-lettered batches", zap.Int("batches", len(es)), zap.String("file", path), zap.Error(reason))
			q.mu.Lock()
			q.ackLocked(es)
			q.stats.DeadLettered += int64(len(es))
			q.mu.Unlock()
			return true
		}
		q.log.Error("diskq: write dead letter; retrying", zap.Error(err))
		if !q.sleep(ctx, backoff(attempt)) {
			return false
		}
	}
}

// reader is Run's cursor: the next frame to deliver.
type reader struct {
	q   *Queue
	pos position
	idx int64 // index of the frame at pos in its segment

	pending *entry // an undecodable frame held back for the next delivery

	f     *os.File
	fID   uint64
	fOff  int64
	br    *bufio.Reader
	frame []byte
}

func (r *reader) close() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// next returns the next delivery: up to MaxDelivery decodable batches (and
// ~32k records), or a single undecodable frame. It waits until at least one
// frame is committed; it returns nil, nil if Run must stop first.
func (r *reader) next(ctx context.Context) ([]*entry, error) {
	q := r.q
	if e := r.pending; e != nil {
		r.pending = nil
		return []*entry{e}, nil
	}
	var out []*entry
	records := 0
	for {
		e, err := r.step()
		if err != nil {
			if len(out) > 0 {
				return out, nil // the error comes back on the next call
			}
			return nil, err
		}
		if e == nil {
			if len(out) > 0 {
				return out, nil
			}
			if !r.wait(ctx) {
				return nil, nil
			}
			continue
		}
		if e.batch == nil {
			if len(out) > 0 {
				r.pending = e
				return out, nil
			}
			return []*entry{e}, nil
		}
		out = append(out, e)
		records += len(e.batch.GetRecords())
		if len(out) >= q.opts.MaxDelivery || records >= maxDeliveryRecords {
			return out, nil
		}
	}
}

// wait blocks until a frame is committed, writing a pending ack position
// when due; it returns false if Run must stop. Once it has waited
// reclaimIdle, everything delivered is acknowledged (deliveries are
// synchronous), so it reclaims the last segment's space.
func (r *reader) wait(ctx context.Context) bool {
	q := r.q
	reclaimAt := time.Now().Add(q.reclaimIdle)
	for attempt := 0; ; {
		if !reclaimAt.IsZero() && !time.Now().Before(reclaimAt) {
			reclaimAt = time.Time{}
			if err := r.reclaim(ctx); err != nil {
				q.log.Warn("diskq: reclaim the delivered last segment; retrying", zap.Error(err))
				reclaimAt = time.Now().Add(pipeline.Backoff(attempt, q.reclaimIdle, 30*time.Second))
				attempt++
			}
		}
		wake := time.Duration(-1) // no timer
		if since, dirty := q.sincePersist(); dirty {
			if since >= persistInterval {
				if err := q.persistAck(); err != nil {
					q.log.Error("diskq: write ack position", zap.Error(err))
				}
			}
			wake = max(persistInterval-since, time.Millisecond)
		}
		r.closeStale()
		if !reclaimAt.IsZero() {
			if d := max(time.Until(reclaimAt), time.Millisecond); wake < 0 || d < wake {
				wake = d
			}
		}
		var (
			tick  <-chan time.Time
			timer *time.Timer
		)
		if wake >= 0 {
			timer = time.NewTimer(wake)
			tick = timer.C
		}
		woken, stop := false, false
		select {
		case <-q.notify:
			woken = true
		case <-tick:
		case <-q.stopRun:
			stop = true
		case <-ctx.Done():
			stop = true
		}
		if timer != nil {
			timer.Stop()
		}
		if woken || stop {
			return !stop
		}
	}
}

// reclaim frees the space of the last segment when all of it is delivered:
// the committer replaces it by an empty segment (see committer.reclaim), and
// the ack position moved to the new segment is written before the delivered
// one is deleted. A crash at any step leaves a consistent queue: before the
// new position is written, Open finds the old segment with no unacknowledged
// frame behind the old position (written first, here), and the new segment
// empty or holding only frames committed after the reclaim; afterwards, Open
// deletes the old segment as being behind the position.
func (r *reader) reclaim(ctx context.Context) error {
	q := r.q
	q.mu.Lock()
	ok := q.reclaimableLocked()
	q.mu.Unlock()
	if !ok {
		return nil
	}
	if err := q.persistAck(); err != nil {
		return err
	}
	q.hook("reclaim: position at the segment's end written")
	done := make(chan reclaimResult, 1)
	select {
	case q.reclaims <- done:
	case <-q.commitDone:
		return nil
	case <-q.stopRun:
		return nil
	case <-ctx.Done():
		return nil
	}
	res := <-done
	if !res.rolled {
		return res.err
	}
	q.hook("reclaim: rolled over")
	r.closeStale() // the old segment's space is freed when its last file is closed
	return q.persistAck()
}

// closeStale closes the reader's file if its segment is no longer in the
// queue (it is delivered and deleted, or about to be), so that it does not
// keep the deleted file's space.
func (r *reader) closeStale() {
	if r.f == nil {
		return
	}
	q := r.q
	q.mu.Lock()
	s, _ := q.findSegLocked(r.fID)
	q.mu.Unlock()
	if s == nil {
		r.close()
	}
}

// step returns the frame at the cursor and advances past it, or nil if no
// frame is committed there yet.
func (r *reader) step() (*entry, error) {
	q := r.q
	for {
		q.mu.Lock()
		s, next := q.findSegLocked(r.pos.seg)
		if s == nil || r.pos.off >= s.end {
			q.mu.Unlock()
			if next == nil {
				return nil, nil
			}
			r.pos, r.idx = position{seg: next.id, off: next.start}, 0
			if r.f != nil && r.fID != next.id {
				r.close() // the segment behind is delivered: keep no file of it open
			}
			continue
		}
		for e := q.cache.front(); e != nil && e.pos.less(r.pos); e = q.cache.front() {
			q.cacheBytes -= q.cache.pop().n
		}
		if e := q.cache.front(); e != nil && e.pos == r.pos {
			q.cacheBytes -= q.cache.pop().n
			q.mu.Unlock()
			r.pos.off += e.n
			r.idx = e.idx + 1
			return e, nil
		}
		limit := s.end
		q.mu.Unlock()

		e, err := r.readDisk(limit)
		var ce *corruptError
		if errors.As(err, &ce) {
			r.skipCorrupt(ce)
			continue
		}
		if err != nil {
			r.close() // reopen and seek on the next attempt
			return nil, err
		}
		r.pos.off += e.n
		r.idx++
		return e, nil
	}
}

// findSegLocked returns the segment with id (or nil) and the segment after
// it (or, if id is not there, the first one after id).
func (q *Queue) findSegLocked(id uint64) (s, next *segment) {
	for i, x := range q.segs {
		switch {
		case x.id == id:
			if i+1 < len(q.segs) {
				return x, q.segs[i+1]
			}
			return x, nil
		case x.id > id:
			return nil, x
		}
	}
	return nil, nil
}

// readDisk reads and decodes the frame at the cursor, which ends by limit.
func (r *reader) readDisk(limit int64) (*entry, error) {
	if r.f == nil || r.fID != r.pos.seg || r.fOff != r.pos.off {
		if r.f == nil || r.fID != r.pos.seg {
			r.close()
			f, err := os.Open(segmentPath(r.q.dir, r.pos.seg))
			if err != nil {
				return nil, fmt.Errorf("diskq: open segment %d: %w", r.pos.seg, err)
			}
			r.f, r.fID = f, r.pos.seg
		}
		if _, err := r.f.Seek(r.pos.off, io.SeekStart); err != nil {
			return nil, fmt.Errorf("diskq: seek segment %d to %d: %w", r.pos.seg, r.pos.off, err)
		}
		if r.br == nil {
			r.br = bufio.NewReaderSize(r.f, 1<<20)
		} else {
			r.br.Reset(r.f)
		}
		r.fOff = r.pos.off
	}
	payload, n, err := readFrame(r.br, r.pos.off, limit, r.frame)
	r.frame = payload
	if cap(r.frame) > 16<<20 {
		r.frame = nil
	}
	if err != nil {
		r.fOff = -1 // force a seek
		if errors.Is(err, io.EOF) {
			return nil, &corruptError{off: r.pos.off, reason: "unexpected end of committed data"}
		}
		var ce *corruptError
		if errors.As(err, &ce) {
			return nil, err
		}
		return nil, fmt.Errorf("diskq: segment %d: %w", r.pos.seg, err)
	}
	r.fOff += n
	e := &entry{pos: r.pos, idx: r.idx, n: n, batch: new(sawmillv1.LogBatch)}
	if err := proto.Unmarshal(payload, e.batch); err != nil {
		e.batch, e.decodeErr, e.raw = nil, err, append([]byte(nil), payload...)
	}
	return e, nil
}

// skipCorrupt ends the cursor's segment at the corrupt frame: its remaining
// frames are dropped from the accounting and the cursor moves on.
func (r *reader) skipCorrupt(ce *corruptError) {
	q := r.q
	q.mu.Lock()
	s, next := q.findSegLocked(r.pos.seg)
	var droppedFrames, droppedBytes int64
	if s != nil && s.end > r.pos.off {
		droppedFrames, droppedBytes = s.frames-r.idx, s.end-r.pos.off
		q.unackedBatches -= droppedFrames
		q.unackedBytes -= droppedBytes
		s.end, s.frames, s.corrupt = r.pos.off, r.idx, true
		q.stats.CorruptSegments++
		if next == nil {
			q.rollReq = true // the committer must not append behind the corruption
		}
		q.normalizeAckLocked()
	}
	q.mu.Unlock()
	r.close()
	q.log.Error("diskq: corrupt frame while reading; skipping the rest of the segment",
		zap.Uint64("segment", r.pos.seg), zap.Int64("offset", r.pos.off), zap.Int64("skipped_batches", droppedFrames),
		zap.Int64("skipped_bytes", droppedBytes), zap.String("reason", ce.reason))
}
