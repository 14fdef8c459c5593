package auth

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	protoenc "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

func TestCheck(t *testing.T) {
	open := New(nil)
	assert.False(t, open.Enabled())
	assert.True(t, open.Check(""))

	tk := New([]string{"alpha", " beta ", ""})
	assert.True(t, tk.Enabled())
	for h, want := range map[string]bool{
		"Bearer alpha": true, "bearer beta": true, "Bearer  beta": true,
		"Bearer gamma": false, "alpha": false, "Basic alpha": false, "": false, "Bearer ": false,
	} {
		assert.Equal(t, want, tk.Check(h), "%q", h)
	}
}

func TestMiddleware(t *testing.T) {
	h := New([]string{"tok"}).Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	for _, c := range []struct {
		url, header string
		code        int
	}{
		{"/api/v1/logs", "", http.StatusUnauthorized},
		{"/api/v1/logs", "Bearer nope", http.StatusUnauthorized},
		{"/api/v1/logs", "Bearer tok", http.StatusTeapot},
		{"/api/v1/tail?access_token=tok", "", http.StatusTeapot},
		{"/api/v1/tail?access_token=bad", "", http.StatusUnauthorized},
	} {
		r := httptest.NewRequest(http.MethodGet, c.url, nil)
		if c.header != "" {
			r.Header.Set("Authorization", c.header)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		assert.Equal(t, c.code, w.Code, "%s %q", c.url, c.header)
		if c.code == http.StatusUnauthorized {
			assert.JSONEq(t, `{"error":"missing or invalid bearer token"}`, w.Body.String())
		}
	}
}

func TestRouter(t *testing.T) {
	r := Router{Default: New([]string{"ingest"}), ByService: map[string]*Tokens{"sawmill.v1.QueryService": New([]string{"ingest", "ui"})}}
	ok := func(method, tok string) bool {
		_, err := r.TapHandle(context.Background(), &tap.Info{FullMethodName: method, Header: metadata.Pairs("authorization", "Bearer "+tok)})
		if err != nil {
			assert.Equal(t, codes.Unauthenticated, status.Code(err))
		}
		return err == nil
	}
	assert.True(t, ok("/sawmill.v1.QueryService/Search", "ui"))
	assert.True(t, ok("/sawmill.v1.QueryService/Search", "ingest"))
	assert.False(t, ok("/sawmill.v1.IngestService/Push", "ui"), "the dashboard token cannot ingest")
	assert.True(t, ok("/sawmill.v1.IngestService/Push", "ingest"))
	assert.False(t, ok("/sawmill.v1.QueryService/Search", "nope"))
	assert.False(t, ok("/grpc.health.v1.Health/Check", "ui"), "other services take the default tokens")
	_, err := Router{}.TapHandle(context.Background(), &tap.Info{FullMethodName: "/sawmill.v1.IngestService/Push"})
	assert.NoError(t, err, "no tokens configured: open")
}

// countingCodec is the standard protobuf codec counting the request
// messages it decodes.
type countingCodec struct {
	encoding.CodecV2
	decoded atomic.Int64
}

func (c *countingCodec) Unmarshal(data mem.BufferSlice, v any) error {
	c.decoded.Add(1)
	return c.CodecV2.Unmarshal(data, v)
}

type ingestOK struct {
	sawmillv1.UnimplementedIngestServiceServer
}

func (ingestOK) Push(context.Context, *sawmillv1.PushRequest) (*sawmillv1.PushResponse, error) {
	return &sawmillv1.PushResponse{Accepted: 1}, nil
}

func (ingestOK) PushStream(s sawmillv1.IngestService_PushStreamServer) error {
	for {
		if _, err := s.Recv(); err != nil {
			return nil
		}
		if err := s.Send(&sawmillv1.PushStreamResponse{Accepted: 1}); err != nil {
			return err
		}
	}
}

// TestGRPCRefusesBeforeDecode runs the router on a real gRPC server: a call
// without a valid token is answered Unauthenticated and its request, 4 MiB
// here, is never decoded; an authorised call goes through, on every service.
func TestGRPCRefusesBeforeDecode(t *testing.T) {
	codec := &countingCodec{CodecV2: encoding.GetCodecV2(protoenc.Name)}
	r := Router{Default: New([]string{"ingest"}), ByService: map[string]*Tokens{"sawmill.v1.QueryService": New([]string{"ingest", "ui"})}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.InTapHandle(r.TapHandle), grpc.ForceServerCodecV2(codec), grpc.MaxRecvMsgSize(16<<20))
	sawmillv1.RegisterIngestServiceServer(srv, ingestOK{})
	sawmillv1.RegisterQueryServiceServer(srv, sawmillv1.UnimplementedQueryServiceServer{})
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(16<<20)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ingest := sawmillv1.NewIngestServiceClient(conn)
	query := sawmillv1.NewQueryServiceClient(conn)

	big := &sawmillv1.PushRequest{Batch: &sawmillv1.LogBatch{BatchId: "b", Resource: &sawmillv1.Resource{Service: "svc"}}}
	for range 64 {
		big.Batch.Records = append(big.Batch.Records, &sawmillv1.LogRecord{Body: strings.Repeat("x", 64<<10)})
	}
	withToken := func(tok string) context.Context {
		if tok == "" {
			return context.Background()
		}
		return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
	}
	for _, tok := range []string{"", "nope", "ui"} {
		_, err := ingest.Push(withToken(tok), big)
		assert.Equal(t, codes.Unauthenticated, status.Code(err), "Push with token %q: %v", tok, err)

		stream, err := ingest.PushStream(withToken(tok))
		require.NoError(t, err)
		_ = stream.Send(&sawmillv1.PushStreamRequest{Batch: big.Batch})
		_, err = stream.Recv()
		assert.Equal(t, codes.Unauthenticated, status.Code(err), "PushStream with token %q: %v", tok, err)

		if tok != "ui" {
			_, err = query.ListServices(withToken(tok), &sawmillv1.ListServicesRequest{})
			assert.Equal(t, codes.Unauthenticated, status.Code(err), "ListServices with token %q: %v", tok, err)
		}
	}
	assert.Zero(t, codec.decoded.Load(), "a refused request is never decoded")

	resp, err := ingest.Push(withToken("ingest"), big)
	require.NoError(t, err)
	assert.Equal(t, uint32(1), resp.GetAccepted())
	_, err = query.ListServices(withToken("ui"), &sawmillv1.ListServicesRequest{})
	assert.Equal(t, codes.Unimplemented, status.Code(err), "the dashboard token passes on QueryService")
	assert.Equal(t, int64(2), codec.decoded.Load())
}
