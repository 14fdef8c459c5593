package jsonattr

import (
	"fmt"
	"math/big"
	"unicode/utf8"
)

// Limits bound an attributes document. A field <= 0 turns that limit off
// (nesting is then still capped at HardMaxDepth).
type Limits struct {
	MaxBytes int // length of the whole document in bytes
	MaxKeys  int // number of top-level keys, duplicates included
	MaxDepth int // nesting of objects and arrays; the top object is depth 1
}

// DefaultLimits are the limits of the v1 wire contract (log.proto).
var DefaultLimits = Limits{MaxBytes: 64 << 10, MaxKeys: 128, MaxDepth: 16}

// HardMaxDepth caps nesting when Limits.MaxDepth is off, as encoding/json does.
const HardMaxDepth = 10000

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

// Validate reports whether doc is empty (no attributes) or one JSON object
// (RFC 8259, surrounding whitespace allowed) within lim, with valid UTF-8 in
// strings and no raw control characters. The error is a *SyntaxError or a
// *LimitError naming the byte offset. It does not allocate on valid input.
func Validate(doc []byte, lim Limits) error {
	if len(doc) == 0 {
		return nil
	}
	if lim.MaxBytes > 0 && len(doc) > lim.MaxBytes {
		return &LimitError{Offset: lim.MaxBytes, What: "bytes", Max: lim.MaxBytes}
	}
	s := scanner{doc: doc, maxKeys: lim.MaxKeys, maxDepth: lim.MaxDepth}
	if s.maxDepth <= 0 || s.maxDepth > HardMaxDepth {
		s.maxDepth = HardMaxDepth
	}
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
	hasBytes := false // the object has a "$bytes" key
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
		key := i
		var err error
		if i, err = s.str(i); err != nil {
			return i, err
		}
		marker := isBytesKey(doc[key:i])
		if marker {
			hasBytes = true
		}
		if hasBytes && keys > 1 {
			return key, syntaxErr(key, `"$bytes" must be the only key of its object (it marks a bytes value)`)
		}
		i = skipWS(doc, i)
		if i >= len(doc) || doc[i] != ':' {
			return i, syntaxErr(i, "expected ':' after object key, found %s", describe(doc, i))
		}
		i = skipWS(doc, i+1)
		if marker {
			i, err = s.bytesValue(i)
		} else {
			i, err = s.value(i, depth)
		}
		if err != nil {
			return i, err
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

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and checks
// that every reader can hold it (see checkNumber).
func number(doc []byte, i int) (int, error) {
	start := i
	if doc[i] == '-' {
		i++
	}
	intStart := i
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
	n := num{start: start, intPart: doc[intStart:i]}
	if i < len(doc) && doc[i] == '.' {
		i++
		if i >= len(doc) || !isDigit(doc[i]) {
			return i, syntaxErr(i, "invalid number starting at byte %d: expected a digit after '.'", start)
		}
		fracStart := i
		for i < len(doc) && isDigit(doc[i]) {
			i++
		}
		n.frac = doc[fracStart:i]
	}
	if i < len(doc) && (doc[i] == 'e' || doc[i] == 'E') {
		i++
		neg := false
		if i < len(doc) && (doc[i] == '+' || doc[i] == '-') {
			neg = doc[i] == '-'
			i++
		}
		if i >= len(doc) || !isDigit(doc[i]) {
			return i, syntaxErr(i, "invalid number starting at byte %d: expected a digit in the exponent", start)
		}
		for i < len(doc) && isDigit(doc[i]) {
			if n.exp < maxExp { // saturate: any exponent beyond is out of every range
				n.exp = n.exp*10 + int64(doc[i]-'0')
			}
			i++
		}
		if neg {
			n.exp = -n.exp
		}
		n.hasExp = true
	}
	if n.hasExp || len(n.intPart) >= len(overflowDigits) || len(n.frac) > MaxNumberScale {
		if err := n.check(); err != nil {
			return start, err
		}
	}
	return i, nil
}

// MaxNumberScale is the most digits a number may have after the decimal
// point once its exponent is applied (1e-5 has 5): PostgreSQL's numeric,
// which attribute filters use, holds no more.
const MaxNumberScale = 16383

// MaxExponent is the largest exponent magnitude a number may be written
// with (it only matters for zero, 0e1000000000: any other number beyond it
// is out of range anyway); PostgreSQL's numeric refuses more than about
// 2^30.
const MaxExponent = 999999999

// maxExp bounds the exponent while it is read; beyond it every number is
// out of range anyway.
const maxExp = 1 << 40

// overflowDigits are the digits of the smallest magnitude that rounds to
// infinity as a float64: halfway between math.MaxFloat64 and 2^1024,
// (2^54-1)*2^970, 309 digits (a tie rounds to even, here up).
var overflowDigits = new(big.Int).Lsh(big.NewInt(1<<54-1), 970).String()

// num is a number as written: sign excluded, integer and fraction digits
// and the (saturated) exponent.
type num struct {
	start         int
	intPart, frac []byte
	exp           int64
	hasExp        bool
}

// check rejects a number that a reader cannot hold: one whose magnitude
// rounds beyond the range of a double (1e999: encoding/json and JavaScript
// fail or read Infinity, which JSON cannot express; clients send non-finite
// values as the strings "NaN", "+Inf", "-Inf"), one with more than
// MaxNumberScale digits after the decimal point (1e-16384), and one
// written with an exponent beyond ±MaxExponent. It does not allocate.
func (n *num) check() error {
	if scale := int64(len(n.frac)) - n.exp; scale > MaxNumberScale {
		return syntaxErr(n.start, "number has more than %d digits after the decimal point once its exponent is applied (PostgreSQL's numeric holds no more)", MaxNumberScale)
	}
	// The value is 0.d1d2d3... * 10^k with d1 the first non-zero digit.
	var k int64
	sig := n.intPart
	rest := n.frac
	if len(sig) == 1 && sig[0] == '0' {
		z := 0
		for z < len(rest) && rest[z] == '0' {
			z++
		}
		if z == len(rest) { // zero: in range whatever the exponent, but numeric reads no more
			if n.exp > MaxExponent {
				return syntaxErr(n.start, "number exponent beyond ±%d (PostgreSQL's numeric reads no more)", MaxExponent)
			}
			return nil
		}
		sig, rest = rest[z:], nil
		k = -int64(z) + n.exp
	} else {
		k = int64(len(sig)) + n.exp
	}
	switch {
	case k < int64(len(overflowDigits)):
		return nil
	case k == int64(len(overflowDigits)) && !atLeastOverflow(sig, rest):
		return nil
	}
	return syntaxErr(n.start, `number beyond the range of a double (at most ±1.7976931348623157e308; send non-finite values as the strings "NaN", "+Inf", "-Inf")`)
}

// atLeastOverflow reports whether the digits of a and then b, read as
// 0.ab..., are at least 0.overflowDigits.
func atLeastOverflow(a, b []byte) bool {
	j := 0
	for _, part := range [2][]byte{a, b} {
		for _, d := range part {
			switch {
			case j >= len(overflowDigits):
				if d != '0' {
					return true
				}
			case d != overflowDigits[j]:
				return d > overflowDigits[j]
			}
			j++
		}
	}
	for ; j < len(overflowDigits); j++ {
		if overflowDigits[j] != '0' {
			return false
		}
	}
	return true
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

// isBytesKey reports whether the key string str (quotes included, valid)
// reads "$bytes", escapes decoded.
func isBytesKey(str []byte) bool {
	const want = "$bytes"
	if len(str) == len(want)+2 {
		return string(str[1:len(str)-1]) == want
	}
	j := 0
	for i := 1; i < len(str)-1; j++ {
		c, n := unescapeASCII(str, i)
		if n == 0 || j >= len(want) || c != want[j] {
			return false
		}
		i += n
	}
	return j == len(want)
}

// unescapeASCII returns the character at str[i] inside a valid JSON string
// with its escape decoded and the bytes it spans; n == 0 when it is not an
// ASCII character.
func unescapeASCII(str []byte, i int) (c byte, n int) {
	c = str[i]
	switch {
	case c >= utf8.RuneSelf:
		return 0, 0
	case c != '\\':
		return c, 1
	}
	switch e := str[i+1]; e {
	case 'u':
		r, _ := hex4(str, i+2)
		if r >= utf8.RuneSelf {
			return 0, 0
		}
		return byte(r), 6
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	default: // '"', '\\', '/'
		return e, 2
	}
}

// bytesValue scans the value of a "$bytes" key at doc[i]: a string of
// standard base64 with padding (RFC 4648 section 4), as Go's
// base64.StdEncoding and Node's Buffer write it.
func (s *scanner) bytesValue(i int) (int, error) {
	doc := s.doc
	if i >= len(doc) || doc[i] != '"' {
		return i, syntaxErr(i, `"$bytes" value must be a base64 string, found %s`, describe(doc, i))
	}
	end, err := s.str(i)
	if err != nil {
		return end, err
	}
	n, pad := 0, -1 // characters, index of the first '='
	for p := i + 1; p < end-1; n++ {
		c, w := unescapeASCII(doc, p)
		switch {
		case c == '=' && pad < 0:
			if n%4 < 2 {
				return p, syntaxErr(p, "invalid base64 in \"$bytes\" value: '=' at position %d of a 4-character group", n%4)
			}
			pad = n
		case pad >= 0 && c != '=':
			return p, syntaxErr(p, "invalid base64 in \"$bytes\" value: %s after the padding", describeChar(c, w))
		case pad < 0 && !isBase64(c):
			return p, syntaxErr(p, "invalid base64 in \"$bytes\" value: %s is not in the standard alphabet (A-Z a-z 0-9 + /)", describeChar(c, w))
		}
		p += w // w > 0: a non-ASCII character (w == 0) failed above
	}
	if n%4 != 0 || (pad >= 0 && pad < n-2) {
		return i, syntaxErr(i, "invalid base64 in \"$bytes\" value: %d characters, not whole padded 4-character groups", n)
	}
	return end, nil
}

func isBase64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/'
}

func describeChar(c byte, w int) string {
	switch {
	case w == 0:
		return "a non-ASCII character"
	case w > 1:
		return "an escape sequence"
	case c > 0x20 && c < 0x7f:
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
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
