package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	protoenc "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/validate"
)

// Memory a batch is counted for against Options.MaxInflightSize while it is
// decoded, validated and published: CostPerByte times its encoded size (the
// decoded strings and bytes, the copy encoded for the queue, allocator
// rounding) plus CostPerRecord for each record (a decoded LogRecord with its
// source and error is 240-460 heap bytes however few wire bytes it took; an
// empty record is 2 bytes on the wire).
const (
	CostPerByte   = 3
	CostPerRecord = 1 << 10
)

// retryInflight is the retry delay of a batch refused for the in-flight budget.
const retryInflight = 200 * time.Millisecond

// BatchCost is the memory a batch of records records and size encoded bytes
// is counted for.
func BatchCost(records, size int) int64 {
	return int64(size)*CostPerByte + int64(records)*CostPerRecord
}

// Codec returns the gRPC server codec the Service needs
// (grpc.ForceServerCodecV2): the standard protobuf codec, except that Push
// and PushStream requests are handed to the Service as received, so that it
// checks their record count and size, and reserves their memory, before
// decoding them. It changes no process-wide codec registration.
func Codec() encoding.CodecV2 {
	return codec{encoding.GetCodecV2(protoenc.Name)}
}

type codec struct{ encoding.CodecV2 }

// rawRequest receives a PushRequest or PushStreamRequest undecoded, in the
// buffers grpc-go read it into.
type rawRequest struct{ data mem.BufferSlice }

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*rawRequest); ok {
		r.free() // a second message of a unary call, refused by grpc-go after this
		data.Ref()
		r.data = data
		return nil
	}
	return c.CodecV2.Unmarshal(data, v)
}

// free releases the received bytes.
func (r *rawRequest) free() {
	r.data.Free()
	r.data = nil
}

// wireBatch is what a scan of a request's bytes tells about its batch
// without decoding it.
type wireBatch struct {
	id      string // batch_id, when it is 1-MaxBatchIDBytes bytes
	records int    // occurrences of LogBatch.records
	size    int    // encoded bytes of the batch
}

// scanRequest walks the wire bytes of a PushRequest or PushStreamRequest
// (both carry the batch as field 1) and counts the records of its batch,
// without allocating. Like proto.Unmarshal it merges repeated occurrences
// of the batch field and skips unknown fields and fields of the wrong wire
// type, so records equals len(batch.records) after proto.Unmarshal whenever
// that succeeds; it fails only on bytes proto.Unmarshal rejects too.
func scanRequest(b []byte) (wireBatch, error) {
	var w wireBatch
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return w, protowire.ParseError(n)
		}
		b = b[n:]
		if num != 1 || typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return w, protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		batch, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return w, protowire.ParseError(n)
		}
		b = b[n:]
		w.size += len(batch)
		if err := w.scanBatch(batch); err != nil {
			return w, err
		}
	}
	return w, nil
}

func (w *wireBatch) scanBatch(b []byte) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == 1 || num == 3) {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			if num == 3 {
				w.records++
			} else if len(v) > 0 && len(v) <= validate.MaxBatchIDBytes {
				w.id = string(v)
			} else {
				w.id = ""
			}
			continue
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
	}
	return nil
}

// shapeViolations are the limits w breaks that can be told before decoding,
// worded as validate.Batch words them.
func (s *Service) shapeViolations(w wireBatch) []validate.Violation {
	var vs []validate.Violation
	if lim := s.opts.Limits.MaxRecords; lim > 0 && w.records > lim {
		vs = append(vs, validate.Violation{Field: "batch.records", Description: fmt.Sprintf("holds %d records, more than %d", w.records, lim)})
	}
	if lim := s.opts.Limits.MaxBatchBytes; lim > 0 && w.size > lim {
		vs = append(vs, validate.Violation{Field: "batch", Description: fmt.Sprintf("is %d bytes encoded, more than %d", w.size, lim)})
	}
	return vs
}

// decode turns a request received undecoded into msg (a *PushRequest or
// *PushStreamRequest), in this order: scan its bytes; refuse it, without
// decoding, when its batch breaks the record or byte limit (InvalidArgument
// naming the field) or when its cost does not fit in the in-flight budget
// (ResourceExhausted with a retry delay); decode it. The received bytes are
// released in every case. On success the caller handles the batch and then
// calls s.release(cost).
func (s *Service) decode(r *rawRequest, msg proto.Message) (id string, cost int64, st *status.Status) {
	defer r.free()
	// The scan reads the received buffers in place: a request refused here
	// costs no copy of its bytes. Only one using groups, which no client
	// sends, is scanned on a contiguous copy.
	var whole mem.Buffer
	defer func() {
		if whole != nil {
			whole.Free()
		}
	}()
	w, err := scanBuffers(r.data)
	if errors.Is(err, errGroup) {
		whole = r.data.MaterializeToBuffer(mem.DefaultBufferPool())
		w, err = scanRequest(whole.ReadOnlyData())
	}
	if err != nil {
		s.count(outcomeInvalid, 0)
		return "", 0, malformed(err)
	}
	if vs := s.shapeViolations(w); len(vs) > 0 {
		s.count(outcomeInvalid, w.records)
		return w.id, 0, invalid(&sawmillv1.LogBatch{BatchId: w.id}, vs)
	}
	cost = BatchCost(w.records, w.size)
	if !s.acquire(cost) {
		s.count(outcomeFull, w.records)
		return w.id, 0, exhausted("too many bytes in flight, retry shortly", retryInflight)
	}
	if whole == nil {
		whole = r.data.MaterializeToBuffer(mem.DefaultBufferPool())
	}
	if err := proto.Unmarshal(whole.ReadOnlyData(), msg); err != nil {
		s.release(cost)
		s.count(outcomeInvalid, w.records)
		return w.id, 0, malformed(err)
	}
	return w.id, cost, nil
}

func malformed(err error) *status.Status {
	msg := fmt.Sprintf("request is not a valid protobuf message: %v", err)
	st, derr := status.New(codes.InvalidArgument, msg).WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "batch", Description: msg}},
	})
	if derr != nil {
		return status.New(codes.InvalidArgument, msg)
	}
	return st
}

// Register registers s on r with its Push reading the request undecoded; r
// must be a gRPC server built with grpc.ForceServerCodecV2(Codec()), without
// which PushStream fails every receive with Internal (registered with
// sawmillv1.RegisterIngestServiceServer instead, Push decodes each request
// before any limit is checked).
func (s *Service) Register(r grpc.ServiceRegistrar) {
	desc := sawmillv1.IngestService_ServiceDesc
	desc.Methods = []grpc.MethodDesc{{MethodName: "Push", Handler: pushHandler}}
	r.RegisterService(&desc, s)
}

// pushHandler is the generated Push handler with the request decoded by
// Service.decode instead of by grpc-go.
func pushHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	var raw rawRequest
	if err := dec(&raw); err != nil {
		raw.free()
		return nil, err
	}
	s := srv.(*Service)
	if interceptor == nil {
		return s.pushRaw(ctx, &raw)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: sawmillv1.IngestService_Push_FullMethodName}
	return interceptor(ctx, &raw, info, func(ctx context.Context, req any) (any, error) {
		return s.pushRaw(ctx, req.(*rawRequest))
	})
}

func (s *Service) pushRaw(ctx context.Context, raw *rawRequest) (*sawmillv1.PushResponse, error) {
	var req sawmillv1.PushRequest
	_, cost, st := s.decode(raw, &req)
	if st != nil {
		return nil, st.Err()
	}
	defer s.release(cost)
	return s.answer(s.handle(ctx, req.GetBatch()))
}
