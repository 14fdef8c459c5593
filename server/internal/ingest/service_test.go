package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakePublisher records batches or fails as told.
type fakePublisher struct {
	mu    sync.Mutex
	got   []*sawmillv1.LogBatch
	err   error
	delay time.Duration
}

func (f *fakePublisher) Publish(ctx context.Context, b *sawmillv1.LogBatch) error {
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.got = append(f.got, b)
	return nil
}

func (f *fakePublisher) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

// serve starts the service on a loopback gRPC server.
func serve(t *testing.T, svc *Service) sawmillv1.IngestServiceClient {
	t.Helper()
	return sawmillv1.NewIngestServiceClient(serveConn(t, svc))
}

// serveConn starts the service on a loopback gRPC server configured as the
// sawmill binary configures it, and dials it.
func serveConn(t *testing.T, svc *Service) *grpc.ClientConn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.ForceServerCodecV2(Codec()), grpc.MaxRecvMsgSize(16<<20))
	svc.Register(srv)
	go func() { _ = srv.Serve(l) }()
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(32<<20)))
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
	})
	return conn
}

func batch(id string, n int) *sawmillv1.LogBatch {
	b := &sawmillv1.LogBatch{BatchId: id, Resource: &sawmillv1.Resource{Service: "svc"}}
	for i := 0; i < n; i++ {
		b.Records = append(b.Records, &sawmillv1.LogRecord{Body: fmt.Sprintf("r%d", i)})
	}
	return b
}

func TestPushAcceptsAndNormalizes(t *testing.T) {
	pub := &fakePublisher{}
	now := time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)
	c := serve(t, New(pub, Options{Now: func() time.Time { return now }}))
	resp, err := c.Push(context.Background(), &sawmillv1.PushRequest{Batch: batch("b1", 3)})
	require.NoError(t, err)
	assert.Equal(t, uint32(3), resp.GetAccepted())
	require.Equal(t, 1, pub.count())
	r := pub.got[0].GetRecords()[0]
	assert.Equal(t, uint64(now.UnixNano()), r.GetTimeUnixNano(), "time defaults to the observed time")
	assert.Equal(t, uint64(now.UnixNano()), r.GetObservedTimeUnixNano())
	assert.Equal(t, sawmillv1.SeverityNumber_SEVERITY_NUMBER_INFO, r.GetSeverityNumber())
}

func TestPushDuplicateIsNotPublishedAgain(t *testing.T) {
	pub := &fakePublisher{}
	c := serve(t, New(pub, Options{RecentIDs: 2}))
	ctx := context.Background()
	for _, id := range []string{"a", "a", "b", "a"} {
		_, err := c.Push(ctx, &sawmillv1.PushRequest{Batch: batch(id, 1)})
		require.NoError(t, err)
	}
	assert.Equal(t, 2, pub.count())
	// Remembered ids are bounded: the oldest is forgotten (the store's own
	// batch-id check then catches a late retry).
	for _, id := range []string{"c", "d"} {
		_, err := c.Push(ctx, &sawmillv1.PushRequest{Batch: batch(id, 1)})
		require.NoError(t, err)
	}
	resp, err := c.Push(ctx, &sawmillv1.PushRequest{Batch: batch("a", 1)})
	require.NoError(t, err)
	assert.False(t, resp.GetDuplicate())
}

func TestPushErrorMapping(t *testing.T) {
	for name, tc := range map[string]struct {
		err       error
		code      codes.Code
		retryInfo bool
	}{
		"full":          {&pipeline.FullError{RetryAfter: 300 * time.Millisecond}, codes.ResourceExhausted, true},
		"full sentinel": {fmt.Errorf("wrapped: %w", pipeline.ErrFull), codes.ResourceExhausted, true},
		"unavailable":   {fmt.Errorf("broker: %w", pipeline.ErrUnavailable), codes.Unavailable, true},
		"other":         {errors.New("disk on fire"), codes.Unavailable, true},
		"permanent":     {fmt.Errorf("direct: %w", pipeline.Permanent(errors.New("SQLSTATE 22023"))), codes.InvalidArgument, false},
	} {
		t.Run(name, func(t *testing.T) {
			c := serve(t, New(&fakePublisher{err: tc.err}, Options{}))
			_, err := c.Push(context.Background(), &sawmillv1.PushRequest{Batch: batch("x", 1)})
			st := status.Convert(err)
			assert.Equal(t, tc.code, st.Code(), st.Message())
			var ri *errdetails.RetryInfo
			for _, d := range st.Details() {
				if r, ok := d.(*errdetails.RetryInfo); ok {
					ri = r
				}
			}
			if tc.retryInfo {
				require.NotNil(t, ri)
				assert.Positive(t, ri.GetRetryDelay().AsDuration())
			} else {
				assert.Nil(t, ri, "not retryable")
			}
		})
	}
	t.Run("full says what is full, once", func(t *testing.T) {
		for _, tc := range []struct {
			err  error
			want string
		}{
			{&pipeline.FullError{RetryAfter: 300 * time.Millisecond}, "batch x not stored: queue full, retry after 300ms"},
			{&pipeline.FullError{RetryAfter: time.Second, Reason: "broker blocked publishing: low on memory"}, "batch x not stored: broker blocked publishing: low on memory, retry after 1s"},
		} {
			c := serve(t, New(&fakePublisher{err: tc.err}, Options{}))
			_, err := c.Push(context.Background(), &sawmillv1.PushRequest{Batch: batch("x", 1)})
			assert.Equal(t, tc.want, status.Convert(err).Message())
		}
	})
	t.Run("full keeps the hint", func(t *testing.T) {
		c := serve(t, New(&fakePublisher{err: &pipeline.FullError{RetryAfter: 1500 * time.Millisecond}}, Options{}))
		_, err := c.Push(context.Background(), &sawmillv1.PushRequest{Batch: batch("x", 1)})
		for _, d := range status.Convert(err).Details() {
			if r, ok := d.(*errdetails.RetryInfo); ok {
				assert.Equal(t, 1500*time.Millisecond, r.GetRetryDelay().AsDuration())
			}
		}
	})
}

func TestPushInvalidNamesFields(t *testing.T) {
	pub := &fakePublisher{}
	c := serve(t, New(pub, Options{}))
	b := batch("bad", 2)
	b.Resource.Service = ""
	b.Records[1].SpanId = []byte{1}
	_, err := c.Push(context.Background(), &sawmillv1.PushRequest{Batch: b})
	st := status.Convert(err)
	require.Equal(t, codes.InvalidArgument, st.Code())
	assert.Contains(t, st.Message(), "and 1 more")
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	assert.Equal(t, []string{"batch.resource.service", "batch.records[1].span_id"}, fields)
	assert.Zero(t, pub.count(), "nothing of a rejected batch is published")
}

func TestInflightBound(t *testing.T) {
	pub := &fakePublisher{delay: 300 * time.Millisecond}
	svc := New(pub, Options{MaxInflightSize: 1})
	c := serve(t, svc)
	ctx := context.Background()
	var wg sync.WaitGroup
	codesSeen := make(chan codes.Code, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := c.Push(ctx, &sawmillv1.PushRequest{Batch: batch(fmt.Sprint("p", i), 1)})
			codesSeen <- status.Code(err)
		}(i)
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	close(codesSeen)
	var got []codes.Code
	for c := range codesSeen {
		got = append(got, c)
	}
	assert.ElementsMatch(t, []codes.Code{codes.OK, codes.ResourceExhausted}, got)
}

func TestPushStreamAcksEachBatch(t *testing.T) {
	pub := &fakePublisher{}
	c := serve(t, New(pub, Options{StreamInflight: 4}))
	stream, err := c.PushStream(context.Background())
	require.NoError(t, err)
	want := map[string]codes.Code{}
	for i := 0; i < 20; i++ {
		b := batch(fmt.Sprint("s", i), 5)
		want[b.BatchId] = codes.OK
		if i%7 == 3 {
			b.Records[0].TraceId = []byte{1}
			want[b.BatchId] = codes.InvalidArgument
		}
		require.NoError(t, stream.Send(&sawmillv1.PushStreamRequest{Batch: b}))
	}
	require.NoError(t, stream.CloseSend())
	got := map[string]codes.Code{}
	for {
		r, err := stream.Recv()
		if err != nil {
			break
		}
		got[r.GetBatchId()] = codes.Code(r.GetCode())
		if r.GetCode() == uint32(codes.InvalidArgument) {
			require.NotEmpty(t, r.GetFieldViolations())
			assert.Equal(t, "batch.records[0].trace_id", r.GetFieldViolations()[0].GetField())
		} else {
			assert.Equal(t, uint32(5), r.GetAccepted())
		}
	}
	assert.Equal(t, want, got)
	assert.Equal(t, 17, pub.count())
}

func TestPushStreamRetryHint(t *testing.T) {
	c := serve(t, New(&fakePublisher{err: &pipeline.FullError{RetryAfter: time.Second}}, Options{}))
	stream, err := c.PushStream(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&sawmillv1.PushStreamRequest{Batch: batch("f", 1)}))
	r, err := stream.Recv()
	require.NoError(t, err)
	assert.Equal(t, uint32(codes.ResourceExhausted), r.GetCode())
	assert.Equal(t, time.Second, r.GetRetryAfter().AsDuration())
	require.NoError(t, stream.CloseSend())
}
