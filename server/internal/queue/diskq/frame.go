package diskq

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

// A frame is [u32 payload length][u32 CRC-32C of payload][payload], little
// endian, payload = proto.Marshal(LogBatch).
const (
	frameHeaderSize = 8
	// maxFramePayload bounds a frame's payload. Batches are at most 8 MiB
	// encoded; a larger length field is treated as corruption.
	maxFramePayload = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// framePool recycles frame buffers: a frame lives only from Publish until
// the committer has copied it into its write buffer. Without it, encoding
// allocated ~210 bytes per record (the seed burst's largest allocation site
// after protobuf decoding).
var framePool sync.Pool // of *[]byte

// maxPooledFrame bounds the frames kept for reuse.
const maxPooledFrame = 4 << 20

// putFrame hands a frame buffer back for reuse; the caller must not use it
// afterwards.
func putFrame(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledFrame {
		return
	}
	b = b[:0]
	framePool.Put(&b)
}

// encodeFrame marshals b into a complete frame, in a buffer that putFrame
// may recycle.
func encodeFrame(b *sawmillv1.LogBatch) ([]byte, error) {
	n := proto.Size(b)
	if n > maxFramePayload {
		return nil, fmt.Errorf("diskq: encode batch %q: %d bytes exceed the frame limit of %d", b.GetBatchId(), n, maxFramePayload)
	}
	var buf []byte
	if p, ok := framePool.Get().(*[]byte); ok && cap(*p) >= frameHeaderSize+n {
		buf = (*p)[:frameHeaderSize]
	} else {
		if ok {
			putFrame(*p) // too small for this batch; keep it for another
		}
		buf = make([]byte, frameHeaderSize, frameHeaderSize+n)
	}
	buf, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(buf, b)
	if err != nil {
		return nil, fmt.Errorf("diskq: encode batch %q: %w", b.GetBatchId(), err)
	}
	payload := buf[frameHeaderSize:]
	binary.LittleEndian.PutUint32(buf[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[4:8], crc32.Checksum(payload, castagnoli))
	return buf, nil
}

// corruptError reports an invalid frame at off.
type corruptError struct {
	off    int64
	reason string
}

func (e *corruptError) Error() string {
	return fmt.Sprintf("corrupt frame at offset %d: %s", e.off, e.reason)
}

// readFrame reads the frame at off from r, which is positioned at off; the
// frame must end at or before limit. It returns the payload in buf (grown as
// needed) and the frame's total length. At limit it returns io.EOF; an
// incomplete or invalid frame is a *corruptError; other read errors are
// returned as they are.
func readFrame(r *bufio.Reader, off, limit int64, buf []byte) (payload []byte, n int64, err error) {
	if off >= limit {
		return buf[:0], 0, io.EOF
	}
	if limit-off < frameHeaderSize {
		return buf[:0], 0, &corruptError{off: off, reason: fmt.Sprintf("torn header: %d bytes left", limit-off)}
	}
	var hdr [frameHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return buf[:0], 0, readErr(off, err)
	}
	length := int64(binary.LittleEndian.Uint32(hdr[0:4]))
	sum := binary.LittleEndian.Uint32(hdr[4:8])
	if length > maxFramePayload {
		return buf[:0], 0, &corruptError{off: off, reason: fmt.Sprintf("length %d exceeds %d", length, maxFramePayload)}
	}
	if off+frameHeaderSize+length > limit {
		return buf[:0], 0, &corruptError{off: off, reason: fmt.Sprintf("torn payload: length %d, %d bytes left", length, limit-off-frameHeaderSize)}
	}
	if int64(cap(buf)) < length {
		buf = make([]byte, length)
	}
	buf = buf[:length]
	if _, err := io.ReadFull(r, buf); err != nil {
		return buf[:0], 0, readErr(off, err)
	}
	if got := crc32.Checksum(buf, castagnoli); got != sum {
		return buf[:0], 0, &corruptError{off: off, reason: fmt.Sprintf("CRC-32C %08x, header says %08x", got, sum)}
	}
	return buf, frameHeaderSize + length, nil
}

func readErr(off int64, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &corruptError{off: off, reason: "file shorter than expected"}
	}
	return fmt.Errorf("read frame at offset %d: %w", off, err)
}

// scanResult describes the valid frames of a segment from a start offset.
type scanResult struct {
	end     int64         // offset after the last valid frame
	frames  int64         // valid frames in [start, end)
	corrupt *corruptError // the first invalid frame, if any
}

// scanFrames validates the frames of r (positioned at start) up to limit.
func scanFrames(r *bufio.Reader, start, limit int64) (scanResult, error) {
	res := scanResult{end: start}
	var buf []byte
	for {
		payload, n, err := readFrame(r, res.end, limit, buf)
		buf = payload
		var ce *corruptError
		switch {
		case err == io.EOF:
			return res, nil
		case errors.As(err, &ce):
			res.corrupt = ce
			return res, nil
		case err != nil:
			return res, err
		}
		res.end += n
		res.frames++
	}
}
