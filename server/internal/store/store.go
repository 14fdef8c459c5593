package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

// ErrNotFound is returned by Get for an id that names no stored record.
var ErrNotFound = errors.New("not found")

// ErrBadCursor is returned by Search for a cursor it did not issue.
var ErrBadCursor = errors.New("invalid cursor")

// ErrUnstorable marks a WriteBatches error that retrying cannot fix: the
// engine refuses the data of some batch of the call (the error says why,
// e.g. with a PostgreSQL SQLSTATE). The queue in front then stores the
// batches one by one and dead-letters those that fail alone. Any other
// write error (the database away, a full disk) is retried.
var ErrUnstorable = errors.New("unstorable")

// Writer stores batches.
//
// WriteBatches stores every batch of bs in one durable unit and returns the
// number of records newly stored. It is idempotent by batch id: a batch id
// stored before (also earlier in bs) is skipped and its records not counted.
// It accepts every batch that package validate accepts, storing each field
// as is or as the engine's documented normalisation of it; an error that
// retrying cannot fix wraps ErrUnstorable. Safe for concurrent use.
type Writer interface {
	WriteBatches(ctx context.Context, bs []*sawmillv1.LogBatch) (stored int, err error)
}

// Reader answers queries. Every method is safe for concurrent use, and every
// engine gives the same answers (see storetest).
type Reader interface {
	// Search returns one page of matching records in the requested order
	// (newest first by default; ties broken by id, in the same direction).
	Search(ctx context.Context, q SearchQuery) (Page, error)
	// Count returns the number of matching records.
	Count(ctx context.Context, f Filter) (uint64, error)
	// Get returns the record with this id and up to surrounding records of
	// the same service before and after it.
	Get(ctx context.Context, id string, surrounding int) (Detail, error)
	// Stats returns counts per bucket of width q.Step (a whole number of
	// seconds; buckets aligned to multiples of Step since the unix epoch),
	// service and severity level, for the records matching q.Filter, in
	// bucket, service, level order. The time range counts whole buckets: the
	// buckets overlapping [From, To). Empty buckets are omitted.
	Stats(ctx context.Context, q StatsQuery) ([]Bucket, error)
	// Services lists every service with stored records, by name.
	Services(ctx context.Context) ([]Service, error)
}

// Store is a complete store engine.
type Store interface {
	Writer
	Reader
	// DeleteBefore removes records older than t (retention). Engines may
	// remove whole partitions or blocks, so records slightly older than t
	// can remain until the next call; nothing at or after t is removed.
	DeleteBefore(ctx context.Context, t time.Time) error
	// Close releases the store; it is idempotent.
	Close() error
}

// SearchQuery is one page request.
type SearchQuery struct {
	Filter      Filter
	Limit       int    // 1..MaxLimit; 0 means DefaultLimit
	Cursor      string // from Page.NextCursor; empty for the first page
	OldestFirst bool
}

// Page limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Page is one page of results.
type Page struct {
	Entries    []*sawmillv1.LogEntry
	NextCursor string // empty on the last page
}

// Detail is one record with its neighbours from the same service.
type Detail struct {
	Entry  *sawmillv1.LogEntry
	Before []*sawmillv1.LogEntry // older, newest first
	After  []*sawmillv1.LogEntry // newer, oldest first
}

// StatsQuery asks for counts over time.
type StatsQuery struct {
	Filter Filter
	Step   time.Duration // > 0
}

// Bucket is one count.
type Bucket struct {
	Start    time.Time
	Service  string
	Severity int32 // the level's canonical value: 1, 5, 9, 13, 17 or 21
	Count    uint64
}

// Service describes one service seen by the store.
type Service struct {
	Name     string
	LastSeen time.Time // time of its newest stored record
	Total    uint64    // records stored
}

// SortBuckets sorts buckets by start, service and severity, the order every
// engine returns them in.
func SortBuckets(bs []Bucket) {
	slices.SortFunc(bs, func(a, b Bucket) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		if c := strings.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return int(a.Severity - b.Severity)
	})
}
