package validate

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

// BenchmarkBatch validates a 1000-record batch of the standard workload.
func BenchmarkBatch(b *testing.B) {
	const n = 1000
	batch := workloadBatch(n, testNow)
	size := proto.Size(batch)
	b.ReportAllocs()
	b.SetBytes(int64(size))
	for b.Loop() {
		if vs := Batch(batch, size, testNow, DefaultLimits); vs != nil {
			b.Fatal(vs)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
}

// BenchmarkNormalize fills the defaults of a 1000-record batch.
func BenchmarkNormalize(b *testing.B) {
	const n = 1000
	batch := workloadBatch(n, testNow)
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range batch.Records {
			r.TimeUnixNano, r.ObservedTimeUnixNano, r.SeverityNumber, r.SeverityText = 0, 0, 0, ""
		}
		Normalize(batch, testNow)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
}
