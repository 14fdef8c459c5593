package diskq

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sawmill-dev/sawmill/server/internal/store"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres/pgtest"
	"github.com/sawmill-dev/sawmill/server/internal/storewriter"
)

// Issue 11 through the disk queue and a real store: a batch PostgreSQL
// refuses for good (a trigger raising SQLSTATE 22023) among 60 is
// dead-lettered alone with its reason, and every other batch, one with a
// NUL body included, is stored; nothing is left in the queue.
func TestUnstorableBatchIsDeadLetteredAloneWithRealStore(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	s, err := postgres.Open(ctx, dbURL, postgres.Options{TimescaleDB: postgres.TimescaleOff})
	require.NoError(t, err)
	defer s.Close()
	pgtest.Poison(t, dbURL, "poison")

	dir := t.TempDir()
	q := openQ(t, dir, Options{MaxDelivery: 16})
	for i := 0; i < 60; i++ {
		b := makeBatch(fmt.Sprintf("b-%05d", i), 10)
		switch i {
		case 25:
			b.BatchId, b.Records[3].Body = "poisoned", "poison"
		case 26:
			b.Records[0].Body = "a\x00b"
		}
		require.NoError(t, q.Publish(ctx, b))
	}
	stop := runQ(t, q, storewriter.New(s, nil))
	require.Eventually(t, func() bool {
		n, _ := q.Depth()
		return n == 0 && q.DeadLettered() == 1
	}, 60*time.Second, 10*time.Millisecond)
	require.NoError(t, stop())
	shutdown(t, q)

	n, err := s.Count(ctx, store.Filter{})
	require.NoError(t, err)
	assert.Equal(t, uint64(59*10), n, "every batch but the refused one")
	files := deadLetterFiles(t, dir)
	require.Len(t, files, 1)
	data, err := os.ReadFile(files[0])
	require.NoError(t, err)
	assert.Contains(t, string(data), `batch-id: "poisoned"`)
	assert.Contains(t, string(data), "batches: 1")
	assert.Contains(t, string(data), "SQLSTATE 22023")
}
