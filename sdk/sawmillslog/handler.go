package sawmillslog

import (
	"context"
	"log/slog"
	"runtime"
	"slices"
	"sync"

	"go.opentelemetry.io/otel/trace"

	"github.com/sawmill-dev/sawmill/sdk"
)

// Keys with a meaning of their own among a record's top-level attributes.
const (
	TraceIDKey = "trace_id" // 32 hex digits: becomes the record's trace id
	SpanIDKey  = "span_id"  // 16 hex digits: becomes the record's span id
)

// Options configure a Handler.
type Options struct {
	// Level is the minimum level handled (default slog.LevelInfo).
	Level slog.Leveler
	// AddSource records the caller's file, line and function.
	AddSource bool
}

// Handler is a slog.Handler sending records to a Sawmill client.
type Handler struct {
	client *sawmill.Client
	opts   Options

	prefix  []byte        // attributes from WithAttrs, not closed
	state   sawmill.State // to resume from prefix
	pending []string      // groups opened by WithGroup with no attribute yet
	ids     ids           // trace/span ids and error from WithAttrs
}

type ids struct {
	traceID  [16]byte
	spanID   [8]byte
	hasError bool
	err      sawmill.ErrorInfo
}

var _ slog.Handler = (*Handler)(nil)

// New returns a handler sending to client. The client is shared, not
// owned: close it yourself after the logger's last use.
func New(client *sawmill.Client, opts *Options) *Handler {
	h := &Handler{client: client}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.Level == nil {
		h.opts.Level = slog.LevelInfo
	}
	return h
}

// Enabled reports whether level is at least the handler's level.
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.opts.Level.Level()
}

// WithAttrs returns a handler whose records carry attrs.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	e := getEnc()
	defer putEnc(e)
	e.a.Restore(h.prefix, h.state)
	e.ids = h.ids
	e.pending = append(e.pending[:0], h.pending...)
	for _, a := range attrs {
		e.attr(a, e.a.Depth() == 1 && len(e.pending) == 0)
	}
	prefix, st := e.a.Save()
	child := *h
	child.prefix = append([]byte(nil), prefix...)
	child.state = st
	child.pending = slices.Clone(e.pending)
	child.ids = e.ids
	return &child
}

// WithGroup returns a handler nesting later attributes under name. A group
// that ends up with no attribute is left out, as slog requires.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	child := *h
	child.pending = append(slices.Clone(h.pending), name)
	return &child
}

// Handle sends one record. Records dropped by the client's full-buffer
// policy are counted by the client and reported to its OnError, not
// returned. It never panics: a panicking LogValuer or marshaler becomes
// an attribute describing the panic.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	e := getEnc()
	defer putEnc(e)
	e.a.Restore(h.prefix, h.state)
	e.ids = h.ids
	e.pending = append(e.pending[:0], h.pending...)
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		e.ids.traceID, e.ids.spanID = sc.TraceID(), sc.SpanID()
	}
	r.Attrs(func(a slog.Attr) bool {
		e.attr(a, e.a.Depth() == 1 && len(e.pending) == 0)
		return true
	})
	rec := &e.rec
	*rec = sawmill.Record{
		Time:         r.Time,
		Severity:     severity(r.Level),
		SeverityText: r.Level.String(),
		Body:         r.Message,
		Attrs:        &e.a,
		TraceID:      e.ids.traceID,
		SpanID:       e.ids.spanID,
	}
	if e.ids.hasError {
		rec.Error = e.ids.err
	}
	if h.opts.AddSource && r.PC != 0 {
		f, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
		rec.Source = sawmill.Source{File: f.File, Line: f.Line, Function: f.Function}
	}
	_ = h.client.Log(rec) // drops are counted and reported by the client
	return nil
}

// severity maps slog levels to the OpenTelemetry scale as the OpenTelemetry
// slog bridge does: level + 9, so DEBUG=5, INFO=9, WARN=13, ERROR=17.
func severity(l slog.Level) sawmill.Severity {
	return sawmill.Severity(min(max(int(l)+9, 1), 24))
}

// enc is the per-call scratch state.
type enc struct {
	a       sawmill.Attrs
	rec     sawmill.Record
	ids     ids
	pending []string
}

var encPool = sync.Pool{New: func() any { return &enc{} }}

func getEnc() *enc { return encPool.Get().(*enc) }

func putEnc(e *enc) {
	if e.a.Cap() > 256<<10 {
		return
	}
	e.rec = sawmill.Record{}
	e.ids = ids{}
	encPool.Put(e)
}

// openPending opens the groups waiting for their first attribute.
func (e *enc) openPending() {
	for _, g := range e.pending {
		e.a.Key(g)
		e.a.BeginObject()
	}
	e.pending = e.pending[:0]
}

// attr writes one attribute; top says it is at the top level of the
// record (where trace ids and errors become record fields).
func (e *enc) attr(a slog.Attr, top bool) {
	v := resolve(a.Value)
	if a.Key == "" && v.Kind() == slog.KindAny && v.Any() == nil {
		return // an empty Attr is ignored
	}
	switch v.Kind() {
	case slog.KindGroup:
		attrs := v.Group()
		if len(attrs) == 0 {
			return
		}
		if a.Key == "" { // inline the group's attributes
			for _, ga := range attrs {
				e.attr(ga, top)
			}
			return
		}
		e.openPending()
		e.a.Key(a.Key)
		e.a.BeginObject()
		for _, ga := range attrs {
			e.attr(ga, false)
		}
		e.a.EndObject()
		return
	case slog.KindString:
		if top {
			switch a.Key {
			case TraceIDKey:
				if id, ok := sawmill.ParseTraceID(v.String()); ok {
					e.ids.traceID = id
					return
				}
			case SpanIDKey:
				if id, ok := sawmill.ParseSpanID(v.String()); ok {
					e.ids.spanID = id
					return
				}
			}
		}
	case slog.KindAny:
		if err, ok := v.Any().(error); ok && top && !e.ids.hasError {
			e.ids.hasError = true
			e.ids.err = sawmill.ErrorInfoOf(err)
			if a.Key == "error" || a.Key == "err" {
				return
			}
			e.openPending()
			e.a.Key(a.Key)
			e.a.String(e.ids.err.Message)
			return
		}
	}
	e.openPending()
	e.a.Key(a.Key)
	value(&e.a, v)
}

// resolve resolves LogValuers, recovering a panicking one (slog itself
// recovers too, this keeps the record whatever the Go version).
func resolve(v slog.Value) (out slog.Value) {
	defer func() {
		if r := recover(); r != nil {
			out = slog.StringValue("PANIC in LogValue: " + slog.AnyValue(r).String())
		}
	}()
	return v.Resolve()
}

func value(a *sawmill.Attrs, v slog.Value) {
	switch v.Kind() {
	case slog.KindString:
		a.String(v.String())
	case slog.KindInt64:
		a.Int(v.Int64())
	case slog.KindUint64:
		a.Uint(v.Uint64())
	case slog.KindFloat64:
		a.Float(v.Float64())
	case slog.KindBool:
		a.Bool(v.Bool())
	case slog.KindDuration:
		a.Duration(v.Duration())
	case slog.KindTime:
		a.Time(v.Time())
	case slog.KindGroup:
		a.BeginObject()
		for _, ga := range v.Group() {
			gv := resolve(ga.Value)
			if ga.Key == "" && gv.Kind() == slog.KindAny && gv.Any() == nil {
				continue
			}
			a.Key(ga.Key)
			value(a, gv)
		}
		a.EndObject()
	default: // KindAny, KindLogValuer already resolved
		a.Any(v.Any())
	}
}
