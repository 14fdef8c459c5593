package sawmillzap

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/sawmill-dev/sawmill/sdk"
)

// DefaultSyncTimeout bounds Sync and the flush done for DPanic, Panic and
// Fatal entries.
const DefaultSyncTimeout = 5 * time.Second

// Option configures a core.
type Option func(*core)

// WithSyncTimeout sets how long Sync (and the flush of a DPanic, Panic or
// Fatal entry) waits for the server's acknowledgement (default 5s).
func WithSyncTimeout(d time.Duration) Option {
	return func(c *core) {
		if d > 0 {
			c.syncTimeout = d
		}
	}
}

// core is the zapcore.Core. A core made by With shares the client and keeps
// its own encoded fields.
type core struct {
	zapcore.LevelEnabler
	client      *sawmill.Client
	syncTimeout time.Duration

	prefix []byte        // attributes written by With, not closed
	state  sawmill.State // to resume from prefix
	ctx    fieldsFromWith
}

// fieldsFromWith are record-level values taken from With fields.
type fieldsFromWith struct {
	traceID  [16]byte
	spanID   [8]byte
	hasError bool
	err      sawmill.ErrorInfo
}

var _ zapcore.Core = (*core)(nil)

// NewCore returns a zapcore.Core that sends entries enabled by enab to
// client. It has no global side effects; combine it with the cores you
// already have using zapcore.NewTee. The client is shared, not owned:
// close it yourself (defer client.Close(ctx)) after the logger's last use.
func NewCore(client *sawmill.Client, enab zapcore.LevelEnabler, opts ...Option) zapcore.Core {
	c := &core{LevelEnabler: enab, client: client, syncTimeout: DefaultSyncTimeout}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Level reports the minimum enabled level when the enabler can tell.
func (c *core) Level() zapcore.Level { return zapcore.LevelOf(c.LevelEnabler) }

func (c *core) With(fields []zapcore.Field) zapcore.Core {
	if len(fields) == 0 {
		return c
	}
	e := getEncoder()
	defer putEncoder(e)
	e.a.Restore(c.prefix, c.state)
	e.with = c.ctx
	e.addFields(fields)
	prefix, st := e.a.Save()
	child := *c
	child.prefix = append([]byte(nil), prefix...)
	child.state = st
	child.ctx = e.with
	return &child
}

func (c *core) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

// Write sends one entry. Records dropped by the client's buffer policy are
// counted by the client (and reported to its OnError), not returned here,
// so an overloaded server does not flood zap's ErrorOutput. DPanic, Panic
// and Fatal entries are flushed before Write returns, since zap may end
// the process right after.
func (c *core) Write(ent zapcore.Entry, fields []zapcore.Field) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sawmillzap: write %q: recovered panic: %v", ent.Message, r)
		}
	}()
	e := getEncoder()
	defer putEncoder(e)
	e.a.Restore(c.prefix, c.state)
	e.with = c.ctx
	e.addFields(fields)

	rec := &e.rec
	*rec = sawmill.Record{
		Time:         ent.Time,
		Severity:     severity(ent.Level),
		SeverityText: ent.Level.String(),
		Body:         ent.Message,
		Attrs:        &e.a,
		TraceID:      e.with.traceID,
		SpanID:       e.with.spanID,
		Logger:       ent.LoggerName,
	}
	if e.with.hasError {
		rec.Error = e.with.err
	}
	if ent.Caller.Defined {
		rec.Source = sawmill.Source{File: ent.Caller.File, Line: ent.Caller.Line, Function: ent.Caller.Function}
	}
	if ent.Stack != "" {
		if rec.Error.Stack == "" {
			rec.Error.Stack = ent.Stack
		} else {
			e.a.CloseTo(1)
			e.a.Key("stacktrace")
			e.a.String(ent.Stack)
		}
	}
	logErr := c.client.Log(rec)
	if ent.Level > zapcore.ErrorLevel {
		ctx, cancel := context.WithTimeout(context.Background(), c.syncTimeout)
		defer cancel()
		if ferr := c.client.Flush(ctx); ferr != nil {
			return fmt.Errorf("sawmillzap: flush %s entry: %w", ent.Level, ferr)
		}
		if logErr != nil && !errors.Is(logErr, sawmill.ErrClosed) {
			return fmt.Errorf("sawmillzap: %s entry: %w", ent.Level, logErr)
		}
	}
	return nil
}

// Sync flushes the client: it returns once everything logged so far is
// acknowledged by the server, or with an error after the sync timeout.
func (c *core) Sync() error {
	ctx, cancel := context.WithTimeout(context.Background(), c.syncTimeout)
	defer cancel()
	if err := c.client.Flush(ctx); err != nil {
		return fmt.Errorf("sawmillzap: sync: %w", err)
	}
	return nil
}

// severity maps zap levels to the OpenTelemetry scale: DPanic, Panic and
// Fatal are all FATAL (21), told apart by the severity text.
func severity(l zapcore.Level) sawmill.Severity {
	switch {
	case l < zapcore.DebugLevel:
		return sawmill.SeverityTrace
	case l == zapcore.DebugLevel:
		return sawmill.SeverityDebug
	case l == zapcore.InfoLevel:
		return sawmill.SeverityInfo
	case l == zapcore.WarnLevel:
		return sawmill.SeverityWarn
	case l == zapcore.ErrorLevel:
		return sawmill.SeverityError
	default:
		return sawmill.SeverityFatal
	}
}

var encoderPool = sync.Pool{New: func() any { return &encoder{} }}

func getEncoder() *encoder { return encoderPool.Get().(*encoder) }

func putEncoder(e *encoder) {
	if e.a.Cap() > 256<<10 {
		return // let an unusually large buffer go
	}
	e.rec = sawmill.Record{}
	e.with = fieldsFromWith{}
	encoderPool.Put(e)
}
