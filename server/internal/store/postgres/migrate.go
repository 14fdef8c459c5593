package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrations lists the schema versions in order: version i+1 runs the
// common file and the file of the mode.
var migrations = []string{"0001", "0002"}

// migrationLock is the advisory lock key held while migrating ("sawmill" in
// ASCII), so replicas starting together migrate one at a time.
const migrationLock int64 = 0x73_61_77_6d_69_6c_6c

// migrate applies the missing schema versions and sets s.mode.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	defer func() {
		// A fresh context: the lock must be released even if ctx ended.
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) // closing the session releases the lock
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS sawmill_schema (
		version    integer PRIMARY KEY,
		mode       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("create sawmill_schema: %w", err)
	}
	var version int
	var mode string
	err = conn.QueryRow(ctx, `SELECT version, mode FROM sawmill_schema ORDER BY version DESC LIMIT 1`).Scan(&version, &mode)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		m, err := s.chooseMode(ctx, conn.Conn())
		if err != nil {
			return err
		}
		mode = string(m)
	case err != nil:
		return fmt.Errorf("read schema version: %w", err)
	}
	s.mode = Mode(mode)
	if s.mode != ModeTimescaleDB && s.mode != ModePartitioned {
		return fmt.Errorf("database has unknown mode %q", mode)
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this binary's %d", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		if err := s.apply(ctx, conn.Conn(), v+1); err != nil {
			return err
		}
		s.log.Info("postgres schema migrated", zap.Int("version", v+1), zap.String("mode", mode))
	}
	if s.mode == ModePartitioned {
		// pg_trgm serves the text index built behind ingest; without it text
		// search scans. It is a trusted extension (no superuser needed), but
		// may still be unavailable.
		if _, err := conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_trgm`); err != nil {
			s.log.Warn("pg_trgm unavailable: text search of old partitions will scan", zap.Error(err))
		}
	}
	return nil
}

// chooseMode picks the mode of a new schema from Options.TimescaleDB.
func (s *Store) chooseMode(ctx context.Context, conn *pgx.Conn) (Mode, error) {
	if s.opts.TimescaleDB == TimescaleOff {
		return ModePartitioned, nil
	}
	_, err := conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS timescaledb`)
	if err == nil {
		return ModeTimescaleDB, nil
	}
	if s.opts.TimescaleDB == TimescaleRequire {
		return "", fmt.Errorf("timescaledb required but unavailable: %w", err)
	}
	s.log.Info("timescaledb unavailable; using native daily partitions", zap.Error(err))
	return ModePartitioned, nil
}

// apply runs schema version v in one transaction.
func (s *Store) apply(ctx context.Context, conn *pgx.Conn, v int) error {
	name := migrations[v-1]
	var sqls []string
	for _, f := range []string{name + "_common.sql", name + "_" + string(s.mode) + ".sql"} {
		b, err := migrationFiles.ReadFile("migrations/" + f)
		if err != nil {
			return fmt.Errorf("schema version %d: %w", v, err)
		}
		sqls = append(sqls, string(b))
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("schema version %d: begin: %w", v, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	for _, q := range sqls {
		// No arguments: the simple protocol runs every statement of the file.
		if _, err := tx.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("schema version %d: %w", v, err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO sawmill_schema (version, mode) VALUES ($1, $2)`, v, string(s.mode)); err != nil {
		return fmt.Errorf("schema version %d: record: %w", v, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("schema version %d: commit: %w", v, err)
	}
	return nil
}
