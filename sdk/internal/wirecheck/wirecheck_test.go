package wirecheck

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

func TestAttrs(t *testing.T) {
	tests := []struct {
		doc string
		ok  bool
	}{
		{``, true},
		{`{}`, true},
		{`{"a":1,"b":[1.5,"x",{"c":null}],"d":true}`, true},
		{`{"b":{"$bytes":"AAEC"}}`, true},
		{`{"b":{"$bytes":""}}`, true},
		{`{"s":"a\u00e9\ud83d\ude00"}`, true},
		{`{"s":"a\u0000b","k\u0000":1}`, true},
		{`{"s":"\ud800"}`, false},
		{`{"s":"\udc00"}`, false},
		{"{\"s\":\"\x00\"}", false},
		{"{\"s\":\"\xff\"}", false},
		{`{"$foo":1}`, false},
		{`{"b":{"$bytes":"!!"}}`, false},
		{`{"b":{"$bytes":1}}`, false},
		{`{"b":{"x":1,"$bytes":"AA=="}}`, false},
		{`{"b":{"$bytes":"AA==","x":1}}`, false},
		{`[1]`, false},
		{`{"a":1e308,"b":-1.7976931348623157e308,"c":5e-324,"d":1e-400,"e":18446744073709551615}`, true},
		{`{"a":1e999}`, false},
		{`{"a":-1e309}`, false},
		{`{"a":` + strings.Repeat("9", 400) + `}`, false},
		{`{"a":1e-16384}`, false},
		{`{"a":0e-99999}`, false},
		{`{"a":1.5e-99999999999999999999}`, false},
		{`{"a":1.5e99999999999999999999}`, false},
		{`{"a":1e-16383,"b":0.5e-16382}`, true},
		{`{"a":1,}`, false},
		{`{"a":` + strings.Repeat("[", 15) + strings.Repeat("]", 15) + `}`, true},
		{`{"a":` + strings.Repeat("[", 16) + strings.Repeat("]", 16) + `}`, false},
		{`{"a":"` + strings.Repeat("x", MaxAttrsBytes) + `"}`, false},
	}
	for _, tt := range tests {
		err := Attrs([]byte(tt.doc))
		if tt.ok {
			assert.NoError(t, err, "%.80s", tt.doc)
		} else {
			assert.Error(t, err, "%.80s", tt.doc)
		}
	}
	var many strings.Builder
	many.WriteString("{")
	for i := range MaxAttrsKeys + 1 {
		if i > 0 {
			many.WriteString(",")
		}
		many.WriteString(`"k":1`)
	}
	many.WriteString("}")
	assert.Error(t, Attrs([]byte(many.String())), "129 top-level keys")
}

func TestBatch(t *testing.T) {
	now := time.Now()
	ok := func() *sawmillv1.LogBatch {
		return &sawmillv1.LogBatch{BatchId: "b1", Resource: &sawmillv1.Resource{Service: "s"},
			Records: []*sawmillv1.LogRecord{{Body: "x\x00y", TimeUnixNano: uint64(now.UnixNano())}}}
	}
	assert.Empty(t, Batch(ok(), now), "NUL is valid UTF-8 in a string field")
	tests := []struct {
		name  string
		mod   func(b *sawmillv1.LogBatch)
		field string
	}{
		{"service control", func(b *sawmillv1.LogBatch) { b.Resource.Service = "a\nb" }, "batch.resource.service"},
		{"time before 2000", func(b *sawmillv1.LogBatch) { b.Records[0].TimeUnixNano = 1 }, "batch.records[0].time_unix_nano"},
		{"observed ahead", func(b *sawmillv1.LogBatch) {
			b.Records[0].ObservedTimeUnixNano = uint64(now.Add(25 * time.Hour).UnixNano())
		}, "batch.records[0].observed_time_unix_nano"},
		{"stack", func(b *sawmillv1.LogBatch) {
			b.Records[0].Error = &sawmillv1.ErrorInfo{Stack: strings.Repeat("s", MaxStackBytes+1)}
		}, "batch.records[0].error.stack"},
		{"line", func(b *sawmillv1.LogBatch) { b.Records[0].Source = &sawmillv1.SourceLocation{Line: -1} }, "batch.records[0].source.line"},
		{"severity", func(b *sawmillv1.LogBatch) { b.Records[0].SeverityNumber = 25 }, "batch.records[0].severity_number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := ok()
			tt.mod(b)
			v := Batch(b, now)
			if assert.NotEmpty(t, v) {
				assert.Equal(t, tt.field, v[0].Field)
			}
		})
	}
}
