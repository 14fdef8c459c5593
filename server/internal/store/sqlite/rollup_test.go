package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sawmill-dev/sawmill/server/internal/store"
	"github.com/sawmill-dev/sawmill/server/internal/store/storetest"
)

// TestRollupsMigrateFromV3 makes a schema-3 file (counts only, no
// rollups), opens it with this code and checks that the rollups were
// filled from counts: stats per minute and per hour, over a range not
// aligned to either, equal the per-second counts summed.
func TestRollupsMigrateFromV3(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "logs.db")
	s, err := Open(ctx, path, Options{})
	require.NoError(t, err)
	bs := storetest.Dataset(7, 30)
	for i, b := range bs { // spread the batches over ~3 hours
		for _, r := range b.GetRecords() {
			r.TimeUnixNano += uint64(i) * uint64(97*time.Second)
		}
	}
	_, err = s.WriteBatches(ctx, bs)
	require.NoError(t, err)
	for _, stmt := range []string{`DROP TABLE counts_minute`, `DROP TABLE counts_hour`, `PRAGMA user_version = 3`} {
		_, err := s.wdb.ExecContext(ctx, stmt)
		require.NoError(t, err)
	}
	require.NoError(t, s.Close())

	s, err = Open(ctx, path, Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	var version int
	require.NoError(t, s.rdb.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version))
	require.Equal(t, len(schema), version)
	from := storetest.Base.Add(17*time.Minute + 3*time.Second).UnixNano()
	to := storetest.Base.Add(2*time.Hour + 5*time.Minute + 7*time.Second).UnixNano()
	for _, step := range []time.Duration{time.Minute, 5 * time.Minute, time.Hour} {
		f := store.Filter{From: from, To: to}
		got, err := s.Stats(ctx, store.StatsQuery{Filter: f, Step: step})
		require.NoError(t, err)
		// The same buckets from the per-second table.
		want, err := s.statsFromTable(ctx, "counts", "second", f, int64(step/time.Second))
		require.NoError(t, err)
		require.NotEmpty(t, want)
		assert.Equal(t, want, got, "step %s", step)
	}
}

// statsFromTable is statsFromCounts reading the given table .
func (s *Store) statsFromTable(ctx context.Context, table, col string, f store.Filter, step int64) ([]store.Bucket, error) {
	var fromSec, toSec int64
	if f.From != 0 {
		fromSec = f.From / 1e9 / step * step
	}
	if f.To != 0 {
		toSec = (f.To + step*1e9 - 1) / (step * 1e9) * step
	}
	return s.statsFrom(ctx, table, col, f, step, fromSec, toSec)
}
