package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
	"github.com/sawmill-dev/sawmill/server/internal/store/sqlite"
)

// workloadBatch builds a 1000-record batch shaped like the standard
// workload (BENCHMARKS.md, "The workload"): ~60-byte messages, 7 attributes.
func workloadBatch(rng *rand.Rand, svc string, seq int, at time.Time) *sawmillv1.LogBatch {
	b := &sawmillv1.LogBatch{BatchId: fmt.Sprintf("%s-%d-%x", svc, seq, rng.Uint64()), Resource: &sawmillv1.Resource{Service: svc, Instance: svc + "-1"}}
	for i := 0; i < 1000; i++ {
		sev := sawmillv1.SeverityNumber_SEVERITY_NUMBER_INFO
		switch n := rng.IntN(100); {
		case n < 20:
			sev = sawmillv1.SeverityNumber_SEVERITY_NUMBER_DEBUG
		case n < 28:
			sev = sawmillv1.SeverityNumber_SEVERITY_NUMBER_WARN
		case n < 30:
			sev = sawmillv1.SeverityNumber_SEVERITY_NUMBER_ERROR
		}
		b.Records = append(b.Records, &sawmillv1.LogRecord{
			TimeUnixNano:         uint64(at.Add(time.Duration(i) * 10 * time.Microsecond).UnixNano()),
			ObservedTimeUnixNano: uint64(at.UnixNano()),
			SeverityNumber:       sev,
			Body:                 fmt.Sprintf("order %d created for user %d in %d ms", rng.IntN(1e6), rng.IntN(1e5), rng.IntN(500)),
			AttributesJson: fmt.Appendf(nil, `{"trace_id":"%016x%016x","span_id":"%016x","http_method":"POST","http_path":"/api/orders/%d","http_status":201,"duration_ms":%d.5,"user_id":%d}`,
				rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.IntN(1e6), rng.IntN(500), rng.IntN(1e5)),
		})
	}
	return b
}

// BenchmarkWrite stores deliveries of 8 workload batches (8,000 records),
// the way the queue hands them to the store.
func BenchmarkWrite(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "logs.db"), sqlite.Options{})
	require.NoError(b, err)
	defer func() { _ = s.Close() }()
	rng := rand.New(rand.NewPCG(1, 2))
	at := time.Now()
	var deliveries [][]*sawmillv1.LogBatch
	for i := 0; i < 16; i++ {
		var d []*sawmillv1.LogBatch
		for j := 0; j < 8; j++ {
			d = append(d, workloadBatch(rng, []string{"orders", "payments", "users"}[j%3], i*8+j, at))
		}
		deliveries = append(deliveries, d)
	}
	b.ReportAllocs()
	b.ResetTimer()
	records := 0
	for i := 0; i < b.N; i++ {
		d := deliveries[i%len(deliveries)]
		if i >= len(deliveries) { // fresh ids so nothing is skipped as a duplicate
			for j, bt := range d {
				bt.BatchId = fmt.Sprintf("b%d-%d", i, j)
			}
		}
		n, err := s.WriteBatches(ctx, d)
		require.NoError(b, err)
		records += n
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(records, 1)), "ns/record")
}

// BenchmarkSearch runs dashboard-like queries over 300,000 stored records.
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "logs.db"), sqlite.Options{CacheRecords: 1})
	require.NoError(b, err)
	defer func() { _ = s.Close() }()
	rng := rand.New(rand.NewPCG(3, 4))
	at := time.Now().Add(-time.Minute)
	for i := 0; i < 300; i++ {
		_, err := s.WriteBatches(ctx, []*sawmillv1.LogBatch{workloadBatch(rng, []string{"orders", "payments", "users"}[i%3], i, at.Add(time.Duration(i)*30*time.Millisecond))})
		require.NoError(b, err)
	}
	for name, q := range map[string]store.SearchQuery{
		"newest_page":      {Limit: 100},
		"service_errors":   {Filter: store.Filter{Services: []string{"payments"}, MinSeverity: 17}, Limit: 100},
		"text_rare":        {Filter: store.Filter{Text: "order 123456 "}, Limit: 100},
		"attr_rare":        {Filter: store.Filter{Attrs: []store.AttrMatch{{Key: "user_id", Value: "4242"}}}, Limit: 100},
		"time_window_page": {Filter: store.Filter{From: at.Add(3 * time.Second).UnixNano(), To: at.Add(4 * time.Second).UnixNano()}, Limit: 100},
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				_, err := s.Search(ctx, q)
				require.NoError(b, err)
			}
		})
	}
	b.Run("count_all", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, err := s.Count(ctx, store.Filter{MinSeverity: 13})
			require.NoError(b, err)
		}
	})
	b.Run("count_text", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, err := s.Count(ctx, store.Filter{Text: "created"})
			require.NoError(b, err)
		}
	})
}

// BenchmarkTraceSearch finds the one record of a trace among 1,000,000
// records of the standard workload (a random trace and span id per record):
// "attr" stores the ids as attributes and searches attr=trace_id:<hex> (the
// only trace search before the trace_id filter, pruned by the text/attribute
// bloom); "field" stores them in the record's trace_id/span_id fields, as
// the SDKs do, and searches with the trace_id filter (the fields bloom).
// Run with -benchtime=20x: building each store takes a few seconds.
func BenchmarkTraceSearch(b *testing.B) {
	ctx := context.Background()
	const batches = 1000 // of 1,000 records
	for _, mode := range []string{"attr", "field"} {
		b.Run(mode, func(b *testing.B) {
			s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "logs.db"), sqlite.Options{CacheRecords: 1})
			require.NoError(b, err)
			defer func() { _ = s.Close() }()
			rng := rand.New(rand.NewPCG(5, 6))
			at := time.Now().Add(-time.Hour)
			var needle []byte
			for i := 0; i < batches; i++ {
				bt := workloadBatch(rng, []string{"orders", "payments", "users"}[i%3], i, at.Add(time.Duration(i)*10*time.Millisecond))
				for j, r := range bt.Records {
					tr, sp := make([]byte, 16), make([]byte, 8)
					for k := range tr {
						tr[k] = byte(rng.Uint32())
					}
					for k := range sp {
						sp[k] = byte(rng.Uint32())
					}
					if i == batches/2 && j == 500 {
						needle = tr
					}
					if mode == "attr" {
						r.AttributesJson = fmt.Appendf(nil, `{"trace_id":"%x","span_id":"%x","http_method":"POST","http_status":201,"user_id":%d}`, tr, sp, rng.IntN(1e5))
					} else {
						r.TraceId, r.SpanId = tr, sp
						r.AttributesJson = fmt.Appendf(nil, `{"http_method":"POST","http_status":201,"user_id":%d}`, rng.IntN(1e5))
					}
				}
				_, err := s.WriteBatches(ctx, []*sawmillv1.LogBatch{bt})
				require.NoError(b, err)
			}
			f := store.Filter{TraceID: needle}
			if mode == "attr" {
				f = store.Filter{Attrs: []store.AttrMatch{{Key: "trace_id", Value: fmt.Sprintf("%x", needle)}}}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, err := s.Search(ctx, store.SearchQuery{Filter: f, Limit: 100})
				require.NoError(b, err)
				if len(p.Entries) != 1 {
					b.Fatalf("found %d records of the trace, want 1", len(p.Entries))
				}
			}
		})
	}
}
