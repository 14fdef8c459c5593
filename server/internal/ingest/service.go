package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
	"github.com/sawmill-dev/sawmill/server/internal/validate"
)

// Options configure the service.
type Options struct {
	Limits          validate.Limits
	MaxInflightSize int64 // memory (BatchCost) of batches being decoded, validated and published at once; default 256 MiB
	StreamInflight  int   // batches in flight per stream; default 16
	RecentIDs       int   // acked batch ids remembered for duplicate answers; default 65536
	Logger          *zap.Logger
	Registerer      prometheus.Registerer
	Now             func() time.Time
}

// Service implements sawmillv1.IngestServiceServer.
type Service struct {
	sawmillv1.UnimplementedIngestServiceServer
	pub  pipeline.Publisher
	opts Options
	log  *zap.Logger

	inflightMu sync.Mutex
	inflight   int64
	ids        *idSet

	accepted atomic.Int64
	rejected atomic.Int64
	refused  atomic.Int64

	mBatches  *prometheus.CounterVec
	mRecords  prometheus.Counter
	mRejected *prometheus.CounterVec
	mRefused  *prometheus.CounterVec
}

var _ sawmillv1.IngestServiceServer = (*Service)(nil)

// New returns a Service publishing to pub.
func New(pub pipeline.Publisher, opts Options) *Service {
	if opts.Limits.MaxRecords == 0 {
		opts.Limits = validate.DefaultLimits
	}
	if opts.MaxInflightSize <= 0 {
		opts.MaxInflightSize = 256 << 20
	}
	if opts.StreamInflight <= 0 {
		opts.StreamInflight = 16
	}
	if opts.RecentIDs <= 0 {
		opts.RecentIDs = 65536
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{
		pub:  pub,
		opts: opts,
		log:  opts.Logger,
		ids:  newIDSet(opts.RecentIDs),
		mBatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sawmill_ingest_batches_total", Help: "Ingest batches by outcome (accepted, duplicate, invalid, full, unavailable, canceled).",
		}, []string{"outcome"}),
		mRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sawmill_ingest_records_total", Help: "Records acknowledged as durable.",
		}),
		mRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sawmill_ingest_rejected_records_total", Help: "Records in batches refused for good (INVALID_ARGUMENT), by reason.",
		}, []string{"reason"}),
		mRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sawmill_ingest_refused_records_total", Help: "Records in batches answered with a retryable refusal (RESOURCE_EXHAUSTED: full; UNAVAILABLE), by reason; a client that retried and got its ack counts them in sawmill_ingest_records_total as well.",
		}, []string{"reason"}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(s.mBatches, s.mRecords, s.mRejected, s.mRefused)
	}
	return s
}

// result is the outcome of one batch, for both RPCs.
type result struct {
	accepted  uint32
	duplicate bool
	err       *status.Status
}

// Push stores one batch. A Service registered with Register does not use it:
// its Push reads the request undecoded (see decode).
func (s *Service) Push(ctx context.Context, req *sawmillv1.PushRequest) (*sawmillv1.PushResponse, error) {
	b := req.GetBatch()
	cost := BatchCost(len(b.GetRecords()), proto.Size(b))
	if !s.acquire(cost) {
		s.count(outcomeFull, len(b.GetRecords()))
		return nil, exhausted("too many bytes in flight, retry shortly", retryInflight).Err()
	}
	defer s.release(cost)
	return s.answer(s.handle(ctx, b))
}

func (s *Service) answer(r result) (*sawmillv1.PushResponse, error) {
	if r.err != nil {
		return nil, r.err.Err()
	}
	return &sawmillv1.PushResponse{Accepted: r.accepted, Duplicate: r.duplicate}, nil
}

// PushStream stores many batches, answering each as it becomes durable.
func (s *Service) PushStream(stream sawmillv1.IngestService_PushStreamServer) error {
	ctx := stream.Context()
	var sendMu sync.Mutex
	var sendErr error
	sem := make(chan struct{}, s.opts.StreamInflight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		// Each request is received undecoded and decoded by s.decode, which
		// refuses one over the limits before materialising it.
		var raw rawRequest
		err := stream.RecvMsg(&raw)
		if err != nil {
			raw.free()
			wg.Wait()
			if errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled {
				return status.Error(codes.Canceled, "stream canceled")
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			raw.free()
			return status.FromContextError(ctx.Err()).Err()
		}
		var req sawmillv1.PushStreamRequest
		id, cost, st := s.decode(&raw, &req)
		wg.Add(1)
		go func(b *sawmillv1.LogBatch) {
			defer wg.Done()
			defer func() { <-sem }()
			r := result{err: st}
			if st == nil {
				defer s.release(cost)
				r = s.handle(ctx, b)
				id = b.GetBatchId()
			}
			resp := &sawmillv1.PushStreamResponse{BatchId: id, Accepted: r.accepted, Duplicate: r.duplicate}
			if r.err != nil {
				resp.Code = uint32(r.err.Code())
				resp.Message = r.err.Message()
				for _, d := range r.err.Details() {
					switch d := d.(type) {
					case *errdetails.BadRequest:
						for _, v := range d.GetFieldViolations() {
							resp.FieldViolations = append(resp.FieldViolations, &sawmillv1.FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
						}
					case *errdetails.RetryInfo:
						resp.RetryAfter = d.GetRetryDelay()
					}
				}
			}
			sendMu.Lock()
			defer sendMu.Unlock()
			if sendErr == nil {
				sendErr = stream.Send(resp)
			}
		}(req.GetBatch())
	}
}

// handle validates and publishes b; the caller holds its in-flight budget.
func (s *Service) handle(ctx context.Context, b *sawmillv1.LogBatch) result {
	now := s.opts.Now()
	n := len(b.GetRecords())
	size := proto.Size(b)
	if vs := validate.Batch(b, size, now, s.opts.Limits); len(vs) > 0 {
		s.count(outcomeInvalid, n)
		return result{err: invalid(b, vs)}
	}
	// The batch id is an idempotency key: the first push of an id to become
	// durable wins, and a push of an id accepted or in flight here waits
	// for that push's outcome (see idSet and PushResponse.duplicate).
	c, dup, err := s.ids.claim(ctx, b.GetBatchId())
	if err != nil {
		return s.publishError(b, err)
	}
	if dup {
		s.count(outcomeDuplicate, n)
		return result{accepted: uint32(n), duplicate: true}
	}
	ok := false
	defer func() { s.ids.finish(b.GetBatchId(), c, ok) }()
	validate.Normalize(b, now)
	if err := s.pub.Publish(ctx, b); err != nil {
		return s.publishError(b, err)
	}
	ok = true
	s.count(outcomeAccepted, n)
	return result{accepted: uint32(n)}
}

// Outcomes of a batch, the values of the metrics' outcome and reason labels.
const (
	outcomeAccepted    = "accepted"
	outcomeDuplicate   = "duplicate"
	outcomeInvalid     = "invalid"
	outcomeFull        = "full"
	outcomeUnavailable = "unavailable"
	outcomeCanceled    = "canceled"
)

// count records the outcome of a batch of n records: every batch in
// sawmill_ingest_batches_total, accepted records in the accepted counters,
// the records of a batch refused for good (invalid) in the rejected
// counters, and those of a batch answered "retry" (full, unavailable) in the
// refused counters: the client retries the same batch id, and an ack it gets
// later counts the records as accepted, so the counters match what clients
// saw.
func (s *Service) count(outcome string, n int) {
	s.mBatches.WithLabelValues(outcome).Inc()
	switch outcome {
	case outcomeAccepted:
		s.mRecords.Add(float64(n))
		s.accepted.Add(int64(n))
	case outcomeDuplicate, outcomeCanceled:
	case outcomeFull, outcomeUnavailable:
		s.mRefused.WithLabelValues(outcome).Add(float64(n))
		s.refused.Add(int64(n))
	default:
		s.mRejected.WithLabelValues(outcome).Add(float64(n))
		s.rejected.Add(int64(n))
	}
}

// Accepted returns the records acknowledged since start.
func (s *Service) Accepted() int64 { return s.accepted.Load() }

// Rejected returns the records of batches refused for good (invalid) since
// start.
func (s *Service) Rejected() int64 { return s.rejected.Load() }

// Refused returns the records of batches answered with a retryable refusal
// (RESOURCE_EXHAUSTED, UNAVAILABLE) since start; one batch retried three
// times counts three times.
func (s *Service) Refused() int64 { return s.refused.Load() }

func (s *Service) publishError(b *sawmillv1.LogBatch, err error) result {
	n := len(b.GetRecords())
	switch {
	case errors.Is(err, pipeline.ErrFull):
		retry := time.Second
		var full *pipeline.FullError
		if errors.As(err, &full) {
			retry = full.RetryAfter
		}
		s.count(outcomeFull, n)
		// err says what is full (the queue, or the broker's alarm) and when
		// to retry: the message is that, not a prefix repeating it.
		return result{err: exhausted(fmt.Sprintf("batch %s not stored: %v", b.GetBatchId(), err), retry)}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		s.count(outcomeCanceled, n)
		return result{err: status.FromContextError(err)}
	case pipeline.IsPermanent(err):
		// Without a broker (queue "direct") the store's refusal reaches the
		// client: retrying the same batch cannot help.
		s.count(outcomeInvalid, n)
		s.log.Error("publish batch: the store refuses it", zap.String("batch_id", b.GetBatchId()), zap.Error(err))
		return result{err: status.New(codes.InvalidArgument, fmt.Sprintf("batch %s cannot be stored (retrying cannot help): %v", b.GetBatchId(), err))}
	default:
		s.count(outcomeUnavailable, n)
		if !errors.Is(err, pipeline.ErrUnavailable) {
			s.log.Error("publish batch", zap.String("batch_id", b.GetBatchId()), zap.Error(err))
		}
		st, _ := status.New(codes.Unavailable, fmt.Sprintf("batch %s not stored: %v", b.GetBatchId(), err)).
			WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)})
		return result{err: st}
	}
}

func (s *Service) acquire(n int64) bool {
	s.inflightMu.Lock()
	defer s.inflightMu.Unlock()
	// A single batch larger than the bound still passes when nothing else is in flight.
	if s.inflight > 0 && s.inflight+n > s.opts.MaxInflightSize {
		return false
	}
	s.inflight += n
	return true
}

func (s *Service) release(n int64) {
	s.inflightMu.Lock()
	s.inflight -= n
	s.inflightMu.Unlock()
}

func invalid(b *sawmillv1.LogBatch, vs []validate.Violation) *status.Status {
	br := &errdetails.BadRequest{}
	for _, v := range vs {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
	}
	msg := fmt.Sprintf("batch %q rejected: %s: %s", b.GetBatchId(), vs[0].Field, vs[0].Description)
	if len(vs) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(vs)-1)
	}
	st, err := status.New(codes.InvalidArgument, msg).WithDetails(br)
	if err != nil {
		return status.New(codes.InvalidArgument, msg)
	}
	return st
}

func exhausted(msg string, after time.Duration) *status.Status {
	st, err := status.New(codes.ResourceExhausted, msg).WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(after)})
	if err != nil {
		return status.New(codes.ResourceExhausted, msg)
	}
	return st
}

// idSet remembers the most recent acked batch ids, bounded, FIFO, and the
// ids being published right now (claims), so that pushes of one id are
// answered truthfully however they interleave: one is published, the others
// wait for its outcome and are duplicates if it became durable.
type idSet struct {
	mu       sync.Mutex
	set      map[string]struct{}
	order    []string
	next     int
	inflight map[string]*idClaim
}

// idClaim is one push publishing its batch id; done is closed when it
// finished, ok then says whether the batch became durable.
type idClaim struct {
	done chan struct{}
	ok   bool
}

func newIDSet(n int) *idSet {
	return &idSet{set: make(map[string]struct{}, n), order: make([]string, n), inflight: map[string]*idClaim{}}
}

// claim decides the fate of a push of id: dup when id was acked (or became
// durable while this push waited); otherwise the caller owns the returned
// claim, publishes, and must call finish. A push of an id being published
// waits for that outcome; it returns ctx's error if ctx ends first.
func (s *idSet) claim(ctx context.Context, id string) (c *idClaim, dup bool, err error) {
	for {
		s.mu.Lock()
		if _, ok := s.set[id]; ok {
			s.mu.Unlock()
			return nil, true, nil
		}
		other := s.inflight[id]
		if other == nil {
			c = &idClaim{done: make(chan struct{})}
			s.inflight[id] = c
			s.mu.Unlock()
			return c, false, nil
		}
		s.mu.Unlock()
		select {
		case <-other.done:
			if other.ok {
				return nil, true, nil
			}
			// The other push failed: this one tries for itself.
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// finish ends claim c of id: when ok (durable) id is remembered as acked;
// either way waiting pushes learn the outcome.
func (s *idSet) finish(id string, c *idClaim, ok bool) {
	s.mu.Lock()
	delete(s.inflight, id)
	if ok {
		s.addLocked(id)
	}
	s.mu.Unlock()
	c.ok = ok
	close(c.done)
}

func (s *idSet) addLocked(id string) {
	if _, ok := s.set[id]; ok {
		return
	}
	if old := s.order[s.next]; old != "" {
		delete(s.set, old)
	}
	s.order[s.next] = id
	s.set[id] = struct{}{}
	s.next = (s.next + 1) % len(s.order)
}
