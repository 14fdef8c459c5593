package apptest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/queue/rabbitmq/amqptest"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres/pgtest"
)

// sseTail opens GET /api/v1/tail?service=... and returns its lines.
func sseTail(t *testing.T, ctx context.Context, s *Server, service string) <-chan string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.HTTPAddr+"/api/v1/tail?service="+service, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

// waitLine reads lines until one has prefix (true) or the stream ends or d passes.
func waitLine(lines <-chan string, prefix string, d time.Duration) bool {
	timeout := time.After(d)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return false
			}
			if strings.HasPrefix(l, prefix) {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// A graceful stop with live tails open (a dashboard left on the tail page)
// ends the tails at once instead of waiting out --shutdown-timeout: the SSE
// stream gets a "closing" event and ends, the gRPC stream ends UNAVAILABLE
// (both clients reconnect, to another replica), and the process exits 0
// in about the time it takes without tails.
func TestGracefulStopWithOpenTails(t *testing.T) {
	for _, mode := range []string{"embedded", "production"} {
		t.Run(mode, func(t *testing.T) {
			var args []string
			if mode == "production" {
				args, _, _ = prodBackends(t)
			}
			s := Start(t, append(args, "--shutdown-timeout", "30s")...)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			lines := sseTail(t, ctx, s, "stopper")
			require.True(t, waitLine(lines, ": tail open", 10*time.Second))
			stream, err := sawmillv1.NewQueryServiceClient(s.Conn(t)).Tail(ctx, &sawmillv1.TailRequest{Filter: &sawmillv1.Filter{Services: []string{"stopper"}}})
			require.NoError(t, err)
			// Both tails are open on the server once both saw a record.
			var first *sawmillv1.TailResponse
			require.Eventually(t, func() bool {
				_, err := Push(ctx, sawmillv1.NewIngestServiceClient(s.Conn(t)), Batch("stopper", 1, time.Now()))
				require.NoError(t, err)
				return waitLine(lines, "event: logs", time.Second)
			}, 20*time.Second, 10*time.Millisecond)
			first, err = stream.Recv()
			require.NoError(t, err)
			require.NotEmpty(t, first.GetEntries())

			start := time.Now()
			require.NoError(t, s.Stop(45*time.Second), "SIGTERM exits 0")
			took := time.Since(start)
			t.Logf("stop took %s", took)
			// Without open tails a stop takes about a second here; the
			// bound leaves room for a loaded machine and stays far below
			// the 30 s shutdown timeout the tails used to wait out.
			assert.Less(t, took, 10*time.Second, "stop took %s", took)
			assert.NotContains(t, s.Logs(), "deadline exceeded")
			assert.NotContains(t, s.Logs(), "shutdown deadline reached")
			assert.True(t, waitLine(lines, "event: closing", 5*time.Second), "the SSE client is told the server is stopping")
			for {
				_, err = stream.Recv()
				if err != nil {
					break
				}
			}
			assert.Equal(t, codes.Unavailable, status.Code(err), "the gRPC tail ends UNAVAILABLE: %v", err)
		})
	}
}

// When a replica's broker connection drops, its live queue (and what it
// held) is gone: after reconnecting, open tails get a gap notice (SSE event
// "gap", gRPC TailResponse.gap) saying records may be missing since the last
// live delivery, with an unknown count, and then go on.
func TestProductionTailGapAfterReconnect(t *testing.T) {
	amqpURL, vhost := amqptest.NewVhost(t)
	s := Start(t, "--amqp-url", amqpURL, "--database-url", pgtest.NewDatabase(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lines := sseTail(t, ctx, s, "gappy")
	require.True(t, waitLine(lines, ": tail open", 10*time.Second))
	stream, err := sawmillv1.NewQueryServiceClient(s.Conn(t)).Tail(ctx, &sawmillv1.TailRequest{Filter: &sawmillv1.Filter{Services: []string{"gappy"}}})
	require.NoError(t, err)
	msgs := make(chan *sawmillv1.TailResponse, 1024)
	recvErr := make(chan error, 1)
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			msgs <- r
		}
	}()
	// Push until both tails have shown a record: the gRPC tail subscribes
	// when its handler runs, which on a loaded machine may be after the
	// records the SSE tail saw.
	ingest := sawmillv1.NewIngestServiceClient(s.Conn(t))
	var first *sawmillv1.TailResponse
	sseSeen := false
	require.Eventually(t, func() bool {
		if _, err := Push(ctx, ingest, Batch("gappy", 1, time.Now())); err != nil {
			return false
		}
		sseSeen = sseSeen || waitLine(lines, "event: logs", time.Second)
		if first == nil {
			select {
			case first = <-msgs:
			case <-time.After(100 * time.Millisecond):
			}
		}
		return sseSeen && first != nil
	}, 30*time.Second, 10*time.Millisecond)
	require.Nil(t, first.GetGap())

	before := time.Now()
	require.NoError(t, amqptest.CloseConnections(vhost))
	require.True(t, waitLine(lines, "event: gap", 30*time.Second), "the SSE tail reports the gap")
	line := <-lines
	data, ok := strings.CutPrefix(line, "data: ")
	require.True(t, ok, line)
	var gap struct {
		From, To      time.Time
		MissedRecords *int64 `json:"missed_records"`
		Reason        string
	}
	require.NoError(t, json.Unmarshal([]byte(data), &gap))
	assert.Nil(t, gap.MissedRecords, "unknown count: %s", data)
	assert.False(t, gap.From.After(before), data)
	assert.True(t, gap.To.After(before), data)
	assert.Contains(t, gap.Reason, "connection to the broker was lost")

	for {
		select {
		case r := <-msgs:
			if g := r.GetGap(); g != nil {
				assert.Equal(t, int64(-1), g.GetMissedRecords())
				assert.Less(t, g.GetFromUnixNano(), g.GetToUnixNano())
				return
			}
		case err := <-recvErr:
			require.NoError(t, err, "the gRPC tail goes on after the gap")
		case <-ctx.Done():
			t.Fatal("the gRPC tail reported no gap")
		}
	}
}

// A broker memory alarm: a push fails at once with RESOURCE_EXHAUSTED
// naming the alarm and a retry delay, /readyz answers 503 with the reason
// (a load balancer sends clients elsewhere), and after the alarm clears the
// client's retry is stored and tailed once.
func TestProductionBrokerAlarm(t *testing.T) {
	args, _, dbURL := prodBackends(t)
	s := Start(t, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lines := sseTail(t, ctx, s, "alarmed")
	require.True(t, waitLine(lines, ": tail open", 10*time.Second))
	ingest := sawmillv1.NewIngestServiceClient(s.Conn(t))
	_, err := Push(ctx, ingest, Batch("warmup", 1, time.Now()))
	require.NoError(t, err)

	clearAlarm := amqptest.MemoryAlarm(t)
	b := Batch("alarmed", 5, time.Now())
	b.BatchId = "alarm-" + b.BatchId
	pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
	start := time.Now()
	_, err = Push(pctx, ingest, b)
	pcancel()
	took := time.Since(start)
	st := status.Convert(err)
	require.Equal(t, codes.ResourceExhausted, st.Code(), "%v", err)
	assert.Equal(t, fmt.Sprintf("batch %s not stored: broker blocked publishing: low on memory, retry after 1s", b.BatchId), st.Message())
	assert.Less(t, took, 10*time.Second, "the push failed after %s, not at its deadline", took)
	var ready struct{ Status, Reason string }
	assert.Equal(t, http.StatusServiceUnavailable, s.Get(t, "/readyz", nil, &ready))
	assert.Equal(t, "RabbitMQ blocks publishing: low on memory", ready.Reason)
	clearAlarm()

	require.Eventually(t, func() bool { return s.Get(t, "/readyz", nil, nil) == http.StatusOK }, 20*time.Second, 50*time.Millisecond)
	_, err = Push(ctx, ingest, b)
	require.NoError(t, err, "the client's retry")
	stored, distinct := waitStored(t, dbURL, "alarm-", 5, 20*time.Second)
	assert.Equal(t, int64(5), stored)
	assert.Equal(t, int64(5), distinct)
	got := map[string]int{}
	deadline := time.After(3 * time.Second) // a second copy, if the broker kept one, arrives by then
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			require.True(t, ok)
			if d, ok := strings.CutPrefix(l, "data: "); ok {
				var ev struct{ Logs []entryJSON }
				require.NoError(t, json.Unmarshal([]byte(d), &ev))
				for _, e := range ev.Logs {
					got[e.ID]++
				}
			}
		case <-deadline:
			done = true
		}
	}
	require.Len(t, got, 5)
	for id, n := range got {
		assert.Equal(t, 1, n, "%s tailed once", id)
	}
}

// While the store cannot write (here: a transaction holds PostgreSQL's
// batches table locked, so every store write waits), the backlog is mostly
// deliveries the replica's consumers hold unacknowledged, which the broker
// does not count as ready. /metrics and /api/v1/status must show all of it.
func TestProductionBacklogMetricCountsUnacked(t *testing.T) {
	args, _, dbURL := prodBackends(t)
	s := Start(t, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ingest := sawmillv1.NewIngestServiceClient(s.Conn(t))
	_, err := Push(ctx, ingest, Batch("warmup", 1, time.Now()))
	require.NoError(t, err)
	waitStored(t, dbURL, "", 1, 20*time.Second)

	lock, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer lock.Close(context.Background())
	tx, err := lock.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "LOCK TABLE batches IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)
	locked := true
	defer func() {
		if locked {
			_ = tx.Rollback(context.Background())
		}
	}()

	// 600 batches: more than the 2 consumers x 200 prefetch can hold.
	const n = 600
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			b := Batch("backlog", 10, time.Now())
			b.BatchId = fmt.Sprintf("backlog-%04d", i)
			_, err := Push(ctx, ingest, b)
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	var backlog float64
	assert.Eventually(t, func() bool { backlog = metric(t, s, "sawmill_amqp_queue_messages"); return backlog == n }, 30*time.Second, 100*time.Millisecond)
	require.Equal(t, float64(n), backlog, "sawmill_amqp_queue_messages with %d batches acked and none stored", n)
	ready, unacked := metric(t, s, "sawmill_amqp_queue_ready_messages"), metric(t, s, "sawmill_amqp_unacked_messages")
	assert.Equal(t, float64(n), ready+unacked)
	assert.Positive(t, unacked, "the consumers hold deliveries unacknowledged")
	assert.Positive(t, metric(t, s, "sawmill_amqp_unacked_bytes"))
	var st struct {
		QueueBatches int64 `json:"queue_batches"`
	}
	require.Equal(t, http.StatusOK, s.Get(t, "/api/v1/status", nil, &st))
	assert.Equal(t, int64(n), st.QueueBatches, "the dashboard's queue depth")

	require.NoError(t, tx.Rollback(ctx))
	locked = false
	stored, distinct := waitStored(t, dbURL, "backlog-", n*10, 60*time.Second)
	assert.Equal(t, int64(n*10), stored)
	assert.Equal(t, int64(n*10), distinct)
	require.Eventually(t, func() bool { return metric(t, s, "sawmill_amqp_queue_messages") == 0 }, 30*time.Second, 100*time.Millisecond)
}
