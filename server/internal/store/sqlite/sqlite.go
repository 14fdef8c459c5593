package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// maxBlockRecords caps the records of one block, so a query that opens a
// block for one record never decodes more than this.
const maxBlockRecords = 8192

// Options tune the store; zero values take defaults.
type Options struct {
	// ReadConns is the number of concurrent read connections (default 4).
	ReadConns int
	// CacheRecords bounds the decoded-block cache, in records (default 50,000).
	CacheRecords int
}

// Store is the embedded SQLite store.
type Store struct {
	path  string
	wdb   *sql.DB // one connection, every write
	rdb   *sql.DB // read-only connections
	codec *codec
	cache *blockCache

	writeMu sync.Mutex
	scratch []byte

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the store in file path and migrates its
// schema.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	if opts.CacheRecords <= 0 {
		opts.CacheRecords = 50_000
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	// cache_size: 8 MiB of page cache per connection (1 writer + ReadConns
	// readers). SQLite's page cache lives outside the Go heap; at 64 MiB per
	// connection it was most of sawmill's peak RSS in the seed burst (317-382
	// MiB), while decoded blocks are cached above it (blockCache) and the
	// OS page cache serves re-reads cheaply.
	dsn := func(extra ...string) string {
		q := url.Values{}
		for _, p := range append([]string{
			"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)",
			"foreign_keys(OFF)", "temp_store(MEMORY)", "cache_size(-8192)",
		}, extra...) {
			q.Add("_pragma", p)
		}
		return "file:" + abs + "?" + q.Encode()
	}
	wdb, err := sql.Open("sqlite", dsn())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetConnMaxIdleTime(0)
	if err := migrate(ctx, wdb); err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("sqlite: migrate %q: %w", path, err)
	}
	rdb, err := sql.Open("sqlite", dsn("query_only(1)"))
	if err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("sqlite: open %q for reading: %w", path, err)
	}
	rdb.SetMaxOpenConns(opts.ReadConns)
	rdb.SetMaxIdleConns(opts.ReadConns)
	return &Store{path: abs, wdb: wdb, rdb: rdb, codec: &codec{}, cache: newBlockCache(opts.CacheRecords)}, nil
}

// schema is applied in order; the index of a statement list is its version.
var schema = [][]string{
	{
		`CREATE TABLE blocks (
			id INTEGER PRIMARY KEY,
			service TEXT NOT NULL,
			min_time INTEGER NOT NULL,
			max_time INTEGER NOT NULL,
			records INTEGER NOT NULL,
			max_sev INTEGER NOT NULL,
			n_trace INTEGER NOT NULL, n_debug INTEGER NOT NULL, n_info INTEGER NOT NULL,
			n_warn INTEGER NOT NULL, n_error INTEGER NOT NULL, n_fatal INTEGER NOT NULL,
			bloom BLOB NOT NULL,
			data BLOB NOT NULL
		)`,
		`CREATE INDEX blocks_max_time ON blocks(max_time, id)`,
		`CREATE INDEX blocks_min_time ON blocks(min_time, id)`,
		`CREATE INDEX blocks_service_max_time ON blocks(service, max_time, id)`,
		`CREATE INDEX blocks_service_min_time ON blocks(service, min_time, id)`,
		`CREATE TABLE batches (
			id TEXT PRIMARY KEY,
			block_id INTEGER NOT NULL,
			first INTEGER NOT NULL,
			n INTEGER NOT NULL
		) WITHOUT ROWID`,
		`CREATE INDEX batches_block ON batches(block_id)`,
		`CREATE TABLE counts (
			service TEXT NOT NULL,
			second INTEGER NOT NULL,
			level INTEGER NOT NULL,
			n INTEGER NOT NULL,
			PRIMARY KEY (service, second, level)
		) WITHOUT ROWID`,
		`CREATE INDEX counts_second ON counts(second)`,
		`CREATE TABLE services (
			name TEXT PRIMARY KEY,
			last_seen INTEGER NOT NULL,
			total INTEGER NOT NULL
		) WITHOUT ROWID`,
	},
	// Version 2: blocks.bloom may hold filterV2 blobs (filter.go), which a
	// version-1 binary would misread; blocks written before keep their
	// filterV1 blob. No statement: the version alone makes older binaries
	// refuse the file.
	{},
	{
		// Version 3: the fields bloom of each block (block.go); blocks written before
		// have none. A table of its own, not a column of blocks: a column
		// added to blocks would come after data, and SQLite reads a row's
		// overflow pages in order, so reading it would read the whole block.
		`CREATE TABLE block_fields (
			id INTEGER PRIMARY KEY,
			fields BLOB NOT NULL
		)`,
	},
	// Version 4: per-minute and per-hour counts (rollup.go), filled from
	// counts.
	schemaV4,
}

func migrate(ctx context.Context, db *sql.DB) error {
	var version int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(schema) {
		return fmt.Errorf("schema version %d is newer than this binary's %d", version, len(schema))
	}
	for v := version; v < len(schema); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for _, stmt := range schema[v] {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("schema version %d: %w", v+1, err)
			}
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, v+1)); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("schema version %d: %w", v+1, err)
		}
	}
	return nil
}

// Close closes the store.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = errors.Join(s.rdb.Close(), s.wdb.Close())
	})
	return s.closeErr
}

type countKey struct {
	service string
	second  int64
	level   int32
}

// WriteBatches stores bs in one transaction, skipping batch ids stored
// before. Data SQLite refuses (see classify) wraps store.ErrUnstorable.
func (s *Store) WriteBatches(ctx context.Context, bs []*sawmillv1.LogBatch) (int, error) {
	n, err := s.writeBatches(ctx, bs)
	return n, classify(err)
}

func (s *Store) writeBatches(ctx context.Context, bs []*sawmillv1.LogBatch) (int, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	fresh, err := s.unseen(ctx, bs)
	if err != nil {
		return 0, err
	}
	if len(fresh) == 0 {
		return 0, nil
	}
	// Group by service, keeping order, into blocks of at most maxBlockRecords.
	var groups [][]*sawmillv1.LogBatch
	open := map[string]int{} // service -> index in groups of its open group
	sizes := map[int]int{}
	for _, b := range fresh {
		svc := b.GetResource().GetService()
		i, ok := open[svc]
		if !ok || sizes[i]+len(b.GetRecords()) > maxBlockRecords {
			groups = append(groups, nil)
			i = len(groups) - 1
			open[svc] = i
		}
		groups[i] = append(groups[i], b)
		sizes[i] += len(b.GetRecords())
	}
	blocks := make([]*builtBlock, 0, len(groups))
	counts := map[countKey]int64{}
	type svcAgg struct {
		last  int64
		total int64
	}
	services := map[string]*svcAgg{}
	stored := 0
	for _, g := range groups {
		svc := g[0].GetResource().GetService()
		var blk *builtBlock
		blk, s.scratch, err = s.codec.build(svc, g, s.scratch)
		if err != nil {
			return 0, fmt.Errorf("sqlite: build block: %w", err)
		}
		blocks = append(blocks, blk)
		for _, b := range g {
			for _, r := range b.GetRecords() {
				counts[countKey{svc, int64(r.GetTimeUnixNano()) / 1e9, store.Level(int32(r.GetSeverityNumber()))}]++
			}
		}
		a := services[svc]
		if a == nil {
			a = &svcAgg{last: blk.maxTime}
			services[svc] = a
		}
		a.last = max(a.last, blk.maxTime)
		a.total += blk.records
		stored += int(blk.records)
	}
	if cap(s.scratch) > 16<<20 {
		s.scratch = nil // do not pin a huge buffer
	}

	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlite: begin write: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	insBlock, err := tx.PrepareContext(ctx, `INSERT INTO blocks
		(service, min_time, max_time, records, max_sev, n_trace, n_debug, n_info, n_warn, n_error, n_fatal, bloom, data)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		return 0, fmt.Errorf("sqlite: prepare block insert: %w", err)
	}
	insFields, err := tx.PrepareContext(ctx, `INSERT INTO block_fields (id, fields) VALUES (?,?)`)
	if err != nil {
		return 0, fmt.Errorf("sqlite: prepare fields insert: %w", err)
	}
	insBatch, err := tx.PrepareContext(ctx, `INSERT INTO batches (id, block_id, first, n) VALUES (?,?,?,?)`)
	if err != nil {
		return 0, fmt.Errorf("sqlite: prepare batch insert: %w", err)
	}
	for _, blk := range blocks {
		l := blk.levels
		res, err := insBlock.ExecContext(ctx, blk.service, blk.minTime, blk.maxTime, blk.records, blk.maxSev,
			l[0], l[1], l[2], l[3], l[4], l[5], []byte(blk.filter), blk.data)
		if err != nil {
			return 0, fmt.Errorf("sqlite: insert block of %s: %w", blk.service, err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return 0, fmt.Errorf("sqlite: insert block of %s: %w", blk.service, err)
		}
		if _, err := insFields.ExecContext(ctx, id, []byte(blk.fields)); err != nil {
			return 0, fmt.Errorf("sqlite: insert fields bloom of %s: %w", blk.service, err)
		}
		for _, ref := range blk.batches {
			if _, err := insBatch.ExecContext(ctx, ref.id, id, ref.first, ref.n); err != nil {
				return 0, fmt.Errorf("sqlite: record batch %s: %w", ref.id, err)
			}
		}
	}
	upCount, err := tx.PrepareContext(ctx, `INSERT INTO counts (service, second, level, n) VALUES (?,?,?,?)
		ON CONFLICT (service, second, level) DO UPDATE SET n = n + excluded.n`)
	if err != nil {
		return 0, fmt.Errorf("sqlite: prepare count upsert: %w", err)
	}
	for k, n := range counts {
		if _, err := upCount.ExecContext(ctx, k.service, k.second, k.level, n); err != nil {
			return 0, fmt.Errorf("sqlite: count %s: %w", k.service, err)
		}
	}
	if err := addRollups(ctx, tx, counts); err != nil {
		return 0, err
	}
	for name, a := range services {
		if _, err := tx.ExecContext(ctx, `INSERT INTO services (name, last_seen, total) VALUES (?,?,?)
			ON CONFLICT (name) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen), total = total + excluded.total`,
			name, a.last, a.total); err != nil {
			return 0, fmt.Errorf("sqlite: service %s: %w", name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlite: commit %d batches: %w", len(fresh), err)
	}
	return stored, nil
}

// unseen returns the batches of bs whose ids are neither stored nor repeated
// earlier in bs.
func (s *Store) unseen(ctx context.Context, bs []*sawmillv1.LogBatch) ([]*sawmillv1.LogBatch, error) {
	seen := make(map[string]bool, len(bs))
	ids := make([]any, 0, len(bs))
	for _, b := range bs {
		ids = append(ids, b.GetBatchId())
	}
	const chunk = 200
	for i := 0; i < len(ids); i += chunk {
		part := ids[i:min(i+chunk, len(ids))]
		q := `SELECT id FROM batches WHERE id IN (?` + strings.Repeat(`,?`, len(part)-1) + `)`
		rows, err := s.wdb.QueryContext(ctx, q, part...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: look up batch ids: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				_ = rows.Close()
				return nil, fmt.Errorf("sqlite: look up batch ids: %w", err)
			}
			seen[id] = true
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, fmt.Errorf("sqlite: look up batch ids: %w", err)
		}
	}
	out := bs[:0:0]
	for _, b := range bs {
		if seen[b.GetBatchId()] || len(b.GetRecords()) == 0 {
			continue
		}
		seen[b.GetBatchId()] = true
		out = append(out, b)
	}
	return out, nil
}

// DeleteBefore removes the blocks whose newest record is older than t, with
// their batch ids and counts.
func (s *Store) DeleteBefore(ctx context.Context, t time.Time) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	ns := t.UnixNano()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: retention: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, q := range []struct {
		sql string
		arg int64
	}{
		{`DELETE FROM batches WHERE block_id IN (SELECT id FROM blocks WHERE max_time < ?)`, ns},
		{`DELETE FROM block_fields WHERE id IN (SELECT id FROM blocks WHERE max_time < ?)`, ns},
		{`DELETE FROM blocks WHERE max_time < ?`, ns},
		{`DELETE FROM counts WHERE second < ?`, ns / 1e9},
	} {
		if _, err := tx.ExecContext(ctx, q.sql, q.arg); err != nil {
			return fmt.Errorf("sqlite: retention before %s: %w", t.Format(time.RFC3339), err)
		}
	}
	if err := retainRollups(ctx, tx, ns/1e9); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE services SET total = coalesce((SELECT sum(records) FROM blocks WHERE service = services.name), 0)`); err != nil {
		return fmt.Errorf("sqlite: retention totals: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM services WHERE total = 0`); err != nil {
		return fmt.Errorf("sqlite: retention services: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: retention commit: %w", err)
	}
	s.cache.clear()
	return nil
}
