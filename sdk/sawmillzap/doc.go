// Package sawmillzap sends zap logs to Sawmill: NewCore returns a
// zapcore.Core to use alone or next to existing cores with zapcore.NewTee.
//
// Every zap field type becomes a typed attribute (log.proto's JSON rules):
// strings, integers (no fraction), floats (always a fraction or exponent;
// NaN/Inf as strings), bools, durations (Go duration strings such as
// "1.5s"), times (RFC 3339 with nanoseconds), complex numbers (strings),
// binary ({"$bytes":"<base64>"}), byte strings (text), stringers,
// zap.Object/zap.Array marshalers (nested objects/arrays), zap.Namespace
// (nesting until the end of the entry), zap.Any/zap.Reflect on maps,
// slices and structs (walked like encoding/json, ints and floats kept
// apart), and zap.Inline.
//
// Some fields become record fields instead: the first error (zap.Error or
// zap.NamedError) fills the record's error (type as %T prints it, message,
// and the %+v form as stack when it differs); string fields "trace_id" (32
// hex digits) and "span_id" (16 hex digits), or Context(ctx) carrying an
// OpenTelemetry span, fill the record's trace and span ids. The entry's
// caller becomes the record's source location and its stack trace the
// error's stack (or a "stacktrace" attribute when the error has one).
//
// Guarantees: Write never panics into the caller (a panicking marshaler
// becomes a key+"Error" attribute) and never starts a goroutine; it
// blocks no longer than the client's full-buffer policy allows, except
// that DPanic, Panic and Fatal entries are flushed (bounded by the sync
// timeout) before Write returns, because zap may end the process next.
// Sync really flushes: it returns once the server acknowledged everything
// logged before it, or an error after the timeout. Constructors have no
// global side effects.
package sawmillzap
