package sawmillslog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"testing/slogtest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/sdk"
	"github.com/sawmill-dev/sawmill/sdk/sawmillslog"
	"github.com/sawmill-dev/sawmill/sdk/sawmilltest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newClient(t *testing.T, srv *sawmilltest.Server) *sawmill.Client {
	t.Helper()
	c, err := sawmill.New(context.Background(), sawmill.Config{
		Endpoint: srv.Addr(), Resource: sawmill.Resource{Service: "slog-test"}, FlushInterval: 20 * time.Millisecond,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

func flush(t *testing.T, c *sawmill.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.Flush(ctx))
}

func attrs(t *testing.T, r *sawmillv1.LogRecord) map[string]any {
	t.Helper()
	if len(r.GetAttributesJson()) == 0 {
		return map[string]any{}
	}
	dec := json.NewDecoder(bytes.NewReader(r.GetAttributesJson()))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m), "%s", r.GetAttributesJson())
	return m
}

// TestSlogtest runs the standard library's handler conformance suite.
func TestSlogtest(t *testing.T) {
	srv := sawmilltest.New(t)
	c := newClient(t, srv)
	h := sawmillslog.New(c, &sawmillslog.Options{Level: slog.LevelDebug})
	results := func() []map[string]any {
		flush(t, c)
		var out []map[string]any
		for _, r := range srv.Records() {
			m := attrs(t, r)
			m[slog.MessageKey] = r.GetBody()
			m[slog.LevelKey] = r.GetSeverityText()
			if r.GetTimeUnixNano() != 0 {
				m[slog.TimeKey] = time.Unix(0, int64(r.GetTimeUnixNano()))
			}
			out = append(out, m)
		}
		return out
	}
	require.NoError(t, slogtest.TestHandler(h, results))
}

type valuer struct{}

func (valuer) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("id", 7), slog.String("name", "kim"))
}

type panicValuer struct{}

func (panicValuer) LogValue() slog.Value { panic("valuer bug") }

func TestMapping(t *testing.T) {
	srv := sawmilltest.New(t)
	c := newClient(t, srv)
	logger := slog.New(sawmillslog.New(c, &sawmillslog.Options{AddSource: true}))
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9, 9}, SpanID: trace.SpanID{8, 8}})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	logger.With("svc", "orders").WithGroup("req").With("id", 42).
		ErrorContext(ctx, "failed",
			"f", 2.0, "u", uint64(5), "b", true, "d", 250*time.Millisecond, "t", ts,
			"user", valuer{}, "bad", panicValuer{}, "m", map[string]int{"x": 1},
			"err", errors.New("boom"), slog.Group("g", "in", "side"), slog.Group("empty"))
	logger.Debug("disabled")
	logger.Warn("top error", "cause", fmt.Errorf("wrapped: %w", errors.New("x")), "trace_id", "0102030405060708090a0b0c0d0e0f10")
	logger.Log(context.Background(), slog.LevelInfo+2, "info2")
	flush(t, c)

	recs := srv.Records()
	require.Len(t, recs, 3)
	r := recs[0]
	assert.Equal(t, "failed", r.GetBody())
	assert.Equal(t, sawmillv1.SeverityNumber_SEVERITY_NUMBER_ERROR, r.GetSeverityNumber())
	assert.Equal(t, "ERROR", r.GetSeverityText())
	assert.Equal(t, sc.TraceID().String(), fmt.Sprintf("%x", r.GetTraceId()))
	assert.Equal(t, sc.SpanID().String(), fmt.Sprintf("%x", r.GetSpanId()))
	assert.Contains(t, r.GetSource().GetFile(), "handler_test.go")
	assert.Contains(t, r.GetSource().GetFunction(), "TestMapping")
	assert.Contains(t, string(r.GetAttributesJson()), `"f":2.0`)
	got := attrs(t, r)
	req := got["req"].(map[string]any)
	assert.Contains(t, req["bad"], "LogValue panicked", "slog's own recovery text is kept")
	delete(req, "bad")
	assert.Equal(t, map[string]any{
		"svc": "orders",
		"req": map[string]any{
			"id": json.Number("42"), "f": json.Number("2.0"), "u": json.Number("5"), "b": true, "d": "250ms",
			"t": "2026-01-02T03:04:05.000000006Z", "user": map[string]any{"id": json.Number("7"), "name": "kim"},
			"m":   map[string]any{"x": json.Number("1")},
			"err": "boom", "g": map[string]any{"in": "side"},
		},
	}, got, "an error inside a group stays an attribute")

	r = recs[1]
	assert.Equal(t, "*fmt.wrapError", r.GetError().GetType())
	assert.Equal(t, "wrapped: x", r.GetError().GetMessage())
	assert.Equal(t, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, r.GetTraceId())
	assert.Equal(t, map[string]any{"cause": "wrapped: x"}, attrs(t, r))

	r = recs[2]
	assert.Equal(t, sawmillv1.SeverityNumber_SEVERITY_NUMBER_INFO3, r.GetSeverityNumber())
	assert.Equal(t, "INFO+2", r.GetSeverityText())
}

// TestHandlerOneBadValueNeverCostsTheBatch: see the zap core's test of
// the same name.
func TestHandlerOneBadValueNeverCostsTheBatch(t *testing.T) {
	srv := sawmilltest.New(t)
	c := newClient(t, srv)
	logger := slog.New(sawmillslog.New(c, nil))
	logger.Info("before")
	logger.Info("body a\x00b", slog.String("k", "a\x00b"), slog.String("key\x00", "v"),
		slog.Group("$g", slog.String("in", "\x00")), slog.Any("m", map[string]any{"$bytes": "x"}))
	logger.With(slog.String("$w", "\x00")).WithGroup("g\x00").Info("with")
	logger.Info("after")
	flush(t, c)
	require.Equal(t, 4, srv.Count(), "no record costs its batch")
	assert.Zero(t, c.Stats().Rejected)
	recs := srv.Records()
	assert.Equal(t, "body a\x00b", recs[1].GetBody())
	assert.Equal(t, map[string]any{"k": "a\x00b", "key\x00": "v", "_$g": map[string]any{"in": "\x00"},
		"m": map[string]any{"_$bytes": "x"}}, attrs(t, recs[1]))
	assert.Equal(t, map[string]any{"_$w": "\x00"}, attrs(t, recs[2]))
}
