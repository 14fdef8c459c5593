package sawmillzap_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sawmill-dev/sawmill/sdk/internal/randlog"
	"github.com/sawmill-dev/sawmill/sdk/sawmilltest"
	"github.com/sawmill-dev/sawmill/sdk/sawmillzap"
)

// TestRandomFieldsAreAllAccepted: zap fields of every type holding random
// bytes (messages, keys, With fields and logger names too) never get a
// batch rejected; sawmilltest applies log.proto's rules and stores every
// entry.
func TestRandomFieldsAreAllAccepted(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 21))
	srv := sawmilltest.New(t)
	c := newClient(t, srv)
	base := zap.New(sawmillzap.NewCore(c, zapcore.DebugLevel), zap.AddCaller())
	const n = 300
	for i := range n {
		logger := base
		if r.IntN(4) == 0 {
			logger = logger.With(randlog.ZapFields(r)...)
		}
		if r.IntN(4) == 0 {
			logger = logger.Named(randlog.String(r))
		}
		if i%50 == 0 {
			logger = logger.WithOptions(zap.AddStacktrace(zapcore.DebugLevel))
		}
		lvl := []zapcore.Level{zapcore.DebugLevel, zapcore.InfoLevel, zapcore.WarnLevel, zapcore.ErrorLevel}[r.IntN(4)]
		logger.Log(lvl, randlog.String(r), randlog.ZapFields(r)...)
	}
	require.NoError(t, base.Sync(), "seed %d", seed)
	assert.Zero(t, c.Stats().Rejected, "seed %d", seed)
	assert.Equal(t, n, srv.Count(), "seed %d", seed)
}
