package query

import (
	"bufio"
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
	"github.com/sawmill-dev/sawmill/server/internal/store/sqlite"
)

const (
	testTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	testSpan  = "00f067aa0ba902b7"
)

// fieldsServer serves a store of 60 records in two batches: every third
// record of trace testTrace (the first of them with span testSpan), every
// second of logger "http", every fifth with an error of type
// "*fs.PathError"; batch b2 from instance api-2, environment staging,
// version 1.4.2.
func fieldsServer(t *testing.T) (*httptest.Server, *live.Hub) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "logs.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	trace, _ := hex.DecodeString(testTrace)
	span, _ := hex.DecodeString(testSpan)
	var bs []*sawmillv1.LogBatch
	for bi, res := range []*sawmillv1.Resource{
		{Service: "api", Instance: "api-1", Environment: "production", Version: "1.4.1"},
		{Service: "api", Instance: "api-2", Environment: "staging", Version: "1.4.2"},
	} {
		b := &sawmillv1.LogBatch{BatchId: fmt.Sprint("b", bi+1), Resource: res}
		for i := 0; i < 30; i++ {
			ts := uint64(now.Add(-time.Minute - time.Duration(bi*30+i)*time.Second).UnixNano())
			r := &sawmillv1.LogRecord{TimeUnixNano: ts, ObservedTimeUnixNano: ts, SeverityNumber: 9, Body: fmt.Sprintf("record %d", i), Logger: "main"}
			if i%3 == 0 {
				r.TraceId = trace
			}
			if i == 0 && bi == 0 {
				r.SpanId = span
			}
			if i%2 == 0 {
				r.Logger = "http"
			}
			if i%5 == 0 {
				r.Error = &sawmillv1.ErrorInfo{Type: "*fs.PathError", Message: "no such file"}
			}
			b.Records = append(b.Records, r)
		}
		bs = append(bs, b)
	}
	_, err = st.WriteBatches(ctx, bs)
	require.NoError(t, err)
	hub := live.New(live.Options{})
	mux := http.NewServeMux()
	(&API{Store: st, Hub: hub, Now: func() time.Time { return now }, TailInterval: 10 * time.Millisecond}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, hub
}

// The record and resource field filters select exactly their records in
// search, count and stats (before, trace_id and the rest were ignored and
// every record matched).
func TestHTTPFieldFilters(t *testing.T) {
	srv, _ := fieldsServer(t)
	for name, c := range map[string]struct {
		params url.Values
		want   int
	}{
		"trace":                {url.Values{"trace_id": {testTrace}}, 20},
		"trace upper case":     {url.Values{"trace_id": {strings.ToUpper(testTrace)}}, 20},
		"other trace":          {url.Values{"trace_id": {strings.Repeat("0", 31) + "1"}}, 0},
		"span":                 {url.Values{"span_id": {testSpan}}, 1},
		"logger":               {url.Values{"logger": {"http"}}, 30},
		"error type":           {url.Values{"error_type": {"*fs.PathError"}}, 12},
		"instance":             {url.Values{"instance": {"api-2"}}, 30},
		"environment":          {url.Values{"environment": {"production"}}, 30},
		"version":              {url.Values{"version": {"1.4.2"}}, 30},
		"no such version":      {url.Values{"version": {"1.4"}}, 0},
		"trace and instance":   {url.Values{"trace_id": {testTrace}, "instance": {"api-1"}}, 10},
		"trace, logger, error": {url.Values{"trace_id": {testTrace}, "logger": {"http"}, "error_type": {"*fs.PathError"}}, 2},
	} {
		code, body := getJSON(t, srv, "/api/v1/logs/count", c.params)
		require.Equal(t, http.StatusOK, code, name)
		assert.EqualValues(t, c.want, body["count"], "%s: count", name)

		p := url.Values{"limit": {"1000"}}
		for k, v := range c.params {
			p[k] = v
		}
		code, body = getJSON(t, srv, "/api/v1/logs", p)
		require.Equal(t, http.StatusOK, code, name)
		assert.Len(t, body["logs"], c.want, "%s: search", name)

		p = url.Values{"from": {"-1h"}}
		for k, v := range c.params {
			p[k] = v
		}
		code, body = getJSON(t, srv, "/api/v1/stats", p)
		require.Equal(t, http.StatusOK, code, name)
		total := 0.0
		for _, b := range body["buckets"].([]any) {
			total += b.(map[string]any)["count"].(float64)
		}
		assert.EqualValues(t, c.want, total, "%s: stats", name)
	}
}

func TestHTTPFieldFiltersRejectBadValues(t *testing.T) {
	srv, _ := fieldsServer(t)
	for name, c := range map[string]struct {
		params url.Values
		field  string
	}{
		"short trace":   {url.Values{"trace_id": {testTrace[:30]}}, "trace_id"},
		"non-hex trace": {url.Values{"trace_id": {"z" + testTrace[1:]}}, "trace_id"},
		"span as trace": {url.Values{"trace_id": {testSpan}}, "trace_id"},
		"long span":     {url.Values{"span_id": {testTrace}}, "span_id"},
		"two traces":    {url.Values{"trace_id": {testTrace, testTrace}}, "trace_id"},
		"two loggers":   {url.Values{"logger": {"a", "b"}}, "logger"},
		"huge version":  {url.Values{"version": {strings.Repeat("v", 1025)}}, "version"},
	} {
		code, body := getJSON(t, srv, "/api/v1/logs", c.params)
		assert.Equal(t, http.StatusBadRequest, code, name)
		assert.Equal(t, c.field, body["field"], name)
	}
}

// Every endpoint answers a parameter it does not take with 400 naming it;
// before, such parameters were silently ignored.
func TestHTTPUnknownParameters(t *testing.T) {
	srv, _ := fieldsServer(t)
	for _, path := range []string{"/api/v1/logs", "/api/v1/logs/count", "/api/v1/logs/b1~0", "/api/v1/tail",
		"/api/v1/recent", "/api/v1/stats", "/api/v1/services", "/api/v1/live", "/api/v1/status"} {
		for _, p := range []url.Values{
			{"trace": {testTrace}},
			{"service": {"api"}, "levle": {"error"}},
		} {
			code, body := getJSON(t, srv, path, p)
			unknown := "trace"
			if p.Has("levle") {
				unknown = "levle"
			}
			assert.Equal(t, http.StatusBadRequest, code, "%s?%s", path, p.Encode())
			assert.Equal(t, map[string]any{"error": fmt.Sprintf("unknown parameter %q", unknown), "field": unknown}, body, "%s?%s", path, p.Encode())
		}
	}
	// A parameter of another endpoint is unknown here.
	code, body := getJSON(t, srv, "/api/v1/logs/count", url.Values{"limit": {"10"}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "limit", body["field"])
	code, body = getJSON(t, srv, "/api/v1/recent", url.Values{"q": {"x"}})
	assert.Equal(t, http.StatusBadRequest, code, "recent filters by service only")
	assert.Equal(t, "q", body["field"])

	// What the dashboard sends is accepted, and access_token everywhere.
	for path, p := range map[string]url.Values{
		"/api/v1/logs":       {"service": {"api"}, "level": {"info"}, "q": {"record"}, "attr": {"k:v"}, "from": {"-1h"}, "to": {"now"}, "limit": {"100"}, "order": {"asc"}, "access_token": {"t"}},
		"/api/v1/logs/count": {"service": {"api"}, "from": {"-1h"}, "to": {"now"}},
		"/api/v1/stats":      {"service": {"api"}, "from": {"-1h"}, "step": {"60s"}},
		"/api/v1/logs/b1~0":  {"surrounding": {"5"}},
		"/api/v1/recent":     {"service": {"api"}, "limit": {"5"}},
		"/api/v1/live":       {"seconds": {"60"}},
		"/api/v1/services":   {"access_token": {"t"}},
	} {
		code, body := getJSON(t, srv, path, p)
		assert.Equal(t, http.StatusOK, code, "%s?%s: %v", path, p.Encode(), body)
	}
}

// The tail applies the field filters to live batches.
func TestHTTPTailFieldFilters(t *testing.T) {
	srv, hub := fieldsServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go hub.Run(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/tail?"+url.Values{"trace_id": {testTrace}, "environment": {"staging"}}.Encode(), nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	trace, _ := hex.DecodeString(testTrace)
	// Publish until the subscription sees one (it may attach after the first).
	go func() {
		for i := 0; ctx.Err() == nil && i < 300; i++ {
			for _, env := range []string{"production", "staging"} {
				hub.Observe(&sawmillv1.LogBatch{BatchId: fmt.Sprint("live-", env, i), Resource: &sawmillv1.Resource{Service: "api", Environment: env}, Records: []*sawmillv1.LogRecord{
					{TimeUnixNano: uint64(now.UnixNano()), Body: "other trace " + env, TraceId: []byte("0123456789abcdef")},
					{TimeUnixNano: uint64(now.UnixNano()), Body: "in trace " + env, TraceId: trace},
				}})
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	sc := bufio.NewScanner(resp.Body)
	seen := 0
	for sc.Scan() && seen < 3 {
		line := sc.Text()
		if !strings.HasPrefix(line, "data:") || !strings.Contains(line, `"body"`) {
			continue
		}
		assert.Contains(t, line, "in trace staging")
		assert.NotContains(t, line, "other trace")
		assert.NotContains(t, line, "production")
		seen++
	}
	assert.Equal(t, 3, seen, "tail events seen")
}

// The gRPC Filter carries the same field conditions.
func TestGRPCFieldFilters(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "logs.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	trace, _ := hex.DecodeString(testTrace)
	b := &sawmillv1.LogBatch{BatchId: "b1", Resource: &sawmillv1.Resource{Service: "api", Instance: "api-1", Environment: "prod", Version: "2"}}
	for i := 0; i < 10; i++ {
		ts := uint64(now.Add(-time.Duration(i) * time.Second).UnixNano())
		r := &sawmillv1.LogRecord{TimeUnixNano: ts, ObservedTimeUnixNano: ts, SeverityNumber: 9, Body: "x", Logger: fmt.Sprint("l", i%2)}
		if i < 3 {
			r.TraceId = trace
			r.SpanId = []byte{0, 0, 0, 0, 0, 0, 0, byte(i)}
			r.Error = &sawmillv1.ErrorInfo{Type: "E"}
		}
		b.Records = append(b.Records, r)
	}
	_, err = st.WriteBatches(ctx, []*sawmillv1.LogBatch{b})
	require.NoError(t, err)
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
	for name, tc := range map[string]struct {
		f    *sawmillv1.Filter
		want uint64
	}{
		"trace":      {&sawmillv1.Filter{TraceId: trace}, 3},
		"span":       {&sawmillv1.Filter{SpanId: []byte{0, 0, 0, 0, 0, 0, 0, 1}}, 1},
		"logger":     {&sawmillv1.Filter{Logger: "l1"}, 5},
		"error type": {&sawmillv1.Filter{ErrorType: "E", Logger: "l0"}, 2},
		"resource":   {&sawmillv1.Filter{Instance: "api-1", Environment: "prod", Version: "2"}, 10},
		"other env":  {&sawmillv1.Filter{Environment: "staging"}, 0},
	} {
		resp, err := c.Count(ctx, &sawmillv1.CountRequest{Filter: tc.f})
		require.NoError(t, err, name)
		assert.Equal(t, tc.want, resp.GetCount(), name)
	}
	for field, f := range map[string]*sawmillv1.Filter{
		"filter.trace_id": {TraceId: trace[:8]},
		"filter.span_id":  {SpanId: trace},
		"filter.logger":   {Logger: strings.Repeat("l", 1025)},
	} {
		_, err := c.Search(ctx, &sawmillv1.SearchRequest{Filter: f})
		st := status.Convert(err)
		assert.Equal(t, codes.InvalidArgument, st.Code(), field)
		require.Len(t, st.Details(), 1, field)
		assert.Equal(t, field, st.Details()[0].(*errdetails.BadRequest).GetFieldViolations()[0].GetField())
	}
}
