package ingest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
)

// gatePublisher holds every Publish until release and then answers with the
// next error of errs (nil when errs is used up).
type gatePublisher struct {
	fakePublisher
	entered chan struct{}
	gate    chan struct{}
	mu      sync.Mutex
	errs    []error
}

func newGatePublisher(errs ...error) *gatePublisher {
	return &gatePublisher{entered: make(chan struct{}, 64), gate: make(chan struct{}), errs: errs}
}

func (g *gatePublisher) Publish(ctx context.Context, b *sawmillv1.LogBatch) error {
	g.entered <- struct{}{}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	var err error
	if len(g.errs) > 0 {
		err, g.errs = g.errs[0], g.errs[1:]
	}
	g.mu.Unlock()
	if err != nil {
		return err
	}
	return g.fakePublisher.Publish(ctx, b)
}

// Concurrent pushes of one batch id with different content: exactly one is
// published and answered duplicate=false, the others wait for it and are
// answered duplicate=true.
func TestConcurrentPushesOfOneBatchID(t *testing.T) {
	pub := &fakePublisher{delay: 300 * time.Millisecond}
	c := serve(t, New(pub, Options{}))
	ctx := context.Background()
	const pushes = 4
	resps := make([]*sawmillv1.PushResponse, pushes)
	var wg sync.WaitGroup
	for i := range pushes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Push(ctx, &sawmillv1.PushRequest{Batch: batch("same-id", i+1)})
			assert.NoError(t, err)
			resps[i] = resp
		}()
	}
	wg.Wait()
	fresh := -1
	for i, r := range resps {
		require.NotNil(t, r)
		assert.Equal(t, uint32(i+1), r.GetAccepted(), "accepted is the push's own record count")
		if !r.GetDuplicate() {
			assert.Equal(t, -1, fresh, "a second push answered duplicate=false")
			fresh = i
		}
	}
	require.NotEqual(t, -1, fresh, "no push answered duplicate=false")
	require.Equal(t, 1, pub.count(), "batches published")
	assert.Len(t, pub.got[0].GetRecords(), fresh+1, "the published batch is the one answered duplicate=false")

	resp, err := c.Push(ctx, &sawmillv1.PushRequest{Batch: batch("same-id", 9)})
	require.NoError(t, err)
	assert.True(t, resp.GetDuplicate(), "a later push of the id")
	assert.Equal(t, 1, pub.count())
}

func TestConcurrentStreamPushesOfOneBatchID(t *testing.T) {
	pub := &fakePublisher{delay: 300 * time.Millisecond}
	c := serve(t, New(pub, Options{}))
	stream, err := c.PushStream(context.Background())
	require.NoError(t, err)
	const pushes = 4
	for i := range pushes {
		require.NoError(t, stream.Send(&sawmillv1.PushStreamRequest{Batch: batch("same-id", i+1)}))
	}
	require.NoError(t, stream.CloseSend())
	fresh := 0
	for range pushes {
		resp, err := stream.Recv()
		require.NoError(t, err)
		assert.Equal(t, uint32(codes.OK), resp.GetCode())
		if !resp.GetDuplicate() {
			fresh++
		}
	}
	assert.Equal(t, 1, fresh, "pushes answered duplicate=false")
	assert.Equal(t, 1, pub.count(), "batches published")
}

// A push waiting for another push of its id publishes for itself when that
// one fails, and is then answered duplicate=false.
func TestPushAfterFailedPushOfSameID(t *testing.T) {
	pub := newGatePublisher(pipeline.ErrUnavailable)
	c := serve(t, New(pub, Options{}))
	ctx := context.Background()
	type answer struct {
		resp *sawmillv1.PushResponse
		err  error
	}
	first, second := make(chan answer, 1), make(chan answer, 1)
	go func() {
		resp, err := c.Push(ctx, &sawmillv1.PushRequest{Batch: batch("id", 1)})
		first <- answer{resp, err}
	}()
	<-pub.entered // the first push is publishing
	go func() {
		resp, err := c.Push(ctx, &sawmillv1.PushRequest{Batch: batch("id", 2)})
		second <- answer{resp, err}
	}()
	select {
	case <-pub.entered:
		t.Fatal("a second push of an id in flight was published")
	case <-time.After(200 * time.Millisecond):
	}
	close(pub.gate)
	a := <-first
	assert.Equal(t, codes.Unavailable, status.Code(a.err))
	b := <-second
	require.NoError(t, b.err)
	assert.False(t, b.resp.GetDuplicate(), "the second push stored its batch")
	assert.Equal(t, uint32(2), b.resp.GetAccepted())
	require.Equal(t, 1, pub.count())
	assert.Len(t, pub.got[0].GetRecords(), 2)
}

// A push waiting for another push of its id ends with its own deadline.
func TestPushWaitingForSameIDHonoursDeadline(t *testing.T) {
	pub := newGatePublisher()
	c := serve(t, New(pub, Options{}))
	done := make(chan error, 1)
	go func() {
		_, err := c.Push(context.Background(), &sawmillv1.PushRequest{Batch: batch("id", 1)})
		done <- err
	}()
	<-pub.entered
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Push(ctx, &sawmillv1.PushRequest{Batch: batch("id", 1)})
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
	close(pub.gate)
	require.NoError(t, <-done)
	assert.Equal(t, 1, pub.count())
}

func TestIDSetClaim(t *testing.T) {
	s := newIDSet(2)
	ctx := context.Background()
	c, dup, err := s.claim(ctx, "a")
	require.NoError(t, err)
	require.False(t, dup)
	s.finish("a", c, true)
	_, dup, err = s.claim(ctx, "a")
	require.NoError(t, err)
	assert.True(t, dup)
	c, dup, _ = s.claim(ctx, "b")
	require.False(t, dup)
	s.finish("b", c, false)
	c, dup, _ = s.claim(ctx, "b")
	require.False(t, dup, "a failed push does not make its id a duplicate")
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err = s.claim(canceled, "b")
	assert.True(t, errors.Is(err, context.Canceled), "waiting for a claim ends with ctx")
	s.finish("b", c, true)
}
