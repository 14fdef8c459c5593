package sawmill

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/sdk/sawmilltest"
)

// decodeRecord parses what appendRecord wrote (a LogBatch.records field).
func decodeRecord(t *testing.T, b []byte) *sawmillv1.LogRecord {
	t.Helper()
	num, typ, n := protowire.ConsumeTag(b)
	require.Equal(t, protowire.Number(fBatchRecords), num)
	require.Equal(t, protowire.BytesType, typ)
	v, m := protowire.ConsumeBytes(b[n:])
	require.Equal(t, len(b), n+m, "record length prefix matches")
	var rec sawmillv1.LogRecord
	require.NoError(t, proto.Unmarshal(v, &rec))
	return &rec
}

func TestAppendRecordRoundTrips(t *testing.T) {
	now := time.Now()
	var a Attrs
	a.Key("k")
	a.Int(1)
	r := &Record{
		Time: now.Add(-time.Second), Severity: SeverityWarn, SeverityText: "warn", Body: "hello",
		Attrs: &a, Logger: "svc.http",
		TraceID: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:  [8]byte{1, 2, 3, 4, 5, 6, 7, 8},
		Source:  Source{File: "main.go", Line: 42, Function: "main.main"},
		Error:   ErrorInfo{Type: "*errors.errorString", Message: "bad", Stack: "stack"},
	}
	rec := decodeRecord(t, appendRecord(nil, r, a.Bytes(), now))
	want := &sawmillv1.LogRecord{
		TimeUnixNano: uint64(now.Add(-time.Second).UnixNano()), ObservedTimeUnixNano: uint64(now.UnixNano()),
		SeverityNumber: sawmillv1.SeverityNumber_SEVERITY_NUMBER_WARN, SeverityText: "warn", Body: "hello",
		AttributesJson: []byte(`{"k":1}`), TraceId: r.TraceID[:], SpanId: r.SpanID[:], Logger: "svc.http",
		Source: &sawmillv1.SourceLocation{File: "main.go", Line: 42, Function: "main.main"},
		Error:  &sawmillv1.ErrorInfo{Type: "*errors.errorString", Message: "bad", Stack: "stack"},
	}
	assert.True(t, proto.Equal(want, rec), "got %v", rec)
}

func TestAppendRecordMinimal(t *testing.T) {
	now := time.Now()
	rec := decodeRecord(t, appendRecord(nil, &Record{}, nil, now))
	assert.True(t, proto.Equal(&sawmillv1.LogRecord{ObservedTimeUnixNano: uint64(now.UnixNano())}, rec), "got %v", rec)
}

func TestAppendRecordSanitizes(t *testing.T) {
	now := time.Now()
	r := &Record{
		Time:         time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC),
		Severity:     99,
		SeverityText: strings.Repeat("L", 100),
		Body:         strings.Repeat("한", 30_000) + "\xff",
		Logger:       strings.Repeat("n", 1000),
		Source:       Source{Line: -5},
		Error:        ErrorInfo{Message: "bad \xff utf8"},
	}
	rec := decodeRecord(t, appendRecord(nil, r, nil, now))
	assert.Zero(t, rec.GetTimeUnixNano(), "time before 2000 is left to the server")
	assert.Zero(t, rec.GetSeverityNumber())
	assert.LessOrEqual(t, len(rec.GetSeverityText()), MaxSeverityTextBytes)
	assert.LessOrEqual(t, len(rec.GetBody()), MaxBodyBytes)
	assert.True(t, strings.HasSuffix(rec.GetBody(), TruncationMarker))
	assert.True(t, utf8.ValidString(rec.GetBody()))
	assert.True(t, strings.HasSuffix(rec.GetLogger(), TruncationMarker))
	assert.LessOrEqual(t, len(rec.GetLogger()), MaxLoggerBytes)
	assert.Equal(t, "bad \uFFFD utf8", rec.GetError().GetMessage())
	assert.Nil(t, rec.GetSource())

	future := decodeRecord(t, appendRecord(nil, &Record{Time: now.Add(48 * time.Hour)}, nil, now))
	assert.Zero(t, future.GetTimeUnixNano(), "time more than a day ahead is left to the server")

	// A batch of such records passes the server's rules.
	batch := &sawmillv1.LogBatch{BatchId: NewBatchID(), Resource: &sawmillv1.Resource{Service: "s"}, Records: []*sawmillv1.LogRecord{rec, future}}
	assert.Empty(t, sawmilltest.Validate(batch))
}

func TestBatchFrameDecodesAsPushRequest(t *testing.T) {
	res := encodeResource(Resource{Service: "orders", Instance: "orders-1", Environment: "prod", Version: "1.2.3",
		Attributes: map[string]any{"region": "kr", "cores": 2}})
	buf := make([]byte, framePrefix)
	buf, id := batchHeader(res)(buf)
	now := time.Now()
	for i := range 3 {
		buf = appendRecord(buf, &Record{Body: strings.Repeat("x", i*100)}, nil, now)
	}
	var req sawmillv1.PushRequest
	require.NoError(t, proto.Unmarshal(frame(buf), &req))
	b := req.GetBatch()
	assert.Equal(t, id, b.GetBatchId())
	assert.Len(t, id, 32)
	assert.Equal(t, "orders", b.GetResource().GetService())
	assert.Equal(t, "orders-1", b.GetResource().GetInstance())
	assert.Equal(t, "prod", b.GetResource().GetEnvironment())
	assert.Equal(t, "1.2.3", b.GetResource().GetVersion())
	assert.JSONEq(t, `{"cores":2,"region":"kr"}`, string(b.GetResource().GetAttributesJson()))
	require.Len(t, b.GetRecords(), 3)
	assert.Equal(t, strings.Repeat("x", 200), b.GetRecords()[2].GetBody())
	assert.Empty(t, sawmilltest.Validate(b))
	assert.NotEqual(t, NewBatchID(), NewBatchID())
}

// TestAppendRecordTimeRange checks the time rule on time.Time itself:
// UnixNano is undefined outside 1678-2262 and wrapped year 2600 to 2015
// and year 1430 to 2014, inside the accepted range.
func TestAppendRecordTimeRange(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name string
		t    time.Time
		want uint64 // 0: left to the server's observed time
	}{
		{"year 1430", time.Date(1430, 3, 1, 12, 0, 0, 0, time.UTC), 0},
		{"year 1677", time.Date(1677, 6, 1, 0, 0, 0, 0, time.UTC), 0},
		{"1999-12-31", time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC), 0},
		{"2000-01-01", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), uint64(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())},
		{"year 2262", time.Date(2262, 4, 12, 0, 0, 0, 0, time.UTC), 0},
		{"year 2600", time.Date(2600, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{"year 9999", time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), 0},
		{"now", now, uint64(now.UnixNano())},
		{"now+23h", now.Add(23 * time.Hour), uint64(now.Add(23 * time.Hour).UnixNano())},
		{"now+25h", now.Add(25 * time.Hour), 0},
		{"zero", time.Time{}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := decodeRecord(t, appendRecord(nil, &Record{Time: tc.t}, nil, now))
			assert.Equal(t, tc.want, rec.GetTimeUnixNano(), "sent %s", time.Unix(0, int64(rec.GetTimeUnixNano())).UTC())
			batch := &sawmillv1.LogBatch{BatchId: NewBatchID(), Resource: &sawmillv1.Resource{Service: "s"}, Records: []*sawmillv1.LogRecord{rec}}
			assert.Empty(t, sawmilltest.Validate(batch))
		})
	}
}

// TestAppendRecordObservedTimeFromBadClock: a clock that is not set (1970)
// or beyond what unix nanoseconds hold must not make the server reject the
// batch; the observed time is then left to the server too.
func TestAppendRecordObservedTimeFromBadClock(t *testing.T) {
	for _, now := range []time.Time{time.Unix(0, 0), time.Date(1999, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2600, 1, 1, 0, 0, 0, 0, time.UTC)} {
		rec := decodeRecord(t, appendRecord(nil, &Record{Time: now}, nil, now))
		assert.Zero(t, rec.GetObservedTimeUnixNano(), "clock at %s", now)
		assert.Zero(t, rec.GetTimeUnixNano(), "clock at %s", now)
	}
}

// FuzzRecord: whatever bytes a record's fields hold, the encoded batch
// passes log.proto's rules (sawmilltest.Validate, the server's rules).
func FuzzRecord(f *testing.F) {
	f.Add("body", "info", "logger", "file.go", "fn", "*T", "msg", "stack", int64(0), int32(9), 12)
	f.Add("a\x00b\xff", strings.Repeat("é", 20), "\xed\xa0\x80", "", "\x00", "", "\xc0", "", int64(-1)<<62, int32(-3), -7)
	f.Fuzz(func(t *testing.T, body, sevText, logger, file, fn, eType, eMsg, eStack string, unixSec int64, sev int32, line int) {
		now := time.Now()
		r := &Record{Time: time.Unix(unixSec, 0), Severity: Severity(sev), SeverityText: sevText, Body: body, Logger: logger,
			Source: Source{File: file, Line: line, Function: fn}, Error: ErrorInfo{Type: eType, Message: eMsg, Stack: eStack}}
		rec := decodeRecord(t, appendRecord(nil, r, nil, now))
		batch := &sawmillv1.LogBatch{BatchId: NewBatchID(), Resource: &sawmillv1.Resource{Service: "s"}, Records: []*sawmillv1.LogRecord{rec}}
		require.Empty(t, sawmilltest.Validate(batch))
		if utf8.ValidString(body) && len(body) <= MaxBodyBytes {
			require.Equal(t, body, rec.GetBody(), "a valid body is sent as it is, NUL included")
		}
	})
}
