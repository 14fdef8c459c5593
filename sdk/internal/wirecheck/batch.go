package wirecheck

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

// Limits of the v1 wire contract (log.proto).
const (
	MaxRecords           = 10000
	MaxBatchBytes        = 8 << 20
	MaxBodyBytes         = 64 << 10
	MaxBatchIDBytes      = 64
	MaxServiceBytes      = 128
	MaxResourceBytes     = 256 // instance, environment, version
	MaxSeverityTextBytes = 32
	MaxLoggerBytes       = 256
	MaxStackBytes        = 256 << 10
	MaxSeverityNumber    = 24
	TraceIDBytes         = 16
	SpanIDBytes          = 8
	MaxFuture            = 24 * time.Hour
)

// MinTime is the earliest non-zero time accepted.
var MinTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Violation is one rule a batch breaks.
type Violation struct {
	Field       string // e.g. "batch.records[3].attributes_json"
	Description string
}

func (v Violation) String() string { return v.Field + ": " + v.Description }

// Batch returns every rule b breaks, nil when a server whose clock reads
// now accepts it.
func Batch(b *sawmillv1.LogBatch, now time.Time) []Violation {
	c := checker{minTime: uint64(MinTime.UnixNano()), maxTime: uint64(now.Add(MaxFuture).UnixNano())}
	c.batch(b)
	return c.out
}

type checker struct {
	minTime, maxTime uint64
	out              []Violation
}

func (c *checker) add(field, format string, args ...any) {
	c.out = append(c.out, Violation{Field: field, Description: fmt.Sprintf(format, args...)})
}

func (c *checker) batch(b *sawmillv1.LogBatch) {
	if b == nil {
		c.add("batch", "is missing")
		return
	}
	id := b.GetBatchId()
	if len(id) == 0 || len(id) > MaxBatchIDBytes {
		c.add("batch.batch_id", "must be 1-%d bytes, got %d", MaxBatchIDBytes, len(id))
	} else {
		for i := 0; i < len(id); i++ {
			if id[i] < 0x21 || id[i] > 0x7e {
				c.add("batch.batch_id", "must be printable ASCII without spaces, byte %d is 0x%02x", i, id[i])
				break
			}
		}
	}
	if r := b.GetResource(); r == nil {
		c.add("batch.resource", "is required")
	} else {
		c.resource(r)
	}
	switch n := len(b.GetRecords()); {
	case n == 0:
		c.add("batch.records", "must hold at least 1 record")
	case n > MaxRecords:
		c.add("batch.records", "holds %d records, more than %d", n, MaxRecords)
	}
	if size := proto.Size(b); size > MaxBatchBytes {
		c.add("batch", "is %d bytes encoded, more than %d", size, MaxBatchBytes)
	}
	for i, r := range b.GetRecords() {
		c.record("batch.records["+strconv.Itoa(i)+"]", r)
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
	if err := Attrs(r.GetAttributesJson()); err != nil {
		c.add("batch.resource.attributes_json", "%s", attrsProblem(err))
	}
}

func (c *checker) record(f string, r *sawmillv1.LogRecord) {
	if r == nil {
		c.add(f, "is missing (nil)")
		return
	}
	c.time(f+".time_unix_nano", r.GetTimeUnixNano())
	c.time(f+".observed_time_unix_nano", r.GetObservedTimeUnixNano())
	if sev := r.GetSeverityNumber(); sev < 0 || sev > MaxSeverityNumber {
		c.add(f+".severity_number", "must be 0-%d, got %d", MaxSeverityNumber, sev)
	}
	c.str(f+".severity_text", r.GetSeverityText(), MaxSeverityTextBytes)
	c.str(f+".body", r.GetBody(), MaxBodyBytes)
	if err := Attrs(r.GetAttributesJson()); err != nil {
		c.add(f+".attributes_json", "%s", attrsProblem(err))
	}
	if n := len(r.GetTraceId()); n != 0 && n != TraceIDBytes {
		c.add(f+".trace_id", "must be %d bytes or empty, got %d", TraceIDBytes, n)
	}
	if n := len(r.GetSpanId()); n != 0 && n != SpanIDBytes {
		c.add(f+".span_id", "must be %d bytes or empty, got %d", SpanIDBytes, n)
	}
	c.str(f+".logger", r.GetLogger(), MaxLoggerBytes)
	if s := r.GetSource(); s != nil {
		c.str(f+".source.file", s.GetFile(), 0)
		c.str(f+".source.function", s.GetFunction(), 0)
		if s.GetLine() < 0 {
			c.add(f+".source.line", "must be >= 0 (0 = unknown), got %d", s.GetLine())
		}
	}
	if e := r.GetError(); e != nil {
		c.str(f+".error.type", e.GetType(), 0)
		c.str(f+".error.message", e.GetMessage(), 0)
		c.str(f+".error.stack", e.GetStack(), MaxStackBytes)
	}
}

// str checks that s is valid UTF-8 of at most max bytes (max <= 0: any).
func (c *checker) str(field, s string, max int) {
	switch {
	case max > 0 && len(s) > max:
		c.add(field, "is %d bytes, more than %d", len(s), max)
	case !utf8.ValidString(s):
		c.add(field, "is not valid UTF-8")
	}
}

func (c *checker) time(field string, t uint64) {
	switch {
	case t == 0 || (t >= c.minTime && t <= c.maxTime):
	case t < c.minTime:
		c.add(field, "%d is before %s", t, MinTime.Format(time.RFC3339))
	default:
		c.add(field, "%d is more than %s in the future", t, MaxFuture)
	}
}

func attrsProblem(err error) string {
	var se *SyntaxError
	var le *LimitError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("is not a valid attributes object: %s at byte %d", se.Msg, se.Offset)
	case errors.As(err, &le):
		return fmt.Sprintf("has more than %d %s (at byte %d)", le.Max, le.What, le.Offset)
	}
	return err.Error()
}
