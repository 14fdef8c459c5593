package query

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
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

// apiServer serves the HTTP API over a real embedded store holding n
// records, one a second ending one minute before now.
func apiServer(t *testing.T, n int) *httptest.Server {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "logs.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	b := &sawmillv1.LogBatch{BatchId: "b1", Resource: &sawmillv1.Resource{Service: "api"}}
	for i := 0; i < n; i++ {
		ts := uint64(now.Add(-time.Minute - time.Duration(i)*time.Second).UnixNano())
		b.Records = append(b.Records, &sawmillv1.LogRecord{TimeUnixNano: ts, ObservedTimeUnixNano: ts, SeverityNumber: 9, Body: fmt.Sprintf("record %d", i)})
	}
	stored, err := st.WriteBatches(ctx, []*sawmillv1.LogBatch{b})
	require.NoError(t, err)
	require.Equal(t, n, stored)
	mux := http.NewServeMux()
	(&API{Store: st, Hub: live.New(live.Options{}), Now: func() time.Time { return now }}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// getJSON fetches path and decodes the JSON body.
func getJSON(t *testing.T, srv *httptest.Server, path string, params url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(srv.URL + path + "?" + params.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

func TestHTTPTimeRangeClamped(t *testing.T) {
	srv := apiServer(t, 50)
	for name, tc := range map[string]struct {
		params url.Values
		want   float64
	}{
		"to far in the future":           {url.Values{"to": {"9999-12-31T23:59:59Z"}}, 50},
		"from far in the past":           {url.Values{"from": {"1500-01-01T00:00:00Z"}}, 50},
		"relative from, far future to":   {url.Values{"from": {"-24h"}, "to": {"2300-01-01T00:00:00Z"}}, 50},
		"both far out":                   {url.Values{"from": {"0001-01-01T00:00:00Z"}, "to": {"9999-12-31T23:59:59Z"}}, 50},
		"to before the epoch":            {url.Values{"to": {"1500-01-01T00:00:00Z"}}, 0},
		"to at the epoch":                {url.Values{"to": {"1970-01-01T00:00:00Z"}}, 0},
		"from far in the future":         {url.Values{"from": {"9999-01-01T00:00:00Z"}}, 0},
		"relative from beyond 1677":      {url.Values{"from": {"-2562047h"}}, 50},
		"an ordinary window still works": {url.Values{"from": {"-70s"}}, 11},
	} {
		code, body := getJSON(t, srv, "/api/v1/logs/count", tc.params)
		require.Equal(t, http.StatusOK, code, "%s: %v", name, body)
		assert.Equal(t, tc.want, body["count"], name)
	}
	code, body := getJSON(t, srv, "/api/v1/logs", url.Values{"to": {"9999-12-31T23:59:59Z"}, "limit": {"1000"}})
	require.Equal(t, http.StatusOK, code, body)
	assert.Len(t, body["logs"], 50)
	code, body = getJSON(t, srv, "/api/v1/logs/count", url.Values{"from": {"9999-01-01T00:00:00Z"}, "to": {"-1h"}})
	assert.Equal(t, http.StatusBadRequest, code, "from after to is still an error")
	assert.Equal(t, "from", body["field"])
}

func TestHTTPCursorVerified(t *testing.T) {
	srv := apiServer(t, 50)
	// Paging with the cursors the server issues walks every record once,
	// with a relative range that moves between pages.
	q := url.Values{"service": {"api"}, "from": {"-1h"}, "limit": {"7"}}
	seen := map[string]bool{}
	for page := 0; ; page++ {
		require.Less(t, page, 10)
		code, body := getJSON(t, srv, "/api/v1/logs", q)
		require.Equal(t, http.StatusOK, code, body)
		for _, l := range body["logs"].([]any) {
			id := l.(map[string]any)["id"].(string)
			require.False(t, seen[id], id)
			seen[id] = true
		}
		next, _ := body["next_cursor"].(string)
		if next == "" {
			break
		}
		q.Set("cursor", next)
	}
	assert.Len(t, seen, 50)

	code, body := getJSON(t, srv, "/api/v1/logs", url.Values{"service": {"api"}, "limit": {"7"}})
	require.Equal(t, http.StatusOK, code)
	issued := body["next_cursor"].(string)
	for name, params := range map[string]url.Values{
		"16 base64 characters":       {"cursor": {"AAAAAAAAAAAAAAAA"}},
		"24 base64 characters":       {"cursor": {"c2F3bWlsbC1jdXJzb3ItZ2Fy"}},
		"tampered":                   {"service": {"api"}, "cursor": {issued[:len(issued)-2] + "AA"}},
		"issued for a filter":        {"cursor": {issued}},
		"issued for desc, asked asc": {"service": {"api"}, "order": {"asc"}, "cursor": {issued}},
	} {
		code, body := getJSON(t, srv, "/api/v1/logs", params)
		assert.Equal(t, http.StatusBadRequest, code, name)
		assert.Equal(t, "cursor", body["field"], name)
		assert.Contains(t, body["error"], "cursor", name)
	}
}

func TestGRPCCursorVerified(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "logs.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	b := &sawmillv1.LogBatch{BatchId: "b1", Resource: &sawmillv1.Resource{Service: "api"}}
	for i := 0; i < 5; i++ {
		ts := uint64(now.Add(-time.Duration(i) * time.Second).UnixNano())
		b.Records = append(b.Records, &sawmillv1.LogRecord{TimeUnixNano: ts, ObservedTimeUnixNano: ts, SeverityNumber: 9, Body: "x"})
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

	first, err := c.Search(ctx, &sawmillv1.SearchRequest{Limit: 2})
	require.NoError(t, err)
	require.NotEmpty(t, first.GetNextCursor())
	second, err := c.Search(ctx, &sawmillv1.SearchRequest{Limit: 2, Cursor: first.GetNextCursor()})
	require.NoError(t, err)
	assert.Len(t, second.GetEntries(), 2)
	for name, req := range map[string]*sawmillv1.SearchRequest{
		"garbage":      {Cursor: "AAAAAAAAAAAAAAAA"},
		"other filter": {Cursor: first.GetNextCursor(), Filter: &sawmillv1.Filter{Services: []string{"api"}}},
		"other order":  {Cursor: first.GetNextCursor(), OldestFirst: true},
	} {
		_, err := c.Search(ctx, req)
		st := status.Convert(err)
		assert.Equal(t, codes.InvalidArgument, st.Code(), name)
		assert.Contains(t, st.Message(), "cursor", name)
		require.Len(t, st.Details(), 1, name)
		br := st.Details()[0].(*errdetails.BadRequest)
		assert.Equal(t, "cursor", br.GetFieldViolations()[0].GetField(), name)
	}
}
