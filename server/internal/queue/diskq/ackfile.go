package diskq

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
)

const (
	ackFileName = "ack"
	ackFileSize = 8 + 8 + 4 // segment id, offset, CRC-32C of both
)

// position is a place in the log: a segment id and a byte offset in it.
type position struct {
	seg uint64
	off int64
}

func (p position) less(o position) bool {
	return p.seg < o.seg || (p.seg == o.seg && p.off < o.off)
}

// readAck loads the acknowledged position. ok is false when there is no ack
// file; a damaged one is an error the caller may ignore (by replaying from
// the oldest segment).
func readAck(dir string) (pos position, ok bool, err error) {
	path := filepath.Join(dir, ackFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return position{}, false, nil
	}
	if err != nil {
		return position{}, false, fmt.Errorf("diskq: read ack position %q: %w", path, err)
	}
	if len(b) != ackFileSize {
		return position{}, false, fmt.Errorf("diskq: read ack position %q: %d bytes, want %d", path, len(b), ackFileSize)
	}
	if got, want := crc32.Checksum(b[:16], castagnoli), binary.LittleEndian.Uint32(b[16:]); got != want {
		return position{}, false, fmt.Errorf("diskq: read ack position %q: CRC-32C %08x, file says %08x", path, got, want)
	}
	pos = position{seg: binary.LittleEndian.Uint64(b[0:8]), off: int64(binary.LittleEndian.Uint64(b[8:16]))}
	if pos.off < 0 {
		return position{}, false, fmt.Errorf("diskq: read ack position %q: negative offset %d", path, pos.off)
	}
	return pos, true, nil
}

// writeAck records pos. It overwrites the ack file in place: one write of
// ackFileSize bytes at offset 0 of a file that already has them needs no new
// disk space, so acknowledging (and then deleting the delivered segments)
// works on a full disk, which is how a full disk gets space back. Only the
// first position (no ack file yet, or one of the wrong size) is written to a
// temporary file and renamed into place. There is no fsync, and a write torn
// by a power failure fails the CRC check: see the package comment.
func writeAck(dir string, pos position) error {
	var b [ackFileSize]byte
	binary.LittleEndian.PutUint64(b[0:8], pos.seg)
	binary.LittleEndian.PutUint64(b[8:16], uint64(pos.off))
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	path := filepath.Join(dir, ackFileName)
	if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
		fi, err := f.Stat()
		if err == nil && fi.Size() == ackFileSize {
			_, err = f.WriteAt(b[:], 0)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("diskq: write ack position %+v to %q: %w", pos, path, err)
			}
			return nil
		}
		f.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("diskq: write ack position %+v: %w", pos, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b[:], 0o644); err != nil {
		os.Remove(tmp) // a partly written one would only take space
		return fmt.Errorf("diskq: write ack position %+v: %w", pos, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("diskq: write ack position %+v: %w", pos, err)
	}
	return nil
}
