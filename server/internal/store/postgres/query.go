package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// where builds a WHERE clause whose every value is a bound parameter.
type where struct {
	conds []string
	args  []any
}

// arg binds v and returns its placeholder.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return fmt.Sprintf("$%d", len(w.args))
}

func (w *where) add(cond string) { w.conds = append(w.conds, cond) }

func (w *where) String() string {
	if len(w.conds) == 0 {
		return "TRUE"
	}
	return strings.Join(w.conds, " AND ")
}

// likeEscaper escapes LIKE's wildcards and its escape character.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// filterWhere adds the conditions of f, with the time range [from, to)
// (0: unbounded) in place of f's.
func filterWhere(w *where, f store.Filter, from, to int64) {
	if len(f.Services) > 0 {
		w.add("service = ANY(" + w.arg(storableServices(f.Services)) + "::text[])")
	}
	if from != 0 {
		w.add("time >= " + w.arg(from))
	}
	if to != 0 {
		w.add("time < " + w.arg(to))
	}
	if f.MinSeverity > 0 {
		w.add("severity >= " + w.arg(f.MinSeverity))
	}
	if f.Text != "" {
		// LIKE, not strpos: a trigram index can serve LIKE.
		w.add("lower(body) LIKE " + w.arg("%"+likeEscaper.Replace(strings.ToLower(pgText(f.Text)))+"%"))
	}
	if len(f.TraceID) > 0 {
		w.add("trace_id = " + w.arg(f.TraceID))
	}
	if len(f.SpanID) > 0 {
		w.add("span_id = " + w.arg(f.SpanID))
	}
	textEq := func(col, v string) {
		if v == "" {
			return
		}
		if !utf8.ValidString(v) {
			w.add("FALSE") // no stored text is invalid UTF-8
			return
		}
		w.add(col + " = " + w.arg(pgText(v)) + "::text")
	}
	textEq("logger", f.Logger)
	textEq("error_type", f.ErrorType)
	if f.HasResourceFields() {
		var rw where
		rw.args = w.args
		for _, c := range []struct{ col, v string }{{"instance", f.Instance}, {"environment", f.Environment}, {"version", f.Version}} {
			if c.v == "" {
				continue
			}
			if !utf8.ValidString(c.v) {
				rw.add("FALSE")
				continue
			}
			rw.add("b." + c.col + " = " + rw.arg(pgText(c.v)) + "::text")
		}
		w.args = rw.args
		w.add("batch_id IN (SELECT b.id FROM batches b WHERE " + rw.String() + ")")
	}
	for _, a := range f.Attrs {
		if !utf8.ValidString(a.Key) || !utf8.ValidString(a.Value) {
			w.add("FALSE") // no stored attribute is invalid UTF-8
			continue
		}
		key := pgText(a.Key)
		path := strings.Split(key, ".")
		w.add(fmt.Sprintf("sawmill_attr_eq(attrs, %s, %s::text[], %s)", w.arg(key), w.arg(path), w.arg(pgText(a.Value))))
	}
}

const entryColumns = `time, batch_id, idx, severity, body, attrs, rec, trace_id, span_id`

type row struct {
	key     store.Key
	service string
	rec     *sawmillv1.LogRecord
}

// scanRows reads entryColumns (plus service when withService).
func scanRows(rows pgx.Rows, withService bool) ([]row, error) {
	defer rows.Close()
	var out []row
	for rows.Next() {
		var (
			r                row
			idx              int32
			sev              int16
			body, attrs, svc string
			rec, tid, sid    []byte
		)
		dest := []any{&r.key.Time, &r.key.BatchID, &idx, &sev, &body, &attrs, &rec, &tid, &sid}
		if withService {
			dest = append(dest, &svc)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		lr, err := decodeRecord(r.key.Time, sev, body, attrs, rec, tid, sid)
		if err != nil {
			return nil, err
		}
		r.key.Index, r.service, r.rec = int(idx), svc, lr
		out = append(out, r)
	}
	return out, rows.Err()
}

// entries attaches each row's resource, read from batches.
func (s *Store) entries(ctx context.Context, rs []row) ([]*sawmillv1.LogEntry, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(rs))
	seen := map[string]bool{}
	for _, r := range rs {
		if !seen[r.key.BatchID] {
			seen[r.key.BatchID] = true
			ids = append(ids, r.key.BatchID)
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT id, resource FROM batches WHERE id = ANY($1::text[])`, ids)
	if err != nil {
		return nil, fmt.Errorf("postgres: read resources: %w", err)
	}
	res := make(map[string]*sawmillv1.Resource, len(ids))
	for rows.Next() {
		var id string
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: read resources: %w", err)
		}
		r := &sawmillv1.Resource{}
		if err := proto.Unmarshal(b, r); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: decode resource of batch %s: %w", id, err)
		}
		res[id] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: read resources: %w", err)
	}
	out := make([]*sawmillv1.LogEntry, len(rs))
	for i, r := range rs {
		rsc := res[r.key.BatchID]
		if rsc == nil {
			rsc = &sawmillv1.Resource{Service: r.service}
		}
		out[i] = &sawmillv1.LogEntry{Id: r.key.ID(), Resource: rsc, Record: r.rec}
	}
	return out, nil
}

// Search returns one page of matching records.
func (s *Store) Search(ctx context.Context, q store.SearchQuery) (store.Page, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	limit = min(limit, store.MaxLimit)
	var w where
	filterWhere(&w, q.Filter, q.Filter.From, q.Filter.To)
	if q.Cursor != "" {
		k, err := store.DecodeCursor(q.Cursor, q)
		if err != nil {
			return store.Page{}, err
		}
		t, b, i := w.arg(k.Time), w.arg(k.BatchID), w.arg(int32(k.Index))
		if q.OldestFirst {
			w.add(fmt.Sprintf("time >= %s AND (time, batch_id, idx) > (%s, %s::text, %s::integer)", t, t, b, i))
		} else {
			w.add(fmt.Sprintf("time <= %s AND (time, batch_id, idx) < (%s, %s::text, %s::integer)", t, t, b, i))
		}
	}
	dir := "DESC"
	if q.OldestFirst {
		dir = "ASC"
	}
	sql := fmt.Sprintf(`SELECT %s, service FROM logs WHERE %s ORDER BY time %s, batch_id %s, idx %s LIMIT %s`,
		entryColumns, w.String(), dir, dir, dir, w.arg(limit+1))
	rows, err := s.pool.Query(ctx, sql, w.args...)
	if err != nil {
		return store.Page{}, fmt.Errorf("postgres: search: %w", err)
	}
	rs, err := scanRows(rows, true)
	if err != nil {
		return store.Page{}, fmt.Errorf("postgres: search: %w", err)
	}
	var page store.Page
	if len(rs) > limit {
		rs = rs[:limit]
		page.NextCursor = store.EncodeCursor(rs[len(rs)-1].key, q)
	}
	if page.Entries, err = s.entries(ctx, rs); err != nil {
		return store.Page{}, err
	}
	return page, nil
}

// Count returns the number of matching records.
func (s *Store) Count(ctx context.Context, f store.Filter) (uint64, error) {
	var w where
	filterWhere(&w, f, f.From, f.To)
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM logs WHERE `+w.String(), w.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count: %w", err)
	}
	return uint64(n), nil
}

// Get returns a record and its neighbours of the same service.
func (s *Store) Get(ctx context.Context, id string, surrounding int) (store.Detail, error) {
	batchID, idx, err := store.ParseEntryID(id)
	if err != nil {
		return store.Detail{}, err
	}
	var service string
	var lo, hi int64
	err = s.pool.QueryRow(ctx, `SELECT service, min_time, max_time FROM batches WHERE id = $1`, batchID).Scan(&service, &lo, &hi)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Detail{}, fmt.Errorf("log id %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Detail{}, fmt.Errorf("postgres: get %q: %w", id, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+entryColumns+`, service FROM logs
		WHERE time BETWEEN $1 AND $2 AND batch_id = $3 AND idx = $4`, lo, hi, batchID, int32(idx))
	if err != nil {
		return store.Detail{}, fmt.Errorf("postgres: get %q: %w", id, err)
	}
	rs, err := scanRows(rows, true)
	if err != nil {
		return store.Detail{}, fmt.Errorf("postgres: get %q: %w", id, err)
	}
	if len(rs) == 0 {
		return store.Detail{}, fmt.Errorf("log id %q: %w", id, store.ErrNotFound)
	}
	k := rs[0].key
	if surrounding > 0 {
		for _, side := range []struct {
			cmp, bound, dir string
		}{{"<", "<=", "DESC"}, {">", ">=", "ASC"}} {
			q := fmt.Sprintf(`SELECT %s, service FROM logs WHERE service = $1 AND time %s $2
				AND (time, batch_id, idx) %s ($2, $3::text, $4::integer)
				ORDER BY time %s, batch_id %s, idx %s LIMIT $5`, entryColumns, side.bound, side.cmp, side.dir, side.dir, side.dir)
			rows, err := s.pool.Query(ctx, q, service, k.Time, k.BatchID, int32(k.Index), surrounding)
			if err != nil {
				return store.Detail{}, fmt.Errorf("postgres: surrounding of %q: %w", id, err)
			}
			more, err := scanRows(rows, true)
			if err != nil {
				return store.Detail{}, fmt.Errorf("postgres: surrounding of %q: %w", id, err)
			}
			rs = append(rs, more...)
		}
	}
	es, err := s.entries(ctx, rs)
	if err != nil {
		return store.Detail{}, err
	}
	d := store.Detail{Entry: es[0]}
	for i, r := range rs[1:] {
		if r.key.Compare(k) < 0 {
			d.Before = append(d.Before, es[i+1])
		} else {
			d.After = append(d.After, es[i+1])
		}
	}
	return d, nil
}

// levelSQL is store.Level in SQL.
const levelSQL = `(CASE WHEN severity BETWEEN 1 AND 24 THEN (severity - 1) / 4 * 4 + 1 ELSE 9 END)`

// Stats returns counts per step-aligned bucket, service and level.
func (s *Store) Stats(ctx context.Context, q store.StatsQuery) ([]store.Bucket, error) {
	st := q.Step.Nanoseconds()
	if st <= 0 {
		return nil, fmt.Errorf("postgres: stats step %s: must be positive", q.Step)
	}
	f := q.Filter
	from, to := f.From, f.To
	if from != 0 {
		from = from / st * st
	}
	if to != 0 {
		to = (to + st - 1) / st * st
	}
	var w where
	var sql string
	if s.fitsAggregate(q) {
		sql = s.aggregateStats(&w, f, from, to, st)
	} else {
		filterWhere(&w, f, from, to)
		stepArg := w.arg(st)
		sql = fmt.Sprintf(`SELECT time / %s * %s AS b, service, %s AS lvl, count(*) FROM logs WHERE %s
			GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, stepArg, stepArg, levelSQL, w.String())
	}
	rows, err := s.pool.Query(ctx, sql, w.args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: stats: %w", err)
	}
	defer rows.Close()
	out := []store.Bucket{}
	for rows.Next() {
		var b int64
		var svc string
		var lvl int32
		var n int64
		if err := rows.Scan(&b, &svc, &lvl, &n); err != nil {
			return nil, fmt.Errorf("postgres: stats: %w", err)
		}
		out = append(out, store.Bucket{Start: time.Unix(0, b).UTC(), Service: svc, Severity: lvl, Count: uint64(n)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: stats: %w", err)
	}
	store.SortBuckets(out)
	return out, nil
}

// fitsAggregate reports whether the per-minute continuous aggregate answers
// q exactly: TimescaleDB mode, a whole number of minutes per step, no text or
// attribute filter, and a minimum severity that is a level boundary.
func (s *Store) fitsAggregate(q store.StatsQuery) bool {
	f := q.Filter
	return s.mode == ModeTimescaleDB && q.Step%time.Minute == 0 && !f.Selective() &&
		(f.MinSeverity <= 0 || (f.MinSeverity <= 21 && store.Level(f.MinSeverity) == f.MinSeverity)) &&
		(f.From == 0 || f.From%int64(time.Minute) == 0) && (f.To == 0 || f.To%int64(time.Minute) == 0)
}

// aggregateStats queries the continuous aggregate logs_per_minute.
func (s *Store) aggregateStats(w *where, f store.Filter, from, to, st int64) string {
	if len(f.Services) > 0 {
		w.add("service = ANY(" + w.arg(storableServices(f.Services)) + "::text[])")
	}
	if from != 0 {
		w.add("minute >= " + w.arg(from))
	}
	if to != 0 {
		w.add("minute < " + w.arg(to))
	}
	if f.MinSeverity > 0 {
		w.add("level >= " + w.arg(f.MinSeverity))
	}
	stepArg := w.arg(st)
	return fmt.Sprintf(`SELECT minute / %s * %s AS b, service, level::integer, sum(n)::bigint FROM logs_per_minute WHERE %s
		GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, stepArg, stepArg, w.String())
}

// Services lists every service with stored records.
func (s *Store) Services(ctx context.Context) ([]store.Service, error) {
	rows, err := s.pool.Query(ctx, `SELECT service, max(max_time), sum(records)::bigint FROM batches
		GROUP BY service HAVING sum(records) > 0 ORDER BY service`)
	if err != nil {
		return nil, fmt.Errorf("postgres: services: %w", err)
	}
	defer rows.Close()
	var out []store.Service
	for rows.Next() {
		var sv store.Service
		var last, total int64
		if err := rows.Scan(&sv.Name, &last, &total); err != nil {
			return nil, fmt.Errorf("postgres: services: %w", err)
		}
		sv.LastSeen, sv.Total = time.Unix(0, last).UTC(), uint64(total)
		out = append(out, sv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: services: %w", err)
	}
	return out, nil
}

// retentionLock serializes retention passes across replicas (advisory lock
// key): every replica runs one, and in TimescaleDB mode two at once would
// drop the same chunks and refresh the same aggregate window.
const retentionLock int64 = partitionLock + 2

// DeleteBefore removes records older than t: whole partitions (chunks)
// first, then the older rows of the partition holding t, then the batch ids
// of batches wholly removed (a batch cut in two keeps its id and the count
// of its remaining records). One replica at a time runs it; the others wait
// for it (then mostly find nothing left to do).
func (s *Store) DeleteBefore(ctx context.Context, t time.Time) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: retention: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, retentionLock); err != nil {
		return fmt.Errorf("postgres: retention: take lock: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, retentionLock); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) // closing the session releases the lock
		}
	}()
	return s.deleteBefore(ctx, t)
}

func (s *Store) deleteBefore(ctx context.Context, t time.Time) error {
	cut := t.UnixNano()
	switch s.mode {
	case ModePartitioned:
		if err := s.dropPartitions(ctx, cut); err != nil {
			return err
		}
	case ModeTimescaleDB:
		for _, rel := range []string{"logs", "logs_per_minute"} {
			if _, err := s.pool.Exec(ctx, `SELECT drop_chunks($1::regclass, older_than => $2::bigint)`, rel, cut); err != nil {
				return fmt.Errorf("postgres: retention: drop chunks of %s: %w", rel, err)
			}
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM logs WHERE time < $1`, cut); err != nil {
			return fmt.Errorf("delete records: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM batches WHERE max_time < $1`, cut); err != nil {
			return fmt.Errorf("delete batch ids: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE batches b SET min_time = $1,
			records = (SELECT count(*) FROM logs l WHERE l.time BETWEEN $1 AND b.max_time AND l.batch_id = b.id)
			WHERE b.min_time < $1`, cut); err != nil {
			return fmt.Errorf("recount cut batches: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: retention before %s: %w", t.UTC().Format(time.RFC3339), err)
	}
	if s.mode == ModeTimescaleDB {
		// The rows deleted above invalidated part of the aggregate; refresh
		// it now rather than at the next policy run.
		lo, hi := (cut-int64(time.Hour))/int64(time.Minute)*int64(time.Minute), (cut/int64(time.Minute)+1)*int64(time.Minute)
		if err := s.refreshAggregate(ctx, lo, hi); err != nil {
			return fmt.Errorf("postgres: retention: refresh aggregate: %w", err)
		}
	}
	return nil
}

// lockNotAvailable is SQLSTATE lock_not_available, TimescaleDB's answer to a
// refresh while another refresh of the same aggregate runs.
const lockNotAvailable = "55P03"

// refreshAggregate refreshes logs_per_minute over [lo, hi), retrying while
// another refresh of it (the policy's, every minute) holds it.
func (s *Store) refreshAggregate(ctx context.Context, lo, hi int64) error {
	wait := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		_, err := s.pool.Exec(ctx, `CALL refresh_continuous_aggregate('logs_per_minute', $1::bigint, $2::bigint)`, lo, hi)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != lockNotAvailable || attempt == 20 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// dropPartitions drops the day partitions that end at or before cut.
func (s *Store) dropPartitions(ctx context.Context, cut int64) error {
	parts, err := s.partitions(ctx)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if (p.day+1)*dayNs > cut {
			continue
		}
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, partitionLock); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+p.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: retention: drop partition %s: %w", p.name, err)
		}
		s.partMu.Lock()
		delete(s.parts, p.day)
		s.partMu.Unlock()
		s.log.Info("retention dropped partition", zap.String("partition", p.name))
	}
	return nil
}
