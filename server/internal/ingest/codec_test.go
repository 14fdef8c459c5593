package ingest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/gzip"
	protoenc "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/validate"
)

// rawClientCodec sends a []byte request as it is (a hostile client's bytes)
// and decodes answers with the standard codec.
type rawClientCodec struct{ encoding.CodecV2 }

func (c rawClientCodec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := v.([]byte); ok {
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return c.CodecV2.Marshal(v)
}

var rawCall = grpc.ForceCodecV2(rawClientCodec{encoding.GetCodecV2(protoenc.Name)})

// emptyRecords encodes a PushRequest whose batch holds n empty records: two
// bytes each on the wire.
func emptyRecords(id string, n int) []byte {
	var batch []byte
	batch = protowire.AppendTag(batch, 1, protowire.BytesType)
	batch = protowire.AppendString(batch, id)
	res, _ := proto.Marshal(&sawmillv1.Resource{Service: "svc"})
	batch = protowire.AppendTag(batch, 2, protowire.BytesType)
	batch = protowire.AppendBytes(batch, res)
	for range n {
		batch = append(batch, 3<<3|2, 0)
	}
	var req []byte
	req = protowire.AppendTag(req, 1, protowire.BytesType)
	return protowire.AppendBytes(req, batch)
}

// violations returns the BadRequest field violations of st as field: description.
func violations(st *status.Status) map[string]string {
	out := map[string]string{}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out[v.GetField()] = v.GetDescription()
			}
		}
	}
	return out
}

// allocated returns the bytes the process allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A batch of a million empty records (2 MB on the wire, some 240 MB once
// decoded) is refused by a scan of its bytes, without being decoded, on
// Push and on PushStream, whose stream goes on.
func TestOverLimitRefusedBeforeDecode(t *testing.T) {
	pub := &fakePublisher{}
	conn := serveConn(t, New(pub, Options{}))
	ctx := context.Background()
	hostile := emptyRecords("hostile", 1_000_000)
	want := map[string]string{"batch.records": "holds 1000000 records, more than 10000"}

	var err error
	n := allocated(func() {
		err = conn.Invoke(ctx, sawmillv1.IngestService_Push_FullMethodName, hostile, new(sawmillv1.PushResponse), rawCall)
	})
	st := status.Convert(err)
	require.Equal(t, codes.InvalidArgument, st.Code(), st.Message())
	assert.Equal(t, want, violations(st))
	assert.Contains(t, st.Message(), `"hostile"`)
	t.Logf("Push: %d bytes allocated for a %d-byte request", n, len(hostile))
	assert.Less(t, n, uint64(10*len(hostile)), "Push: %d bytes allocated for a %d-byte request", n, len(hostile))

	stream, err := conn.NewStream(ctx, &sawmillv1.IngestService_ServiceDesc.Streams[0], sawmillv1.IngestService_PushStream_FullMethodName, rawCall)
	require.NoError(t, err)
	var resp sawmillv1.PushStreamResponse
	n = allocated(func() {
		require.NoError(t, stream.SendMsg(hostile))
		require.NoError(t, stream.RecvMsg(&resp))
	})
	assert.Equal(t, uint32(codes.InvalidArgument), resp.GetCode(), resp.GetMessage())
	assert.Equal(t, "hostile", resp.GetBatchId())
	require.Len(t, resp.GetFieldViolations(), 1)
	assert.Equal(t, "batch.records", resp.GetFieldViolations()[0].GetField())
	assert.Equal(t, want["batch.records"], resp.GetFieldViolations()[0].GetDescription())
	t.Logf("PushStream: %d bytes allocated for a %d-byte request", n, len(hostile))
	assert.Less(t, n, uint64(10*len(hostile)), "PushStream: %d bytes allocated for a %d-byte request", n, len(hostile))

	ok, err := proto.Marshal(&sawmillv1.PushStreamRequest{Batch: batch("fine", 2)})
	require.NoError(t, err)
	require.NoError(t, stream.SendMsg(ok))
	resp.Reset()
	require.NoError(t, stream.RecvMsg(&resp))
	assert.Equal(t, uint32(codes.OK), resp.GetCode(), resp.GetMessage())
	assert.Equal(t, uint32(2), resp.GetAccepted())
	require.NoError(t, stream.CloseSend())
	assert.Equal(t, 1, pub.count(), "only the valid batch was published")
}

// A gzip-compressed request (the SDKs' compression option) is scanned
// after decompression like any other: a valid one is stored, a hostile one
// (a million empty records compress to a few kB) refused undecoded.
func TestCompressedRequests(t *testing.T) {
	pub := &fakePublisher{}
	conn := serveConn(t, New(pub, Options{}))
	ctx := context.Background()
	c := sawmillv1.NewIngestServiceClient(conn)
	resp, err := c.Push(ctx, &sawmillv1.PushRequest{Batch: batch("gz", 500)}, grpc.UseCompressor(gzip.Name))
	require.NoError(t, err)
	assert.Equal(t, uint32(500), resp.GetAccepted())
	require.Equal(t, 1, pub.count())
	assert.Len(t, pub.got[0].GetRecords(), 500)

	hostile := emptyRecords("bomb", 1_000_000)
	n := allocated(func() {
		err = conn.Invoke(ctx, sawmillv1.IngestService_Push_FullMethodName, hostile, new(sawmillv1.PushResponse), rawCall, grpc.UseCompressor(gzip.Name))
	})
	st := status.Convert(err)
	require.Equal(t, codes.InvalidArgument, st.Code(), st.Message())
	assert.Equal(t, map[string]string{"batch.records": "holds 1000000 records, more than 10000"}, violations(st))
	assert.Less(t, n, uint64(10*len(hostile)), "%d bytes allocated for a %d-byte request", n, len(hostile))
	assert.Equal(t, 1, pub.count())
}

// The checks made before decoding name the same fields, with the same
// words, as validate.Batch after decoding.
func TestShapeViolationsAsValidate(t *testing.T) {
	svc := New(&fakePublisher{}, Options{})
	big := batch("big", 2)
	big.Records[0].Body = strings.Repeat("x", 40<<10)
	for name, b := range map[string]*sawmillv1.LogBatch{
		"records": batch("many", validate.DefaultLimits.MaxRecords+1),
		"bytes":   big,
	} {
		t.Run(name, func(t *testing.T) {
			lim := validate.DefaultLimits
			if name == "bytes" {
				lim.MaxBatchBytes = 32 << 10
			}
			svc.opts.Limits = lim
			data, err := proto.Marshal(&sawmillv1.PushRequest{Batch: b})
			require.NoError(t, err)
			w, err := scanRequest(data)
			require.NoError(t, err)
			assert.Equal(t, len(b.GetRecords()), w.records)
			assert.Equal(t, proto.Size(b), w.size)
			pre := svc.shapeViolations(w)
			require.NotEmpty(t, pre)
			var post []validate.Violation
			for _, v := range validate.Batch(b, proto.Size(b), time.Now(), lim) {
				if v.Field == "batch" || v.Field == "batch.records" {
					post = append(post, v)
				}
			}
			assert.Equal(t, post, pre)
		})
	}
}

// A request that is not protobuf is the client's error: InvalidArgument,
// not Internal.
func TestMalformedRequestIsInvalidArgument(t *testing.T) {
	conn := serveConn(t, New(&fakePublisher{}, Options{}))
	for name, data := range map[string][]byte{
		"truncated batch":  {1<<3 | 2, 50, 1},
		"field number 0":   {byte(protowire.EncodeTag(0, protowire.VarintType)), 1},
		"bad record bytes": append([]byte{1<<3 | 2, 4, 3<<3 | 2, 2}, 0xff, 0xff),
	} {
		t.Run(name, func(t *testing.T) {
			err := conn.Invoke(context.Background(), sawmillv1.IngestService_Push_FullMethodName, data, new(sawmillv1.PushResponse), rawCall)
			st := status.Convert(err)
			assert.Equal(t, codes.InvalidArgument, st.Code(), st.Message())
			assert.Contains(t, violations(st), "batch")
		})
	}
}

// The in-flight budget counts what a batch costs decoded, not its encoded
// size: 10,000 empty records are 20 kB on the wire and 10 MiB of budget.
func TestInflightBudgetCountsDecodedCost(t *testing.T) {
	pub := &fakePublisher{delay: 2 * time.Second}
	conn := serveConn(t, New(pub, Options{MaxInflightSize: 15 << 20}))
	c := sawmillv1.NewIngestServiceClient(conn)
	empty := func(id string) *sawmillv1.LogBatch {
		b := batch(id, 10000)
		for _, r := range b.Records {
			r.Body = ""
		}
		return b
	}
	assert.Greater(t, BatchCost(10000, proto.Size(empty("x"))), int64(15<<20)/2)
	var wg sync.WaitGroup
	got := make(chan codes.Code, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Push(context.Background(), &sawmillv1.PushRequest{Batch: empty(fmt.Sprint("e", i))})
			got <- status.Code(err)
		}()
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	close(got)
	var seen []codes.Code
	for c := range got {
		seen = append(seen, c)
	}
	assert.ElementsMatch(t, []codes.Code{codes.OK, codes.ResourceExhausted}, seen)
}

// BatchCost covers what a batch costs at its peak: the decoded batch, plus
// the received bytes (freed once it is decoded) or the copy encoded for the
// queue, whichever is larger; for the shapes that cost the most per wire
// byte (empty records, empty sub-messages, one-byte fields, strings just
// above an allocator size class) and for large bodies.
func TestBatchCostCoversDecodedBatch(t *testing.T) {
	one := []byte{1}
	shapes := map[string]func(i int) *sawmillv1.LogRecord{
		"empty": func(int) *sawmillv1.LogRecord { return &sawmillv1.LogRecord{} },
		"empty sub-messages": func(int) *sawmillv1.LogRecord {
			return &sawmillv1.LogRecord{Source: &sawmillv1.SourceLocation{}, Error: &sawmillv1.ErrorInfo{}}
		},
		"one-byte fields": func(int) *sawmillv1.LogRecord {
			return &sawmillv1.LogRecord{SeverityText: "a", Body: "b", AttributesJson: one, TraceId: one, SpanId: one, Logger: "l",
				Source: &sawmillv1.SourceLocation{File: "f", Function: "g"}, Error: &sawmillv1.ErrorInfo{Type: "t", Message: "m", Stack: "s"}}
		},
		"33-byte fields": func(i int) *sawmillv1.LogRecord {
			s := fmt.Sprintf("%033d", i)
			return &sawmillv1.LogRecord{SeverityText: s[:32], Body: s, AttributesJson: []byte(s), Logger: s,
				Source: &sawmillv1.SourceLocation{File: s, Function: s}, Error: &sawmillv1.ErrorInfo{Type: s, Message: s, Stack: s}}
		},
		"64 KiB bodies": func(i int) *sawmillv1.LogRecord {
			return &sawmillv1.LogRecord{Body: strings.Repeat(string(rune('a'+i%26)), 64<<10)}
		},
		"32 KiB + 1 bodies": func(i int) *sawmillv1.LogRecord {
			return &sawmillv1.LogRecord{Body: strings.Repeat(string(rune('a'+i%26)), 32<<10+1)}
		},
	}
	for name, mk := range shapes {
		t.Run(name, func(t *testing.T) {
			n := validate.DefaultLimits.MaxRecords
			switch name {
			case "64 KiB bodies":
				n = 127 // 8 MiB
			case "32 KiB + 1 bodies":
				n = 255
			}
			b := &sawmillv1.LogBatch{BatchId: "cost", Resource: &sawmillv1.Resource{Service: "svc"}}
			for i := range n {
				b.Records = append(b.Records, mk(i))
			}
			data, err := proto.Marshal(&sawmillv1.PushRequest{Batch: b})
			require.NoError(t, err)
			var decoded sawmillv1.PushRequest
			runtime.GC()
			dec := allocated(func() { require.NoError(t, proto.Unmarshal(data, &decoded)) })
			enc := allocated(func() {
				_, err = proto.Marshal(decoded.GetBatch())
				require.NoError(t, err)
			})
			peak := int64(dec) + max(int64(len(data)), int64(enc))
			cost := BatchCost(n, proto.Size(b))
			t.Logf("%d records, %d bytes: decoded %d, encoded %d, peak %d (%.2f x size + %d B/record), cost %d",
				n, proto.Size(b), dec, enc, peak, float64(peak)/float64(proto.Size(b)), (peak-2*int64(proto.Size(b)))/int64(n), cost)
			assert.Less(t, peak, cost)
		})
	}
}
