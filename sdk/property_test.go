package sawmill_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sawmill-dev/sawmill/sdk"
	"github.com/sawmill-dev/sawmill/sdk/internal/randlog"
	"github.com/sawmill-dev/sawmill/sdk/sawmilltest"
)

// TestRandomRecordsAreAllAccepted is the SDK's promise as a property: no
// record, whatever bytes its fields hold, gets a batch rejected. Records
// with random bytes in every field and random attribute calls go through a
// real client to sawmilltest, which applies log.proto's rules; every one
// must be stored.
func TestRandomRecordsAreAllAccepted(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 11))
	srv := sawmilltest.New(t)
	var mu sync.Mutex
	var rejected []error
	c := newClient(t, srv.Addr(), func(c *sawmill.Config) {
		c.MaxBatchRecords = 25
		c.OnError = func(err error) {
			mu.Lock()
			defer mu.Unlock()
			rejected = append(rejected, err)
		}
	})
	const n = 300
	for range n {
		require.NoError(t, c.Log(randlog.Record(r)))
	}
	closeOK(t, c)
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, rejected, "seed %d", seed)
	assert.EqualValues(t, n, c.Stats().Acked, "seed %d", seed)
	assert.Equal(t, n, srv.Count(), "seed %d", seed)
}

func TestRandomResourceAttributesAreAccepted(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	r := rand.New(rand.NewPCG(seed, 12))
	srv := sawmilltest.New(t)
	for range 5 {
		attrs := map[string]any{}
		for range r.IntN(200) {
			attrs[randlog.Key(r)] = randlog.Value(r, 0)
		}
		c := newClient(t, srv.Addr(), func(c *sawmill.Config) { c.Resource.Attributes = attrs })
		require.NoError(t, c.Log(&sawmill.Record{Body: "x"}))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		require.NoError(t, c.Flush(ctx), "seed %d", seed)
		cancel()
		assert.Zero(t, c.Stats().Rejected, "seed %d", seed)
	}
	assert.Equal(t, 5, srv.Count(), "seed %d", seed)
}
