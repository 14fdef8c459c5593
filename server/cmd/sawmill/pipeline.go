package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sawmill-dev/sawmill/server/internal/queue/diskq"
	"github.com/sawmill-dev/sawmill/server/internal/store/sqlite"
)

// openPipeline opens the queue and the store the configuration asks for and
// sets s.queue, s.store and s.mode. The live hub (s.hub) must see every
// durable batch: pass it as the queue's Observer.
func (s *server) openPipeline(ctx context.Context) error {
	return s.openEmbedded(ctx)
}

// openEmbedded opens the embedded queue and store under the data directory.
func (s *server) openEmbedded(ctx context.Context) error {
	dir := s.cfg.DataDir
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("data dir %q: %w", dir, err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "logs.db"), sqlite.Options{})
	if err != nil {
		return err
	}
	s.store = st
	s.closer = append(s.closer, func() {
		if err := st.Close(); err != nil {
			s.log.Error("close store", zap.Error(err))
		}
	})
	q, err := diskq.Open(filepath.Join(dir, "queue"), diskq.Options{
		MaxBytes: s.cfg.QueueMaxBytes,
		Observer: s.hub,
		Logger:   s.log.Named("queue"),
	})
	if err != nil {
		return err
	}
	s.queue = q
	s.mode = "embedded"
	qDepth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sawmill_queue_batches", Help: "Batches waiting in the queue for the store."},
		func() float64 { b, _ := q.Depth(); return float64(b) })
	qBytes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sawmill_queue_bytes", Help: "Bytes waiting in the queue for the store."},
		func() float64 { _, b := q.Depth(); return float64(b) })
	dead := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sawmill_queue_dead_lettered_total", Help: "Batches the store could never take, set aside in the dead-letter directory."},
		func() float64 { return float64(q.DeadLettered()) })
	s.reg.MustRegister(qDepth, qBytes, dead)
	s.log.Info("embedded mode", zap.String("data_dir", dir), zap.String("queue", "diskq"), zap.String("store", "sqlite"))
	return nil
}
