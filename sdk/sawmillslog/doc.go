// Package sawmillslog sends log/slog records to Sawmill: New returns a
// slog.Handler over a sawmill.Client.
//
// Attributes map as in sawmillzap: strings, ints (no fraction), uints,
// floats (always a fraction or exponent), bools, durations ("1.5s"),
// times (RFC 3339), groups as nested objects (WithGroup nests every later
// attribute; a group with no attribute is left out), LogValuers resolved,
// any other value walked like encoding/json with ints and floats kept
// apart. The first top-level error value becomes the record's error
// (type, message, %+v form as stack when it differs); under the keys
// "error" and "err" it is not repeated as an attribute. Trace and span ids
// come from the OpenTelemetry span in the context passed to the logging
// call (slog.InfoContext and friends) or from top-level "trace_id" /
// "span_id" string attributes.
//
// Guarantees: Handle never panics and never starts a goroutine; it blocks
// no longer than the client's full-buffer policy allows; a handler and
// its derived handlers are safe for concurrent use and share the client.
// The handler passes testing/slogtest.
package sawmillslog
