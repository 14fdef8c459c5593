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
// A filter blob (blocks.bloom) tells its version by its length:
//
//   - filterV1 (blocks written by schema version 1): a bloom filter of a
//     power-of-two size of at least 128 bytes, chosen from the record count
//     (96 bits a record, at most 128 KiB), two bits per item. It saturates
//     on long messages (a 1 KB message has ~1,000 trigrams): ~28% false
//     positives with random 300-byte messages, ~74% at 1 KB, ~100% at 4 KB.
//     Still read, never written.
//   - filterV2: a length of 3 more than a multiple of 8, the first byte 2;
//     a bloom filter sized from the number of distinct items the block has
//     (counted exactly while the block is built), 10 bits and 7 probes an
//     item, ~1% false positives. See filterV2Blob for the layout and
//     filterSize for what gives way when a block has too many distinct
//     items.
//
// The version is in the blob, not in a column of its own: a column added
// to blocks would come after data, and reading it would make SQLite walk
// each block's data overflow pages (a query then read all data to test
// filters: 7x slower). Schema version 2 marks files that may hold filterV2
// blobs, so an older binary refuses them instead of misreading.
const (
	filterV1 = 1
	filterV2 = 2
)

// filter is a block's filter blob. An empty one (a query that did not read
// it) and an unknown version let everything through.
type filter []byte

func (f filter) version() int {
	switch {
	case len(f) >= 128 && len(f)&(len(f)-1) == 0:
		return filterV1
	case len(f)%8 == 3 && f[0] == filterV2:
		return filterV2
	}
	return 0
}

// mayContain reports whether a message containing needle (lower-cased) may
// be in the block.
func (f filter) mayContain(needle string) bool {
	switch f.version() {
	case filterV1:
		return mayContain(needle, true, bloom(f).has)
	case filterV2:
		b := filterV2Blob(f)
		return mayContain(needle, b.trigrams(), b.has)
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
	switch f.version() {
	case filterV1:
		return bloom(f).has(h)
	case filterV2:
		return filterV2Blob(f).has(h)
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

// filterV2Blob is a filterV2 blob: the byte 2, one byte k (probes an
// item), one byte of flags (filterHasTrigrams), then the m bits of the
// bloom filter, m a multiple of 64. Item i's probes are Kirsch-Mitzenmacher
// double hashing of its mixed 64-bit hash, reduced to [0, m) by
// multiply-shift. The blob {2, 0, 0} (k = 0, no bits) is "no filter": the
// block had too many distinct items for one, and every probe passes.
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

func (b filterV2Blob) trigrams() bool { return b[2]&filterHasTrigrams != 0 }

func (b filterV2Blob) has(h uint64) bool {
	bits := b[3:]
	m := uint64(len(bits)) * 8
	h = fmix(h)
	h1, h2 := uint32(h), uint32(h>>32)|1
	for range int(b[1]) {
		p := uint64(h1) * m >> 32
		if bits[p>>3]&(1<<(p&7)) == 0 {
			return false
		}
		h1 += h2
	}
	return true
}

func (b filterV2Blob) set(h uint64) {
	bits := b[3:]
	m := uint64(len(bits)) * 8
	h = fmix(h)
	h1, h2 := uint32(h), uint32(h>>32)|1
	for range int(b[1]) {
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
	ascii []uint64 // bit set over the 2^21 trigrams of 7-bit bytes, 256 KiB (fits a core's cache)
	wide  []uint64 // bit set over the other trigrams (any byte), 2 MiB, made on first use
	tris  []uint32 // the distinct trigrams of the block
	toks  hashSet  // the distinct word and attribute hashes of the block
	// recent is a direct-mapped cache in front of toks: templated text
	// repeats its words, and most adds stop here, in a core's cache.
	recent [4096]uint64
}

func (fb *filterBuilder) addTrigram(a, b, c byte) {
	set, i := fb.ascii, uint32(a)<<14|uint32(b)<<7|uint32(c)
	if (a|b|c)&0x80 != 0 {
		if fb.wide == nil {
			fb.wide = make([]uint64, 1<<24/64)
		}
		set, i = fb.wide, uint32(a)<<16|uint32(b)<<8|uint32(c)
	}
	w, bit := &set[i>>6], uint64(1)<<(i&63)
	if *w&bit == 0 {
		*w |= bit
		fb.tris = append(fb.tris, uint32(a)<<16|uint32(b)<<8|uint32(c))
	}
}

func (fb *filterBuilder) addTok(h uint64) {
	r := &fb.recent[(h>>52)&4095]
	if *r == h && h != 0 {
		return
	}
	*r = h
	fb.toks.add(h)
}

// addText adds the trigrams and words of message s.
func (fb *filterBuilder) addText(s string) {
	if fb.ascii == nil {
		fb.ascii = make([]uint64, 1<<21/64)
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
			fb.addTok((h ^ 0xff) * mix)
			start = -1
		}
	}
	if start >= 0 {
		fb.addTok((h ^ 0xff) * mix)
	}
}

func (fb *filterBuilder) addAttr(k, v []byte) bool {
	fb.addTok(attrHash(k, v))
	return true
}

// build returns the filterV2 blob of the items added since the last build
// and forgets them.
func (fb *filterBuilder) build() filter {
	defer fb.reset()
	m, k, trigrams := filterSize(fb.toks.len(), len(fb.tris))
	if m == 0 {
		return filter{filterV2, 0, 0}
	}
	var flags byte
	if trigrams {
		flags = filterHasTrigrams
	}
	b := make(filterV2Blob, 3+m/8)
	b[0], b[1], b[2] = filterV2, byte(k), flags
	fb.toks.each(b.set)
	if trigrams {
		for _, t := range fb.tris {
			b.set(trigramHash(byte(t>>16), byte(t>>8), byte(t)))
		}
	}
	return filter(b)
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
		a, b, c := t>>16, t>>8&0xff, t&0xff
		if (a|b|c)&0x80 != 0 {
			fb.wide[t>>6] = 0
		} else {
			fb.ascii[(a<<14|b<<7|c)>>6] = 0
		}
	}
	fb.tris = fb.tris[:0]
	if cap(fb.tris) > 1<<20 {
		fb.tris = nil
	}
	fb.toks.reset()
	clear(fb.recent[:])
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
