package apptest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/queue/rabbitmq/amqptest"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres/pgtest"
)

// prodBackends creates a RabbitMQ vhost and a PostgreSQL database for one
// test (both removed when it ends) and returns the sawmill flags naming them.
func prodBackends(t *testing.T) (args []string, amqpURL, dbURL string) {
	t.Helper()
	amqpURL, _ = amqptest.NewVhost(t)
	dbURL = pgtest.NewDatabase(t)
	return []string{"--amqp-url", amqpURL, "--database-url", dbURL}, amqpURL, dbURL
}

// dbCounts returns the records stored and the distinct (batch, index) pairs
// among them, reading PostgreSQL directly.
func dbCounts(t *testing.T, dbURL, prefix string) (stored, distinct int64, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(context.Background())
	err = conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT (batch_id, idx)) FROM logs WHERE batch_id LIKE $1 || '%'`, prefix).Scan(&stored, &distinct)
	return stored, distinct, err
}

// waitStored polls PostgreSQL until want records of prefix are stored (or d
// passes) and returns the last counts.
func waitStored(t *testing.T, dbURL, prefix string, want int64, d time.Duration) (stored, distinct int64) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		s, dd, err := dbCounts(t, dbURL, prefix)
		if err == nil {
			stored, distinct = s, dd
			if stored >= want || time.Now().After(deadline) {
				return stored, distinct
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("count stored records: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// burst pushes batches with fixed ids (prefix-seq) of per records, paced
// evenly over dur, with workers concurrent pushers. Each batch is retried,
// against the next target when a push fails, on UNAVAILABLE,
// RESOURCE_EXHAUSTED and DEADLINE_EXCEEDED until it is acked or the
// deadline passes, the way the SDK retries.
type burst struct {
	targets  []*Server
	prefix   string
	batches  int
	per      int
	workers  int
	dur      time.Duration
	deadline time.Duration
	// With hold set, batches from holdAt on wait until hold is closed, so a
	// test can make the rest of the burst start after a fault began (on a
	// loaded machine a fault may take longer to begin than the burst lasts).
	hold   chan struct{}
	holdAt int

	acked   atomic.Int64 // records acked
	retries atomic.Int64
	pushed  atomic.Int64 // batches acked
}

func (b *burst) run(t *testing.T) error {
	clients := make([]sawmillv1.IngestServiceClient, len(b.targets))
	for i, s := range b.targets {
		clients[i] = sawmillv1.NewIngestServiceClient(s.Conn(t))
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.deadline)
	defer cancel()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, b.workers)
	for w := 0; w < b.workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			target := w % len(clients)
			for {
				i := int(next.Add(1) - 1)
				if i >= b.batches {
					return
				}
				if b.hold != nil && i >= b.holdAt {
					<-b.hold
				}
				due := start.Add(time.Duration(i) * b.dur / time.Duration(b.batches))
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
				batch := Batch("burst", b.per, time.Now())
				batch.BatchId = fmt.Sprintf("%s-%06d", b.prefix, i)
				for attempt := 0; ; attempt++ {
					pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
					_, err := Push(pctx, clients[target], batch)
					pcancel()
					if err == nil {
						b.acked.Add(int64(b.per))
						b.pushed.Add(1)
						break
					}
					switch status.Code(err) {
					case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded:
					default:
						errs <- fmt.Errorf("batch %s: %w", batch.BatchId, err)
						return
					}
					if ctx.Err() != nil {
						errs <- fmt.Errorf("batch %s not acked before the deadline: %w", batch.BatchId, err)
						return
					}
					b.retries.Add(1)
					target = (target + 1) % len(clients)
					time.Sleep(min(50*time.Millisecond<<min(attempt, 4), 500*time.Millisecond))
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// waitAcked waits until n batches were acked.
func (b *burst) waitAcked(t *testing.T, n int64, d time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return b.pushed.Load() >= n }, d, 10*time.Millisecond, "batches acked: %d", b.pushed.Load())
}

// tailIDs follows GET /api/v1/tail of s for service and sends every record
// id it sees; it stops when ctx ends.
func tailIDs(t *testing.T, ctx context.Context, s *Server, service string) <-chan string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.HTTPAddr+"/api/v1/tail?rate=20000&service="+url.QueryEscape(service), nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	out := make(chan string, 100000)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 4<<20), 4<<20)
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var ev struct {
				Logs    []entryJSON `json:"logs"`
				Skipped int         `json:"skipped"`
			}
			if json.Unmarshal([]byte(line), &ev) != nil {
				return
			}
			for _, e := range ev.Logs {
				out <- e.ID
			}
		}
	}()
	return out
}

// collect reads ids until want distinct ones arrived or d passed.
func collect(ids <-chan string, want int, d time.Duration) map[string]int {
	got := map[string]int{}
	timeout := time.After(d)
	for len(got) < want {
		select {
		case id, ok := <-ids:
			if !ok {
				return got
			}
			got[id]++
		case <-timeout:
			return got
		}
	}
	return got
}

func TestProductionTwoReplicas(t *testing.T) {
	args, amqpURL, dbURL := prodBackends(t)
	a := Start(t, args...)
	b := Start(t, args...)
	for _, s := range []*Server{a, b} {
		assert.Contains(t, s.Logs(), `"production mode"`)
		// TimescaleDB when the extension is available, daily partitions otherwise.
		assert.Regexp(t, `"layout":"(partitioned|timescaledb)"`, s.Logs(), "the mode chosen is logged")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tailA, tailB := tailIDs(t, ctx, a, "burst"), tailIDs(t, ctx, b, "burst")

	// 20 batches of 25 records through each replica.
	var want []string
	for i, s := range []*Server{a, b, a, b} {
		ingest := sawmillv1.NewIngestServiceClient(s.Conn(t))
		for j := 0; j < 10; j++ {
			batch := Batch("burst", 25, time.Now())
			batch.BatchId = fmt.Sprintf("two-%d-%02d", i, j)
			_, err := Push(ctx, ingest, batch)
			require.NoError(t, err)
			for k := range batch.GetRecords() {
				want = append(want, fmt.Sprintf("%s~%d", batch.BatchId, k))
			}
		}
	}
	stored, distinct := waitStored(t, dbURL, "two-", 1000, 30*time.Second)
	assert.EqualValues(t, 1000, stored, "every record stored")
	assert.EqualValues(t, stored, distinct, "no duplicates")
	for name, ids := range map[string]<-chan string{"a": tailA, "b": tailB} {
		got := collect(ids, len(want), 20*time.Second)
		assert.Len(t, got, len(want), "replica %s's live tail sees every replica's records", name)
		for _, id := range want {
			if got[id] != 1 {
				t.Errorf("replica %s: record %s seen %d times on the tail", name, id, got[id])
				break
			}
		}
	}
	// Both replicas answer queries from the shared store.
	for _, s := range []*Server{a, b} {
		assert.EqualValues(t, 1000, s.Count(t, url.Values{"service": {"burst"}}))
	}

	// An undecodable message is dead-lettered and counted on /metrics.
	conn, err := amqp.Dial(amqpURL)
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.PublishWithContext(ctx, "sawmill.logs", "", false, false, amqp.Publishing{MessageId: "junk", Body: []byte("not a batch \xff\xff")}))
	require.Eventually(t, func() bool {
		return metric(t, a, "sawmill_queue_dead_lettered_total")+metric(t, b, "sawmill_queue_dead_lettered_total") == 1
	}, 20*time.Second, 50*time.Millisecond)
	q, err := ch.QueueDeclarePassive("sawmill.store.dead-letter", true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
	require.NoError(t, err)
	assert.Equal(t, 1, q.Messages)
}

// metric reads one unlabelled value from /metrics.
func metric(t *testing.T, s *Server, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + s.HTTPAddr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			var f float64
			_, err := fmt.Sscan(v, &f)
			require.NoError(t, err)
			return f
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// checkExact asserts sent == stored with zero duplicates.
func checkExact(t *testing.T, b *burst, dbURL string) {
	t.Helper()
	sent := int64(b.batches * b.per)
	require.Equal(t, sent, b.acked.Load(), "every batch acked")
	stored, distinct := waitStored(t, dbURL, b.prefix+"-", sent, 60*time.Second)
	t.Logf("sent %d, stored %d, distinct %d, client retries %d", sent, stored, distinct, b.retries.Load())
	assert.Equal(t, sent, stored, "sent = stored")
	assert.Equal(t, stored, distinct, "zero duplicates")
}

func TestProductionRabbitMQRestart(t *testing.T) {
	args, _, dbURL := prodBackends(t)
	a := Start(t, args...)
	b := &burst{targets: []*Server{a}, prefix: "mq", batches: 300, per: 200, workers: 4, dur: 6 * time.Second, deadline: 90 * time.Second,
		hold: make(chan struct{}), holdAt: 80}
	done := make(chan error, 1)
	go func() { done <- b.run(t) }()
	b.waitAcked(t, 60, 20*time.Second)

	// The whole broker restarts (its application; the Erlang node stays).
	// The rest of the burst starts once the broker is down, however long
	// stop_app takes on a loaded machine.
	restarted := false
	defer func() {
		if !restarted {
			_ = amqptest.Ctl("start_app")
		}
	}()
	require.NoError(t, amqptest.Ctl("stop_app"))
	close(b.hold)
	time.Sleep(3 * time.Second)
	require.NoError(t, amqptest.Ctl("start_app"))
	restarted = true
	require.NoError(t, amqptest.Ctl("await_startup"))

	require.NoError(t, <-done)
	assert.NotZero(t, b.retries.Load(), "clients were told to retry while the broker was away")
	checkExact(t, b, dbURL)
	assert.Contains(t, a.Logs(), "rabbitmq: reconnected")
}

func TestProductionPostgresStopped(t *testing.T) {
	args, _, dbURL := prodBackends(t)
	a := Start(t, args...)
	b := &burst{targets: []*Server{a}, prefix: "pg", batches: 300, per: 200, workers: 4, dur: 8 * time.Second, deadline: 90 * time.Second}
	done := make(chan error, 1)
	go func() { done <- b.run(t) }()
	b.waitAcked(t, 60, 20*time.Second)

	started := false
	defer func() {
		if !started {
			_ = pgCtl("start")
		}
	}()
	require.NoError(t, pgCtl("stop", "-m", "fast"))
	time.Sleep(10 * time.Second)
	require.NoError(t, pgCtl("start"))
	started = true

	require.NoError(t, <-done, "ingest keeps acking while the database is away: the broker holds the batches")
	checkExact(t, b, dbURL)
	assert.Contains(t, a.Logs(), "store failed; retrying")
}

// pgCtl runs pg_ctlcluster on the local PostgreSQL 15 cluster.
func pgCtl(action string, extra ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--skip-systemctl-redirect", "15", "main", action}, extra...)
	out, err := exec.CommandContext(ctx, "pg_ctlcluster", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctlcluster %v: %w: %s", args, err, out)
	}
	return nil
}

func TestProductionReplicaKilled(t *testing.T) {
	args, _, dbURL := prodBackends(t)
	a := Start(t, args...)
	b2 := Start(t, args...)
	b := &burst{targets: []*Server{a, b2}, prefix: "kill", batches: 300, per: 200, workers: 4, dur: 6 * time.Second, deadline: 90 * time.Second}
	done := make(chan error, 1)
	go func() { done <- b.run(t) }()
	b.waitAcked(t, 100, 20*time.Second)
	a.Kill() // SIGKILL: its unacked deliveries go back to the queue for b2
	require.NoError(t, <-done)
	checkExact(t, b, dbURL)
}

func TestPostgresWithoutBroker(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	a := Start(t, "--database-url", dbURL)
	assert.Contains(t, a.Logs(), "postgres mode (no broker)")
	b := &burst{targets: []*Server{a}, prefix: "direct", batches: 50, per: 100, workers: 4, dur: time.Second, deadline: 60 * time.Second}
	require.NoError(t, b.run(t))
	// An ack means committed: no waiting.
	stored, distinct, err := dbCounts(t, dbURL, "direct-")
	require.NoError(t, err)
	assert.EqualValues(t, 5000, stored)
	assert.Equal(t, stored, distinct)
	assert.EqualValues(t, 5000, a.Count(t, url.Values{"service": {"burst"}}))
}
