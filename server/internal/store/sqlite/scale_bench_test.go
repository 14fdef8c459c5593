package sqlite

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

var scaleRecords = flag.Int("scale.records", 100_000, "records of each store BenchmarkSearchScale builds")

// Planted by scaleBatch: the rare phrase in record n/5, the rare user id in
// record n/6 (the other user ids are 100000-199999) and the needle token
// in record n/3.
const (
	scaleRarePhrase = "order 123456 "
	scaleRareUser   = "4242"
	scaleNeedle     = "ndl5a3d1e0f00c0ffee"
)

// scaleBatch returns records [first, first+1000) of an n-record store of
// shape, as one batch of service svc.
func scaleBatch(rng *rand.Rand, shape fpShape, svc string, first, n int, at time.Time) *sawmillv1.LogBatch {
	b := &sawmillv1.LogBatch{BatchId: fmt.Sprintf("%s-%d", svc, first), Resource: &sawmillv1.Resource{Service: svc}}
	var body []byte
	for i := first; i < first+1000 && i < n; i++ {
		body = body[:0]
		if i == n/5 {
			body = append(body, scaleRarePhrase+"planted, "...)
		}
		body = shape.body(rng, body)
		if i == n/3 {
			body = append(body, " req="+scaleNeedle...)
		}
		user := 1e5 + rng.IntN(1e5)
		if i == n/6 {
			user = 4242
		}
		b.Records = append(b.Records, &sawmillv1.LogRecord{
			TimeUnixNano:   uint64(at.Add(time.Duration(i) * time.Millisecond).UnixNano()),
			SeverityNumber: sawmillv1.SeverityNumber_SEVERITY_NUMBER_INFO,
			Body:           string(body),
			AttributesJson: fmt.Appendf(nil, `{"trace_id":"%016x%016x","span_id":"%016x","http_method":"POST","http_path":"/api/orders/%d","http_status":201,"duration_ms":%d.5,"user_id":%d}`,
				rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.IntN(1e6), rng.IntN(500), user),
		})
	}
	return b
}

// BenchmarkSearchScale builds a store of -scale.records records (default
// 100,000) of the standard and the long-line shape, in deliveries of 8,000
// records of one service (one block each), and times searches for a rare
// phrase, a rare attribute value and a needle token, each in one or two
// records. It reports the filter and data bytes a record, and the build's
// records/s (ingest cost, filter included).
//
//	go test -run '^$' -bench SearchScale -benchtime 20x ./internal/store/sqlite -args -scale.records=1000000
func BenchmarkSearchScale(b *testing.B) {
	for _, sh := range fpShapes {
		if sh.name != "standard" && sh.name != "longline" {
			continue
		}
		b.Run(sh.name, func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, filepath.Join(b.TempDir(), "logs.db"), Options{CacheRecords: 1})
			require.NoError(b, err)
			defer func() { _ = s.Close() }()
			rng := rand.New(rand.NewPCG(5, 6))
			n := *scaleRecords
			at := time.Now().Add(-time.Duration(n) * time.Millisecond)
			start := time.Now()
			for first, d := 0, 0; first < n; d++ {
				svc := []string{"orders", "payments", "users"}[d%3]
				var del []*sawmillv1.LogBatch
				for j := 0; j < 8 && first < n; j++ {
					del = append(del, scaleBatch(rng, sh, svc, first, n, at))
					first += 1000
				}
				_, err := s.WriteBatches(ctx, del)
				require.NoError(b, err)
			}
			build := time.Since(start)
			var filterB, dataB, recs int64
			require.NoError(b, s.rdb.QueryRowContext(ctx, `SELECT sum(length(bloom)), sum(length(data)), sum(records) FROM blocks`).Scan(&filterB, &dataB, &recs))
			b.Logf("%s: %d records in %v (%.0f records/s incl. generation), filter %.1f B/record, data %.1f B/record",
				sh.name, recs, build.Round(time.Millisecond), float64(recs)/build.Seconds(), float64(filterB)/float64(recs), float64(dataB)/float64(recs))
			for _, q := range []struct {
				name string
				f    store.Filter
			}{
				{"rare_phrase", store.Filter{Text: scaleRarePhrase}},
				{"rare_attr", store.Filter{Attrs: []store.AttrMatch{{Key: "user_id", Value: scaleRareUser}}}},
				{"needle", store.Filter{Text: scaleNeedle}},
			} {
				b.Run(q.name, func(b *testing.B) {
					hits := 0
					for range b.N {
						p, err := s.Search(ctx, store.SearchQuery{Filter: q.f, Limit: 1000})
						require.NoError(b, err)
						hits = len(p.Entries)
					}
					b.ReportMetric(float64(hits), "hits")
					b.ReportMetric(float64(filterB)/float64(recs), "filter-B/record")
				})
			}
		})
	}
}
