package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
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
		md := metadata.Pairs("authorization", "Bearer "+tok)
		ctx := metadata.NewIncomingContext(context.Background(), md)
		_, err := r.UnaryInterceptor(ctx, nil, &grpc.UnaryServerInfo{FullMethod: method}, func(context.Context, any) (any, error) { return nil, nil })
		return err == nil
	}
	assert.True(t, ok("/sawmill.v1.QueryService/Search", "ui"))
	assert.True(t, ok("/sawmill.v1.QueryService/Search", "ingest"))
	assert.False(t, ok("/sawmill.v1.IngestService/Push", "ui"), "the dashboard token cannot ingest")
	assert.True(t, ok("/sawmill.v1.IngestService/Push", "ingest"))
	assert.False(t, ok("/sawmill.v1.QueryService/Search", "nope"))
}
