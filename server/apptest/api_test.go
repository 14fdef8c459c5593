package apptest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

// Issue 11 through the real binary: concurrent pushes of one batch id, time
// ranges beyond what int64 nanoseconds hold, and made-up cursors.
func TestEmbeddedBatchIDsTimeRangesCursors(t *testing.T) {
	s := Start(t)
	c := sawmillv1.NewIngestServiceClient(s.Conn(t))
	ctx := context.Background()
	svc := "idem-" + NewBatchID()[:8]

	// Rounds of four concurrent pushes of one id with different content:
	// exactly one answers duplicate=false, and only its records are stored.
	const rounds, pushes = 10, 4
	var wantTotal uint64
	winners := make([]int, rounds)
	for r := range rounds {
		id := NewBatchID()
		resps := make([]*sawmillv1.PushResponse, pushes)
		var wg sync.WaitGroup
		for i := range pushes {
			b := Batch(svc, 10*(i+1), time.Now())
			b.BatchId = id
			for j, rec := range b.GetRecords() {
				rec.Body = fmt.Sprintf("record %d of push %d of %s", j, i, id)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := Push(ctx, c, b)
				assert.NoError(t, err)
				resps[i] = resp
			}()
		}
		wg.Wait()
		fresh := 0
		for i, resp := range resps {
			require.NotNil(t, resp)
			if !resp.GetDuplicate() {
				fresh++
				winners[r] = 10 * (i + 1)
			}
		}
		require.Equal(t, 1, fresh, "round %d: pushes answered duplicate=false", r)
		wantTotal += uint64(winners[r])
		require.Equal(t, uint64(winners[r]), s.WaitCount(t, url.Values{"service": {svc}, "q": {id}}, uint64(winners[r]), 10*time.Second), "round %d: stored records of the id", r)
	}
	require.Equal(t, wantTotal, s.WaitCount(t, url.Values{"service": {svc}}, wantTotal, 10*time.Second))

	// The three URLs of the issue count everything.
	for _, q := range []url.Values{
		{"to": {"9999-12-31T23:59:59Z"}},
		{"from": {"1500-01-01T00:00:00Z"}},
		{"from": {"-24h"}, "to": {"2300-01-01T00:00:00Z"}},
	} {
		q.Set("service", svc)
		assert.Equal(t, wantTotal, s.Count(t, q), "%v", q)
	}

	// Cursors: the server's own page through; garbage is refused.
	var page pageJSON
	require.Equal(t, http.StatusOK, s.Get(t, "/api/v1/logs", url.Values{"service": {svc}, "limit": {"7"}}, &page))
	require.NotEmpty(t, page.NextCursor)
	require.Equal(t, http.StatusOK, s.Get(t, "/api/v1/logs", url.Values{"service": {svc}, "limit": {"7"}, "cursor": {page.NextCursor}}, &page))
	assert.Len(t, page.Logs, 7)
	for _, cur := range []string{"AAAAAAAAAAAAAAAA", "c2F3bWlsbC1jdXJzb3ItZ2FyYmFnZQ", page.NextCursor} {
		var body struct {
			Error string `json:"error"`
			Field string `json:"field"`
		}
		q := url.Values{"cursor": {cur}} // no service filter: not the query the cursor was issued for
		assert.Equal(t, http.StatusBadRequest, s.Get(t, "/api/v1/logs", q, &body), cur)
		assert.Equal(t, "cursor", body.Field)
		assert.Contains(t, body.Error, "cursor", fmt.Sprint(cur))
	}
}
