package store

import (
	"bytes"
	"strings"
	"unicode/utf8"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/jsonattr"
)

// Filter selects records; zero fields do not filter. It mirrors the v1
// Filter message and the HTTP API's query parameters.
type Filter struct {
	Services    []string    // any of these services
	MinSeverity int32       // records at or above this severity number
	Text        string      // body contains Text, case-insensitively
	Attrs       []AttrMatch // all of these attribute equalities
	From        int64       // unix ns, inclusive; 0 = unbounded
	To          int64       // unix ns, exclusive; 0 = unbounded

	// Record fields, exact matches; empty does not filter.
	TraceID   []byte // the record's trace_id field (16 bytes)
	SpanID    []byte // the record's span_id field (8 bytes)
	Logger    string // the record's logger name
	ErrorType string // the type of the record's error

	// Resource fields of the record's batch, exact matches; empty does not
	// filter.
	Instance    string
	Environment string
	Version     string
}

// HasRecordFields reports whether f has a trace, span, logger or error type
// condition.
func (f Filter) HasRecordFields() bool {
	return len(f.TraceID) > 0 || len(f.SpanID) > 0 || f.Logger != "" || f.ErrorType != ""
}

// HasResourceFields reports whether f has an instance, environment or
// version condition.
func (f Filter) HasResourceFields() bool {
	return f.Instance != "" || f.Environment != "" || f.Version != ""
}

// Selective reports whether f has a condition that block or partition
// counters cannot answer: text, attributes, record or resource fields.
func (f Filter) Selective() bool {
	return f.Text != "" || len(f.Attrs) > 0 || f.HasRecordFields() || f.HasResourceFields()
}

// AttrMatch requires the attribute Key to equal Value (see jsonattr.Equal).
type AttrMatch struct {
	Key   string
	Value string
}

// Level returns the canonical value (1, 5, 9, 13, 17, 21) of the severity
// level that sev belongs to; 0 and out-of-range values count as INFO.
func Level(sev int32) int32 {
	if sev < 1 || sev > 24 {
		return 9
	}
	return (sev-1)/4*4 + 1
}

// NumLevels is the number of severity levels (trace, debug, info, warn,
// error, fatal).
const NumLevels = 6

var levelNames = [NumLevels]string{"trace", "debug", "info", "warn", "error", "fatal"}

// LevelIndex returns the position (0-5) of sev's level in trace, debug,
// info, warn, error, fatal; 0 and out-of-range values count as info.
func LevelIndex(sev int32) int { return int(Level(sev)-1) / 4 }

// LevelName returns the lower-case name of sev's level.
func LevelName(sev int32) string { return levelNames[LevelIndex(sev)] }

// Matcher is a compiled Filter; it is safe for concurrent use.
type Matcher struct {
	f         Filter
	services  map[string]struct{}
	needle    string // lower-cased Text
	asciiOnly bool   // needle is ASCII
}

// NewMatcher compiles f.
func NewMatcher(f Filter) *Matcher {
	m := &Matcher{f: f}
	if len(f.Services) > 0 {
		m.services = make(map[string]struct{}, len(f.Services))
		for _, s := range f.Services {
			m.services[s] = struct{}{}
		}
	}
	m.needle = strings.ToLower(f.Text)
	m.asciiOnly = isASCII(m.needle)
	return m
}

// Filter returns the filter m was compiled from.
func (m *Matcher) Filter() Filter { return m.f }

// MatchService reports whether records of service pass the service filter.
func (m *Matcher) MatchService(service string) bool {
	if m.services == nil {
		return true
	}
	_, ok := m.services[service]
	return ok
}

// MatchResource reports whether records of a batch with resource res pass
// the service and resource-field conditions.
func (m *Matcher) MatchResource(res *sawmillv1.Resource) bool {
	return m.MatchService(res.GetService()) &&
		(m.f.Instance == "" || res.GetInstance() == m.f.Instance) &&
		(m.f.Environment == "" || res.GetEnvironment() == m.f.Environment) &&
		(m.f.Version == "" || res.GetVersion() == m.f.Version)
}

// MatchTime reports whether t (unix ns) is inside the time range.
func (m *Matcher) MatchTime(t int64) bool {
	return (m.f.From == 0 || t >= m.f.From) && (m.f.To == 0 || t < m.f.To)
}

// MatchRecord reports whether rec passes every filter but the service and
// resource ones (see MatchResource).
func (m *Matcher) MatchRecord(rec *sawmillv1.LogRecord) bool {
	if !m.MatchTime(int64(rec.GetTimeUnixNano())) {
		return false
	}
	if len(m.f.TraceID) > 0 && !bytes.Equal(rec.GetTraceId(), m.f.TraceID) {
		return false
	}
	if len(m.f.SpanID) > 0 && !bytes.Equal(rec.GetSpanId(), m.f.SpanID) {
		return false
	}
	if m.f.Logger != "" && rec.GetLogger() != m.f.Logger {
		return false
	}
	if m.f.ErrorType != "" && rec.GetError().GetType() != m.f.ErrorType {
		return false
	}
	if m.f.MinSeverity > 0 && int32(rec.GetSeverityNumber()) < m.f.MinSeverity {
		return false
	}
	if m.needle != "" && !m.containsText(rec.GetBody()) {
		return false
	}
	for _, a := range m.f.Attrs {
		if !jsonattr.Equal(rec.GetAttributesJson(), a.Key, a.Value) {
			return false
		}
	}
	return true
}

// Match reports whether a record of a batch with resource res passes the
// whole filter.
func (m *Matcher) Match(res *sawmillv1.Resource, rec *sawmillv1.LogRecord) bool {
	return m.MatchResource(res) && m.MatchRecord(rec)
}

// HasText reports whether the filter has a text condition.
func (m *Matcher) HasText() bool { return m.needle != "" }

// Needle returns the lower-cased text condition.
func (m *Matcher) Needle() string { return m.needle }

func (m *Matcher) containsText(body string) bool {
	if m.asciiOnly && isASCII(body) {
		return containsFoldASCII(body, m.needle)
	}
	return strings.Contains(strings.ToLower(body), m.needle)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// containsFoldASCII reports whether lower-cased s contains needle, which is
// lower-case ASCII; s is ASCII. It does not allocate.
func containsFoldASCII(s, needle string) bool {
	n := len(needle)
	if n == 0 {
		return true
	}
	first := needle[0]
	for i := 0; i+n <= len(s); i++ {
		if lowerASCII(s[i]) != first {
			continue
		}
		j := 1
		for j < n && lowerASCII(s[i+j]) == needle[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}
