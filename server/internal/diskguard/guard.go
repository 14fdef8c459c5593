package diskguard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
)

// StoreFactor is the disk space kept free per byte queued for the store.
const StoreFactor = 2

// Defaults of Options.
const (
	DefaultReserve  int64 = 256 << 20
	DefaultInterval       = 100 * time.Millisecond
	retryAfter            = time.Second
)

// Options configure a Guard.
type Options struct {
	// Dir is a directory on the watched filesystem (the data directory).
	Dir string
	// Reserve is the fixed floor of free bytes kept. Default DefaultReserve.
	Reserve int64
	// Queued reports the bytes queued that the store has still to write
	// (may be nil: none).
	Queued func() int64
	// Interval is how often free space is sampled. Default DefaultInterval.
	Interval time.Duration
	// Logger gets a line when the guard starts and stops refusing.
	Logger *zap.Logger
	// Registerer, if set, gets the guard's metrics.
	Registerer prometheus.Registerer
}

// Guard admits or refuses batches by the free space of a filesystem.
type Guard struct {
	opts Options
	log  *zap.Logger

	free     atomic.Int64 // at the last sample
	admitted atomic.Int64 // bytes admitted since the last sample
	refusing atomic.Bool
	refused  atomic.Int64

	mu     sync.Mutex
	reason string // why it refuses, while refusing

	stop chan struct{}
	done chan struct{}
}

// New samples the filesystem of opts.Dir once and starts sampling it every
// opts.Interval until Close.
func New(opts Options) (*Guard, error) {
	if opts.Reserve == 0 {
		opts.Reserve = DefaultReserve
	}
	if opts.Reserve < 0 {
		return nil, fmt.Errorf("diskguard: reserve %d is negative", opts.Reserve)
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Queued == nil {
		opts.Queued = func() int64 { return 0 }
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	g := &Guard{opts: opts, log: opts.Logger, stop: make(chan struct{}), done: make(chan struct{})}
	if err := g.sample(); err != nil {
		return nil, err
	}
	if r := opts.Registerer; r != nil {
		gauge := func(name, help string, f func() float64) prometheus.Collector {
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
		}
		r.MustRegister(
			gauge("sawmill_disk_free_bytes", "Free bytes on the data directory's filesystem (last sample).",
				func() float64 { return float64(g.free.Load()) }),
			gauge("sawmill_disk_reserve_bytes", "Free bytes ingest keeps: --disk-reserve plus twice the bytes queued for the store.",
				func() float64 { return float64(g.threshold(0)) }),
			gauge("sawmill_disk_ingest_refused", "1 while ingest refuses batches because the data directory's disk is nearly full.",
				func() float64 {
					if g.refusing.Load() {
						return 1
					}
					return 0
				}),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sawmill_disk_refused_batches_total", Help: "Batches refused (RESOURCE_EXHAUSTED) because the disk was nearly full."},
				func() float64 { return float64(g.refused.Load()) }),
		)
	}
	go g.loop()
	return g, nil
}

// Close stops sampling.
func (g *Guard) Close() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	<-g.done
}

func (g *Guard) loop() {
	defer close(g.done)
	t := time.NewTicker(g.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
			if err := g.sample(); err != nil {
				g.log.Warn("diskguard: sample free space", zap.Error(err))
			}
		}
	}
}

// sample reads the free space and updates the refusing state.
func (g *Guard) sample() error {
	before := g.admitted.Load()
	free, err := freeBytes(g.opts.Dir)
	if err != nil {
		return fmt.Errorf("diskguard: free space of %q: %w", g.opts.Dir, err)
	}
	g.free.Store(free)
	g.admitted.Add(-before) // what was admitted after the statfs still counts
	g.check(0)
	return nil
}

// threshold is the free space needed to admit a batch of n bytes.
func (g *Guard) threshold(n int64) int64 {
	return g.opts.Reserve + StoreFactor*(g.opts.Queued()+n) + n
}

// check decides whether a batch of n bytes may be written and updates the
// refusing state; it returns the reason when not.
func (g *Guard) check(n int64) (ok bool, reason string) {
	free := g.free.Load() - g.admitted.Load()
	need := g.threshold(n)
	if g.refusing.Load() {
		need += g.opts.Reserve / 4 // hysteresis
	}
	if free >= need {
		if g.refusing.CompareAndSwap(true, false) {
			g.log.Info("diskguard: disk space is back; accepting batches again", zap.String("dir", g.opts.Dir),
				zap.Int64("free_bytes", free), zap.Int64("reserve_bytes", need))
		}
		return true, ""
	}
	reason = fmt.Sprintf("disk nearly full: %s free on %s, reserve %s", Bytes(max(free, 0)), g.opts.Dir, Bytes(need))
	g.mu.Lock()
	g.reason = reason
	g.mu.Unlock()
	if g.refusing.CompareAndSwap(false, true) {
		g.log.Warn("diskguard: refusing batches until disk space is freed", zap.String("reason", reason),
			zap.Int64("free_bytes", free), zap.Int64("reserve_bytes", need))
	}
	return false, reason
}

// Admit returns nil when a batch of n encoded bytes may be written, counting
// it against the free space until the next sample, or a *pipeline.FullError
// with the reason.
func (g *Guard) Admit(n int64) error {
	if ok, reason := g.check(n); !ok {
		g.refused.Add(1)
		return &pipeline.FullError{RetryAfter: retryAfter, Reason: reason}
	}
	g.admitted.Add(n)
	return nil
}

// Err is nil while batches are admitted, else the reason they are refused.
func (g *Guard) Err() error {
	if !g.refusing.Load() {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.New(g.reason)
}

// Free returns the free bytes of the last sample.
func (g *Guard) Free() int64 { return g.free.Load() }

// Wrap returns q with a Publish that asks the guard first.
func (g *Guard) Wrap(q pipeline.Queue) pipeline.Queue { return &guarded{Queue: q, g: g} }

type guarded struct {
	pipeline.Queue
	g *Guard
}

func (q *guarded) Publish(ctx context.Context, b *sawmillv1.LogBatch) error {
	if err := q.g.Admit(int64(proto.Size(b))); err != nil {
		return err
	}
	return q.Queue.Publish(ctx, b)
}

// Bytes formats n for people: "512 B", "12.0 MiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// FreeBytes returns the bytes available on the filesystem of dir.
func FreeBytes(dir string) (int64, error) { return freeBytes(dir) }
