// Command pusher sends log records through the Go SDK for the dashboard's
// end-to-end tests. It reads one JSON record per line on stdin; an empty
// line (or the end of input) flushes every client and, once the server has
// acknowledged everything, prints "acked <n>" on stdout. One SDK client is
// kept per service.
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
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	sawmill "github.com/sawmill-dev/sawmill/sdk"
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

var severities = map[string]sawmill.Severity{
	"trace": sawmill.SeverityTrace, "debug": sawmill.SeverityDebug, "info": sawmill.SeverityInfo,
	"warn": sawmill.SeverityWarn, "error": sawmill.SeverityError, "fatal": sawmill.SeverityFatal,
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
	errs          chan error
	sent          int
}

func run(in io.Reader, out io.Writer) error {
	target := flag.String("target", "127.0.0.1:7070", "Sawmill gRPC address")
	token := flag.String("token", "", "bearer token")
	flag.Parse()
	p := &pusher{target: *target, token: *token, clients: map[string]*sawmill.Client{}, errs: make(chan error, 16)}
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

func (p *pusher) client(service, instance string) (*sawmill.Client, error) {
	if c, ok := p.clients[service]; ok {
		return c, nil
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
	return c, nil
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
	c, err := p.client(in.Service, in.Instance)
	if err != nil {
		return err
	}
	sev, ok := severities[strings.ToLower(in.Level)]
	if !ok {
		sev = sawmill.SeverityInfo
	}
	r := &sawmill.Record{Time: time.Now(), Severity: sev, SeverityText: in.Level, Body: in.Body, Logger: in.Logger,
		Error: sawmill.ErrorInfo{Type: in.Error.Type, Message: in.Error.Message, Stack: in.Error.Stack}}
	if in.Time != "" {
		if r.Time, err = time.Parse(time.RFC3339Nano, in.Time); err != nil {
			return fmt.Errorf("record time %q: %w", in.Time, err)
		}
	}
	if in.TraceID != "" {
		if err := hexInto(r.TraceID[:], in.TraceID); err != nil {
			return fmt.Errorf("trace_id: %w", err)
		}
	}
	if in.SpanID != "" {
		if err := hexInto(r.SpanID[:], in.SpanID); err != nil {
			return fmt.Errorf("span_id: %w", err)
		}
	}
	if len(in.Attrs) > 0 {
		var a sawmill.Attrs
		keys := make([]string, 0, len(in.Attrs))
		for k := range in.Attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			a.Key(k)
			a.Any(in.Attrs[k])
		}
		r.Attrs = &a
	}
	if err := c.Log(r); err != nil {
		return fmt.Errorf("log: %w", err)
	}
	p.sent++
	return nil
}

func hexInto(dst []byte, s string) error {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(dst) {
		return fmt.Errorf("want %d hex bytes, got %q", len(dst), s)
	}
	copy(dst, b)
	return nil
}

// flush waits until every record logged so far is acknowledged.
func (p *pusher) flush(out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, c := range p.clients {
		if err := c.Flush(ctx); err != nil {
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
