package diskq

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
)

func TestPublishRunOrderExactlyOnce(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"defaults", Options{}},
		{"small segments and no cache", Options{SegmentBytes: 8 << 10, MemoryBytes: -1, MaxDelivery: 5}},
		{"tiny cache", Options{SegmentBytes: 64 << 10, MemoryBytes: 10 << 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			q := openQ(t, dir, tt.opts)
			want := publishN(t, q, "b", 0, 150, 5)
			n, bytes := q.Depth()
			assert.EqualValues(t, 150, n)
			assert.Positive(t, bytes)

			rec := newRecorder()
			stop := runQ(t, q, rec)
			// Publish more while Run drains.
			want = append(want, publishN(t, q, "b", 150, 300, 5)...)
			got := rec.waitFor(t, len(want))
			require.NoError(t, stop())
			assert.Equal(t, want, got, "publish order, each batch once")
			n, bytes = q.Depth()
			assert.Zero(t, n)
			assert.Zero(t, bytes)
			assert.LessOrEqual(t, rec.maxSize, max(tt.opts.MaxDelivery, DefaultMaxDelivery))
			st := q.Stats()
			assert.EqualValues(t, 300, st.Published)
			assert.EqualValues(t, 300, st.Delivered)
			shutdown(t, q)

			// Nothing is delivered again after a clean restart.
			q = openQ(t, dir, tt.opts)
			n, bytes = q.Depth()
			assert.Zero(t, n)
			assert.Zero(t, bytes)
			shutdown(t, q)
		})
	}
}

func TestDeliveredBatchesEqualPublished(t *testing.T) {
	// From the cache (same pointer) and from disk (decoded) alike.
	for _, mem := range []int64{DefaultMemoryBytes, -1} {
		t.Run(fmt.Sprint("memory=", mem), func(t *testing.T) {
			q := openQ(t, t.TempDir(), Options{MemoryBytes: mem})
			var published []*sawmillv1.LogBatch
			for i := range 20 {
				b := makeBatch(fmt.Sprintf("x-%d", i), 3+i)
				published = append(published, b)
				require.NoError(t, q.Publish(context.Background(), b))
			}
			var mu sync.Mutex
			var got []*sawmillv1.LogBatch
			done := make(chan struct{})
			stop := runQ(t, q, pipeline.ConsumerFunc(func(_ context.Context, bs []*sawmillv1.LogBatch) error {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, bs...)
				if len(got) == len(published) {
					close(done)
				}
				return nil
			}))
			<-done
			require.NoError(t, stop())
			for i := range published {
				assert.True(t, proto.Equal(published[i], got[i]), "batch %d", i)
			}
			shutdown(t, q)
		})
	}
}

func TestCrashRedeliversUnacknowledged(t *testing.T) {
	const total, acked = 60, 23
	tests := []struct {
		name          string
		persistBefore bool // the ack position of the 23 acks reached disk before the crash
		wantAgain     []string
	}{
		{"ack position persisted", true, seq("c", acked, total)},
		{"ack position lost", false, seq("c", 0, total)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{MaxDelivery: 1, SegmentBytes: 16 << 10}
			q := openQ(t, dir, opts)
			publishN(t, q, "c", 0, total, 4)
			if !tt.persistBefore {
				q.noPersist.Store(true) // as if the process died before any ack write
				q.persistMu.Lock()
				q.lastPersist = time.Now().Add(time.Hour)
				q.persistMu.Unlock()
			}
			rec := newRecorder()
			block := make(chan struct{})
			rec.fail = func(call int, _ []*sawmillv1.LogBatch) error {
				if call <= acked {
					return nil
				}
				<-block
				return errors.New("store went away")
			}
			stop := runQ(t, q, rec)
			rec.waitFor(t, acked)
			require.Eventually(t, func() bool { n, _ := q.Depth(); return n == total-acked }, 5*time.Second, time.Millisecond)
			if tt.persistBefore {
				require.NoError(t, q.persistAck())
			}
			q.noPersist.Store(true)
			close(block)
			require.NoError(t, stop())
			crash(t, q)

			q = openQ(t, dir, opts)
			n, bytes := q.Depth()
			assert.EqualValues(t, len(tt.wantAgain), n)
			assert.Positive(t, bytes)
			rec2 := newRecorder()
			stop = runQ(t, q, rec2)
			got := rec2.waitFor(t, len(tt.wantAgain))
			require.NoError(t, stop())
			assert.Equal(t, tt.wantAgain, got)
			shutdown(t, q)
		})
	}
}

func TestShutdownDuringFailingDeliveryKeepsItUnacknowledged(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxDelivery: 4}
	q := openQ(t, dir, opts)
	publishN(t, q, "s", 0, 40, 2)
	rec := newRecorder()
	inFlight := make(chan struct{})
	release := make(chan struct{})
	rec.fail = func(call int, _ []*sawmillv1.LogBatch) error {
		if call <= 5 { // 5 deliveries of 4 batches succeed
			return nil
		}
		if call == 6 {
			close(inFlight)
			<-release
		}
		return errors.New("transient")
	}
	stop := runQ(t, q, rec)
	<-inFlight
	shut := make(chan error, 1)
	go func() { shut <- q.Shutdown(context.Background()) }()
	// Shutdown waits for the delivery under way.
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v during a delivery", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-shut)
	require.NoError(t, stop())
	assert.Equal(t, seq("s", 0, 20), rec.got())

	q = openQ(t, dir, opts)
	n, _ := q.Depth()
	assert.EqualValues(t, 20, n)
	rec2 := newRecorder()
	stop = runQ(t, q, rec2)
	assert.Equal(t, seq("s", 20, 40), rec2.waitFor(t, 20))
	require.NoError(t, stop())
	shutdown(t, q)
}

func TestShutdownContextCancelsDelivery(t *testing.T) {
	q := openQ(t, t.TempDir(), Options{})
	publishN(t, q, "h", 0, 1, 1)
	entered := make(chan struct{})
	stop := runQ(t, q, pipeline.ConsumerFunc(func(ctx context.Context, _ []*sawmillv1.LogBatch) error {
		close(entered)
		<-ctx.Done() // a consumer stuck until cancelled
		return ctx.Err()
	}))
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := q.Shutdown(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, stop())
	shutdown(t, q) // finishes
	n, _ := q.Depth()
	assert.EqualValues(t, 1, n)
}

func TestReopenDepthAfterPartialAck(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 10 << 10, MaxDelivery: 3}
	q := openQ(t, dir, opts)
	publishN(t, q, "d", 0, 50, 3)
	_, allBytes := q.Depth()
	rec := newRecorder()
	rec.fail = func(call int, _ []*sawmillv1.LogBatch) error {
		if call > 7 {
			return errors.New("later")
		}
		return nil
	}
	stop := runQ(t, q, rec)
	rec.waitFor(t, 21)
	require.Eventually(t, func() bool { n, _ := q.Depth(); return n == 29 }, 5*time.Second, time.Millisecond)
	require.NoError(t, stop())
	n1, b1 := q.Depth()
	assert.Less(t, b1, allBytes)
	shutdown(t, q)

	q = openQ(t, dir, opts)
	n2, b2 := q.Depth()
	assert.Equal(t, n1, n2)
	assert.Equal(t, b1, b2)
	shutdown(t, q)
}

func TestFullThenSpaceAfterAcks(t *testing.T) {
	dir := t.TempDir()
	frame, err := encodeFrame(makeBatch("f-00000", 4))
	require.NoError(t, err)
	q := openQ(t, dir, Options{MaxBytes: int64(len(frame))*10 + 10})
	publishN(t, q, "f", 0, 10, 4)
	err = q.Publish(context.Background(), makeBatch("f-00010", 4))
	require.ErrorIs(t, err, pipeline.ErrFull)
	var fe *pipeline.FullError
	require.ErrorAs(t, err, &fe)
	assert.GreaterOrEqual(t, fe.RetryAfter, 100*time.Millisecond)
	assert.LessOrEqual(t, fe.RetryAfter, 5*time.Second)
	n, _ := q.Depth()
	assert.EqualValues(t, 10, n, "a refused batch is not queued")

	rec := newRecorder()
	stop := runQ(t, q, rec)
	rec.waitFor(t, 10)
	require.Eventually(t, func() bool { n, _ := q.Depth(); return n == 0 }, 5*time.Second, time.Millisecond)
	publishN(t, q, "f", 10, 20, 4)
	assert.Equal(t, seq("f", 0, 20), rec.waitFor(t, 20))
	require.NoError(t, stop())

	// A batch that can never fit is refused with a plain error.
	err = q.Publish(context.Background(), makeBatch("huge", 200))
	require.Error(t, err)
	assert.NotErrorIs(t, err, pipeline.ErrFull)
	shutdown(t, q)
}

func TestRetryAfterFollowsDrainRate(t *testing.T) {
	q := &Queue{rateStart: time.Now()}
	assert.Equal(t, maxRetryAfter, q.retryAfterLocked(1<<20), "no drain measured")
	q.drainRate = 10 << 20 // 10 MiB/s
	assert.Equal(t, 500*time.Millisecond, q.retryAfterLocked(5<<20))
	assert.Equal(t, minRetryAfter, q.retryAfterLocked(1))
	assert.Equal(t, maxRetryAfter, q.retryAfterLocked(1<<30))
	q.rateStart = time.Now().Add(-3 * time.Second) // no ack for 3 s
	assert.Equal(t, maxRetryAfter, q.retryAfterLocked(1<<20))
}

func TestSegmentsRollAndAreDeleted(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 8 << 10}
	q := openQ(t, dir, opts)
	publishN(t, q, "r", 0, 100, 4)
	files := segFiles(t, dir)
	require.Greater(t, len(files), 10, "segments roll at SegmentBytes")
	for _, f := range files[:len(files)-1] {
		fi, err := os.Stat(f)
		require.NoError(t, err)
		assert.LessOrEqual(t, fi.Size(), opts.SegmentBytes)
	}
	rec := newRecorder()
	stop := runQ(t, q, rec)
	rec.waitFor(t, 100)
	require.Eventually(t, func() bool { return len(segFiles(t, dir)) == 1 }, 5*time.Second, 10*time.Millisecond,
		"acknowledged segments are deleted within ~100ms")
	require.NoError(t, stop())
	shutdown(t, q)

	q = openQ(t, dir, opts)
	n, b := q.Depth()
	assert.Zero(t, n)
	assert.Zero(t, b)
	publishN(t, q, "r", 100, 110, 4)
	rec2 := newRecorder()
	stop = runQ(t, q, rec2)
	assert.Equal(t, seq("r", 100, 110), rec2.waitFor(t, 10))
	require.NoError(t, stop())
	shutdown(t, q)
}

func TestPermanentErrorDeadLettersOnlyTheBadBatch(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, dir, Options{MaxDelivery: 8})
	publishN(t, q, "p", 0, 30, 2)
	rec := newRecorder()
	rec.fail = func(_ int, bs []*sawmillv1.LogBatch) error {
		for _, b := range bs {
			if b.GetBatchId() == "p-00013" {
				return pipeline.Permanent(fmt.Errorf("batch %s: invalid record 1", b.GetBatchId()))
			}
		}
		return nil
	}
	stop := runQ(t, q, rec)
	want := append(seq("p", 0, 13), seq("p", 14, 30)...)
	assert.Equal(t, want, rec.waitFor(t, 29))
	require.Eventually(t, func() bool { n, _ := q.Depth(); return n == 0 }, 5*time.Second, time.Millisecond)
	require.NoError(t, stop())
	assert.EqualValues(t, 1, q.DeadLettered())

	files := deadLetterFiles(t, dir)
	require.Len(t, files, 1)
	data, err := os.ReadFile(files[0])
	require.NoError(t, err)
	header, frames, ok := strings.Cut(string(data), "\n\n")
	require.True(t, ok)
	assert.Contains(t, header, "sawmill-dead-letter v1")
	assert.Contains(t, header, `reason: "permanent: batch p-00013: invalid record 1"`)
	assert.Contains(t, header, `batch-id: "p-00013"`)
	assert.Contains(t, header, "batches: 1")
	// The frame round-trips.
	payload := []byte(frames)[frameHeaderSize:]
	var b sawmillv1.LogBatch
	require.NoError(t, proto.Unmarshal(payload, &b))
	assert.Equal(t, "p-00013", b.GetBatchId())
	shutdown(t, q)
}

func TestUndecodableFrameIsDeadLettered(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MemoryBytes: -1}
	q := openQ(t, dir, opts)
	publishN(t, q, "u", 0, 3, 2)
	shutdown(t, q)
	// Append a frame with a valid CRC whose payload is not a LogBatch.
	appendRawFrame(t, segFiles(t, dir)[0], []byte{0xff, 0xff, 0xff})
	q = openQ(t, dir, opts)
	publishN(t, q, "u", 3, 5, 2)
	rec := newRecorder()
	stop := runQ(t, q, rec)
	assert.Equal(t, seq("u", 0, 5), rec.waitFor(t, 5))
	require.Eventually(t, func() bool { return q.DeadLettered() == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, stop())
	require.Len(t, deadLetterFiles(t, dir), 1)
	shutdown(t, q)
}

func TestTransientErrorIsRetriedWithoutLoss(t *testing.T) {
	q := openQ(t, t.TempDir(), Options{MaxDelivery: 4})
	publishN(t, q, "t", 0, 20, 2)
	rec := newRecorder()
	rec.fail = func(call int, _ []*sawmillv1.LogBatch) error {
		if call%3 == 1 && call < 10 {
			return fmt.Errorf("database is locked (call %d)", call)
		}
		return nil
	}
	stop := runQ(t, q, rec)
	assert.Equal(t, seq("t", 0, 20), rec.waitFor(t, 20))
	require.NoError(t, stop())
	assert.Zero(t, q.DeadLettered())
	shutdown(t, q)
}

func TestConcurrentPublishers(t *testing.T) {
	const publishers, each = 8, 200
	dir := t.TempDir()
	var obsMu sync.Mutex
	var observed []string
	q := openQ(t, dir, Options{SegmentBytes: 256 << 10, Observer: pipeline.ObserverFunc(func(b *sawmillv1.LogBatch) {
		obsMu.Lock()
		observed = append(observed, b.GetBatchId())
		obsMu.Unlock()
	})})
	rec := newRecorder()
	stop := runQ(t, q, rec)
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				assert.NoError(t, q.Publish(context.Background(), makeBatch(fmt.Sprintf("w%d-%05d", p, i), 2)))
			}
		})
	}
	wg.Wait()
	got := rec.waitFor(t, publishers*each)
	require.NoError(t, stop())
	assert.Len(t, got, publishers*each)
	seen := map[string]bool{}
	last := map[string]string{}
	for _, id := range got {
		require.False(t, seen[id], "delivered twice: %s", id)
		seen[id] = true
		p := id[:strings.Index(id, "-")]
		assert.Less(t, last[p], id, "per-publisher order")
		last[p] = id
	}
	obsMu.Lock()
	assert.Equal(t, got, observed, "the observer sees every batch once, in publish (= delivery) order")
	obsMu.Unlock()
	st := q.Stats()
	assert.Less(t, st.Commits, st.Published, "group commit shares fsyncs")
	t.Logf("published %d batches with %d fsyncs", st.Published, st.Commits)
	shutdown(t, q)
}

func TestShutdownIdempotentAndPublishAfterFails(t *testing.T) {
	q := openQ(t, t.TempDir(), Options{})
	publishN(t, q, "z", 0, 2, 1)
	shutdown(t, q)
	shutdown(t, q)
	err := q.Publish(context.Background(), makeBatch("late", 1))
	require.ErrorIs(t, err, pipeline.ErrUnavailable)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, q.Run(context.Background(), newRecorder()), pipeline.ErrUnavailable)
}

func TestSecondRunIsRefused(t *testing.T) {
	q := openQ(t, t.TempDir(), Options{})
	stop := runQ(t, q, newRecorder())
	require.Eventually(t, func() bool { q.mu.Lock(); defer q.mu.Unlock(); return q.running }, 5*time.Second, time.Millisecond)
	require.ErrorIs(t, q.Run(context.Background(), newRecorder()), ErrRunning)
	require.NoError(t, stop())
	// Sequential runs are fine and resume at the ack position.
	publishN(t, q, "k", 0, 3, 1)
	rec := newRecorder()
	stop = runQ(t, q, rec)
	assert.Equal(t, seq("k", 0, 3), rec.waitFor(t, 3))
	require.NoError(t, stop())
	shutdown(t, q)
}

func TestRunStopsOnShutdownWhileIdle(t *testing.T) {
	q := openQ(t, t.TempDir(), Options{})
	ctx := context.Background()
	errc := make(chan error, 1)
	go func() { errc <- q.Run(ctx, newRecorder()) }()
	require.Eventually(t, func() bool { q.mu.Lock(); defer q.mu.Unlock(); return q.running }, 5*time.Second, time.Millisecond)
	shutdown(t, q)
	require.NoError(t, <-errc)
}

func TestObserverSeesEachBatchOnceInOrder(t *testing.T) {
	var got []string
	q := openQ(t, t.TempDir(), Options{Observer: pipeline.ObserverFunc(func(b *sawmillv1.LogBatch) {
		got = append(got, b.GetBatchId()) // only the committer goroutine calls it
	})})
	want := publishN(t, q, "o", 0, 50, 1)
	shutdown(t, q)
	assert.Equal(t, want, got)
}

func TestPublishErrors(t *testing.T) {
	q := openQ(t, t.TempDir(), Options{})
	require.Error(t, q.Publish(context.Background(), nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, q.Publish(ctx, makeBatch("c", 1)), context.Canceled)
	n, b := q.Depth()
	assert.Zero(t, n)
	assert.Zero(t, b)
	shutdown(t, q)
}

func TestOpenRefusesALockedDirectory(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, dir, Options{})
	_, err := Open(dir, Options{})
	require.Error(t, err)
	shutdown(t, q)
	q = openQ(t, dir, Options{})
	shutdown(t, q)
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []Options{{MaxBytes: -1}, {SegmentBytes: -1}, {MaxDelivery: -1}} {
		_, err := Open(t.TempDir(), o)
		require.Error(t, err, "%+v", o)
	}
}

func TestFailedWriteFailsPublishThenRecovers(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, dir, Options{})
	publishN(t, q, "g", 0, 3, 2)
	// Break the active segment's file behind the committer's back.
	require.NoError(t, q.c.active.Close())
	err := q.Publish(context.Background(), makeBatch("g-lost", 2))
	require.ErrorIs(t, err, pipeline.ErrUnavailable)
	n, _ := q.Depth()
	assert.EqualValues(t, 3, n)
	// The committer moved to a new segment; publishing works again.
	publishN(t, q, "g", 3, 6, 2)
	rec := newRecorder()
	stop := runQ(t, q, rec)
	assert.Equal(t, seq("g", 0, 6), rec.waitFor(t, 6))
	require.NoError(t, stop())
	shutdown(t, q)

	q = openQ(t, dir, Options{})
	n, _ = q.Depth()
	assert.Zero(t, n)
	shutdown(t, q)
}
