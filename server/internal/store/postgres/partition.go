package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// partitionLock serializes partition DDL across replicas (advisory lock key).
const partitionLock int64 = 0x73_61_77_70_61_72_74

// partitionName is the name of the partition of unix day d: logs_YYYYMMDD.
func partitionName(d int64) string {
	return "logs_" + time.Unix(d*86400, 0).UTC().Format("20060102")
}

// partitionDay parses a name made by partitionName.
func partitionDay(name string) (int64, bool) {
	digits, ok := strings.CutPrefix(name, "logs_")
	if !ok || len(digits) != 8 {
		return 0, false
	}
	if _, err := strconv.Atoi(digits); err != nil {
		return 0, false
	}
	t, err := time.Parse("20060102", digits)
	if err != nil {
		return 0, false
	}
	return floorDiv(t.Unix(), 86400), true
}

// ensurePartitions creates the day partitions of days that this process has
// not seen yet (partitioned mode; a no-op otherwise).
func (s *Store) ensurePartitions(ctx context.Context, days map[int64]bool) error {
	if s.mode != ModePartitioned || len(days) == 0 {
		return nil
	}
	s.partMu.Lock()
	var missing []int64
	for d := range days {
		if !s.parts[d] {
			missing = append(missing, d)
		}
	}
	s.partMu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, partitionLock); err != nil {
			return err
		}
		for _, d := range missing {
			// DDL takes no parameters; the name and bounds are digits built here.
			q := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF logs FOR VALUES FROM (%d) TO (%d)`,
				partitionName(d), d*dayNs, (d+1)*dayNs)
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("create partition %s: %w", partitionName(d), err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: partitions: %w", err)
	}
	s.partMu.Lock()
	for _, d := range missing {
		s.parts[d] = true
	}
	s.partMu.Unlock()
	return nil
}

// forgetPartitions drops the cache of existing partitions.
func (s *Store) forgetPartitions() {
	s.partMu.Lock()
	clear(s.parts)
	s.partMu.Unlock()
}

type partition struct {
	name    string
	day     int64
	trigram bool // has its text index
}

// partitions lists the day partitions of logs.
func (s *Store) partitions(ctx context.Context) ([]partition, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.relname::text,
			EXISTS (SELECT 1 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
				WHERE i.indrelid = c.oid AND ic.relname = c.relname || '_body_trgm' AND i.indisvalid)
		FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
		WHERE h.inhparent = 'logs'::regclass ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list partitions: %w", err)
	}
	var out []partition
	for rows.Next() {
		var p partition
		if err := rows.Scan(&p.name, &p.trigram); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: list partitions: %w", err)
		}
		if d, ok := partitionDay(p.name); ok {
			p.day = d
			out = append(out, p)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list partitions: %w", err)
	}
	return out, nil
}

// Maintain builds, behind ingest, the trigram text index of every day
// partition whose day ended at least Options.TextIndexAfter ago (partitioned
// mode with pg_trgm; otherwise it does nothing). The index is built with
// CREATE INDEX CONCURRENTLY, which does not block writes; one replica at a
// time does it (advisory lock). Searches of those days then use the index.
// It returns the number of indexes built.
func (s *Store) Maintain(ctx context.Context, now time.Time) (int, error) {
	if s.mode != ModePartitioned || !s.trgm {
		return 0, nil
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("postgres: maintain: %w", err)
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, partitionLock+1).Scan(&got); err != nil {
		return 0, fmt.Errorf("postgres: maintain: %w", err)
	}
	if !got {
		return 0, nil // another replica is at it
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, partitionLock+1); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	parts, err := s.partitions(ctx)
	if err != nil {
		return 0, err
	}
	built := 0
	for _, p := range parts {
		end := time.Unix(0, (p.day+1)*dayNs)
		if p.trigram || now.Sub(end) < s.opts.TextIndexAfter {
			continue
		}
		idx := p.name + "_body_trgm"
		start := time.Now()
		// An invalid index left by an interrupted build is dropped first.
		if _, err := conn.Exec(ctx, `DROP INDEX CONCURRENTLY IF EXISTS `+idx); err != nil {
			return built, fmt.Errorf("postgres: drop invalid index %s: %w", idx, err)
		}
		if _, err := conn.Exec(ctx, `CREATE INDEX CONCURRENTLY `+idx+` ON `+p.name+` USING gin (lower(body) gin_trgm_ops)`); err != nil {
			return built, fmt.Errorf("postgres: build text index of %s: %w", p.name, err)
		}
		built++
		s.log.Info("built text index behind ingest", zap.String("partition", p.name), zap.Duration("took", time.Since(start)))
	}
	return built, nil
}
