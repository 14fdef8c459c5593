package live

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func batch(id, svc string, sevs ...int32) *sawmillv1.LogBatch {
	b := &sawmillv1.LogBatch{BatchId: id, Resource: &sawmillv1.Resource{Service: svc}}
	for i, s := range sevs {
		b.Records = append(b.Records, &sawmillv1.LogRecord{SeverityNumber: sawmillv1.SeverityNumber(s), Body: fmt.Sprintf("%s %d", id, i), TimeUnixNano: uint64(i + 1)})
	}
	return b
}

func TestRecentKeepsNewestPerService(t *testing.T) {
	h := New(Options{RecentSize: 3})
	h.process(batch("a", "orders", 9, 9))
	h.process(batch("b", "orders", 9, 9))
	h.process(batch("c", "users", 17))
	r := h.Recent(nil, 0)
	require.Len(t, r, 2)
	assert.Equal(t, []string{"b~1", "b~0", "a~1"}, ids(r["orders"]))
	assert.Equal(t, []string{"c~0"}, ids(r["users"]))
	assert.Equal(t, []string{"b~1"}, ids(h.Recent([]string{"orders"}, 1)["orders"]))
	assert.NotContains(t, h.Recent([]string{"orders"}, 1), "users")

	// A batch larger than the cache keeps only its tail.
	h.process(batch("big", "users", 1, 2, 3, 4, 5))
	assert.Equal(t, []string{"big~4", "big~3", "big~2"}, ids(h.Recent(nil, 0)["users"]))

	// Warm fills only services not cached yet.
	h.Warm("orders", []*sawmillv1.LogEntry{{Id: "old"}})
	h.Warm("payments", []*sawmillv1.LogEntry{{Id: "p2"}, {Id: "p1"}})
	assert.Equal(t, "b~1", h.Recent(nil, 0)["orders"][0].GetId())
	assert.Equal(t, []string{"p2", "p1"}, ids(h.Recent(nil, 0)["payments"]))
}

func ids(es []*sawmillv1.LogEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.GetId())
	}
	return out
}

func TestRatesAndCounts(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	h := New(Options{Now: c.now})
	for i := 0; i < 10; i++ {
		h.process(batch(fmt.Sprint(i), "orders", 9, 9, 13, 17))
		c.add(time.Second)
	}
	assert.InDelta(t, 4.0, h.Rate()["orders"], 0.001, "4 records a second over the last 10 s")
	cs := h.Counts(5)
	require.Len(t, cs, 4, "seconds now-4..now; now itself is empty")
	assert.Equal(t, [6]uint64{0, 0, 2, 1, 1, 0}, cs[0].Levels)
	c.add(20 * time.Second)
	assert.Zero(t, h.Rate()["orders"])
}

func TestTailFiltersAndSamples(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	h := New(Options{Now: c.now})
	sub := h.Subscribe(store.Filter{Services: []string{"orders"}, MinSeverity: 13}, 5)
	defer sub.Close()
	h.process(batch("x", "users", 17, 17))
	h.process(batch("a", "orders", 9, 13, 17, 21))
	select {
	case <-sub.Ready():
	default:
		t.Fatal("subscription not signalled")
	}
	es, skipped := sub.Take()
	assert.Equal(t, []string{"a~1", "a~2", "a~3"}, ids(es))
	assert.Zero(t, skipped)

	// Over the rate: the first 2 remaining tokens pass, the rest are counted.
	h.process(batch("b", "orders", 13, 13, 13, 13, 13, 13))
	es, skipped = sub.Take()
	assert.Len(t, es, 2)
	assert.Equal(t, uint64(4), skipped)
	// A second later the budget is back.
	c.add(time.Second)
	h.process(batch("c", "orders", 13, 13, 13))
	es, skipped = sub.Take()
	assert.Len(t, es, 3)
	assert.Zero(t, skipped)

	sub.Close()
	h.process(batch("d", "orders", 13))
	es, _ = sub.Take()
	assert.Empty(t, es, "closed subscriptions get nothing")
}

func TestObserveNeverBlocks(t *testing.T) {
	h := New(Options{Backlog: 2})
	for i := 0; i < 10; i++ {
		h.Observe(batch(fmt.Sprint(i), "orders", 9))
	}
	assert.Equal(t, int64(8), h.Dropped())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	require.Eventually(t, func() bool { return h.Seen() == 2 }, 2*time.Second, 5*time.Millisecond)
	cancel()
	<-done
}

func TestNextPacesAndKeepsAlive(t *testing.T) {
	h := New(Options{})
	sub := h.Subscribe(store.Filter{}, 1000)
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	h.process(batch("a", "orders", 9, 9))
	u, err := sub.Next(ctx, 200*time.Millisecond, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"a~0", "a~1"}, ids(u.Entries))
	assert.Zero(t, u.Skipped)
	assert.Nil(t, u.Gap)

	// The next batch is held until the interval since the last one passed.
	h.process(batch("b", "orders", 9))
	start := time.Now()
	u, err = sub.Next(ctx, 200*time.Millisecond, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"b~0"}, ids(u.Entries))
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)

	// Nothing waiting: a keep-alive tick returns empty-handed.
	tick := make(chan time.Time, 1)
	tick <- time.Now()
	u, err = sub.Next(ctx, 0, tick)
	require.NoError(t, err)
	assert.True(t, u.Empty())

	// The context ends the wait.
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	_, err = sub.Next(cctx, 0, nil)
	assert.ErrorIs(t, err, context.Canceled)
}

// A batch that reaches the hub twice (a publish retried after its confirm
// was lost is fanned out twice by the broker) is shown, cached and counted
// once.
func TestDuplicateBatchShownOnce(t *testing.T) {
	h := New(Options{DedupeWindow: 3})
	sub := h.Subscribe(store.Filter{}, 1000)
	defer sub.Close()
	h.process(batch("a", "orders", 9, 9))
	h.process(batch("a", "orders", 9, 9))
	h.process(batch("b", "orders", 9))
	es, _ := sub.Take()
	assert.Equal(t, []string{"a~0", "a~1", "b~0"}, ids(es))
	assert.Equal(t, int64(1), h.Duplicates())
	assert.Equal(t, int64(3), h.Seen())
	assert.Equal(t, []string{"b~0", "a~1", "a~0"}, ids(h.Recent(nil, 0)["orders"]))

	// The window is bounded: an id older than the last 3 is forgotten.
	h.process(batch("c", "orders", 9))
	h.process(batch("d", "orders", 9))
	h.process(batch("a", "orders", 9))
	es, _ = sub.Take()
	assert.Equal(t, []string{"c~0", "d~0", "a~0"}, ids(es))
}

// What the hub could not take, and what a queue reports it lost, reaches
// every open tail as a gap notice, merged until the tail reads it.
func TestGapsReachTails(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	h := New(Options{Now: c.now, Backlog: 1})
	sub := h.Subscribe(store.Filter{Services: []string{"orders"}}, 1000)
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	h.Observe(batch("a", "orders", 9))
	h.Observe(batch("b", "orders", 9, 9, 9)) // the hand-off is full: dropped
	u, err := sub.Next(ctx, 0, nil)
	require.NoError(t, err)
	require.NotNil(t, u.Gap)
	assert.Equal(t, pipeline.LiveGap{From: c.now(), To: c.now(), Batches: 1, Records: 3, Reason: "the live view fell behind"}, *u.Gap)
	assert.Empty(t, u.Entries, "the hub has not processed a yet")

	// A lost live feed: the count is unknown and stays unknown when merged.
	c.add(time.Second)
	h.Observe(batch("c", "users", 9)) // dropped again (a still waits)
	lost := pipeline.LiveGap{From: c.now().Add(-500 * time.Millisecond), To: c.now().Add(time.Second), Batches: -1, Records: -1, Reason: "the live feed from the broker was lost"}
	h.ObserveGap(lost)
	u, err = sub.Next(ctx, 0, nil)
	require.NoError(t, err)
	require.NotNil(t, u.Gap)
	assert.Equal(t, lost, *u.Gap)

	// A gap over before the tail opened is not this tail's.
	c.add(10 * time.Second)
	late := h.Subscribe(store.Filter{}, 1000)
	defer late.Close()
	h.ObserveGap(lost)
	h.process(batch("d", "orders", 9))
	u, err = late.Next(ctx, 0, nil)
	require.NoError(t, err)
	assert.Nil(t, u.Gap)
	assert.Equal(t, []string{"d~0"}, ids(u.Entries))
}

// StopTails ends every tail at once, even one waiting out its interval,
// and tails opened afterwards.
func TestStopTailsEndsNext(t *testing.T) {
	h := New(Options{})
	sub := h.Subscribe(store.Filter{}, 1000)
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h.process(batch("a", "orders", 9))
	_, err := sub.Next(ctx, time.Hour, nil)
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() { _, err := sub.Next(ctx, time.Hour, nil); errc <- err }()
	h.StopTails()
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, ErrStopping)
	case <-time.After(10 * time.Second):
		t.Fatal("Next still waiting after StopTails")
	}
	h.StopTails() // idempotent
	later := h.Subscribe(store.Filter{}, 1000)
	defer later.Close()
	_, err = later.Next(ctx, 0, nil)
	assert.ErrorIs(t, err, ErrStopping)
}
