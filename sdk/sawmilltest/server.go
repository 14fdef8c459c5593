package sawmilltest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // accept gzip-compressed batches
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/sdk/internal/wirecheck"
)

// Server is an in-memory sawmill.v1.IngestService on a loopback port. It
// stores each batch id once, like the real server, and can be told to
// fail, to hold answers, or to require a token. Safe for concurrent use.
type Server struct {
	sawmillv1.UnimplementedIngestServiceServer

	token   string
	addr    string
	discard bool
	lis     net.Listener
	srv     *grpc.Server

	mu        sync.Mutex
	batches   []*sawmillv1.LogBatch
	seen      map[string]bool
	attempts  int
	dups      int
	failures  []failure
	hold      chan struct{} // non-nil: answers wait until it is closed
	changed   chan struct{} // closed and replaced when batches are stored
	discarded int
	wireBytes int64
	rawBytes  int64
}

type failure struct {
	code       codes.Code
	retryAfter time.Duration
}

// Option configures a Server.
type Option func(*Server)

// WithToken makes the server require "authorization: Bearer <token>".
func WithToken(token string) Option { return func(s *Server) { s.token = token } }

// WithDiscard makes the server count records without validating or
// keeping them (for benchmarks): Count works, Records and Batches stay empty.
func WithDiscard() Option { return func(s *Server) { s.discard = true } }

// WithAddr listens on addr (e.g. the address of a stopped server, to
// simulate a restart) instead of a free loopback port.
func WithAddr(addr string) Option { return func(s *Server) { s.addr = addr } }

// Start starts a server on 127.0.0.1 with a free port. Close stops it.
func Start(opts ...Option) (*Server, error) {
	s := &Server{seen: make(map[string]bool), changed: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if s.addr == "" {
		s.addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("sawmilltest: listen: %w", err)
	}
	s.lis = lis
	s.srv = grpc.NewServer(grpc.StatsHandler(sizeCounter{s}))
	sawmillv1.RegisterIngestServiceServer(s.srv, s)
	go func() { _ = s.srv.Serve(lis) }()
	return s, nil
}

// New starts a server for a test and stops it when the test ends.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s, err := Start(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Close stops the server, ending open streams. Held answers are released.
func (s *Server) Close() {
	s.Release()
	s.srv.Stop()
}

// FailNext makes the next n batches (Push calls or stream messages) fail
// with code; retryAfter, when positive, is sent as google.rpc.RetryInfo
// (Push) or retry_after (stream). An injected InvalidArgument names the
// field "batch" in its violations (google.rpc.BadRequest), as the real
// server always names what is wrong.
func (s *Server) FailNext(n int, code codes.Code, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{code: code, retryAfter: retryAfter})
	}
}

// Hold makes answers wait until Release (batches are still received).
func (s *Server) Hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold == nil {
		s.hold = make(chan struct{})
	}
}

// Release lets held answers go.
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold != nil {
		close(s.hold)
		s.hold = nil
	}
}

// Batches returns the stored batches in arrival order (each id once).
func (s *Server) Batches() []*sawmillv1.LogBatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*sawmillv1.LogBatch(nil), s.batches...)
}

// Records returns every stored record in arrival order.
func (s *Server) Records() []*sawmillv1.LogRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*sawmillv1.LogRecord
	for _, b := range s.batches {
		out = append(out, b.GetRecords()...)
	}
	return out
}

// Count returns the number of stored records.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.countLocked()
}

func (s *Server) countLocked() int {
	n := s.discarded
	for _, b := range s.batches {
		n += len(b.GetRecords())
	}
	return n
}

// Attempts is the number of batches received, failures and duplicates included.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Duplicates is the number of batches received again after being stored.
func (s *Server) Duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dups
}

// WireBytes returns the request payload bytes received as sent on the
// wire (compressed when the client compresses) and after decompression.
func (s *Server) WireBytes() (wire, raw int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wireBytes, s.rawBytes
}

// WaitCount waits until at least n records are stored or ctx ends.
func (s *Server) WaitCount(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got, ch := s.countLocked(), s.changed
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("sawmilltest: %d of %d records stored: %w", got, n, ctx.Err())
		}
	}
}

// Push implements sawmill.v1.IngestService.
func (s *Server) Push(ctx context.Context, req *sawmillv1.PushRequest) (*sawmillv1.PushResponse, error) {
	if err := s.auth(ctx); err != nil {
		return nil, err
	}
	a := s.accept(req.GetBatch())
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	if a.code != codes.OK {
		st := status.New(a.code, a.msg)
		if a.retryAfter > 0 {
			st, _ = st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(a.retryAfter)})
		}
		if len(a.violations) > 0 {
			br := &errdetails.BadRequest{}
			for _, v := range a.violations {
				br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
			st, _ = st.WithDetails(br)
		}
		return nil, st.Err()
	}
	return &sawmillv1.PushResponse{Accepted: a.accepted, Duplicate: a.duplicate}, nil
}

// PushStream implements sawmill.v1.IngestService.
func (s *Server) PushStream(stream sawmillv1.IngestService_PushStreamServer) error {
	if err := s.auth(stream.Context()); err != nil {
		return err
	}
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		a := s.accept(req.GetBatch())
		if err := s.wait(stream.Context()); err != nil {
			return err
		}
		resp := &sawmillv1.PushStreamResponse{
			BatchId: req.GetBatch().GetBatchId(), Code: uint32(a.code), Message: a.msg,
			Accepted: a.accepted, Duplicate: a.duplicate, FieldViolations: a.violations,
		}
		if a.retryAfter > 0 {
			resp.RetryAfter = durationpb.New(a.retryAfter)
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

func (s *Server) auth(ctx context.Context) error {
	if s.token == "" {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if v == "Bearer "+s.token {
			return nil
		}
	}
	return status.Error(codes.Unauthenticated, "sawmilltest: missing or wrong bearer token")
}

func (s *Server) wait(ctx context.Context) error {
	s.mu.Lock()
	h := s.hold
	s.mu.Unlock()
	if h == nil {
		return nil
	}
	select {
	case <-h:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

type answer struct {
	code       codes.Code
	msg        string
	accepted   uint32
	duplicate  bool
	retryAfter time.Duration
	violations []*sawmillv1.FieldViolation
}

func (s *Server) accept(b *sawmillv1.LogBatch) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		a := answer{code: f.code, msg: "sawmilltest: injected failure", retryAfter: f.retryAfter}
		if f.code == codes.InvalidArgument {
			// The real server always names what is wrong.
			a.violations = []*sawmillv1.FieldViolation{{Field: "batch", Description: "sawmilltest: injected failure"}}
		}
		return a
	}
	if s.discard {
		s.discarded += len(b.GetRecords())
		return answer{accepted: uint32(len(b.GetRecords()))}
	}
	if v := Validate(b); len(v) > 0 {
		return answer{code: codes.InvalidArgument, msg: "sawmilltest: invalid batch: " + v[0].GetField() + ": " + v[0].GetDescription(), violations: v}
	}
	if s.seen[b.GetBatchId()] {
		s.dups++
		return answer{accepted: uint32(len(b.GetRecords())), duplicate: true}
	}
	s.seen[b.GetBatchId()] = true
	s.batches = append(s.batches, proto.Clone(b).(*sawmillv1.LogBatch))
	close(s.changed)
	s.changed = make(chan struct{})
	return answer{accepted: uint32(len(b.GetRecords()))}
}

// Validate checks a batch against the rules of log.proto, as a Sawmill
// server whose clock reads now applies them, and returns the broken ones
// (nil when the batch is acceptable). The rules follow the contract as
// written, so a batch Validate accepts is accepted by every v1 server:
// strings valid UTF-8 within their lengths, times from 2000 to 24 hours
// ahead, attributes a JSON object within 64 KiB, 128 top-level keys and 16
// levels, without the escape \u0000 or unpaired surrogates, and with "$"
// keys only as the {"$bytes":"<base64>"} marker.
func Validate(b *sawmillv1.LogBatch) []*sawmillv1.FieldViolation {
	var out []*sawmillv1.FieldViolation
	for _, v := range wirecheck.Batch(b, time.Now()) {
		out = append(out, &sawmillv1.FieldViolation{Field: v.Field, Description: v.Description})
	}
	return out
}

// sizeCounter records request payload sizes.
type sizeCounter struct{ s *Server }

func (c sizeCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (c sizeCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (c sizeCounter) HandleConn(context.Context, stats.ConnStats)                       {}
func (c sizeCounter) HandleRPC(_ context.Context, st stats.RPCStats) {
	if in, ok := st.(*stats.InPayload); ok {
		c.s.mu.Lock()
		c.s.wireBytes += int64(in.CompressedLength)
		c.s.rawBytes += int64(in.Length)
		c.s.mu.Unlock()
	}
}
