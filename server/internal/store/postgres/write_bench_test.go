package postgres_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres/pgtest"
)

// benchBatches builds n batches of size records shaped like the standard
// workload (BENCHMARKS.md, "The workload"): current times, ~300-byte attributes.
func benchBatches(prefix string, n, size int) []*sawmillv1.LogBatch {
	rng := rand.New(rand.NewPCG(1, 2))
	services := []string{"orders", "payments", "users"}
	sevs := []sawmillv1.SeverityNumber{9, 9, 9, 9, 9, 9, 9, 5, 5, 13}
	now := time.Now()
	out := make([]*sawmillv1.LogBatch, n)
	for i := range out {
		svc := services[i%len(services)]
		b := &sawmillv1.LogBatch{BatchId: fmt.Sprintf("%s-%d", prefix, i), Resource: &sawmillv1.Resource{Service: svc, Instance: svc + "-1"}}
		for j := 0; j < size; j++ {
			// The SDKs put the trace and span ids in the record's fields.
			tr, sp := make([]byte, 16), make([]byte, 8)
			binary.BigEndian.PutUint64(tr, rng.Uint64())
			binary.BigEndian.PutUint64(tr[8:], rng.Uint64())
			binary.BigEndian.PutUint64(sp, rng.Uint64())
			b.Records = append(b.Records, &sawmillv1.LogRecord{
				TimeUnixNano:   uint64(now.Add(time.Duration(i*size+j) * 10 * time.Microsecond).UnixNano()),
				SeverityNumber: sevs[rng.IntN(len(sevs))],
				Body:           fmt.Sprintf("order %d created for user %d in %d ms", rng.IntN(1e6), rng.IntN(1e5), rng.IntN(100)),
				AttributesJson: []byte(fmt.Sprintf(`{"http_method":"POST","http_path":"/api/%s/%d","http_status":%d,"duration_ms":%d.%d,"user_id":%d}`,
					svc, rng.IntN(1e6), []int{200, 201, 404, 500}[rng.IntN(4)], rng.IntN(100), rng.IntN(10), rng.IntN(1e5))),
				TraceId: tr,
				SpanId:  sp,
				Logger:  "main",
			})
		}
		out[i] = b
	}
	return out
}

// BenchmarkWriteBatches measures COPY into each layout: one operation is a
// transaction of 16 batches of 1,000 records (what a storage consumer
// hands the store under load). Run with -benchtime=20x or so: every
// operation adds 16,000 rows.
func BenchmarkWriteBatches(b *testing.B) {
	for _, mode := range []string{postgres.TimescaleOff, postgres.TimescaleRequire} {
		b.Run(mode, func(b *testing.B) {
			if mode == postgres.TimescaleRequire && !timescaleAvailable(b) {
				b.Skip("TimescaleDB is not available on this PostgreSQL")
			}
			ctx := context.Background()
			s, err := postgres.Open(ctx, pgtest.NewDatabase(b), postgres.Options{TimescaleDB: mode})
			require.NoError(b, err)
			defer s.Close()
			const perOp, size = 16, 1000
			bs := benchBatches(mode, b.N*perOp, size)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				n, err := s.WriteBatches(ctx, bs[i*perOp:(i+1)*perOp])
				if err != nil {
					b.Fatal(err)
				}
				if n != perOp*size {
					b.Fatalf("stored %d records, want %d", n, perOp*size)
				}
			}
			b.ReportMetric(float64(b.N*perOp*size)/time.Since(start).Seconds(), "rows/s")
		})
	}
}

// BenchmarkTraceSearch finds the one record of a trace among 1,000,000
// workload records (plain PostgreSQL mode) whose ids are both in the
// record's fields and in attributes: "attr" searches attr=trace_id:<hex>
// (what a trace search had to be before, a scan casting attributes to
// jsonb), "field" the trace_id filter (the partial btree index). Building
// the store takes a minute: run with -benchtime=5x.
func BenchmarkTraceSearch(b *testing.B) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.NewDatabase(b), postgres.Options{TimescaleDB: postgres.TimescaleOff})
	require.NoError(b, err)
	defer s.Close()
	const perOp, size, ops = 16, 1000, 63 // 1,008,000 records
	var needle []byte
	for i := 0; i < ops; i++ {
		bs := benchBatches(fmt.Sprint("trace-", i), perOp, size)
		for j, bt := range bs {
			bt.BatchId = fmt.Sprintf("trace-%d-%d", i, j)
			for _, r := range bt.Records {
				// benchBatches repeats its ids from call to call: make them unique.
				r.TraceId[14], r.TraceId[15] = byte(i), byte(j)
				r.AttributesJson = fmt.Appendf(nil, `{"trace_id":"%x","span_id":"%x",%s`, r.TraceId, r.SpanId, r.AttributesJson[1:])
			}
		}
		if i == ops/2 {
			needle = bs[3].Records[500].TraceId
		}
		_, err := s.WriteBatches(ctx, bs)
		require.NoError(b, err)
	}
	for name, f := range map[string]store.Filter{
		"attr":  {Attrs: []store.AttrMatch{{Key: "trace_id", Value: fmt.Sprintf("%x", needle)}}},
		"field": {TraceID: needle},
	} {
		b.Run(name, func(b *testing.B) {
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
