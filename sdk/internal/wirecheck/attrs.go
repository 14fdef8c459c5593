package wirecheck

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of one attributes document (log.proto).
const (
	MaxAttrsBytes = 64 << 10 // length of the whole document in bytes
	MaxAttrsKeys  = 128      // top-level keys, duplicates included
	MaxAttrsDepth = 16       // nesting; the top object is depth 1
)

// SyntaxError says why a document is not an acceptable JSON object and where.
type SyntaxError struct {
	Offset int    // byte offset of the problem in the document
	Msg    string // what is wrong, e.g. "expected ':' after object key"
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("jsonattr: %s at byte %d", e.Msg, e.Offset)
}

// LimitError says which limit a document exceeds and where.
type LimitError struct {
	Offset int    // byte offset where the limit was crossed
	What   string // "bytes", "top-level keys" or "nesting depth"
	Max    int    // the limit
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("jsonattr: more than %d %s at byte %d", e.Max, e.What, e.Offset)
}

func syntaxErr(off int, format string, args ...any) error {
	return &SyntaxError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// Attrs reports whether doc is empty (no attributes) or one JSON object
// (RFC 8259, surrounding whitespace allowed) within the limits, with valid
// UTF-8 in strings, no raw control characters (the escape \u0000 is
// fine), no unpaired surrogate escape, and "$" keys only as the {"$bytes":"<base64>"}
// marker. The error is a *SyntaxError or a *LimitError naming the byte
// offset.
func Attrs(doc []byte) error {
	if len(doc) == 0 {
		return nil
	}
	if len(doc) > MaxAttrsBytes {
		return &LimitError{Offset: MaxAttrsBytes, What: "bytes", Max: MaxAttrsBytes}
	}
	s := scanner{doc: doc, maxKeys: MaxAttrsKeys, maxDepth: MaxAttrsDepth}
	i := skipWS(doc, 0)
	if i == len(doc) {
		return syntaxErr(0, "document is only whitespace (send empty bytes for no attributes)")
	}
	if doc[i] != '{' {
		return syntaxErr(i, "attributes must be a JSON object, found %s", describe(doc, i))
	}
	i, err := s.object(i, 1)
	if err != nil {
		return err
	}
	i = skipWS(doc, i)
	if i != len(doc) {
		return syntaxErr(i, "%s after the top-level object", describe(doc, i))
	}
	return nil
}

type scanner struct {
	doc      []byte
	maxKeys  int
	maxDepth int
}

func (s *scanner) depthErr(i int) error {
	return &LimitError{Offset: i, What: "nesting depth", Max: s.maxDepth}
}

// object scans the object opening at doc[i] == '{' at the given depth and
// returns the offset after its closing brace.
func (s *scanner) object(i, depth int) (int, error) {
	doc := s.doc
	if depth > s.maxDepth {
		return i, s.depthErr(i)
	}
	open := i
	i = skipWS(doc, i+1)
	if i < len(doc) && doc[i] == '}' {
		return i + 1, nil
	}
	keys := 0
	for {
		if i >= len(doc) {
			return i, syntaxErr(i, "unexpected end of document in object opened at byte %d", open)
		}
		if doc[i] != '"' {
			if doc[i] == '}' && keys > 0 {
				return i, syntaxErr(i, "trailing comma before '}'")
			}
			return i, syntaxErr(i, "expected a string key, found %s", describe(doc, i))
		}
		keys++
		if depth == 1 && s.maxKeys > 0 && keys > s.maxKeys {
			return i, &LimitError{Offset: i, What: "top-level keys", Max: s.maxKeys}
		}
		keyStart := i
		var err error
		if i, err = s.str(i); err != nil {
			return i, err
		}
		marker := i-keyStart > 2 && doc[keyStart+1] == '$'
		if marker && string(doc[keyStart:i]) != `"$bytes"` {
			return keyStart, syntaxErr(keyStart, "key %s: keys starting with '$' are reserved for markers", doc[keyStart:i])
		}
		i = skipWS(doc, i)
		if i >= len(doc) || doc[i] != ':' {
			return i, syntaxErr(i, "expected ':' after object key, found %s", describe(doc, i))
		}
		i = skipWS(doc, i+1)
		valStart := i
		if i, err = s.value(i, depth); err != nil {
			return i, err
		}
		if marker {
			if err := bytesMarker(doc, keys, valStart, i); err != nil {
				return keyStart, err
			}
		}
		i = skipWS(doc, i)
		if i >= len(doc) {
			return i, syntaxErr(i, "unexpected end of document in object opened at byte %d", open)
		}
		switch doc[i] {
		case ',':
			i = skipWS(doc, i+1)
		case '}':
			return i + 1, nil
		default:
			return i, syntaxErr(i, "expected ',' or '}' after object value, found %s", describe(doc, i))
		}
	}
}

// array scans the array opening at doc[i] == '[' at the given depth.
func (s *scanner) array(i, depth int) (int, error) {
	doc := s.doc
	if depth > s.maxDepth {
		return i, s.depthErr(i)
	}
	open := i
	i = skipWS(doc, i+1)
	if i < len(doc) && doc[i] == ']' {
		return i + 1, nil
	}
	for n := 0; ; n++ {
		if i < len(doc) && doc[i] == ']' && n > 0 {
			return i, syntaxErr(i, "trailing comma before ']'")
		}
		var err error
		if i, err = s.value(i, depth); err != nil {
			return i, err
		}
		i = skipWS(doc, i)
		if i >= len(doc) {
			return i, syntaxErr(i, "unexpected end of document in array opened at byte %d", open)
		}
		switch doc[i] {
		case ',':
			i = skipWS(doc, i+1)
		case ']':
			return i + 1, nil
		default:
			return i, syntaxErr(i, "expected ',' or ']' after array element, found %s", describe(doc, i))
		}
	}
}

// value scans any JSON value starting at doc[i], inside a container at depth.
func (s *scanner) value(i, depth int) (int, error) {
	doc := s.doc
	if i >= len(doc) {
		return i, syntaxErr(i, "unexpected end of document, expected a value")
	}
	switch c := doc[i]; c {
	case '"':
		return s.str(i)
	case '{':
		return s.object(i, depth+1)
	case '[':
		return s.array(i, depth+1)
	case 't':
		return literal(doc, i, "true")
	case 'f':
		return literal(doc, i, "false")
	case 'n':
		return literal(doc, i, "null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return number(doc, i)
		}
		return i, syntaxErr(i, "expected a value, found %s", describe(doc, i))
	}
}

func literal(doc []byte, i int, lit string) (int, error) {
	if len(doc)-i >= len(lit) && string(doc[i:i+len(lit)]) == lit {
		return i + len(lit), nil
	}
	return i, syntaxErr(i, "invalid literal, expected %q", lit)
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func number(doc []byte, i int) (int, error) {
	start := i
	if doc[i] == '-' {
		i++
	}
	switch {
	case i >= len(doc) || !isDigit(doc[i]):
		return i, syntaxErr(i, "invalid number starting at byte %d: expected a digit", start)
	case doc[i] == '0':
		i++
		if i < len(doc) && isDigit(doc[i]) {
			return i, syntaxErr(start, "invalid number: leading zero")
		}
	default:
		for i < len(doc) && isDigit(doc[i]) {
			i++
		}
	}
	if i < len(doc) && doc[i] == '.' {
		i++
		if i >= len(doc) || !isDigit(doc[i]) {
			return i, syntaxErr(i, "invalid number starting at byte %d: expected a digit after '.'", start)
		}
		for i < len(doc) && isDigit(doc[i]) {
			i++
		}
	}
	if i < len(doc) && (doc[i] == 'e' || doc[i] == 'E') {
		i++
		if i < len(doc) && (doc[i] == '+' || doc[i] == '-') {
			i++
		}
		if i >= len(doc) || !isDigit(doc[i]) {
			return i, syntaxErr(i, "invalid number starting at byte %d: expected a digit in the exponent", start)
		}
		for i < len(doc) && isDigit(doc[i]) {
			i++
		}
	}
	return i, representable(doc[start:i], start)
}

// MaxNumberScale is the most digits after the decimal point a number may
// have once its exponent is applied (PostgreSQL's numeric holds no more).
const MaxNumberScale = 16383

// representable checks a syntactically valid number n: its magnitude must
// not round beyond a double (1e999; clients send non-finite values as the
// strings "NaN", "+Inf", "-Inf"), and its scale must not pass
// MaxNumberScale.
func representable(n []byte, off int) error {
	mant, exp := string(n), int64(0)
	if e := strings.IndexAny(mant, "eE"); e >= 0 {
		const limit = 1 << 40 // saturate: beyond, every number is out of range
		x, err := strconv.ParseInt(strings.TrimPrefix(mant[e+1:], "+"), 10, 64)
		if err != nil || x > limit || x < -limit {
			x = limit
			if mant[e+1] == '-' {
				x = -limit
			}
		}
		mant, exp = mant[:e], x
	}
	frac := 0
	if d := strings.IndexByte(mant, '.'); d >= 0 {
		frac = len(mant) - d - 1
	}
	if int64(frac)-exp > MaxNumberScale { // zero too: the server does not look at the digits
		return syntaxErr(off, "number has more than %d digits after the decimal point", MaxNumberScale)
	}
	if f, err := strconv.ParseFloat(string(n), 64); err != nil && math.IsInf(f, 0) {
		return syntaxErr(off, "number beyond the range of a double")
	}
	return nil
}

// str scans the string opening at doc[i] == '"' and returns the offset after
// its closing quote.
func (s *scanner) str(i int) (int, error) {
	doc := s.doc
	open := i
	i++
	for {
		for i < len(doc) && plain[doc[i]] {
			i++
		}
		if i >= len(doc) {
			return i, syntaxErr(open, "unterminated string")
		}
		c := doc[i]
		switch {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			n, err := escape(doc, i)
			if err != nil {
				return i, err
			}
			i += n
		case c < 0x20:
			return i, syntaxErr(i, "raw control character 0x%02x in string (escape it)", c)
		default: // c >= utf8.RuneSelf
			r, size := utf8.DecodeRune(doc[i:])
			if r == utf8.RuneError && size <= 1 {
				return i, syntaxErr(i, "invalid UTF-8 byte 0x%02x in string", c)
			}
			i += size
		}
	}
}

// escape checks the escape sequence at doc[i] == '\\' and returns its length.
func escape(doc []byte, i int) (int, error) {
	if i+1 >= len(doc) {
		return 0, syntaxErr(i, "unterminated escape sequence")
	}
	switch doc[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
	default:
		return 0, syntaxErr(i, "invalid escape sequence %s", describeEscape(doc, i))
	}
	r, ok := hex4(doc, i+2)
	if !ok {
		return 0, syntaxErr(i, "invalid \\u escape: expected 4 hex digits")
	}
	switch {
	case r >= 0xDC00 && r < 0xE000:
		return 0, syntaxErr(i, "unpaired UTF-16 low surrogate \\u%04x", r)
	case r >= 0xD800 && r < 0xDC00:
		if i+7 < len(doc) && doc[i+6] == '\\' && doc[i+7] == 'u' {
			if lo, ok := hex4(doc, i+8); ok && lo >= 0xDC00 && lo < 0xE000 {
				return 12, nil
			}
		}
		return 0, syntaxErr(i, "unpaired UTF-16 high surrogate \\u%04x", r)
	}
	return 6, nil
}

// hex4 decodes the 4 hex digits at doc[i:i+4].
func hex4(doc []byte, i int) (rune, bool) {
	if i+4 > len(doc) {
		return 0, false
	}
	var r rune
	for _, c := range doc[i : i+4] {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func skipWS(doc []byte, i int) int {
	for i < len(doc) {
		switch doc[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// plain marks the bytes a string may hold without a closer look: printable
// ASCII except '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// describe names the byte at doc[i] for an error message.
func describe(doc []byte, i int) string {
	if i >= len(doc) {
		return "end of document"
	}
	c := doc[i]
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func describeEscape(doc []byte, i int) string {
	c := doc[i+1]
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", string([]byte{'\\', c}))
	}
	return fmt.Sprintf("'\\' followed by byte 0x%02x", c)
}

// bytesMarker checks the member "$bytes", key number key of its object,
// whose value is doc[start:end]: it must be the object's only key and hold
// a standard base64 string without escapes.
func bytesMarker(doc []byte, key, start, end int) error {
	if j := skipWS(doc, end); key != 1 || j >= len(doc) || doc[j] != '}' {
		return syntaxErr(start, "\"$bytes\" must be the only key of its object")
	}
	v := doc[start:end]
	if len(v) < 2 || v[0] != '"' {
		return syntaxErr(start, "\"$bytes\" must hold a base64 string")
	}
	if _, err := base64.StdEncoding.DecodeString(string(v[1 : len(v)-1])); err != nil {
		return syntaxErr(start, "\"$bytes\" is not standard base64: %v", err)
	}
	return nil
}
