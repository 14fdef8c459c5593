package sawmill

import (
	"encoding/base64"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Limits of one attributes document, from log.proto. The encoder keeps every
// document it produces inside them, so the server never rejects a batch for
// a record's attributes.
const (
	// MaxAttributesBytes is the largest attributes document the server accepts.
	MaxAttributesBytes = 64 << 10
	// MaxAttributesKeys is the most top-level keys a document may have.
	MaxAttributesKeys = 128
	// MaxAttributesDepth is the deepest nesting allowed; the top object is depth 1.
	MaxAttributesDepth = 16
	// TruncationMarker ends every value the SDK had to cut short.
	TruncationMarker = "…[truncated]"
	// TruncatedKey is the top-level key added (with the value TruncationMarker)
	// when keys or values had to be left out of a document to respect the limits.
	TruncatedKey = "sawmill_truncated"
)

// reserve is kept free at the end of the budget for the closing brackets of
// every open container and the TruncatedKey marker pair.
const reserve = MaxAttributesDepth + len(`,"`+TruncatedKey+`":"`+TruncationMarker+`"}`) + 8

// Attrs builds one record's attributes as a JSON object following the type
// rules of log.proto: integers without a fraction, floats always with a
// fraction or exponent, non-finite floats as "NaN"/"+Inf"/"-Inf", bytes as
// {"$bytes":"<base64>"}, strings as valid UTF-8 (invalid bytes become U+FFFD).
// NUL is written as the escape \u0000, which the server accepts (its
// PostgreSQL store keeps it as U+FFFD, since jsonb cannot hold it), and a
// key starting with "$", reserved for markers such as $bytes, is written
// with a "_" prefix ("$ref" becomes "_$ref").
//
// It is a streaming writer: call Key then one value inside objects, values
// alone inside arrays. It never produces an invalid document whatever the
// call sequence: a value that does not fit the 64 KiB budget is cut (strings,
// ending with TruncationMarker) or left out together with its key, keys
// beyond the top-level limit and containers nested deeper than 16 are left
// out, and Bytes reports whether anything was left out by adding
// TruncatedKey. Unbalanced End calls are ignored; Bytes closes what is open.
//
// An Attrs is not safe for concurrent use. The zero value is ready to use.
type Attrs struct {
	buf        []byte
	depth      int    // open containers, the top object is depth 1
	arrays     uint32 // bit d set: container at depth d is an array
	nonEmpty   uint32 // bit d set: container at depth d already has a member
	topKeys    int
	skipNext   bool // the next value is dropped (its key was dropped)
	skipDepth  int  // >0: inside a dropped container
	mark       int  // len(buf) before the current member (comma included)
	markFirst  bool // whether the current member is its container's first
	keyPending bool // a key was written, its value not yet
	dropped    bool // something was left out: add TruncatedKey
	cut        bool // a string was cut short
	started    bool
}

// Reset empties the document, keeping the allocated memory.
func (a *Attrs) Reset() {
	buf := a.buf[:0]
	*a = Attrs{buf: buf}
}

// start begins a document when none is open: after the zero value,
// Reset, or Bytes (whose state must not leak into the next document).
func (a *Attrs) start() {
	if !a.started {
		*a = Attrs{buf: append(a.buf[:0], '{'), depth: 1, mark: 1, started: true}
	}
}

// Empty reports whether no key was written.
func (a *Attrs) Empty() bool { return !a.started || len(a.buf) <= 1 }

// Truncated reports whether anything was cut short or left out.
func (a *Attrs) Truncated() bool { return a.dropped || a.cut }

func (a *Attrs) limit() int { return MaxAttributesBytes - reserve }

func (a *Attrs) inArray() bool { return a.arrays&(1<<uint(a.depth)) != 0 }

// member starts a new member of the innermost container (comma included).
func (a *Attrs) member() {
	a.mark = len(a.buf)
	bit := uint32(1) << uint(a.depth)
	a.markFirst = a.nonEmpty&bit == 0
	if !a.markFirst {
		a.buf = append(a.buf, ',')
	}
	a.nonEmpty |= bit
}

// Key writes an object key. Inside an array it is ignored.
func (a *Attrs) Key(k string) {
	a.start()
	if a.skipDepth > 0 || a.inArray() {
		return
	}
	a.skipNext = false
	if a.keyPending {
		// The previous key got no value: give it null so the document stays valid.
		a.buf = append(a.buf, "null"...)
		a.keyPending = false
	}
	if a.depth == 1 && a.topKeys >= MaxAttributesKeys-1 {
		a.skipNext, a.dropped = true, true
		return
	}
	// A key needs room for at least a short value after it.
	if len(a.buf)+len(k)+16 > a.limit() {
		a.skipNext, a.dropped = true, true
		return
	}
	a.member()
	a.buf = append(a.buf, '"')
	if len(k) > 0 && k[0] == '$' {
		// log.proto reserves "$" keys for markers such as {"$bytes":...}.
		a.buf = append(a.buf, '_')
	}
	a.buf = appendEscaped(a.buf, k)
	a.buf = append(a.buf, '"', ':')
	if a.depth == 1 {
		a.topKeys++
	}
	if len(a.buf)+16 > a.limit() {
		// Escaping made the key too long for any value after it.
		a.rollback()
		a.skipNext = true
		return
	}
	a.keyPending = true
}

// rollback removes the member being written (key and partial value).
func (a *Attrs) rollback() {
	a.buf = a.buf[:a.mark]
	if a.markFirst {
		a.nonEmpty &^= 1 << uint(a.depth)
	}
	if a.depth == 1 && !a.inArray() {
		a.topKeys--
	}
	a.keyPending = false
	a.dropped = true
}

// beginValue prepares a value; it reports false when the value must be skipped.
func (a *Attrs) beginValue() bool {
	a.start()
	if a.skipDepth > 0 {
		return false
	}
	if a.skipNext {
		a.skipNext = false
		return false
	}
	if a.inArray() {
		a.member()
		return true
	}
	if !a.keyPending {
		// A value in an object without a key: give it the empty key so the
		// document stays valid and nothing is silently lost.
		a.Key("")
		if a.skipNext {
			a.skipNext = false
			return false
		}
	}
	return true
}

// endValue checks the budget after a scalar value was appended.
func (a *Attrs) endValue() {
	if len(a.buf) > a.limit() {
		a.rollback()
	}
	a.keyPending = false
}

// String writes a string value, cutting it (ending with TruncationMarker)
// when it does not fit the remaining budget.
func (a *Attrs) String(s string) {
	if !a.beginValue() {
		return
	}
	room := a.limit() - len(a.buf)
	if room < len(TruncationMarker)+8 {
		a.rollback()
		return
	}
	var cut bool
	a.buf, cut = appendString(a.buf, s, room)
	a.cut = a.cut || cut
	a.endValue()
}

// Int writes an integer value.
func (a *Attrs) Int(v int64) {
	if !a.beginValue() {
		return
	}
	a.buf = strconv.AppendInt(a.buf, v, 10)
	a.endValue()
}

// Uint writes an unsigned integer value.
func (a *Attrs) Uint(v uint64) {
	if !a.beginValue() {
		return
	}
	a.buf = strconv.AppendUint(a.buf, v, 10)
	a.endValue()
}

// Float writes a 64-bit float, always with a fraction or an exponent.
func (a *Attrs) Float(v float64) {
	if !a.beginValue() {
		return
	}
	a.buf = appendFloat(a.buf, v, 64)
	a.endValue()
}

// Float32 writes a 32-bit float in the shortest form that reads back as
// the same float32.
func (a *Attrs) Float32(v float32) {
	if !a.beginValue() {
		return
	}
	a.buf = appendFloat(a.buf, float64(v), 32)
	a.endValue()
}

// Bool writes true or false.
func (a *Attrs) Bool(v bool) {
	if !a.beginValue() {
		return
	}
	a.buf = strconv.AppendBool(a.buf, v)
	a.endValue()
}

// Null writes null.
func (a *Attrs) Null() {
	if !a.beginValue() {
		return
	}
	a.buf = append(a.buf, "null"...)
	a.endValue()
}

// Binary writes binary data as {"$bytes":"<standard base64>"}. Data too
// large for the remaining budget is left out (cut base64 means nothing)
// and the document is marked truncated.
func (a *Attrs) Binary(p []byte) {
	if !a.beginValue() {
		return
	}
	if a.depth >= MaxAttributesDepth || len(a.buf)+base64.StdEncoding.EncodedLen(len(p))+16 > a.limit() {
		a.rollback()
		return
	}
	a.buf = append(a.buf, `{"$bytes":"`...)
	a.buf = base64.StdEncoding.AppendEncode(a.buf, p)
	a.buf = append(a.buf, `"}`...)
	a.endValue()
}

// Time writes a time as an RFC 3339 string with nanoseconds.
func (a *Attrs) Time(t time.Time) {
	if !a.beginValue() {
		return
	}
	a.buf = append(a.buf, '"')
	a.buf = t.AppendFormat(a.buf, time.RFC3339Nano)
	a.buf = append(a.buf, '"')
	a.endValue()
}

// Duration writes a duration as a Go duration string ("1.5s", "250ms"),
// which time.ParseDuration reads back exactly.
func (a *Attrs) Duration(d time.Duration) {
	if !a.beginValue() {
		return
	}
	a.buf = append(a.buf, '"')
	a.buf = appendDuration(a.buf, d)
	a.buf = append(a.buf, '"')
	a.endValue()
}

// BeginObject opens a nested object as the current value.
func (a *Attrs) BeginObject() { a.begin(false) }

// BeginArray opens a nested array as the current value.
func (a *Attrs) BeginArray() { a.begin(true) }

func (a *Attrs) begin(array bool) {
	a.start()
	if a.skipDepth > 0 {
		a.skipDepth++
		return
	}
	if !a.beginValue() {
		a.skipDepth = 1
		return
	}
	if a.depth >= MaxAttributesDepth {
		// Too deep: the container becomes the marker string.
		a.buf = append(a.buf, `"`+TruncationMarker+`"`...)
		a.cut = true
		a.endValue()
		a.skipDepth = 1
		return
	}
	if len(a.buf)+2 > a.limit() {
		a.rollback()
		a.skipDepth = 1
		return
	}
	a.keyPending = false
	a.depth++
	bit := uint32(1) << uint(a.depth)
	a.nonEmpty &^= bit
	if array {
		a.arrays |= bit
		a.buf = append(a.buf, '[')
	} else {
		a.arrays &^= bit
		a.buf = append(a.buf, '{')
	}
}

// EndObject closes the innermost open object.
func (a *Attrs) EndObject() { a.end() }

// EndArray closes the innermost open array.
func (a *Attrs) EndArray() { a.end() }

// end closes the innermost container, whatever its kind, so a mismatched
// End never breaks the document.
func (a *Attrs) end() {
	if a.skipDepth > 0 {
		a.skipDepth--
		return
	}
	if a.depth <= 1 {
		return
	}
	if a.keyPending {
		a.buf = append(a.buf, "null"...)
		a.keyPending = false
	}
	a.skipNext = false
	if a.inArray() {
		a.buf = append(a.buf, ']')
	} else {
		a.buf = append(a.buf, '}')
	}
	a.depth--
}

// Depth is the number of open containers, the top object included (1 when
// no nested container is open).
func (a *Attrs) Depth() int {
	a.start()
	return a.depth
}

// CloseTo closes open containers until Depth() == depth.
func (a *Attrs) CloseTo(depth int) {
	a.start()
	a.skipDepth, a.skipNext = 0, false
	for a.depth > depth && a.depth > 1 {
		a.end()
	}
}

// Bytes closes every open container and returns the document, or nil when
// it has no keys. The result is valid until the next call on a; the next
// write starts a new document.
func (a *Attrs) Bytes() []byte {
	if !a.started {
		return nil
	}
	a.CloseTo(1)
	if a.keyPending {
		a.buf = append(a.buf, "null"...)
		a.keyPending = false
	}
	if a.dropped && a.topKeys < MaxAttributesKeys {
		if len(a.buf) > 1 {
			a.buf = append(a.buf, ',')
		}
		a.buf = append(a.buf, `"`+TruncatedKey+`":"`+TruncationMarker+`"`...)
		a.topKeys++
	}
	a.started = false
	if len(a.buf) <= 1 {
		return nil
	}
	a.buf = append(a.buf, '}')
	return a.buf
}

// State is a resumable point of a document: an adapter that caches the
// attributes of a child logger saves the bytes written so far and the
// State, and Restore continues from there for every record.
type State struct {
	depth, topKeys   int
	arrays, nonEmpty uint32
	dropped, cut     bool
}

// Save returns the bytes written so far (not closed, valid until the next
// call on a) and the state to resume from them.
func (a *Attrs) Save() ([]byte, State) {
	a.start()
	if a.keyPending {
		a.buf = append(a.buf, "null"...)
		a.keyPending = false
	}
	a.skipDepth, a.skipNext = 0, false
	return a.buf, State{depth: a.depth, topKeys: a.topKeys, arrays: a.arrays, nonEmpty: a.nonEmpty, dropped: a.dropped, cut: a.cut}
}

// Restore resets a to prefix (copied into a's own memory) in state st.
// An empty prefix is the same as Reset.
func (a *Attrs) Restore(prefix []byte, st State) {
	if len(prefix) == 0 {
		a.Reset()
		return
	}
	buf := append(a.buf[:0], prefix...)
	*a = Attrs{buf: buf, depth: st.depth, topKeys: st.topKeys, arrays: st.arrays,
		nonEmpty: st.nonEmpty, dropped: st.dropped, cut: st.cut, started: true, mark: len(buf)}
}

// appendDuration writes d exactly as d.String() does, without allocating.
func appendDuration(b []byte, d time.Duration) []byte {
	if d == 0 {
		return append(b, "0s"...)
	}
	u := uint64(d)
	if d < 0 {
		u = -u
		b = append(b, '-')
	}
	if u < uint64(time.Second) {
		switch {
		case u < uint64(time.Microsecond):
			b = strconv.AppendUint(b, u, 10)
			return append(b, "ns"...)
		case u < uint64(time.Millisecond):
			b = appendFrac(b, u, 3)
			return append(b, "µs"...)
		default:
			b = appendFrac(b, u, 6)
			return append(b, "ms"...)
		}
	}
	secs, frac := u/1e9, u%1e9
	h, m, s := secs/3600, secs/60%60, secs%60
	if h > 0 {
		b = strconv.AppendUint(b, h, 10)
		b = append(b, 'h')
	}
	if h > 0 || m > 0 {
		b = strconv.AppendUint(b, m, 10)
		b = append(b, 'm')
	}
	b = appendFrac(b, s*1e9+frac, 9)
	return append(b, 's')
}

// appendFrac writes v / 10^prec with the fraction's trailing zeros removed.
func appendFrac(b []byte, v uint64, prec int) []byte {
	p := uint64(1)
	for range prec {
		p *= 10
	}
	b = strconv.AppendUint(b, v/p, 10)
	f := v % p
	if f == 0 {
		return b
	}
	var digits [9]byte
	for i := prec - 1; i >= 0; i-- {
		digits[i] = byte('0' + f%10)
		f /= 10
	}
	n := prec
	for n > 0 && digits[n-1] == '0' {
		n--
	}
	b = append(b, '.')
	return append(b, digits[:n]...)
}

// appendFloat writes v following log.proto: a fraction or exponent always,
// non-finite values as strings.
func appendFloat(b []byte, v float64, bits int) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"+Inf"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Inf"`...)
	}
	start := len(b)
	abs := math.Abs(v)
	format := byte('f')
	if abs != 0 && (bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21)) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, v, format, -1, bits)
	for _, c := range b[start:] {
		if c == '.' || c == 'e' || c == 'E' {
			return b
		}
	}
	return append(b, '.', '0')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string (quotes included), invalid UTF-8
// replaced by U+FFFD. When the quoted, escaped form would exceed max bytes it
// is cut at a character boundary and ends with TruncationMarker.
func appendString(b []byte, s string, max int) ([]byte, bool) {
	if len(s)*6+2 <= max {
		b = append(b, '"')
		b = appendEscaped(b, s)
		return append(b, '"'), false
	}
	start := len(b)
	b = append(b, '"')
	budget := start + max - len(TruncationMarker) - 1 // room for marker and closing quote
	for i := 0; i < len(s); {
		c := s[i]
		var n, w int // output size, input width
		if c < utf8.RuneSelf {
			w = 1
			switch {
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
				n = 2
			case c < 0x20:
				n = 6
			default:
				n = 1
			}
		} else {
			r, size := utf8.DecodeRuneInString(s[i:])
			w = size
			if r == utf8.RuneError && size == 1 {
				n = 3
			} else {
				n = size
			}
		}
		if len(b)+n > budget {
			b = append(b, TruncationMarker...)
			return append(b, '"'), true
		}
		b = appendEscaped(b, s[i:i+w])
		i += w
	}
	return append(b, '"'), false
}

// appendEscaped writes the JSON-escaped body of s (no quotes): invalid
// UTF-8 becomes U+FFFD, control characters (NUL included) \uXXXX escapes.
func appendEscaped(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[last:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			last = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[last:i]...)
			b = append(b, "\ufffd"...)
			i++
			last = i
			continue
		}
		i += size
	}
	return append(b, s[last:]...)
}

// Cap is the capacity of the memory held, for pools deciding what to keep.
func (a *Attrs) Cap() int { return cap(a.buf) }
