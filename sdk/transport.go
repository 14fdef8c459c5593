package sawmill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/gzip" // registers the gzip compressor for Config.Compression
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

// rawMessage is a request already encoded in protobuf wire format.
type rawMessage struct{ b []byte }

// rawCodec sends rawMessages as they are and everything else (responses)
// through the standard proto codec. It keeps the name "proto" so the
// content type on the wire is unchanged.
type rawCodec struct{ proto encoding.CodecV2 }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*rawMessage); ok {
		return mem.BufferSlice{mem.SliceBuffer(r.b)}, nil
	}
	return c.proto.Marshal(v)
}

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error { return c.proto.Unmarshal(data, v) }
func (c rawCodec) Name() string                                { return "proto" }

// result is the outcome of one attempt to push one batch.
type result struct {
	accepted   uint32
	duplicate  bool
	code       codes.Code
	msg        string
	violations []string
	retryAfter time.Duration
	st         *status.Status // the server's status with its details; nil: built from the fields
	cause      error          // the gRPC error the result was made from, if any
}

func (r result) err() error {
	if r.code == codes.OK {
		return nil
	}
	return &StatusError{Code: r.code, Message: r.msg, Violations: r.violations, status: r.st, cause: r.cause}
}

// StatusError is a failed push as the server (or the connection) reported
// it. It works with the standard helpers: status.Code, status.FromError
// and status.Convert return the server's status with its details
// (google.rpc.BadRequest field violations, google.rpc.RetryInfo), for
// PushStream answers too; errors.Is(err, context.DeadlineExceeded) holds
// for DeadlineExceeded (an attempt that outlived Config.RequestTimeout) and
// errors.Is(err, context.Canceled) for Canceled. SendError and DropError
// wrap it, so the same helpers work on what Config.OnError receives.
type StatusError struct {
	Code       codes.Code
	Message    string
	Violations []string // "field: description" for InvalidArgument

	status *status.Status
	cause  error
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("sawmill: push: %s: %s", e.Code, e.Message)
	for _, v := range e.Violations {
		s += "; " + v
	}
	return s
}

// GRPCStatus returns the status the server answered with, details
// included; status.FromError and status.Code find it through this method.
func (e *StatusError) GRPCStatus() *status.Status {
	if e.status != nil {
		return e.status
	}
	return status.New(e.Code, e.Message)
}

// Is makes errors.Is(err, context.DeadlineExceeded) and
// errors.Is(err, context.Canceled) hold for the matching codes.
func (e *StatusError) Is(target error) bool {
	switch target {
	case context.DeadlineExceeded:
		return e.Code == codes.DeadlineExceeded
	case context.Canceled:
		return e.Code == codes.Canceled
	}
	return false
}

// Unwrap returns the gRPC error the push failed with, if any.
func (e *StatusError) Unwrap() error { return e.cause }

// streamStatus builds the status of a failed PushStream answer, with the
// same details a failed Push carries.
func streamStatus(r result, violations []*sawmillv1.FieldViolation) *status.Status {
	st := status.New(r.code, r.msg)
	var details []protoadapt.MessageV1
	if r.retryAfter > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(r.retryAfter)})
	}
	if len(violations) > 0 {
		br := &errdetails.BadRequest{}
		for _, v := range violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
		}
		details = append(details, br)
	}
	if len(details) == 0 {
		return st
	}
	if withDetails, err := st.WithDetails(details...); err == nil {
		return withDetails
	}
	return st
}

// retryable reports whether a failed batch should be sent again. Internal
// and Unknown are retried too: grpc-go reports some broken connections
// (a server killed mid-write) with them, and a retried batch is stored once.
func retryable(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded,
		codes.Aborted, codes.Internal, codes.Unknown, codes.Canceled:
		return true
	}
	return false
}

// fromError turns a gRPC error into a result.
func fromError(err error) result {
	st, ok := status.FromError(err)
	r := result{code: st.Code(), msg: st.Message(), cause: err}
	if ok {
		r.st = st
	}
	if r.code == codes.OK { // not a status error
		r.code = codes.Unknown
	}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.RetryInfo:
			r.retryAfter = d.GetRetryDelay().AsDuration()
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				r.violations = append(r.violations, v.GetField()+": "+v.GetDescription())
			}
		}
	}
	return r
}

// pusher sends one encoded request and waits for its acknowledgement.
// push is called concurrently by up to MaxInFlight senders; close is
// called once, after every push returned.
type pusher interface {
	push(ctx context.Context, id string, req []byte) result
	close()
}

type unaryPusher struct {
	conn *grpc.ClientConn
	opts []grpc.CallOption
}

func (p *unaryPusher) push(ctx context.Context, _ string, req []byte) result {
	var resp sawmillv1.PushResponse
	err := p.conn.Invoke(ctx, sawmillv1.IngestService_Push_FullMethodName, &rawMessage{b: req}, &resp, p.opts...)
	if err != nil {
		return fromError(err)
	}
	return result{accepted: resp.GetAccepted(), duplicate: resp.GetDuplicate()}
}

func (p *unaryPusher) close() {}

// streamPusher multiplexes pushes over one PushStream, reopened after it
// breaks. Answers are matched to waiting pushes by batch id.
type streamPusher struct {
	conn *grpc.ClientConn
	opts []grpc.CallOption

	mu sync.Mutex
	st *pushStream
	wg sync.WaitGroup // receivers
}

type pushStream struct {
	cs     grpc.ClientStream
	cancel context.CancelFunc
	sendMu sync.Mutex
	done   chan struct{} // closed when the receiver exits

	mu      sync.Mutex
	waiters map[string]chan result
	broken  *result // set once the stream failed
}

func (p *streamPusher) stream() (*pushStream, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.st != nil {
		return p.st, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	cs, err := p.conn.NewStream(ctx, &sawmillv1.IngestService_ServiceDesc.Streams[0],
		sawmillv1.IngestService_PushStream_FullMethodName, p.opts...)
	if err != nil {
		cancel()
		return nil, err
	}
	st := &pushStream{cs: cs, cancel: cancel, done: make(chan struct{}), waiters: make(map[string]chan result)}
	p.st = st
	p.wg.Add(1)
	go p.receive(st)
	return st, nil
}

// receive owns st's receiving side; it exits when the stream ends.
func (p *streamPusher) receive(st *pushStream) {
	defer p.wg.Done()
	defer close(st.done)
	for {
		var resp sawmillv1.PushStreamResponse
		if err := st.cs.RecvMsg(&resp); err != nil {
			r := fromError(err)
			if errors.Is(err, io.EOF) {
				r = result{code: codes.Unavailable, msg: "ingest stream closed by the server"}
			}
			p.fail(st, r)
			return
		}
		r := result{
			accepted:   resp.GetAccepted(),
			duplicate:  resp.GetDuplicate(),
			code:       codes.Code(resp.GetCode()),
			msg:        resp.GetMessage(),
			retryAfter: resp.GetRetryAfter().AsDuration(),
		}
		for _, v := range resp.GetFieldViolations() {
			r.violations = append(r.violations, v.GetField()+": "+v.GetDescription())
		}
		if r.code != codes.OK {
			r.st = streamStatus(r, resp.GetFieldViolations())
		}
		st.mu.Lock()
		ch, ok := st.waiters[resp.GetBatchId()]
		delete(st.waiters, resp.GetBatchId())
		st.mu.Unlock()
		if ok {
			ch <- r
		}
	}
}

// fail marks st broken, answers every waiter with r and forgets st.
func (p *streamPusher) fail(st *pushStream, r result) {
	st.mu.Lock()
	if st.broken == nil {
		st.broken = &r
	}
	for id, ch := range st.waiters {
		ch <- r
		delete(st.waiters, id)
	}
	st.mu.Unlock()
	st.cancel()
	p.mu.Lock()
	if p.st == st {
		p.st = nil
	}
	p.mu.Unlock()
}

func (p *streamPusher) push(ctx context.Context, id string, req []byte) result {
	st, err := p.stream()
	if err != nil {
		return fromError(err)
	}
	ch := make(chan result, 1)
	st.mu.Lock()
	if st.broken != nil {
		r := *st.broken
		st.mu.Unlock()
		return r
	}
	st.waiters[id] = ch
	st.mu.Unlock()

	st.sendMu.Lock()
	err = st.cs.SendMsg(&rawMessage{b: req})
	st.sendMu.Unlock()
	if err != nil && !errors.Is(err, io.EOF) {
		// io.EOF: the stream broke; the receiver reports the real status.
		p.fail(st, fromError(err))
	}
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		// The stream may be stuck: start over on a new one.
		p.fail(st, result{code: status.FromContextError(ctx.Err()).Code(), msg: "no answer on the ingest stream: " + ctx.Err().Error(), cause: ctx.Err()})
		return <-ch
	}
}

func (p *streamPusher) close() {
	p.mu.Lock()
	st := p.st
	p.st = nil
	p.mu.Unlock()
	if st != nil {
		st.sendMu.Lock()
		_ = st.cs.CloseSend()
		st.sendMu.Unlock()
		st.cancel()
	}
	p.wg.Wait()
}
