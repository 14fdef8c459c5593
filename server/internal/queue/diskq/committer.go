package diskq

import (
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
)

const (
	// maxGroupBytes bounds the frames taken into one group commit; it is
	// also the largest write buffer kept between commits.
	maxGroupBytes = 16 << 20
	maxGroupReqs  = 1024
)

// publishReq is one Publish waiting for the committer.
type publishReq struct {
	frame []byte // recycled (putFrame) once written; n keeps its length
	n     int64
	batch *sawmillv1.LogBatch
	done  chan error // capacity 1

	pos position // where the committer wrote it
	err error
}

// committer is the state of the goroutine that appends to the last segment.
type committer struct {
	q          *Queue
	active     *os.File
	activeID   uint64
	activeSize int64 // bytes written to active (committed or not)
	nextID     uint64
	unsynced   bool // bytes were written to active since its last fsync
	syncFailed bool // the last fsync of active failed (reset by undo)
	needRoll   bool // the active segment takes no more frames
	buf        []byte
	group      []*publishReq
}

func (q *Queue) commitLoop() {
	defer close(q.commitDone)
	c := &q.c
	for {
		var first *publishReq
		select {
		case first = <-q.reqs:
		case done := <-q.reclaims:
			done <- c.reclaim()
			continue
		case <-q.stopCommit:
			// No Publish can send any more; commit what was sent.
			for {
				select {
				case first = <-q.reqs:
					c.commit(c.collect(first))
				default:
					return
				}
			}
		}
		c.commit(c.collect(first))
	}
}

// collect takes first and the publishes already waiting, up to the group
// bounds.
func (c *committer) collect(first *publishReq) []*publishReq {
	g := append(c.group[:0], first)
	size := int(first.n)
	for size < maxGroupBytes && len(g) < maxGroupReqs {
		select {
		case r := <-c.q.reqs:
			g = append(g, r)
			size += int(r.n)
		default:
			return g
		}
	}
	return g
}

// commit writes group with as few write calls as possible (one unless it
// crosses a segment boundary or maxGroupBytes), fsyncs once, then publishes
// the frames to Run, releases the waiters and calls the Observer.
func (c *committer) commit(group []*publishReq) {
	q := c.q
	q.mu.Lock()
	if q.rollReq {
		q.rollReq, c.needRoll = false, true
	}
	q.mu.Unlock()

	startID := c.activeID
	if c.active == nil {
		startID = 0
	}
	err := c.write(group)
	for _, r := range group {
		putFrame(r.frame) // copied into the write buffer (or failed): no longer needed
		r.frame = nil
	}
	if err != nil {
		q.log.Error("diskq: group commit failed", zap.Int("batches", len(group)), zap.Error(err))
		err = fmt.Errorf("diskq: commit %d batches: %w: %w", len(group), pipeline.ErrUnavailable, err)
		c.undo(startID)
	}

	q.mu.Lock()
	committed := 0
	for _, r := range group {
		n := r.n
		q.reservedBytes -= n
		if err != nil {
			r.err = err
			continue
		}
		s := q.segs[len(q.segs)-1]
		if s.id != r.pos.seg {
			s = &segment{id: r.pos.seg}
			q.segs = append(q.segs, s)
		}
		if s.corrupt || s.end != r.pos.off {
			// Run found corruption in this segment while this group was
			// being written and skipped the rest of it: the client retries.
			r.err = fmt.Errorf("diskq: commit batch %q: segment %d was cut short by corruption: %w", r.batch.GetBatchId(), s.id, pipeline.ErrUnavailable)
			continue
		}
		e := &entry{pos: r.pos, idx: s.frames, n: n, batch: r.batch}
		s.end += n
		s.frames++
		q.unackedBatches++
		q.unackedBytes += n
		if q.cacheBytes+n <= q.opts.MemoryBytes {
			q.cache.push(e)
			q.cacheBytes += n
		}
		committed++
	}
	if err == nil {
		q.stats.Commits++
	}
	q.stats.Published += int64(committed)
	q.mu.Unlock()

	if committed > 0 {
		select {
		case q.notify <- struct{}{}:
		default:
		}
	}
	for _, r := range group {
		r.done <- r.err
	}
	if obs := q.opts.Observer; obs != nil {
		for _, r := range group {
			if r.err == nil {
				obs.Observe(r.batch)
			}
		}
	}
	clear(group)
	c.group = group[:0]
}

// write appends the frames of group to the log and fsyncs them, rolling to
// a new segment when the active one is full. It records each frame's
// position.
func (c *committer) write(group []*publishReq) error {
	buf := c.buf[:0]
	defer func() {
		if cap(buf) <= maxGroupBytes {
			c.buf = buf[:0]
		}
	}()
	segBytes := c.q.opts.SegmentBytes
	for _, r := range group {
		n := int64(len(r.frame))
		pending := c.activeSize + int64(len(buf))
		if c.needRoll || c.active == nil || (pending > 0 && pending+n > segBytes) {
			if err := c.flush(buf); err != nil {
				return err
			}
			buf = buf[:0]
			if err := c.roll(); err != nil {
				return err
			}
		}
		r.pos = position{seg: c.activeID, off: c.activeSize + int64(len(buf))}
		if len(buf) > 0 && len(buf)+len(r.frame) > maxGroupBytes {
			if err := c.write1(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		buf = append(buf, r.frame...)
	}
	return c.flush(buf)
}

// write1 writes b to the active segment.
func (c *committer) write1(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	c.unsynced = true
	n, err := c.active.Write(b)
	c.activeSize += int64(n)
	if err != nil {
		return fmt.Errorf("write segment %d: %w", c.activeID, err)
	}
	return nil
}

// flush writes b and fsyncs the active segment if anything was written to
// it since its last fsync.
func (c *committer) flush(b []byte) error {
	if c.active == nil {
		return nil
	}
	if err := c.write1(b); err != nil {
		return err
	}
	if !c.unsynced {
		return nil
	}
	if err := c.active.Sync(); err != nil {
		c.syncFailed = true
		return fmt.Errorf("sync segment %d: %w", c.activeID, err)
	}
	c.unsynced = false
	return nil
}

// undo removes what a failed commit wrote behind the committed frames, so
// that every segment holds exactly its committed frames, and readies the
// active segment for the next commit. startID is the segment that was active
// when the commit began (0 if none): if the commit rolled over, what it wrote
// there is cut off too.
//
// The active segment is kept and appended to again: a commit that failed for
// want of space (ENOSPC) must not leave a new, empty segment behind each time
// (the next commit would fail the same way). It is closed, and the next commit
// starts a new one, only when it cannot be cut back and positioned, or when
// its fsync failed while it already held committed frames (after a failed
// fsync the kernel's state of the file's unwritten pages is not to be trusted).
func (c *committer) undo(startID uint64) {
	q := c.q
	committedEnd := func(id uint64) int64 {
		q.mu.Lock()
		defer q.mu.Unlock()
		if s, _ := q.findSegLocked(id); s != nil {
			return s.end
		}
		return 0 // a segment created by the failed commit holds nothing committed
	}
	if startID != 0 && (c.active == nil || c.activeID != startID) {
		path := segmentPath(q.dir, startID)
		if err := os.Truncate(path, committedEnd(startID)); err != nil && !os.IsNotExist(err) {
			q.log.Warn("diskq: truncate segment after a failed commit", zap.Uint64("segment", startID), zap.Error(err))
		}
	}
	syncFailed := c.syncFailed
	c.syncFailed = false
	if c.active == nil {
		return
	}
	end := committedEnd(c.activeID)
	err := c.active.Truncate(end)
	if err == nil {
		_, err = c.active.Seek(end, io.SeekStart)
	}
	if err == nil && !(syncFailed && end > 0) {
		c.activeSize, c.unsynced = end, false
		return
	}
	if err != nil {
		q.log.Warn("diskq: truncate segment after a failed commit; the next commit starts a new segment", zap.Uint64("segment", c.activeID), zap.Error(err))
	}
	c.active.Close() // already failing
	c.active, c.unsynced = nil, false
}

// roll creates the next segment and makes it the active one, closing the
// previous one. If the new segment cannot be created, the previous one stays
// active and its id is not used up.
func (c *committer) roll() error {
	id := c.nextID
	path := segmentPath(c.q.dir, id)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("create segment %q: %w", path, err)
	}
	if err := syncDir(c.q.dir); err != nil {
		// Frames in a file whose directory entry may not survive a crash
		// must not be acknowledged: drop the file.
		f.Close()
		if rerr := os.Remove(path); rerr != nil {
			c.nextID++ // the name stays taken
		}
		return err
	}
	c.nextID++
	if c.active != nil {
		if err := c.active.Close(); err != nil {
			c.q.log.Warn("diskq: close segment", zap.Uint64("segment", c.activeID), zap.Error(err))
		}
	}
	c.active, c.activeID, c.activeSize, c.needRoll, c.unsynced = f, id, 0, false, false
	return nil
}

// reclaimResult is the committer's answer to a reclaim request.
type reclaimResult struct {
	rolled bool // the last segment was replaced; the old one is to be deleted
	err    error
}

// reclaim replaces the last segment by an empty one if every frame in it is
// acknowledged and no publish is under way. The old segment is then behind
// the ack position, which moves to the new segment's start, and is deleted
// by the next ack write. It runs on the committer goroutine between two
// group commits, so nothing is being written: a publish that arrives
// meanwhile waits for it and goes to the new segment.
//
// The new segment is made by a roll-over (created and its directory entry
// fsynced before anything refers to it). An empty segment that a failed
// commit's roll-over left active is taken as the new segment instead, which
// needs no new file.
func (c *committer) reclaim() reclaimResult {
	q := c.q
	q.mu.Lock()
	ok := q.reclaimableLocked()
	last := q.segs[len(q.segs)-1]
	adopt := false
	switch {
	case !ok:
	case c.active == nil:
	case c.activeID == last.id:
		ok = c.activeSize == last.end && !c.unsynced
	default: // the active segment is not in segs: a commit that rolled over failed
		adopt = c.activeID > last.id && c.activeSize == 0 && !c.unsynced && !c.needRoll
		ok = adopt
	}
	q.mu.Unlock()
	if !ok {
		return reclaimResult{}
	}
	old := last.id
	if !adopt {
		if err := c.roll(); err != nil {
			return reclaimResult{err: fmt.Errorf("diskq: replace delivered segment %d: %w", old, err)}
		}
	}
	q.mu.Lock()
	q.segs = append(q.segs, &segment{id: c.activeID})
	q.rollReq = false // the new segment has nothing behind a corruption
	q.normalizeAckLocked()
	q.stats.Reclaimed++
	q.mu.Unlock()
	q.log.Debug("diskq: replaced the delivered last segment", zap.Uint64("segment", old), zap.Uint64("new_segment", c.activeID))
	return reclaimResult{rolled: true}
}
