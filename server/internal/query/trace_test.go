package query

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/live"
	"github.com/sawmill-dev/sawmill/server/internal/store"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres/pgtest"
	"github.com/sawmill-dev/sawmill/server/internal/store/sqlite"
)

const (
	traceA   = "0af7651916cd43dd8448eb211c80319c" // 3 services, 9 records
	traceBig = "5b8aa5a2d2c872e8321cf37308d69df2" // 1500 records of one service
	traceNo  = "11111111111111111111111111111111" // no record
)

// traceStart is the time of traceA's first record.
var traceStart = now.Add(-10 * time.Minute)

// traceRecord is one record of traceA: service, offset from traceStart in
// ms, severity, span (hex) and body.
type traceRecord struct {
	svc  string
	ms   int
	sev  int32
	span string
	body string
}

// traceARecords are written one batch per service, each in its own order,
// so that only the server's sort puts them in time order.
var traceARecords = []traceRecord{
	{"gateway", 0, 9, "a000000000000001", "GET /orders/42"},
	{"orders", 3, 9, "b000000000000001", "load order 42"},
	{"payments", 7, 5, "c000000000000001", "charge card <script>alert(1)</script>"},
	{"orders", 11, 13, "b000000000000001", "slow query"},
	{"payments", 15, 17, "c000000000000002", "card declined"},
	{"orders", 18, 17, "b000000000000001", "payment failed"},
	{"gateway", 21, 13, "a000000000000001", "502 from orders"},
	{"payments", 25, 9, "c000000000000002", "refund queued"},
	{"gateway", 40, 9, "a000000000000001", "request done"},
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// traceBatches builds traceA (one batch per service, records in reverse
// order), traceBig, and noise: records of no trace and of another trace in
// the same services at the same times.
func traceBatches() []*sawmillv1.LogBatch {
	var bs []*sawmillv1.LogBatch
	for _, svc := range []string{"payments", "orders", "gateway"} {
		b := &sawmillv1.LogBatch{BatchId: "trace-" + svc, Resource: &sawmillv1.Resource{Service: svc}}
		for i := len(traceARecords) - 1; i >= 0; i-- {
			r := traceARecords[i]
			if r.svc != svc {
				continue
			}
			ts := uint64(traceStart.Add(time.Duration(r.ms) * time.Millisecond).UnixNano())
			b.Records = append(b.Records, &sawmillv1.LogRecord{TimeUnixNano: ts, SeverityNumber: sawmillv1.SeverityNumber(r.sev), Body: r.body,
				TraceId: mustHex(traceA), SpanId: mustHex(r.span)})
			// Noise at the same instant: no trace, and another trace.
			b.Records = append(b.Records, &sawmillv1.LogRecord{TimeUnixNano: ts, SeverityNumber: 21, Body: "untraced"},
				&sawmillv1.LogRecord{TimeUnixNano: ts, SeverityNumber: 21, Body: "other trace", TraceId: mustHex(traceBig[:30] + "00")})
		}
		bs = append(bs, b)
	}
	big := &sawmillv1.LogBatch{BatchId: "big", Resource: &sawmillv1.Resource{Service: "batch"}}
	for i := 0; i < 1500; i++ {
		ts := uint64(now.Add(-time.Hour + time.Duration(i)*time.Millisecond).UnixNano())
		big.Records = append(big.Records, &sawmillv1.LogRecord{TimeUnixNano: ts, SeverityNumber: 9, Body: fmt.Sprintf("step %04d", i), TraceId: mustHex(traceBig)})
	}
	return append(bs, big)
}

// traceEngines opens each store engine with the trace data written.
func traceEngines(t *testing.T) map[string]store.Store {
	t.Helper()
	ctx := context.Background()
	lite, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "logs.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, lite.Close()) })
	pg, err := postgres.Open(ctx, pgtest.NewDatabase(t), postgres.Options{TimescaleDB: postgres.TimescaleOff})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, pg.Close()) })
	out := map[string]store.Store{"sqlite": lite, "postgres": pg}
	for name, s := range out {
		_, err := s.WriteBatches(ctx, traceBatches())
		require.NoError(t, err, name)
	}
	return out
}

func TestHTTPTrace(t *testing.T) {
	for engine, st := range traceEngines(t) {
		t.Run(engine, func(t *testing.T) {
			mux := http.NewServeMux()
			(&API{Store: st, Hub: live.New(live.Options{}), Now: func() time.Time { return now }}).Register(mux)
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)

			// Upper-case hex names the same trace.
			for _, id := range []string{traceA, strings.ToUpper(traceA)} {
				code, body := getJSON(t, srv, "/api/v1/traces/"+id, nil)
				require.Equal(t, http.StatusOK, code, body)
				assert.Equal(t, traceA, body["trace_id"])
				logs := body["logs"].([]any)
				require.Len(t, logs, len(traceARecords))
				for i, l := range logs {
					e := l.(map[string]any)
					want := traceARecords[i]
					assert.Equal(t, want.body, e["body"], "record %d in time order", i)
					assert.Equal(t, want.svc, e["service"], i)
					assert.Equal(t, want.span, e["span_id"], i)
					assert.Equal(t, traceA, e["trace_id"], i)
				}
				assert.Equal(t, false, body["truncated"])
				assert.Equal(t, float64(len(traceARecords)), body["total"])
				assert.Equal(t, fmt.Sprint(traceStart.UnixNano()), body["first_time_unix_nano"])
				assert.Equal(t, fmt.Sprint((40 * time.Millisecond).Nanoseconds()), body["duration_nanos"])
				assert.Equal(t, []any{
					map[string]any{"service": "gateway", "count": 3.0, "first_time": rfc3339(uint64(traceStart.UnixNano())),
						"last_time": rfc3339(uint64(traceStart.Add(40 * time.Millisecond).UnixNano())), "max_severity": 13.0, "max_level": "warn", "spans": 1.0},
					map[string]any{"service": "orders", "count": 3.0, "first_time": rfc3339(uint64(traceStart.Add(3 * time.Millisecond).UnixNano())),
						"last_time": rfc3339(uint64(traceStart.Add(18 * time.Millisecond).UnixNano())), "max_severity": 17.0, "max_level": "error", "spans": 1.0},
					map[string]any{"service": "payments", "count": 3.0, "first_time": rfc3339(uint64(traceStart.Add(7 * time.Millisecond).UnixNano())),
						"last_time": rfc3339(uint64(traceStart.Add(25 * time.Millisecond).UnixNano())), "max_severity": 17.0, "max_level": "error", "spans": 2.0},
				}, body["services"])
			}

			for name, tc := range map[string]struct {
				params    url.Values
				n         int
				truncated bool
				total     float64
				last      string
			}{
				"default limit cuts at 1000":      {nil, 1000, true, 1500, "step 0999"},
				"a limit past one store page":     {url.Values{"limit": {"1200"}}, 1200, true, 1500, "step 1199"},
				"a limit above the trace":         {url.Values{"limit": {"10000"}}, 1500, false, 1500, "step 1499"},
				"a limit equal to the trace":      {url.Values{"limit": {"1500"}}, 1500, false, 1500, "step 1499"},
				"a small limit":                   {url.Values{"limit": {"3"}}, 3, true, 1500, "step 0002"},
				"a time range bounds the records": {url.Values{"from": {now.Add(-time.Hour + 100*time.Millisecond).Format(time.RFC3339Nano)}, "to": {now.Add(-time.Hour + 200*time.Millisecond).Format(time.RFC3339Nano)}}, 100, false, 100, "step 0199"},
			} {
				code, body := getJSON(t, srv, "/api/v1/traces/"+traceBig, tc.params)
				require.Equal(t, http.StatusOK, code, "%s: %v", name, body)
				logs := body["logs"].([]any)
				require.Len(t, logs, tc.n, name)
				assert.Equal(t, tc.last, logs[len(logs)-1].(map[string]any)["body"], name)
				for i := 1; i < len(logs); i++ {
					require.Less(t, logs[i-1].(map[string]any)["body"], logs[i].(map[string]any)["body"], "%s: oldest first, each once", name)
				}
				assert.Equal(t, tc.truncated, body["truncated"], name)
				assert.Equal(t, tc.total, body["total"], name)
				svcs := body["services"].([]any)
				require.Len(t, svcs, 1, name)
				assert.Equal(t, float64(tc.n), svcs[0].(map[string]any)["count"], "%s: the summary counts the returned records", name)
			}

			code, body := getJSON(t, srv, "/api/v1/traces/"+traceNo, nil)
			assert.Equal(t, http.StatusNotFound, code, body)
			assert.Equal(t, "trace_id", body["field"])
			assert.Contains(t, body["error"], traceNo)
			code, body = getJSON(t, srv, "/api/v1/traces/"+traceA, url.Values{"to": {traceStart.Format(time.RFC3339Nano)}})
			assert.Equal(t, http.StatusNotFound, code, "no record of the trace in the range: %v", body)

			for name, tc := range map[string]struct {
				id     string
				params url.Values
				field  string
			}{
				"not hex":          {strings.Repeat("zz", 16), nil, "trace_id"},
				"too short":        {traceA[:30], nil, "trace_id"},
				"too long":         {traceA + "00", nil, "trace_id"},
				"a span id":        {"00f067aa0ba902b7", nil, "trace_id"},
				"all zero":         {strings.Repeat("0", 32), nil, "trace_id"},
				"limit 0":          {traceA, url.Values{"limit": {"0"}}, "limit"},
				"limit too large":  {traceA, url.Values{"limit": {"10001"}}, "limit"},
				"limit not a num":  {traceA, url.Values{"limit": {"ten"}}, "limit"},
				"bad from":         {traceA, url.Values{"from": {"yesterday"}}, "from"},
				"from after to":    {traceA, url.Values{"from": {"-1m"}, "to": {"-1h"}}, "from"},
				"unknown param":    {traceA, url.Values{"service": {"orders"}}, "service"},
				"misspelt limit":   {traceA, url.Values{"limt": {"5"}}, "limt"},
				"a filter of logs": {traceA, url.Values{"q": {"card"}}, "q"},
			} {
				code, body := getJSON(t, srv, "/api/v1/traces/"+tc.id, tc.params)
				assert.Equal(t, http.StatusBadRequest, code, "%s: %v", name, body)
				assert.Equal(t, tc.field, body["field"], name)
				assert.NotEmpty(t, body["error"], name)
			}
		})
	}
}

func TestGRPCGetTrace(t *testing.T) {
	ctx := context.Background()
	for engine, st := range traceEngines(t) {
		t.Run(engine, func(t *testing.T) {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			gs := grpc.NewServer()
			sawmillv1.RegisterQueryServiceServer(gs, &Service{Store: st, Hub: live.New(live.Options{})})
			go func() { _ = gs.Serve(lis) }()
			t.Cleanup(gs.Stop)
			conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			require.NoError(t, err)
			t.Cleanup(func() { _ = conn.Close() })
			c := sawmillv1.NewQueryServiceClient(conn)

			resp, err := c.GetTrace(ctx, &sawmillv1.GetTraceRequest{TraceId: mustHex(traceA)})
			require.NoError(t, err)
			require.Len(t, resp.GetEntries(), len(traceARecords))
			for i, e := range resp.GetEntries() {
				assert.Equal(t, traceARecords[i].body, e.GetRecord().GetBody(), i)
				assert.Equal(t, traceARecords[i].svc, e.GetResource().GetService(), i)
			}
			assert.False(t, resp.GetTruncated())
			assert.Equal(t, uint64(len(traceARecords)), resp.GetTotal())
			var got []string
			for _, s := range resp.GetServices() {
				got = append(got, fmt.Sprintf("%s %d %d..%d max %d spans %d", s.GetService(), s.GetCount(),
					(s.GetFirstUnixNano()-uint64(traceStart.UnixNano()))/1e6, (s.GetLastUnixNano()-uint64(traceStart.UnixNano()))/1e6,
					s.GetMaxSeverity(), s.GetSpans()))
			}
			assert.Equal(t, []string{
				"gateway 3 0..40 max 13 spans 1",
				"orders 3 3..18 max 17 spans 1",
				"payments 3 7..25 max 17 spans 2",
			}, got)

			big, err := c.GetTrace(ctx, &sawmillv1.GetTraceRequest{TraceId: mustHex(traceBig), Limit: 1100})
			require.NoError(t, err)
			assert.Len(t, big.GetEntries(), 1100)
			assert.Equal(t, "step 1099", big.GetEntries()[1099].GetRecord().GetBody())
			assert.True(t, big.GetTruncated())
			assert.Equal(t, uint64(1500), big.GetTotal())

			_, err = c.GetTrace(ctx, &sawmillv1.GetTraceRequest{TraceId: mustHex(traceNo)})
			assert.Equal(t, codes.NotFound, status.Code(err), "%v", err)
			assert.Contains(t, status.Convert(err).Message(), traceNo)

			for name, tc := range map[string]struct {
				req   *sawmillv1.GetTraceRequest
				field string
			}{
				"empty id":        {&sawmillv1.GetTraceRequest{}, "trace_id"},
				"a span id":       {&sawmillv1.GetTraceRequest{TraceId: mustHex("00f067aa0ba902b7")}, "trace_id"},
				"all zero":        {&sawmillv1.GetTraceRequest{TraceId: make([]byte, 16)}, "trace_id"},
				"limit too large": {&sawmillv1.GetTraceRequest{TraceId: mustHex(traceA), Limit: MaxTraceLimit + 1}, "limit"},
				"from after to": {&sawmillv1.GetTraceRequest{TraceId: mustHex(traceA),
					FromUnixNano: uint64(now.UnixNano()), ToUnixNano: uint64(now.Add(-time.Hour).UnixNano())}, "from_unix_nano"},
			} {
				_, err := c.GetTrace(ctx, tc.req)
				st := status.Convert(err)
				require.Equal(t, codes.InvalidArgument, st.Code(), "%s: %v", name, err)
				require.Len(t, st.Details(), 1, name)
				assert.Equal(t, tc.field, st.Details()[0].(*errdetails.BadRequest).GetFieldViolations()[0].GetField(), name)
			}
		})
	}
}
