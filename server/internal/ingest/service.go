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
	MaxInflightSize int64 // encoded bytes of batches being published at once; default 256 MiB
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

	mBatches  *prometheus.CounterVec
	mRecords  prometheus.Counter
	mRejected *prometheus.CounterVec
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
			Name: "sawmill_ingest_rejected_records_total", Help: "Records in rejected batches, by reason.",
		}, []string{"reason"}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(s.mBatches, s.mRecords, s.mRejected)
	}
	return s
}

// result is the outcome of one batch, for both RPCs.
type result struct {
	accepted  uint32
	duplicate bool
	err       *status.Status
}

// Push stores one batch.
func (s *Service) Push(ctx context.Context, req *sawmillv1.PushRequest) (*sawmillv1.PushResponse, error) {
	r := s.handle(ctx, req.GetBatch())
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
		req, err := stream.Recv()
		if err != nil {
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
			return status.FromContextError(ctx.Err()).Err()
		}
		wg.Add(1)
		go func(b *sawmillv1.LogBatch) {
			defer wg.Done()
			defer func() { <-sem }()
			r := s.handle(ctx, b)
			resp := &sawmillv1.PushStreamResponse{BatchId: b.GetBatchId(), Accepted: r.accepted, Duplicate: r.duplicate}
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

func (s *Service) handle(ctx context.Context, b *sawmillv1.LogBatch) result {
	now := s.opts.Now()
	n := len(b.GetRecords())
	size := proto.Size(b)
	if vs := validate.Batch(b, size, now, s.opts.Limits); len(vs) > 0 {
		s.count(outcomeInvalid, n)
		return result{err: invalid(b, vs)}
	}
	if s.ids.contains(b.GetBatchId()) {
		s.count(outcomeDuplicate, n)
		return result{accepted: uint32(n), duplicate: true}
	}
	if !s.acquire(int64(size)) {
		s.count(outcomeFull, n)
		return result{err: exhausted("too many bytes in flight, retry shortly", 200*time.Millisecond)}
	}
	defer s.release(int64(size))
	validate.Normalize(b, now)
	if err := s.pub.Publish(ctx, b); err != nil {
		return s.publishError(b, err)
	}
	s.ids.add(b.GetBatchId())
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
// and the records of a batch refused by the server (not a canceled one) in
// the rejected counters.
func (s *Service) count(outcome string, n int) {
	s.mBatches.WithLabelValues(outcome).Inc()
	switch outcome {
	case outcomeAccepted:
		s.mRecords.Add(float64(n))
		s.accepted.Add(int64(n))
	case outcomeDuplicate, outcomeCanceled:
	default:
		s.mRejected.WithLabelValues(outcome).Add(float64(n))
		s.rejected.Add(int64(n))
	}
}

// Accepted returns the records acknowledged since start.
func (s *Service) Accepted() int64 { return s.accepted.Load() }

// Rejected returns the records of rejected batches since start.
func (s *Service) Rejected() int64 { return s.rejected.Load() }

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

// idSet remembers the most recent acked batch ids, bounded, FIFO.
type idSet struct {
	mu    sync.Mutex
	set   map[string]struct{}
	order []string
	next  int
}

func newIDSet(n int) *idSet {
	return &idSet{set: make(map[string]struct{}, n), order: make([]string, n)}
}

func (s *idSet) contains(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.set[id]
	return ok
}

func (s *idSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
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
