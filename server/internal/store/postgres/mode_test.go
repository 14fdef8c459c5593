package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres/pgtest"
	"github.com/sawmill-dev/sawmill/server/internal/store/storetest"
)

// timescaleAvailable reports whether the server can create the extension:
// it is installed and preloaded (TimescaleDB refuses CREATE EXTENSION
// without shared_preload_libraries).
func timescaleAvailable(t testing.TB) bool {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.AdminURL())
	require.NoError(t, err)
	defer conn.Close(ctx)
	var ok bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
		AND 'timescaledb' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))`).Scan(&ok))
	return ok
}

func TestPartitionedWhenTimescaleOff(t *testing.T) {
	s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), postgres.Options{TimescaleDB: postgres.TimescaleOff})
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, postgres.ModePartitioned, s.Mode())
}

func TestRequireTimescaleFailsWithoutIt(t *testing.T) {
	if timescaleAvailable(t) {
		t.Skip("TimescaleDB is installed and preloaded here")
	}
	_, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), postgres.Options{TimescaleDB: postgres.TimescaleRequire})
	require.ErrorContains(t, err, "timescaledb required but unavailable")
}

// Replicas starting together migrate once, and the mode sticks, in both
// modes.
func TestConcurrentOpen(t *testing.T) {
	for _, c := range []struct {
		option, other string
		mode          postgres.Mode
	}{
		{postgres.TimescaleOff, postgres.TimescaleAuto, postgres.ModePartitioned},
		{postgres.TimescaleRequire, postgres.TimescaleOff, postgres.ModeTimescaleDB},
	} {
		t.Run(string(c.mode), func(t *testing.T) {
			if c.mode == postgres.ModeTimescaleDB && !timescaleAvailable(t) {
				t.Skip("TimescaleDB is not available on this PostgreSQL (not installed or not preloaded)")
			}
			testConcurrentOpen(t, c.option, c.other, c.mode)
		})
	}
}

func testConcurrentOpen(t *testing.T, option, other string, mode postgres.Mode) {
	dbURL := pgtest.NewDatabase(t)
	var wg sync.WaitGroup
	stores := make([]*postgres.Store, 6)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			stores[i], errs[i] = postgres.Open(context.Background(), dbURL, postgres.Options{TimescaleDB: option})
		}(i)
	}
	wg.Wait()
	for i := range stores {
		require.NoError(t, errs[i])
		defer stores[i].Close()
		assert.Equal(t, mode, stores[i].Mode())
	}
	// Concurrent writers of the same batches store each once.
	bs := storetest.Dataset(7, 10)
	var total int
	var mu sync.Mutex
	for _, s := range stores {
		wg.Add(1)
		go func(s *postgres.Store) {
			defer wg.Done()
			n, err := s.WriteBatches(context.Background(), bs)
			assert.NoError(t, err)
			mu.Lock()
			total += n
			mu.Unlock()
		}(s)
	}
	wg.Wait()
	want := 0
	for _, b := range bs {
		want += len(b.GetRecords())
	}
	assert.Equal(t, want, total, "each batch stored by exactly one writer")
	n, err := stores[0].Count(context.Background(), store.Filter{})
	require.NoError(t, err)
	assert.EqualValues(t, want, n)

	conn, err := pgx.Connect(context.Background(), dbURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var versions, distinct int
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT version) FROM sawmill_schema`).Scan(&versions, &distinct))
	assert.Equal(t, postgres.SchemaVersions, versions, "every version applied once")
	assert.Equal(t, versions, distinct, "every version applied once")
	// A later start with another TimescaleDB option keeps the recorded mode.
	s, err := postgres.Open(context.Background(), dbURL, postgres.Options{TimescaleDB: other})
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, mode, s.Mode())
}

// Closed days get their trigram text index behind ingest, and text search
// gives the same answers with it.
func TestTextIndexBehindIngest(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	s, err := postgres.Open(ctx, dbURL, postgres.Options{TimescaleDB: postgres.TimescaleOff})
	require.NoError(t, err)
	defer s.Close()
	old := time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC)
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var bs []*sawmillv1.LogBatch
	for i, at := range []time.Time{old, now} {
		b := &sawmillv1.LogBatch{BatchId: "b" + at.Format("0102"), Resource: &sawmillv1.Resource{Service: "orders"}}
		for j := 0; j < 50; j++ {
			body := "order created"
			if j%10 == 0 {
				body = "Payment DECLINED 100%_sure"
			}
			b.Records = append(b.Records, &sawmillv1.LogRecord{TimeUnixNano: uint64(at.Add(time.Duration(i*1000+j) * time.Millisecond).UnixNano()), SeverityNumber: 9, Body: body})
		}
		bs = append(bs, b)
	}
	_, err = s.WriteBatches(ctx, bs)
	require.NoError(t, err)
	before, err := s.Count(ctx, store.Filter{Text: "declined 100%_"})
	require.NoError(t, err)
	assert.EqualValues(t, 10, before, "LIKE wildcards in the text are literal")

	built, err := s.Maintain(ctx, now)
	require.NoError(t, err)
	assert.Equal(t, 1, built, "only the closed day is indexed")
	built, err = s.Maintain(ctx, now)
	require.NoError(t, err)
	assert.Zero(t, built, "once")

	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var idx []string
	rows, err := conn.Query(ctx, `SELECT indexname FROM pg_indexes WHERE indexname LIKE '%_body_trgm' ORDER BY 1`)
	require.NoError(t, err)
	idx, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{"logs_20261118_body_trgm"}, idx)

	after, err := s.Count(ctx, store.Filter{Text: "declined 100%_"})
	require.NoError(t, err)
	assert.Equal(t, before, after)
	p, err := s.Search(ctx, store.SearchQuery{Filter: store.Filter{Text: "DECLINED"}, Limit: 100})
	require.NoError(t, err)
	assert.Len(t, p.Entries, 10)
}
