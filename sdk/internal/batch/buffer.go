package batch

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Policy says what Append does when the buffer is full.
type Policy int

const (
	// DropNewest rejects the record being appended.
	DropNewest Policy = iota
	// DropOldest discards the oldest sealed batch not yet in flight to make
	// room; when there is none it falls back to DropNewest.
	DropOldest
	// Block waits up to Config.BlockTimeout for room, then drops the record.
	Block
)

// Errors returned by Append and Next.
var (
	// ErrFull means the record was dropped because the buffer was full.
	ErrFull = errors.New("batch: buffer full")
	// ErrClosed means the buffer was closed.
	ErrClosed = errors.New("batch: buffer closed")
)

// Header writes the fixed head of a new batch (batch id and resource) into
// dst and returns it with the batch id.
type Header func(dst []byte) ([]byte, string)

// Config sizes a Buffer.
type Config struct {
	MaxRecords   int           // seal a batch at this many records
	MaxBytes     int           // seal a batch before it grows past this many record bytes
	LimitBytes   int           // most record bytes held (open + sealed + in flight)
	Interval     time.Duration // seal a non-empty batch this long after its first record
	Policy       Policy        // what to do when LimitBytes would be crossed
	BlockTimeout time.Duration // Block's longest wait
	Header       Header        // writes a new batch's head
	Prefix       int           // bytes to reserve before the head (see Batch.Data)
}

// Batch is a sealed group of encoded records.
type Batch struct {
	Seq     uint64 // sealing order, from 1
	ID      string // batch id written by Header
	Records int    // number of records
	Bytes   int    // record bytes counted against LimitBytes
	buf     []byte // Prefix reserved bytes, head, records
	opened  time.Time
	head    int // len(buf) after the head
}

// Data returns the batch buffer: Prefix reserved bytes, then the head and
// the records. The caller may write into the reserved bytes.
func (b *Batch) Data() []byte { return b.buf }

// Buffer is a bounded FIFO of batches being filled, sealed and sent.
// Append is called by any goroutine; Next/Done by the senders; Seal,
// WaitDone and Close by the owner. All methods are safe for concurrent use.
type Buffer struct {
	cfg Config

	mu       sync.Mutex
	open     *Batch
	sealed   []*Batch // FIFO, oldest first
	inflight map[uint64]struct{}
	used     int // record bytes held
	seq      uint64
	closed   bool
	ready    chan struct{} // cap 1: a sealed batch may be waiting
	opened   chan struct{} // cap 1: a new open batch exists (wakes the timer)
	space    chan struct{} // closed and replaced when bytes are released
	done     chan struct{} // closed and replaced when a batch is done or evicted
	closedCh chan struct{} // closed by Close
	free     [][]byte      // recycled batch buffers, at most maxFree
}

// maxFree bounds the recycled buffers kept (a sync.Pool would drop them
// at every GC, and they are large).
const maxFree = 8

// New returns an empty buffer.
func New(cfg Config) *Buffer {
	return &Buffer{
		cfg:      cfg,
		inflight: make(map[uint64]struct{}),
		ready:    make(chan struct{}, 1),
		opened:   make(chan struct{}, 1),
		space:    make(chan struct{}),
		done:     make(chan struct{}),
		closedCh: make(chan struct{}),
	}
}

// Dropped describes records Append or the DropOldest policy discarded.
type Dropped struct {
	Records int
	Bytes   int
}

// Append copies one encoded record (already framed as a LogBatch field)
// into the open batch. It returns ErrFull when the policy dropped this
// record, ErrClosed after Close. evicted reports records of older batches
// the DropOldest policy discarded to make room.
func (q *Buffer) Append(rec []byte) (evicted Dropped, err error) {
	n := len(rec)
	q.mu.Lock()
	for {
		if q.closed {
			q.mu.Unlock()
			return evicted, ErrClosed
		}
		if q.used+n <= q.cfg.LimitBytes || q.used == 0 {
			break
		}
		switch q.cfg.Policy {
		case DropOldest:
			if len(q.sealed) > 0 {
				old := q.sealed[0]
				q.sealed = q.sealed[1:]
				q.used -= old.Bytes
				evicted.Records += old.Records
				evicted.Bytes += old.Bytes
				q.signalDone()
				continue
			}
			q.mu.Unlock()
			return evicted, ErrFull
		case Block:
			if q.cfg.BlockTimeout <= 0 {
				q.mu.Unlock()
				return evicted, ErrFull
			}
			if err := q.waitSpace(n); err != nil {
				return evicted, err // unlocked
			}
			continue // locked again
		default:
			q.mu.Unlock()
			return evicted, ErrFull
		}
	}
	if q.open != nil && q.open.Records > 0 && q.open.Bytes+n > q.cfg.MaxBytes {
		q.sealLocked()
	}
	if q.open == nil {
		q.open = q.newBatch()
		select {
		case q.opened <- struct{}{}:
		default:
		}
	}
	b := q.open
	b.buf = append(b.buf, rec...)
	b.Records++
	b.Bytes += n
	q.used += n
	if b.Records >= q.cfg.MaxRecords || b.Bytes >= q.cfg.MaxBytes {
		q.sealLocked()
	}
	q.mu.Unlock()
	return evicted, nil
}

// waitSpace is called locked; it returns locked with nil when room may
// have appeared, or unlocked with ErrFull/ErrClosed.
func (q *Buffer) waitSpace(n int) error {
	deadline := time.Now().Add(q.cfg.BlockTimeout)
	for q.used+n > q.cfg.LimitBytes && q.used > 0 {
		if q.closed {
			q.mu.Unlock()
			return ErrClosed
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			q.mu.Unlock()
			return ErrFull
		}
		// Room only comes from senders finishing batches: make sure the
		// open batch can be sent too.
		if q.open != nil && q.open.Records > 0 {
			q.sealLocked()
		}
		space := q.space
		q.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-space:
		case <-t.C:
		}
		t.Stop()
		q.mu.Lock()
	}
	return nil
}

func (q *Buffer) newBatch() *Batch {
	var buf []byte
	if n := len(q.free); n > 0 {
		buf = q.free[n-1][:0]
		q.free[n-1] = nil
		q.free = q.free[:n-1]
	} else {
		buf = make([]byte, 0, min(q.cfg.MaxBytes, 256<<10)+q.cfg.Prefix+512)
	}
	buf = append(buf, make([]byte, q.cfg.Prefix)...)
	buf, id := q.cfg.Header(buf)
	return &Batch{ID: id, buf: buf, head: len(buf), opened: time.Now()}
}

func (q *Buffer) sealLocked() {
	b := q.open
	if b == nil || b.Records == 0 {
		return
	}
	q.open = nil
	q.seq++
	b.Seq = q.seq
	q.sealed = append(q.sealed, b)
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Seal seals the open batch (if it has records) and returns the sequence
// number of the last sealed batch: WaitDone(ctx, Seal()) waits for
// everything appended before the call.
func (q *Buffer) Seal() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sealLocked()
	return q.seq
}

// SealDue seals the open batch when it is at least Interval old and
// returns when the next one is due (zero when no batch is open).
func (q *Buffer) SealDue(now time.Time) (next time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.open == nil {
		return time.Time{}
	}
	due := q.open.opened.Add(q.cfg.Interval)
	if now.Before(due) {
		return due
	}
	q.sealLocked()
	return time.Time{}
}

// Opened is signalled when a new batch is opened (for the flush timer).
func (q *Buffer) Opened() <-chan struct{} { return q.opened }

// Next returns the oldest sealed batch and marks it in flight. It blocks
// until there is one, the buffer is closed (ErrClosed, once nothing is left
// to send) or ctx ends.
func (q *Buffer) Next(ctx context.Context) (*Batch, error) {
	for {
		q.mu.Lock()
		if len(q.sealed) > 0 {
			b := q.sealed[0]
			q.sealed[0] = nil
			q.sealed = q.sealed[1:]
			q.inflight[b.Seq] = struct{}{}
			more := len(q.sealed) > 0
			q.mu.Unlock()
			if more {
				select {
				case q.ready <- struct{}{}:
				default:
				}
			}
			return b, nil
		}
		if q.closed && q.open == nil {
			q.mu.Unlock()
			return nil, ErrClosed
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-q.closedCh:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Done releases a batch returned by Next. reuse says its memory may be
// recycled (no one holds a reference to Data any more).
func (q *Buffer) Done(b *Batch, reuse bool) {
	q.mu.Lock()
	delete(q.inflight, b.Seq)
	q.used -= b.Bytes
	close(q.space)
	q.space = make(chan struct{})
	q.signalDone()
	if reuse && len(q.free) < maxFree {
		q.free = append(q.free, b.buf[:0])
	}
	b.buf = nil
	q.mu.Unlock()
}

func (q *Buffer) signalDone() {
	close(q.done)
	q.done = make(chan struct{})
}

// WaitDone returns when every batch with Seq <= seq is done (sent or
// dropped), or with ctx's error.
func (q *Buffer) WaitDone(ctx context.Context, seq uint64) error {
	for {
		q.mu.Lock()
		pending := len(q.sealed) > 0 && q.sealed[0].Seq <= seq
		if !pending {
			for s := range q.inflight {
				if s <= seq {
					pending = true
					break
				}
			}
		}
		done := q.done
		q.mu.Unlock()
		if !pending {
			return nil
		}
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close seals the open batch and refuses further Appends; Next keeps
// returning what is left, then ErrClosed. Blocked Appends return ErrClosed.
func (q *Buffer) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.sealLocked()
	q.closed = true
	close(q.closedCh)
	close(q.space)
	q.space = make(chan struct{})
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Drain removes every batch not in flight and reports what was removed
// (after Close, when the owner gives up sending).
func (q *Buffer) Drain() Dropped {
	q.mu.Lock()
	defer q.mu.Unlock()
	var d Dropped
	if q.open != nil {
		d.Records += q.open.Records
		d.Bytes += q.open.Bytes
		q.used -= q.open.Bytes
		q.open = nil
	}
	for _, b := range q.sealed {
		d.Records += b.Records
		d.Bytes += b.Bytes
		q.used -= b.Bytes
	}
	q.sealed = nil
	q.signalDone()
	return d
}

// Used returns the record bytes held.
func (q *Buffer) Used() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.used
}
