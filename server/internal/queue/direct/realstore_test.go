package direct_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
	"github.com/sawmill-dev/sawmill/server/internal/queue/direct"
	"github.com/sawmill-dev/sawmill/server/internal/store"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres/pgtest"
	"github.com/sawmill-dev/sawmill/server/internal/storewriter"
)

// Issue 11 without a broker: concurrent publishes share transactions, so a
// batch PostgreSQL refuses for good (a trigger raising SQLSTATE 22023) is in
// a group with others. Its publish alone fails, Permanent; every other
// batch, a NUL body included, is stored.
func TestUnstorableBatchFailsAloneWithRealStore(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	s, err := postgres.Open(ctx, dbURL, postgres.Options{TimescaleDB: postgres.TimescaleOff})
	require.NoError(t, err)
	defer s.Close()
	pgtest.Poison(t, dbURL, "poison")

	q := direct.New(direct.Options{Writers: 1})
	run := make(chan error, 1)
	rctx, cancel := context.WithCancel(ctx)
	go func() { run <- q.Run(rctx, storewriter.New(s, nil)) }()
	t.Cleanup(func() {
		require.NoError(t, q.Shutdown(ctx))
		cancel()
		require.NoError(t, <-run)
	})

	require.Eventually(t, func() bool { return q.Publish(ctx, mkBatch("probe", "fine")) == nil }, 10*time.Second, 5*time.Millisecond)
	mk := mkBatch
	var bs []*sawmillv1.LogBatch
	for i := 0; i < 200; i++ {
		bs = append(bs, mk(fmt.Sprintf("b-%03d", i), "fine"))
	}
	bs[77] = mk("poisoned", "poison")
	bs[78] = mk("nul", "a\x00b")
	errs := make([]error, len(bs))
	var wg sync.WaitGroup
	for i, b := range bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = q.Publish(ctx, b)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if bs[i].GetBatchId() == "poisoned" {
			require.Error(t, err)
			assert.True(t, pipeline.IsPermanent(err), "%v", err)
			assert.ErrorIs(t, err, store.ErrUnstorable)
			assert.ErrorContains(t, err, "SQLSTATE 22023")
			continue
		}
		assert.NoError(t, err, "batch %s", bs[i].GetBatchId())
	}
	n, err := s.Count(ctx, store.Filter{})
	require.NoError(t, err)
	assert.Equal(t, uint64(1+199)*2, n, "the probe and every batch but the refused one")
}

func mkBatch(id, body string) *sawmillv1.LogBatch {
	now := uint64(time.Now().UnixNano())
	return &sawmillv1.LogBatch{BatchId: id, Resource: &sawmillv1.Resource{Service: "svc"},
		Records: []*sawmillv1.LogRecord{{TimeUnixNano: now, Body: body}, {TimeUnixNano: now, Body: "second"}}}
}
