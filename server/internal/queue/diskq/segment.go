package diskq

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const segmentExt = ".seg"

// segment is the in-memory account of one segment file. Fields are guarded
// by Queue.mu.
type segment struct {
	id      uint64
	start   int64 // first offset not acknowledged when the queue was opened (0 for later segments)
	end     int64 // offset after the last committed, valid frame
	frames  int64 // committed valid frames in [start, end)
	corrupt bool  // a corrupt frame ended this segment at end; it takes no more frames
}

func segmentName(id uint64) string { return fmt.Sprintf("%020d%s", id, segmentExt) }

func segmentPath(dir string, id uint64) string { return filepath.Join(dir, segmentName(id)) }

// listSegments returns the ids of the segment files in dir, ascending.
func listSegments(dir string) ([]uint64, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("diskq: list segments in %q: %w", dir, err)
	}
	var ids []uint64
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() || !strings.HasSuffix(name, segmentExt) {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(name, segmentExt), 10, 64)
		if err != nil || id == 0 {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// scanSegment validates the frames of a segment file from start to its end.
// It also returns the file size. A start beyond the size is clamped to it.
func scanSegment(path string, start int64) (res scanResult, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return res, 0, fmt.Errorf("diskq: open segment %q: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return res, 0, fmt.Errorf("diskq: stat segment %q: %w", path, err)
	}
	size = fi.Size()
	start = min(start, size)
	if _, err := f.Seek(start, 0); err != nil {
		return res, size, fmt.Errorf("diskq: seek segment %q to %d: %w", path, start, err)
	}
	res, err = scanFrames(bufio.NewReaderSize(f, 1<<20), start, size)
	if err != nil {
		return res, size, fmt.Errorf("diskq: scan segment %q: %w", path, err)
	}
	return res, size, nil
}

// syncDir fsyncs a directory so that created, renamed or removed entries
// survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("diskq: open directory %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("diskq: sync directory %q: %w", dir, err)
	}
	return nil
}
