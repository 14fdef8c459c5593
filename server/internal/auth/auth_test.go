package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
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
