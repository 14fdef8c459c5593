package diskq

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"
)

var deadLetterSeq atomic.Uint64

// writeDeadLetter writes es to a new file in dir/dead-letter/ and fsyncs it.
//
// The file is a text header, an empty line, then the batches as queue
// frames ([u32 len][u32 CRC-32C][payload], little endian):
//
//	sawmill-dead-letter v1
//	time: 2026-01-02T15:04:05.999999999Z
//	reason: "permanent: ..."
//	batches: 2
//	batch-id: "01J..."
//	batch-id: "01J..."
//
//	<frames>
func writeDeadLetter(dir string, es []*entry, reason error) (string, error) {
	now := time.Now().UTC()
	var b strings.Builder
	fmt.Fprintf(&b, "sawmill-dead-letter v1\ntime: %s\nreason: %q\nbatches: %d\n", now.Format(time.RFC3339Nano), reason.Error(), len(es))
	for _, e := range es {
		if e.batch != nil {
			fmt.Fprintf(&b, "batch-id: %q\n", e.batch.GetBatchId())
		} else {
			fmt.Fprintf(&b, "batch-id: (undecodable frame at segment %d offset %d)\n", e.pos.seg, e.pos.off)
		}
	}
	b.WriteString("\n")
	buf := []byte(b.String())
	for _, e := range es {
		payload := e.raw
		if e.batch != nil {
			var err error
			if payload, err = proto.Marshal(e.batch); err != nil {
				return "", fmt.Errorf("diskq: dead-letter batch %q: %w", e.batch.GetBatchId(), err)
			}
		}
		var hdr [frameHeaderSize]byte
		binary.LittleEndian.PutUint32(hdr[0:4], uint32(len(payload)))
		binary.LittleEndian.PutUint32(hdr[4:8], crc32.Checksum(payload, castagnoli))
		buf = append(append(buf, hdr[:]...), payload...)
	}

	ddir := filepath.Join(dir, deadLetterDir)
	name := fmt.Sprintf("%s-%06d.dead", now.Format("20060102T150405.000000000Z"), deadLetterSeq.Add(1)%1e6)
	path := filepath.Join(ddir, name)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return "", fmt.Errorf("diskq: create dead letter %q: %w", tmp, err)
	}
	_, werr := f.Write(buf)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("diskq: write dead letter %q: %w", path, werr)
	}
	if err := syncDir(ddir); err != nil {
		return "", err
	}
	return path, nil
}
