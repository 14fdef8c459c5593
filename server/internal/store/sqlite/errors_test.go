package sqlite

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
	"github.com/sawmill-dev/sawmill/server/internal/store/storetest"
)

// A block beyond SQLite's length limit (1 GB by default: many large
// batches of one service in one write) is refused with SQLITE_TOOBIG, which
// retrying the same write cannot fix: it is ErrUnstorable, so the queue
// writes the batches one by one. The limit is lowered here on the store's
// one write connection so that the test stays small.
func TestTooBigIsUnstorable(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "logs.db"), Options{})
	require.NoError(t, err)
	defer s.Close()
	conn, err := s.wdb.Conn(ctx)
	require.NoError(t, err)
	_, err = msqlite.Limit(conn, sqlite3.SQLITE_LIMIT_LENGTH, 64<<10)
	require.NoError(t, err)
	require.NoError(t, conn.Close()) // back to the pool of one, limit kept

	rng := rand.New(rand.NewPCG(1, 2))
	mk := func(id string, n int) *sawmillv1.LogBatch {
		b := &sawmillv1.LogBatch{BatchId: id, Resource: &sawmillv1.Resource{Service: "svc"}}
		for i := 0; i < n; i++ {
			// Text that S2 cannot shrink much.
			body := strings.Map(func(rune) rune { return 'a' + rng.Int32N(26) }, strings.Repeat(" ", 1024))
			b.Records = append(b.Records, &sawmillv1.LogRecord{TimeUnixNano: uint64(storetest.Base.UnixNano()) + uint64(i), Body: id + body})
		}
		return b
	}
	_, err = s.WriteBatches(ctx, []*sawmillv1.LogBatch{mk("small", 2)})
	require.NoError(t, err)
	_, err = s.WriteBatches(ctx, []*sawmillv1.LogBatch{mk("big", 400)})
	require.Error(t, err)
	assert.ErrorIs(t, err, store.ErrUnstorable)
	var se *msqlite.Error
	require.True(t, errors.As(err, &se))
	assert.Equal(t, sqlite3.SQLITE_TOOBIG, se.Code()&0xff)
	n, err := s.Count(ctx, store.Filter{})
	require.NoError(t, err)
	assert.Equal(t, uint64(2), n, "the refused write left nothing behind")
}

func TestClassifyKeepsOtherErrorsRetryable(t *testing.T) {
	assert.NoError(t, classify(nil))
	assert.False(t, errors.Is(classify(errors.New("disk I/O error")), store.ErrUnstorable))
}
