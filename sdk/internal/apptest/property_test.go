package apptest

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/sdk"
	"github.com/sawmill-dev/sawmill/sdk/internal/randlog"
	"github.com/sawmill-dev/sawmill/sdk/sawmillslog"
	"github.com/sawmill-dev/sawmill/sdk/sawmilltest"
	"github.com/sawmill-dev/sawmill/sdk/sawmillzap"
)

// TestRandomInputIsAllStored runs the SDK's promise against the real
// server: records with random bytes in every field, zap fields and slog
// attributes of every type (NUL, invalid UTF-8, "$" keys, oversized values,
// times of year 1430 and 2600, ...) are every one accepted and stored,
// exactly once, in batches of 20 that would each have been rejected whole
// before for one bad record.
func TestRandomInputIsAllStored(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 41))
	srv := newServer(t, "")
	srv.start()
	var mu sync.Mutex
	var errs []error
	client := func(service string) *sawmill.Client {
		return newClient(t, srv, service, func(c *sawmill.Config) {
			c.MaxBatchRecords = 20
			c.Resource.Attributes = map[string]any{randlog.Key(r): randlog.Value(r, 0), "$ref": "\x00"}
			c.OnError = func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
		})
	}
	const n = 120

	rc := client("rand-records")
	for range n {
		require.NoError(t, rc.Log(randlog.Record(r)))
	}

	zc := client("rand-zap")
	zl := zap.New(sawmillzap.NewCore(zc, zapcore.DebugLevel), zap.AddCaller())
	for range n {
		logger := zl
		if r.IntN(4) == 0 {
			logger = logger.With(randlog.ZapFields(r)...).Named(randlog.String(r))
		}
		logger.Warn(randlog.String(r), randlog.ZapFields(r)...)
	}

	sc := client("rand-slog")
	sl := slog.New(sawmillslog.New(sc, &sawmillslog.Options{AddSource: true}))
	for range n {
		logger := sl
		if r.IntN(4) == 0 {
			logger = logger.WithGroup(randlog.Key(r))
		}
		logger.LogAttrs(context.Background(), slog.LevelWarn, randlog.String(r), randlog.SlogAttrs(r, 0)...)
	}

	for _, c := range []*sawmill.Client{rc, zc, sc} {
		closeClient(t, c, 30*time.Second)
		assert.Zero(t, c.Stats().Rejected, "seed %d", seed)
		assert.EqualValues(t, n, c.Stats().Acked, "seed %d", seed)
	}
	for _, service := range []string{"rand-records", "rand-zap", "rand-slog"} {
		srv.waitCount(service, n, 30*time.Second)
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, errs, "seed %d", seed)
}

// TestNULReachesTheServer: NUL in the body, the error message and the
// attributes (as the escape \u0000) reaches the server, and the embedded
// store keeps it exactly. One such record used to cost its whole batch.
func TestNULReachesTheServer(t *testing.T) {
	srv := newServer(t, "")
	srv.start()
	c := newClient(t, srv, "nul", nil)
	logger := zap.New(sawmillzap.NewCore(c, zapcore.InfoLevel))
	logger.Info("before")
	logger.Error("a\x00b", zap.String("k", "v\x00w"), zap.Error(fmt.Errorf("e\x00")))
	logger.Info("after")
	require.NoError(t, logger.Sync())
	srv.waitCount("nul", 3, 20*time.Second)
	logs, _ := srv.logs("nul")
	require.Len(t, logs, 3)
	e := logs[1]
	assert.Equal(t, "a\x00b", e.Body)
	assert.Equal(t, "v\x00w", e.Attributes["k"])
	assert.Zero(t, c.Stats().Rejected)
}

// TestSawmilltestAcceptsOnlyWhatTheServerAccepts keeps sawmilltest.Validate
// (a copy of the server's rules: the sdk module does not import the
// server) from drifting: every batch of random bytes it accepts, the real
// server accepts too. It may be stricter (it follows log.proto as written),
// never more lenient, so a test passing against sawmilltest passes in
// production.
func TestSawmilltestAcceptsOnlyWhatTheServerAccepts(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 51))
	srv := newServer(t, "")
	srv.start()
	conn, err := grpc.NewClient(srv.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ingest := sawmillv1.NewIngestServiceClient(conn)
	docs := []string{`{}`, `{"a":"\u0000"}`, `{"a":"\ud800"}`, `{"$x":1}`, `{"b":{"$bytes":"!"}}`, `{"b":{"$bytes":"AAE="}}`,
		`{"a":` + strings.Repeat("[", 15) + strings.Repeat("]", 15) + `}`, `{"a":1e999}`, `{"a":-0.0,"b":"é"}`, "{\"a\":\"\x00\"}", `[1]`}
	// str is mostly valid (so that whole batches are), keeping NUL,
	// control characters and sizes around the limits.
	str := func() string {
		s := randlog.String(r)
		if r.IntN(30) > 0 {
			s = strings.ToValidUTF8(s, "?")
		}
		if len(s) > 32 && r.IntN(4) > 0 {
			s = strings.ToValidUTF8(s[:r.IntN(33)], "")
		}
		return s
	}
	tm := func() uint64 {
		if r.IntN(12) > 0 {
			return uint64(time.Now().Add(time.Duration(r.Int64N(int64(25*time.Hour))) - time.Hour).UnixNano())
		}
		return uint64(randlog.Time(r).UnixNano())
	}
	accepted := 0
	for i := range 150 {
		rec := &sawmillv1.LogRecord{
			TimeUnixNano: tm(), ObservedTimeUnixNano: tm(),
			SeverityNumber: sawmillv1.SeverityNumber(r.IntN(26)), SeverityText: str(), Body: str(),
			Logger: str(), Source: &sawmillv1.SourceLocation{File: str(), Line: int32(r.IntN(100) - 2)},
			Error: &sawmillv1.ErrorInfo{Message: str(), Stack: str()},
		}
		if r.IntN(2) == 0 {
			var a sawmill.Attrs
			randlog.Attrs(r, &a)
			rec.AttributesJson = append([]byte(nil), a.Bytes()...)
		} else {
			rec.AttributesJson = []byte(docs[r.IntN(len(docs))])
		}
		b := &sawmillv1.LogBatch{BatchId: fmt.Sprintf("agree-%d-%d", seed, i),
			Resource: &sawmillv1.Resource{Service: "agree", Instance: str()}, Records: []*sawmillv1.LogRecord{rec}}
		if len(sawmilltest.Validate(b)) > 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := ingest.Push(ctx, &sawmillv1.PushRequest{Batch: b})
		cancel()
		require.NoError(t, err, "sawmilltest accepted a batch the server rejects (seed %d): %v", seed, status.Convert(err).Details())
		accepted++
	}
	t.Logf("%d of 150 random batches valid, all accepted by the server", accepted)
	require.Positive(t, accepted)
	srv.waitCount("agree", accepted, 30*time.Second)
}
