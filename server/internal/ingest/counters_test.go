package ingest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
)

// flakyPublisher fails each batch id's first publishes with the errors
// given, then stores it.
type flakyPublisher struct {
	fakePublisher
	fails map[string][]error
}

func (f *flakyPublisher) Publish(ctx context.Context, b *sawmillv1.LogBatch) error {
	f.mu.Lock()
	if errs := f.fails[b.GetBatchId()]; len(errs) > 0 {
		f.fails[b.GetBatchId()] = errs[1:]
		f.mu.Unlock()
		return errs[0]
	}
	f.mu.Unlock()
	return f.fakePublisher.Publish(ctx, b)
}

// A client that was told "full" or "unavailable", retried and got its ack saw
// nothing rejected: the counters say so (the issue saw 139,000 records
// "rejected" while every client had its ack). Transient refusals are counted
// on their own; records are rejected only when the server refused them for
// good (invalid).
func TestCountersMatchWhatClientsSaw(t *testing.T) {
	full := &pipeline.FullError{RetryAfter: 10 * time.Millisecond, Reason: "disk nearly full: 1 MiB free on /data, reserve 2 MiB"}
	unavailable := fmt.Errorf("diskq: commit 1 batches: %w", pipeline.ErrUnavailable)
	pub := &flakyPublisher{fails: map[string][]error{
		"a": {full, full, unavailable},
		"b": {unavailable},
	}}
	reg := prometheus.NewRegistry()
	svc := New(pub, Options{Registerer: reg})
	c := serve(t, svc)
	ctx := context.Background()

	seen := map[codes.Code]int{} // answers by code, as the client saw them
	for _, id := range []string{"a", "b", "c"} {
		for {
			_, err := c.Push(ctx, &sawmillv1.PushRequest{Batch: batch(id, 10)})
			seen[status.Code(err)]++
			if err == nil {
				break
			}
		}
	}
	bad := batch("d", 10)
	bad.Resource.Service = ""
	_, err := c.Push(ctx, &sawmillv1.PushRequest{Batch: bad})
	seen[status.Code(err)]++
	require.Equal(t, map[codes.Code]int{codes.OK: 3, codes.ResourceExhausted: 2, codes.Unavailable: 2, codes.InvalidArgument: 1}, seen)

	assert.EqualValues(t, 30, svc.Accepted())
	assert.EqualValues(t, 10, svc.Rejected(), "only the invalid batch was rejected")
	assert.EqualValues(t, 40, svc.Refused(), "4 answers to retry, 10 records each")
	assert.InDelta(t, 10, testutil.ToFloat64(svc.mRejected.WithLabelValues(outcomeInvalid)), 0)
	assert.InDelta(t, 0, testutil.ToFloat64(svc.mRejected.WithLabelValues(outcomeFull)), 0)
	assert.InDelta(t, 20, testutil.ToFloat64(svc.mRefused.WithLabelValues(outcomeFull)), 0)
	assert.InDelta(t, 20, testutil.ToFloat64(svc.mRefused.WithLabelValues(outcomeUnavailable)), 0)
	assert.InDelta(t, 30, testutil.ToFloat64(svc.mRecords), 0)
}

// The reason of a FullError reaches the client.
func TestFullReasonReachesTheClient(t *testing.T) {
	c := serve(t, New(&fakePublisher{err: &pipeline.FullError{RetryAfter: time.Second, Reason: "disk nearly full: 1.0 MiB free on /data, reserve 2.0 MiB"}}, Options{}))
	_, err := c.Push(context.Background(), &sawmillv1.PushRequest{Batch: batch("x", 1)})
	st := status.Convert(err)
	assert.Equal(t, codes.ResourceExhausted, st.Code())
	assert.Equal(t, "batch x not stored: disk nearly full: 1.0 MiB free on /data, reserve 2.0 MiB, retry after 1s", st.Message())
}
