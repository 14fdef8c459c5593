package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sawmill-dev/sawmill/server/internal/diskguard"
	"github.com/sawmill-dev/sawmill/server/internal/queue/direct"
	"github.com/sawmill-dev/sawmill/server/internal/queue/diskq"
	"github.com/sawmill-dev/sawmill/server/internal/queue/rabbitmq"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres"
	"github.com/sawmill-dev/sawmill/server/internal/store/sqlite"
)

// openPipeline opens the queue and the store the configuration asks for and
// sets s.queue, s.store and s.mode. The live hub (s.hub) must see every
// durable batch: pass it as the queue's Observer.
//
// The modes (see docs/production.md):
//
//	no --database-url            embedded: diskq + SQLite
//	--database-url               PostgreSQL without a broker: direct queue
//	--amqp-url + --database-url  production: RabbitMQ + PostgreSQL replicas
func (s *server) openPipeline(ctx context.Context) error {
	p := s.cfg.Production
	switch {
	case p.AMQPURL != "" && p.DatabaseURL != "":
		return s.openProduction(ctx)
	case p.DatabaseURL != "":
		return s.openDirect(ctx)
	default:
		return s.openEmbedded(ctx)
	}
}

// openEmbedded opens the embedded queue and store under the data directory,
// behind a guard of the directory's free space (internal/diskguard).
func (s *server) openEmbedded(ctx context.Context) error {
	dir := s.cfg.DataDir
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("data dir %q: %w", dir, err)
	}
	// The queue first: its recovery needs no new disk space and deletes the
	// segments already delivered, so a restart on a full disk gets that
	// space back before the store opens.
	q, err := diskq.Open(filepath.Join(dir, "queue"), diskq.Options{
		MaxBytes: s.cfg.QueueMaxBytes,
		Observer: s.hub,
		Logger:   s.log.Named("queue"),
	})
	if err != nil {
		return s.fullDiskHint(dir, err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "logs.db"), sqlite.Options{})
	if err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = q.Shutdown(sctx)
		return s.fullDiskHint(dir, err)
	}
	s.store = st
	s.closer = append(s.closer, func() {
		if err := st.Close(); err != nil {
			s.log.Error("close store", zap.Error(err))
		}
	})
	guard, err := diskguard.New(diskguard.Options{
		Dir:        dir,
		Reserve:    s.cfg.DiskReserve,
		Queued:     func() int64 { _, b := q.Depth(); return b },
		Logger:     s.log.Named("diskguard"),
		Registerer: s.reg,
	})
	if err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = q.Shutdown(sctx)
		return err
	}
	s.closer = append(s.closer, guard.Close)
	s.disk = guard
	s.readyChecks = append(s.readyChecks, guard.Err)
	s.queue = guard.Wrap(q)
	s.mode = "embedded"
	qDepth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sawmill_queue_batches", Help: "Batches waiting in the queue for the store."},
		func() float64 { b, _ := q.Depth(); return float64(b) })
	qBytes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sawmill_queue_bytes", Help: "Bytes waiting in the queue for the store."},
		func() float64 { _, b := q.Depth(); return float64(b) })
	dead := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sawmill_queue_dead_lettered_total", Help: "Batches the store could never take, set aside in the dead-letter directory."},
		func() float64 { return float64(q.DeadLettered()) })
	s.reg.MustRegister(qDepth, qBytes, dead)
	free := guard.Free()
	s.log.Info("embedded mode", zap.String("data_dir", dir), zap.String("queue", "diskq"), zap.String("store", "sqlite"),
		zap.Int64("disk_free_bytes", free), zap.Int64("disk_reserve_bytes", s.cfg.DiskReserve))
	if err := guard.Err(); err != nil {
		s.log.Warn("starting with the data dir's disk nearly full: ingest refuses batches until space is freed; what is queued drains into the store", zap.Error(err))
	}
	return nil
}

// fullDiskHint adds the free space of dir to a start-up error when the disk
// is nearly full, which is then the likely cause.
func (s *server) fullDiskHint(dir string, err error) error {
	free, ferr := diskguard.FreeBytes(dir)
	if ferr != nil || free >= s.cfg.DiskReserve {
		return err
	}
	return fmt.Errorf("data dir %q is full: %s free, below --disk-reserve %s; free space on its disk and start again: %w",
		dir, diskguard.Bytes(free), diskguard.Bytes(s.cfg.DiskReserve), err)
}

// openPostgres opens the PostgreSQL store and starts its maintenance (the
// text index built behind ingest), stopped by the closers.
func (s *server) openPostgres(ctx context.Context) (*postgres.Store, error) {
	p := s.cfg.Production
	st, err := postgres.Open(ctx, p.DatabaseURL, postgres.Options{
		TimescaleDB: p.TimescaleDB,
		Retention:   s.cfg.Retention,
		MaxConns:    int32(p.DatabaseConns),
		Logger:      s.log.Named("postgres"),
	})
	if err != nil {
		return nil, err
	}
	s.store = st
	mctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if _, err := st.Maintain(mctx, time.Now()); err != nil && mctx.Err() == nil {
				s.log.Warn("postgres maintenance", zap.Error(err))
			}
			select {
			case <-mctx.Done():
				return
			case <-time.After(5 * time.Minute):
			}
		}
	}()
	s.closer = append(s.closer, func() {
		cancel()
		wg.Wait()
		if err := st.Close(); err != nil {
			s.log.Error("close store", zap.Error(err))
		}
	})
	return st, nil
}

// openDirect is PostgreSQL without a broker: an ingest ack means committed.
func (s *server) openDirect(ctx context.Context) error {
	st, err := s.openPostgres(ctx)
	if err != nil {
		return err
	}
	q := direct.New(direct.Options{Observer: s.hub, MaxBatches: s.cfg.Production.StoreWriteBatch})
	s.queue = q
	s.mode = "postgres"
	s.registerDepth(q.Depth, "Batches waiting for a database transaction.", "Bytes waiting for a database transaction.")
	s.log.Info("postgres mode (no broker)", zap.String("store", "postgres"), zap.String("layout", string(st.Mode())))
	return nil
}

// openProduction is RabbitMQ + PostgreSQL: stateless replicas.
func (s *server) openProduction(ctx context.Context) error {
	st, err := s.openPostgres(ctx)
	if err != nil {
		return err
	}
	p := s.cfg.Production
	name := p.ReplicaName
	if name == "" {
		host, _ := os.Hostname()
		name = fmt.Sprintf("sawmill@%s/%d", host, os.Getpid())
	}
	q, err := rabbitmq.New(ctx, rabbitmq.Options{
		URL:         p.AMQPURL,
		Exchange:    p.AMQPExchange,
		Queue:       p.AMQPQueue,
		QueueType:   p.AMQPQueueType,
		Prefetch:    p.AMQPPrefetch,
		Consumers:   p.AMQPConsumers,
		MaxDelivery: p.StoreWriteBatch,
		Observer:    s.hub,
		Name:        name,
		Logger:      s.log.Named("rabbitmq"),
	})
	if err != nil {
		return err
	}
	s.queue = q
	s.mode = "production"
	s.readyChecks = append(s.readyChecks, func() error {
		if !q.Connected() {
			return errors.New("not connected to RabbitMQ")
		}
		// Ingest refuses every batch while the broker blocks publishers.
		if reason := q.Blocked(); reason != "" {
			return fmt.Errorf("RabbitMQ blocks publishing: %s", reason)
		}
		return nil
	})
	s.registerDepth(q.Depth, "Batches waiting for the store as this replica sees them: its publishes awaiting a confirm, the storage queue's ready messages (all replicas) and its own unacknowledged deliveries.",
		"Bytes of this replica's publishes awaiting a confirm and of its unacknowledged deliveries.")
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	s.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sawmill_queue_dead_lettered_total", Help: "Messages sent to the dead-letter queue (undecodable, or refused by the store), with the reason in their x-sawmill-reason header."},
			func() float64 { return float64(q.DeadLettered()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sawmill_amqp_reconnects_total", Help: "Times the broker connection was re-established."},
			func() float64 { return float64(q.Reconnects()) }),
		gauge("sawmill_amqp_connected", "1 while the broker connection is up.", func() float64 {
			if q.Connected() {
				return 1
			}
			return 0
		}),
		gauge("sawmill_amqp_queue_messages", "Batches waiting for the store as this replica sees them: the storage queue's ready messages (all replicas) plus this replica's unacknowledged deliveries; the whole backlog with one replica, else add the other replicas' sawmill_amqp_unacked_messages. -1 while unknown.",
			func() float64 {
				ready := q.BrokerDepth()
				if ready < 0 {
					return -1
				}
				n, _ := q.Unacked()
				return float64(ready + n)
			}),
		gauge("sawmill_amqp_queue_ready_messages", "Ready messages (batches) in the broker's storage queue, all replicas, not counting those delivered and unacknowledged; -1 while unknown.",
			func() float64 { return float64(q.BrokerDepth()) }),
		gauge("sawmill_amqp_unacked_messages", "Deliveries (batches) this replica's storage consumers received and have not acknowledged: prefetched, or waiting for the database.",
			func() float64 { n, _ := q.Unacked(); return float64(n) }),
		gauge("sawmill_amqp_unacked_bytes", "Bytes of this replica's unacknowledged deliveries.",
			func() float64 { _, b := q.Unacked(); return float64(b) }),
		gauge("sawmill_amqp_held_deliveries", "Deliveries this replica's storage consumers handed to the store and have not acknowledged.",
			func() float64 { return float64(q.Held()) }),
		gauge("sawmill_amqp_unconfirmed_publishes", "Batches this replica published and the broker has not confirmed yet (the pushes waiting for their ack).",
			func() float64 { b, _ := q.Unconfirmed(); return float64(b) }),
		gauge("sawmill_amqp_blocked", "1 while the broker blocks this replica's publishes (a memory or disk alarm); ingest answers RESOURCE_EXHAUSTED meanwhile.",
			func() float64 {
				if q.Blocked() != "" {
					return 1
				}
				return 0
			}),
	)
	s.log.Info("production mode", zap.String("queue", "rabbitmq"), zap.String("queue_type", p.AMQPQueueType),
		zap.Int("prefetch", p.AMQPPrefetch), zap.Int("consumers", p.AMQPConsumers), zap.String("store", "postgres"),
		zap.String("layout", string(st.Mode())), zap.String("replica", name))
	return nil
}

// registerDepth exports a queue's depth.
func (s *server) registerDepth(depth func() (int64, int64), batchesHelp, bytesHelp string) {
	s.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sawmill_queue_batches", Help: batchesHelp},
			func() float64 { b, _ := depth(); return float64(b) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sawmill_queue_bytes", Help: bytesHelp},
			func() float64 { _, b := depth(); return float64(b) }),
	)
}
