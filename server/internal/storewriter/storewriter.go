// Package storewriter adapts a store.Writer to the pipeline.Consumer a queue
// drains into, and measures it: records stored, batches written, write
// latency, and the store lag (how long records waited between ingest and
// their commit).
package storewriter

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// Writer is the consumer.
type Writer struct {
	w      store.Writer
	now    func() time.Time
	stored atomic.Int64
	lagNs  atomic.Int64

	mStored  prometheus.Counter
	mLatency prometheus.Histogram
	mLag     prometheus.Gauge
	mErrors  prometheus.Counter
}

var _ pipeline.Consumer = (*Writer)(nil)

// New returns a Writer over w, registering its metrics with reg (may be nil).
func New(w store.Writer, reg prometheus.Registerer) *Writer {
	s := &Writer{
		w:   w,
		now: time.Now,
		mStored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sawmill_store_records_total", Help: "Records committed to the store (duplicates excluded).",
		}),
		mLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sawmill_store_write_seconds", Help: "Time to commit one delivery of batches to the store.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		mLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sawmill_store_lag_seconds", Help: "For the last commit: time between its oldest record's arrival (observed time) and the commit.",
		}),
		mErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sawmill_store_write_errors_total", Help: "Store writes that failed (retried, or for data the store refuses, split and dead-lettered).",
		}),
	}
	if reg != nil {
		reg.MustRegister(s.mStored, s.mLatency, s.mLag, s.mErrors)
	}
	return s
}

// ConsumeBatches writes bs to the store. A store error wrapping
// store.ErrUnstorable is returned marked pipeline.Permanent.
func (s *Writer) ConsumeBatches(ctx context.Context, bs []*sawmillv1.LogBatch) error {
	start := s.now()
	n, err := s.w.WriteBatches(ctx, bs)
	if err != nil {
		s.mErrors.Inc()
		err = fmt.Errorf("store %d batches: %w", len(bs), err)
		if errors.Is(err, store.ErrUnstorable) {
			return pipeline.Permanent(err) // the queue dead-letters what fails alone
		}
		return err
	}
	end := s.now()
	s.mLatency.Observe(end.Sub(start).Seconds())
	s.mStored.Add(float64(n))
	s.stored.Add(int64(n))
	var oldest uint64
	for _, b := range bs {
		for _, r := range b.GetRecords() {
			if o := r.GetObservedTimeUnixNano(); o != 0 && (oldest == 0 || o < oldest) {
				oldest = o
			}
		}
	}
	if oldest != 0 {
		lag := end.UnixNano() - int64(oldest)
		s.lagNs.Store(lag)
		s.mLag.Set(float64(lag) / 1e9)
	}
	return nil
}

// Stored returns the records committed since start.
func (s *Writer) Stored() int64 { return s.stored.Load() }

// Lag returns the store lag of the last commit.
func (s *Writer) Lag() time.Duration { return time.Duration(s.lagNs.Load()) }
