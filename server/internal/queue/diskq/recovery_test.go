package diskq

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func appendRawFrame(t *testing.T, path string, payload []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	var hdr [frameHeaderSize]byte
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[4:8], crc32.Checksum(payload, castagnoli))
	_, err = f.Write(append(hdr[:], payload...))
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// frameOffsets returns the offsets of the frames of a segment file.
func frameOffsets(t *testing.T, path string) []int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var offs []int64
	for off := int64(0); off+frameHeaderSize <= int64(len(data)); {
		offs = append(offs, off)
		off += frameHeaderSize + int64(binary.LittleEndian.Uint32(data[off:]))
	}
	return offs
}

func TestRecoveryOfDamagedLastSegment(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string, offs []int64)
		want   int // complete frames kept of 10
	}{
		{"torn tail mid payload", func(t *testing.T, path string, offs []int64) {
			fi, _ := os.Stat(path)
			require.NoError(t, os.Truncate(path, fi.Size()-5))
		}, 9},
		{"torn tail mid header", func(t *testing.T, path string, offs []int64) {
			require.NoError(t, os.Truncate(path, offs[9]+3))
		}, 9},
		{"corrupt CRC of the last frame", func(t *testing.T, path string, offs []int64) {
			flipByte(t, path, offs[9]+5)
		}, 9},
		{"corrupt payload of frame 7", func(t *testing.T, path string, offs []int64) {
			flipByte(t, path, offs[7]+frameHeaderSize+10)
		}, 7},
		{"absurd length", func(t *testing.T, path string, offs []int64) {
			writeAt(t, path, offs[8], []byte{0xff, 0xff, 0xff, 0x7f})
		}, 8},
		{"garbage appended", func(t *testing.T, path string, offs []int64) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			require.NoError(t, err)
			_, err = f.Write([]byte("garbage after a crash"))
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			q := openQ(t, dir, Options{})
			publishN(t, q, "v", 0, 10, 3)
			shutdown(t, q)
			files := segFiles(t, dir)
			require.Len(t, files, 1)
			offs := frameOffsets(t, files[0])
			require.Len(t, offs, 10)
			tt.damage(t, files[0], offs)

			q = openQ(t, dir, Options{})
			n, _ := q.Depth()
			assert.EqualValues(t, tt.want, n)
			// Appends go after the kept frames and are delivered.
			publishN(t, q, "v", 10, 12, 3)
			rec := newRecorder()
			stop := runQ(t, q, rec)
			want := append(seq("v", 0, tt.want), seq("v", 10, 12)...)
			assert.Equal(t, want, rec.waitFor(t, len(want)))
			require.NoError(t, stop())
			shutdown(t, q)
		})
	}
}

func TestCorruptionInsideOlderSegmentSkipsItsRest(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 6 << 10, MemoryBytes: -1}
	q := openQ(t, dir, opts)
	publishN(t, q, "m", 0, 40, 3)
	shutdown(t, q)
	files := segFiles(t, dir)
	require.GreaterOrEqual(t, len(files), 3)
	offs := frameOffsets(t, files[1])
	require.GreaterOrEqual(t, len(offs), 3)
	first := len(frameOffsets(t, files[0]))
	flipByte(t, files[1], offs[1]+frameHeaderSize+3) // second frame of segment 2
	lost := len(offs) - 1

	q = openQ(t, dir, opts)
	assert.EqualValues(t, 1, q.Stats().CorruptSegments)
	n, _ := q.Depth()
	assert.EqualValues(t, 40-lost, n)
	rec := newRecorder()
	stop := runQ(t, q, rec)
	want := append(seq("m", 0, first+1), seq("m", first+1+lost, 40)...)
	assert.Equal(t, want, rec.waitFor(t, len(want)))
	require.Eventually(t, func() bool { n, _ := q.Depth(); return n == 0 }, 5*time.Second, time.Millisecond)
	require.NoError(t, stop())
	shutdown(t, q)
}

func TestCorruptionFoundWhileReadingSkipsSegmentRest(t *testing.T) {
	dir := t.TempDir()
	// No cache: Run reads everything back from disk.
	opts := Options{SegmentBytes: 6 << 10, MemoryBytes: -1}
	q := openQ(t, dir, opts)
	publishN(t, q, "w", 0, 40, 3)
	files := segFiles(t, dir)
	require.GreaterOrEqual(t, len(files), 3)
	offs := frameOffsets(t, files[1])
	first := len(frameOffsets(t, files[0]))
	flipByte(t, files[1], offs[2]+frameHeaderSize+3)
	lost := len(offs) - 2

	rec := newRecorder()
	stop := runQ(t, q, rec)
	want := append(seq("w", 0, first+2), seq("w", first+2+lost, 40)...)
	assert.Equal(t, want, rec.waitFor(t, len(want)))
	require.Eventually(t, func() bool { n, b := q.Depth(); return n == 0 && b == 0 }, 5*time.Second, time.Millisecond)
	assert.EqualValues(t, 1, q.Stats().CorruptSegments)
	require.NoError(t, stop())
	shutdown(t, q)
}

func TestCorruptionFoundInActiveSegmentRollsIt(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MemoryBytes: -1}
	q := openQ(t, dir, opts)
	publishN(t, q, "a", 0, 5, 3)
	files := segFiles(t, dir)
	require.Len(t, files, 1)
	flipByte(t, files[0], frameOffsets(t, files[0])[3]+frameHeaderSize+3)
	rec := newRecorder()
	stop := runQ(t, q, rec)
	assert.Equal(t, seq("a", 0, 3), rec.waitFor(t, 3))
	require.Eventually(t, func() bool { return q.Stats().CorruptSegments == 1 }, 5*time.Second, time.Millisecond)
	publishN(t, q, "a", 5, 8, 3) // goes to a new segment
	assert.Equal(t, append(seq("a", 0, 3), seq("a", 5, 8)...), rec.waitFor(t, 6))
	require.NoError(t, stop())
	assert.FileExists(t, segmentPath(dir, 2), "appends moved to a new segment")
	shutdown(t, q)
}

func TestUnreadableAckFileReplaysEverything(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, dir, Options{})
	publishN(t, q, "y", 0, 10, 1)
	rec := newRecorder()
	stop := runQ(t, q, rec)
	rec.waitFor(t, 10)
	require.NoError(t, stop())
	shutdown(t, q)
	require.NoError(t, os.WriteFile(dir+"/"+ackFileName, []byte("torn"), 0o644))
	q = openQ(t, dir, Options{})
	n, _ := q.Depth()
	assert.EqualValues(t, 10, n, "at-least-once: replay from the oldest segment")
	shutdown(t, q)
}

func TestAckFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	_, ok, err := readAck(dir)
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, writeAck(dir, position{seg: 42, off: 123456}))
	pos, ok, err := readAck(dir)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, position{seg: 42, off: 123456}, pos)
	flipByte(t, dir+"/"+ackFileName, 3)
	_, _, err = readAck(dir)
	require.Error(t, err)
}

func TestPublishRespectsContextWhileQueued(t *testing.T) {
	q := openQ(t, t.TempDir(), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, q.Publish(ctx, makeBatch("ok", 1)))
	shutdown(t, q)
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Less(t, off, int64(len(data)))
	writeAt(t, path, off, []byte{data[off] ^ 0x5a})
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}
