package main

import (
	"context"
	"encoding/hex"
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

func TestUsersLogToSawmill(t *testing.T) {
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	ingest := sawmilltest.New(t)
	ctx := context.Background()
	cfg := configFromEnv(func(k string) string {
		return map[string]string{"LOG_ENDPOINT": ingest.Addr(), "INSTANCE": "users-test", "SERVICE_ENV": "test"}[k]
	})
	log, client, err := newLogger(ctx, cfg)
	require.NoError(t, err)
	h := newService(log).routes()

	tests := []struct {
		method, path, body string
		fault              bool
		status             int
	}{
		{"GET", "/users/u1", "", false, http.StatusOK},
		{"GET", "/users/u404", "", false, http.StatusNotFound},
		{"GET", "/users/u1", "", true, http.StatusInternalServerError},
		{"POST", "/users", `{"name":"Ada","email":"ada@example.com"}`, false, http.StatusCreated},
		{"POST", "/users", `{"name":""}`, false, http.StatusBadRequest},
		{"GET", "/healthz", "", false, http.StatusOK},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
		r.Header.Set("Traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
		r.Header.Set("X-Request-Id", "req-7")
		if tt.fault {
			r.Header.Set(HeaderFault, "db")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		assert.Equal(t, tt.status, w.Code, "%s %s: %s", tt.method, tt.path, w.Body.String())
	}
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, client.Close(closeCtx))

	byBody := map[string]*sawmillv1.LogRecord{}
	served := 0
	for _, b := range ingest.Batches() {
		assert.Equal(t, "users", b.GetResource().GetService())
		assert.Equal(t, "test", b.GetResource().GetEnvironment())
		for _, rec := range b.GetRecords() {
			byBody[rec.GetBody()] = rec
			if rec.GetBody() == "request served" {
				served++
			}
			assert.Equal(t, traceID, hex.EncodeToString(rec.GetTraceId()), rec.GetBody())
			assert.Contains(t, string(rec.GetAttributesJson()), `"request_id":"req-7"`, rec.GetBody())
			assert.NotContains(t, string(rec.GetAttributesJson()), `"trace_id"`, "trace ids are record fields, not attributes")
		}
	}
	assert.Equal(t, 5, served, "one access log per request, none for /healthz")
	for body, sev := range map[string]sawmillv1.SeverityNumber{
		"user found":           sawmillv1.SeverityNumber_SEVERITY_NUMBER_INFO,
		"user created":         sawmillv1.SeverityNumber_SEVERITY_NUMBER_INFO,
		"user not found":       sawmillv1.SeverityNumber_SEVERITY_NUMBER_WARN,
		"invalid user request": sawmillv1.SeverityNumber_SEVERITY_NUMBER_WARN,
		"look up user":         sawmillv1.SeverityNumber_SEVERITY_NUMBER_ERROR,
	} {
		if assert.Contains(t, byBody, body) {
			assert.Equal(t, sev, byBody[body].GetSeverityNumber(), body)
		}
	}
	if rec := byBody["look up user"]; rec != nil {
		assert.Equal(t, "*main.stackError", rec.GetError().GetType())
		assert.Contains(t, rec.GetError().GetMessage(), "user directory unavailable")
		assert.Contains(t, rec.GetError().GetStack(), "(*service).lookup", "the error's %+v stack")
		assert.Contains(t, rec.GetError().GetStack(), "users/service.go:")
		assert.NotContains(t, string(rec.GetAttributesJson()), `"error"`, "the error is the record's, not repeated as an attribute")
		assert.Equal(t, "getUser", rec.GetSource().GetFunction()[strings.LastIndex(rec.GetSource().GetFunction(), ".")+1:])
	}
}
