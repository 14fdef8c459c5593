package sawmill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/gzip"

	"github.com/sawmill-dev/sawmill/sdk/internal/batch"
)

// Errors returned by Client.Log.
var (
	// ErrDropped means the record was dropped: the buffer was full and the
	// policy did not (or could no longer) wait.
	ErrDropped = errors.New("sawmill: record dropped, buffer full")
	// ErrClosed means the client was closed.
	ErrClosed = errors.New("sawmill: client closed")
)

// DropReason says why records were dropped.
type DropReason string

// Reasons carried by DropError.
const (
	ReasonBufferFull DropReason = "buffer full"            // refused by the log call
	ReasonEvicted    DropReason = "evicted for newer logs" // DropOldest discarded a waiting batch
	ReasonRejected   DropReason = "rejected by the server" // a permanent error (InvalidArgument, ...)
	ReasonShutdown   DropReason = "not sent before Close's deadline"
)

// DropError reports records that will never reach the server.
type DropError struct {
	Reason  DropReason
	Records int
	BatchID string // set for ReasonRejected
	Err     error  // the server's answer for ReasonRejected
}

func (e *DropError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("sawmill: dropped %d records (%s, batch %s): %v", e.Records, e.Reason, e.BatchID, e.Err)
	}
	return fmt.Sprintf("sawmill: dropped %d records (%s)", e.Records, e.Reason)
}

func (e *DropError) Unwrap() error { return e.Err }

// SendError reports a failed attempt that will be retried.
type SendError struct {
	BatchID    string
	Attempt    int
	RetryAfter time.Duration
	Err        error
}

func (e *SendError) Error() string {
	return fmt.Sprintf("sawmill: batch %s attempt %d failed, retrying in %v: %v", e.BatchID, e.Attempt, e.RetryAfter.Round(time.Millisecond), e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// Stats are the client's counters since New. After Close returned,
// Enqueued == Acked + Duplicates + Evicted + Rejected + Lost.
type Stats struct {
	Enqueued      uint64 // records accepted by Log
	Acked         uint64 // records the server stored
	Duplicates    uint64 // records of batches the server had already stored (a retry after a lost answer)
	DroppedFull   uint64 // records refused by Log because the buffer was full
	DroppedClosed uint64 // records refused by Log after Close
	Evicted       uint64 // records discarded by DropOldest
	Rejected      uint64 // records of batches rejected permanently
	Lost          uint64 // records still unsent when Close's context ended
	Batches       uint64 // batches acknowledged
	Retries       uint64 // failed attempts that were retried
	BufferedBytes int    // encoded record bytes held now
}

// Client batches records and sends them to a Sawmill server in the
// background. Its methods are safe for concurrent use.
type Client struct {
	cfg    Config
	conn   *grpc.ClientConn
	pusher pusher
	plain  pusher      // uncompressed pusher when Compression is on, for servers without gzip
	noGzip atomic.Bool // the server cannot decompress: send uncompressed
	buf    *batch.Buffer
	bo     batch.Backoff

	runCtx  context.Context // cancelled when Close gives up
	stopRun context.CancelFunc
	stopTmr chan struct{}
	wg      sync.WaitGroup
	closing sync.Once
	closed  atomic.Bool

	enqueued, acked, dups, droppedFull, droppedClosed atomic.Uint64
	evicted, rejected, lost, batches, retries         atomic.Uint64
	reportedFull, reportedEvicted                     atomic.Uint64
}

var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// New starts a client. It does not wait for the server: records are
// buffered until the server answers (a server down at start is retried).
// The goroutines it starts end in Close.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sawmill: new client: %w", err)
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{
		grpc.WithConnectParams(grpc.ConnectParams{
			// Reconnect quickly after a server restart (grpc's default
			// backoff grows to two minutes).
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	}
	if cfg.TLS != nil {
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg.TLS)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if cfg.Token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{header: "Bearer " + cfg.Token, secure: cfg.TLS != nil}))
	}
	opts = append(opts, cfg.DialOptions...)
	conn, err := grpc.NewClient(cfg.Endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("sawmill: dial %q: %w", cfg.Endpoint, err)
	}
	callOpts := []grpc.CallOption{grpc.ForceCodecV2(rawCodec{proto: encoding.GetCodecV2("proto")})}
	c := &Client{cfg: cfg, conn: conn, stopTmr: make(chan struct{}),
		bo: batch.Backoff{Initial: cfg.RetryInitial, Max: cfg.RetryMax}}
	c.pusher = newPusher(conn, cfg.Transport, callOpts)
	if cfg.Compression == Gzip {
		c.plain = c.pusher
		c.pusher = newPusher(conn, cfg.Transport, append(callOpts[:len(callOpts):len(callOpts)], grpc.UseCompressor(gzip.Name)))
	}
	c.buf = batch.New(batch.Config{
		MaxRecords:   cfg.MaxBatchRecords,
		MaxBytes:     cfg.MaxBatchBytes,
		LimitBytes:   cfg.BufferBytes,
		Interval:     cfg.FlushInterval,
		Policy:       batch.Policy(cfg.FullPolicy),
		BlockTimeout: cfg.BlockTimeout,
		Header:       batchHeader(encodeResource(cfg.Resource)),
		Prefix:       framePrefix,
	})
	c.runCtx, c.stopRun = context.WithCancel(context.Background())
	c.wg.Add(1 + cfg.MaxInFlight)
	go c.timer()
	for range cfg.MaxInFlight {
		go c.sender()
	}
	return c, nil
}

func newPusher(conn *grpc.ClientConn, t Transport, opts []grpc.CallOption) pusher {
	if t == TransportStream {
		return &streamPusher{conn: conn, opts: opts}
	}
	return &unaryPusher{conn: conn, opts: opts}
}

type bearer struct {
	header string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": b.header}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }

// Log encodes r and queues it for sending. It never blocks longer than the
// full-buffer policy allows and never panics. It returns ErrDropped when
// the policy dropped the record and ErrClosed after Close; both are also
// counted in Stats. r can be reused as soon as Log returns.
func (c *Client) Log(r *Record) error {
	if c.closed.Load() {
		c.droppedClosed.Add(1)
		return ErrClosed
	}
	var attrs []byte
	if r.Attrs != nil {
		attrs = r.Attrs.Bytes()
	}
	sp := scratchPool.Get().(*[]byte)
	enc := appendRecord((*sp)[:0], r, attrs, time.Now())
	evicted, err := c.buf.Append(enc)
	if cap(enc) <= 64<<10 {
		*sp = enc
		scratchPool.Put(sp)
	}
	if evicted.Records > 0 {
		c.evicted.Add(uint64(evicted.Records))
	}
	switch {
	case err == nil:
		c.enqueued.Add(1)
		return nil
	case errors.Is(err, batch.ErrClosed):
		c.droppedClosed.Add(1)
		return ErrClosed
	default:
		c.droppedFull.Add(1)
		return ErrDropped
	}
}

// timer seals batches FlushInterval after their first record.
func (c *Client) timer() {
	defer c.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		c.reportDrops()
		next := c.buf.SealDue(time.Now())
		if next.IsZero() {
			select {
			case <-c.buf.Opened():
				continue
			case <-c.stopTmr:
				return
			}
		}
		t.Reset(time.Until(next))
		select {
		case <-t.C:
		case <-c.stopTmr:
			return
		}
	}
}

// sender sends batches until the buffer is closed and empty, or Close gives up.
func (c *Client) sender() {
	defer c.wg.Done()
	for {
		b, err := c.buf.Next(c.runCtx)
		if err != nil {
			return
		}
		c.send(b)
		c.reportDrops()
	}
}

// send pushes b until it is acknowledged, rejected for good, or Close
// gives up. Every attempt carries the same batch id.
func (c *Client) send(b *batch.Batch) {
	req := frame(b.Data())
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(c.runCtx, c.cfg.RequestTimeout)
		p := c.pusher
		if c.noGzip.Load() {
			p = c.plain
		}
		r := p.push(ctx, b.ID, req)
		cancel()
		if r.code == codes.Unimplemented && c.plain != nil && p != c.plain && strings.Contains(r.msg, "ecompressor") {
			// The server has no gzip decompressor: go on uncompressed.
			if !c.noGzip.Swap(true) {
				c.report(fmt.Errorf("sawmill: server cannot decompress gzip, sending uncompressed: %w", r.err()))
			}
			attempt--
			continue
		}
		if r.code == 0 {
			if r.duplicate {
				c.dups.Add(uint64(b.Records))
			} else {
				c.acked.Add(uint64(b.Records))
			}
			c.batches.Add(1)
			c.buf.Done(b, true)
			return
		}
		if c.runCtx.Err() != nil {
			c.lost.Add(uint64(b.Records))
			c.buf.Done(b, false)
			c.report(&DropError{Reason: ReasonShutdown, Records: b.Records, BatchID: b.ID, Err: r.err()})
			return
		}
		if !retryable(r.code) {
			c.rejected.Add(uint64(b.Records))
			c.buf.Done(b, false)
			c.report(&DropError{Reason: ReasonRejected, Records: b.Records, BatchID: b.ID, Err: r.err()})
			return
		}
		c.retries.Add(1)
		delay := c.bo.Delay(attempt, r.retryAfter)
		c.report(&SendError{BatchID: b.ID, Attempt: attempt, RetryAfter: delay, Err: r.err()})
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-c.runCtx.Done():
			t.Stop()
		}
	}
}

// report calls OnError, shielding the client from a panicking callback.
func (c *Client) report(err error) {
	if c.cfg.OnError == nil {
		return
	}
	defer func() { _ = recover() }()
	c.cfg.OnError(err)
}

// reportDrops tells OnError about records dropped by log calls since the
// last report (log calls never call OnError themselves).
func (c *Client) reportDrops() {
	if n := c.droppedFull.Load(); n > c.reportedFull.Load() {
		if prev := c.reportedFull.Swap(n); n > prev {
			c.report(&DropError{Reason: ReasonBufferFull, Records: int(n - prev)})
		}
	}
	if n := c.evicted.Load(); n > c.reportedEvicted.Load() {
		if prev := c.reportedEvicted.Swap(n); n > prev {
			c.report(&DropError{Reason: ReasonEvicted, Records: int(n - prev)})
		}
	}
}

// Flush sends everything logged before the call and returns when the
// server acknowledged it (or it was dropped, see Stats), or with ctx's
// error. Logging may continue concurrently.
func (c *Client) Flush(ctx context.Context) error {
	if err := c.buf.WaitDone(ctx, c.buf.Seal()); err != nil {
		return fmt.Errorf("sawmill: flush: %w", err)
	}
	return nil
}

// Close flushes and releases everything: it stops accepting records,
// sends what is buffered (retrying as usual) until ctx ends, then gives up
// on what is left (counted as Lost), closes the connection and waits for
// its goroutines. It returns ctx's error if records were lost. Calls after
// the first return nil.
func (c *Client) Close(ctx context.Context) error {
	var err error
	c.closing.Do(func() {
		c.closed.Store(true)
		c.buf.Close()
		if werr := c.buf.WaitDone(ctx, c.buf.Seal()); werr != nil {
			err = werr
		}
		c.stopRun() // ends retries and in-flight attempts
		close(c.stopTmr)
		c.wg.Wait()
		if d := c.buf.Drain(); d.Records > 0 {
			c.lost.Add(uint64(d.Records))
			c.report(&DropError{Reason: ReasonShutdown, Records: d.Records})
		}
		c.reportDrops()
		c.pusher.close()
		if c.plain != nil {
			c.plain.close()
		}
		if cerr := c.conn.Close(); cerr != nil && err == nil {
			err = cerr
		}
		if err != nil {
			err = fmt.Errorf("sawmill: close: %d records not delivered: %w", c.lost.Load(), err)
		}
	})
	return err
}

// Stats returns the counters.
func (c *Client) Stats() Stats {
	return Stats{
		Enqueued:      c.enqueued.Load(),
		Acked:         c.acked.Load(),
		Duplicates:    c.dups.Load(),
		DroppedFull:   c.droppedFull.Load(),
		DroppedClosed: c.droppedClosed.Load(),
		Evicted:       c.evicted.Load(),
		Rejected:      c.rejected.Load(),
		Lost:          c.lost.Load(),
		Batches:       c.batches.Load(),
		Retries:       c.retries.Load(),
		BufferedBytes: c.buf.Used(),
	}
}
