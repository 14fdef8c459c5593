package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/sdk/sawmilltest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"

// fakes of the users and payments services (the real ones run in
// examples/deploy's stack test).
func fakeUsers(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Contains(t, r.Header.Get("Traceparent"), traceID, "trace propagated to users")
		if r.URL.Path == "/users/u1" {
			_, _ = w.Write([]byte(`{"id":"u1"}`))
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func fakePayments(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Contains(t, r.Header.Get("Traceparent"), traceID, "trace propagated to payments")
		var req struct {
			AmountCents int64 `json:"amount_cents"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/json")
		if req.AmountCents > 50000 {
			w.WriteHeader(http.StatusPaymentRequired)
			_, _ = w.Write([]byte(`{"id":"pay_2","status":"declined","reason":"amount over the card limit"}`))
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"pay_1","status":"captured"}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestOrdersLogToSawmill(t *testing.T) {
	ingest := sawmilltest.New(t, sawmilltest.WithToken("secret"))
	ctx := context.Background()
	cfg := configFromEnv(func(k string) string {
		return map[string]string{"LOG_ENDPOINT": ingest.Addr(), "LOG_TOKEN": "secret", "INSTANCE": "orders-test"}[k]
	})
	log, client, err := newLogger(ctx, cfg)
	require.NoError(t, err)
	h := newService(log, fakeUsers(t).URL, fakePayments(t).URL).routes()

	tests := []struct {
		body   string
		fault  bool
		status int
	}{
		{`{"user_id":"u1","amount_cents":1250}`, false, http.StatusCreated},
		{`{"user_id":"u404","amount_cents":1250}`, false, http.StatusUnprocessableEntity},
		{`{"user_id":"u1","amount_cents":90000}`, false, http.StatusPaymentRequired},
		{`{"user_id":"u1","amount_cents":1250}`, true, http.StatusInternalServerError},
		{`not json`, false, http.StatusBadRequest},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(tt.body))
		r.Header.Set("Traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
		r.Header.Set("X-Request-Id", "req-1")
		if tt.fault {
			r.Header.Set(HeaderFault, "db")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		assert.Equal(t, tt.status, w.Code, "%s: %s", tt.body, w.Body.String())
		assert.Equal(t, traceID, w.Header().Get("X-Trace-Id"))
	}
	_ = log.Sync()
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, client.Close(closeCtx))

	byBody := map[string]*sawmillv1.LogRecord{}
	for _, b := range ingest.Batches() {
		assert.Equal(t, "orders", b.GetResource().GetService())
		assert.Equal(t, "orders-test", b.GetResource().GetInstance())
		for _, rec := range b.GetRecords() {
			byBody[rec.GetBody()] = rec
			assert.Equal(t, traceID, hex.EncodeToString(rec.GetTraceId()), rec.GetBody())
			assert.Len(t, rec.GetSpanId(), 8, rec.GetBody())
			assert.Contains(t, string(rec.GetAttributesJson()), `"request_id":"req-1"`, rec.GetBody())
		}
	}
	for body, sev := range map[string]sawmillv1.SeverityNumber{
		"order created":               sawmillv1.SeverityNumber_SEVERITY_NUMBER_INFO,
		"request served":              sawmillv1.SeverityNumber_SEVERITY_NUMBER_INFO,
		"order refused: unknown user": sawmillv1.SeverityNumber_SEVERITY_NUMBER_WARN,
		"payment declined":            sawmillv1.SeverityNumber_SEVERITY_NUMBER_WARN,
		"invalid order request":       sawmillv1.SeverityNumber_SEVERITY_NUMBER_WARN,
		"save order":                  sawmillv1.SeverityNumber_SEVERITY_NUMBER_ERROR,
	} {
		if assert.Contains(t, byBody, body) {
			assert.Equal(t, sev, byBody[body].GetSeverityNumber(), body)
		}
	}
	if rec := byBody["save order"]; rec != nil {
		assert.Contains(t, rec.GetError().GetMessage(), "order store unavailable")
		assert.Contains(t, rec.GetError().GetStack(), "(*service).createOrder", "zap's stack trace is the error's stack")
	}
}
