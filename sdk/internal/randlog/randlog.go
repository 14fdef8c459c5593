// Package randlog generates hostile log input for the SDK's property tests:
// strings of random bytes (NUL, control characters, invalid UTF-8, encoded
// surrogates, quotes, "$" prefixes, sizes around every limit), times far
// outside the accepted range, out-of-range severities and lines, and zap
// fields and slog attributes of every type. Everything is derived from the
// *rand.Rand passed in, so a failing seed reproduces.
package randlog

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sawmill-dev/sawmill/sdk"
)

// pieces are the fragments random strings are made of.
var pieces = []string{
	"a", "Z", "0", " ", "$", "$bytes", "_", ".", "\x00", "\x01", "\x1f", "\x7f", "\t", "\n", "\r", `"`, `\`, "/",
	"\\u0000", "\xff", "\xc0", "\xc3", "\xe2\x82", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80",
	"é", "한", "😀", "\u2028", "\ufeff", "\uFFFD", "…[truncated]", "{", "}", "[", "]", ":", ",",
}

// String returns a random string: mostly short, sometimes around or far
// beyond a limit (256 B, 32 B, 4 KiB, 64 KiB, 256 KiB).
func String(r *rand.Rand) string {
	var n int
	switch r.IntN(20) {
	case 0:
		return ""
	case 1:
		n = 30 + r.IntN(10)
	case 2:
		n = 250 + r.IntN(20)
	case 3:
		n = 4000 + r.IntN(200)
	case 4:
		n = (64<<10 - 40) + r.IntN(80)
	case 5:
		if r.IntN(4) == 0 {
			n = 300 << 10
		} else {
			n = 20 + r.IntN(40)
		}
	default:
		n = r.IntN(24)
	}
	var b strings.Builder
	for b.Len() < n {
		if r.IntN(3) == 0 {
			b.WriteByte(byte(r.IntN(256)))
		} else {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		if n > 1000 && b.Len() < n/2 && r.IntN(2) == 0 {
			// Grow large strings quickly.
			s := b.String()
			b.WriteString(s)
		}
	}
	return b.String()
}

// Key returns a random attribute key, now and then "$"-prefixed or one
// of the keys the adapters treat specially.
func Key(r *rand.Rand) string {
	switch r.IntN(12) {
	case 0:
		return "$" + String(r)
	case 1:
		return [...]string{"trace_id", "span_id", "error", "$bytes", "sawmill_truncated", ""}[r.IntN(6)]
	}
	s := String(r)
	if len(s) > 300 && r.IntN(2) == 0 {
		s = s[:r.IntN(300)]
	}
	return s
}

var times = []time.Time{
	{}, time.Date(1430, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(1677, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2262, 4, 12, 0, 0, 0, 0, time.UTC),
	time.Date(2600, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(99999, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(1<<62, 0),
}

// Time returns a random time: now, near the accepted edges, or far outside.
func Time(r *rand.Rand) time.Time {
	now := time.Now()
	switch r.IntN(4) {
	case 0:
		return now
	case 1:
		return now.Add(time.Duration(r.Int64N(int64(50*time.Hour))) - time.Hour)
	}
	return times[r.IntN(len(times))]
}

var floats = []float64{0, math.Copysign(0, -1), 1, 1.5, -2.25e-300, 1e300, 1e21, 1e-7, math.MaxFloat64, math.SmallestNonzeroFloat64,
	math.NaN(), math.Inf(1), math.Inf(-1), float64(math.MaxInt64), 0.1}

// Float returns a random float, non-finite ones included.
func Float(r *rand.Rand) float64 {
	if r.IntN(3) == 0 {
		return r.NormFloat64() * 1e6
	}
	return floats[r.IntN(len(floats))]
}

// Attrs writes a random sequence of Attrs calls, broken sequences included.
func Attrs(r *rand.Rand, a *sawmill.Attrs) {
	for range r.IntN(40) {
		switch r.IntN(16) {
		case 0, 1, 2, 3:
			a.Key(Key(r))
		case 4, 5:
			a.String(String(r))
		case 6:
			a.Int(r.Int64() - r.Int64())
		case 7:
			a.Uint(r.Uint64())
		case 8:
			a.Float(Float(r))
		case 9:
			a.Float32(float32(Float(r)))
		case 10:
			a.Binary([]byte(String(r)))
		case 11:
			a.BeginObject()
		case 12:
			a.BeginArray()
		case 13:
			a.EndObject()
		case 14:
			a.Time(Time(r))
		case 15:
			a.Any(Value(r, 0))
		}
	}
}

// Value returns a random Go value for Attrs.Any, zap.Any and slog.Any.
func Value(r *rand.Rand, depth int) any {
	if depth > 20 {
		return nil
	}
	switch r.IntN(14) {
	case 0:
		return String(r)
	case 1:
		return r.Int64()
	case 2:
		return Float(r)
	case 3:
		return []byte(String(r))
	case 4:
		m := map[string]any{}
		for range r.IntN(5) {
			m[Key(r)] = Value(r, depth+1)
		}
		return m
	case 5:
		s := make([]any, r.IntN(5))
		for i := range s {
			s[i] = Value(r, depth+1)
		}
		return s
	case 6:
		return errors.New(String(r))
	case 7:
		return Time(r)
	case 8:
		return time.Duration(r.Int64())
	case 9:
		return struct {
			A string `json:"a"`
			B any    `json:"$b"`
			C []byte
		}{String(r), Value(r, depth+1), []byte(String(r))}
	case 10:
		return nil
	case 11:
		return complex(Float(r), Float(r))
	case 12:
		return map[int]string{r.IntN(9): String(r)}
	default:
		return r.IntN(2) == 0
	}
}

// Record returns a record with random bytes in every field.
func Record(r *rand.Rand) *sawmill.Record {
	rec := &sawmill.Record{
		Time: Time(r), Severity: sawmill.Severity(r.IntN(40) - 8), SeverityText: String(r), Body: String(r),
		Logger: String(r),
		Source: sawmill.Source{File: String(r), Line: r.IntN(1<<20) - 1<<19, Function: String(r)},
		Error:  sawmill.ErrorInfo{Type: String(r), Message: String(r), Stack: String(r)},
	}
	if r.IntN(2) == 0 {
		for i := range rec.TraceID {
			rec.TraceID[i] = byte(r.IntN(256))
		}
		for i := range rec.SpanID {
			rec.SpanID[i] = byte(r.IntN(256))
		}
	}
	if r.IntN(5) > 0 {
		rec.Attrs = &sawmill.Attrs{}
		Attrs(r, rec.Attrs)
	}
	return rec
}

type object struct {
	r *rand.Rand
	n int
}

func (o object) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	for range o.n {
		k := Key(o.r)
		switch o.r.IntN(6) {
		case 0:
			enc.AddString(k, String(o.r))
		case 1:
			enc.AddFloat64(k, Float(o.r))
		case 2:
			enc.AddBinary(k, []byte(String(o.r)))
		case 3:
			_ = enc.AddObject(k, object{o.r, o.r.IntN(3)})
		case 4:
			_ = enc.AddArray(k, array{o.r, o.r.IntN(3)})
		default:
			enc.OpenNamespace(k)
		}
	}
	if o.r.IntN(8) == 0 {
		return errors.New(String(o.r))
	}
	return nil
}

type array struct {
	r *rand.Rand
	n int
}

func (a array) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for range a.n {
		switch a.r.IntN(5) {
		case 0:
			enc.AppendString(String(a.r))
		case 1:
			enc.AppendByteString([]byte(String(a.r)))
		case 2:
			_ = enc.AppendObject(object{a.r, a.r.IntN(3)})
		case 3:
			_ = enc.AppendArray(array{a.r, a.r.IntN(3)})
		default:
			enc.AppendComplex128(complex(Float(a.r), Float(a.r)))
		}
	}
	return nil
}

type stringer string

func (s stringer) String() string { return string(s) }

// ZapFields returns random fields of every zap field type.
func ZapFields(r *rand.Rand) []zap.Field {
	fields := make([]zap.Field, r.IntN(12))
	for i := range fields {
		k := Key(r)
		switch r.IntN(24) {
		case 0:
			fields[i] = zap.String(k, String(r))
		case 1:
			fields[i] = zap.ByteString(k, []byte(String(r)))
		case 2:
			fields[i] = zap.Binary(k, []byte(String(r)))
		case 3:
			fields[i] = zap.Bool(k, r.IntN(2) == 0)
		case 4:
			fields[i] = zap.Int64(k, r.Int64()-r.Int64())
		case 5:
			fields[i] = zap.Uint64(k, r.Uint64())
		case 6:
			fields[i] = zap.Float64(k, Float(r))
		case 7:
			fields[i] = zap.Float32(k, float32(Float(r)))
		case 8:
			fields[i] = zap.Complex128(k, complex(Float(r), Float(r)))
		case 9:
			fields[i] = zap.Duration(k, time.Duration(r.Int64()-r.Int64()))
		case 10:
			fields[i] = zap.Time(k, Time(r))
		case 11:
			fields[i] = zap.NamedError(k, errors.New(String(r)))
		case 12:
			fields[i] = zap.Error(fmt.Errorf("%s: %w", String(r), errors.New(String(r))))
		case 13:
			fields[i] = zap.Any(k, Value(r, 0))
		case 14:
			fields[i] = zap.Reflect(k, Value(r, 0))
		case 15:
			fields[i] = zap.Strings(k, []string{String(r), String(r)})
		case 16:
			fields[i] = zap.Namespace(k)
		case 17:
			fields[i] = zap.Object(k, object{r, r.IntN(6)})
		case 18:
			fields[i] = zap.Array(k, array{r, r.IntN(6)})
		case 19:
			fields[i] = zap.Stringer(k, stringer(String(r)))
		case 20:
			fields[i] = zap.Uintptr(k, uintptr(r.Uint64()))
		case 21:
			fields[i] = zap.Dict(k, zap.String(Key(r), String(r)), zap.Float64(Key(r), Float(r)))
		case 22:
			fields[i] = zap.String("trace_id", [...]string{"4bf92f3577b34da6a3ce929d0e0e4736", String(r)}[r.IntN(2)])
		default:
			fields[i] = zap.Errors(k, []error{errors.New(String(r)), nil})
		}
	}
	return fields
}

type valuer struct{ v slog.Value }

func (v valuer) LogValue() slog.Value { return v.v }

// SlogAttrs returns random attributes of every slog kind.
func SlogAttrs(r *rand.Rand, depth int) []slog.Attr {
	attrs := make([]slog.Attr, r.IntN(10))
	for i := range attrs {
		k := Key(r)
		switch r.IntN(12) {
		case 0, 1:
			attrs[i] = slog.String(k, String(r))
		case 2:
			attrs[i] = slog.Int64(k, r.Int64()-r.Int64())
		case 3:
			attrs[i] = slog.Uint64(k, r.Uint64())
		case 4:
			attrs[i] = slog.Float64(k, Float(r))
		case 5:
			attrs[i] = slog.Bool(k, r.IntN(2) == 0)
		case 6:
			attrs[i] = slog.Time(k, Time(r))
		case 7:
			attrs[i] = slog.Duration(k, time.Duration(r.Int64()-r.Int64()))
		case 8:
			if depth < 20 {
				attrs[i] = slog.Attr{Key: k, Value: slog.GroupValue(SlogAttrs(r, depth+1)...)}
			} else {
				attrs[i] = slog.String(k, "")
			}
		case 9:
			attrs[i] = slog.Any(k, Value(r, 0))
		case 10:
			attrs[i] = slog.Any(k, valuer{slog.StringValue(String(r))})
		default:
			attrs[i] = slog.Any(k, errors.New(String(r)))
		}
	}
	return attrs
}
