package query

import (
	"encoding/hex"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// ParamError is a bad request parameter.
type ParamError struct {
	Param string
	Msg   string
}

func (e *ParamError) Error() string { return fmt.Sprintf("parameter %q: %s", e.Param, e.Msg) }

// UnknownParamError is a query parameter the endpoint does not take.
type UnknownParamError struct{ Param string }

func (e *UnknownParamError) Error() string { return fmt.Sprintf("unknown parameter %q", e.Param) }

// FilterParams are the query parameters FilterFromQuery reads.
var FilterParams = []string{"service", "level", "q", "attr", "from", "to",
	"trace_id", "span_id", "instance", "environment", "version", "logger", "error_type"}

// CheckParams returns an UnknownParamError for the first parameter of v (in
// sorted order) that is neither in allowed nor access_token (the token of
// clients that cannot send headers, such as EventSource).
func CheckParams(v url.Values, allowed ...[]string) error {
	var unknown []string
	for name := range v {
		if name == "access_token" || slices.ContainsFunc(allowed, func(a []string) bool { return slices.Contains(a, name) }) {
			continue
		}
		unknown = append(unknown, name)
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return &UnknownParamError{unknown[0]}
}

var levelNames = map[string]int32{
	"trace": 1, "debug": 5, "info": 9, "information": 9, "notice": 10, "warn": 13, "warning": 13,
	"error": 17, "err": 17, "critical": 18, "crit": 18, "alert": 19, "emergency": 21, "emerg": 21,
	"fatal": 21, "panic": 21, "dpanic": 21,
}

// ParseLevel parses a level name or a severity number 1-24.
func ParseLevel(s string) (int32, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return 0, nil
	}
	if n, ok := levelNames[s]; ok {
		return n, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 24 {
		return 0, fmt.Errorf("want a level name (trace, debug, info, warn, error, fatal) or a severity number 1-24, got %q", s)
	}
	return int32(n), nil
}

// Representable time range: the stores keep unix nanoseconds in an int64,
// which reaches from 1677 to 2262, and no stored record is at or before the
// epoch (validation and defaults guarantee a positive time).
var (
	minTime = time.Unix(0, 1).UTC()             // the earliest time a record can have
	maxTime = time.Unix(0, math.MaxInt64).UTC() // 2262-04-11T23:47:16.854775807Z
)

// Bound says which end of a time range a parameter is.
type Bound int

// The two ends of a time range.
const (
	From Bound = iota // inclusive lower bound; 0 means from the start
	To                // exclusive upper bound; 0 means no end
)

// Clamp converts t to unix nanoseconds for the bound b, clamped to the range
// the stores can represent, so that a time outside it keeps its meaning
// instead of overflowing: a from before the first possible record means
// from the start (0), a to past 2262 means no end (0), a to at or before the
// epoch matches nothing (1), and a from past 2262 matches nothing
// (math.MaxInt64).
func Clamp(t time.Time, b Bound) int64 {
	switch {
	case t.Before(minTime):
		if b == From {
			return 0
		}
		return 1
	case t.After(maxTime):
		if b == To {
			return 0
		}
		return math.MaxInt64
	}
	return t.UnixNano()
}

// ClampNanos clamps unix nanoseconds from the v1 API (unsigned; 0 = unbounded)
// the way Clamp does.
func ClampNanos(ns uint64, b Bound) int64 {
	if ns == 0 {
		return 0
	}
	if ns > math.MaxInt64 {
		return Clamp(maxTime.Add(1), b)
	}
	return int64(ns)
}

// ParseTime parses an RFC 3339 time, a time relative to now ("-15m", "-2h",
// "now"), or unix nanoseconds, into unix nanoseconds for the bound b (see
// Clamp); "" is unbounded (0). Any year RFC 3339 can write is accepted.
func ParseTime(s string, now time.Time, b Bound) (int64, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return 0, nil
	case s == "now":
		return Clamp(now, b), nil
	case strings.HasPrefix(s, "-") || strings.HasPrefix(s, "now-"):
		d, err := parseDuration(strings.TrimPrefix(strings.TrimPrefix(s, "now"), "-"))
		if err != nil {
			return 0, fmt.Errorf("relative time %q: %w", s, err)
		}
		return Clamp(now.Add(-d), b), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 {
			return 0, fmt.Errorf("unix nanoseconds must be positive, got %d", n)
		}
		return n, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("want RFC 3339 (2026-11-23T04:00:00Z), relative (-15m) or unix nanoseconds, got %q", s)
	}
	return Clamp(t, b), nil
}

// parseDuration accepts Go durations plus days ("7d").
func parseDuration(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "d") {
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err != nil || n < 0 || n > 36500 {
			return 0, fmt.Errorf("bad day count %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}

const maxFilterValues = 64

// FilterFromQuery reads the shared filter parameters: service (repeatable or
// comma-separated), level, q, attr=key:value (repeatable), from, to.
func FilterFromQuery(v url.Values, now time.Time) (store.Filter, error) {
	var f store.Filter
	for _, s := range v["service"] {
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				f.Services = append(f.Services, part)
			}
		}
	}
	if len(f.Services) > maxFilterValues {
		return f, &ParamError{"service", fmt.Sprintf("at most %d services", maxFilterValues)}
	}
	var err error
	if f.MinSeverity, err = ParseLevel(v.Get("level")); err != nil {
		return f, &ParamError{"level", err.Error()}
	}
	f.Text = v.Get("q")
	if len(f.Text) > 1024 {
		return f, &ParamError{"q", "at most 1024 bytes"}
	}
	for _, a := range v["attr"] {
		k, val, ok := strings.Cut(a, ":")
		if !ok || k == "" {
			return f, &ParamError{"attr", fmt.Sprintf("want key:value, got %q", a)}
		}
		f.Attrs = append(f.Attrs, store.AttrMatch{Key: k, Value: val})
	}
	if len(f.Attrs) > maxFilterValues {
		return f, &ParamError{"attr", fmt.Sprintf("at most %d attribute filters", maxFilterValues)}
	}
	if f.TraceID, err = hexParam(v, "trace_id", 16); err != nil {
		return f, err
	}
	if f.SpanID, err = hexParam(v, "span_id", 8); err != nil {
		return f, err
	}
	for _, p := range []struct {
		name string
		dst  *string
	}{
		{"instance", &f.Instance}, {"environment", &f.Environment}, {"version", &f.Version},
		{"logger", &f.Logger}, {"error_type", &f.ErrorType},
	} {
		if *p.dst, err = exactParam(v, p.name); err != nil {
			return f, err
		}
	}
	if f.From, err = ParseTime(v.Get("from"), now, From); err != nil {
		return f, &ParamError{"from", err.Error()}
	}
	if f.To, err = ParseTime(v.Get("to"), now, To); err != nil {
		return f, &ParamError{"to", err.Error()}
	}
	if f.From != 0 && f.To != 0 && f.From >= f.To {
		return f, &ParamError{"from", "must be before to"}
	}
	return f, nil
}

// maxExact bounds the value of an exact-match parameter (the longest stored
// field it can equal, a logger name, is 256 bytes).
const maxExact = 1024

// singleValue returns the one value of parameter name ("" when absent); a
// parameter given twice is an error, not a silent choice.
func singleValue(v url.Values, name string) (string, error) {
	vs := v[name]
	switch {
	case len(vs) == 0:
		return "", nil
	case len(vs) > 1:
		return "", &ParamError{name, "given more than once"}
	}
	return vs[0], nil
}

// exactParam reads an exact-match parameter.
func exactParam(v url.Values, name string) (string, error) {
	s, err := singleValue(v, name)
	if err != nil {
		return "", err
	}
	if len(s) > maxExact {
		return "", &ParamError{name, fmt.Sprintf("at most %d bytes", maxExact)}
	}
	return s, nil
}

// hexParam reads an id of n bytes written as 2n hex digits (either case).
func hexParam(v url.Values, name string, n int) ([]byte, error) {
	s, err := singleValue(v, name)
	if err != nil || s == "" {
		return nil, err
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != n {
		return nil, &ParamError{name, fmt.Sprintf("want %d hex digits, got %q", 2*n, s)}
	}
	return b, nil
}

// FilterFromProto converts the v1 Filter.
func FilterFromProto(p *sawmillv1.Filter) (store.Filter, error) {
	f := store.Filter{
		Services:    p.GetServices(),
		MinSeverity: int32(p.GetMinSeverity()),
		Text:        p.GetText(),
		From:        ClampNanos(p.GetFromUnixNano(), From),
		To:          ClampNanos(p.GetToUnixNano(), To),
		TraceID:     p.GetTraceId(),
		SpanID:      p.GetSpanId(),
		Instance:    p.GetInstance(),
		Environment: p.GetEnvironment(),
		Version:     p.GetVersion(),
		Logger:      p.GetLogger(),
		ErrorType:   p.GetErrorType(),
	}
	if n := len(f.TraceID); n != 0 && n != 16 {
		return f, &ParamError{"filter.trace_id", fmt.Sprintf("must be 16 bytes or empty, got %d", n)}
	}
	if n := len(f.SpanID); n != 0 && n != 8 {
		return f, &ParamError{"filter.span_id", fmt.Sprintf("must be 8 bytes or empty, got %d", n)}
	}
	for name, v := range map[string]string{"filter.instance": f.Instance, "filter.environment": f.Environment,
		"filter.version": f.Version, "filter.logger": f.Logger, "filter.error_type": f.ErrorType} {
		if len(v) > maxExact {
			return f, &ParamError{name, fmt.Sprintf("at most %d bytes", maxExact)}
		}
	}
	if f.MinSeverity < 0 || f.MinSeverity > 24 {
		return f, &ParamError{"filter.min_severity", "must be 0-24"}
	}
	if f.From != 0 && f.To != 0 && f.From >= f.To {
		return f, &ParamError{"filter.from_unix_nano", "must be before to_unix_nano"}
	}
	if len(f.Services) > maxFilterValues || len(p.GetAttributes()) > maxFilterValues {
		return f, &ParamError{"filter", fmt.Sprintf("at most %d services and %d attribute filters", maxFilterValues, maxFilterValues)}
	}
	for _, a := range p.GetAttributes() {
		if a.GetKey() == "" {
			return f, &ParamError{"filter.attributes.key", "must not be empty"}
		}
		f.Attrs = append(f.Attrs, store.AttrMatch{Key: a.GetKey(), Value: a.GetValue()})
	}
	return f, nil
}

// niceSteps are the bucket widths Stats picks from.
var niceSteps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// StatsWindow fills the defaults of a stats query: the last hour when from
// is unbounded, now when to is, and a step giving at most 120 buckets.
func StatsWindow(f *store.Filter, step time.Duration, now time.Time) (time.Duration, error) {
	if f.To == 0 {
		f.To = now.UnixNano()
	}
	if f.From == 0 {
		f.From = f.To - int64(time.Hour)
	}
	span := time.Duration(f.To - f.From)
	if step == 0 {
		step = niceSteps[len(niceSteps)-1]
		for _, s := range niceSteps {
			if span/s <= 120 {
				step = s
				break
			}
		}
	}
	if step < time.Second || step%time.Second != 0 {
		return 0, &ParamError{"step", "must be a whole number of seconds, at least 1s"}
	}
	if span/step > 10000 {
		return 0, &ParamError{"step", "too many buckets (more than 10000); use a larger step"}
	}
	return step, nil
}
