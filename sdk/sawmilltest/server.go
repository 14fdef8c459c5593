package sawmilltest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

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

// Validate checks a batch against the rules of log.proto and returns the
// broken ones (nil when the batch is acceptable).
func Validate(b *sawmillv1.LogBatch) []*sawmillv1.FieldViolation {
	var out []*sawmillv1.FieldViolation
	bad := func(field, format string, args ...any) {
		out = append(out, &sawmillv1.FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
	}
	id := b.GetBatchId()
	if len(id) < 1 || len(id) > 64 {
		bad("batch.batch_id", "length %d not in 1..64", len(id))
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			bad("batch.batch_id", "byte %d is not printable ASCII", i)
			break
		}
	}
	res := b.GetResource()
	if n := len(res.GetService()); n < 1 || n > 128 {
		bad("batch.resource.service", "length %d not in 1..128", n)
	}
	for f, v := range map[string]string{"service": res.GetService(), "instance": res.GetInstance(), "environment": res.GetEnvironment(), "version": res.GetVersion()} {
		if !utf8.ValidString(v) {
			bad("batch.resource."+f, "invalid UTF-8")
		}
	}
	if err := validateAttrs(res.GetAttributesJson()); err != nil {
		bad("batch.resource.attributes_json", "%v", err)
	}
	if n := len(b.GetRecords()); n < 1 || n > 10000 {
		bad("batch.records", "%d records not in 1..10000", n)
	}
	if n := proto.Size(b); n > 8<<20 {
		bad("batch", "%d bytes encoded, more than 8 MiB", n)
	}
	for i, r := range b.GetRecords() {
		p := fmt.Sprintf("batch.records[%d].", i)
		for f, v := range map[string]string{"severity_text": r.GetSeverityText(), "body": r.GetBody(), "logger": r.GetLogger(),
			"source.file": r.GetSource().GetFile(), "source.function": r.GetSource().GetFunction(),
			"error.type": r.GetError().GetType(), "error.message": r.GetError().GetMessage(), "error.stack": r.GetError().GetStack()} {
			if !utf8.ValidString(v) {
				bad(p+f, "invalid UTF-8")
			}
		}
		if len(r.GetSeverityText()) > 32 {
			bad(p+"severity_text", "longer than 32 bytes")
		}
		if len(r.GetBody()) > 64<<10 {
			bad(p+"body", "longer than 64 KiB")
		}
		if len(r.GetLogger()) > 256 {
			bad(p+"logger", "longer than 256 bytes")
		}
		if n := len(r.GetTraceId()); n != 0 && n != 16 {
			bad(p+"trace_id", "%d bytes, want 0 or 16", n)
		}
		if n := len(r.GetSpanId()); n != 0 && n != 8 {
			bad(p+"span_id", "%d bytes, want 0 or 8", n)
		}
		if sev := r.GetSeverityNumber(); sev < 0 || sev > 24 {
			bad(p+"severity_number", "%d not in 0..24", sev)
		}
		if t := r.GetTimeUnixNano(); t != 0 && (t < uint64(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()) || t > uint64(time.Now().Add(24*time.Hour).UnixNano())) {
			bad(p+"time_unix_nano", "%d before 2000 or more than 24h ahead", t)
		}
		if err := validateAttrs(r.GetAttributesJson()); err != nil {
			bad(p+"attributes_json", "%v", err)
		}
	}
	return out
}

// validateAttrs checks an attributes document: empty, or a JSON object of
// valid UTF-8, at most 64 KiB, 128 top-level keys and 16 levels deep.
func validateAttrs(doc []byte) error {
	if len(doc) == 0 {
		return nil
	}
	if len(doc) > 64<<10 {
		return fmt.Errorf("%d bytes, more than 64 KiB", len(doc))
	}
	if !utf8.Valid(doc) || !json.Valid(doc) {
		return errors.New("not valid JSON")
	}
	if len(bytes.TrimSpace(doc)) == 0 || bytes.TrimSpace(doc)[0] != '{' {
		return errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	depth, maxDepth := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
				maxDepth = max(maxDepth, depth)
			} else {
				depth--
			}
		}
	}
	keys := countTopKeys(doc)
	if keys > 128 {
		return fmt.Errorf("%d top-level keys, more than 128", keys)
	}
	if maxDepth > 16 {
		return fmt.Errorf("nesting %d deeper than 16", maxDepth)
	}
	return nil
}

// countTopKeys counts the keys of the top-level object, duplicates included.
func countTopKeys(doc []byte) int {
	dec := json.NewDecoder(bytes.NewReader(doc))
	if _, err := dec.Token(); err != nil { // '{'
		return 0
	}
	n := 0
	for dec.More() {
		if _, err := dec.Token(); err != nil { // key
			return n
		}
		n++
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return n
		}
	}
	return n
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
