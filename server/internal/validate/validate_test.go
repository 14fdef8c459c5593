package validate

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/jsonattr"
)

func TestBatchAcceptsWorkload(t *testing.T) {
	b := workloadBatch(100, testNow.Add(-time.Minute))
	assert.Nil(t, Batch(b, proto.Size(b), testNow, DefaultLimits))
}

func TestBatchRules(t *testing.T) {
	ts := uint64(testNow.Add(-time.Minute).UnixNano())
	rec := func(f func(r *sawmillv1.LogRecord)) func(b *sawmillv1.LogBatch) {
		return func(b *sawmillv1.LogBatch) { f(b.Records[1]) }
	}
	tests := []struct {
		name   string
		mutate func(b *sawmillv1.LogBatch)
		field  string // "" = valid
		desc   string // substring of the description
	}{
		// batch
		{"batch id max length", func(b *sawmillv1.LogBatch) { b.BatchId = strings.Repeat("x", 64) }, "", ""},
		{"batch id printable range", func(b *sawmillv1.LogBatch) { b.BatchId = "!~" }, "", ""},
		{"batch id empty", func(b *sawmillv1.LogBatch) { b.BatchId = "" }, "batch.batch_id", "must be 1-64 bytes, got 0"},
		{"batch id too long", func(b *sawmillv1.LogBatch) { b.BatchId = strings.Repeat("x", 65) }, "batch.batch_id", "got 65"},
		{"batch id space", func(b *sawmillv1.LogBatch) { b.BatchId = "a b" }, "batch.batch_id", "byte 1 is 0x20"},
		{"batch id DEL", func(b *sawmillv1.LogBatch) { b.BatchId = "a\x7f" }, "batch.batch_id", "byte 1 is 0x7f"},
		{"batch id non-ASCII", func(b *sawmillv1.LogBatch) { b.BatchId = "é" }, "batch.batch_id", "byte 0 is 0xc3"},
		{"no resource", func(b *sawmillv1.LogBatch) { b.Resource = nil }, "batch.resource", "is required"},
		{"no records", func(b *sawmillv1.LogBatch) { b.Records = nil }, "batch.records", "at least 1"},
		{"too many records", func(b *sawmillv1.LogBatch) {
			for len(b.Records) <= 10000 {
				b.Records = append(b.Records, b.Records[0])
			}
		}, "batch.records", "holds 10001 records, more than 10000"},
		{"nil record", func(b *sawmillv1.LogBatch) { b.Records[1] = nil }, "batch.records[1]", "is missing"},
		// resource
		{"service max", func(b *sawmillv1.LogBatch) { b.Resource.Service = strings.Repeat("s", 128) }, "", ""},
		{"service unicode", func(b *sawmillv1.LogBatch) { b.Resource.Service = "заказы" }, "", ""},
		{"service empty", func(b *sawmillv1.LogBatch) { b.Resource.Service = "" }, "batch.resource.service", "must be 1-128 bytes, got 0"},
		{"service too long", func(b *sawmillv1.LogBatch) { b.Resource.Service = strings.Repeat("s", 129) }, "batch.resource.service", "got 129"},
		{"service bad utf8", func(b *sawmillv1.LogBatch) { b.Resource.Service = "a\xffb" }, "batch.resource.service", "not valid UTF-8"},
		{"service control", func(b *sawmillv1.LogBatch) { b.Resource.Service = "a\nb" }, "batch.resource.service", "control character U+000A at byte 1"},
		{"service C1 control", func(b *sawmillv1.LogBatch) { b.Resource.Service = "a\u0085" }, "batch.resource.service", "U+0085"},
		{"instance max", func(b *sawmillv1.LogBatch) { b.Resource.Instance = strings.Repeat("i", 256) }, "", ""},
		{"instance too long", func(b *sawmillv1.LogBatch) { b.Resource.Instance = strings.Repeat("i", 257) }, "batch.resource.instance", "257 bytes, more than 256"},
		{"environment too long", func(b *sawmillv1.LogBatch) { b.Resource.Environment = strings.Repeat("e", 257) }, "batch.resource.environment", "more than 256"},
		{"version bad utf8", func(b *sawmillv1.LogBatch) { b.Resource.Version = "1.\xc0" }, "batch.resource.version", "first bad byte at 2"},
		{"resource attrs empty", func(b *sawmillv1.LogBatch) { b.Resource.AttributesJson = nil }, "", ""},
		{"resource attrs array", func(b *sawmillv1.LogBatch) { b.Resource.AttributesJson = []byte(`[1]`) }, "batch.resource.attributes_json", "must be a JSON object, found '[' at byte 0"},
		// record strings
		{"severity text max", rec(func(r *sawmillv1.LogRecord) { r.SeverityText = strings.Repeat("w", 32) }), "", ""},
		{"severity text too long", rec(func(r *sawmillv1.LogRecord) { r.SeverityText = strings.Repeat("w", 33) }), "batch.records[1].severity_text", "33 bytes, more than 32"},
		{"severity text bad utf8", rec(func(r *sawmillv1.LogRecord) { r.SeverityText = "\xff" }), "batch.records[1].severity_text", "not valid UTF-8"},
		{"body max", rec(func(r *sawmillv1.LogRecord) { r.Body = strings.Repeat("b", 64<<10) }), "", ""},
		{"body too long", rec(func(r *sawmillv1.LogRecord) { r.Body = strings.Repeat("b", 64<<10+1) }), "batch.records[1].body", "65537 bytes, more than 65536"},
		{"body bad utf8", rec(func(r *sawmillv1.LogRecord) { r.Body = "ok \xed\xa0\x80" }), "batch.records[1].body", "first bad byte at 3"},
		{"logger too long", rec(func(r *sawmillv1.LogRecord) { r.Logger = strings.Repeat("l", 257) }), "batch.records[1].logger", "more than 256"},
		{"logger bad utf8", rec(func(r *sawmillv1.LogRecord) { r.Logger = "\x80" }), "batch.records[1].logger", "not valid UTF-8"},
		{"source ok", rec(func(r *sawmillv1.LogRecord) {
			r.Source = &sawmillv1.SourceLocation{File: "main.go", Line: 12, Function: "main.run"}
		}), "", ""},
		{"source file bad utf8", rec(func(r *sawmillv1.LogRecord) { r.Source = &sawmillv1.SourceLocation{File: "\xff"} }), "batch.records[1].source.file", "not valid UTF-8"},
		{"source function bad utf8", rec(func(r *sawmillv1.LogRecord) { r.Source = &sawmillv1.SourceLocation{Function: "\xff"} }), "batch.records[1].source.function", "not valid UTF-8"},
		{"source negative line", rec(func(r *sawmillv1.LogRecord) { r.Source = &sawmillv1.SourceLocation{Line: -1} }), "batch.records[1].source.line", "must be >= 0"},
		{"error ok", rec(func(r *sawmillv1.LogRecord) {
			r.Error = &sawmillv1.ErrorInfo{Type: "*fs.PathError", Message: "open x: no such file", Stack: strings.Repeat("s", 256<<10)}
		}), "", ""},
		{"error type bad utf8", rec(func(r *sawmillv1.LogRecord) { r.Error = &sawmillv1.ErrorInfo{Type: "\xff"} }), "batch.records[1].error.type", "not valid UTF-8"},
		{"error message bad utf8", rec(func(r *sawmillv1.LogRecord) { r.Error = &sawmillv1.ErrorInfo{Message: "\xff"} }), "batch.records[1].error.message", "not valid UTF-8"},
		{"error stack bad utf8", rec(func(r *sawmillv1.LogRecord) { r.Error = &sawmillv1.ErrorInfo{Stack: "\xff"} }), "batch.records[1].error.stack", "not valid UTF-8"},
		{"error stack too long", rec(func(r *sawmillv1.LogRecord) { r.Error = &sawmillv1.ErrorInfo{Stack: strings.Repeat("s", 256<<10+1)} }), "batch.records[1].error.stack", "262145 bytes, more than 262144"},
		// severity
		{"severity 0", rec(func(r *sawmillv1.LogRecord) { r.SeverityNumber = 0 }), "", ""},
		{"severity 24", rec(func(r *sawmillv1.LogRecord) { r.SeverityNumber = 24 }), "", ""},
		{"severity 25", rec(func(r *sawmillv1.LogRecord) { r.SeverityNumber = 25 }), "batch.records[1].severity_number", "must be 0-24, got 25"},
		{"severity negative", rec(func(r *sawmillv1.LogRecord) { r.SeverityNumber = -1 }), "batch.records[1].severity_number", "got -1"},
		// times
		{"time zero", rec(func(r *sawmillv1.LogRecord) { r.TimeUnixNano = 0 }), "", ""},
		{"observed zero", rec(func(r *sawmillv1.LogRecord) { r.ObservedTimeUnixNano = 0 }), "", ""},
		{"time at min", rec(func(r *sawmillv1.LogRecord) { r.TimeUnixNano = uint64(DefaultLimits.MinTime.UnixNano()) }), "", ""},
		{"time before min", rec(func(r *sawmillv1.LogRecord) { r.TimeUnixNano = uint64(DefaultLimits.MinTime.UnixNano()) - 1 }),
			"batch.records[1].time_unix_nano", "(1999-12-31T23:59:59.999999999Z) is before 2000-01-01T00:00:00Z"},
		{"time in seconds", rec(func(r *sawmillv1.LogRecord) { r.TimeUnixNano = uint64(testNow.Unix()) }), "batch.records[1].time_unix_nano", "is before 2000"},
		{"time at max future", rec(func(r *sawmillv1.LogRecord) { r.TimeUnixNano = uint64(testNow.Add(24 * time.Hour).UnixNano()) }), "", ""},
		{"time too far in future", rec(func(r *sawmillv1.LogRecord) { r.TimeUnixNano = uint64(testNow.Add(24*time.Hour).UnixNano()) + 1 }),
			"batch.records[1].time_unix_nano", "is more than 24h0m0s in the future"},
		{"time beyond int64", rec(func(r *sawmillv1.LogRecord) { r.TimeUnixNano = ^uint64(0) }), "batch.records[1].time_unix_nano", "beyond year 2262"},
		{"observed before min", rec(func(r *sawmillv1.LogRecord) { r.ObservedTimeUnixNano = 1 }), "batch.records[1].observed_time_unix_nano", "is before 2000"},
		{"observed in future", rec(func(r *sawmillv1.LogRecord) { r.ObservedTimeUnixNano = uint64(testNow.Add(48 * time.Hour).UnixNano()) }),
			"batch.records[1].observed_time_unix_nano", "in the future"},
		// ids
		{"ids empty", rec(func(r *sawmillv1.LogRecord) { r.TraceId, r.SpanId = nil, nil }), "", ""},
		{"trace id short", rec(func(r *sawmillv1.LogRecord) { r.TraceId = make([]byte, 15) }), "batch.records[1].trace_id", "must be 16 bytes or empty, got 15"},
		{"trace id hex text", rec(func(r *sawmillv1.LogRecord) { r.TraceId = []byte("4bf92f3577b34da6a3ce929d0e0e4736") }), "batch.records[1].trace_id", "got 32"},
		{"span id long", rec(func(r *sawmillv1.LogRecord) { r.SpanId = make([]byte, 9) }), "batch.records[1].span_id", "must be 8 bytes or empty, got 9"},
		// attributes
		{"attrs empty", rec(func(r *sawmillv1.LogRecord) { r.AttributesJson = nil }), "", ""},
		{"attrs invalid", rec(func(r *sawmillv1.LogRecord) { r.AttributesJson = []byte(`{"a":01}`) }),
			"batch.records[1].attributes_json", "is not a valid attributes object: invalid number: leading zero at byte 5"},
		{"attrs too deep", rec(func(r *sawmillv1.LogRecord) {
			r.AttributesJson = []byte(`{"a":` + strings.Repeat("[", 16) + strings.Repeat("]", 16) + `}`)
		}), "batch.records[1].attributes_json", "has more than 16 nesting depth (at byte 20)"},
		// NUL and other edge characters are data (issue 11: one NUL must not cost the batch)
		{"NUL in every string field", rec(func(r *sawmillv1.LogRecord) {
			r.Body, r.SeverityText, r.Logger = "a\x00b", "w\x00", "l\x00"
			r.Error = &sawmillv1.ErrorInfo{Type: "T\x00", Message: "m\x00", Stack: "s\x00"}
			r.Source = &sawmillv1.SourceLocation{File: "f\x00", Function: "fn\x00"}
			r.AttributesJson = []byte(`{"k\u0000":"a\u0000b","n":[{"x":"\u0000"}]}`)
		}), "", ""},
		{"NUL in resource fields", func(b *sawmillv1.LogBatch) {
			b.Resource.Instance, b.Resource.Environment, b.Resource.Version = "i\x00", "e\x00", "v\x00"
			b.Resource.AttributesJson = []byte(`{"k":"\u0000"}`)
		}, "", ""},
		{"attrs number beyond a double", rec(func(r *sawmillv1.LogRecord) { r.AttributesJson = []byte(`{"x":1e999}`) }),
			"batch.records[1].attributes_json", "number beyond the range of a double"},
		{"attrs negative number beyond a double", rec(func(r *sawmillv1.LogRecord) { r.AttributesJson = []byte(`{"x":-1e999}`) }),
			"batch.records[1].attributes_json", "number beyond the range of a double (at most ±1.7976931348623157e308"},
		{"resource attrs number beyond a double", func(b *sawmillv1.LogBatch) { b.Resource.AttributesJson = []byte(`{"x":2e308}`) },
			"batch.resource.attributes_json", "number beyond the range of a double"},
		{"attrs bytes ok", rec(func(r *sawmillv1.LogRecord) { r.AttributesJson = []byte(`{"b":{"$bytes":"AAEC/w=="}}`) }), "", ""},
		{"attrs bytes not base64", rec(func(r *sawmillv1.LogRecord) { r.AttributesJson = []byte(`{"b":{"$bytes":"not base64!"}}`) }),
			"batch.records[1].attributes_json", `invalid base64 in "$bytes" value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := workloadBatch(3, time.Unix(0, int64(ts)))
			tt.mutate(b)
			vs := Batch(b, proto.Size(b), testNow, DefaultLimits)
			if tt.field == "" {
				assert.Empty(t, vs)
				return
			}
			require.Len(t, vs, 1, "%v", vs)
			assert.Equal(t, tt.field, vs[0].Field)
			assert.Contains(t, vs[0].Description, tt.desc)
		})
	}
}

func TestBatchNil(t *testing.T) {
	assert.Equal(t, []Violation{{"batch", "is missing"}}, Batch(nil, 0, testNow, DefaultLimits))
	vs := Batch(&sawmillv1.LogBatch{}, 0, testNow, DefaultLimits)
	assert.Equal(t, []string{"batch.batch_id", "batch.resource", "batch.records"}, fields(vs))
}

func TestBatchSize(t *testing.T) {
	b := workloadBatch(10, testNow)
	lim := DefaultLimits
	lim.MaxBatchBytes = proto.Size(b)
	assert.Empty(t, Batch(b, proto.Size(b), testNow, lim))
	vs := Batch(b, lim.MaxBatchBytes+1, testNow, lim)
	require.Len(t, vs, 1)
	assert.Equal(t, Violation{"batch", "is 3071 bytes encoded, more than 3070"}.Field, vs[0].Field)
	assert.Contains(t, vs[0].Description, "bytes encoded, more than")
	assert.Empty(t, Batch(b, 9<<20, testNow, Limits{}), "limit off")
}

func TestBatchCustomLimits(t *testing.T) {
	b := workloadBatch(5, testNow)
	lim := Limits{MaxRecords: 4, MaxBodyBytes: 10, MaxAttrs: jsonattr.Limits{MaxKeys: 6}}
	vs := Batch(b, proto.Size(b), testNow, lim)
	assert.Equal(t, "batch.records", vs[0].Field)
	assert.Equal(t, "holds 5 records, more than 4", vs[0].Description)
	assert.Len(t, vs, 1+5+5, "records, and body plus attributes of each record") // MaxViolations off
	assert.Equal(t, "batch.records[0].attributes_json", vs[2].Field)
	assert.Equal(t, "has more than 6 top-level keys (at byte 167)", vs[2].Description)

	lim = Limits{MinTime: testNow.Add(time.Hour)}
	vs = Batch(b, proto.Size(b), testNow, lim)
	assert.Len(t, vs, 10, "both times of 5 records before MinTime")
	assert.Contains(t, vs[0].Description, "is before 2026-03-01T13:00:00Z")
}

func TestBatchMaxViolations(t *testing.T) {
	b := workloadBatch(30, testNow)
	for _, r := range b.Records {
		r.TraceId = []byte{1}
		r.SpanId = []byte{2}
	}
	vs := Batch(b, proto.Size(b), testNow, DefaultLimits)
	require.Len(t, vs, 21)
	assert.Equal(t, "batch.records[9].span_id", vs[19].Field)
	assert.Equal(t, Violation{"batch", "40 more violations not listed"}, vs[20])

	lim := DefaultLimits
	lim.MaxViolations = 60
	assert.Len(t, Batch(b, proto.Size(b), testNow, lim), 60, "exactly at the cap: no summary")
	lim.MaxViolations = 0
	assert.Len(t, Batch(b, proto.Size(b), testNow, lim), 60, "cap off")
}

func TestBatchDoesNotAllocate(t *testing.T) {
	b := workloadBatch(50, testNow)
	b.Records[3].Source = &sawmillv1.SourceLocation{File: "main.go", Line: 1, Function: "f"}
	b.Records[4].Error = &sawmillv1.ErrorInfo{Type: "t", Message: "m", Stack: "s"}
	size := proto.Size(b)
	allocs := testing.AllocsPerRun(20, func() {
		if vs := Batch(b, size, testNow, DefaultLimits); vs != nil {
			t.Fatal(vs)
		}
	})
	assert.Zero(t, allocs)
}

func TestNormalize(t *testing.T) {
	now := uint64(testNow.UnixNano())
	b := workloadBatch(4, testNow.Add(-time.Second))
	r := b.Records
	r[0].TimeUnixNano, r[0].ObservedTimeUnixNano = 0, 0
	r[1].TimeUnixNano = 0
	r[2].SeverityNumber, r[2].SeverityText = 0, ""
	r[3].SeverityNumber, r[3].SeverityText = sawmillv1.SeverityNumber_SEVERITY_NUMBER_WARN3, ""
	obs1, t3 := r[1].ObservedTimeUnixNano, r[3].TimeUnixNano
	require.Empty(t, Batch(b, proto.Size(b), testNow, DefaultLimits))

	Normalize(b, testNow)
	assert.Equal(t, now, r[0].ObservedTimeUnixNano)
	assert.Equal(t, now, r[0].TimeUnixNano)
	assert.Equal(t, obs1, r[1].TimeUnixNano, "time falls back to the client's observed time")
	assert.Equal(t, sawmillv1.SeverityNumber_SEVERITY_NUMBER_INFO, r[2].SeverityNumber)
	assert.Equal(t, "INFO", r[2].SeverityText)
	assert.Equal(t, "WARN", r[3].SeverityText)
	assert.Equal(t, t3, r[3].TimeUnixNano, "set fields are kept")
	assert.Equal(t, "info", r[1].SeverityText, "set text is kept")
	assert.Empty(t, Batch(b, proto.Size(b), testNow, DefaultLimits))

	assert.NotPanics(t, func() {
		Normalize(nil, testNow)
		Normalize(&sawmillv1.LogBatch{Records: []*sawmillv1.LogRecord{nil}}, testNow)
	})
}

func TestLevelName(t *testing.T) {
	want := map[int32]string{0: "INFO", -3: "INFO", 25: "INFO", 1: "TRACE", 4: "TRACE", 5: "DEBUG", 8: "DEBUG",
		9: "INFO", 12: "INFO", 13: "WARN", 16: "WARN", 17: "ERROR", 20: "ERROR", 21: "FATAL", 24: "FATAL"}
	for sev, name := range want {
		assert.Equal(t, name, LevelName(sawmillv1.SeverityNumber(sev)), "severity %d", sev)
	}
}

func fields(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Field)
	}
	return out
}
