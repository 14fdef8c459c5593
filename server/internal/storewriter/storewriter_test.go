package storewriter_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres/pgtest"
	"github.com/sawmill-dev/sawmill/server/internal/store/storetest"
	"github.com/sawmill-dev/sawmill/server/internal/storewriter"
)

func batch(id, body string) *sawmillv1.LogBatch {
	return &sawmillv1.LogBatch{BatchId: id, Resource: &sawmillv1.Resource{Service: "svc"},
		Records: []*sawmillv1.LogRecord{{TimeUnixNano: uint64(storetest.Base.UnixNano()), Body: body}}}
}

// Data the store refuses is a Permanent error for the queue (which then
// dead-letters it); a store that is away is retried.
func TestUnstorableIsPermanent(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s, err := postgres.Open(ctx, url, postgres.Options{TimescaleDB: postgres.TimescaleOff})
	require.NoError(t, err)
	defer s.Close()
	pgtest.Poison(t, url, "poison")
	w := storewriter.New(s, nil)

	require.NoError(t, w.ConsumeBatches(ctx, []*sawmillv1.LogBatch{batch("a", "fine"), batch("b", "nul \x00")}))
	assert.Equal(t, int64(2), w.Stored())

	err = w.ConsumeBatches(ctx, []*sawmillv1.LogBatch{batch("c", "fine"), batch("d", "poison")})
	require.Error(t, err)
	assert.True(t, pipeline.IsPermanent(err), "%v", err)
	assert.ErrorContains(t, err, "SQLSTATE 22023")

	s.Close()
	err = w.ConsumeBatches(ctx, []*sawmillv1.LogBatch{batch("e", "fine")})
	require.Error(t, err)
	assert.False(t, pipeline.IsPermanent(err), "%v", err)
}
