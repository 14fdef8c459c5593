package diskq

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
)

const benchRecords = 1000 // records per batch, ~300 KB encoded

// publishParallel publishes b.N batches from p goroutines and reports
// records/s, MB/s, fsyncs/s and batches per fsync.
func publishParallel(b *testing.B, q *Queue, p int, batch *sawmillv1.LogBatch) {
	frame, err := encodeFrame(batch)
	if err != nil {
		b.Fatal(err)
	}
	before := q.Stats()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range p {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				for {
					err := q.Publish(context.Background(), batch)
					if err == nil {
						break
					}
					if fe, ok := err.(*pipeline.FullError); ok {
						time.Sleep(fe.RetryAfter / 10)
						continue
					}
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	b.StopTimer()
	after := q.Stats()
	commits := after.Commits - before.Commits
	b.ReportMetric(float64(b.N*len(batch.Records))/el, "records/s")
	b.ReportMetric(float64(b.N)*float64(len(frame))/el/1e6, "MB/s")
	b.ReportMetric(float64(commits)/el, "fsyncs/s")
	b.ReportMetric(float64(b.N)/float64(max(commits, 1)), "batches/fsync")
}

// BenchmarkPublish measures group commit: concurrent publishers of
// 1000-record batches, no consumer. Run with a small -benchtime (e.g. 300x).
func BenchmarkPublish(b *testing.B) {
	batch := makeBatch("bench", benchRecords)
	for _, p := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("publishers=%d", p), func(b *testing.B) {
			b.ReportAllocs()
			q, err := Open(b.TempDir(), Options{MaxBytes: 16 << 30, Logger: zap.NewNop()})
			if err != nil {
				b.Fatal(err)
			}
			publishParallel(b, q, p, batch)
			if err := q.Shutdown(context.Background()); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkPublishDrain measures publish plus delivery to a no-op consumer,
// with the default bounds (1 GiB on disk, 128 MiB cache): the timer stops
// when every batch was acknowledged.
func BenchmarkPublishDrain(b *testing.B) {
	batch := makeBatch("bench", benchRecords)
	for _, p := range []int{4, 16} {
		b.Run(fmt.Sprintf("publishers=%d", p), func(b *testing.B) {
			b.ReportAllocs()
			q, err := Open(b.TempDir(), Options{Logger: zap.NewNop()})
			if err != nil {
				b.Fatal(err)
			}
			var delivered atomic.Int64
			all := make(chan struct{})
			ctx, cancel := context.WithCancel(context.Background())
			runErr := make(chan error, 1)
			go func() {
				runErr <- q.Run(ctx, pipeline.ConsumerFunc(func(_ context.Context, bs []*sawmillv1.LogBatch) error {
					if delivered.Add(int64(len(bs))) == int64(b.N) {
						close(all)
					}
					return nil
				}))
			}()
			start := time.Now()
			publishParallel(b, q, p, batch)
			b.StartTimer()
			<-all
			b.StopTimer()
			b.ReportMetric(float64(b.N*benchRecords)/time.Since(start).Seconds(), "drained-records/s")
			cancel()
			if err := <-runErr; err != nil {
				b.Fatal(err)
			}
			if err := q.Shutdown(context.Background()); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkReplay measures Run reading batches back from disk (after a
// restart or a cache overflow): read, CRC check and decode.
func BenchmarkReplay(b *testing.B) {
	b.ReportAllocs()
	batch := makeBatch("bench", benchRecords)
	dir := b.TempDir()
	q, err := Open(dir, Options{MaxBytes: 16 << 30, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	publishParallel(b, q, 8, batch)
	if err := q.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	q, err = Open(dir, Options{MaxBytes: 16 << 30, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	var delivered atomic.Int64
	all := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	b.ResetTimer()
	b.StartTimer()
	start := time.Now()
	go func() {
		runErr <- q.Run(ctx, pipeline.ConsumerFunc(func(_ context.Context, bs []*sawmillv1.LogBatch) error {
			if delivered.Add(int64(len(bs))) == int64(b.N) {
				close(all)
			}
			return nil
		}))
	}()
	<-all
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchRecords)/time.Since(start).Seconds(), "records/s")
	cancel()
	if err := <-runErr; err != nil {
		b.Fatal(err)
	}
	if err := q.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
}
