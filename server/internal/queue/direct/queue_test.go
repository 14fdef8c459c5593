package direct_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
	"github.com/sawmill-dev/sawmill/server/internal/queue/direct"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func batch(id string) *sawmillv1.LogBatch {
	return &sawmillv1.LogBatch{BatchId: id, Records: []*sawmillv1.LogRecord{{Body: "x"}}}
}

type sink struct {
	mu    sync.Mutex
	calls int
	ids   []string
	err   func([]*sawmillv1.LogBatch) error
	delay time.Duration
}

func (s *sink) ConsumeBatches(_ context.Context, bs []*sawmillv1.LogBatch) error {
	time.Sleep(s.delay)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.err != nil {
		if err := s.err(bs); err != nil {
			return err
		}
	}
	for _, b := range bs {
		s.ids = append(s.ids, b.GetBatchId())
	}
	return nil
}

func start(t *testing.T, q *direct.Queue, c pipeline.Consumer) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, c) }()
	require.Eventually(t, func() bool { return q.Publish(ctx, batch("probe")) == nil }, 2*time.Second, time.Millisecond)
	t.Cleanup(func() {
		require.NoError(t, q.Shutdown(context.Background()))
		cancel()
		require.NoError(t, <-done)
	})
}

func TestGroupCommitAndObserve(t *testing.T) {
	var mu sync.Mutex
	seen := 0
	q := direct.New(direct.Options{Observer: pipeline.ObserverFunc(func(*sawmillv1.LogBatch) { mu.Lock(); seen++; mu.Unlock() })})
	s := &sink{delay: 5 * time.Millisecond}
	start(t, q, s)
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			assert.NoError(t, q.Publish(context.Background(), batch(fmt.Sprint(i))))
		}(i)
	}
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	assert.Len(t, s.ids, 201)
	assert.Less(t, s.calls, 150, "concurrent publishes share store calls")
	mu.Lock()
	assert.Equal(t, 201, seen)
	mu.Unlock()
}

func TestErrors(t *testing.T) {
	q := direct.New(direct.Options{})
	assert.ErrorIs(t, q.Publish(context.Background(), batch("early")), pipeline.ErrUnavailable, "before Run")

	s := &sink{err: func(bs []*sawmillv1.LogBatch) error {
		for _, b := range bs {
			switch b.GetBatchId() {
			case "down":
				return errors.New("connection refused")
			case "bad":
				return pipeline.Permanent(errors.New("cannot store"))
			}
		}
		return nil
	}}
	start(t, q, s)
	err := q.Publish(context.Background(), batch("down"))
	assert.ErrorIs(t, err, pipeline.ErrUnavailable)
	assert.ErrorContains(t, err, "connection refused")
	err = q.Publish(context.Background(), batch("bad"))
	assert.True(t, pipeline.IsPermanent(err))
	assert.NotErrorIs(t, err, pipeline.ErrUnavailable)
	assert.NoError(t, q.Publish(context.Background(), batch("good")))
}

func TestFullAndClosed(t *testing.T) {
	q := direct.New(direct.Options{MaxPendingBytes: 1, Writers: 1})
	block, entered := make(chan struct{}), make(chan struct{})
	var unblock sync.Once
	s := &sink{err: func(bs []*sawmillv1.LogBatch) error {
		if bs[0].GetBatchId() == "slow" {
			close(entered)
			<-block
		}
		return nil
	}}
	start(t, q, s)
	t.Cleanup(func() { unblock.Do(func() { close(block) }) }) // runs before start's cleanup
	go func() { _ = q.Publish(context.Background(), batch("slow")) }()
	<-entered // the only writer is busy
	go func() { _ = q.Publish(context.Background(), batch("waits")) }()
	require.Eventually(t, func() bool { b, _ := q.Depth(); return b == 1 }, 5*time.Second, time.Millisecond)
	var full *pipeline.FullError
	assert.ErrorAs(t, q.Publish(context.Background(), batch("over")), &full)
	unblock.Do(func() { close(block) })
	require.Eventually(t, func() bool { b, _ := q.Depth(); return b == 0 }, 5*time.Second, time.Millisecond)
	require.NoError(t, q.Shutdown(context.Background()))
	assert.ErrorIs(t, q.Publish(context.Background(), batch("late")), direct.ErrClosed)
}
