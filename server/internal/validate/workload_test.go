package validate

import (
	"fmt"
	"time"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

// testNow is the server time of the tests: 2026-03-01 12:00 UTC.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// workloadAttrs returns the attributes of record i of the standard workload.
func workloadAttrs(i int) []byte {
	return fmt.Appendf(nil,
		`{"trace_id":"%032x","span_id":"%016x","http_method":"POST","http_path":"/api/orders/%d","http_status":201,"duration_ms":%d.5,"user_id":%d}`,
		0x4bf92f3577b34da6+i, 0x00f067aa0ba902b7+i, 482913+i, 12+i%100, 77310+i%1000)
}

// workloadRecord returns record i of the standard workload (~60-byte
// message, 7 attributes) logged at t.
func workloadRecord(i int, t time.Time) *sawmillv1.LogRecord {
	return &sawmillv1.LogRecord{
		TimeUnixNano:         uint64(t.UnixNano()) + uint64(i),
		ObservedTimeUnixNano: uint64(t.UnixNano()) + uint64(i) + 1000,
		SeverityNumber:       sawmillv1.SeverityNumber_SEVERITY_NUMBER_INFO,
		SeverityText:         "info",
		Body:                 fmt.Sprintf("order %06d accepted for user %05d, payment captured ok", 482913+i, 77310+i%1000),
		AttributesJson:       workloadAttrs(i),
		TraceId:              []byte("0123456789abcdef"),
		SpanId:               []byte("01234567"),
		Logger:               "orders.http",
	}
}

// workloadBatch returns a valid batch of n standard-workload records.
func workloadBatch(n int, t time.Time) *sawmillv1.LogBatch {
	b := &sawmillv1.LogBatch{
		BatchId: "01J9Z8Q4W5X6Y7Z8A9B0C1D2E3",
		Resource: &sawmillv1.Resource{
			Service:        "orders",
			Instance:       "orders-1",
			Environment:    "production",
			Version:        "1.4.2",
			AttributesJson: []byte(`{"region":"eu-west-1"}`),
		},
		Records: make([]*sawmillv1.LogRecord, n),
	}
	for i := range b.Records {
		b.Records[i] = workloadRecord(i, t)
	}
	return b
}
