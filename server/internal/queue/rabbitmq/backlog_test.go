package rabbitmq_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/live"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
	"github.com/sawmill-dev/sawmill/server/internal/queue/rabbitmq"
	"github.com/sawmill-dev/sawmill/server/internal/queue/rabbitmq/amqptest"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// While the database is away the storage consumers hold their prefetch
// window unacknowledged: those batches are not "ready" in the broker, yet
// they wait for the store all the same. Depth must count them.
func TestDepthCountsUnackedDeliveries(t *testing.T) {
	url, _ := amqptest.NewVhost(t)
	q := open(t, url, nil) // 2 consumers x prefetch 200: room for every batch below
	release := make(chan struct{})
	rec := newRecorder()
	rec.fail = func([]*sawmillv1.LogBatch) error {
		select {
		case <-release:
			return nil
		case <-time.After(50 * time.Millisecond):
			return errors.New("database away")
		}
	}
	run(t, q, rec)
	publishAll(t, q, "held", 300)
	require.Eventually(t, func() bool { b, _ := q.Depth(); return b == 300 }, 20*time.Second, 20*time.Millisecond,
		"depth %v (ready %d)", depthOf(q), q.BrokerDepth())
	n, bytes := q.Unacked()
	ready := q.BrokerDepth()
	assert.Equal(t, int64(300), n+max(ready, 0), "ready %d + unacked %d", ready, n)
	assert.Positive(t, bytes)
	unconfirmed, _ := q.Unconfirmed()
	assert.Zero(t, unconfirmed, "every publish is confirmed")

	close(release)
	require.Eventually(t, func() bool { return rec.count() == 300 }, 20*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { b, by := q.Depth(); n, _ := q.Unacked(); return b == 0 && by == 0 && n == 0 }, 20*time.Second, 20*time.Millisecond,
		"depth %v after the store took everything", depthOf(q))
}

func depthOf(q *rabbitmq.Queue) []int64 { b, by := q.Depth(); return []int64{b, by} }

// A broker memory alarm: a publish already waiting for its confirm fails
// at once (not at the client's deadline) with an error naming the alarm,
// later publishes fail before sending, Blocked says why (for /readyz), and
// the client's retry of the same batch id, once the alarm clears, reaches
// the live view once even if the broker stored both copies.
func TestMemoryAlarmFailsFastAndNamesIt(t *testing.T) {
	url, _ := amqptest.NewVhost(t)
	hub := live.New(live.Options{})
	hctx, hcancel := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() { hub.Run(hctx); close(hubDone) }()
	t.Cleanup(func() { hcancel(); <-hubDone })
	sub := hub.Subscribe(store.Filter{}, live.MaxTailRate)
	defer sub.Close()

	q := open(t, url, func(o *rabbitmq.Options) { o.Observer = hub; o.ConfirmTimeout = 30 * time.Second })
	rec := newRecorder()
	run(t, q, rec)
	publishAll(t, q, "before", 5)

	clearAlarm := amqptest.MemoryAlarm(t)
	during := batch("during-alarm", 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err := q.Publish(ctx, during)
	took := time.Since(start)
	require.Error(t, err)
	var full *pipeline.FullError
	require.ErrorAs(t, err, &full, "%v", err)
	assert.Contains(t, err.Error(), "broker blocked publishing: low on memory")
	assert.Positive(t, full.RetryAfter)
	// The broker blocks the connection on its first publish under the
	// alarm and says so; the confirm never comes while the alarm lasts.
	assert.Less(t, took, 10*time.Second, "the publish in flight failed after %s", took)
	assert.Equal(t, "low on memory", q.Blocked())

	start = time.Now()
	err = q.Publish(ctx, batch("refused", 1))
	require.ErrorAs(t, err, &full)
	assert.Less(t, time.Since(start), time.Second, "while blocked a publish fails before sending")

	clearAlarm()
	require.Eventually(t, func() bool { return q.Blocked() == "" }, 20*time.Second, 20*time.Millisecond)
	require.NoError(t, q.Publish(ctx, during), "the client's retry")
	publishAll(t, q, "after", 5)
	require.Eventually(t, func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.ids["during-alarm"] >= 1 && len(rec.ids) >= 11
	}, 20*time.Second, 20*time.Millisecond)

	// Every batch reached the tail once.
	seen := map[string]int{}
	deadline := time.After(20 * time.Second)
	for len(seen) < 5*10+3+5*10 && !t.Failed() {
		select {
		case <-deadline:
			t.Fatalf("tail saw %d of 103 records", len(seen))
		default:
		}
		tctx, tcancel := context.WithTimeout(ctx, time.Second)
		u, _ := sub.Next(tctx, 0, nil)
		tcancel()
		for _, e := range u.Entries {
			if !strings.HasPrefix(e.GetId(), "refused") {
				seen[e.GetId()]++
			}
		}
	}
	time.Sleep(500 * time.Millisecond) // a second copy, if the broker stored one, arrives by now
	u, _ := sub.Next(ctx, 0, time.After(100*time.Millisecond))
	for _, e := range u.Entries {
		seen[e.GetId()]++
	}
	for id, n := range seen {
		assert.Equal(t, 1, n, "record %s shown once", id)
	}
	t.Logf("live duplicates suppressed: %d; stored copies of the retried batch: %d", hub.Duplicates(), rec.ids["during-alarm"])
}

// gapObserver records batches and gap notices.
type gapObserver struct {
	observed
	gaps chan pipeline.LiveGap
}

func (g *gapObserver) ObserveGap(gap pipeline.LiveGap) { g.gaps <- gap }

// When the connection is lost, this replica's live queue goes with it, and
// whatever other replicas publish until it is redeclared never reaches this
// replica's live view: after reconnecting, the queue reports that gap to a
// GapObserver, from the last live delivery to the new live queue.
func TestReconnectReportsLiveGap(t *testing.T) {
	url, vhost := amqptest.NewVhost(t)
	obs := &gapObserver{observed: observed{ids: map[string]int{}}, gaps: make(chan pipeline.LiveGap, 10)}
	q := open(t, url, func(o *rabbitmq.Options) { o.Observer = obs })
	publishAll(t, q, "before", 3)
	require.Eventually(t, func() bool { return obs.count() == 3 }, 10*time.Second, 10*time.Millisecond)
	lastSeen := time.Now()
	select {
	case g := <-obs.gaps:
		t.Fatalf("gap before any reconnection: %+v", g)
	default:
	}

	require.NoError(t, amqptest.CloseConnections(vhost))
	var g pipeline.LiveGap
	select {
	case g = <-obs.gaps:
	case <-time.After(30 * time.Second):
		t.Fatal("no gap reported after the reconnection")
	}
	assert.GreaterOrEqual(t, q.Reconnects(), int64(1))
	assert.Equal(t, int64(-1), g.Records, "the count is unknown")
	assert.Equal(t, int64(-1), g.Batches)
	assert.False(t, g.From.After(lastSeen), "the gap starts at the last live delivery (%s), not later (%s)", lastSeen, g.From)
	assert.True(t, g.To.After(g.From))
	assert.Contains(t, g.Reason, "connection to the broker was lost")

	// The new live queue feeds the observer again.
	publishAll(t, q, "after", 3)
	require.Eventually(t, func() bool { return obs.count() == 6 }, 10*time.Second, 10*time.Millisecond)
}
