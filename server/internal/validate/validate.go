package validate

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/jsonattr"
)

// Violation is one rule a batch breaks.
type Violation struct {
	Field       string // e.g. "batch.records[3].attributes_json"
	Description string // what is wrong, e.g. "must be 16 bytes or empty, got 3"
}

func (v Violation) String() string { return v.Field + ": " + v.Description }

// Limits bound a batch. A zero (or negative) field turns that limit off;
// the rules without a field (id and string lengths, severity range) always
// apply.
type Limits struct {
	MaxRecords    int             // records per batch
	MaxBatchBytes int             // encoded size of the batch
	MaxBodyBytes  int             // LogRecord.body
	MaxAttrs      jsonattr.Limits // every attributes_json
	MaxFuture     time.Duration   // how far past now a time may be
	MinTime       time.Time       // earliest time accepted
	MaxViolations int             // violations listed before the rest are only counted
}

// DefaultLimits are the limits of the v1 wire contract (log.proto).
var DefaultLimits = Limits{
	MaxRecords:    10000,
	MaxBatchBytes: 8 << 20,
	MaxBodyBytes:  64 << 10,
	MaxAttrs:      jsonattr.DefaultLimits,
	MaxFuture:     24 * time.Hour,
	MinTime:       time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
	MaxViolations: 20,
}

// Fixed limits of the v1 wire contract.
const (
	MaxBatchIDBytes      = 64
	MaxServiceBytes      = 128
	MaxResourceBytes     = 256 // instance, environment, version
	MaxSeverityTextBytes = 32
	MaxLoggerBytes       = 256
	MaxStackBytes        = 256 << 10
	MaxSeverityNumber    = 24
	TraceIDBytes         = 16
	SpanIDBytes          = 8
)

// Batch returns the rules b breaks, nil when b is valid. size is the encoded
// size of the batch as received (proto.Size), passed in so that it is
// computed once. After lim.MaxViolations violations the rest are only
// counted, and one more Violation (Field "batch") says how many were cut.
// Batch does not allocate when b is valid.
func Batch(b *sawmillv1.LogBatch, size int, now time.Time, lim Limits) []Violation {
	c := checker{lim: lim, minTime: 1, maxTime: ^uint64(0)}
	if !lim.MinTime.IsZero() && lim.MinTime.Unix() > 0 {
		c.minTime = uint64(lim.MinTime.UnixNano())
	}
	if lim.MaxFuture > 0 {
		c.maxTime = uint64(now.Add(lim.MaxFuture).UnixNano())
	}
	c.batch(b, size)
	if c.cut > 0 {
		c.out = append(c.out, Violation{
			Field:       "batch",
			Description: fmt.Sprintf("%d more violations not listed", c.cut),
		})
	}
	return c.out
}

type checker struct {
	lim              Limits
	minTime, maxTime uint64 // accepted unix ns range of non-zero times
	out              []Violation
	cut              int // violations counted but not listed
}

func (c *checker) full() bool {
	return c.lim.MaxViolations > 0 && len(c.out) >= c.lim.MaxViolations
}

func (c *checker) add(field, format string, args ...any) {
	if c.full() {
		c.cut++
		return
	}
	c.out = append(c.out, Violation{Field: field, Description: fmt.Sprintf(format, args...)})
}

// addRec is add for the field name of record i, built only when listed.
func (c *checker) addRec(i int, name, format string, args ...any) {
	if c.full() {
		c.cut++
		return
	}
	c.add("batch.records["+strconv.Itoa(i)+"]"+name, format, args...)
}

func (c *checker) batch(b *sawmillv1.LogBatch, size int) {
	if b == nil {
		c.add("batch", "is missing")
		return
	}
	c.batchID(b.GetBatchId())
	if r := b.GetResource(); r == nil {
		c.add("batch.resource", "is required")
	} else {
		c.resource(r)
	}
	n := len(b.GetRecords())
	switch {
	case n == 0:
		c.add("batch.records", "must hold at least 1 record")
	case c.lim.MaxRecords > 0 && n > c.lim.MaxRecords:
		c.add("batch.records", "holds %d records, more than %d", n, c.lim.MaxRecords)
	}
	if c.lim.MaxBatchBytes > 0 && size > c.lim.MaxBatchBytes {
		c.add("batch", "is %d bytes encoded, more than %d", size, c.lim.MaxBatchBytes)
	}
	for i, r := range b.GetRecords() {
		c.record(i, r)
	}
}

func (c *checker) batchID(id string) {
	const field = "batch.batch_id"
	if len(id) == 0 || len(id) > MaxBatchIDBytes {
		c.add(field, "must be 1-%d bytes, got %d", MaxBatchIDBytes, len(id))
		return
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			c.add(field, "must be printable ASCII without spaces, byte %d is 0x%02x", i, id[i])
			return
		}
	}
}

func (c *checker) resource(r *sawmillv1.Resource) {
	svc := r.GetService()
	switch {
	case len(svc) == 0 || len(svc) > MaxServiceBytes:
		c.add("batch.resource.service", "must be 1-%d bytes, got %d", MaxServiceBytes, len(svc))
	case !utf8.ValidString(svc):
		c.add("batch.resource.service", "is not valid UTF-8")
	default:
		for i, ch := range svc {
			if unicode.IsControl(ch) {
				c.add("batch.resource.service", "has control character %U at byte %d", ch, i)
				break
			}
		}
	}
	c.str("batch.resource.instance", r.GetInstance(), MaxResourceBytes)
	c.str("batch.resource.environment", r.GetEnvironment(), MaxResourceBytes)
	c.str("batch.resource.version", r.GetVersion(), MaxResourceBytes)
	if err := jsonattr.Validate(r.GetAttributesJson(), c.lim.MaxAttrs); err != nil {
		c.add("batch.resource.attributes_json", "%s", attrsProblem(err))
	}
}

// str checks that s is valid UTF-8 of at most max bytes (max <= 0: any).
func (c *checker) str(field, s string, max int) {
	if max > 0 && len(s) > max {
		c.add(field, "is %d bytes, more than %d", len(s), max)
		return
	}
	if !utf8.ValidString(s) {
		c.add(field, "is not valid UTF-8 (first bad byte at %d)", firstInvalid(s))
	}
}

// attrsProblem describes an error of jsonattr.Validate.
func attrsProblem(err error) string {
	var se *jsonattr.SyntaxError
	var le *jsonattr.LimitError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("is not a valid attributes object: %s at byte %d", se.Msg, se.Offset)
	case errors.As(err, &le):
		return fmt.Sprintf("has more than %d %s (at byte %d)", le.Max, le.What, le.Offset)
	}
	return err.Error()
}

func (c *checker) record(i int, r *sawmillv1.LogRecord) {
	if r == nil {
		c.addRec(i, "", "is missing (nil)")
		return
	}
	c.time(i, ".time_unix_nano", r.GetTimeUnixNano())
	c.time(i, ".observed_time_unix_nano", r.GetObservedTimeUnixNano())
	if sev := r.GetSeverityNumber(); sev < 0 || sev > MaxSeverityNumber {
		c.addRec(i, ".severity_number", "must be 0-%d, got %d", MaxSeverityNumber, sev)
	}
	c.recStr(i, ".severity_text", r.GetSeverityText(), MaxSeverityTextBytes)
	c.recStr(i, ".body", r.GetBody(), c.lim.MaxBodyBytes)
	if doc := r.GetAttributesJson(); len(doc) > 0 {
		if err := jsonattr.Validate(doc, c.lim.MaxAttrs); err != nil {
			c.addRec(i, ".attributes_json", "%s", attrsProblem(err))
		}
	}
	if n := len(r.GetTraceId()); n != 0 && n != TraceIDBytes {
		c.addRec(i, ".trace_id", "must be %d bytes or empty, got %d", TraceIDBytes, n)
	}
	if n := len(r.GetSpanId()); n != 0 && n != SpanIDBytes {
		c.addRec(i, ".span_id", "must be %d bytes or empty, got %d", SpanIDBytes, n)
	}
	c.recStr(i, ".logger", r.GetLogger(), MaxLoggerBytes)
	if s := r.GetSource(); s != nil {
		c.recStr(i, ".source.file", s.GetFile(), 0)
		c.recStr(i, ".source.function", s.GetFunction(), 0)
		if s.GetLine() < 0 {
			c.addRec(i, ".source.line", "must be >= 0 (0 = unknown), got %d", s.GetLine())
		}
	}
	if e := r.GetError(); e != nil {
		c.recStr(i, ".error.type", e.GetType(), 0)
		c.recStr(i, ".error.message", e.GetMessage(), 0)
		c.recStr(i, ".error.stack", e.GetStack(), MaxStackBytes)
	}
}

// recStr is str for a field of record i.
func (c *checker) recStr(i int, name, s string, max int) {
	switch {
	case max > 0 && len(s) > max:
		c.addRec(i, name, "is %d bytes, more than %d", len(s), max)
	case !utf8.ValidString(s):
		c.addRec(i, name, "is not valid UTF-8 (first bad byte at %d)", firstInvalid(s))
	}
}

func (c *checker) time(i int, name string, t uint64) {
	switch {
	case t == 0 || (t >= c.minTime && t <= c.maxTime):
	case t < c.minTime:
		c.addRec(i, name, "%d (%s) is before %s", t, fmtTime(t), c.lim.MinTime.UTC().Format(time.RFC3339))
	default:
		c.addRec(i, name, "%d (%s) is more than %s in the future", t, fmtTime(t), c.lim.MaxFuture)
	}
}

func fmtTime(t uint64) string {
	if t > 1<<63-1 {
		return "beyond year 2262"
	}
	return time.Unix(0, int64(t)).UTC().Format(time.RFC3339Nano)
}

func firstInvalid(s string) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}
