package sqlite

import (
	"context"
	"encoding/hex"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sawmill-dev/sawmill/server/internal/store"
)

var (
	fileDB     = flag.String("file.db", "", "BenchmarkFile: a store file to query (copied first; e.g. one the search harness kept with --keep)")
	fileNeedle = flag.String("file.needle", "", "BenchmarkFile: the needle token to search")
	fileTrace  = flag.String("file.trace", "5a3d1e0f00c0ffee5a3d1e0f00c0ffee", "BenchmarkFile: the trace id to search")
)

// BenchmarkFile asks the day workload's pruned questions (BENCHMARKS.md,
// "Search at the scale of a day") of a copy of an existing store file,
// e.g. the one `go run ./bench search --keep` leaves, so that two versions
// of this package can be compared on the same records:
//
//	go test -run '^$' -bench File -benchtime 5x ./internal/store/sqlite -args -file.db=/tmp/.../data/logs.db -file.needle=ndl...
//
// "cold" sub-benchmarks open the store for every run (nothing cached).
func BenchmarkFile(b *testing.B) {
	if *fileDB == "" {
		b.Skip("no -file.db")
	}
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "logs.db")
	copyFile(b, *fileDB, path)
	open := func() *Store {
		s, err := Open(ctx, path, Options{})
		require.NoError(b, err)
		return s
	}
	s := open()
	defer func() { _ = s.Close() }()
	var minT, maxT int64
	require.NoError(b, s.rdb.QueryRowContext(ctx, `SELECT min(min_time), max(max_time) FROM blocks`).Scan(&minT, &maxT))
	trace, err := hex.DecodeString(*fileTrace)
	require.NoError(b, err)
	searches := []struct {
		name string
		f    store.Filter
	}{
		{"rare_phrase", store.Filter{Text: "order 123456 "}},
		{"rare_attr", store.Filter{Attrs: []store.AttrMatch{{Key: "user_id", Value: "4242"}}}},
		{"trace", store.Filter{TraceID: trace}},
	}
	if *fileNeedle != "" {
		searches = append(searches, struct {
			name string
			f    store.Filter
		}{"needle", store.Filter{Text: *fileNeedle}})
	}
	for _, q := range searches {
		b.Run(q.name, func(b *testing.B) {
			hits := 0
			for range b.N {
				p, err := s.Search(ctx, store.SearchQuery{Filter: q.f, Limit: 1000})
				require.NoError(b, err)
				hits = len(p.Entries)
			}
			b.ReportMetric(float64(hits), "hits")
		})
		b.Run(q.name+"_cold", func(b *testing.B) {
			for range b.N {
				c := open()
				_, err := c.Search(ctx, store.SearchQuery{Filter: q.f, Limit: 1000})
				require.NoError(b, err)
				require.NoError(b, c.Close())
			}
		})
	}
	end := time.Unix(0, maxT)
	for _, q := range []struct {
		name string
		span time.Duration
		step time.Duration
	}{
		{"stats_24h_1h", 24 * time.Hour, time.Hour},
		{"stats_24h_15m", 24 * time.Hour, 15 * time.Minute},
		{"stats_24h_5m", 24 * time.Hour, 5 * time.Minute},
		{"stats_1h_10s", time.Hour, 10 * time.Second},
		{"stats_24h_90s", 24 * time.Hour, 90 * time.Second},
	} {
		b.Run(q.name, func(b *testing.B) {
			var n uint64
			for range b.N {
				bs, err := s.Stats(ctx, store.StatsQuery{Filter: store.Filter{From: end.Add(-q.span).UnixNano(), To: end.UnixNano() + 1}, Step: q.step})
				require.NoError(b, err)
				n = 0
				for _, x := range bs {
					n += x.Count
				}
			}
			b.ReportMetric(float64(n), "records")
		})
	}
	b.Run("count_errors", func(b *testing.B) {
		for range b.N {
			_, err := s.Count(ctx, store.Filter{MinSeverity: 17})
			require.NoError(b, err)
		}
	})
}

func copyFile(b *testing.B, from, to string) {
	in, err := os.Open(from)
	require.NoError(b, err)
	defer func() { _ = in.Close() }()
	out, err := os.Create(to)
	require.NoError(b, err)
	_, err = io.Copy(out, in)
	require.NoError(b, err)
	require.NoError(b, out.Close())
}
