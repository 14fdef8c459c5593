package validate

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

func FuzzBatch(f *testing.F) {
	valid := workloadBatch(2, testNow)
	bad := workloadBatch(2, testNow)
	bad.BatchId = "a b"
	bad.Resource.Service = "\xff"
	bad.Records[0].TraceId = []byte{1}
	bad.Records[1].AttributesJson = []byte(`{"a":01}`)
	bad.Records[1].Error = &sawmillv1.ErrorInfo{Stack: "\xc0"}
	defaults := workloadBatch(1, testNow)
	defaults.Records[0] = &sawmillv1.LogRecord{Body: "x"}
	for _, b := range []*sawmillv1.LogBatch{valid, bad, defaults, {}, {Resource: &sawmillv1.Resource{}}} {
		data, err := proto.Marshal(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	lim := DefaultLimits
	lim.MaxViolations = 5
	f.Fuzz(func(t *testing.T, data []byte) {
		var b sawmillv1.LogBatch
		if proto.Unmarshal(data, &b) != nil {
			return
		}
		vs := Batch(&b, len(data), testNow, lim)
		if len(vs) > lim.MaxViolations+1 {
			t.Fatalf("%d violations listed, want at most %d", len(vs), lim.MaxViolations+1)
		}
		for _, v := range vs {
			if !strings.HasPrefix(v.Field, "batch") || v.Description == "" {
				t.Fatalf("malformed violation %+v", v)
			}
		}
		if vs != nil {
			return
		}
		Normalize(&b, testNow)
		if vs := Batch(&b, len(data), testNow, lim); vs != nil {
			t.Fatalf("valid batch invalid after Normalize: %v", vs)
		}
		for i, r := range b.GetRecords() {
			if r.TimeUnixNano == 0 || r.ObservedTimeUnixNano == 0 || r.SeverityNumber == 0 || r.SeverityText == "" {
				t.Fatalf("record %d not normalized: %v", i, r)
			}
		}
	})
}
