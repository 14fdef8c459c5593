// Package reqctx carries what the example services log with every request:
// a request id (the X-Request-Id header, or a fresh one) and the W3C trace
// context (the traceparent header: a trace id shared by every service a
// request crosses, and a span id of this service's own).
//
// It stands in for an OpenTelemetry SDK so the examples stay small: a
// service that already runs OpenTelemetry passes its context to the logger
// instead (sawmillzap.Context(ctx), slog's *Context functions) and the
// Sawmill transports read the span from there.
//
// Guarantees: FromRequest never fails; a missing or malformed header
// starts a new trace rather than an error. Ids come from crypto/rand.
package reqctx
