package diskq

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

func TestFrameRoundTrip(t *testing.T) {
	b := makeBatch("rt", 3)
	frame, err := encodeFrame(b)
	require.NoError(t, err)
	assert.EqualValues(t, len(frame)-frameHeaderSize, binary.LittleEndian.Uint32(frame))
	payload, n, err := readFrame(bufio.NewReader(bytes.NewReader(frame)), 0, int64(len(frame)), nil)
	require.NoError(t, err)
	assert.EqualValues(t, len(frame), n)
	var got sawmillv1.LogBatch
	require.NoError(t, proto.Unmarshal(payload, &got))
	assert.True(t, proto.Equal(b, &got))
}

func TestReadFrameErrors(t *testing.T) {
	good, err := encodeFrame(makeBatch("e", 1))
	require.NoError(t, err)
	badCRC := bytes.Clone(good)
	badCRC[frameHeaderSize] ^= 1
	huge := bytes.Clone(good)
	binary.LittleEndian.PutUint32(huge, maxFramePayload+1)
	tests := []struct {
		name    string
		data    []byte
		limit   int64
		corrupt bool
		eof     bool
	}{
		{"at limit", good, 0, false, true},
		{"short header", good[:5], 5, true, false},
		{"short payload", good[:len(good)-1], int64(len(good) - 1), true, false},
		{"limit cuts the frame", good, int64(len(good) - 1), true, false},
		{"file shorter than limit", good[:20], int64(len(good)), true, false},
		{"bad CRC", badCRC, int64(len(badCRC)), true, false},
		{"length over the maximum", huge, int64(len(huge)), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := readFrame(bufio.NewReader(bytes.NewReader(tt.data)), 0, tt.limit, nil)
			var ce *corruptError
			assert.Equal(t, tt.corrupt, err != nil && errorsAs(err, &ce), "%v", err)
			assert.Equal(t, tt.eof, err == io.EOF, "%v", err)
		})
	}
}

func errorsAs(err error, ce **corruptError) bool {
	c, ok := err.(*corruptError)
	*ce = c
	return ok
}

func TestEncodeFrameRejectsOversizedBatch(t *testing.T) {
	b := &sawmillv1.LogBatch{BatchId: "big", Records: []*sawmillv1.LogRecord{{Body: string(make([]byte, maxFramePayload))}}}
	_, err := encodeFrame(b)
	require.Error(t, err)
}

// FuzzScanFrames checks that recovery's frame scan never panics, stops at
// the first invalid frame, and that what it keeps scans again cleanly.
func FuzzScanFrames(f *testing.F) {
	var log []byte
	for i := range 3 {
		fr, err := encodeFrame(makeBatch(fmt.Sprint("f", i), 2))
		require.NoError(f, err)
		log = append(log, fr...)
	}
	f.Add(log)
	f.Add(log[:len(log)-7])
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0})
	empty := make([]byte, frameHeaderSize) // a frame with an empty payload
	binary.LittleEndian.PutUint32(empty[4:], crc32.Checksum(nil, castagnoli))
	f.Add(empty)
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := scanFrames(bufio.NewReader(bytes.NewReader(data)), 0, int64(len(data)))
		require.NoError(t, err)
		require.GreaterOrEqual(t, res.end, int64(0))
		require.LessOrEqual(t, res.end, int64(len(data)))
		if res.corrupt == nil {
			require.EqualValues(t, len(data), res.end)
		} else {
			require.Equal(t, res.end, res.corrupt.off)
		}
		again, err := scanFrames(bufio.NewReader(bytes.NewReader(data[:res.end])), 0, res.end)
		require.NoError(t, err)
		require.Nil(t, again.corrupt)
		require.Equal(t, res.frames, again.frames)
	})
}
