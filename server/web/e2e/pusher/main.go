// Command pusher sends log records the way a Go service does — through a
// zap logger whose core is the SDK's sawmillzap — for the dashboard's
// end-to-end tests. It reads one JSON record per line on stdin; an empty
// line (or the end of input) syncs every logger and, once the server has
// acknowledged everything, prints "acked <n>" on stdout. One SDK client and
// logger are kept per service.
//
//	{"service":"orders","level":"error","body":"...","attrs":{"k":"v"},
//	 "trace_id":"32 hex","span_id":"16 hex","error":{"type":"","message":"","stack":""},
//	 "time":"RFC 3339 (optional)","instance":"orders-1"}
//
//	GOWORK=off go run ./e2e/pusher --target 127.0.0.1:7070 < records.ndjson
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	sawmill "github.com/sawmill-dev/sawmill/sdk"
	"github.com/sawmill-dev/sawmill/sdk/sawmillzap"
)

type input struct {
	Service  string         `json:"service"`
	Instance string         `json:"instance"`
	Level    string         `json:"level"`
	Body     string         `json:"body"`
	Attrs    map[string]any `json:"attrs"`
	TraceID  string         `json:"trace_id"`
	SpanID   string         `json:"span_id"`
	Time     string         `json:"time"`
	Logger   string         `json:"logger"`
	Error    struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Stack   string `json:"stack"`
	} `json:"error"`
}

var levels = map[string]zapcore.Level{
	"trace": zapcore.DebugLevel, "debug": zapcore.DebugLevel, "info": zapcore.InfoLevel,
	"warn": zapcore.WarnLevel, "error": zapcore.ErrorLevel,
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pusher:", err)
		os.Exit(1)
	}
}

type pusher struct {
	target, token string
	clients       map[string]*sawmill.Client
	loggers       map[string]*zap.Logger
	errs          chan error
	sent          int
}

func run(in io.Reader, out io.Writer) error {
	target := flag.String("target", "127.0.0.1:7070", "Sawmill gRPC address")
	token := flag.String("token", "", "bearer token")
	flag.Parse()
	p := &pusher{target: *target, token: *token, clients: map[string]*sawmill.Client{}, loggers: map[string]*zap.Logger{}, errs: make(chan error, 16)}
	defer p.close()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	pending := false
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			if err := p.flush(out); err != nil {
				return err
			}
			pending = false
			continue
		}
		if err := p.log(line); err != nil {
			return err
		}
		pending = true
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	if pending {
		return p.flush(out)
	}
	return nil
}

func (p *pusher) logger(service, instance string) (*zap.Logger, error) {
	if l, ok := p.loggers[service]; ok {
		return l, nil
	}
	c, err := sawmill.New(context.Background(), sawmill.Config{
		Endpoint:      p.target,
		Token:         p.token,
		Resource:      sawmill.Resource{Service: service, Instance: instance, Environment: "e2e", Version: "1.0.0"},
		FlushInterval: 10 * time.Millisecond,
		FullPolicy:    sawmill.Block,
		BlockTimeout:  10 * time.Second,
		OnError: func(err error) {
			var drop *sawmill.DropError
			if errors.As(err, &drop) {
				select {
				case p.errs <- err:
				default:
				}
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("sdk client for %q: %w", service, err)
	}
	p.clients[service] = c
	l := zap.New(sawmillzap.NewCore(c, zapcore.DebugLevel))
	p.loggers[service] = l
	return l, nil
}

func (p *pusher) log(line []byte) error {
	var in input
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("record %q: %w", line, err)
	}
	if in.Service == "" {
		return fmt.Errorf("record %q: no service", line)
	}
	if in.Instance == "" {
		in.Instance = in.Service + "-1"
	}
	l, err := p.logger(in.Service, in.Instance)
	if err != nil {
		return err
	}
	if in.Logger != "" {
		l = l.Named(in.Logger)
	}
	lvl, ok := levels[strings.ToLower(in.Level)]
	if !ok {
		lvl = zapcore.InfoLevel
	}
	ce := l.Check(lvl, in.Body)
	if ce == nil {
		return fmt.Errorf("level %q is not enabled", in.Level)
	}
	if in.Time != "" {
		if ce.Time, err = time.Parse(time.RFC3339Nano, in.Time); err != nil {
			return fmt.Errorf("record time %q: %w", in.Time, err)
		}
	}
	keys := make([]string, 0, len(in.Attrs))
	for k := range in.Attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fields := make([]zap.Field, 0, len(keys)+3)
	for _, k := range keys {
		fields = append(fields, zap.Any(k, numbers(in.Attrs[k])))
	}
	// sawmillzap turns these string fields into the record's trace and span ids.
	if in.TraceID != "" {
		fields = append(fields, zap.String("trace_id", in.TraceID))
	}
	if in.SpanID != "" {
		fields = append(fields, zap.String("span_id", in.SpanID))
	}
	if in.Error.Message != "" {
		// zap.Error fills the record's error; the entry's stack becomes its stack.
		fields = append(fields, zap.Error(&pushedError{msg: in.Error.Message}))
		ce.Stack = in.Error.Stack
	}
	ce.Write(fields...)
	p.sent++
	return nil
}

// pushedError is an error as a service would log it. The record's error
// type is its Go type as sawmillzap reports it (%T), so the input's
// error.type is not used.
type pushedError struct{ msg string }

func (e *pushedError) Error() string { return e.msg }

// numbers turns JSON numbers into int64 (when integral) or float64, so
// attributes keep their JSON types, recursively.
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64() // a valid JSON number
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	}
	return v
}

// flush waits until every record logged so far is acknowledged.
func (p *pusher) flush(out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, l := range p.loggers {
		_ = l.Sync() // sawmillzap's Sync flushes with its own timeout; Flush below reports errors
		if err := p.clients[name].Flush(ctx); err != nil {
			return fmt.Errorf("flush %s: %w", name, err)
		}
	}
	select {
	case err := <-p.errs:
		return err
	default:
	}
	_, err := fmt.Fprintf(out, "acked %d\n", p.sent)
	return err
}

func (p *pusher) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range p.clients {
		_ = c.Close(ctx)
	}
}
