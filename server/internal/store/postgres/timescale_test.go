package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres/pgtest"
	"github.com/sawmill-dev/sawmill/server/internal/store/storetest"
)

// requireTimescale skips t where the extension cannot be created.
func requireTimescale(t *testing.T) {
	t.Helper()
	if !timescaleAvailable(t) {
		t.Skip("TimescaleDB is not available on this PostgreSQL (not in pg_available_extensions, or not in shared_preload_libraries): " +
			"the hypertable, compression, retention policy and continuous aggregate are not exercised here")
	}
}

// openTimescale opens a store on a new database in TimescaleDB mode and a
// pool for the test's own SQL (closed when t ends).
func openTimescale(t *testing.T, retention time.Duration) (*postgres.Store, *pgxpool.Pool, string) {
	t.Helper()
	dbURL := pgtest.NewDatabase(t)
	s, err := postgres.Open(context.Background(), dbURL, postgres.Options{TimescaleDB: postgres.TimescaleRequire, Retention: retention})
	require.NoError(t, err)
	require.Equal(t, postgres.ModeTimescaleDB, s.Mode())
	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return s, pool, dbURL
}

// The conformance suite in TimescaleDB mode, with the background policies
// (compression, aggregate refresh) free to run while it does.
func TestTimescaleDB(t *testing.T) {
	requireTimescale(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _, _ := openTimescale(t, 0)
		return s
	}, storetest.Behavior{NULAsReplacement: true})
}

// compressing is a store whose every write is followed by the compression
// of every chunk, so the suite queries (and writes into, and retention
// deletes from) compressed chunks only.
type compressing struct {
	*postgres.Store
	pool *pgxpool.Pool
}

func (c compressing) WriteBatches(ctx context.Context, bs []*sawmillv1.LogBatch) (int, error) {
	n, err := c.Store.WriteBatches(ctx, bs)
	if err != nil {
		return n, err
	}
	return n, compressAll(ctx, c.pool)
}

// compressAll compresses every chunk of logs (again, when rows were added to
// a compressed chunk) and checks that no row is left uncompressed.
func compressAll(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := pool.Exec(ctx, `SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('logs') c`); err != nil {
		return fmt.Errorf("compress chunks: %w", err)
	}
	rows, err := pool.Query(ctx, `SELECT c::text FROM show_chunks('logs') c`)
	if err != nil {
		return fmt.Errorf("list chunks: %w", err)
	}
	chunks, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list chunks: %w", err)
	}
	for _, c := range chunks {
		var plain int
		// c is the regclass text of a chunk, quoted by PostgreSQL.
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM ONLY `+c).Scan(&plain); err != nil {
			return fmt.Errorf("count uncompressed rows of %s: %w", c, err)
		}
		if plain != 0 {
			return fmt.Errorf("%d rows of %s left uncompressed", plain, c)
		}
	}
	return nil
}

func TestTimescaleDBCompressed(t *testing.T) {
	requireTimescale(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, pool, _ := openTimescale(t, 0)
		pauseJobs(t, pool) // compression is the test's: no policy run races it
		return compressing{Store: s, pool: pool}
	}, storetest.Behavior{NULAsReplacement: true})
}

// pauseJobs unschedules the database's policy jobs and waits until none is
// running, so that the test runs them itself (run_job) at known points.
func pauseJobs(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	_, err := pool.Exec(ctx, `SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs WHERE hypertable_name IS NOT NULL`)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var running int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND (backend_type || ' ' || coalesce(application_name, '')) ~ 'Policy \[[0-9]+\]'`).Scan(&running)
		return err == nil && running == 0
	}, 30*time.Second, 50*time.Millisecond, "policy jobs still running")
}

type job struct {
	id     int32
	every  time.Duration
	config map[string]any
}

// policyJobs returns the policy jobs by "procedure on relation" (the
// aggregate's jobs under its view name).
func policyJobs(t *testing.T, pool *pgxpool.Pool) map[string]job {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT j.job_id, j.schedule_interval, j.proc_name::text || ' on ' || coalesce(ca.view_name, j.hypertable_name)::text, j.config::text
		FROM timescaledb_information.jobs j
		LEFT JOIN timescaledb_information.continuous_aggregates ca ON ca.materialization_hypertable_name = j.hypertable_name
		WHERE j.hypertable_name IS NOT NULL`)
	require.NoError(t, err)
	out := map[string]job{}
	for rows.Next() {
		var j job
		var name, config string
		require.NoError(t, rows.Scan(&j.id, &j.every, &name, &config))
		require.NoError(t, json.Unmarshal([]byte(config), &j.config))
		out[name] = j
	}
	require.NoError(t, rows.Err())
	return out
}

func runJob(t *testing.T, pool *pgxpool.Pool, id int32) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `CALL run_job($1)`, id)
	require.NoError(t, err, "run job %d", id)
}

// batchAt builds a batch of n records of service svc, one every step from
// start, cycling through severities 1..24.
func batchAt(id, svc string, start time.Time, n int, step time.Duration) *sawmillv1.LogBatch {
	b := &sawmillv1.LogBatch{BatchId: id, Resource: &sawmillv1.Resource{Service: svc}}
	for i := 0; i < n; i++ {
		b.Records = append(b.Records, &sawmillv1.LogRecord{
			TimeUnixNano:   uint64(start.Add(time.Duration(i) * step).UnixNano()),
			SeverityNumber: sawmillv1.SeverityNumber(1 + (i*7)%24),
			Body:           fmt.Sprintf("%s record %d", svc, i),
			AttributesJson: []byte(fmt.Sprintf(`{"i":%d}`, i)),
		})
	}
	return b
}

func records(bs []*sawmillv1.LogBatch) int {
	n := 0
	for _, b := range bs {
		n += len(b.GetRecords())
	}
	return n
}

// wantStats counts the records of bs in the buckets of q, the reference for
// Stats (the filter's services, severity and minute-aligned range only).
func wantStats(bs []*sawmillv1.LogBatch, q store.StatsQuery) []store.Bucket {
	st := q.Step.Nanoseconds()
	type key struct {
		start int64
		svc   string
		lvl   int32
	}
	agg := map[key]uint64{}
	for _, b := range bs {
		svc := b.GetResource().GetService()
		if len(q.Filter.Services) > 0 && !contains(q.Filter.Services, svc) {
			continue
		}
		for _, r := range b.GetRecords() {
			tn, sev := int64(r.GetTimeUnixNano()), int32(r.GetSeverityNumber())
			if q.Filter.From != 0 && tn < q.Filter.From || q.Filter.To != 0 && tn >= q.Filter.To || sev < q.Filter.MinSeverity {
				continue
			}
			agg[key{tn / st * st, svc, store.Level(sev)}]++
		}
	}
	out := []store.Bucket{}
	for k, n := range agg {
		out = append(out, store.Bucket{Start: time.Unix(0, k.start).UTC(), Service: k.svc, Severity: k.lvl, Count: n})
	}
	store.SortBuckets(out)
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// keepFrom returns copies of bs without the records older than cut.
func keepFrom(bs []*sawmillv1.LogBatch, cut time.Time) []*sawmillv1.LogBatch {
	var out []*sawmillv1.LogBatch
	for _, b := range bs {
		c := &sawmillv1.LogBatch{BatchId: b.GetBatchId(), Resource: b.GetResource()}
		for _, r := range b.GetRecords() {
			if int64(r.GetTimeUnixNano()) >= cut.UnixNano() {
				c.Records = append(c.Records, r)
			}
		}
		out = append(out, c)
	}
	return out
}

// The policies exist with the configured values, and running them
// compresses old chunks (still queried, still written to exactly once) and
// drops expired ones from the hypertable and the aggregate.
func TestTimescalePolicies(t *testing.T) {
	requireTimescale(t)
	ctx := context.Background()
	retention := 48 * time.Hour
	s, pool, dbURL := openTimescale(t, retention)
	defer s.Close()
	pauseJobs(t, pool)

	jobs := policyJobs(t, pool)
	require.Contains(t, jobs, "policy_compression on logs")
	require.Contains(t, jobs, "policy_retention on logs")
	require.Contains(t, jobs, "policy_retention on logs_per_minute")
	require.Contains(t, jobs, "policy_refresh_continuous_aggregate on logs_per_minute")
	assert.EqualValues(t, time.Hour.Nanoseconds(), jobs["policy_compression on logs"].config["compress_after"])
	assert.EqualValues(t, retention.Nanoseconds(), jobs["policy_retention on logs"].config["drop_after"])
	assert.EqualValues(t, retention.Nanoseconds(), jobs["policy_retention on logs_per_minute"].config["drop_after"])
	assert.Equal(t, 30*time.Minute, jobs["policy_compression on logs"].every)
	assert.Equal(t, time.Hour, jobs["policy_retention on logs"].every)
	assert.Equal(t, time.Hour, jobs["policy_retention on logs_per_minute"].every)
	assert.Equal(t, time.Minute, jobs["policy_refresh_continuous_aggregate on logs_per_minute"].every)
	var segmentBy string
	require.NoError(t, pool.QueryRow(ctx, `SELECT string_agg(attname, ',') FROM timescaledb_information.compression_settings
		WHERE hypertable_name = 'logs' AND segmentby_column_index IS NOT NULL`).Scan(&segmentBy))
	assert.Equal(t, "service", segmentBy)

	// Old data (three days before the run: expired) and recent data.
	now := time.Now().UTC()
	old := time.Date(now.Year(), now.Month(), now.Day(), 9, 0, 0, 0, time.UTC).Add(-72 * time.Hour)
	recent := now.Add(-10 * time.Minute)
	var oldBs, recentBs []*sawmillv1.LogBatch
	for i, svc := range []string{"orders", "payments", "users"} {
		oldBs = append(oldBs, batchAt(fmt.Sprintf("old-%d", i), svc, old, 500, 7*time.Second))
		recentBs = append(recentBs, batchAt(fmt.Sprintf("new-%d", i), svc, recent, 100, time.Second))
	}
	_, err := s.WriteBatches(ctx, append(append([]*sawmillv1.LogBatch{}, oldBs...), recentBs...))
	require.NoError(t, err)

	// Compression: the old hours are compressed, the current one is not.
	runJob(t, pool, jobs["policy_compression on logs"].id)
	rows, err := pool.Query(ctx, `SELECT range_end_integer, is_compressed FROM timescaledb_information.chunks WHERE hypertable_name = 'logs'`)
	require.NoError(t, err)
	var compressed, plain int
	for rows.Next() {
		var end int64
		var isCompressed bool
		require.NoError(t, rows.Scan(&end, &isCompressed))
		if end <= now.Add(-time.Hour).UnixNano() {
			assert.True(t, isCompressed, "chunk ending %s is compressed", time.Unix(0, end).UTC())
			compressed++
		} else if !isCompressed {
			plain++
		}
	}
	require.NoError(t, rows.Err())
	assert.GreaterOrEqual(t, compressed, 1, "old chunks")
	assert.GreaterOrEqual(t, plain, 1, "the current chunk stays uncompressed")

	n, err := s.Count(ctx, store.Filter{})
	require.NoError(t, err)
	assert.EqualValues(t, records(oldBs)+records(recentBs), n)
	n, err = s.Count(ctx, store.Filter{Services: []string{"payments"}, To: old.Add(time.Hour).UnixNano(), Text: "RECORD 4"})
	require.NoError(t, err)
	assert.EqualValues(t, 111, n, "payments records 4, 40-49, 400-499 of the old batch") // 1 + 10 + 100
	p, err := s.Search(ctx, store.SearchQuery{Filter: store.Filter{Services: []string{"users"}, To: old.Add(time.Hour).UnixNano()}, Limit: 3})
	require.NoError(t, err)
	require.Len(t, p.Entries, 3)
	assert.Equal(t, []string{"old-2~499", "old-2~498", "old-2~497"}, []string{p.Entries[0].GetId(), p.Entries[1].GetId(), p.Entries[2].GetId()})

	// Late data into a compressed chunk, and a redelivery: stored once.
	late := batchAt("late-0", "orders", old.Add(30*time.Minute), 50, time.Second)
	stored, err := s.WriteBatches(ctx, []*sawmillv1.LogBatch{late, oldBs[0]})
	require.NoError(t, err)
	assert.Equal(t, 50, stored)
	oldBs = append(oldBs, late)

	// The aggregate, refreshed, answers stats like the raw rows.
	runJob(t, pool, jobs["policy_refresh_continuous_aggregate on logs_per_minute"].id)
	all := append(append([]*sawmillv1.LogBatch{}, oldBs...), recentBs...)
	got, err := s.Stats(ctx, store.StatsQuery{Step: time.Minute})
	require.NoError(t, err)
	assert.Equal(t, wantStats(all, store.StatsQuery{Step: time.Minute}), got)

	// Retention: the expired chunks go from the hypertable and the aggregate.
	runJob(t, pool, jobs["policy_retention on logs"].id)
	runJob(t, pool, jobs["policy_retention on logs_per_minute"].id)
	n, err = s.Count(ctx, store.Filter{})
	require.NoError(t, err)
	assert.EqualValues(t, records(recentBs), n)
	got, err = s.Stats(ctx, store.StatsQuery{Step: time.Minute})
	require.NoError(t, err)
	assert.Equal(t, wantStats(recentBs, store.StatsQuery{Step: time.Minute}), got)
	// The batch ids of dropped chunks go at the server's next retention
	// pass (DeleteBefore), which also keeps Services in step.
	require.NoError(t, s.DeleteBefore(ctx, now.Add(-retention)))
	svcs, err := s.Services(ctx)
	require.NoError(t, err)
	var total uint64
	for _, sv := range svcs {
		total += sv.Total
	}
	assert.EqualValues(t, records(recentBs), total)

	// A restart without retention removes the retention policies.
	s2, err := postgres.Open(ctx, dbURL, postgres.Options{TimescaleDB: postgres.TimescaleRequire})
	require.NoError(t, err)
	defer s2.Close()
	jobs = policyJobs(t, pool)
	assert.NotContains(t, jobs, "policy_retention on logs")
	assert.NotContains(t, jobs, "policy_retention on logs_per_minute")
	assert.Contains(t, jobs, "policy_compression on logs")
}

// Stats read the continuous aggregate when the query fits it, and its
// answers equal the raw rows' before and after retention (DeleteBefore).
func TestTimescaleStatsFromAggregate(t *testing.T) {
	requireTimescale(t)
	ctx := context.Background()
	s, pool, _ := openTimescale(t, 0)
	defer s.Close()
	pauseJobs(t, pool)

	// Four hours of data (so retention drops whole chunks and cuts one).
	base := storetest.Base
	var bs []*sawmillv1.LogBatch
	for h := 0; h < 4; h++ {
		for i, svc := range []string{"orders", "payments", "users"} {
			bs = append(bs, batchAt(fmt.Sprintf("h%d-%d", h, i), svc, base.Add(time.Duration(h-3)*time.Hour+time.Duration(i)*time.Second), 360, 10*time.Second))
		}
	}
	_, err := s.WriteBatches(ctx, bs)
	require.NoError(t, err)
	refresh := func() {
		t.Helper()
		_, err := pool.Exec(ctx, `CALL refresh_continuous_aggregate('logs_per_minute', $1::bigint, $2::bigint)`,
			base.Add(-6*time.Hour).UnixNano(), base.Add(6*time.Hour).UnixNano())
		require.NoError(t, err)
	}
	refresh()
	var schema, table string
	require.NoError(t, pool.QueryRow(ctx, `SELECT materialization_hypertable_schema, materialization_hypertable_name
		FROM timescaledb_information.continuous_aggregates WHERE view_name = 'logs_per_minute'`).Scan(&schema, &table))
	var materialized int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{schema, table}.Sanitize()).Scan(&materialized))
	assert.Positive(t, materialized, "the aggregate holds materialized rows")

	queries := []store.StatsQuery{
		{Step: time.Minute},
		{Step: 5 * time.Minute},
		{Step: time.Hour},
		{Step: time.Minute, Filter: store.Filter{Services: []string{"orders", "users"}}},
		{Step: 2 * time.Minute, Filter: store.Filter{MinSeverity: 13}},
		{Step: time.Minute, Filter: store.Filter{From: base.Add(-2 * time.Hour).UnixNano(), To: base.Add(-time.Hour).UnixNano(), MinSeverity: 5}},
	}
	check := func(bs []*sawmillv1.LogBatch, when string) {
		t.Helper()
		for _, q := range queries {
			got, err := s.Stats(ctx, q)
			require.NoError(t, err)
			assert.Equal(t, wantStats(bs, q), got, "%s: %+v", when, q)
		}
	}
	check(bs, "after refresh")

	// Retention cuts through the second hour: the first hour's chunks of
	// both the hypertable and the aggregate are dropped, the older half of
	// the second hour is deleted and re-aggregated.
	cut := base.Add(-150 * time.Minute).Add(time.Hour)
	require.NoError(t, s.DeleteBefore(ctx, cut))
	kept := keepFrom(bs, cut)
	n, err := s.Count(ctx, store.Filter{})
	require.NoError(t, err)
	assert.EqualValues(t, records(kept), n)
	check(kept, "after retention")

	// The stats really come from the aggregate: rows deleted behind its
	// back still count until the next refresh, which removes them.
	_, err = pool.Exec(ctx, `DELETE FROM logs WHERE service = 'orders'`)
	require.NoError(t, err)
	check(kept, "before the refresh")
	refresh()
	var rest []*sawmillv1.LogBatch
	for _, b := range kept {
		if b.GetResource().GetService() != "orders" {
			rest = append(rest, b)
		}
	}
	check(rest, "after the refresh")
}

// Every replica runs retention: concurrent DeleteBefore calls (dropping the
// same chunks, refreshing the same aggregate window) all succeed.
func TestTimescaleConcurrentRetention(t *testing.T) {
	requireTimescale(t)
	ctx := context.Background()
	s, pool, dbURL := openTimescale(t, 0)
	defer s.Close()
	pauseJobs(t, pool)
	base := storetest.Base
	var bs []*sawmillv1.LogBatch
	for h := 0; h < 4; h++ {
		bs = append(bs, batchAt(fmt.Sprintf("h%d", h), "orders", base.Add(time.Duration(h-3)*time.Hour), 360, 10*time.Second))
	}
	_, err := s.WriteBatches(ctx, bs)
	require.NoError(t, err)
	require.NoError(t, compressAll(ctx, pool))
	stores := []*postgres.Store{s}
	for i := 0; i < 3; i++ {
		o, err := postgres.Open(ctx, dbURL, postgres.Options{})
		require.NoError(t, err)
		defer o.Close()
		stores = append(stores, o)
	}
	cut := base.Add(-90 * time.Minute)
	errs := make(chan error, len(stores))
	for _, st := range stores {
		go func(st *postgres.Store) { errs <- st.DeleteBefore(ctx, cut) }(st)
	}
	for range stores {
		assert.NoError(t, <-errs)
	}
	kept := keepFrom(bs, cut)
	n, err := s.Count(ctx, store.Filter{})
	require.NoError(t, err)
	assert.EqualValues(t, records(kept), n)
	got, err := s.Stats(ctx, store.StatsQuery{Step: time.Minute})
	require.NoError(t, err)
	assert.Equal(t, wantStats(kept, store.StatsQuery{Step: time.Minute}), got)
}
