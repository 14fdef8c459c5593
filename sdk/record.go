package sawmill

import (
	"crypto/rand"
	"encoding/hex"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Severity is the OpenTelemetry severity number (1-24) of a record.
type Severity int32

// The canonical severities; each level has three finer steps above it
// (SeverityInfo+1 is INFO2, and so on).
const (
	SeverityUnspecified Severity = 0
	SeverityTrace       Severity = 1
	SeverityDebug       Severity = 5
	SeverityInfo        Severity = 9
	SeverityWarn        Severity = 13
	SeverityError       Severity = 17
	SeverityFatal       Severity = 21
)

// Source is where in the code a record was logged.
type Source struct {
	File     string
	Line     int
	Function string
}

// ErrorInfo is the error attached to a record.
type ErrorInfo struct {
	Type    string // e.g. "*fs.PathError"
	Message string
	Stack   string // stack trace or verbose form
}

// Record is one log entry handed to Client.Log. Adapters build one per log
// call; the client copies what it needs before Log returns, so a Record
// (and its Attrs) can be reused right after.
type Record struct {
	// Time is when the event happened; zero lets the server use the
	// observed time. Times before 2000-01-01 or more than 24 hours ahead
	// of the local clock (years beyond 2262 included) are sent as zero,
	// which the server replaces with the observed time: it would reject
	// the whole batch for them. The observed time is the local clock at
	// Log; a clock outside the same range sends zero there too, and the
	// server uses its receive time.
	Time         time.Time
	Severity     Severity
	SeverityText string // the logger's own level name, at most 32 bytes
	Body         string // the message, at most 64 KiB
	// Attrs, when not nil, are the record's attributes. Log closes the
	// document (Attrs.Bytes) itself.
	Attrs   *Attrs
	TraceID [16]byte // all zero: none
	SpanID  [8]byte  // all zero: none
	Logger  string   // logger name, at most 256 bytes
	Source  Source
	Error   ErrorInfo
}

// Size limits of the record's strings. Longer values are cut at a UTF-8
// boundary and end with TruncationMarker; invalid UTF-8 becomes U+FFFD.
const (
	MaxBodyBytes         = 64 << 10
	MaxSeverityTextBytes = 32
	MaxLoggerBytes       = 256
	MaxErrorTypeBytes    = 1 << 10
	MaxErrorMessageBytes = 64 << 10
	MaxErrorStackBytes   = 64 << 10
	MaxSourceFileBytes   = 4 << 10
	MaxSourceFuncBytes   = 4 << 10
)

// The times the server accepts (log.proto): from 2000-01-01 to 24 hours
// past its clock. time.Time.UnixNano is undefined beyond what an int64 of
// nanoseconds holds (1678 to 2262: year 2600 wraps to 2015), so the range
// is checked in seconds first, which never overflow.
const (
	minUnixSec = 946684800                          // 2000-01-01T00:00:00Z
	maxUnixSec = math.MaxInt64 / int64(time.Second) // 2262-04-11T23:47:16Z, the last second UnixNano holds
	maxAheadNs = int64(24 * time.Hour)              // how far past the clock a time may be
)

// unixNano returns t as unix nanoseconds when it lies between 2000-01-01
// and limit (unix ns), else 0: the server then uses the observed time or,
// for the observed time itself, its receive time.
func unixNano(t time.Time, limit int64) uint64 {
	if s := t.Unix(); s < minUnixSec || s >= maxUnixSec {
		return 0
	}
	if ns := t.UnixNano(); ns <= limit {
		return uint64(ns)
	}
	return 0
}

// clean returns s as valid UTF-8 of at most max bytes, cut with the
// truncation marker when longer. It allocates only when s must change.
func clean(s string, max int) string {
	if len(s) <= max && utf8.ValidString(s) {
		return s
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= max {
		return s
	}
	cut := max - len(TruncationMarker)
	if cut < 0 {
		cut = 0
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	if max < len(TruncationMarker) {
		return s[:cut]
	}
	return s[:cut] + TruncationMarker
}

// Field numbers of sawmill.v1.LogRecord, SourceLocation, ErrorInfo,
// LogBatch and Resource (log.proto).
const (
	fRecTime      = 1
	fRecObserved  = 2
	fRecSeverity  = 3
	fRecSevText   = 4
	fRecBody      = 5
	fRecAttrs     = 6
	fRecTraceID   = 7
	fRecSpanID    = 8
	fRecLogger    = 9
	fRecSource    = 10
	fRecError     = 11
	fBatchID      = 1
	fBatchRes     = 2
	fBatchRecords = 3
	fResService   = 1
	fResInstance  = 2
	fResEnv       = 3
	fResVersion   = 4
	fResAttrs     = 5
	fPushBatch    = 1 // PushRequest.batch and PushStreamRequest.batch
)

func sizeBytes(n int) int { return 1 + protowire.SizeVarint(uint64(n)) + n }

func appendBytesField(b []byte, num protowire.Number, s string) []byte {
	if len(s) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(len(s)))
	return append(b, s...)
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// appendRecord appends r as a LogBatch.records field (tag, length, record).
func appendRecord(b []byte, r *Record, attrs []byte, now time.Time) []byte {
	sevText := clean(r.SeverityText, MaxSeverityTextBytes)
	body := clean(r.Body, MaxBodyBytes)
	logger := clean(r.Logger, MaxLoggerBytes)
	file := clean(r.Source.File, MaxSourceFileBytes)
	fn := clean(r.Source.Function, MaxSourceFuncBytes)
	eType := clean(r.Error.Type, MaxErrorTypeBytes)
	eMsg := clean(r.Error.Message, MaxErrorMessageBytes)
	eStack := clean(r.Error.Stack, MaxErrorStackBytes)

	observed := unixNano(now, math.MaxInt64)
	limit := int64(math.MaxInt64) // a clock outside the range: the server judges
	if observed != 0 {
		limit = int64(observed) + maxAheadNs
	}
	t := unixNano(r.Time, limit)
	sev := r.Severity
	if sev < 0 || sev > 24 {
		sev = SeverityUnspecified
	}
	hasTrace := !isZero(r.TraceID[:])
	hasSpan := !isZero(r.SpanID[:])
	line := r.Source.Line
	if line < 0 || line > 1<<31-1 {
		line = 0
	}

	srcSize := 0
	if file != "" {
		srcSize += sizeBytes(len(file))
	}
	if line != 0 {
		srcSize += 1 + protowire.SizeVarint(uint64(line))
	}
	if fn != "" {
		srcSize += sizeBytes(len(fn))
	}
	errSize := 0
	for _, s := range [...]string{eType, eMsg, eStack} {
		if s != "" {
			errSize += sizeBytes(len(s))
		}
	}

	size := 0
	if t != 0 {
		size += 9
	}
	if observed != 0 {
		size += 9
	}
	if sev != 0 {
		size += 1 + protowire.SizeVarint(uint64(sev))
	}
	for _, s := range [...]string{sevText, body, logger} {
		if s != "" {
			size += sizeBytes(len(s))
		}
	}
	if len(attrs) > 0 {
		size += sizeBytes(len(attrs))
	}
	if hasTrace {
		size += sizeBytes(16)
	}
	if hasSpan {
		size += sizeBytes(8)
	}
	if srcSize > 0 {
		size += sizeBytes(srcSize)
	}
	if errSize > 0 {
		size += sizeBytes(errSize)
	}

	b = protowire.AppendTag(b, fBatchRecords, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	if t != 0 {
		b = protowire.AppendTag(b, fRecTime, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, t)
	}
	if observed != 0 {
		b = protowire.AppendTag(b, fRecObserved, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, observed)
	}
	if sev != 0 {
		b = protowire.AppendTag(b, fRecSeverity, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(sev))
	}
	b = appendBytesField(b, fRecSevText, sevText)
	b = appendBytesField(b, fRecBody, body)
	if len(attrs) > 0 {
		b = protowire.AppendTag(b, fRecAttrs, protowire.BytesType)
		b = protowire.AppendBytes(b, attrs)
	}
	if hasTrace {
		b = protowire.AppendTag(b, fRecTraceID, protowire.BytesType)
		b = protowire.AppendBytes(b, r.TraceID[:])
	}
	if hasSpan {
		b = protowire.AppendTag(b, fRecSpanID, protowire.BytesType)
		b = protowire.AppendBytes(b, r.SpanID[:])
	}
	b = appendBytesField(b, fRecLogger, logger)
	if srcSize > 0 {
		b = protowire.AppendTag(b, fRecSource, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(srcSize))
		b = appendBytesField(b, 1, file)
		if line != 0 {
			b = protowire.AppendTag(b, 2, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(line))
		}
		b = appendBytesField(b, 3, fn)
	}
	if errSize > 0 {
		b = protowire.AppendTag(b, fRecError, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(errSize))
		b = appendBytesField(b, 1, eType)
		b = appendBytesField(b, 2, eMsg)
		b = appendBytesField(b, 3, eStack)
	}
	return b
}

// encodeResource returns the encoded sawmill.v1.Resource.
func encodeResource(r Resource) []byte {
	var b []byte
	b = appendBytesField(b, fResService, r.Service)
	b = appendBytesField(b, fResInstance, r.Instance)
	b = appendBytesField(b, fResEnv, r.Environment)
	b = appendBytesField(b, fResVersion, r.Version)
	if len(r.Attributes) > 0 {
		keys := make([]string, 0, len(r.Attributes))
		for k := range r.Attributes {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var a Attrs
		for _, k := range keys {
			a.Key(k)
			a.Any(r.Attributes[k])
		}
		if doc := a.Bytes(); len(doc) > 0 {
			b = protowire.AppendTag(b, fResAttrs, protowire.BytesType)
			b = protowire.AppendBytes(b, doc)
		}
	}
	return b
}

// NewBatchID returns a random 128-bit id as 32 hex digits.
func NewBatchID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// batchHeader returns the batch.Header writing a fresh batch id and the
// pre-encoded resource.
func batchHeader(resource []byte) func(dst []byte) ([]byte, string) {
	return func(dst []byte) ([]byte, string) {
		id := NewBatchID()
		dst = appendBytesField(dst, fBatchID, id)
		dst = protowire.AppendTag(dst, fBatchRes, protowire.BytesType)
		dst = protowire.AppendBytes(dst, resource)
		return dst, id
	}
}

// framePrefix is the room reserved before a batch for the PushRequest
// field header (1 tag byte + up to 5 length bytes).
const framePrefix = 6

// frame writes the PushRequest/PushStreamRequest header into the reserved
// prefix of buf and returns the encoded request.
func frame(buf []byte) []byte {
	n := len(buf) - framePrefix
	var hdr [framePrefix]byte
	h := protowire.AppendTag(hdr[:0], fPushBatch, protowire.BytesType)
	h = protowire.AppendVarint(h, uint64(n))
	start := framePrefix - len(h)
	copy(buf[start:], h)
	return buf[start:]
}
