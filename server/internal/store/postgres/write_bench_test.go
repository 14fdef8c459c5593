package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres/pgtest"
)

// benchBatches builds n batches of size records shaped like the standard
// workload (../shared/WORKLOAD.md): current times, ~300-byte attributes.
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
			b.Records = append(b.Records, &sawmillv1.LogRecord{
				TimeUnixNano:   uint64(now.Add(time.Duration(i*size+j) * 10 * time.Microsecond).UnixNano()),
				SeverityNumber: sevs[rng.IntN(len(sevs))],
				Body:           fmt.Sprintf("order %d created for user %d in %d ms", rng.IntN(1e6), rng.IntN(1e5), rng.IntN(100)),
				AttributesJson: []byte(fmt.Sprintf(`{"trace_id":"%032x","span_id":"%016x","http_method":"POST","http_path":"/api/%s/%d","http_status":%d,"duration_ms":%d.%d,"user_id":%d}`,
					rng.Uint64(), rng.Uint64(), svc, rng.IntN(1e6), []int{200, 201, 404, 500}[rng.IntN(4)], rng.IntN(100), rng.IntN(10), rng.IntN(1e5))),
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
