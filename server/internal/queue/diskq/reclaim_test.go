package diskq

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// snapshotDir copies the files of a queue directory to a new one: what a
// process killed at that moment leaves on disk (its page cache survives).
func snapshotDir(t *testing.T, dir string) string {
	t.Helper()
	dst := t.TempDir()
	des, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, de := range des {
		if !de.Type().IsRegular() || de.Name() == "LOCK" {
			continue // dead-letter/ is empty here; Open makes it
		}
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, de.Name()), b, 0o644))
	}
	return dst
}

func segSizesOf(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, p := range segFiles(t, dir) {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		out[filepath.Base(p)] = fi.Size()
	}
	return out
}

// The queue is copied at every step of a reclaim (as a crash there would
// leave it) and each copy is reopened: it must deliver exactly the batches
// not yet delivered (none of the delivered ones again, none lost), take new
// ones, and hold one segment once it has run.
func TestReclaimCrashAtEachStep(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, dir, Options{})
	q.reclaimIdle = 20 * time.Millisecond
	// Hold back the periodic ack write: the reclaim must write the position
	// itself before it rolls over.
	q.lastPersist = time.Now().Add(time.Hour)
	delivered := publishN(t, q, "d", 0, 20, 5)

	var (
		mu       sync.Mutex
		armed    bool
		finished bool
		points   []string
		snaps    = map[string]string{}
		mid      []string // acknowledged to their publisher during the reclaim, not yet delivered
		midErr   error
	)
	q.testHook = func(point string) {
		mu.Lock()
		defer mu.Unlock()
		if finished {
			return
		}
		switch point {
		case "reclaim: position at the segment's end written":
			armed = true
		case "reclaim: rolled over":
			// Run is here, so these stay undelivered through the next steps.
			for i := range 3 {
				id := fmt.Sprintf("m-%05d", i)
				if err := q.Publish(context.Background(), makeBatch(id, 5)); err != nil {
					midErr = err
				}
				mid = append(mid, id)
			}
		}
		if !armed {
			return
		}
		points = append(points, point)
		snaps[point] = snapshotDir(t, dir)
		if point == "segments deleted" {
			finished = true
		}
	}

	rec := newRecorder()
	stop := runQ(t, q, rec)
	require.Equal(t, delivered, rec.waitFor(t, len(delivered)))
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return finished }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, midErr)
	assert.Equal(t, append(slices.Clone(delivered), mid...), rec.waitFor(t, len(delivered)+len(mid)))
	require.NoError(t, stop())
	shutdown(t, q)
	require.Equal(t, []string{
		"reclaim: position at the segment's end written",
		"reclaim: rolled over",
		"ack written",
		"segments deleted",
	}, points)
	assert.Len(t, segSizesOf(t, snaps["reclaim: rolled over"]), 2, "the new segment exists next to the delivered one")
	assert.Len(t, segSizesOf(t, snaps["segments deleted"]), 1)

	for i, point := range points {
		t.Run(point, func(t *testing.T) {
			want := mid
			if i == 0 {
				want = nil // not published yet
			}
			sdir := snaps[point]
			q := openQ(t, sdir, Options{})
			n, _ := q.Depth()
			assert.EqualValues(t, len(want), n, "batches waiting after the crash")
			after := publishN(t, q, "a", 0, 2, 5)
			want = append(slices.Clone(want), after...)
			rec := newRecorder()
			stop := runQ(t, q, rec)
			assert.Equal(t, want, rec.waitFor(t, len(want)))
			// Settle (the ack write and segment deletion), then nothing more came.
			require.Eventually(t, func() bool { return len(segFiles(t, sdir)) == 1 }, 5*time.Second, 5*time.Millisecond,
				"segments %v", segSizesOf(t, sdir))
			require.NoError(t, stop())
			assert.Equal(t, want, rec.got(), "exactly these, once each")
			shutdown(t, q)

			q = openQ(t, sdir, Options{})
			n, _ = q.Depth()
			assert.Zero(t, n, "nothing delivered again after a clean restart")
			shutdown(t, q)
		})
	}
}

// Publishes arrive while Run reclaims (the reclaim idle time is 1 ms, and
// a hook publishes just when Run asks the committer to reclaim): every batch
// is delivered once, each publisher's in order, and the queue ends up with
// one segment and nothing to deliver again. Run under the race detector.
func TestReclaimWithConcurrentPublishes(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 32 << 10, MaxDelivery: 4}
	q := openQ(t, dir, opts)
	q.reclaimIdle = time.Millisecond

	var (
		hookWG    sync.WaitGroup
		hookMu    sync.Mutex
		hookCalls int
		hookDone  bool // the publishers have finished
		hookIDs   []string
		hookErrs  []error
	)
	q.testHook = func(point string) {
		if point != "reclaim: position at the segment's end written" {
			return
		}
		hookMu.Lock()
		defer hookMu.Unlock()
		hookCalls++
		if hookDone || hookCalls%2 == 0 { // every other reclaim goes ahead undisturbed
			return
		}
		id := fmt.Sprintf("h-%05d", len(hookIDs))
		hookIDs = append(hookIDs, id)
		hookWG.Add(1)
		go func() {
			defer hookWG.Done()
			if err := q.Publish(context.Background(), makeBatch(id, 2)); err != nil {
				hookMu.Lock()
				hookErrs = append(hookErrs, err)
				hookMu.Unlock()
			}
		}()
	}

	rec := newRecorder()
	stop := runQ(t, q, rec)
	const publishers, bursts, perBurst = 4, 20, 4
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, publishers*bursts*perBurst)
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range bursts {
				// Bursts at a shared rhythm, so the queue drains between them.
				time.Sleep(time.Until(start.Add(time.Duration(b)*25*time.Millisecond + time.Duration(rand.IntN(2000))*time.Microsecond)))
				for i := range perBurst {
					id := fmt.Sprintf("p%d-%05d", p, b*perBurst+i)
					if err := q.Publish(context.Background(), makeBatch(id, 2)); err != nil {
						errs <- fmt.Errorf("publish %s: %w", id, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	reclaimedUnderLoad := q.Stats().Reclaimed
	hookMu.Lock()
	hookDone = true
	hookMu.Unlock()
	hookWG.Wait()
	hookMu.Lock()
	require.Empty(t, hookErrs)
	total := publishers*bursts*perBurst + len(hookIDs)
	hookMu.Unlock()

	rec.waitFor(t, total)
	require.Eventually(t, func() bool { return len(segFiles(t, dir)) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, stop())
	got := rec.got()
	assert.Len(t, got, total, "every batch once")
	seen := map[string]bool{}
	last := map[string]string{}
	for _, id := range got {
		assert.False(t, seen[id], "delivered twice: %s", id)
		seen[id] = true
		prefix := id[:strings.IndexByte(id, '-')]
		assert.Less(t, last[prefix], id, "publish order of %s", prefix)
		last[prefix] = id
	}
	st := q.Stats()
	t.Logf("%d batches, %d reclaims while publishing (%d in all), %d publishes racing a reclaim", total, reclaimedUnderLoad, st.Reclaimed, len(hookIDs))
	assert.Positive(t, st.Reclaimed)
	assert.EqualValues(t, total, st.Delivered)
	shutdown(t, q)

	q = openQ(t, dir, opts)
	n, _ := q.Depth()
	assert.Zero(t, n)
	shutdown(t, q)
}
