package sawmillzap_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/sdk"
	"github.com/sawmill-dev/sawmill/sdk/sawmilltest"
	"github.com/sawmill-dev/sawmill/sdk/sawmillzap"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newClient(t *testing.T, srv *sawmilltest.Server) *sawmill.Client {
	t.Helper()
	c, err := sawmill.New(context.Background(), sawmill.Config{
		Endpoint: srv.Addr(), Resource: sawmill.Resource{Service: "zap-test"},
		FlushInterval: 20 * time.Millisecond,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

func attrs(t *testing.T, r *sawmillv1.LogRecord) map[string]any {
	t.Helper()
	if len(r.GetAttributesJson()) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(r.GetAttributesJson()))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m), "%s", r.GetAttributesJson())
	return m
}

type user struct {
	Name string
	Age  int
}

func (u user) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("name", u.Name)
	enc.AddInt("age", u.Age)
	enc.OpenNamespace("inner") // closed with the object
	enc.AddBool("ok", true)
	return nil
}

type inlined struct{}

func (inlined) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("name", "inline")
	enc.AddInt("age", 1)
	return nil
}

type ints []int

func (s ints) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, v := range s {
		enc.AppendInt(v)
	}
	return enc.AppendObject(user{Name: "in-array"})
}

type stringer struct{}

func (stringer) String() string { return "i am a stringer" }

type panicMarshaler struct{}

func (panicMarshaler) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("before", "x")
	enc.OpenNamespace("deep")
	panic("marshaler bug")
}

type failMarshaler struct{}

func (failMarshaler) MarshalLogObject(zapcore.ObjectEncoder) error {
	return errors.New("cannot marshal")
}

type verboseErr struct{ msg string }

func (e *verboseErr) Error() string { return e.msg }
func (e *verboseErr) Format(s fmt.State, verb rune) {
	if verb == 'v' && s.Flag('+') {
		_, _ = io.WriteString(s, e.msg+"\nstack:\n\tmain.go:12")
		return
	}
	_, _ = io.WriteString(s, e.msg)
}

func TestEveryFieldType(t *testing.T) {
	srv := sawmilltest.New(t)
	c := newClient(t, srv)
	logger := zap.New(sawmillzap.NewCore(c, zapcore.DebugLevel), zap.AddCaller())
	ts := time.Date(2026, 11, 23, 4, 0, 0, 123456789, time.UTC)
	logger.Warn("every type",
		zap.String("s", "text"), zap.Int("i", -7), zap.Int64("i64", math.MaxInt64), zap.Int8("i8", -8),
		zap.Uint("u", 7), zap.Uint64("u64", math.MaxUint64), zap.Uintptr("ptr", 0xff),
		zap.Float64("f", 2), zap.Float32("f32", 0.25), zap.Float64("nan", math.NaN()), zap.Float64("inf", math.Inf(-1)),
		zap.Bool("b", true), zap.Duration("d", 1500*time.Millisecond), zap.Time("t", ts),
		zap.Complex128("c", complex(1, -2)), zap.Binary("bin", []byte{0xde, 0xad}), zap.ByteString("bs", []byte("bytes")),
		zap.Stringer("str", stringer{}), zap.Object("obj", user{Name: "kim", Age: 30}), zap.Array("arr", ints{1, 2}),
		zap.Ints("ints", []int{3, 4}), zap.Strings("strs", []string{"a", "b"}), zap.Any("map", map[string]any{"k": 1, "f": 1.0}),
		zap.Any("struct", user{Name: "lee"}), zap.Any("plain", struct {
			Name string
			Age  int
		}{"park", 3}), zap.Reflect("refl", struct{ X []float64 }{[]float64{1, 2.5}}),
		zap.Inline(inlined{}),
		zap.Object("bad", panicMarshaler{}), zap.Object("fail", failMarshaler{}),
		zap.Namespace("ns"), zap.String("in_ns", "yes"),
	)
	require.NoError(t, logger.Sync())
	recs := srv.Records()
	require.Len(t, recs, 1)
	r := recs[0]
	assert.Equal(t, "every type", r.GetBody())
	assert.Equal(t, sawmillv1.SeverityNumber_SEVERITY_NUMBER_WARN, r.GetSeverityNumber())
	assert.Equal(t, "warn", r.GetSeverityText())
	assert.Contains(t, r.GetSource().GetFile(), "core_test.go")
	assert.Positive(t, r.GetSource().GetLine())
	assert.Contains(t, r.GetSource().GetFunction(), "TestEveryFieldType")
	doc := string(r.GetAttributesJson())
	assert.Contains(t, doc, `"f":2.0`)
	assert.Contains(t, doc, `"f32":0.25`)
	assert.Contains(t, doc, `"i64":9223372036854775807`)
	m := attrs(t, r)
	want := map[string]any{
		"s": "text", "i": json.Number("-7"), "i64": json.Number("9223372036854775807"), "i8": json.Number("-8"),
		"u": json.Number("7"), "u64": json.Number("18446744073709551615"), "ptr": json.Number("255"),
		"f": json.Number("2.0"), "f32": json.Number("0.25"), "nan": "NaN", "inf": "-Inf",
		"b": true, "d": "1.5s", "t": "2026-11-23T04:00:00.123456789Z", "c": "(1-2i)",
		"bin": map[string]any{"$bytes": "3q0="}, "bs": "bytes", "str": "i am a stringer",
		"obj":    map[string]any{"name": "kim", "age": json.Number("30"), "inner": map[string]any{"ok": true}},
		"arr":    []any{json.Number("1"), json.Number("2"), map[string]any{"name": "in-array", "age": json.Number("0"), "inner": map[string]any{"ok": true}}},
		"ints":   []any{json.Number("3"), json.Number("4")},
		"strs":   []any{"a", "b"},
		"map":    map[string]any{"k": json.Number("1"), "f": json.Number("1.0")},
		"struct": map[string]any{"name": "lee", "age": json.Number("0"), "inner": map[string]any{"ok": true}},
		"plain":  map[string]any{"Name": "park", "Age": json.Number("3")},
		"refl":   map[string]any{"X": []any{json.Number("1.0"), json.Number("2.5")}},
		"name":   "inline", "age": json.Number("1"),
		"bad":       map[string]any{"before": "x", "deep": map[string]any{}},
		"badError":  "PANIC=marshaler bug",
		"fail":      map[string]any{},
		"failError": "cannot marshal",
		"ns":        map[string]any{"in_ns": "yes"},
	}
	assert.Equal(t, want, m)
}

func TestErrorsTraceAndWith(t *testing.T) {
	srv := sawmilltest.New(t)
	c := newClient(t, srv)
	logger := zap.New(sawmillzap.NewCore(c, zapcore.InfoLevel)).Named("orders")
	child := logger.With(zap.String("request_id", "r1"), zap.Namespace("req"), zap.String("trace_id", "0102030405060708090a0b0c0d0e0f10"))
	child.Error("failed", zap.Error(&verboseErr{"db down"}), zap.NamedError("cleanup", errors.New("second")),
		zap.String("span_id", "0102030405060708"), zap.Int("attempt", 2))
	logger.Info("plain", zap.String("trace_id", "not-hex"), zap.Error(errors.Join(errors.New("a"), errors.New("b"))))
	logger.Debug("disabled")

	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0xaa, 1}, SpanID: trace.SpanID{0xbb, 2}, TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	logger.Info("with span", sawmillzap.Context(ctx), sawmillzap.Context(context.Background()))
	require.NoError(t, logger.Sync())

	recs := srv.Records()
	require.Len(t, recs, 3)
	r := recs[0]
	assert.Equal(t, "orders", r.GetLogger())
	assert.Equal(t, "*sawmillzap_test.verboseErr", r.GetError().GetType())
	assert.Equal(t, "db down", r.GetError().GetMessage())
	assert.Equal(t, "db down\nstack:\n\tmain.go:12", r.GetError().GetStack())
	assert.Equal(t, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, r.GetTraceId())
	assert.Equal(t, []byte{1, 2, 3, 4, 5, 6, 7, 8}, r.GetSpanId())
	assert.Equal(t, map[string]any{
		"request_id": "r1",
		"req":        map[string]any{"cleanup": "second", "attempt": json.Number("2")},
	}, attrs(t, r), "With keeps its fields and namespace; the second error stays an attribute")

	r = recs[1]
	assert.Empty(t, r.GetTraceId(), "an invalid trace id stays an attribute")
	assert.Equal(t, map[string]any{"trace_id": "not-hex", "errorCauses": []any{"a", "b"}}, attrs(t, r))
	assert.Equal(t, "a\nb", r.GetError().GetMessage())
	assert.Equal(t, "*errors.joinError", r.GetError().GetType())

	r = recs[2]
	assert.Equal(t, sc.TraceID().String(), fmt.Sprintf("%x", r.GetTraceId()))
	assert.Equal(t, sc.SpanID().String(), fmt.Sprintf("%x", r.GetSpanId()))
	assert.Nil(t, attrs(t, r))
}

func TestContextFieldInOtherCores(t *testing.T) {
	var buf bytes.Buffer
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	logger := zap.New(zapcore.NewCore(enc, zapcore.AddSync(&buf), zapcore.InfoLevel))
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}})
	logger.Info("x", sawmillzap.Context(trace.ContextWithSpanContext(context.Background(), sc)))
	assert.Contains(t, buf.String(), `"trace_id":"`+sc.TraceID().String()+`","span_id":"`+sc.SpanID().String()+`"`)
}

func TestStackTrace(t *testing.T) {
	srv := sawmilltest.New(t)
	c := newClient(t, srv)
	logger := zap.New(sawmillzap.NewCore(c, zapcore.InfoLevel), zap.AddStacktrace(zapcore.ErrorLevel))
	logger.Error("no error field")
	logger.Error("with verbose error", zap.Error(&verboseErr{"x"}))
	require.NoError(t, logger.Sync())
	recs := srv.Records()
	require.Len(t, recs, 2)
	assert.Contains(t, recs[0].GetError().GetStack(), "TestStackTrace", "the entry's stack fills the error stack")
	assert.Empty(t, recs[0].GetError().GetMessage())
	assert.Equal(t, "x\nstack:\n\tmain.go:12", recs[1].GetError().GetStack())
	assert.Contains(t, attrs(t, recs[1])["stacktrace"], "TestStackTrace", "the entry's stack is kept as an attribute")
}

func TestLevelsMapToSeverity(t *testing.T) {
	srv := sawmilltest.New(t)
	c := newClient(t, srv)
	hook := &fatalHook{}
	logger := zap.New(sawmillzap.NewCore(c, zapcore.DebugLevel), zap.WithFatalHook(hook), zap.Development())
	logger.Debug("d")
	logger.Info("i")
	logger.Warn("w")
	logger.Error("e")
	assert.Panics(t, func() { logger.DPanic("dp") })
	require.Equal(t, 5, srv.Count(), "a DPanic entry is flushed before zap panics")
	assert.Panics(t, func() { logger.Panic("p") })
	require.Equal(t, 6, srv.Count(), "a Panic entry is flushed before zap panics")
	logger.Fatal("f")
	require.True(t, hook.called)
	require.Equal(t, 7, srv.Count(), "a Fatal entry is flushed before zap exits")
	var got []string
	for _, r := range srv.Records() {
		got = append(got, fmt.Sprintf("%s=%d", r.GetSeverityText(), r.GetSeverityNumber()))
	}
	assert.Equal(t, []string{"debug=5", "info=9", "warn=13", "error=17", "dpanic=21", "panic=21", "fatal=21"}, got)
}

type fatalHook struct{ called bool }

func (h *fatalHook) OnWrite(*zapcore.CheckedEntry, []zapcore.Field) { h.called = true }

func TestLevelEnablerAndTee(t *testing.T) {
	srv := sawmilltest.New(t)
	c := newClient(t, srv)
	var console bytes.Buffer
	core := zapcore.NewTee(
		zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(&console), zapcore.DebugLevel),
		sawmillzap.NewCore(c, zapcore.WarnLevel),
	)
	logger := zap.New(core)
	logger.Info("console only")
	logger.Warn("both")
	require.NoError(t, logger.Sync())
	assert.Equal(t, 1, srv.Count())
	assert.Contains(t, console.String(), "console only")
	assert.Equal(t, zapcore.WarnLevel, zapcore.LevelOf(sawmillzap.NewCore(c, zapcore.WarnLevel)))
}

func TestSyncTimesOutWhenServerHangs(t *testing.T) {
	srv := sawmilltest.New(t)
	srv.Hold()
	c := newClient(t, srv)
	logger := zap.New(sawmillzap.NewCore(c, zapcore.InfoLevel, sawmillzap.WithSyncTimeout(100*time.Millisecond)))
	logger.Info("stuck")
	err := logger.Sync()
	require.ErrorIs(t, err, context.DeadlineExceeded, "Sync reports that it could not flush")
	srv.Release()
	require.NoError(t, logger.Sync())
	assert.Equal(t, 1, srv.Count())
}

func TestConcurrentWriteSyncWith(t *testing.T) {
	srv := sawmilltest.New(t)
	c := newClient(t, srv)
	logger := zap.New(sawmillzap.NewCore(c, zapcore.InfoLevel))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := logger.With(zap.Int("g", g))
			for i := range 500 {
				l.Info("msg", zap.Int("i", i), zap.String("s", strings.Repeat("x", i%50)))
				if i%100 == 0 {
					assert.NoError(t, l.Sync())
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, logger.Sync())
	assert.Equal(t, 2000, srv.Count())
}

// TestCoreOneBadValueNeverCostsTheBatch: NUL characters and keys that
// log.proto reserves ("$...") in one record's fields used to get the whole
// batch rejected; now every record is stored with its NUL (the escape
// \u0000 in attributes) and "$" keys prefixed with "_".
func TestCoreOneBadValueNeverCostsTheBatch(t *testing.T) {
	srv := sawmilltest.New(t)
	c := newClient(t, srv)
	logger := zap.New(sawmillzap.NewCore(c, zapcore.DebugLevel))
	for i := range 5 {
		logger.Info(fmt.Sprintf("plain %d", i), zap.Int("i", i))
	}
	logger.Info("body a\x00b",
		zap.String("k", "a\x00b"),
		zap.String("key\x00", "v"),
		zap.ByteString("bs", []byte("x\x00y")),
		zap.Strings("list", []string{"\x00"}),
		zap.Any("m", map[string]any{"$bytes": "not base64", "$x": 1}),
		zap.Namespace("$ns"), zap.String("in", "\x00"),
	)
	logger.Error("failed", zap.Error(errors.New("e\x00rr")))
	for i := range 5 {
		logger.Info(fmt.Sprintf("plain %d", i+5), zap.Int("i", i+5))
	}
	require.NoError(t, logger.Sync())
	assert.Equal(t, 12, srv.Count(), "no record costs its batch")
	assert.Zero(t, c.Stats().Rejected)

	var nul, failed *sawmillv1.LogRecord
	for _, r := range srv.Records() {
		switch r.GetBody() {
		case "body a\x00b":
			nul = r
		case "failed":
			failed = r
		}
	}
	require.NotNil(t, nul, "the body keeps its NUL")
	m := attrs(t, nul)
	assert.Equal(t, "a\x00b", m["k"])
	assert.Equal(t, "v", m["key\x00"])
	assert.Equal(t, "x\x00y", m["bs"])
	assert.Equal(t, []any{"\x00"}, m["list"])
	assert.Equal(t, map[string]any{"_$bytes": "not base64", "_$x": json.Number("1")}, m["m"])
	assert.Equal(t, map[string]any{"in": "\x00"}, m["_$ns"])
	require.NotNil(t, failed)
	assert.Equal(t, "e\x00rr", failed.GetError().GetMessage())
}
