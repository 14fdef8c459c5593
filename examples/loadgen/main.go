// Command loadgen sends the standard "seed-burst" workload
// (shared/WORKLOAD.md) to a Sawmill server as one source: records of one
// service at a fixed rate, paced by a token bucket refilled every 10 ms,
// batched by up to 1000 records or 100 ms, pushed over gRPC. It prints how
// many records the server acknowledged and how far behind the pacing fell.
//
//	go run ./examples/loadgen --target 127.0.0.1:7070 --service demo --rate 10000 --duration 1s
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sawmill-dev/sawmill/examples/loadgen/workload"
	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run() error {
	target := flag.String("target", "127.0.0.1:7070", "Sawmill gRPC address")
	service := flag.String("service", "orders", "service name of this source")
	rate := flag.Int("rate", 100000, "records per second")
	duration := flag.Duration("duration", 5*time.Second, "how long to send")
	batchSize := flag.Int("batch", 1000, "most records per batch")
	batchWait := flag.Duration("batch-wait", 100*time.Millisecond, "longest a record waits for its batch")
	inflight := flag.Int("inflight", 8, "batches in flight at once")
	token := flag.String("token", "", "bearer token")
	seed := flag.Uint64("seed", 1, "seed of the record generator")
	flag.Parse()
	if *rate <= 0 || *duration <= 0 || *batchSize <= 0 || *inflight <= 0 {
		return errors.New("--rate, --duration, --batch and --inflight must be positive")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	conn, err := grpc.NewClient(*target, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(16<<20)))
	if err != nil {
		return fmt.Errorf("connect %s: %w", *target, err)
	}
	defer func() { _ = conn.Close() }()
	client := sawmillv1.NewIngestServiceClient(conn)
	if *token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+*token)
	}

	gen := workload.New(*service, *seed)
	res := &sawmillv1.Resource{Service: *service, Instance: *service + "-1"}
	var acked, failed atomic.Int64
	sem := make(chan struct{}, *inflight)
	var wg sync.WaitGroup
	send := func(recs []*sawmillv1.LogRecord) {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := push(ctx, client, res, recs); err != nil {
				failed.Add(int64(len(recs)))
				fmt.Fprintln(os.Stderr, "loadgen: push:", err)
				return
			}
			acked.Add(int64(len(recs)))
		}()
	}

	total := int(int64(*rate) * int64(*duration) / int64(time.Second))
	start := time.Now()
	deadline := start.Add(*duration + 30*time.Second) // bound: never run away
	var batch []*sawmillv1.LogRecord
	batchStart := start
	sent := 0
	var maxBehind time.Duration
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for sent < total && ctx.Err() == nil && time.Now().Before(deadline) {
		<-tick.C
		now := time.Now()
		due := min(total, int(float64(*rate)*now.Sub(start).Seconds()))
		if behind := time.Duration(float64(due-sent) / float64(*rate) * float64(time.Second)); behind > maxBehind {
			maxBehind = behind
		}
		for ; sent < due; sent++ {
			if len(batch) == 0 {
				batchStart = now
			}
			batch = append(batch, gen.Record(time.Now()))
			if len(batch) >= *batchSize {
				send(batch)
				batch = nil
			}
		}
		if len(batch) > 0 && now.Sub(batchStart) >= *batchWait {
			send(batch)
			batch = nil
		}
	}
	if len(batch) > 0 {
		send(batch)
	}
	wg.Wait()
	elapsed := time.Since(start)
	fmt.Printf("service=%s sent=%d acked=%d failed=%d elapsed=%.2fs rate=%.0f/s max_behind=%s\n",
		*service, sent, acked.Load(), failed.Load(), elapsed.Seconds(), float64(acked.Load())/elapsed.Seconds(), maxBehind.Round(time.Millisecond))
	if failed.Load() > 0 {
		return fmt.Errorf("%d records not acknowledged", failed.Load())
	}
	return nil
}

// push sends one batch, retrying retryable errors with the same batch id.
func push(ctx context.Context, c sawmillv1.IngestServiceClient, res *sawmillv1.Resource, recs []*sawmillv1.LogRecord) error {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	req := &sawmillv1.PushRequest{Batch: &sawmillv1.LogBatch{BatchId: hex.EncodeToString(id), Resource: res, Records: recs}}
	backoff := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		_, err := c.Push(ctx, req)
		if err == nil {
			return nil
		}
		switch status.Code(err) {
		case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded:
			if attempt >= 50 {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
		default:
			return err
		}
	}
}
