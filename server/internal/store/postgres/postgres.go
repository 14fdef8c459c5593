package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// Mode is how logs are laid out in the database.
type Mode string

// Modes.
const (
	// ModeTimescaleDB is a hypertable with compression, retention policy and
	// a continuous aggregate.
	ModeTimescaleDB Mode = "timescaledb"
	// ModePartitioned is plain PostgreSQL with one partition per day.
	ModePartitioned Mode = "partitioned"
)

// TimescaleDB choices for Options.TimescaleDB.
const (
	TimescaleAuto    = "auto"    // use it when the extension can be created
	TimescaleRequire = "require" // fail when it cannot
	TimescaleOff     = "off"     // plain PostgreSQL
)

// Options configure the store; zero values take defaults.
type Options struct {
	// TimescaleDB is auto (default), require or off. It only matters when
	// the schema is created; an existing database keeps its mode.
	TimescaleDB string
	// Retention feeds the TimescaleDB retention policy (0: none). In the
	// partitioned mode retention runs through DeleteBefore.
	Retention time.Duration
	// MaxConns bounds the connection pool (default 8, at least 2:
	// retention and maintenance hold one for their lock while they work on
	// another).
	MaxConns int32
	// TextIndexAfter is how long after its day ended a day partition gets
	// its trigram text index (partitioned mode with pg_trgm; default 10m).
	TextIndexAfter time.Duration
	// Logger receives the mode chosen and maintenance messages.
	Logger *zap.Logger
}

// Store is the PostgreSQL store.
type Store struct {
	pool *pgxpool.Pool
	mode Mode
	opts Options
	log  *zap.Logger
	trgm bool // pg_trgm is installed (partitioned mode)

	partMu sync.Mutex
	parts  map[int64]bool // days (unix day numbers) whose partition exists

	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or DSN), applies
// the schema migrations and returns the store.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if opts.TimescaleDB == "" {
		opts.TimescaleDB = TimescaleAuto
	}
	switch opts.TimescaleDB {
	case TimescaleAuto, TimescaleRequire, TimescaleOff:
	default:
		return nil, fmt.Errorf("postgres: timescaledb option %q: want auto, require or off", opts.TimescaleDB)
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 8
	}
	opts.MaxConns = max(opts.MaxConns, 2)
	if opts.TextIndexAfter <= 0 {
		opts.TextIndexAfter = 10 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse database URL: %w", err)
	}
	cfg.MaxConns = opts.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s := &Store{pool: pool, opts: opts, log: opts.Logger, parts: map[int64]bool{}}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')`).Scan(&s.trgm); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: look up pg_trgm: %w", err)
	}
	if s.mode == ModeTimescaleDB {
		if err := s.timescalePolicies(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("postgres: timescaledb policies: %w", err)
		}
	}
	s.log.Info("postgres store", zap.String("mode", string(s.mode)), zap.Bool("trigram_text_index", s.trgm && s.mode == ModePartitioned))
	return s, nil
}

// Mode returns the layout the database uses.
func (s *Store) Mode() Mode { return s.mode }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Close closes the connection pool; it is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}

// timescalePolicies sets the retention policies from Options.Retention.
func (s *Store) timescalePolicies(ctx context.Context) error {
	for _, rel := range []string{"logs", "logs_per_minute"} {
		if _, err := s.pool.Exec(ctx, `SELECT remove_retention_policy($1::regclass, if_exists => true)`, rel); err != nil {
			return fmt.Errorf("remove retention policy of %s: %w", rel, err)
		}
		if s.opts.Retention <= 0 {
			continue
		}
		// Hourly, as the aggregate's and the hypertable's chunks are hours
		// (the default for an integer time column is daily).
		if _, err := s.pool.Exec(ctx, `SELECT add_retention_policy($1::regclass, drop_after => $2::bigint, schedule_interval => INTERVAL '1 hour')`, rel, s.opts.Retention.Nanoseconds()); err != nil {
			return fmt.Errorf("add retention policy of %s: %w", rel, err)
		}
	}
	return nil
}
