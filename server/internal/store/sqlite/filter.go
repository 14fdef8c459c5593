package sqlite

import (
	"math"
	"strings"
)

// A block's filter lets a query with text or attribute conditions skip the
// block without decoding it. It is over three kinds of items of the block's
// records:
//   - the trigrams of each lower-cased message (any text of 3+ bytes);
//   - the whole words of each lower-cased message (runs of ASCII letters and
//     digits or non-ASCII bytes), which prune where trigrams cannot, e.g. a
//     random numeric id whose trigrams are in every block;
//   - each top-level attribute as key and value text (as jsonattr.Equal
//     compares them), so attr=key:value skips blocks without that pair.
//
// blocks.filter_version says how the blob in blocks.bloom is laid out:
//
//   - filterV1 (blocks written before schema version 2): a bloom filter of a
//     power-of-two size chosen from the record count (96 bits a record, at
//     most 128 KiB), two bits per item. It saturates on long messages (a
//     1 KB message has ~1,000 trigrams): ~28% false positives with random
//     300-byte messages, ~74% at 1 KB, ~100% at 4 KB. Still read, never
//     written.
//   - filterV2: a bloom filter sized from the number of distinct items the
//     block has (counted exactly while the block is built), 10 bits and 7
//     probes an item, ~1% false positives. See filterV2Blob for the layout
//     and buildFilter for what gives way when a block has too many
//     distinct items.
const (
	filterV1 = 1
	filterV2 = 2
)

// filter is a block's filter as stored. The zero filter (a query that did
// not read it) and an unknown version let everything through.
type filter struct {
	version int
	data    []byte
}

// mayContain reports whether a message containing needle (lower-cased) may
// be in the block.
func (f filter) mayContain(needle string) bool {
	switch f.version {
	case filterV1:
		b := bloom(f.data)
		return len(b) == 0 || mayContain(needle, true, b.has)
	case filterV2:
		b := filterV2Blob(f.data)
		return len(b) == 0 || mayContain(needle, b.trigrams(), b.has)
	}
	return true
}

// mayHaveAttr reports whether a record with attribute key equal to value
// may be in the block. Only keys without dots are checked: a dotted key
// may address a nested object, which the filter does not index.
func (f filter) mayHaveAttr(key, value string) bool {
	if strings.Contains(key, ".") {
		return true
	}
	h := attrHash([]byte(key), []byte(value))
	switch f.version {
	case filterV1:
		b := bloom(f.data)
		return len(b) == 0 || b.has(h)
	case filterV2:
		b := filterV2Blob(f.data)
		return len(b) == 0 || b.has(h)
	}
	return true
}

// mayContain reports whether a filter whose membership test is has may
// hold a message containing needle: every trigram of the needle (when the
// filter has trigrams), and every word the needle shows whole (delimited on
// both sides inside the needle), must be there.
func mayContain(needle string, trigrams bool, has func(uint64) bool) bool {
	if trigrams {
		for i := 0; i+2 < len(needle); i++ {
			if !has(trigramHash(needle[i], needle[i+1], needle[i+2])) {
				return false
			}
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
		if i > 0 && j < len(needle) && !has(wordHash(needle[i:j])) {
			return false
		}
		i = j
	}
	return true
}

// bloom is a filterV1 blob: a power-of-two number of bits, two bit
// positions per item from well-mixed high bits of its 64-bit hash.
type bloom []byte

func (b bloom) has(h uint64) bool {
	mask := uint64(len(b)*8 - 1)
	p1, p2 := (h>>40)&mask, (h>>12)&mask
	return b[p1>>3]&(1<<(p1&7)) != 0 && b[p2>>3]&(1<<(p2&7)) != 0
}

// filterV2Blob is a filterV2 blob: one byte k (probes an item), one byte of
// flags (filterHasTrigrams), then the m bits of the bloom filter, m a
// multiple of 64. Item i's probes are Kirsch-Mitzenmacher double hashing of
// its mixed 64-bit hash, reduced to [0, m) by multiply-shift. An empty blob
// is "no filter": the block had too many distinct items for one.
type filterV2Blob []byte

const filterHasTrigrams = 1

// Sizing of filterV2: filterBitsPerItem bits and filterK probes an item
// give a false-positive rate of ~0.8%. A filter is at most filterMaxBytes;
// a block whose distinct items need more first leaves its trigrams out
// (whole words and attributes prune better on long messages, whose
// trigrams are in most blocks anyway), then gets a filter of
// filterMaxBytes with fewer bits an item (and the best k for them), and no
// filter at all below filterMinBitsPerItem (~15% false positives), where
// reading the filter would cost more than it saves.
const (
	filterBitsPerItem    = 10
	filterK              = 7
	filterMaxBytes       = 1 << 20
	filterMinBitsPerItem = 4
)

func (b filterV2Blob) trigrams() bool { return b[1]&filterHasTrigrams != 0 }

func (b filterV2Blob) has(h uint64) bool {
	bits := b[2:]
	m := uint64(len(bits)) * 8
	h = fmix(h)
	h1, h2 := uint32(h), uint32(h>>32)|1
	for range int(b[0]) {
		p := uint64(h1) * m >> 32
		if bits[p>>3]&(1<<(p&7)) == 0 {
			return false
		}
		h1 += h2
	}
	return true
}

func (b filterV2Blob) set(h uint64) {
	bits := b[2:]
	m := uint64(len(bits)) * 8
	h = fmix(h)
	h1, h2 := uint32(h), uint32(h>>32)|1
	for range int(b[0]) {
		p := uint64(h1) * m >> 32
		bits[p>>3] |= 1 << (p & 7)
		h1 += h2
	}
}

// fmix is MurmurHash3's 64-bit finalizer: every input bit affects every
// output bit, so both 32-bit halves are usable probes.
func fmix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// filterBuilder counts a block's distinct items, then builds its filterV2.
// It is reused from block to block; not safe for concurrent use.
type filterBuilder struct {
	seen []uint64 // bit set over the 2^24 possible trigrams, 2 MiB
	tris []uint32 // the distinct trigrams of the block
	toks hashSet  // the distinct word and attribute hashes of the block
}

func (fb *filterBuilder) addTrigram(a, b, c byte) {
	t := uint32(a)<<16 | uint32(b)<<8 | uint32(c)
	w, bit := &fb.seen[t>>6], uint64(1)<<(t&63)
	if *w&bit == 0 {
		*w |= bit
		fb.tris = append(fb.tris, t)
	}
}

// addText adds the trigrams and words of message s.
func (fb *filterBuilder) addText(s string) {
	if fb.seen == nil {
		fb.seen = make([]uint64, 1<<24/64)
	}
	if !isASCII(s) {
		s = strings.ToLower(s)
	}
	// One pass: trigrams and words, folding ASCII case on the fly.
	start := -1
	h := uint64(fnvOffset ^ wordSeed)
	for i := 0; i < len(s); i++ {
		c := lower(s[i])
		if i+2 < len(s) {
			fb.addTrigram(c, lower(s[i+1]), lower(s[i+2]))
		}
		if isWordByte(c) {
			if start < 0 {
				start, h = i, fnvOffset^wordSeed
			}
			h = (h ^ uint64(c)) * fnvPrime
			continue
		}
		if start >= 0 {
			fb.toks.add((h ^ 0xff) * mix)
			start = -1
		}
	}
	if start >= 0 {
		fb.toks.add((h ^ 0xff) * mix)
	}
}

func (fb *filterBuilder) addAttr(k, v []byte) bool {
	fb.toks.add(attrHash(k, v))
	return true
}

// build returns the filterV2 blob of the items added since the last build
// and forgets them.
func (fb *filterBuilder) build() []byte {
	defer fb.reset()
	m, k, trigrams := filterSize(fb.toks.len(), len(fb.tris))
	if m == 0 {
		return []byte{}
	}
	var flags byte
	if trigrams {
		flags = filterHasTrigrams
	}
	b := make(filterV2Blob, 2+m/8)
	b[0], b[1] = byte(k), flags
	fb.toks.each(b.set)
	if trigrams {
		for _, t := range fb.tris {
			b.set(trigramHash(byte(t>>16), byte(t>>8), byte(t)))
		}
	}
	return b
}

// filterSize returns the bits m (0: no filter) and probes k of the filter
// of a block with nTok distinct words and attributes and nTri distinct
// trigrams, and whether the trigrams are in it.
func filterSize(nTok, nTri int) (m, k int, trigrams bool) {
	const maxBits = filterMaxBytes * 8
	n := nTok + nTri
	k, trigrams = filterK, true
	if n*filterBitsPerItem > maxBits {
		n, trigrams = nTok, false
	}
	m = (max(n*filterBitsPerItem, 64) + 63) / 64 * 64
	if m > maxBits {
		m = maxBits
		if m < n*filterMinBitsPerItem {
			return 0, 0, false
		}
		k = int(math.Round(math.Ln2 * float64(m) / float64(n)))
	}
	return m, k, trigrams
}

func (fb *filterBuilder) reset() {
	for _, t := range fb.tris {
		fb.seen[t>>6] = 0
	}
	fb.tris = fb.tris[:0]
	if cap(fb.tris) > 1<<20 {
		fb.tris = nil
	}
	fb.toks.reset()
}

// hashSet is a set of 64-bit hashes, open addressing with linear probing;
// 0 marks an empty slot, so hash 0 is kept aside.
type hashSet struct {
	slots   []uint64
	n       int
	hasZero bool
}

func (s *hashSet) len() int {
	if s.hasZero {
		return s.n + 1
	}
	return s.n
}

func (s *hashSet) add(h uint64) {
	if h == 0 {
		s.hasZero = true
		return
	}
	if 2*(s.n+1) > len(s.slots) {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := fmix(h) & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case h:
			return
		case 0:
			s.slots[i] = h
			s.n++
			return
		}
	}
}

func (s *hashSet) grow() {
	old := s.slots
	s.slots = make([]uint64, max(1024, 2*len(old)))
	s.n = 0
	for _, h := range old {
		if h != 0 {
			s.add(h)
		}
	}
}

func (s *hashSet) each(fn func(uint64)) {
	if s.hasZero {
		fn(0)
	}
	for _, h := range s.slots {
		if h != 0 {
			fn(h)
		}
	}
}

func (s *hashSet) reset() {
	if len(s.slots) > 1<<20 {
		s.slots = nil // do not pin a huge table
	} else {
		clear(s.slots)
	}
	s.n, s.hasZero = 0, false
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
