package sqlite

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/klauspost/compress/s2"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/jsonattr"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// A block's data is s2Magic followed by S2(frames) (the S2 block format of
// klauspost/compress), each frame a uvarint length followed by one marshaled
// LogBatch. All batches of a block belong to one service. The magic names
// the format, so a later one can be told apart.
//
// S2 rather than zstd: in the seed burst (examples/bench) zstd at its fastest
// level was ~22% of sawmill's CPU; S2 compresses the same blocks ~2.5x
// faster (and decodes faster) at a ratio of ~2.4 instead of ~4.2.
var s2Magic = []byte{'s', 'w', '2', 1}

// blockMeta is what the blocks table knows about a block without opening it.
type blockMeta struct {
	id       int64
	service  string
	minTime  int64
	maxTime  int64
	records  int64
	maxSev   int32
	levels   [store.NumLevels]int64
	filter   filter
	fields   bloom // of record and resource fields (table block_fields); empty for blocks written before schema 3
	dataSize int
}

type builtBlock struct {
	blockMeta
	data    []byte
	batches []batchRef
}

// batchRef places a batch inside a block.
type batchRef struct {
	id    string
	first int // index of its first record in the block
	n     int
}

// codec encodes and decodes blocks. build is called by one writer at a
// time; decode is safe for concurrent use.
type codec struct {
	out    []byte        // build's S2 output, reused
	filter filterBuilder // build's filter, reused
}

// compress returns s2Magic + S2(raw) in a new slice of its exact size.
func (c *codec) compress(raw []byte) []byte {
	need := s2.MaxEncodedLen(len(raw))
	if cap(c.out) < need {
		c.out = make([]byte, need)
	}
	enc := s2.Encode(c.out[:need], raw)
	data := make([]byte, len(s2Magic)+len(enc))
	copy(data, s2Magic)
	copy(data[len(s2Magic):], enc)
	if cap(c.out) > 16<<20 {
		c.out = nil // do not pin a huge buffer
	}
	return data
}

// build encodes the batches of one service into a block.
func (c *codec) build(service string, bs []*sawmillv1.LogBatch, scratch []byte) (*builtBlock, []byte, error) {
	b := &builtBlock{}
	b.service = service
	b.minTime, b.maxTime = 1<<63-1, -1<<63
	raw := scratch[:0]
	n := 0
	for _, batch := range bs {
		b.records += int64(len(batch.GetRecords()))
	}
	fields := make(map[uint64]struct{})
	opts := proto.MarshalOptions{UseCachedSize: true}
	for _, batch := range bs {
		size := opts.Size(batch) // cached in batch: MarshalAppend reuses it
		raw = binary.AppendUvarint(raw, uint64(size))
		var err error
		raw, err = opts.MarshalAppend(raw, batch)
		if err != nil {
			c.filter.reset()
			return nil, scratch, fmt.Errorf("marshal batch %s: %w", batch.GetBatchId(), err)
		}
		b.batches = append(b.batches, batchRef{id: batch.GetBatchId(), first: n, n: len(batch.GetRecords())})
		n += len(batch.GetRecords())
		res := batch.GetResource()
		addField(fields, instanceSeed, res.GetInstance())
		addField(fields, environmentSeed, res.GetEnvironment())
		addField(fields, versionSeed, res.GetVersion())
		for _, r := range batch.GetRecords() {
			addFieldBytes(fields, traceSeed, r.GetTraceId())
			addFieldBytes(fields, spanSeed, r.GetSpanId())
			addField(fields, loggerSeed, r.GetLogger())
			addField(fields, errorTypeSeed, r.GetError().GetType())
			t := int64(r.GetTimeUnixNano())
			b.minTime = min(b.minTime, t)
			b.maxTime = max(b.maxTime, t)
			sev := int32(r.GetSeverityNumber())
			b.maxSev = max(b.maxSev, sev)
			b.levels[store.LevelIndex(sev)]++
			c.filter.addText(r.GetBody())
			jsonattr.EachBytes(r.GetAttributesJson(), c.filter.addAttr)
		}
	}
	b.filter = c.filter.build()
	b.fields = newFieldBloom(len(fields))
	for h := range fields {
		b.fields.set(h)
	}
	b.data = c.compress(raw)
	b.dataSize = len(b.data)
	return b, raw, nil
}

// decompress returns a block's frames.
func (c *codec) decompress(data []byte) ([]byte, error) {
	return c.decompressTo(nil, data)
}

// decompressTo returns a block's frames, in dst's memory when it is large
// enough.
func (c *codec) decompressTo(dst, data []byte) ([]byte, error) {
	if !bytes.HasPrefix(data, s2Magic) {
		return nil, fmt.Errorf("decompress block: unknown format")
	}
	src := data[len(s2Magic):]
	if n, err := s2.DecodedLen(src); err == nil && n <= cap(dst) {
		dst = dst[:n]
	} else {
		dst = nil
	}
	raw, err := s2.Decode(dst, src)
	if err != nil {
		return nil, fmt.Errorf("decompress block: %w", err)
	}
	return raw, nil
}

// decode returns the batches of a block's data.
func (c *codec) decode(data []byte) ([]*sawmillv1.LogBatch, error) {
	raw, err := c.decompress(data)
	if err != nil {
		return nil, err
	}
	var out []*sawmillv1.LogBatch
	for len(raw) > 0 {
		size, k := binary.Uvarint(raw)
		if k <= 0 || uint64(len(raw)-k) < size {
			return nil, fmt.Errorf("decode block: corrupt frame")
		}
		b := &sawmillv1.LogBatch{}
		if err := proto.Unmarshal(raw[k:k+int(size)], b); err != nil {
			return nil, fmt.Errorf("decode block: %w", err)
		}
		out = append(out, b)
		raw = raw[k+int(size):]
	}
	return out, nil
}

// The fields bloom holds, hashed with a seed per kind, the non-empty trace
// ids, span ids, logger names and error types of a block's records and the
// instance, environment and version of its batches, so the exact-match
// filters on them skip blocks without the value. Unlike the text bloom it
// is sized from the distinct items (at least 10 bits each, a power of two,
// 64 B to 128 KiB): ~2% false positives with its two bit positions. A
// block's ids are counted before the filter is sized, so a trace search
// still prunes where the text bloom, saturated by long messages, cannot.
const (
	traceSeed       = 0x71
	spanSeed        = 0x73
	loggerSeed      = 0x6c
	errorTypeSeed   = 0x65
	instanceSeed    = 0x69
	environmentSeed = 0x76
	versionSeed     = 0x56
)

func fieldHash(seed byte, v []byte) uint64 { return fnv(fnvOffset^uint64(seed)<<8, v) * mix }

func addField(set map[uint64]struct{}, seed byte, v string) {
	if v != "" {
		set[fieldHash(seed, []byte(v))] = struct{}{}
	}
}

func addFieldBytes(set map[uint64]struct{}, seed byte, v []byte) {
	if len(v) > 0 {
		set[fieldHash(seed, v)] = struct{}{}
	}
}

// newFieldBloom returns an empty fields bloom for items distinct items. It
// has the layout of a filterV1 blob (filter.go's bloom: two bit positions
// an item), which has reads.
func newFieldBloom(items int) bloom {
	bits := 512
	for bits < items*10 && bits < 1<<20 {
		bits <<= 1
	}
	return make(bloom, bits/8)
}

// mayHaveFields reports whether a record passing f's record and resource
// field conditions may be in the block. A block without a fields bloom
// (written before schema 3) may hold anything.
func (b bloom) mayHaveFields(f store.Filter) bool {
	if len(b) == 0 {
		return true
	}
	check := func(seed byte, v []byte) bool { return len(v) == 0 || b.has(fieldHash(seed, v)) }
	return check(traceSeed, f.TraceID) && check(spanSeed, f.SpanID) &&
		check(loggerSeed, []byte(f.Logger)) && check(errorTypeSeed, []byte(f.ErrorType)) &&
		check(instanceSeed, []byte(f.Instance)) && check(environmentSeed, []byte(f.Environment)) &&
		check(versionSeed, []byte(f.Version))
}

// set adds the item hashed h.
func (b bloom) set(h uint64) {
	mask := uint64(len(b)*8 - 1)
	p1, p2 := (h>>40)&mask, (h>>12)&mask
	b[p1>>3] |= 1 << (p1 & 7)
	b[p2>>3] |= 1 << (p2 & 7)
}
