package sqlite

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

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
	bloom    bloom
	fields   bloom // of record and resource fields (table block_fields); empty for blocks written before schema 2
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
	out []byte // build's S2 output, reused
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
	b.bloom = newBloom(int(b.records))
	fields := make(map[uint64]struct{})
	opts := proto.MarshalOptions{UseCachedSize: true}
	for _, batch := range bs {
		size := opts.Size(batch) // cached in batch: MarshalAppend reuses it
		raw = binary.AppendUvarint(raw, uint64(size))
		var err error
		raw, err = opts.MarshalAppend(raw, batch)
		if err != nil {
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
			b.bloom.addText(r.GetBody())
			jsonattr.EachBytes(r.GetAttributesJson(), b.bloom.addAttr)
		}
	}
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

// bloom is a bloom filter, two bit positions per item, over three kinds of
// items of a block's records:
//   - the trigrams of each lower-cased message (any text of 3+ bytes);
//   - the whole words of each lower-cased message (runs of ASCII letters and
//     digits or non-ASCII bytes), which prune where trigrams cannot, e.g. a
//     random numeric id whose trigrams are in every block;
//   - each top-level attribute as key and value text (as jsonattr.Equal
//     compares them), so attr=key:value skips blocks without that pair.
//
// Its size is a power of two chosen from the record count (96 bits a record,
// at most 128 KiB), so building it never needs a first pass.
type bloom []byte

func newBloom(records int) bloom {
	bits := 1024
	for bits < records*96 && bits < 1<<20 {
		bits <<= 1
	}
	return make(bloom, bits/8)
}

// The two bit positions come from well-mixed high bits of one 64-bit hash
// (the low bits of a multiplicative hash are poorly mixed).
func (b bloom) set(h uint64) {
	mask := uint64(len(b)*8 - 1)
	p1, p2 := (h>>40)&mask, (h>>12)&mask
	b[p1>>3] |= 1 << (p1 & 7)
	b[p2>>3] |= 1 << (p2 & 7)
}

func (b bloom) has(h uint64) bool {
	mask := uint64(len(b)*8 - 1)
	p1, p2 := (h>>40)&mask, (h>>12)&mask
	return b[p1>>3]&(1<<(p1&7)) != 0 && b[p2>>3]&(1<<(p2&7)) != 0
}

const (
	mix       = 0x9E3779B97F4A7C15
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
	wordSeed  = 0x77
	attrSeed  = 0xa7
)

func trigramHash(a, b, c byte) uint64 {
	return (uint64(a)<<16 | uint64(b)<<8 | uint64(c)) * mix
}

// fnv hashes s after seed with FNV-1a, then mixes the result.
func fnv(h uint64, s []byte) uint64 {
	for _, c := range s {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h
}

func wordHash(w string) uint64 { return (fnv(fnvOffset^wordSeed, []byte(w)) ^ 0xff) * mix }

func attrHash(k, v []byte) uint64 {
	h := fnv(fnvOffset^attrSeed, k)
	h *= fnvPrime // an FNV step over a 0 byte (h ^ 0 == h): the separator, so no key/value split collides with another
	return fnv(h, v) * mix
}

func isWordByte(c byte) bool {
	return c >= 0x80 || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func (b bloom) addText(s string) {
	if !isASCII(s) {
		s = strings.ToLower(s)
	}
	// One pass: trigrams and words, folding ASCII case on the fly.
	start := -1
	h := uint64(fnvOffset ^ wordSeed)
	for i := 0; i < len(s); i++ {
		c := lower(s[i])
		if i+2 < len(s) {
			b.set(trigramHash(c, lower(s[i+1]), lower(s[i+2])))
		}
		if isWordByte(c) {
			if start < 0 {
				start, h = i, fnvOffset^wordSeed
			}
			h = (h ^ uint64(c)) * fnvPrime
			continue
		}
		if start >= 0 {
			b.set((h ^ 0xff) * mix)
			start = -1
		}
	}
	if start >= 0 {
		b.set((h ^ 0xff) * mix)
	}
}

func (b bloom) addAttr(k, v []byte) bool {
	b.set(attrHash(k, v))
	return true
}

// mayContain reports whether a message containing needle (lower-cased) may
// be in the block: every trigram of the needle, and every word the needle
// shows whole (delimited on both sides inside the needle), must be there.
func (b bloom) mayContain(needle string) bool {
	if len(b) == 0 {
		return true
	}
	for i := 0; i+2 < len(needle); i++ {
		if !b.has(trigramHash(needle[i], needle[i+1], needle[i+2])) {
			return false
		}
	}
	for i := 0; i < len(needle); {
		if !isWordByte(needle[i]) {
			i++
			continue
		}
		j := i
		for j < len(needle) && isWordByte(needle[j]) {
			j++
		}
		if i > 0 && j < len(needle) && !b.has(wordHash(needle[i:j])) {
			return false
		}
		i = j
	}
	return true
}

// mayHaveAttr reports whether a record with attribute key equal to value
// may be in the block. Only keys without dots are checked: a dotted key
// may address a nested object, which the filter does not index.
func (b bloom) mayHaveAttr(key, value string) bool {
	if len(b) == 0 || strings.Contains(key, ".") {
		return true
	}
	return b.has(attrHash([]byte(key), []byte(value)))
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

func newFieldBloom(items int) bloom {
	bits := 512
	for bits < items*10 && bits < 1<<20 {
		bits <<= 1
	}
	return make(bloom, bits/8)
}

// mayHaveFields reports whether a record passing f's record and resource
// field conditions may be in the block. A block without a fields bloom
// (written before schema 2) may hold anything.
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

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
