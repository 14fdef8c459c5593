package sawmillzap

import (
	"context"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Context returns a field carrying the OpenTelemetry span of ctx: the
// Sawmill core stores its ids as the record's trace_id and span_id; other
// cores (a console core in a Tee) print them as trace_id and span_id
// fields. Without a valid span in ctx the field is skipped.
//
//	logger.Info("order created", sawmillzap.Context(ctx), zap.Int("order", id))
func Context(ctx context.Context) zap.Field {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return zap.Skip()
	}
	return zap.Inline(spanContextFields{traceID: sc.TraceID(), spanID: sc.SpanID()})
}

// spanContextFields is recognised by the Sawmill core; for other encoders
// it marshals as two hex string fields.
type spanContextFields struct {
	traceID [16]byte
	spanID  [8]byte
}

func (s spanContextFields) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString(TraceIDKey, trace.TraceID(s.traceID).String())
	enc.AddString(SpanIDKey, trace.SpanID(s.spanID).String())
	return nil
}
