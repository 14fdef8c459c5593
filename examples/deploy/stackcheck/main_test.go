package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheck(t *testing.T) {
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	good := func() entry {
		e := entry{Service: "users", Instance: "users-1", Level: "error", SeverityNumber: 17, Body: "look up user",
			TraceID: trace, SpanID: "00f067aa0ba902b7", Attributes: map[string]any{"request_id": "r1"}}
		e.Error = &struct {
			Type    string `json:"type"`
			Message string `json:"message"`
			Stack   string `json:"stack"`
		}{Type: "*main.stackError", Message: "boom", Stack: "boom\nmain.(*service).lookup\n\tservice.go:1\nmain.main\n\tmain.go:2"}
		return e
	}
	exp := fail("users", "look up user", "main.(*service).lookup", "*main.stackError")
	exp.trace, exp.request, exp.scenario = trace, "r1", "s"

	tests := []struct {
		name   string
		change func(*entry)
		want   string // part of the report; "" means found
	}{
		{"matches", func(*entry) {}, ""},
		{"other trace", func(e *entry) { e.TraceID = "5bf92f3577b34da6a3ce929d0e0e4736" }, "not found"},
		{"other service", func(e *entry) { e.Service = "orders" }, "not found"},
		{"wrong level", func(e *entry) { e.Level, e.SeverityNumber = "warn", 13 }, "level warn/13, want error/17"},
		{"no span", func(e *entry) { e.SpanID = "" }, "span id"},
		{"no instance", func(e *entry) { e.Instance = "" }, "no instance"},
		{"other request", func(e *entry) { e.Attributes["request_id"] = "r2" }, `request_id "r2", want "r1"`},
		{"no error", func(e *entry) { e.Error = nil }, "no error"},
		{"stack without the frame", func(e *entry) { e.Error.Stack = "boom\nmain.main\n\tmain.go:2\nx" }, "error stack without"},
		{"one-line stack", func(e *entry) { e.Error.Stack = "main.(*service).lookup" }, "error stack without"},
		{"wrong error type", func(e *entry) { e.Error.Type = "*errors.errorString" }, "error type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := good()
			tt.change(&e)
			missing := check([]entry{e}, []expectation{exp})
			if tt.want == "" {
				assert.Empty(t, missing)
				return
			}
			if assert.Len(t, missing, 1) {
				assert.Contains(t, missing[0], tt.want)
			}
		})
	}
}

func TestCheckShutdownLogsNeedNoRequest(t *testing.T) {
	e := entry{Service: "orders", Instance: "orders-1", Level: "info", SeverityNumber: 9, Body: "orders stopped"}
	assert.Empty(t, check([]entry{e}, []expectation{info("orders", "orders stopped")}))
	assert.Len(t, check(nil, []expectation{info("orders", "orders stopped")}), 1)
}
