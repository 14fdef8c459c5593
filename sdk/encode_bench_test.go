package sawmill

import (
	"testing"
	"time"
)

// BenchmarkEncodeRecord measures what a log call spends on encoding: the
// attributes document of the standard workload (7 fields) and the record
// around it, without the batch buffer or any network. It must stay at 0
// allocs/op.
func BenchmarkEncodeRecord(b *testing.B) {
	now := time.Now()
	var a Attrs
	r := &Record{Time: now, Severity: SeverityInfo, SeverityText: "info",
		Body: "order 482913 created for user 77310 in 12 ms", Logger: "orders.http",
		Source: Source{File: "/src/orders/http.go", Line: 120, Function: "orders.(*Server).create"}}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		a.Reset()
		a.Key("http_method")
		a.String("POST")
		a.Key("http_path")
		a.String("/api/v1/orders")
		a.Key("http_status")
		a.Int(201)
		a.Key("duration_ms")
		a.Float(12.5)
		a.Key("user_id")
		a.Int(77310)
		a.Key("note")
		a.String("tab\tquote\" and é")
		buf = appendRecord(buf[:0], r, a.Bytes(), now)
	}
}
