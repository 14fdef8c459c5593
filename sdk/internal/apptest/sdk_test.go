package apptest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sawmill-dev/sawmill/sdk"
	"github.com/sawmill-dev/sawmill/sdk/sawmillslog"
	"github.com/sawmill-dev/sawmill/sdk/sawmillzap"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func newClient(t *testing.T, s *server, service string, mod func(*sawmill.Config)) *sawmill.Client {
	t.Helper()
	cfg := sawmill.Config{
		Endpoint: s.grpcAddr,
		Resource: sawmill.Resource{Service: service, Instance: service + "-1", Environment: "test", Version: "1.2.3",
			Attributes: map[string]any{"region": "kr-1", "cores": 2}},
		Token:         s.token,
		FlushInterval: 50 * time.Millisecond,
		RetryInitial:  20 * time.Millisecond,
		RetryMax:      500 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := sawmill.New(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

func closeClient(t *testing.T, c *sawmill.Client, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	require.NoError(t, c.Close(ctx))
}

type user struct {
	Name string
	Age  int
}

func (u user) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("name", u.Name)
	enc.AddInt("age", u.Age)
	return nil
}

type ids []int

func (s ids) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, v := range s {
		enc.AppendInt(v)
	}
	return nil
}

type stringer struct{}

func (stringer) String() string { return "stringer!" }

type stackErr struct{}

func (stackErr) Error() string { return "disk full" }
func (stackErr) Format(s fmt.State, verb rune) {
	if verb == 'v' && s.Flag('+') {
		_, _ = io.WriteString(s, "disk full\nmain.write\n\t/app/main.go:42")
		return
	}
	_, _ = io.WriteString(s, "disk full")
}

// TestZapEveryFieldTypeRoundTrips pushes one entry with every zap field
// type through the real server and reads the stored record back.
func TestZapEveryFieldTypeRoundTrips(t *testing.T) {
	for _, tr := range []sawmill.Transport{sawmill.TransportUnary, sawmill.TransportStream} {
		t.Run(tr.String(), func(t *testing.T) {
			srv := newServer(t, "")
			srv.start()
			service := fmt.Sprintf("zap-types-%d", tr)
			c := newClient(t, srv, service, func(c *sawmill.Config) { c.Transport = tr })
			logger := zap.New(sawmillzap.NewCore(c, zapcore.DebugLevel), zap.AddCaller()).Named("orders.http")
			sc := trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
				SpanID:  trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
			})
			ctx := trace.ContextWithSpanContext(context.Background(), sc)
			ts := time.Date(2026, 11, 23, 4, 0, 0, 123456789, time.UTC)
			logger.With(zap.String("request_id", "req-1")).Error("주문 482913 처리 실패 \"quoted\"",
				sawmillzap.Context(ctx),
				zap.String("s", "text with \"quotes\" and 한글"), zap.Int("i", -7), zap.Int64("i64", math.MaxInt64),
				zap.Uint64("u64", math.MaxUint64), zap.Float64("f", 2), zap.Float64("f_small", 1e-9), zap.Float32("f32", 0.25),
				zap.Float64("nan", math.NaN()), zap.Float64("inf", math.Inf(1)), zap.Bool("b", false),
				zap.Duration("d", 12500*time.Microsecond), zap.Time("t", ts), zap.Complex128("c", complex(1, 2)),
				zap.Binary("bin", []byte{0, 1, 2, 0xff}), zap.ByteString("bs", []byte("bytes")), zap.Stringer("str", stringer{}),
				zap.Object("obj", user{"kim", 30}), zap.Array("arr", ids{1, 2, 3}), zap.Strings("strs", []string{"a", "b"}),
				zap.Any("map", map[string]any{"n": 1, "f": 1.5, "nested": map[string]any{"deep": true}}),
				zap.Reflect("struct", struct {
					A int     `json:"a"`
					B float64 `json:"b"`
				}{1, 2}),
				zap.Error(stackErr{}), zap.Int("http_status", 503),
				zap.Namespace("ns"), zap.String("inside", "yes"),
			)
			require.NoError(t, logger.Sync())
			srv.waitCount(service, 1, 20*time.Second)
			logs, raw := srv.logs(service)
			require.Len(t, logs, 1)
			e := logs[0]

			assert.Equal(t, service, e.Service)
			assert.Equal(t, service+"-1", e.Instance)
			assert.Equal(t, "test", e.Environment)
			assert.Equal(t, "1.2.3", e.Version)
			assert.Equal(t, map[string]any{"region": "kr-1", "cores": json.Number("2")}, e.ResourceAttributes)
			assert.Equal(t, "주문 482913 처리 실패 \"quoted\"", e.Body)
			assert.Equal(t, 17, e.SeverityNumber)
			assert.Equal(t, "error", e.SeverityText)
			assert.Equal(t, sc.TraceID().String(), e.TraceID)
			assert.Equal(t, sc.SpanID().String(), e.SpanID)
			assert.Equal(t, "orders.http", e.Logger)
			require.NotNil(t, e.Source)
			assert.True(t, strings.HasSuffix(e.Source.File, "sdk_test.go"), e.Source.File)
			assert.Positive(t, e.Source.Line)
			assert.Contains(t, e.Source.Function, "TestZapEveryFieldTypeRoundTrips")
			require.NotNil(t, e.Error)
			assert.Equal(t, "apptest.stackErr", e.Error.Type)
			assert.Equal(t, "disk full", e.Error.Message)
			assert.Equal(t, "disk full\nmain.write\n\t/app/main.go:42", e.Error.Stack)
			tn, err := e.TimeUnixNano.Int64()
			require.NoError(t, err)
			assert.InDelta(t, time.Now().UnixNano(), tn, float64(time.Minute))

			assert.Equal(t, map[string]any{
				"request_id": "req-1",
				"s":          "text with \"quotes\" and 한글", "i": json.Number("-7"), "i64": json.Number("9223372036854775807"),
				"u64": json.Number("18446744073709551615"), "f": json.Number("2.0"), "f_small": json.Number("1e-09"),
				"f32": json.Number("0.25"), "nan": "NaN", "inf": "+Inf", "b": false, "d": "12.5ms",
				"t": "2026-11-23T04:00:00.123456789Z", "c": "(1+2i)", "bin": map[string]any{"$bytes": "AAEC/w=="},
				"bs": "bytes", "str": "stringer!",
				"obj":         map[string]any{"name": "kim", "age": json.Number("30")},
				"arr":         []any{json.Number("1"), json.Number("2"), json.Number("3")},
				"strs":        []any{"a", "b"},
				"map":         map[string]any{"f": json.Number("1.5"), "n": json.Number("1"), "nested": map[string]any{"deep": true}},
				"struct":      map[string]any{"a": json.Number("1"), "b": json.Number("2.0")},
				"http_status": json.Number("503"),
				"ns":          map[string]any{"inside": "yes"},
			}, e.Attributes)
			// Types survive verbatim: the float keeps its fraction, the int has none.
			assert.Contains(t, string(raw), `"f":2.0`)
			assert.Contains(t, string(raw), `"http_status":503`)
		})
	}
}

func TestSlogRoundTrips(t *testing.T) {
	srv := newServer(t, "")
	srv.start()
	c := newClient(t, srv, "slog-rt", nil)
	logger := slog.New(sawmillslog.New(c, &sawmillslog.Options{AddSource: true}))
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	logger.WithGroup("http").With("method", "GET").WarnContext(ctx, "slow request",
		"status", 200, "duration", 1.5, "err", errors.New("timeout"))
	flushCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Flush(flushCtx))
	srv.waitCount("slog-rt", 1, 20*time.Second)
	logs, _ := srv.logs("slog-rt")
	require.Len(t, logs, 1)
	e := logs[0]
	assert.Equal(t, 13, e.SeverityNumber)
	assert.Equal(t, "WARN", e.SeverityText)
	assert.Equal(t, sc.TraceID().String(), e.TraceID)
	assert.Equal(t, sc.SpanID().String(), e.SpanID)
	assert.Contains(t, e.Source.Function, "TestSlogRoundTrips")
	assert.Equal(t, map[string]any{"http": map[string]any{"method": "GET", "status": json.Number("200"),
		"duration": json.Number("1.5"), "err": "timeout"}}, e.Attributes)
}

// TestOversizedValuesAreCutNotRejected sends values beyond every limit:
// the server must accept them, cut with the marker.
func TestOversizedValuesAreCutNotRejected(t *testing.T) {
	srv := newServer(t, "")
	srv.start()
	var mu sync.Mutex
	var errs []error
	c := newClient(t, srv, "oversized", func(c *sawmill.Config) {
		c.OnError = func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	})
	logger := zap.New(sawmillzap.NewCore(c, zapcore.InfoLevel))
	big := strings.Repeat("가", 40_000) // 120 KB
	fields := []zap.Field{zap.String("big", big), zap.Binary("blob", make([]byte, 70_000)), zap.String("bad_utf8", "a\xffb")}
	for i := range 200 {
		fields = append(fields, zap.Int(fmt.Sprintf("k%03d", i), i))
	}
	logger.Info(big+"\xfe", fields...)
	logger.With(zap.String("level", strings.Repeat("x", 100))).Named(strings.Repeat("n", 400)).Info("long names")
	require.NoError(t, logger.Sync())
	srv.waitCount("oversized", 2, 20*time.Second)
	logs, _ := srv.logs("oversized")
	require.Len(t, logs, 2)
	e := logs[0]
	assert.True(t, strings.HasSuffix(e.Body, sawmill.TruncationMarker))
	assert.LessOrEqual(t, len(e.Body), sawmill.MaxBodyBytes)
	assert.True(t, strings.HasSuffix(e.Attributes["big"].(string), sawmill.TruncationMarker))
	assert.Equal(t, sawmill.TruncationMarker, e.Attributes[sawmill.TruncatedKey])
	assert.LessOrEqual(t, len(e.Attributes), sawmill.MaxAttributesKeys)
	assert.True(t, strings.HasSuffix(logs[1].Logger, sawmill.TruncationMarker))
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, errs, "nothing was rejected")
	assert.Zero(t, c.Stats().Rejected)
}

// logLoop logs n numbered records through zap, pausing every 100, and
// records how many were handed over.
func logLoop(logger *zap.Logger, from, n int, handed *atomic.Int64) {
	for i := from; i < from+n; i++ {
		logger.Info(fmt.Sprintf("record %06d", i), zap.Int("seq", i), zap.String("http_method", "GET"))
		handed.Add(1)
		if i%100 == 99 {
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// distinctBodies fails on a duplicate and returns the stored bodies.
func distinctBodies(t *testing.T, logs []entry) map[string]bool {
	t.Helper()
	seen := make(map[string]bool, len(logs))
	for _, e := range logs {
		require.False(t, seen[e.Body], "stored twice: %s", e.Body)
		seen[e.Body] = true
	}
	return seen
}

// TestServerDownAtStartKilledAndRestarted: the client starts before the
// server, the server is killed (SIGKILL) mid-stream and restarted on the
// same data dir and ports; every record is stored exactly once.
func TestServerDownAtStartKilledAndRestarted(t *testing.T) {
	for _, tr := range []sawmill.Transport{sawmill.TransportUnary, sawmill.TransportStream} {
		t.Run(tr.String(), func(t *testing.T) {
			srv := newServer(t, "")
			service := fmt.Sprintf("restart-%d", tr)
			c := newClient(t, srv, service, func(c *sawmill.Config) { c.Transport = tr; c.MaxBatchRecords = 200 })
			logger := zap.New(sawmillzap.NewCore(c, zapcore.InfoLevel))
			var handed atomic.Int64

			logLoop(logger, 0, 1000, &handed) // server down: buffered
			time.Sleep(200 * time.Millisecond)
			require.Positive(t, c.Stats().Retries, "pushes to a server that is down are retried")
			srv.start()

			done := make(chan struct{})
			go func() {
				defer close(done)
				logLoop(logger, 1000, 6000, &handed)
			}()
			// Kill it while records flow.
			for handed.Load() < 3000 {
				time.Sleep(5 * time.Millisecond)
			}
			srv.kill()
			time.Sleep(300 * time.Millisecond)
			srv.start()
			<-done
			closeClient(t, c, 60*time.Second)

			st := c.Stats()
			require.EqualValues(t, 7000, st.Enqueued)
			require.Zero(t, st.DroppedFull+st.Rejected+st.Lost+st.Evicted)
			require.EqualValues(t, 7000, st.Acked+st.Duplicates)
			srv.waitCount(service, 7000, 60*time.Second)
			logs, _ := srv.logs(service)
			require.Len(t, logs, 7000)
			require.Len(t, distinctBodies(t, logs), 7000)
			t.Logf("retries %d, batches %d, duplicates answered %d", st.Retries, st.Batches, st.Duplicates)
		})
	}
}

// TestBufferFullPoliciesWithHungServer freezes the server (SIGSTOP) so the
// client's buffer fills, then checks each policy's promise.
func TestBufferFullPoliciesWithHungServer(t *testing.T) {
	for _, p := range []sawmill.FullPolicy{sawmill.DropNewest, sawmill.DropOldest, sawmill.Block} {
		t.Run(p.String(), func(t *testing.T) {
			srv := newServer(t, "")
			srv.start()
			service := "policy-" + p.String()
			c := newClient(t, srv, service, func(c *sawmill.Config) {
				c.MaxBatchBytes = 16 << 10
				c.BufferBytes = 64 << 10
				c.MaxInFlight = 1
				c.FullPolicy = p
				c.BlockTimeout = 20 * time.Millisecond
				c.RequestTimeout = 30 * time.Second
			})
			srv.pause()
			pad := strings.Repeat("p", 200)
			refused := 0
			var slowest time.Duration
			for i := range 2000 {
				start := time.Now()
				err := c.Log(&sawmill.Record{Time: time.Now(), Severity: sawmill.SeverityInfo, Body: fmt.Sprintf("r%05d %s", i, pad)})
				slowest = max(slowest, time.Since(start))
				if err != nil {
					require.ErrorIs(t, err, sawmill.ErrDropped)
					refused++
					if refused >= 20 {
						break // enough to see the policy; Block would wait 20ms per call
					}
				}
			}
			srv.resume()
			closeClient(t, c, 30*time.Second)
			st := c.Stats()
			switch p {
			case sawmill.DropNewest, sawmill.Block:
				assert.Positive(t, refused)
				assert.EqualValues(t, refused, st.DroppedFull)
				assert.Zero(t, st.Evicted)
			case sawmill.DropOldest:
				assert.Positive(t, st.Evicted)
			}
			if p == sawmill.Block {
				assert.GreaterOrEqual(t, slowest, 20*time.Millisecond, "a call waited for room before dropping")
			}
			want := int(st.Enqueued - st.Evicted)
			srv.waitCount(service, want, 30*time.Second)
			logs, _ := srv.logs(service)
			bodies := distinctBodies(t, logs)
			last := fmt.Sprintf("r%05d %s", st.Enqueued+uint64(refused)-1, pad)
			first := fmt.Sprintf("r%05d %s", 0, pad)
			if p == sawmill.DropOldest {
				assert.True(t, bodies[last], "DropOldest keeps the newest record")
			} else {
				assert.True(t, bodies[first], "%s keeps the oldest record", p)
				assert.False(t, bodies[last], "%s dropped the newest record", p)
			}
			t.Logf("%s: enqueued %d, refused %d, evicted %d, stored %d, slowest call %v", p, st.Enqueued, refused, st.Evicted, want, slowest)
		})
	}
}

// TestCloseWithDeadServerReturnsWithinContext kills the server with
// records pending; Close must give up when its context ends.
func TestCloseWithDeadServerReturnsWithinContext(t *testing.T) {
	srv := newServer(t, "")
	srv.start()
	c := newClient(t, srv, "dead", nil)
	logger := zap.New(sawmillzap.NewCore(c, zapcore.InfoLevel))
	logger.Info("before")
	require.NoError(t, logger.Sync())
	srv.kill()
	for i := range 100 {
		logger.Info("after", zap.Int("i", i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Close(ctx)
	elapsed := time.Since(start)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, elapsed, 2*time.Second)
	st := c.Stats()
	assert.EqualValues(t, 100, st.Lost)
	assert.EqualValues(t, 1, st.Acked)
}

func TestTokenAndGzip(t *testing.T) {
	srv := newServer(t, "t0ken")
	srv.start()
	var mu sync.Mutex
	var errs []string
	c := newClient(t, srv, "auth-gzip", func(c *sawmill.Config) {
		c.Compression = sawmill.Gzip
		c.OnError = func(err error) { mu.Lock(); errs = append(errs, err.Error()); mu.Unlock() }
	})
	logger := zap.New(sawmillzap.NewCore(c, zapcore.InfoLevel))
	for i := range 500 {
		logger.Info("compressed", zap.Int("i", i))
	}
	require.NoError(t, logger.Sync())
	srv.waitCount("auth-gzip", 500, 20*time.Second)
	mu.Lock()
	t.Logf("OnError: %v", errs)
	mu.Unlock()

	bad := newClient(t, srv, "auth-bad", func(c *sawmill.Config) { c.Token = "wrong" })
	require.NoError(t, bad.Log(&sawmill.Record{Body: "x"}))
	closeClient(t, bad, 10*time.Second)
	assert.EqualValues(t, 1, bad.Stats().Rejected, "Unauthenticated drops the batch instead of retrying forever")
}

// TestGracefulServerRestart stops the server with SIGTERM while records
// flow and starts it again: every record is stored exactly once.
func TestGracefulServerRestart(t *testing.T) {
	srv := newServer(t, "")
	srv.start()
	c := newClient(t, srv, "graceful", func(c *sawmill.Config) { c.MaxBatchRecords = 100 })
	logger := zap.New(sawmillzap.NewCore(c, zapcore.InfoLevel))
	var handed atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		logLoop(logger, 0, 3000, &handed)
	}()
	for handed.Load() < 1000 {
		time.Sleep(5 * time.Millisecond)
	}
	srv.stop()
	srv.start()
	<-done
	closeClient(t, c, 60*time.Second)
	srv.waitCount("graceful", 3000, 60*time.Second)
	logs, _ := srv.logs("graceful")
	require.Len(t, distinctBodies(t, logs), 3000)
}
