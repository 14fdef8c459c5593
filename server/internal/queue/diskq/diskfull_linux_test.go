package diskq

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory, unmounted when
// the test ends. It skips the test when that is not possible (not root, no
// mount permission in a container).
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "mnt")
	require.NoError(t, os.Mkdir(dir, 0o755))
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes path until the filesystem is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			require.ErrorIs(t, err, syscall.ENOSPC)
			return
		}
	}
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(dir, &st))
	return int64(st.Bavail) * st.Bsize
}

// sizes returns the size of every segment file of dir.
func segSizes(t *testing.T, dir string) []int64 {
	t.Helper()
	var out []int64
	for _, p := range segFiles(t, dir) {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		out = append(out, fi.Size())
	}
	return out
}

// A commit that fails for want of space leaves the segments holding exactly
// the committed frames: the partial frame is cut off, no new segment is
// started per failed commit (the issue saw one empty segment per failure),
// and once space is back the queue goes on in the same files.
func TestDiskFullFailedCommitsLeaveNoEmptySegments(t *testing.T) {
	for _, tc := range []struct {
		name         string
		segmentBytes int64
	}{
		{"one segment", 0},
		{"small segments that roll", 16 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mnt := mountTmpfs(t, 2<<20)
			dir := filepath.Join(mnt, "q")
			q := openQ(t, dir, Options{SegmentBytes: tc.segmentBytes})
			ok := publishN(t, q, "d", 0, 10, 20) // ~60 KiB
			fillDisk(t, filepath.Join(mnt, "filler"))

			const failures = 30
			for i := range failures {
				err := q.Publish(context.Background(), makeBatch(fmt.Sprintf("lost-%d", i), 20))
				require.ErrorIs(t, err, pipeline.ErrUnavailable)
				require.ErrorIs(t, err, syscall.ENOSPC)
			}
			n, _ := q.Depth()
			assert.EqualValues(t, 10, n)
			before := len(segFiles(t, dir))
			empty := 0
			for _, sz := range segSizes(t, dir) {
				if sz == 0 {
					empty++
				}
			}
			assert.LessOrEqual(t, empty, 1, "empty segments after %d failed commits: %v", failures, segSizes(t, dir))

			require.NoError(t, os.Remove(filepath.Join(mnt, "filler")))
			ok = append(ok, publishN(t, q, "d", 10, 20, 20)...)
			if tc.segmentBytes == 0 {
				assert.Len(t, segFiles(t, dir), 1, "the failed commits must not have started segments")
			} else {
				// 10 more batches of ~6 KiB roll a few times; each file took frames.
				assert.LessOrEqual(t, len(segFiles(t, dir)), before+1+10*6<<10/int(tc.segmentBytes))
				for _, sz := range segSizes(t, dir) {
					assert.NotZero(t, sz, "segments: %v", segSizes(t, dir))
				}
			}
			crash(t, q)

			// Every file holds exactly its committed frames: nothing torn or
			// corrupt at the next start, nothing delivered that was refused.
			q = openQ(t, dir, Options{SegmentBytes: tc.segmentBytes})
			assert.Zero(t, q.Stats().CorruptSegments)
			n, _ = q.Depth()
			assert.EqualValues(t, 20, n)
			rec := newRecorder()
			stop := runQ(t, q, rec)
			assert.Equal(t, ok, rec.waitFor(t, 20))
			require.NoError(t, stop())
			shutdown(t, q)
		})
	}
}

// A restart on a full disk drains what the queue holds and gives the space
// of the delivered segments back: writing the ack position needs no new
// space (the restart could not create ack.tmp, so no segment was
// ever deleted and the disk stayed full).
func TestDiskFullRestartDrainsAndFreesSegments(t *testing.T) {
	mnt := mountTmpfs(t, 2<<20)
	dir := filepath.Join(mnt, "q")
	opts := Options{SegmentBytes: 64 << 10}
	q := openQ(t, dir, opts)
	first := publishN(t, q, "a", 0, 5, 20)
	rec := newRecorder()
	stop := runQ(t, q, rec)
	require.Equal(t, first, rec.waitFor(t, 5))
	require.NoError(t, stop())
	queued := publishN(t, q, "b", 0, 20, 20) // ~120 KiB, several segments
	crash(t, q)
	fillDisk(t, filepath.Join(mnt, "filler"))
	_, err := os.Stat(filepath.Join(dir, ackFileName))
	require.NoError(t, err, "the first run wrote an ack position")
	segsBefore := len(segFiles(t, dir))
	require.Greater(t, segsBefore, 2)
	freeBefore := freeBytes(t, mnt)

	q = openQ(t, dir, opts)
	n, _ := q.Depth()
	require.EqualValues(t, 20, n)
	rec = newRecorder()
	stop = runQ(t, q, rec)
	assert.Equal(t, queued, rec.waitFor(t, 20))
	require.NoError(t, stop())
	shutdown(t, q)

	assert.Len(t, segFiles(t, dir), 1, "delivered segments must be deleted on a full disk")
	assert.Greater(t, freeBytes(t, mnt), freeBefore+64<<10)
	_, err = os.Stat(filepath.Join(dir, ackFileName+".tmp"))
	assert.True(t, errors.Is(err, os.ErrNotExist), "no ack.tmp left behind: %v", err)

	// The position was written: nothing is delivered again.
	q = openQ(t, dir, opts)
	n, _ = q.Depth()
	assert.Zero(t, n)
	shutdown(t, q)
}

// Once the queue is idle with everything delivered, the newest segment's
// delivered frames give their space back while Run keeps running. Before,
// that segment was kept until the queue rolled over, so on a small disk the
// server went on refusing after the queue had drained, with up to 64 MiB of
// frames already in the store on the data volume.
func TestIdleDrainedQueueFreesActiveSegment(t *testing.T) {
	for _, tc := range []struct {
		name   string
		memory int64
	}{
		{"delivered from the cache", 0},
		{"read back from disk", -1}, // the reader's file must be closed too
	} {
		t.Run(tc.name, func(t *testing.T) {
			mnt := mountTmpfs(t, 4<<20)
			dir := filepath.Join(mnt, "q")
			opts := Options{MemoryBytes: tc.memory}
			q := openQ(t, dir, opts)
			// Closed before the unmount if the test fails.
			t.Cleanup(func() { _ = q.Shutdown(context.Background()) })
			ids := publishN(t, q, "f", 0, 200, 20) // ~1.2 MiB, one segment
			require.Len(t, segFiles(t, dir), 1)
			freeQueued := freeBytes(t, mnt)

			rec := newRecorder()
			stop := runQ(t, q, rec)
			require.Equal(t, ids, rec.waitFor(t, len(ids)))
			freed := func() bool { return freeBytes(t, mnt) >= freeQueued+1<<20 }
			require.Eventually(t, freed, 10*time.Second, 20*time.Millisecond,
				"free space %d, %d with the frames queued; segments %v", freeBytes(t, mnt), freeQueued, segSizes(t, dir))
			assert.Equal(t, []int64{0}, segSizes(t, dir), "one empty segment left")
			n, b := q.Depth()
			assert.Zero(t, n)
			assert.Zero(t, b)

			// The queue goes on in the fresh segment.
			more := publishN(t, q, "f", 200, 210, 20)
			assert.Equal(t, append(ids, more...), rec.waitFor(t, len(ids)+len(more)))
			require.NoError(t, stop())
			shutdown(t, q)

			q = openQ(t, dir, opts)
			n, _ = q.Depth()
			assert.Zero(t, n, "nothing delivered again after a restart")
			shutdown(t, q)
		})
	}
}

// On a full disk a commit that rolled over fails and leaves the new, empty
// segment active (not a segment per failure). Once the queue has drained,
// the reclaim takes that empty segment as the new one, which needs no new
// file on the full disk, and deletes the delivered one.
func TestIdleDrainedQueueFreesSpaceOnFullDisk(t *testing.T) {
	mnt := mountTmpfs(t, 2<<20)
	dir := filepath.Join(mnt, "q")
	opts := Options{SegmentBytes: 64 << 10}
	q := openQ(t, dir, opts)
	// Closed before the unmount if the test fails.
	t.Cleanup(func() { _ = q.Shutdown(context.Background()) })
	// A first delivery writes the ack file, which later positions overwrite
	// in place (creating it needs space).
	publishN(t, q, "s", 0, 1, 20)
	rec := newRecorder()
	stop := runQ(t, q, rec)
	rec.waitFor(t, 1)
	require.NoError(t, stop())
	_, err := os.Stat(filepath.Join(dir, ackFileName))
	require.NoError(t, err)
	var ids []string
	for i := 1; ; i++ {
		b := makeBatch(fmt.Sprintf("s-%05d", i), 20)
		sizes := segSizes(t, dir)
		if sizes[len(sizes)-1]+int64(proto.Size(b))+frameHeaderSize > opts.SegmentBytes {
			break // the next publish rolls over
		}
		require.NoError(t, q.Publish(context.Background(), b))
		ids = append(ids, b.GetBatchId())
	}
	fillDisk(t, filepath.Join(mnt, "filler"))
	err = q.Publish(context.Background(), makeBatch("refused", 20))
	require.ErrorIs(t, err, syscall.ENOSPC)
	files := segFiles(t, dir)
	require.Len(t, files, 2)
	require.Equal(t, []int64{segSizes(t, dir)[0], 0}, segSizes(t, dir), "the failed commit's roll-over left one empty segment")
	freeFull := freeBytes(t, mnt)
	reclaimed := q.Stats().Reclaimed

	rec = newRecorder()
	stop = runQ(t, q, rec)
	require.Equal(t, ids, rec.waitFor(t, len(ids)))
	require.Eventually(t, func() bool { return freeBytes(t, mnt) >= freeFull+48<<10 }, 10*time.Second, 20*time.Millisecond,
		"free %d, %d before; segments %v", freeBytes(t, mnt), freeFull, segSizes(t, dir))
	assert.Equal(t, files[1:], segFiles(t, dir), "the empty segment was taken, no file created")
	assert.Equal(t, []int64{0}, segSizes(t, dir))
	assert.EqualValues(t, reclaimed+1, q.Stats().Reclaimed)

	require.NoError(t, os.Remove(filepath.Join(mnt, "filler")))
	more := publishN(t, q, "s", 1+len(ids), 1+len(ids)+3, 20)
	assert.Equal(t, append(ids, more...), rec.waitFor(t, len(ids)+len(more)))
	require.NoError(t, stop())
	shutdown(t, q)
	q = openQ(t, dir, opts)
	n, _ := q.Depth()
	assert.Zero(t, n)
	shutdown(t, q)
}
