package sawmilltest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/sdk/sawmilltest"
)

func TestValidate(t *testing.T) {
	ok := func() *sawmillv1.LogBatch {
		return &sawmillv1.LogBatch{BatchId: "b1", Resource: &sawmillv1.Resource{Service: "s"},
			Records: []*sawmillv1.LogRecord{{Body: "x", AttributesJson: []byte(`{"a":1}`)}}}
	}
	assert.Empty(t, sawmilltest.Validate(ok()))
	nul := ok()
	nul.Records[0].Body = "a\x00b"
	assert.Empty(t, sawmilltest.Validate(nul), "NUL is valid UTF-8 in a text field")
	nul.Records[0].AttributesJson = []byte(`{"k\u0000":"a\u0000b"}`)
	assert.Empty(t, sawmilltest.Validate(nul), "the escape \\u0000 is accepted in attributes")
	tests := []struct {
		name  string
		mod   func(b *sawmillv1.LogBatch)
		field string
	}{
		{"no id", func(b *sawmillv1.LogBatch) { b.BatchId = "" }, "batch.batch_id"},
		{"space in id", func(b *sawmillv1.LogBatch) { b.BatchId = "a b" }, "batch.batch_id"},
		{"no service", func(b *sawmillv1.LogBatch) { b.Resource.Service = "" }, "batch.resource.service"},
		{"no records", func(b *sawmillv1.LogBatch) { b.Records = nil }, "batch.records"},
		{"attrs not object", func(b *sawmillv1.LogBatch) { b.Records[0].AttributesJson = []byte(`[1]`) }, "batch.records[0].attributes_json"},
		{"attrs invalid", func(b *sawmillv1.LogBatch) { b.Records[0].AttributesJson = []byte(`{"a":}`) }, "batch.records[0].attributes_json"},
		{"attrs too deep", func(b *sawmillv1.LogBatch) {
			b.Records[0].AttributesJson = []byte(`{"a":` + strings.Repeat("[", 16) + strings.Repeat("]", 16) + `}`)
		}, "batch.records[0].attributes_json"},
		{"body invalid utf8", func(b *sawmillv1.LogBatch) { b.Records[0].Body = "\xff" }, "batch.records[0].body"},
		{"trace id size", func(b *sawmillv1.LogBatch) { b.Records[0].TraceId = []byte{1} }, "batch.records[0].trace_id"},
		// Rules sawmilltest used to miss, so a test passed here and failed in production.
		{"lone surrogate", func(b *sawmillv1.LogBatch) { b.Records[0].AttributesJson = []byte(`{"a":"\udc00"}`) }, "batch.records[0].attributes_json"},
		{"reserved key", func(b *sawmillv1.LogBatch) { b.Records[0].AttributesJson = []byte(`{"$ref":1}`) }, "batch.records[0].attributes_json"},
		{"number beyond a double", func(b *sawmillv1.LogBatch) { b.Records[0].AttributesJson = []byte(`{"a":1e999}`) }, "batch.records[0].attributes_json"},
		{"service control char", func(b *sawmillv1.LogBatch) { b.Resource.Service = "a\tb" }, "batch.resource.service"},
		{"instance too long", func(b *sawmillv1.LogBatch) { b.Resource.Instance = strings.Repeat("i", 257) }, "batch.resource.instance"},
		{"observed time ahead", func(b *sawmillv1.LogBatch) {
			b.Records[0].ObservedTimeUnixNano = uint64(time.Now().Add(25 * time.Hour).UnixNano())
		}, "batch.records[0].observed_time_unix_nano"},
		{"negative line", func(b *sawmillv1.LogBatch) { b.Records[0].Source = &sawmillv1.SourceLocation{Line: -1} }, "batch.records[0].source.line"},
		{"stack too long", func(b *sawmillv1.LogBatch) {
			b.Records[0].Error = &sawmillv1.ErrorInfo{Stack: strings.Repeat("s", 256<<10+1)}
		}, "batch.records[0].error.stack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := ok()
			tt.mod(b)
			v := sawmilltest.Validate(b)
			if assert.NotEmpty(t, v) {
				assert.Equal(t, tt.field, v[0].GetField())
			}
		})
	}
}
