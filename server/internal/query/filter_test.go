package query

import (
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

var now = time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)

func TestParseTime(t *testing.T) {
	for in, want := range map[string]int64{
		"":                          0,
		"now":                       now.UnixNano(),
		"-15m":                      now.Add(-15 * time.Minute).UnixNano(),
		"now-2h":                    now.Add(-2 * time.Hour).UnixNano(),
		"-7d":                       now.Add(-7 * 24 * time.Hour).UnixNano(),
		"2026-11-23T03:00:00Z":      now.Add(-time.Hour).UnixNano(),
		"2026-11-23T12:00:00+09:00": now.Add(-time.Hour).UnixNano(),
		"2026-11-23T03:00:00.5Z":    now.Add(-time.Hour + 500*time.Millisecond).UnixNano(),
		"1795406961884678774":       1795406961884678774,
	} {
		for _, b := range []Bound{From, To} {
			got, err := ParseTime(in, now, b)
			require.NoError(t, err, in)
			assert.Equal(t, want, got, in)
		}
	}
	for _, bad := range []string{"yesterday", "-", "-5x", "--5m", "0", "-1", "2026-13-01T00:00:00Z", "-99999d"} {
		_, err := ParseTime(bad, now, From)
		assert.Error(t, err, bad)
	}
}

// Times outside the int64 nanoseconds the stores keep (1677..2262) are
// clamped, never wrapped: a to far in the future means no end, a from far in
// the past means from the start.
func TestParseTimeClamped(t *testing.T) {
	for _, tc := range []struct {
		in       string
		from, to int64
	}{
		{"9999-12-31T23:59:59Z", math.MaxInt64, 0},
		{"2300-01-01T00:00:00Z", math.MaxInt64, 0},
		{"2262-04-11T23:47:16.854775807Z", math.MaxInt64, math.MaxInt64},
		{"2262-04-11T23:47:16.854775808Z", math.MaxInt64, 0},
		{"1500-01-01T00:00:00Z", 0, 1},
		{"0001-01-01T00:00:00Z", 0, 1},
		{"1677-09-21T00:12:43.145224191Z", 0, 1},
		{"1969-12-31T23:59:59Z", 0, 1},
		{"1970-01-01T00:00:00Z", 0, 1},
		{"1970-01-01T00:00:00.000000001Z", 1, 1},
		{"-2562047h", 0, 1}, // before 1677: time.Time is fine, UnixNano would wrap
		{"-36500d", 0, 1},   // 1926
		{"-20000d", 0, 1},   // 1972 is representable...
		{"9223372036854775807", math.MaxInt64, math.MaxInt64},
	} {
		from, err := ParseTime(tc.in, now, From)
		require.NoError(t, err, tc.in)
		to, err := ParseTime(tc.in, now, To)
		require.NoError(t, err, tc.in)
		if tc.in == "-20000d" {
			want := now.Add(-20000 * 24 * time.Hour).UnixNano()
			assert.Equal(t, [2]int64{want, want}, [2]int64{from, to}, tc.in)
			continue
		}
		assert.Equal(t, [2]int64{tc.from, tc.to}, [2]int64{from, to}, tc.in)
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]int32{"": 0, "warn": 13, "WARNING": 13, "error": 17, "fatal": 21, "debug": 5, "notice": 10, "10": 10, " info ": 9} {
		got, err := ParseLevel(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"loud", "0", "25", "-1", "9.5"} {
		_, err := ParseLevel(bad)
		assert.Error(t, err, bad)
	}
}

func TestFilterFromQueryClamped(t *testing.T) {
	for name, tc := range map[string]struct {
		v        url.Values
		from, to int64
	}{
		"to far in the future":         {url.Values{"to": {"9999-12-31T23:59:59Z"}}, 0, 0},
		"from far in the past":         {url.Values{"from": {"1500-01-01T00:00:00Z"}}, 0, 0},
		"relative from, far future to": {url.Values{"from": {"-24h"}, "to": {"2300-01-01T00:00:00Z"}}, now.Add(-24 * time.Hour).UnixNano(), 0},
		"far past to, far past from":   {url.Values{"from": {"1400-01-01T00:00:00Z"}, "to": {"1500-01-01T00:00:00Z"}}, 0, 1},
		"far future from":              {url.Values{"from": {"2300-01-01T00:00:00Z"}}, math.MaxInt64, 0},
	} {
		f, err := FilterFromQuery(tc.v, now)
		require.NoError(t, err, name)
		assert.Equal(t, [2]int64{tc.from, tc.to}, [2]int64{f.From, f.To}, name)
	}
	_, err := FilterFromQuery(url.Values{"from": {"2300-01-01T00:00:00Z"}, "to": {"now"}}, now)
	assert.Error(t, err, "a from after to is still an error")
}

func TestFilterFromProtoClamped(t *testing.T) {
	f, err := FilterFromProto(&sawmillv1.Filter{FromUnixNano: 5, ToUnixNano: math.MaxUint64})
	require.NoError(t, err)
	assert.Equal(t, [2]int64{5, 0}, [2]int64{f.From, f.To}, "a to past 2262 means no end")
	f, err = FilterFromProto(&sawmillv1.Filter{FromUnixNano: math.MaxInt64 + 1})
	require.NoError(t, err)
	assert.Equal(t, [2]int64{math.MaxInt64, 0}, [2]int64{f.From, f.To}, "a from past 2262 matches nothing")
	_, err = FilterFromProto(&sawmillv1.Filter{FromUnixNano: math.MaxUint64, ToUnixNano: 10})
	assert.Error(t, err, "from after to")
}

func TestFilterFromQuery(t *testing.T) {
	f, err := FilterFromQuery(url.Values{
		"service": {"orders,payments", " users "}, "level": {"warn"}, "q": {"card declined"},
		"attr": {"http.status:500", "user:id:7"}, "from": {"-1h"}, "to": {"now"},
	}, now)
	require.NoError(t, err)
	assert.Equal(t, store.Filter{
		Services: []string{"orders", "payments", "users"}, MinSeverity: 13, Text: "card declined",
		Attrs: []store.AttrMatch{{Key: "http.status", Value: "500"}, {Key: "user", Value: "id:7"}},
		From:  now.Add(-time.Hour).UnixNano(), To: now.UnixNano(),
	}, f)

	for name, v := range map[string]url.Values{
		"level": {"level": {"x"}}, "attr": {"attr": {"novalue"}}, "from": {"from": {"x"}},
		"to": {"to": {"x"}}, "order": {"from": {"-1m"}, "to": {"-1h"}}, "empty key": {"attr": {":v"}},
	} {
		_, err := FilterFromQuery(v, now)
		var pe *ParamError
		require.ErrorAs(t, err, &pe, name)
		assert.NotEmpty(t, pe.Param)
	}
}

func TestFilterFromProto(t *testing.T) {
	f, err := FilterFromProto(&sawmillv1.Filter{Services: []string{"a"}, MinSeverity: 13, Text: "x",
		Attributes: []*sawmillv1.AttributeMatch{{Key: "k", Value: "v"}}, FromUnixNano: 5, ToUnixNano: 10})
	require.NoError(t, err)
	assert.Equal(t, store.Filter{Services: []string{"a"}, MinSeverity: 13, Text: "x", Attrs: []store.AttrMatch{{Key: "k", Value: "v"}}, From: 5, To: 10}, f)
	_, err = FilterFromProto(&sawmillv1.Filter{FromUnixNano: 10, ToUnixNano: 5})
	assert.Error(t, err)
	_, err = FilterFromProto(&sawmillv1.Filter{Attributes: []*sawmillv1.AttributeMatch{{Value: "v"}}})
	assert.Error(t, err)
	f, err = FilterFromProto(nil)
	require.NoError(t, err)
	assert.Equal(t, store.Filter{}, f)
}

func TestStatsWindow(t *testing.T) {
	f := store.Filter{}
	step, err := StatsWindow(&f, 0, now)
	require.NoError(t, err)
	assert.Equal(t, 30*time.Second, step, "an hour in at most 120 buckets")
	assert.Equal(t, now.UnixNano(), f.To)
	assert.Equal(t, now.Add(-time.Hour).UnixNano(), f.From)

	f = store.Filter{From: now.Add(-24 * time.Hour).UnixNano()}
	step, err = StatsWindow(&f, 0, now)
	require.NoError(t, err)
	assert.Equal(t, 15*time.Minute, step)

	_, err = StatsWindow(&store.Filter{}, 1500*time.Millisecond, now)
	assert.Error(t, err)
	_, err = StatsWindow(&store.Filter{From: 1}, time.Second, now)
	assert.Error(t, err, "too many buckets")
}

func FuzzFilterFromQuery(f *testing.F) {
	for _, s := range []string{"service=a&level=warn&q=x&attr=k:v&from=-1h&to=now", "from=2026-11-23T03:00:00Z", "level=99", "attr=:", "from=-99999999999d", "to=9999-12-31T23:59:59Z", "from=1500-01-01T00:00:00Z", "from=-24h&to=2300-01-01T00:00:00Z", "from=-2562047h",
		"trace_id=4bf92f3577b34da6a3ce929d0e0e4736&span_id=00f067aa0ba902b7", "trace_id=4BF92F&logger=a&logger=b", "instance=i&environment=e&version=v&error_type=E"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		flt, err := FilterFromQuery(v, now)
		if err != nil {
			return
		}
		if flt.From != 0 && flt.To != 0 {
			require.Less(t, flt.From, flt.To)
		}
		require.True(t, len(flt.TraceID) == 0 || len(flt.TraceID) == 16, "trace id %x", flt.TraceID)
		require.True(t, len(flt.SpanID) == 0 || len(flt.SpanID) == 8, "span id %x", flt.SpanID)
		require.Equal(t, v.Get("logger"), flt.Logger)
		require.Equal(t, v.Get("instance"), flt.Instance)
		require.GreaterOrEqual(t, flt.From, int64(0), "times are clamped, never wrapped")
		require.GreaterOrEqual(t, flt.To, int64(0), "times are clamped, never wrapped")
		// A time that parses parses the same for both bounds inside the
		// representable range, and an RFC 3339 time never wraps.
		for _, p := range []string{"from", "to"} {
			if ts, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v.Get(p))); err == nil {
				got := flt.From
				if p == "to" {
					got = flt.To
				}
				if ts.After(minTime) && ts.Before(maxTime) {
					require.Equal(t, ts.UnixNano(), got, p)
				}
			}
		}
		require.GreaterOrEqual(t, flt.MinSeverity, int32(0))
		require.LessOrEqual(t, flt.MinSeverity, int32(24))
		m := store.NewMatcher(flt) // must not panic on any filter
		m.Match(&sawmillv1.Resource{Service: "svc"}, &sawmillv1.LogRecord{Body: "x", AttributesJson: []byte(`{"k":"v"}`), TimeUnixNano: uint64(now.UnixNano())})
	})
}
