// Command stackcheck drives requests through the three example services
// and checks, through Sawmill's HTTP API, that their logs arrived: the
// right service names, severities, trace ids shared across services,
// request ids, and error stacks. scripts/stack-local.sh runs it against
// the stack it starts; it works against docker compose too:
//
//	stackcheck --api http://127.0.0.1:7080 --api http://127.0.0.1:7081 \
//	  --orders http://127.0.0.1:8081 --users http://127.0.0.1:8082 \
//	  --payments http://127.0.0.1:8083 --token "$DASHBOARD_TOKEN"
//
// Every --api (one per sawmill replica) must show every log: replicas
// share the store. It exits 0 when every expectation is met before
// --timeout, 1 otherwise, listing what is missing.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "stackcheck:", err)
		os.Exit(1)
	}
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, strings.TrimRight(v, "/")); return nil }

type options struct {
	apis                    []string
	orders, users, payments string
	token                   string
	timeout                 time.Duration
	shutdown                bool
}

func run(args []string) error {
	var o options
	var apis listFlag
	fs := flag.NewFlagSet("stackcheck", flag.ContinueOnError)
	fs.Var(&apis, "api", "sawmill HTTP base URL (repeatable: every replica is checked)")
	fs.StringVar(&o.orders, "orders", "http://127.0.0.1:8081", "orders service base URL")
	fs.StringVar(&o.users, "users", "http://127.0.0.1:8082", "users service base URL")
	fs.StringVar(&o.payments, "payments", "http://127.0.0.1:8083", "payments service base URL")
	fs.StringVar(&o.token, "token", "", "bearer token of sawmill's HTTP API")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "longest wait for the logs to arrive")
	fs.BoolVar(&o.shutdown, "shutdown", false, "send nothing; check that the services' last logs (\"<service> stopped\", logged just before they flush and exit) arrived")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.apis = apis
	if len(o.apis) == 0 {
		o.apis = []string{"http://127.0.0.1:7080"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()

	var exps []expectation
	if o.shutdown {
		for _, svc := range []string{"orders", "users", "payments"} {
			exps = append(exps, info(svc, svc+" stopped"))
		}
	} else {
		run := newID(4)
		var err error
		if exps, err = drive(ctx, o, run); err != nil {
			return err
		}
		fmt.Printf("stackcheck: %d requests sent (run %s); waiting for %d logs in %d sawmill API(s)\n", len(scenarios), run, len(exps), len(o.apis))
	}
	for _, api := range o.apis {
		if err := waitFor(ctx, api, o.token, exps); err != nil {
			return fmt.Errorf("%s: %w", api, err)
		}
		fmt.Printf("stackcheck: %s shows all %d expected logs\n", api, len(exps))
	}
	if o.shutdown {
		fmt.Printf("stack check passed: the last log of every service arrived (flushed on SIGTERM)\n")
		return nil
	}
	fmt.Printf("stack check passed: %d expectations, services orders, users, payments\n", len(exps))
	return nil
}

// scenario is one request and the logs it must produce.
type scenario struct {
	name   string
	method string
	svc    string // which service receives it: orders, users, payments
	path   string
	body   string
	fault  bool // send X-Fault: db
	status int
	logs   []expectation
}

// expectation is one log that must arrive.
type expectation struct {
	Service  string
	Level    string // info, warn, error
	Severity int    // 9, 13, 17
	Body     string
	// Stack, when set, must appear in the error's stack (a frame name).
	Stack string
	// ErrorType, when set, is the error's type.
	ErrorType string

	trace, request, scenario string // filled by drive
}

func info(svc, body string) expectation {
	return expectation{Service: svc, Level: "info", Severity: 9, Body: body}
}
func warn(svc, body string) expectation {
	return expectation{Service: svc, Level: "warn", Severity: 13, Body: body}
}
func fail(svc, body, stack, typ string) expectation {
	return expectation{Service: svc, Level: "error", Severity: 17, Body: body, Stack: stack, ErrorType: typ}
}

var scenarios = []scenario{
	{name: "order paid", method: "POST", svc: "orders", path: "/orders", body: `{"user_id":"u1","amount_cents":1250,"currency":"EUR"}`, status: 201,
		logs: []expectation{info("orders", "order created"), info("users", "user found"), info("payments", "payment captured"),
			info("orders", "request served"), info("users", "request served"), info("payments", "request served")}},
	{name: "unknown user", method: "POST", svc: "orders", path: "/orders", body: `{"user_id":"u404","amount_cents":500}`, status: 422,
		logs: []expectation{warn("orders", "order refused: unknown user"), warn("users", "user not found")}},
	{name: "payment declined", method: "POST", svc: "orders", path: "/orders", body: `{"user_id":"u2","amount_cents":90000}`, status: 402,
		logs: []expectation{warn("orders", "payment declined"), warn("payments", "payment declined"), info("users", "user found")}},
	{name: "orders store down", method: "POST", svc: "orders", path: "/orders", body: `{"user_id":"u3","amount_cents":700}`, fault: true, status: 500,
		logs: []expectation{fail("orders", "save order", "main.(*service).createOrder", "*fmt.wrapError"), info("users", "user found")}},
	{name: "users directory down", method: "GET", svc: "users", path: "/users/u1", fault: true, status: 500,
		logs: []expectation{fail("users", "look up user", "main.(*service).lookup", "*main.stackError")}},
	{name: "payments ledger down", method: "POST", svc: "payments", path: "/payments", body: `{"order_id":"ord_x","amount_cents":100}`, fault: true, status: 500,
		logs: []expectation{fail("payments", "capture payment", "createPayment", "LedgerUnavailableError")}},
	{name: "payment not found", method: "GET", svc: "payments", path: "/payments/pay_missing", status: 404,
		logs: []expectation{warn("payments", "payment not found")}},
	{name: "invalid user", method: "POST", svc: "users", path: "/users", body: `{"name":""}`, status: 400,
		logs: []expectation{warn("users", "invalid user request")}},
}

// drive sends every scenario's request with its own trace and request id
// and returns the expectations with those ids filled in.
func drive(ctx context.Context, o options, run string) ([]expectation, error) {
	base := map[string]string{"orders": o.orders, "users": o.users, "payments": o.payments}
	var out []expectation
	for i, sc := range scenarios {
		trace := newID(16)
		reqID := fmt.Sprintf("stack-%s-%d", run, i)
		req, err := http.NewRequestWithContext(ctx, sc.method, base[sc.svc]+sc.path, strings.NewReader(sc.body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Traceparent", "00-"+trace+"-"+newID(8)+"-01")
		req.Header.Set("X-Request-Id", reqID)
		if sc.fault {
			req.Header.Set("X-Fault", "db")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%s: %s %s: %w", sc.name, sc.method, req.URL, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		if resp.StatusCode != sc.status {
			return nil, fmt.Errorf("%s: %s %s: status %d, want %d: %s", sc.name, sc.method, req.URL, resp.StatusCode, sc.status, body)
		}
		if got := resp.Header.Get("X-Trace-Id"); got != trace {
			return nil, fmt.Errorf("%s: X-Trace-Id %q, want the caller's trace %s", sc.name, got, trace)
		}
		for _, e := range sc.logs {
			e.trace, e.request, e.scenario = trace, reqID, sc.name
			out = append(out, e)
		}
	}
	return out, nil
}

// entry is the part of sawmill's log entry the checks read.
type entry struct {
	Service        string         `json:"service"`
	Instance       string         `json:"instance"`
	Level          string         `json:"level"`
	SeverityNumber int            `json:"severity_number"`
	Body           string         `json:"body"`
	TraceID        string         `json:"trace_id"`
	SpanID         string         `json:"span_id"`
	Attributes     map[string]any `json:"attributes"`
	Error          *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Stack   string `json:"stack"`
	} `json:"error"`
}

// waitFor polls the API until every expectation is met or ctx ends.
func waitFor(ctx context.Context, api, token string, exps []expectation) error {
	var missing []string
	for {
		logs, err := fetch(ctx, api, token)
		if err == nil {
			missing = check(logs, exps)
			if len(missing) == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("query logs: %w", err)
			}
			return fmt.Errorf("%d of %d expected logs missing or wrong when the time ran out:\n  %s", len(missing), len(exps), strings.Join(missing, "\n  "))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// fetch returns the newest logs of the three services (at most 1000 each).
func fetch(ctx context.Context, api, token string) ([]entry, error) {
	var all []entry
	for _, svc := range []string{"orders", "users", "payments"} {
		q := url.Values{"service": {svc}, "limit": {"1000"}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/api/v1/logs?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(io.LimitReader(resp.Body, 64<<20))
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: status %d: %s", req.URL, resp.StatusCode, body.String())
		}
		var page struct {
			Logs []entry `json:"logs"`
		}
		if err := json.Unmarshal(body.Bytes(), &page); err != nil {
			return nil, fmt.Errorf("GET %s: decode: %w", req.URL, err)
		}
		all = append(all, page.Logs...)
	}
	return all, nil
}

// check returns one line per expectation no log meets.
func check(logs []entry, exps []expectation) []string {
	var missing []string
	for _, e := range exps {
		var near []string
		found := false
		for _, l := range logs {
			if l.Body != e.Body || l.Service != e.Service || (e.trace != "" && l.TraceID != e.trace) {
				continue
			}
			if p := problems(l, e); len(p) > 0 {
				near = append(near, strings.Join(p, "; "))
				continue
			}
			found = true
			break
		}
		if !found {
			line := fmt.Sprintf("[%s] %s %s %q (trace %s)", e.scenario, e.Service, e.Level, e.Body, e.trace)
			if len(near) > 0 {
				line += ": found but " + near[0]
			} else {
				line += ": not found"
			}
			missing = append(missing, line)
		}
	}
	return missing
}

// problems lists how a log with the right service, body and trace falls
// short of e.
func problems(l entry, e expectation) []string {
	var p []string
	if l.Level != e.Level || l.SeverityNumber != e.Severity {
		p = append(p, fmt.Sprintf("level %s/%d, want %s/%d", l.Level, l.SeverityNumber, e.Level, e.Severity))
	}
	if l.Instance == "" {
		p = append(p, "no instance")
	}
	if e.request == "" {
		return p // not a request's log
	}
	if len(l.SpanID) != 16 {
		p = append(p, fmt.Sprintf("span id %q", l.SpanID))
	}
	if rid, _ := l.Attributes["request_id"].(string); rid != e.request {
		p = append(p, fmt.Sprintf("request_id %q, want %q", rid, e.request))
	}
	if e.Stack != "" || e.ErrorType != "" {
		switch {
		case l.Error == nil:
			p = append(p, "no error")
		case !strings.Contains(l.Error.Stack, e.Stack) || strings.Count(l.Error.Stack, "\n") < 2:
			p = append(p, fmt.Sprintf("error stack without %q: %.300q", e.Stack, l.Error.Stack))
		case !strings.Contains(l.Error.Type, e.ErrorType):
			p = append(p, fmt.Sprintf("error type %q, want %q", l.Error.Type, e.ErrorType))
		case l.Error.Message == "":
			p = append(p, "error without message")
		}
	}
	return p
}

func newID(bytes int) string {
	b := make([]byte, bytes)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b)
}
