package reqctx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
)

// Headers read and written.
const (
	HeaderRequestID   = "X-Request-Id"
	HeaderTraceParent = "Traceparent"
	HeaderTraceID     = "X-Trace-Id" // set on responses, for people pasting it into the dashboard
)

// Info is one request's identity.
type Info struct {
	RequestID string // at most 64 printable ASCII characters
	TraceID   string // 32 lower-case hex digits, never all zero
	SpanID    string // 16 lower-case hex digits: this service's span
	Sampled   bool   // the traceparent's sampled flag (new traces are sampled)
}

// FromRequest reads the request id and trace context of r and opens a new
// span in it.
func FromRequest(r *http.Request) Info {
	in := Info{RequestID: cleanRequestID(r.Header.Get(HeaderRequestID)), SpanID: newID(8)}
	if in.RequestID == "" {
		in.RequestID = newID(8)
	}
	if tid, sampled, ok := ParseTraceParent(r.Header.Get(HeaderTraceParent)); ok {
		in.TraceID, in.Sampled = tid, sampled
	} else {
		in.TraceID, in.Sampled = newID(16), true
	}
	return in
}

// TraceParent is the traceparent header to send downstream: same trace,
// this service's span as the parent.
func (in Info) TraceParent() string {
	flags := "00"
	if in.Sampled {
		flags = "01"
	}
	return "00-" + in.TraceID + "-" + in.SpanID + "-" + flags
}

// Propagate sets the request id and traceparent headers of an outgoing
// request.
func (in Info) Propagate(h http.Header) {
	h.Set(HeaderRequestID, in.RequestID)
	h.Set(HeaderTraceParent, in.TraceParent())
}

// ParseTraceParent reads a version-00 W3C traceparent header
// ("00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"). It reports
// false for anything else, including all-zero ids.
func ParseTraceParent(v string) (traceID string, sampled, ok bool) {
	p := strings.Split(strings.TrimSpace(v), "-")
	if len(p) != 4 || p[0] != "00" || !isHex(p[1], 32) || !isHex(p[2], 16) || !isHex(p[3], 2) {
		return "", false, false
	}
	if allZero(p[1]) || allZero(p[2]) {
		return "", false, false
	}
	flags, _ := hex.DecodeString(p[3])
	return p[1], flags[0]&1 == 1, true
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool { return strings.Trim(s, "0") == "" }

// cleanRequestID keeps a caller's request id when it is short printable
// ASCII, so a client cannot inject control characters into the logs.
func cleanRequestID(v string) string {
	if len(v) == 0 || len(v) > 64 {
		return ""
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return ""
		}
	}
	return v
}

func newID(bytes int) string {
	b := make([]byte, bytes)
	for {
		_, _ = rand.Read(b) // never fails (crypto/rand documents it)
		if !allZero(hex.EncodeToString(b)) {
			return hex.EncodeToString(b)
		}
	}
}

type ctxKey struct{}

// With returns ctx carrying in.
func With(ctx context.Context, in Info) context.Context { return context.WithValue(ctx, ctxKey{}, in) }

// From returns the Info in ctx (zero when there is none).
func From(ctx context.Context) Info {
	in, _ := ctx.Value(ctxKey{}).(Info)
	return in
}

// Middleware puts the request's Info into its context and echoes the
// request and trace ids on the response.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := FromRequest(r)
		w.Header().Set(HeaderRequestID, in.RequestID)
		w.Header().Set(HeaderTraceID, in.TraceID)
		next.ServeHTTP(w, r.WithContext(With(r.Context(), in)))
	})
}
