package batch

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newBuf(p Policy, limit int) *Buffer {
	n := 0
	return New(Config{
		MaxRecords: 3, MaxBytes: 100, LimitBytes: limit, Interval: time.Hour, Policy: p, BlockTimeout: 30 * time.Millisecond,
		Header: func(dst []byte) ([]byte, string) { n++; id := fmt.Sprintf("b%d", n); return append(dst, id...), id },
		Prefix: 2,
	})
}

func rec(n int) []byte { return make([]byte, n) }

func TestSealsBySizeAndCount(t *testing.T) {
	q := newBuf(DropNewest, 1000)
	for range 4 {
		_, err := q.Append(rec(10))
		require.NoError(t, err)
	}
	ctx := context.Background()
	b, err := q.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, b.Records, "sealed at MaxRecords")
	assert.Equal(t, "b1", b.ID)
	assert.Equal(t, 2+2+30, len(b.Data()), "prefix + head + records")
	_, err = q.Append(rec(95)) // would pass MaxBytes with the open record: seals first
	require.NoError(t, err)
	b2, err := q.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, b2.Records)
	assert.Equal(t, uint64(2), b2.Seq)
	q.Done(b, true)
	q.Done(b2, true)
	assert.Equal(t, 95, q.Used())
	q.Close()
	b3, err := q.Next(ctx)
	require.NoError(t, err, "Close seals the open batch")
	assert.Equal(t, 1, b3.Records)
	q.Done(b3, true)
	_, err = q.Next(ctx)
	assert.ErrorIs(t, err, ErrClosed)
	_, err = q.Append(rec(1))
	assert.ErrorIs(t, err, ErrClosed)
}

func TestSealDue(t *testing.T) {
	q := New(Config{MaxRecords: 10, MaxBytes: 100, LimitBytes: 1000, Interval: 50 * time.Millisecond,
		Header: func(dst []byte) ([]byte, string) { return dst, "x" }})
	assert.True(t, q.SealDue(time.Now()).IsZero(), "nothing open")
	_, _ = q.Append(rec(1))
	next := q.SealDue(time.Now())
	assert.False(t, next.IsZero())
	assert.True(t, q.SealDue(next).IsZero(), "sealed once due")
	b, err := q.Next(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, b.Records)
}

func TestPolicies(t *testing.T) {
	t.Run("drop newest", func(t *testing.T) {
		q := newBuf(DropNewest, 50)
		for range 5 {
			_, err := q.Append(rec(10))
			require.NoError(t, err)
		}
		_, err := q.Append(rec(10))
		assert.ErrorIs(t, err, ErrFull)
		assert.Equal(t, 50, q.Used())
	})
	t.Run("drop oldest", func(t *testing.T) {
		q := newBuf(DropOldest, 50)
		for range 5 {
			_, err := q.Append(rec(10))
			require.NoError(t, err)
		}
		ev, err := q.Append(rec(10))
		require.NoError(t, err)
		assert.Equal(t, Dropped{Records: 3, Bytes: 30}, ev, "the oldest sealed batch made room")
		assert.Equal(t, 30, q.Used())
		b, err := q.Next(context.Background())
		require.NoError(t, err)
		assert.Equal(t, uint64(2), b.Seq)
	})
	t.Run("drop oldest without waiting batch", func(t *testing.T) {
		q := newBuf(DropOldest, 25)
		_, _ = q.Append(rec(10))
		_, _ = q.Append(rec(10))
		_, err := q.Append(rec(10))
		assert.ErrorIs(t, err, ErrFull, "only the open batch holds bytes: the new record is dropped")
	})
	t.Run("block times out", func(t *testing.T) {
		q := newBuf(Block, 30)
		for range 3 {
			_, _ = q.Append(rec(10))
		}
		start := time.Now()
		_, err := q.Append(rec(10))
		assert.ErrorIs(t, err, ErrFull)
		assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
	})
	t.Run("block gets room", func(t *testing.T) {
		q := newBuf(Block, 30)
		q.cfg.BlockTimeout = 5 * time.Second
		for range 3 {
			_, _ = q.Append(rec(10))
		}
		b, err := q.Next(context.Background())
		require.NoError(t, err)
		go func() {
			time.Sleep(20 * time.Millisecond)
			q.Done(b, true)
		}()
		_, err = q.Append(rec(10))
		assert.NoError(t, err)
	})
}

func TestWaitDone(t *testing.T) {
	q := newBuf(DropNewest, 1000)
	_, _ = q.Append(rec(10))
	seq := q.Seal()
	_, _ = q.Append(rec(10)) // after the seal: not waited for
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, q.WaitDone(ctx, seq), context.DeadlineExceeded)
	b, err := q.Next(context.Background())
	require.NoError(t, err)
	done := make(chan error)
	go func() { done <- q.WaitDone(context.Background(), seq) }()
	q.Done(b, false)
	assert.NoError(t, <-done)
	assert.Equal(t, Dropped{Records: 1, Bytes: 10}, q.Drain())
}

func TestBackoff(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 10: time.Second} {
		for range 50 {
			d := b.Delay(attempt, 0)
			assert.GreaterOrEqual(t, d, want/2)
			assert.LessOrEqual(t, d, want)
		}
	}
	d := b.Delay(1, 3*time.Second)
	assert.GreaterOrEqual(t, d, 3*time.Second, "a server hint wins")
	assert.LessOrEqual(t, d, 3300*time.Millisecond)
}
