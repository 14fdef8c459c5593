package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// blockIter walks candidate blocks in order (by max_time descending, or by
// min_time ascending), a chunk of rows per query, keyset-paginated.
type blockIter struct {
	s          *Store
	m          *store.Matcher
	desc       bool
	where      string
	args       []any
	withData   bool // select the text bloom
	withFields bool // select the fields bloom

	chunk   []blockMeta
	pos     int
	lastT   int64
	lastID  int64
	started bool
	done    bool
}

const iterChunk = 256

// newBlockIter selects the blocks that may hold records matching m, after
// cur when it is not nil. from and to override the matcher's time range
// (stats widen it to whole buckets).
func (s *Store) newBlockIter(m *store.Matcher, desc bool, cur *store.Key, from, to int64, extra string) *blockIter {
	f := m.Filter()
	var conds []string
	var args []any
	if len(f.Services) > 0 {
		conds = append(conds, `service IN (?`+strings.Repeat(`,?`, len(f.Services)-1)+`)`)
		for _, svc := range f.Services {
			args = append(args, svc)
		}
	}
	if from != 0 {
		conds = append(conds, `max_time >= ?`)
		args = append(args, from)
	}
	if to != 0 {
		conds = append(conds, `min_time < ?`)
		args = append(args, to)
	}
	if f.MinSeverity > 0 {
		conds = append(conds, `max_sev >= ?`)
		args = append(args, f.MinSeverity)
	}
	if cur != nil {
		if desc {
			conds = append(conds, `min_time <= ?`)
		} else {
			conds = append(conds, `max_time >= ?`)
		}
		args = append(args, cur.Time)
	}
	if extra != "" {
		conds = append(conds, extra)
	}
	where := "1"
	if len(conds) > 0 {
		where = strings.Join(conds, " AND ")
	}
	// Only the blooms the filter tests are read: they are most of the bytes
	// of a block's metadata.
	return &blockIter{s: s, m: m, desc: desc, where: where, args: args,
		withData: m.HasText() || len(f.Attrs) > 0, withFields: f.HasRecordFields() || f.HasResourceFields()}
}

// next returns the next candidate block; ok is false at the end. Blocks
// whose filter rules out the text and attribute conditions are skipped
// here, as their rows are read, so no filter outlives its row; the blocks
// returned carry no filter.
func (it *blockIter) next(ctx context.Context) (blockMeta, bool, error) {
	for it.pos >= len(it.chunk) {
		if it.done {
			return blockMeta{}, false, nil
		}
		if err := it.fill(ctx); err != nil {
			return blockMeta{}, false, err
		}
	}
	it.pos++
	return it.chunk[it.pos-1], true, nil
}

// fill reads the next chunk of block rows.
func (it *blockIter) fill(ctx context.Context) error {
	cols := `id, service, min_time, max_time, records, max_sev, n_trace, n_debug, n_info, n_warn, n_error, n_fatal`
	if it.withData {
		cols += `, bloom`
	}
	if it.withFields {
		cols += `, (SELECT fields FROM block_fields f WHERE f.id = blocks.id)`
	}
	q := `SELECT ` + cols + ` FROM blocks WHERE ` + it.where
	args := slices.Clone(it.args)
	if it.desc {
		if it.started {
			q += ` AND (max_time < ? OR (max_time = ? AND id < ?))`
			args = append(args, it.lastT, it.lastT, it.lastID)
		}
		q += ` ORDER BY max_time DESC, id DESC`
	} else {
		if it.started {
			q += ` AND (min_time > ? OR (min_time = ? AND id > ?))`
			args = append(args, it.lastT, it.lastT, it.lastID)
		}
		q += ` ORDER BY min_time ASC, id ASC`
	}
	q += fmt.Sprintf(` LIMIT %d`, iterChunk)
	rows, err := it.s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlite: select blocks: %w", err)
	}
	it.chunk, it.pos = it.chunk[:0], 0
	scanned := 0
	for rows.Next() {
		var b blockMeta
		dest := []any{&b.id, &b.service, &b.minTime, &b.maxTime, &b.records, &b.maxSev,
			&b.levels[0], &b.levels[1], &b.levels[2], &b.levels[3], &b.levels[4], &b.levels[5]}
		var bl, fl sql.RawBytes // valid until the next row: only tested here
		if it.withData {
			dest = append(dest, &bl)
		}
		if it.withFields {
			dest = append(dest, &fl)
		}
		if err := rows.Scan(dest...); err != nil {
			_ = rows.Close()
			return fmt.Errorf("sqlite: scan block: %w", err)
		}
		scanned++
		it.lastID = b.id
		if it.desc {
			it.lastT = b.maxTime
		} else {
			it.lastT = b.minTime
		}
		if it.withData && !mayMatchText(it.m, filter(bl)) {
			continue
		}
		if it.withFields && !bloom(fl).mayHaveFields(it.m.Filter()) {
			continue
		}
		it.chunk = append(it.chunk, b)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("sqlite: select blocks: %w", err)
	}
	it.started = true
	if scanned < iterChunk {
		it.done = true
	}
	return nil
}

// mayMatchText applies a block's filter to the text and attribute
// conditions.
func mayMatchText(m *store.Matcher, f filter) bool {
	if m.HasText() && !f.mayContain(m.Needle()) {
		return false
	}
	for _, a := range m.Filter().Attrs {
		if !f.mayHaveAttr(a.Key, a.Value) {
			return false
		}
	}
	return true
}

// block returns the decoded batches of block id, from the cache if possible.
// The result is shared: callers must not modify it. It checks ctx first, so
// a long scan stops soon after its caller gives up.
func (s *Store) block(ctx context.Context, id int64) ([]*sawmillv1.LogBatch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if bs, ok := s.cache.get(id); ok {
		return bs, nil
	}
	var data []byte
	if err := s.rdb.QueryRowContext(ctx, `SELECT data FROM blocks WHERE id = ?`, id).Scan(&data); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlite: block %d: %w", id, store.ErrNotFound)
		}
		return nil, fmt.Errorf("sqlite: read block %d: %w", id, err)
	}
	bs, err := s.codec.decode(data)
	if err != nil {
		return nil, fmt.Errorf("sqlite: block %d: %w", id, err)
	}
	n := 0
	for _, b := range bs {
		n += len(b.GetRecords())
	}
	s.cache.put(id, bs, n)
	return bs, nil
}

type hit struct {
	key   store.Key
	entry *sawmillv1.LogEntry
}

// Search returns one page of matching records.
func (s *Store) Search(ctx context.Context, q store.SearchQuery) (store.Page, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	limit = min(limit, store.MaxLimit)
	var cur *store.Key
	if q.Cursor != "" {
		k, err := store.DecodeCursor(q.Cursor, q)
		if err != nil {
			return store.Page{}, err
		}
		cur = &k
	}
	desc := !q.OldestFirst
	m := store.NewMatcher(q.Filter)
	f := m.Filter()
	it := s.newBlockIter(m, desc, cur, f.From, f.To, "")
	// before reports whether a sorts before b in the page's order.
	before := func(a, b store.Key) bool {
		if desc {
			return a.Compare(b) > 0
		}
		return a.Compare(b) < 0
	}
	want := limit + 1
	filtered := f.Selective()
	var out, buf []hit
	for len(out) < want {
		meta, ok, err := it.next(ctx)
		if err != nil {
			return store.Page{}, err
		}
		// Every record of blocks not yet read is at or beyond bound, so what
		// the buffer holds strictly before bound is final.
		slices.SortFunc(buf, func(a, b hit) int {
			if before(a.key, b.key) {
				return -1
			}
			if before(b.key, a.key) {
				return 1
			}
			return 0
		})
		n := 0
		for n < len(buf) && len(out) < want {
			if ok && ((desc && buf[n].key.Time <= meta.maxTime) || (!desc && buf[n].key.Time >= meta.minTime)) {
				break
			}
			out = append(out, buf[n])
			n++
		}
		buf = buf[n:]
		if len(buf) > want-len(out) {
			buf = buf[:want-len(out)] // the rest can never make the page
		}
		if !ok || len(out) >= want {
			break
		}
		if filtered {
			// Few records pass: test them in wire form (scan.go).
			err := s.scanBlock(ctx, meta.id, m, func(h *scanHit) error {
				k := store.Key{Time: h.Time, BatchID: h.BatchID, Index: h.Index}
				if cur != nil && !before(*cur, k) {
					return nil
				}
				r, err := h.Record()
				if err != nil {
					return err
				}
				res, err := h.Resource()
				if err != nil {
					return err
				}
				buf = append(buf, hit{key: k, entry: &sawmillv1.LogEntry{Id: k.ID(), Resource: res, Record: r}})
				return nil
			})
			if err != nil {
				return store.Page{}, err
			}
			continue
		}
		bs, err := s.block(ctx, meta.id)
		if err != nil {
			return store.Page{}, err
		}
		for _, b := range bs {
			for i, r := range b.GetRecords() {
				if !m.MatchRecord(r) {
					continue
				}
				k := store.Key{Time: int64(r.GetTimeUnixNano()), BatchID: b.GetBatchId(), Index: i}
				if cur != nil && !before(*cur, k) {
					continue
				}
				buf = append(buf, hit{key: k, entry: &sawmillv1.LogEntry{Id: k.ID(), Resource: b.GetResource(), Record: r}})
			}
		}
	}
	page := store.Page{}
	if len(out) > limit {
		page.NextCursor = store.EncodeCursor(out[limit-1].key, q)
		out = out[:limit]
	}
	page.Entries = make([]*sawmillv1.LogEntry, len(out))
	for i, h := range out {
		page.Entries[i] = h.entry
	}
	return page, nil
}

// fastCountable reports whether block counters answer the filter without
// opening blocks: no text or attribute condition, and a minimum severity at
// a level boundary.
func fastCountable(f store.Filter) bool {
	return !f.Selective() && (f.MinSeverity <= 0 || store.Level(f.MinSeverity) == f.MinSeverity)
}

// Count returns the number of matching records.
func (s *Store) Count(ctx context.Context, f store.Filter) (uint64, error) {
	m := store.NewMatcher(f)
	var total uint64
	fast := fastCountable(f)
	it := s.newBlockIter(m, true, nil, f.From, f.To, "")
	for {
		meta, ok, err := it.next(ctx)
		if err != nil {
			return 0, err
		}
		if !ok {
			return total, nil
		}
		inside := (f.From == 0 || meta.minTime >= f.From) && (f.To == 0 || meta.maxTime < f.To)
		if fast && inside {
			for l := store.LevelIndex(max(f.MinSeverity, 1)); l < store.NumLevels; l++ {
				total += uint64(meta.levels[l])
			}
			continue
		}
		if err := s.scanBlock(ctx, meta.id, m, func(*scanHit) error { total++; return nil }); err != nil {
			return 0, err
		}
	}
}

// Get returns one record and its neighbours of the same service.
func (s *Store) Get(ctx context.Context, id string, surrounding int) (store.Detail, error) {
	batchID, idx, err := store.ParseEntryID(id)
	if err != nil {
		return store.Detail{}, err
	}
	var blockID int64
	var first, n int
	err = s.rdb.QueryRowContext(ctx, `SELECT block_id, first, n FROM batches WHERE id = ?`, batchID).Scan(&blockID, &first, &n)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && idx >= n) {
		return store.Detail{}, fmt.Errorf("sqlite: log %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Detail{}, fmt.Errorf("sqlite: look up log %q: %w", id, err)
	}
	bs, err := s.block(ctx, blockID)
	if err != nil {
		return store.Detail{}, err
	}
	var d store.Detail
	for _, b := range bs {
		if b.GetBatchId() == batchID && idx < len(b.GetRecords()) {
			d.Entry = &sawmillv1.LogEntry{Id: id, Resource: b.GetResource(), Record: b.GetRecords()[idx]}
		}
	}
	if d.Entry == nil {
		return store.Detail{}, fmt.Errorf("sqlite: log %q: %w", id, store.ErrNotFound)
	}
	if surrounding <= 0 {
		return d, nil
	}
	key := store.Key{Time: int64(d.Entry.GetRecord().GetTimeUnixNano()), BatchID: batchID, Index: idx}
	olderQ := store.SearchQuery{Filter: store.Filter{Services: []string{d.Entry.GetResource().GetService()}}, Limit: surrounding}
	newerQ := olderQ
	newerQ.OldestFirst = true
	olderQ.Cursor, newerQ.Cursor = store.EncodeCursor(key, olderQ), store.EncodeCursor(key, newerQ)
	older, err := s.Search(ctx, olderQ)
	if err != nil {
		return store.Detail{}, err
	}
	newer, err := s.Search(ctx, newerQ)
	if err != nil {
		return store.Detail{}, err
	}
	d.Before, d.After = older.Entries, newer.Entries
	return d, nil
}

// Stats returns counts per bucket, service and level.
func (s *Store) Stats(ctx context.Context, q store.StatsQuery) ([]store.Bucket, error) {
	step := int64(q.Step / time.Second)
	if step < 1 {
		return nil, fmt.Errorf("sqlite: stats step %s: must be at least 1s", q.Step)
	}
	f := q.Filter
	// Whole buckets: From rounds down and To rounds up to the step.
	var fromSec, toSec int64
	if f.From != 0 {
		fromSec = f.From / 1e9 / step * step
	}
	if f.To != 0 {
		stepNs := step * 1e9
		toSec = (f.To + stepNs - 1) / stepNs * step
	}
	if fastCountable(f) {
		return s.statsFromCounts(ctx, f, step, fromSec, toSec)
	}
	type bk struct {
		start   int64
		service string
		level   int32
	}
	agg := map[bk]uint64{}
	wide := f
	wide.From, wide.To = fromSec*1e9, toSec*1e9
	m := store.NewMatcher(wide)
	it := s.newBlockIter(m, true, nil, fromSec*1e9, toSec*1e9, "")
	for {
		meta, ok, err := it.next(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		// Every batch of a block belongs to the block's service.
		err = s.scanBlock(ctx, meta.id, m, func(h *scanHit) error {
			sec := h.Time / 1e9
			agg[bk{sec / step * step, meta.service, store.Level(h.Sev)}]++
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]store.Bucket, 0, len(agg))
	for k, n := range agg {
		out = append(out, store.Bucket{Start: time.Unix(k.start, 0).UTC(), Service: k.service, Severity: k.level, Count: n})
	}
	store.SortBuckets(out)
	return out, nil
}

// Services lists the services with stored records.
func (s *Store) Services(ctx context.Context) ([]store.Service, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT name, last_seen, total FROM services ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: services: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []store.Service
	for rows.Next() {
		var sv store.Service
		var last int64
		if err := rows.Scan(&sv.Name, &last, &sv.Total); err != nil {
			return nil, fmt.Errorf("sqlite: services: %w", err)
		}
		sv.LastSeen = time.Unix(0, last).UTC()
		out = append(out, sv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: services: %w", err)
	}
	return out, nil
}
