package rabbitmq_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/queue/rabbitmq"
	"github.com/sawmill-dev/sawmill/server/internal/queue/rabbitmq/amqptest"
	"github.com/sawmill-dev/sawmill/server/internal/store"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres/pgtest"
	"github.com/sawmill-dev/sawmill/server/internal/storewriter"
)

func serviceBatch(service, id, body string, n int) *sawmillv1.LogBatch {
	b := &sawmillv1.LogBatch{BatchId: id, Resource: &sawmillv1.Resource{Service: service}}
	for i := 0; i < n; i++ {
		b.Records = append(b.Records, &sawmillv1.LogRecord{TimeUnixNano: uint64(time.Now().UnixNano()), Body: fmt.Sprintf("%s %d", body, i)})
	}
	return b
}

// Issue 11, production mode: one record PostgreSQL cannot store must not
// stop storage for anyone. Through the real broker and the real store: a
// record with a NUL in its body (PostgreSQL's text refuses 0x00; it is now
// stored as U+FFFD) and a batch the database refuses for good (a trigger
// raising SQLSTATE 22023, standing for any data PostgreSQL refuses), among
// 500 batches of two services with the default prefetch of 200. Every
// other batch is stored, the refused one is in the dead-letter queue with
// its reason, and nothing is left waiting. Before, both stayed
// unacknowledged for ever, retried, holding the consumer's prefetched
// batches.
func TestUnstorableBatchIsDeadLetteredAloneWithRealStore(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	s, err := postgres.Open(ctx, dbURL, postgres.Options{TimescaleDB: postgres.TimescaleOff})
	require.NoError(t, err)
	defer s.Close()
	pgtest.Poison(t, dbURL, "poison 0")

	url, _ := amqptest.NewVhost(t)
	q := open(t, url, nil)

	var bs []*sawmillv1.LogBatch
	for i := 0; i < 250; i++ {
		bs = append(bs, serviceBatch("orders", fmt.Sprintf("orders-%04d", i), "order", 10))
		if i == 100 {
			bs = append(bs, serviceBatch("orders", "poisoned", "poison", 1))
			bs = append(bs, serviceBatch("orders", "nul", "a\x00b", 3))
		}
		bs = append(bs, serviceBatch("billing", fmt.Sprintf("billing-%04d", i), "invoice", 10))
	}
	// Published before the consumers start, so that they take full prefetch
	// windows with the bad batches inside.
	var wg sync.WaitGroup
	for _, b := range bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			assert.NoError(t, q.Publish(pctx, b))
		}()
	}
	wg.Wait()
	run(t, q, storewriter.New(s, nil))

	const want = 500*10 + 3
	require.Eventually(t, func() bool {
		n, err := s.Count(ctx, store.Filter{})
		return err == nil && n == want && q.DeadLettered() == 1
	}, 60*time.Second, 50*time.Millisecond, "stored and dead-lettered")
	counts := map[string]uint64{}
	svcs, err := s.Services(ctx)
	require.NoError(t, err)
	for _, sv := range svcs {
		counts[sv.Name] = sv.Total
	}
	assert.Equal(t, map[string]uint64{"orders": 2503, "billing": 2500}, counts)
	n, err := s.Count(ctx, store.Filter{Text: "a\x00b"})
	require.NoError(t, err)
	assert.Equal(t, uint64(3), n, "the NUL body is stored (as U+FFFD) and found by its text")

	conn, err := amqp.Dial(url)
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	msg, ok, err := ch.Get("sawmill.store.dead-letter", true)
	require.NoError(t, err)
	require.True(t, ok, "the refused batch is in the dead-letter queue")
	assert.Equal(t, "poisoned", msg.MessageId)
	reason, _ := msg.Headers["x-sawmill-reason"].(string)
	assert.Contains(t, reason, "unstorable")
	assert.Contains(t, reason, "SQLSTATE 22023")
	var dead sawmillv1.LogBatch
	require.NoError(t, proto.Unmarshal(msg.Body, &dead))
	assert.Equal(t, "poisoned", dead.GetBatchId())
	_, ok, err = ch.Get("sawmill.store.dead-letter", true)
	require.NoError(t, err)
	assert.False(t, ok, "only the refused batch is dead-lettered")

	require.Eventually(t, func() bool { return q.Held() == 0 }, 10*time.Second, 20*time.Millisecond, "no delivery is held")
	st, err := ch.QueueDeclarePassive("sawmill.store", true, false, false, false, amqp.Table{"x-queue-type": rabbitmq.QueueQuorum})
	require.NoError(t, err)
	assert.Zero(t, st.Messages, "nothing waits in the storage queue")
}
