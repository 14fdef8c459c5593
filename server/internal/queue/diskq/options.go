package diskq

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
)

// Defaults of Options.
const (
	DefaultMaxBytes     int64 = 1 << 30
	DefaultSegmentBytes int64 = 64 << 20
	DefaultMemoryBytes  int64 = 16 << 20
	DefaultMaxDelivery        = 32
)

// maxDeliveryRecords caps the records of one ConsumeBatches call (a delivery
// always holds at least one batch).
const maxDeliveryRecords = 32 << 10

// Options configures a Queue. The zero value gives the defaults.
type Options struct {
	// MaxBytes bounds the unacknowledged bytes on disk (frames including
	// headers). Publish beyond it returns a *pipeline.FullError. Default 1 GiB.
	MaxBytes int64
	// SegmentBytes is the size at which a segment file is closed and a new
	// one started. Default 64 MiB.
	SegmentBytes int64
	// MemoryBytes bounds the cache of recently published batches that Run
	// delivers without reading and decoding them from disk, counted in
	// encoded bytes (the decoded form is larger, typically 2-3x).
	// Default 16 MiB (about 50 MiB decoded); a negative value disables the cache.
	MemoryBytes int64
	// MaxDelivery is the most batches handed to one ConsumeBatches call
	// (also capped at ~32k records). Default 32.
	MaxDelivery int
	// Observer, if set, sees every published batch once, in publish order,
	// right after its fsync, from the committer goroutine; it must not block.
	Observer pipeline.Observer
	// Logger receives recovery, corruption and retry messages. Default: none.
	Logger *zap.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.MemoryBytes == 0 {
		o.MemoryBytes = DefaultMemoryBytes
	}
	if o.MemoryBytes < 0 {
		o.MemoryBytes = 0
	}
	if o.MaxDelivery == 0 {
		o.MaxDelivery = DefaultMaxDelivery
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	switch {
	case o.MaxBytes < 0:
		return o, fmt.Errorf("diskq: MaxBytes %d is negative", o.MaxBytes)
	case o.SegmentBytes < 0:
		return o, fmt.Errorf("diskq: SegmentBytes %d is negative", o.SegmentBytes)
	case o.MaxDelivery < 0:
		return o, fmt.Errorf("diskq: MaxDelivery %d is negative", o.MaxDelivery)
	}
	return o, nil
}
