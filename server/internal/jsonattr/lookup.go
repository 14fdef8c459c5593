package jsonattr

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// Lookup returns the value at key in the object doc: the first top-level key
// equal to key if there is one, otherwise the path of key's dot-separated
// parts through nested objects ("http.status" finds {"http":{"status":200}}).
// Strings come back unescaped; numbers, true, false and null as their JSON
// text; objects and arrays as their raw JSON text. ok is false when the key is
// absent or doc is not an object. doc is assumed valid (see Validate); on
// other input Lookup does not panic but its answer is unspecified.
func Lookup(doc []byte, key string) (value string, ok bool) {
	vs, ve, ok := find(doc, key)
	if !ok {
		return "", false
	}
	return valueText(doc, vs, ve), true
}

// Equal reports whether Lookup(doc, key) would return (want, true). It does
// not allocate.
func Equal(doc []byte, key, want string) bool {
	vs, ve, ok := find(doc, key)
	if !ok {
		return false
	}
	if doc[vs] == '"' {
		return equalUnescaped(doc[vs+1:ve-1], want)
	}
	return string(doc[vs:ve]) == want
}

// Each calls fn for every top-level key of the object doc, in document order
// and duplicates included, with the key unescaped and the value as Lookup
// returns it. It stops when fn returns false.
func Each(doc []byte, fn func(key, value string) bool) {
	it, ok := members(doc)
	if !ok {
		return
	}
	for it.next() {
		if !fn(unescape(doc[it.ks:it.ke]), valueText(doc, it.vs, it.ve)) {
			return
		}
	}
}

// find locates the value for key and returns its span doc[vs:ve].
func find(doc []byte, key string) (vs, ve int, ok bool) {
	it, ok := members(doc)
	if !ok {
		return 0, 0, false
	}
	head, rest, dotted := strings.Cut(key, ".")
	ps, pe := -1, -1 // value of the first top-level key equal to head
	for it.next() {
		k := doc[it.ks:it.ke]
		if equalKey(k, key) {
			return it.vs, it.ve, true
		}
		if dotted && ps < 0 && equalKey(k, head) {
			ps, pe = it.vs, it.ve
		}
	}
	if ps < 0 {
		return 0, 0, false
	}
	for {
		if doc[ps] != '{' {
			return 0, 0, false
		}
		head, rest, dotted = strings.Cut(rest, ".")
		it := iter{doc: doc[:pe], i: ps + 1}
		found := false
		for it.next() {
			if equalKey(doc[it.ks:it.ke], head) {
				found = true
				break
			}
		}
		if !found {
			return 0, 0, false
		}
		if !dotted {
			return it.vs, it.ve, true
		}
		ps, pe = it.vs, it.ve
	}
}

// iter walks the members of an object. After next returns true, doc[ks:ke]
// is the member's raw key (between the quotes) and doc[vs:ve] its value.
type iter struct {
	doc            []byte
	i              int
	ks, ke, vs, ve int
}

// members starts an iter over the top-level object of doc.
func members(doc []byte) (iter, bool) {
	i := skipWS(doc, 0)
	if i >= len(doc) || doc[i] != '{' {
		return iter{}, false
	}
	return iter{doc: doc, i: i + 1}, true
}

func (it *iter) next() bool {
	doc := it.doc
	i := skipWS(doc, it.i)
	if i < len(doc) && doc[i] == ',' {
		i = skipWS(doc, i+1)
	}
	if i >= len(doc) || doc[i] != '"' {
		it.i = len(doc)
		return false
	}
	ke := skipString(doc, i)
	if ke < 0 {
		it.i = len(doc)
		return false
	}
	it.ks, it.ke = i+1, ke-1
	i = skipWS(doc, ke)
	if i >= len(doc) || doc[i] != ':' {
		it.i = len(doc)
		return false
	}
	i = skipWS(doc, i+1)
	ve := skipValue(doc, i)
	if ve < 0 {
		it.i = len(doc)
		return false
	}
	it.vs, it.ve, it.i = i, ve, ve
	return true
}

// skipString returns the offset after the string opening at doc[i] == '"',
// or -1 when it is not terminated.
func skipString(doc []byte, i int) int {
	for i++; i < len(doc); i++ {
		switch doc[i] {
		case '"':
			return i + 1
		case '\\':
			i++
		}
	}
	return -1
}

// skipValue returns the offset after the value starting at doc[i], or -1.
func skipValue(doc []byte, i int) int {
	if i >= len(doc) {
		return -1
	}
	switch doc[i] {
	case '"':
		return skipString(doc, i)
	case '{', '[':
		depth := 0
		for i < len(doc) {
			switch doc[i] {
			case '"':
				if i = skipString(doc, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	j := i
	for j < len(doc) && !endsScalar(doc[j]) {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

func endsScalar(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', '}', ']', ':', '{', '[', '"':
		return true
	}
	return false
}

// valueText renders the value doc[vs:ve] as Lookup returns it.
func valueText(doc []byte, vs, ve int) string {
	if doc[vs] == '"' {
		return unescape(doc[vs+1 : ve-1])
	}
	return string(doc[vs:ve])
}

// equalKey reports whether the raw (escaped) key equals want.
func equalKey(raw []byte, want string) bool {
	// Unescaping never lengthens a string, so a raw key of want's length
	// matches only verbatim, and a longer one only through escapes.
	switch {
	case len(raw) < len(want):
		return false
	case len(raw) == len(want):
		return string(raw) == want
	case bytes.IndexByte(raw, '\\') < 0:
		return false
	}
	return equalUnescaped(raw, want)
}

// equalUnescaped reports whether the raw string content, unescaped, equals
// want, without allocating.
func equalUnescaped(raw []byte, want string) bool {
	k := 0
	for j := 0; j < len(raw); {
		c := raw[j]
		if c != '\\' {
			if k >= len(want) || want[k] != c {
				return false
			}
			j++
			k++
			continue
		}
		var buf [utf8.UTFMax]byte
		n, adv := decodeEscape(raw, j, &buf)
		if k+n > len(want) || string(buf[:n]) != want[k:k+n] {
			return false
		}
		j += adv
		k += n
	}
	return k == len(want)
}

// unescape returns the raw string content with its escapes decoded.
func unescape(raw []byte) string {
	j := 0
	for j < len(raw) && raw[j] != '\\' {
		j++
	}
	if j == len(raw) {
		return string(raw)
	}
	out := make([]byte, j, len(raw))
	copy(out, raw[:j])
	var buf [utf8.UTFMax]byte
	for j < len(raw) {
		if raw[j] != '\\' {
			out = append(out, raw[j])
			j++
			continue
		}
		n, adv := decodeEscape(raw, j, &buf)
		out = append(out, buf[:n]...)
		j += adv
	}
	return string(out)
}

// decodeEscape decodes the escape sequence at raw[j] == '\\' into buf and
// returns the number of bytes written and the length of the sequence. An
// invalid sequence (impossible in a validated document) yields U+FFFD.
func decodeEscape(raw []byte, j int, buf *[utf8.UTFMax]byte) (n, adv int) {
	if j+1 >= len(raw) {
		return utf8.EncodeRune(buf[:], utf8.RuneError), len(raw) - j
	}
	var c byte
	switch raw[j+1] {
	case '"', '\\', '/':
		c = raw[j+1]
	case 'b':
		c = '\b'
	case 'f':
		c = '\f'
	case 'n':
		c = '\n'
	case 'r':
		c = '\r'
	case 't':
		c = '\t'
	case 'u':
		r, ok := hex4(raw, j+2)
		if !ok {
			return utf8.EncodeRune(buf[:], utf8.RuneError), 2
		}
		adv = 6
		if r >= 0xD800 && r < 0xDC00 {
			if j+7 < len(raw) && raw[j+6] == '\\' && raw[j+7] == 'u' {
				if lo, ok := hex4(raw, j+8); ok && lo >= 0xDC00 && lo < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
					adv = 12
				}
			}
		}
		return utf8.EncodeRune(buf[:], r), adv // lone surrogates become U+FFFD
	default:
		return utf8.EncodeRune(buf[:], utf8.RuneError), 2
	}
	buf[0] = c
	return 1, 2
}

// EachBytes is Each without allocating when keys and values hold no
// escapes: key and value alias doc and are valid only during the call. A
// key or value with escapes is unescaped into a fresh slice.
func EachBytes(doc []byte, fn func(key, value []byte) bool) {
	it, ok := members(doc)
	if !ok {
		return
	}
	for it.next() {
		if !fn(unescapeBytes(doc[it.ks:it.ke]), valueBytes(doc, it.vs, it.ve)) {
			return
		}
	}
}

func valueBytes(doc []byte, vs, ve int) []byte {
	if doc[vs] == '"' {
		return unescapeBytes(doc[vs+1 : ve-1])
	}
	return doc[vs:ve]
}

func unescapeBytes(raw []byte) []byte {
	for _, c := range raw {
		if c == '\\' {
			return []byte(unescape(raw))
		}
	}
	return raw
}
