package reqctx

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseTraceParent(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		trace   string
		sampled bool
		ok      bool
	}{
		{"sampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "4bf92f3577b34da6a3ce929d0e0e4736", true, true},
		{"not sampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "4bf92f3577b34da6a3ce929d0e0e4736", false, true},
		{"spaces around", " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ", "4bf92f3577b34da6a3ce929d0e0e4736", true, true},
		{"empty", "", "", false, false},
		{"upper-case hex", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "", false, false},
		{"zero trace", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "", false, false},
		{"zero span", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "", false, false},
		{"other version", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "", false, false},
		{"short trace", "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01", "", false, false},
		{"extra part", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trace, sampled, ok := ParseTraceParent(tt.in)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.trace, trace)
			assert.Equal(t, tt.sampled, sampled)
		})
	}
}

func TestFromRequest(t *testing.T) {
	t.Run("keeps the caller's trace and request id, opens a new span", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set(HeaderTraceParent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		r.Header.Set(HeaderRequestID, "req-42")
		in := FromRequest(r)
		assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", in.TraceID)
		assert.Equal(t, "req-42", in.RequestID)
		assert.Len(t, in.SpanID, 16)
		assert.NotEqual(t, "00f067aa0ba902b7", in.SpanID)
		assert.Equal(t, "00-4bf92f3577b34da6a3ce929d0e0e4736-"+in.SpanID+"-01", in.TraceParent())
	})
	t.Run("starts a trace and a request id when there are none", func(t *testing.T) {
		in := FromRequest(httptest.NewRequest(http.MethodGet, "/", nil))
		_, _, ok := ParseTraceParent(in.TraceParent())
		assert.True(t, ok, in.TraceParent())
		assert.Len(t, in.RequestID, 16)
	})
	t.Run("refuses request ids with control characters or too long", func(t *testing.T) {
		for _, bad := range []string{"a\nb", "a b", string(make([]byte, 65))} {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set(HeaderRequestID, bad)
			assert.NotEqual(t, bad, FromRequest(r).RequestID)
		}
	})
}

func TestMiddleware(t *testing.T) {
	var seen Info
	h := Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen = From(r.Context()) }))
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set(HeaderTraceParent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.ServeHTTP(w, r)
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", seen.TraceID)
	assert.Equal(t, seen.TraceID, w.Header().Get(HeaderTraceID))
	assert.Equal(t, seen.RequestID, w.Header().Get(HeaderRequestID))

	out := http.Header{}
	seen.Propagate(out)
	assert.Equal(t, seen.TraceParent(), out.Get(HeaderTraceParent))
	assert.Equal(t, seen.RequestID, out.Get(HeaderRequestID))
}
