package sawmillslog_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/sawmill-dev/sawmill/sdk/internal/randlog"
	"github.com/sawmill-dev/sawmill/sdk/sawmillslog"
	"github.com/sawmill-dev/sawmill/sdk/sawmilltest"
)

// TestRandomAttrsAreAllAccepted: slog attributes of every kind holding
// random bytes (messages, keys, groups and With attributes too) never get
// a batch rejected; sawmilltest applies log.proto's rules and stores every
// record.
func TestRandomAttrsAreAllAccepted(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 31))
	srv := sawmilltest.New(t)
	c := newClient(t, srv)
	base := slog.New(sawmillslog.New(c, &sawmillslog.Options{AddSource: true, Level: slog.LevelDebug}))
	const n = 300
	for range n {
		logger := base
		if r.IntN(4) == 0 {
			logger = logger.With(attrsAsArgs(randlog.SlogAttrs(r, 0))...)
		}
		if r.IntN(4) == 0 {
			logger = logger.WithGroup(randlog.Key(r))
		}
		lvl := slog.LevelDebug + slog.Level(r.IntN(40)) // every level the handler takes, far past Error too
		logger.LogAttrs(context.Background(), lvl, randlog.String(r), randlog.SlogAttrs(r, 0)...)
	}
	flush(t, c)
	assert.Zero(t, c.Stats().Rejected, "seed %d", seed)
	assert.Equal(t, n, srv.Count(), "seed %d", seed)
}

func attrsAsArgs(attrs []slog.Attr) []any {
	out := make([]any, len(attrs))
	for i, a := range attrs {
		out[i] = a
	}
	return out
}
