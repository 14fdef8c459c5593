package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

// logColumns are the columns COPY fills, in order.
var logColumns = []string{"time", "service", "batch_id", "idx", "severity", "body", "attrs", "rec",
	"trace_id", "span_id", "logger", "error_type"}

const dayNs = int64(24 * time.Hour)

// WriteBatches stores bs in one transaction and returns the records newly
// stored: batch ids are inserted first (ON CONFLICT DO NOTHING), then the
// records of the batches whose id was new are copied in. An error for data
// PostgreSQL refuses wraps store.ErrUnstorable (see permanentCode).
func (s *Store) WriteBatches(ctx context.Context, bs []*sawmillv1.LogBatch) (int, error) {
	seen := make(map[string]bool, len(bs))
	fresh := bs[:0:0]
	for _, b := range bs {
		if len(b.GetRecords()) == 0 || seen[b.GetBatchId()] {
			continue
		}
		seen[b.GetBatchId()] = true
		fresh = append(fresh, b)
	}
	if len(fresh) == 0 {
		return 0, nil
	}
	var (
		ids      = make([]string, len(fresh))
		services = make([]string, len(fresh))
		mins     = make([]int64, len(fresh))
		maxs     = make([]int64, len(fresh))
		counts   = make([]int32, len(fresh))
		res      = make([][]byte, len(fresh))
		insts    = make([]*string, len(fresh))
		envs     = make([]*string, len(fresh))
		vers     = make([]*string, len(fresh))
		days     = map[int64]bool{}
	)
	for i, b := range fresh {
		ids[i], services[i], counts[i] = b.GetBatchId(), b.GetResource().GetService(), int32(len(b.GetRecords()))
		lo, hi := int64(b.GetRecords()[0].GetTimeUnixNano()), int64(b.GetRecords()[0].GetTimeUnixNano())
		for _, r := range b.GetRecords() {
			t := int64(r.GetTimeUnixNano())
			lo, hi = min(lo, t), max(hi, t)
			if s.mode == ModePartitioned {
				days[floorDiv(t, dayNs)] = true
			}
		}
		mins[i], maxs[i] = lo, hi
		rb, err := proto.Marshal(b.GetResource())
		if err != nil {
			return 0, fmt.Errorf("postgres: encode resource of batch %s: %w", b.GetBatchId(), err)
		}
		res[i] = rb
		insts[i], envs[i], vers[i] = nullText(b.GetResource().GetInstance()), nullText(b.GetResource().GetEnvironment()), nullText(b.GetResource().GetVersion())
	}
	if err := s.ensurePartitions(ctx, days); err != nil {
		return 0, err
	}

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("postgres: begin write: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	rows, err := tx.Query(ctx, `INSERT INTO batches (id, service, min_time, max_time, records, resource, instance, environment, version)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::integer[], $6::bytea[], $7::text[], $8::text[], $9::text[])
		ON CONFLICT (id) DO NOTHING RETURNING id`, ids, services, mins, maxs, counts, res, insts, envs, vers)
	if err != nil {
		return 0, classify(fmt.Errorf("postgres: record %d batch ids: %w", len(ids), err))
	}
	inserted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, classify(fmt.Errorf("postgres: record %d batch ids: %w", len(ids), err))
	}
	if len(inserted) == 0 {
		return 0, nil
	}
	isNew := make(map[string]bool, len(inserted))
	for _, id := range inserted {
		isNew[id] = true
	}
	src := &copySource{}
	for _, b := range fresh {
		if isNew[b.GetBatchId()] {
			src.batches = append(src.batches, b)
		}
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"logs"}, logColumns, src)
	if err != nil {
		s.forgetPartitions() // a partition may have been dropped by another replica
		return 0, classify(fmt.Errorf("postgres: copy records of %d batches: %w", len(src.batches), err))
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, classify(fmt.Errorf("postgres: commit %d batches: %w", len(src.batches), err))
	}
	return int(n), nil
}

// copySource feeds COPY the records of batches, one row per record.
type copySource struct {
	batches []*sawmillv1.LogBatch
	b, i    int // current batch and record; i == -1 before the first Next
	started bool
	err     error
}

func (c *copySource) Next() bool {
	if !c.started {
		c.started, c.b, c.i = true, 0, -1
	}
	for c.b < len(c.batches) {
		c.i++
		if c.i < len(c.batches[c.b].GetRecords()) {
			return true
		}
		c.b, c.i = c.b+1, -1
	}
	return false
}

func (c *copySource) Values() ([]any, error) {
	b := c.batches[c.b]
	r := b.GetRecords()[c.i]
	rec, err := encodeRest(r)
	if err != nil {
		c.err = fmt.Errorf("encode record %d of batch %s: %w", c.i, b.GetBatchId(), err)
		return nil, c.err
	}
	return []any{
		int64(r.GetTimeUnixNano()), b.GetResource().GetService(), b.GetBatchId(), int32(c.i),
		int16(r.GetSeverityNumber()), pgText(r.GetBody()), pgAttrs(r.GetAttributesJson()), rec,
		nullBytes(r.GetTraceId()), nullBytes(r.GetSpanId()), nullText(r.GetLogger()), nullText(r.GetError().GetType()),
	}, nil
}

// nullText is s for a text column (see pgText), NULL when empty.
func nullText(s string) *string {
	if s == "" {
		return nil
	}
	t := pgText(s)
	return &t
}

// nullBytes is b for a bytea column, NULL when empty.
func nullBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func (c *copySource) Err() error { return c.err }

// encodeRest marshals the fields of r that have no column of their own.
// The trace and span ids have columns (decodeRecord takes them from there;
// rows stored before schema 2 have them in rec); the logger and error type
// columns serve filters only, rec keeps them exact.
func encodeRest(r *sawmillv1.LogRecord) ([]byte, error) {
	rest := &sawmillv1.LogRecord{
		ObservedTimeUnixNano: r.GetObservedTimeUnixNano(),
		SeverityText:         r.GetSeverityText(),
		Logger:               r.GetLogger(),
		Source:               r.GetSource(),
		Error:                r.GetError(),
	}
	return proto.Marshal(rest)
}

// decodeRecord rebuilds a record from its columns.
func decodeRecord(t int64, sev int16, body, attrs string, rec, traceID, spanID []byte) (*sawmillv1.LogRecord, error) {
	r := &sawmillv1.LogRecord{}
	if err := proto.Unmarshal(rec, r); err != nil {
		return nil, fmt.Errorf("postgres: decode stored record: %w", err)
	}
	r.TimeUnixNano = uint64(t)
	r.SeverityNumber = sawmillv1.SeverityNumber(sev)
	r.Body = body
	if len(traceID) > 0 {
		r.TraceId = traceID
	}
	if len(spanID) > 0 {
		r.SpanId = spanID
	}
	if attrs != "" {
		r.AttributesJson = []byte(attrs)
	}
	return r, nil
}

// floorDiv divides rounding toward negative infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
