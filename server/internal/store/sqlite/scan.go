package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// A filtered query (text or attributes) usually keeps few records of a
// candidate block. Decoding the whole block into messages to test them was
// most of a search's cost (in the seed burst, every marker search decoded
// one 8,192-record block), so a block that is not in the decoded cache is
// scanned in its wire form: each record's time, severity, body and
// attributes are read in place and tested, and only records that pass are
// decoded into messages.

// scanHit is one record that passed the matcher.
type scanHit struct {
	BatchID string
	Index   int // in its batch
	Time    int64
	Sev     int32

	rec   *sawmillv1.LogRecord // set when the block came from the cache
	res   *sawmillv1.Resource
	raw   []byte    // the record's wire bytes otherwise
	batch *rawBatch // for its resource
}

// Record returns the whole record.
func (h *scanHit) Record() (*sawmillv1.LogRecord, error) {
	if h.rec != nil {
		return h.rec, nil
	}
	r := &sawmillv1.LogRecord{}
	if err := proto.Unmarshal(h.raw, r); err != nil {
		return nil, fmt.Errorf("decode record %d of batch %s: %w", h.Index, h.BatchID, err)
	}
	return r, nil
}

// Resource returns the resource of the record's batch.
func (h *scanHit) Resource() (*sawmillv1.Resource, error) {
	if h.batch == nil {
		return h.res, nil
	}
	return h.batch.resource()
}

// rawBatch is a batch in wire form.
type rawBatch struct {
	id     string
	resRaw []byte
	res    *sawmillv1.Resource
}

func (b *rawBatch) resource() (*sawmillv1.Resource, error) {
	if b.res == nil {
		r := &sawmillv1.Resource{}
		if err := proto.Unmarshal(b.resRaw, r); err != nil {
			return nil, fmt.Errorf("decode resource of batch %s: %w", b.id, err)
		}
		b.res = r
	}
	return b.res, nil
}

// scanBlock calls fn for every record of block id that m matches (all but
// the service condition), in stored order. fn's hit is valid only during the
// call. A block in the decoded cache is scanned from there.
func (s *Store) scanBlock(ctx context.Context, id int64, m *store.Matcher, fn func(*scanHit) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if bs, ok := s.cache.get(id); ok {
		var h scanHit
		for _, b := range bs {
			if !m.MatchResource(b.GetResource()) {
				continue
			}
			for i, r := range b.GetRecords() {
				if !m.MatchRecord(r) {
					continue
				}
				h = scanHit{BatchID: b.GetBatchId(), Index: i, Time: int64(r.GetTimeUnixNano()), Sev: int32(r.GetSeverityNumber()), rec: r, res: b.GetResource()}
				if err := fn(&h); err != nil {
					return err
				}
			}
		}
		return nil
	}
	bp, _ := scanBufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer func() {
		if cap(*bp) <= maxScanBuf {
			scanBufs.Put(bp)
		}
	}()
	raw, err := s.readRaw(ctx, id, *bp)
	if err != nil {
		return err
	}
	*bp = raw[:0]
	if err := scanRaw(raw, m, fn); err != nil {
		return fmt.Errorf("sqlite: block %d: %w", id, err)
	}
	return nil
}

// scanBufs recycles the decompressed blocks of scans (they live only during
// the scan: hits are decoded into messages of their own).
var scanBufs sync.Pool // of *[]byte

const maxScanBuf = 16 << 20

// readRaw reads block id and decompresses it into buf's memory when it fits,
// without copying the stored bytes out of SQLite first.
func (s *Store) readRaw(ctx context.Context, id int64, buf []byte) ([]byte, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT data FROM blocks WHERE id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read block %d: %w", id, err)
	}
	defer func() { _ = rows.Close() }()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("sqlite: read block %d: %w", id, err)
		}
		return nil, fmt.Errorf("sqlite: block %d: %w", id, store.ErrNotFound)
	}
	var data sql.RawBytes // valid until Next or Close: decompressed before either
	if err := rows.Scan(&data); err != nil {
		return nil, fmt.Errorf("sqlite: read block %d: %w", id, err)
	}
	raw, err := s.codec.decompressTo(buf, data)
	if err != nil {
		return nil, fmt.Errorf("sqlite: block %d: %w", id, err)
	}
	return raw, nil
}

var errCorrupt = errors.New("decode block: corrupt frame")

// scanRaw walks the frames of a decompressed block (see codec.build).
func scanRaw(raw []byte, m *store.Matcher, fn func(*scanHit) error) error {
	var probe sawmillv1.LogRecord
	var probeErr sawmillv1.ErrorInfo
	var h scanHit
	for len(raw) > 0 {
		size, k := binary.Uvarint(raw)
		if k <= 0 || uint64(len(raw)-k) < size {
			return errCorrupt
		}
		frame := raw[k : k+int(size)]
		raw = raw[k+int(size):]
		// First pass: the batch's id and resource (fields may come in any
		// order; the last occurrence wins, as in proto.Unmarshal).
		b := &rawBatch{}
		err := eachField(frame, func(num protowire.Number, typ protowire.Type, v []byte) error {
			switch {
			case num == 1 && typ == protowire.BytesType:
				b.id = string(v)
			case num == 2 && typ == protowire.BytesType:
				b.resRaw = v
			}
			return nil
		})
		if err != nil {
			return err
		}
		if m.Filter().HasResourceFields() {
			res, err := b.resource()
			if err != nil {
				return err
			}
			if !m.MatchResource(res) {
				continue
			}
		}
		// Second pass: the records.
		idx := 0
		err = eachField(frame, func(num protowire.Number, typ protowire.Type, v []byte) error {
			if num != 3 || typ != protowire.BytesType {
				return nil
			}
			i := idx
			idx++
			probe.TimeUnixNano, probe.SeverityNumber, probe.Body, probe.AttributesJson = 0, 0, "", nil
			probe.TraceId, probe.SpanId, probe.Logger, probe.Error = nil, nil, "", nil
			err := eachField(v, func(num protowire.Number, typ protowire.Type, f []byte) error {
				switch {
				case num == 1 && typ == protowire.Fixed64Type:
					probe.TimeUnixNano = binary.LittleEndian.Uint64(f)
				case num == 3 && typ == protowire.VarintType:
					n, _ := protowire.ConsumeVarint(f)
					probe.SeverityNumber = sawmillv1.SeverityNumber(int32(n))
				case num == 5 && typ == protowire.BytesType:
					// Read in place: the probe never outlives this call.
					probe.Body = unsafe.String(unsafe.SliceData(f), len(f))
				case num == 6 && typ == protowire.BytesType:
					probe.AttributesJson = f
				case num == 7 && typ == protowire.BytesType:
					probe.TraceId = f
				case num == 8 && typ == protowire.BytesType:
					probe.SpanId = f
				case num == 9 && typ == protowire.BytesType:
					probe.Logger = unsafe.String(unsafe.SliceData(f), len(f))
				case num == 11 && typ == protowire.BytesType:
					// Only the type is compared; merged like proto.Unmarshal
					// merges repeated occurrences of a message field.
					if probe.Error == nil {
						probeErr.Type = ""
						probe.Error = &probeErr
					}
					return eachField(f, func(num protowire.Number, typ protowire.Type, e []byte) error {
						if num == 1 && typ == protowire.BytesType {
							probeErr.Type = unsafe.String(unsafe.SliceData(e), len(e))
						}
						return nil
					})
				}
				return nil
			})
			if err != nil {
				return err
			}
			if !m.MatchRecord(&probe) {
				return nil
			}
			h = scanHit{BatchID: b.id, Index: i, Time: int64(probe.TimeUnixNano), Sev: int32(probe.SeverityNumber), raw: v, batch: b}
			return fn(&h)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// eachField calls fn with each field of the message in b: its number, wire
// type and value (for varints and fixed64 the raw value bytes; for bytes,
// the content without its length).
func eachField(b []byte, fn func(protowire.Number, protowire.Type, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errCorrupt
		}
		b = b[n:]
		var v []byte
		switch typ {
		case protowire.BytesType:
			c, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return errCorrupt
			}
			v, n = c, m
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return errCorrupt
			}
			v, n = b[:m], m
		}
		if err := fn(num, typ, v); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
