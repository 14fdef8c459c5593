package apptest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

type entryJSON struct {
	ID           string          `json:"id"`
	Service      string          `json:"service"`
	Body         string          `json:"body"`
	Level        string          `json:"level"`
	Time         string          `json:"time"`
	TraceID      string          `json:"trace_id"`
	SpanID       string          `json:"span_id"`
	Attributes   json.RawMessage `json:"attributes"`
	SeverityText string          `json:"severity_text"`
	Error        *struct {
		Type, Message, Stack string
	} `json:"error"`
}

type pageJSON struct {
	Logs       []entryJSON `json:"logs"`
	NextCursor string      `json:"next_cursor"`
}

func TestEmbeddedIngestAndQuery(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	ingest := sawmillv1.NewIngestServiceClient(s.Conn(t))
	now := time.Now().Add(-time.Minute).Truncate(time.Millisecond)

	// Three services, several levels, an error, a trace, nested attributes.
	b := &sawmillv1.LogBatch{BatchId: NewBatchID(), Resource: &sawmillv1.Resource{Service: "orders", Instance: "orders-1", Environment: "test", Version: "1.2.3"}}
	for i := 0; i < 100; i++ {
		sev := sawmillv1.SeverityNumber_SEVERITY_NUMBER_INFO
		body := fmt.Sprintf("order %d created", i)
		if i%10 == 0 {
			sev, body = sawmillv1.SeverityNumber_SEVERITY_NUMBER_ERROR, fmt.Sprintf("order %d FAILED: card declined", i)
		}
		r := &sawmillv1.LogRecord{
			TimeUnixNano:   uint64(now.Add(time.Duration(i) * time.Millisecond).UnixNano()),
			SeverityNumber: sev,
			Body:           body,
			AttributesJson: []byte(fmt.Sprintf(`{"order_id":%d,"http":{"status":%d,"method":"POST"},"paid":%t}`, i, 200+i%2, i%2 == 0)),
		}
		if i == 10 {
			r.TraceId = []byte("0123456789abcdef")
			r.SpanId = []byte("01234567")
			r.Error = &sawmillv1.ErrorInfo{Type: "*payments.DeclinedError", Message: "card declined", Stack: "main.pay()\n\tmain.go:42"}
		}
		b.Records = append(b.Records, r)
	}
	resp, err := Push(ctx, ingest, b)
	require.NoError(t, err)
	assert.Equal(t, uint32(100), resp.GetAccepted())
	assert.False(t, resp.GetDuplicate())

	// The same batch again is a duplicate and stores nothing twice.
	resp, err = Push(ctx, ingest, b)
	require.NoError(t, err)
	assert.True(t, resp.GetDuplicate())

	// More services over the streaming RPC, acked per batch.
	stream, err := ingest.PushStream(ctx)
	require.NoError(t, err)
	sent := map[string]bool{}
	for i, svc := range []string{"payments", "users", "payments"} {
		bb := Batch(svc, 50, now.Add(time.Duration(i)*time.Second))
		sent[bb.GetBatchId()] = true
		require.NoError(t, stream.Send(&sawmillv1.PushStreamRequest{Batch: bb}))
	}
	bad := Batch("", 1, now) // rejected, but the stream goes on
	require.NoError(t, stream.Send(&sawmillv1.PushStreamRequest{Batch: bad}))
	require.NoError(t, stream.CloseSend())
	for range 4 {
		r, err := stream.Recv()
		require.NoError(t, err)
		if r.GetBatchId() == bad.GetBatchId() {
			assert.Equal(t, uint32(codes.InvalidArgument), r.GetCode())
			require.NotEmpty(t, r.GetFieldViolations())
			assert.Equal(t, "batch.resource.service", r.GetFieldViolations()[0].GetField())
			continue
		}
		assert.Zero(t, r.GetCode(), r.GetMessage())
		assert.Equal(t, uint32(50), r.GetAccepted())
		delete(sent, r.GetBatchId())
	}
	assert.Empty(t, sent, "every batch acked")

	require.Equal(t, uint64(250), s.WaitCount(t, nil, 250, 10*time.Second))

	counts := map[string]struct {
		q    url.Values
		want uint64
	}{
		"service":          {url.Values{"service": {"payments"}}, 100},
		"two services":     {url.Values{"service": {"orders,users"}}, 150},
		"level":            {url.Values{"level": {"error"}}, 10},
		"level number":     {url.Values{"level": {"17"}}, 10},
		"text":             {url.Values{"q": {"failed"}}, 10},
		"attr":             {url.Values{"attr": {"order_id:42"}}, 1},
		"nested attr":      {url.Values{"attr": {"http.status:201"}}, 50},
		"bool attr":        {url.Values{"attr": {"paid:true"}, "service": {"orders"}}, 50},
		"two attrs":        {url.Values{"attr": {"http.status:200", "http.method:POST"}}, 50},
		"time range":       {url.Values{"from": {now.Format(time.RFC3339Nano)}, "to": {now.Add(50 * time.Millisecond).Format(time.RFC3339Nano)}, "service": {"orders"}}, 50},
		"relative from":    {url.Values{"from": {"-1h"}}, 250},
		"nothing from now": {url.Values{"from": {"now"}}, 0},
	}
	for name, c := range counts {
		assert.Equal(t, c.want, s.Count(t, c.q), name)
	}

	// Search: newest first, pagination covers everything exactly once.
	seen := map[string]bool{}
	var last time.Time
	q := url.Values{"limit": {"30"}}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 20)
		var p pageJSON
		require.Equal(t, http.StatusOK, s.Get(t, "/api/v1/logs", q, &p))
		for _, e := range p.Logs {
			require.False(t, seen[e.ID], "id %s twice", e.ID)
			seen[e.ID] = true
			tm, err := time.Parse(time.RFC3339Nano, e.Time)
			require.NoError(t, err)
			if !last.IsZero() {
				require.False(t, tm.After(last), "newest first")
			}
			last = tm
		}
		if p.NextCursor == "" {
			break
		}
		q.Set("cursor", p.NextCursor)
	}
	assert.Len(t, seen, 250)

	// The error record round-trips with its trace, span, error and attributes.
	var p pageJSON
	require.Equal(t, http.StatusOK, s.Get(t, "/api/v1/logs", url.Values{"attr": {"order_id:10"}}, &p))
	require.Len(t, p.Logs, 1)
	e := p.Logs[0]
	assert.Equal(t, "orders", e.Service)
	assert.Equal(t, "error", e.Level)
	assert.Equal(t, "ERROR", e.SeverityText, "the server fills the level name")
	assert.Equal(t, "30313233343536373839616263646566", e.TraceID)
	assert.Equal(t, "3031323334353637", e.SpanID)
	assert.JSONEq(t, `{"order_id":10,"http":{"status":200,"method":"POST"},"paid":true}`, string(e.Attributes))
	require.NotNil(t, e.Error)
	assert.Equal(t, "main.pay()\n\tmain.go:42", e.Error.Stack)

	// Detail by id, with neighbours of the same service.
	var d struct {
		Log    entryJSON   `json:"log"`
		Before []entryJSON `json:"before"`
		After  []entryJSON `json:"after"`
	}
	require.Equal(t, http.StatusOK, s.Get(t, "/api/v1/logs/"+url.PathEscape(e.ID), url.Values{"surrounding": {"2"}}, &d))
	assert.Equal(t, e.ID, d.Log.ID)
	require.Len(t, d.Before, 2)
	require.Len(t, d.After, 2)
	assert.Equal(t, "order 9 created", d.Before[0].Body)
	assert.Equal(t, "order 11 created", d.After[0].Body)

	// Recent (from memory), stats and services.
	var rec struct {
		Services []struct {
			Service string      `json:"service"`
			Logs    []entryJSON `json:"logs"`
		} `json:"services"`
	}
	require.Equal(t, http.StatusOK, s.Get(t, "/api/v1/recent", url.Values{"service": {"orders"}, "limit": {"5"}}, &rec))
	require.Len(t, rec.Services, 1)
	require.Len(t, rec.Services[0].Logs, 5)
	assert.Equal(t, "order 99 created", rec.Services[0].Logs[0].Body)

	var st struct {
		Step    int64 `json:"step_seconds"`
		Buckets []struct {
			Service string `json:"service"`
			Level   string `json:"level"`
			Count   uint64 `json:"count"`
		} `json:"buckets"`
	}
	require.Equal(t, http.StatusOK, s.Get(t, "/api/v1/stats", url.Values{"from": {"-10m"}, "step": {"1m"}}, &st))
	assert.Equal(t, int64(60), st.Step)
	var total uint64
	byLevel := map[string]uint64{}
	for _, b := range st.Buckets {
		total += b.Count
		byLevel[b.Level] += b.Count
	}
	assert.Equal(t, uint64(250), total)
	assert.Equal(t, uint64(10), byLevel["error"])

	var sv struct {
		Services []struct {
			Name  string `json:"name"`
			Total uint64 `json:"total"`
		} `json:"services"`
	}
	require.Equal(t, http.StatusOK, s.Get(t, "/api/v1/services", nil, &sv))
	require.Len(t, sv.Services, 3)
	assert.Equal(t, "orders", sv.Services[0].Name)
	assert.Equal(t, uint64(100), sv.Services[0].Total)

	// Bad parameters get 400 with a JSON body naming the parameter.
	for _, c := range []struct{ q url.Values }{
		{url.Values{"level": {"loud"}}}, {url.Values{"from": {"yesterday"}}}, {url.Values{"limit": {"0"}}},
		{url.Values{"attr": {"nocolon"}}}, {url.Values{"cursor": {"!!"}}}, {url.Values{"from": {"-1m"}, "to": {"-2m"}}},
	} {
		var eb struct {
			Error string `json:"error"`
			Field string `json:"field"`
		}
		assert.Equal(t, http.StatusBadRequest, s.Get(t, "/api/v1/logs", c.q, &eb), c.q.Encode())
		assert.NotEmpty(t, eb.Error)
		assert.NotEmpty(t, eb.Field)
	}
	var eb struct {
		Error string `json:"error"`
	}
	assert.Equal(t, http.StatusNotFound, s.Get(t, "/api/v1/logs/nope~1", nil, &eb))
	assert.Equal(t, http.StatusNotFound, s.Get(t, "/api/v1/nope", nil, &eb))

	// The gRPC query service answers the same.
	qc := sawmillv1.NewQueryServiceClient(s.Conn(t))
	cr, err := qc.Count(ctx, &sawmillv1.CountRequest{Filter: &sawmillv1.Filter{Services: []string{"orders"}, MinSeverity: sawmillv1.SeverityNumber_SEVERITY_NUMBER_ERROR}})
	require.NoError(t, err)
	assert.Equal(t, uint64(10), cr.GetCount())
	sr, err := qc.Search(ctx, &sawmillv1.SearchRequest{Filter: &sawmillv1.Filter{Text: "FAILED"}, Limit: 3})
	require.NoError(t, err)
	assert.Len(t, sr.GetEntries(), 3)
	assert.NotEmpty(t, sr.GetNextCursor())
	_, err = qc.Search(ctx, &sawmillv1.SearchRequest{Cursor: "@@"})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
	ls, err := qc.ListServices(ctx, &sawmillv1.ListServicesRequest{})
	require.NoError(t, err)
	require.Len(t, ls.GetServices(), 3)
	assert.Equal(t, "orders", ls.GetServices()[0].GetName())
	assert.Equal(t, uint64(100), ls.GetServices()[0].GetTotal())
	assert.Equal(t, uint64(now.Add(99*time.Millisecond).UnixNano()), ls.GetServices()[0].GetLastSeenUnixNano())
}

func TestEmbeddedRejectsBadInput(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	ingest := sawmillv1.NewIngestServiceClient(s.Conn(t))
	now := time.Now()

	cases := map[string]struct {
		mutate func(b *sawmillv1.LogBatch)
		field  string
	}{
		"empty service":       {func(b *sawmillv1.LogBatch) { b.Resource.Service = "" }, "batch.resource.service"},
		"no batch id":         {func(b *sawmillv1.LogBatch) { b.BatchId = "" }, "batch.batch_id"},
		"invalid UTF-8 body":  {func(b *sawmillv1.LogBatch) { b.Records[1].Body = "bad \xff\xfe" }, "batch.records[1].body"},
		"attributes not JSON": {func(b *sawmillv1.LogBatch) { b.Records[0].AttributesJson = []byte(`{"a":`) }, "batch.records[0].attributes_json"},
		"attributes not obj":  {func(b *sawmillv1.LogBatch) { b.Records[0].AttributesJson = []byte(`[1,2]`) }, "batch.records[0].attributes_json"},
		"absurd time":         {func(b *sawmillv1.LogBatch) { b.Records[2].TimeUnixNano = 42 }, "batch.records[2].time_unix_nano"},
		"far future":          {func(b *sawmillv1.LogBatch) { b.Records[2].TimeUnixNano = uint64(now.Add(72 * time.Hour).UnixNano()) }, "batch.records[2].time_unix_nano"},
		"short trace id":      {func(b *sawmillv1.LogBatch) { b.Records[0].TraceId = []byte{1, 2, 3} }, "batch.records[0].trace_id"},
		"no records":          {func(b *sawmillv1.LogBatch) { b.Records = nil }, "batch.records"},
		"oversized body":      {func(b *sawmillv1.LogBatch) { b.Records[0].Body = strings.Repeat("x", 65<<10) }, "batch.records[0].body"},
		"too many attributes": {func(b *sawmillv1.LogBatch) { b.Records[0].AttributesJson = manyKeys(200) }, "batch.records[0].attributes_json"},
		"severity beyond 24":  {func(b *sawmillv1.LogBatch) { b.Records[0].SeverityNumber = 99 }, "batch.records[0].severity_number"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			b := Batch("svc", 3, now)
			c.mutate(b)
			_, err := Push(ctx, ingest, b)
			require.Error(t, err)
			st := status.Convert(err)
			assert.Equal(t, codes.InvalidArgument, st.Code(), st.Message())
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
						assert.NotEmpty(t, v.GetDescription())
					}
				}
			}
			assert.Contains(t, fields, c.field)
		})
	}
	_, err := ingest.Push(ctx, &sawmillv1.PushRequest{})
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "a request without a batch")
	// Nothing of the rejected batches was stored: whole or nothing.
	time.Sleep(200 * time.Millisecond)
	assert.Zero(t, s.Count(t, nil))
	// The server is still fine.
	_, err = Push(ctx, ingest, Batch("svc", 3, now))
	require.NoError(t, err)
	assert.Equal(t, uint64(3), s.WaitCount(t, nil, 3, 5*time.Second))
}

func manyKeys(n int) []byte {
	var sb strings.Builder
	sb.WriteByte('{')
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `"k%d":%d`, i, i)
	}
	sb.WriteByte('}')
	return []byte(sb.String())
}

// TestEmbeddedCrashAfterAck pushes from several goroutines, kills the
// server with SIGKILL right after the acks (before the store drained), and
// checks that every acked record is found after a restart, once.
func TestEmbeddedCrashAfterAck(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	ingest := sawmillv1.NewIngestServiceClient(s.Conn(t))
	var acked atomic.Int64
	var batches []*sawmillv1.LogBatch
	for i := 0; i < 200; i++ {
		batches = append(batches, Batch(fmt.Sprintf("svc-%d", i%3), 500, time.Now()))
	}
	var wg sync.WaitGroup
	work := make(chan *sawmillv1.LogBatch)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				if _, err := Push(ctx, ingest, b); err == nil {
					acked.Add(int64(len(b.Records)))
				} else {
					t.Errorf("push: %v", err)
				}
			}
		}()
	}
	for _, b := range batches {
		work <- b
	}
	close(work)
	wg.Wait()
	s.Kill() // right after the last ack
	require.Equal(t, int64(100000), acked.Load())

	s.Restart()
	assert.Equal(t, uint64(100000), s.WaitCount(t, nil, 100000, 60*time.Second), "every acked record after the crash")
	// Clients that retry batches whose ack they never saw store nothing twice.
	for _, b := range batches[:20] {
		r, err := Push(ctx, sawmillv1.NewIngestServiceClient(s.Conn(t)), b)
		require.NoError(t, err)
		assert.Equal(t, uint32(500), r.GetAccepted())
	}
	time.Sleep(500 * time.Millisecond)
	assert.Equal(t, uint64(100000), s.Count(t, nil), "no duplicates")
}

func TestEmbeddedGracefulStop(t *testing.T) {
	s := Start(t)
	ingest := sawmillv1.NewIngestServiceClient(s.Conn(t))
	for i := 0; i < 50; i++ {
		_, err := Push(context.Background(), ingest, Batch("svc", 1000, time.Now()))
		require.NoError(t, err)
	}
	require.NoError(t, s.Stop(30*time.Second), "SIGTERM exits 0")
	assert.Contains(t, s.Logs(), `"queued_batches_left":0`, "the queue drained into the store before exit")
	s.Restart()
	assert.Equal(t, uint64(50000), s.Count(t, nil))
}

func TestEmbeddedTokens(t *testing.T) {
	s := Start(t, "--token", "s3cret", "--token", "other")
	ctx := context.Background()
	ingest := sawmillv1.NewIngestServiceClient(s.Conn(t))
	_, err := Push(ctx, ingest, Batch("svc", 1, time.Now()))
	assert.Equal(t, codes.Unauthenticated, status.Code(err))
	_, err = Push(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer wrong"), ingest, Batch("svc", 1, time.Now()))
	assert.Equal(t, codes.Unauthenticated, status.Code(err))
	_, err = Push(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer other"), ingest, Batch("svc", 2, time.Now()))
	require.NoError(t, err)

	var eb struct {
		Error string `json:"error"`
	}
	assert.Equal(t, http.StatusUnauthorized, s.Get(t, "/api/v1/logs/count", nil, &eb))
	assert.NotEmpty(t, eb.Error)
	assert.Equal(t, http.StatusUnauthorized, s.Get(t, "/api/v1/logs/count", nil, &eb, "Authorization", "Bearer nope"))
	var c struct {
		Count uint64 `json:"count"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Count != 2 && time.Now().Before(deadline) {
		require.Equal(t, http.StatusOK, s.Get(t, "/api/v1/logs/count", nil, &c, "Authorization", "Bearer s3cret"))
		time.Sleep(20 * time.Millisecond)
	}
	assert.Equal(t, uint64(2), c.Count)
	// Health and metrics stay open for probes and scrapers.
	assert.Equal(t, http.StatusOK, s.Get(t, "/healthz", nil, nil))
	assert.Equal(t, http.StatusOK, s.Get(t, "/readyz", nil, nil))
}

func TestEmbeddedLiveTail(t *testing.T) {
	s := Start(t)
	req, err := http.NewRequest(http.MethodGet, "http://"+s.HTTPAddr+"/api/v1/tail?service=tailme&level=warn", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))

	ingest := sawmillv1.NewIngestServiceClient(s.Conn(t))
	b := Batch("tailme", 10, time.Now())
	b.Records[3].SeverityNumber = sawmillv1.SeverityNumber_SEVERITY_NUMBER_WARN
	b.Records[7].SeverityNumber = sawmillv1.SeverityNumber_SEVERITY_NUMBER_FATAL
	pushed := time.Now()
	_, err = Push(ctx, ingest, b)
	require.NoError(t, err)
	_, err = Push(ctx, ingest, Batch("other", 10, time.Now()))
	require.NoError(t, err)

	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var got []entryJSON
	for len(got) < 2 && sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		var ev struct {
			Logs []entryJSON `json:"logs"`
		}
		require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev))
		got = append(got, ev.Logs...)
	}
	require.Len(t, got, 2)
	assert.Less(t, time.Since(pushed), 2*time.Second, "tail latency")
	assert.Equal(t, b.GetBatchId()+"~3", got[0].ID, "tail ids are the stored ids")
	assert.Equal(t, "warn", got[0].Level)
	assert.Equal(t, "fatal", got[1].Level)
}

// TestLoadgenSmoke runs the README's first-client command against a fresh
// server and finds every record.
func TestLoadgenSmoke(t *testing.T) {
	s := Start(t)
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	cmd := exec.Command("go", "run", "./examples/loadgen", "--target", s.GRPCAddr, "--service", "demo", "--rate", "20000", "--duration", "1s")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "acked=20000")
	assert.Equal(t, uint64(20000), s.WaitCount(t, url.Values{"service": {"demo"}}, 20000, 30*time.Second))
	var p pageJSON
	require.Equal(t, http.StatusOK, s.Get(t, "/api/v1/logs", url.Values{"service": {"demo"}, "level": {"warn"}, "limit": {"5"}}, &p))
	require.Len(t, p.Logs, 5)
	for _, e := range p.Logs {
		assert.Contains(t, []string{"warn", "error"}, e.Level)
	}
}
