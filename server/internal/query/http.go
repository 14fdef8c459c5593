package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"time"

	"go.uber.org/zap"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/live"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// Status reports the pipeline's health for the dashboard and /api/v1/status.
type Status struct {
	QueueBatches int64  `json:"queue_batches"`
	QueueBytes   int64  `json:"queue_bytes"`
	Ingested     int64  `json:"ingested_records"`
	Stored       int64  `json:"stored_records"`
	Rejected     int64  `json:"rejected_records"` // refused for good (invalid)
	Refused      int64  `json:"refused_records"`  // answered "retry" (full, unavailable); retried ones may be in Ingested too
	LiveDropped  int64  `json:"live_dropped_batches"`
	Mode         string `json:"mode"`

	// DiskRefusing is why ingest refuses batches for want of disk space
	// (embedded mode); empty while it accepts them.
	DiskRefusing string `json:"disk_refusing,omitempty"`
}

// API serves the HTTP JSON API.
type API struct {
	Store  store.Reader
	Hub    *live.Hub
	Status func() Status
	Logger *zap.Logger
	Now    func() time.Time
	// TailInterval is the least time between two tail events (default 100ms).
	TailInterval time.Duration
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Register adds the API's routes to mux.
// Every route rejects a query parameter it does not take (see CheckParams).
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/logs", a.only(a.search, FilterParams, []string{"limit", "order", "cursor"}))
	mux.HandleFunc("GET /api/v1/logs/count", a.only(a.count, FilterParams))
	mux.HandleFunc("GET /api/v1/logs/{id}", a.only(a.get, []string{"surrounding"}))
	mux.HandleFunc("GET /api/v1/tail", a.only(a.tail, FilterParams, []string{"rate"}))
	mux.HandleFunc("GET /api/v1/recent", a.only(a.recent, []string{"service", "limit"}))
	mux.HandleFunc("GET /api/v1/stats", a.only(a.stats, FilterParams, []string{"step"}))
	mux.HandleFunc("GET /api/v1/services", a.only(a.services))
	mux.HandleFunc("GET /api/v1/live", a.only(a.liveCounts, []string{"seconds"}))
	mux.HandleFunc("GET /api/v1/status", a.only(a.status))
	mux.HandleFunc("GET /api/v1/traces/{trace_id}", a.only(a.trace, []string{"limit", "from", "to"}))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "", fmt.Sprintf("no API route %s %s", r.Method, r.URL.Path))
	})
}

// only wraps h so that a request with a query parameter outside allowed is
// answered 400 naming it, never served with the parameter ignored.
func (a *API) only(h http.HandlerFunc, allowed ...[]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := CheckParams(r.URL.Query(), allowed...); err != nil {
			a.fail(w, r, err)
			return
		}
		h(w, r)
	}
}

type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, field, msg string) {
	writeJSON(w, code, errorBody{Error: msg, Field: field})
}

// fail answers err with the right status.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *ParamError
	var ue *UnknownParamError
	switch {
	case errors.As(err, &ue):
		writeError(w, http.StatusBadRequest, ue.Param, ue.Error())
	case errors.As(err, &pe):
		writeError(w, http.StatusBadRequest, pe.Param, pe.Error())
	case errors.Is(err, store.ErrBadCursor):
		writeError(w, http.StatusBadRequest, "cursor", err.Error())
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "", "no such log")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, "", "request canceled or timed out")
	default:
		if a.Logger != nil {
			a.Logger.Error("query", zap.String("path", r.URL.Path), zap.Error(err))
		}
		writeError(w, http.StatusInternalServerError, "", "internal error")
	}
}

func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, &ParamError{name, fmt.Sprintf("want an integer %d-%d, got %q", lo, hi, s)}
	}
	return n, nil
}

func (a *API) search(w http.ResponseWriter, r *http.Request) {
	f, err := FilterFromQuery(r.URL.Query(), a.now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	limit, err := intParam(r, "limit", store.DefaultLimit, 1, store.MaxLimit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	order := r.URL.Query().Get("order")
	if order != "" && order != "asc" && order != "desc" {
		a.fail(w, r, &ParamError{"order", "want asc or desc"})
		return
	}
	p, err := a.Store.Search(r.Context(), store.SearchQuery{Filter: f, Limit: limit, Cursor: r.URL.Query().Get("cursor"), OldestFirst: order == "asc"})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"logs": ToEntries(p.Entries), "next_cursor": p.NextCursor})
}

func (a *API) count(w http.ResponseWriter, r *http.Request) {
	f, err := FilterFromQuery(r.URL.Query(), a.now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	n, err := a.Store.Count(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]uint64{"count": n})
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	n, err := intParam(r, "surrounding", 0, 0, 100)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d, err := a.Store.Get(r.Context(), r.PathValue("id"), n)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"log": ToEntry(d.Entry), "before": ToEntries(d.Before), "after": ToEntries(d.After)})
}

func (a *API) recent(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit", 0, 0, 100000)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	f, err := FilterFromQuery(r.URL.Query(), a.now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	type svcLogs struct {
		Service string  `json:"service"`
		Logs    []Entry `json:"logs"`
	}
	m := a.Hub.Recent(f.Services, limit)
	out := make([]svcLogs, 0, len(m))
	for svc, es := range m {
		out = append(out, svcLogs{Service: svc, Logs: ToEntries(es)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	writeJSON(w, http.StatusOK, map[string]any{"services": out})
}

// Bucket is the JSON form of a stats bucket.
type Bucket struct {
	Start    string `json:"start"`
	Service  string `json:"service"`
	Level    string `json:"level"`
	Severity int32  `json:"severity"`
	Count    uint64 `json:"count"`
}

func (a *API) stats(w http.ResponseWriter, r *http.Request) {
	f, err := FilterFromQuery(r.URL.Query(), a.now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var step time.Duration
	if s := r.URL.Query().Get("step"); s != "" {
		if step, err = parseDuration(s); err != nil {
			a.fail(w, r, &ParamError{"step", err.Error()})
			return
		}
	}
	if step, err = StatsWindow(&f, step, a.now()); err != nil {
		a.fail(w, r, err)
		return
	}
	bs, err := a.Store.Stats(r.Context(), store.StatsQuery{Filter: f, Step: step})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]Bucket, len(bs))
	for i, b := range bs {
		out[i] = Bucket{Start: b.Start.Format(time.RFC3339), Service: b.Service, Level: store.LevelName(b.Severity), Severity: b.Severity, Count: b.Count}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"step_seconds": int64(step / time.Second),
		"from":         time.Unix(0, f.From).UTC().Format(time.RFC3339Nano),
		"to":           time.Unix(0, f.To).UTC().Format(time.RFC3339Nano),
		"buckets":      out,
	})
}

// ServiceJSON describes a service.
type ServiceJSON struct {
	Name          string  `json:"name"`
	LastSeen      string  `json:"last_seen,omitempty"`
	RatePerSecond float64 `json:"rate_per_second"`
	Total         uint64  `json:"total"`
}

// ServiceList merges stored services with live rates, by name. A service
// seen live but not stored yet has no last-seen time.
func ServiceList(ctx context.Context, s store.Reader, h *live.Hub) ([]*sawmillv1.ServiceInfo, error) {
	svcs, err := s.Services(ctx)
	if err != nil {
		return nil, err
	}
	rates := h.Rate()
	out := make([]*sawmillv1.ServiceInfo, 0, len(svcs))
	seen := map[string]bool{}
	for _, sv := range svcs {
		seen[sv.Name] = true
		out = append(out, &sawmillv1.ServiceInfo{Name: sv.Name, LastSeenUnixNano: uint64(sv.LastSeen.UnixNano()), RatePerSecond: rates[sv.Name], Total: sv.Total})
	}
	for name, rate := range rates {
		if !seen[name] {
			out = append(out, &sawmillv1.ServiceInfo{Name: name, RatePerSecond: rate})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out, nil
}

func (a *API) services(w http.ResponseWriter, r *http.Request) {
	svcs, err := ServiceList(r.Context(), a.Store, a.Hub)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]ServiceJSON, len(svcs))
	for i, sv := range svcs {
		out[i] = ServiceJSON{Name: sv.GetName(), RatePerSecond: sv.GetRatePerSecond(), Total: sv.GetTotal()}
		if sv.GetLastSeenUnixNano() != 0 {
			out[i].LastSeen = rfc3339(sv.GetLastSeenUnixNano())
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"services": out})
}

func (a *API) liveCounts(w http.ResponseWriter, r *http.Request) {
	secs, err := intParam(r, "seconds", 60, 1, 300)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	type point struct {
		Second  int64             `json:"second"`
		Service string            `json:"service"`
		Levels  map[string]uint64 `json:"levels"`
	}
	var out []point
	for _, c := range a.Hub.Counts(secs) {
		p := point{Second: c.Second, Service: c.Service, Levels: map[string]uint64{}}
		for i, n := range c.Levels {
			if n > 0 {
				p.Levels[store.LevelName(int32(i*4+1))] = n
			}
		}
		out = append(out, p)
	}
	writeJSON(w, http.StatusOK, map[string]any{"now": a.now().Unix(), "points": out})
}

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	var st Status
	if a.Status != nil {
		st = a.Status()
	}
	writeJSON(w, http.StatusOK, st)
}

// writeEvent writes one Server-Sent Event with v as its JSON data.
func writeEvent(w io.Writer, event string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data)
	return err
}

// GapJSON is the data of a tail's "gap" event: records may be missing from
// the tail between From and To (they are stored; search shows them).
type GapJSON struct {
	From string `json:"from"`
	To   string `json:"to"`
	// MissedRecords is nil when the count is unknown.
	MissedRecords *int64 `json:"missed_records"`
	Reason        string `json:"reason"`
}

// tail streams matching records as Server-Sent Events: an event "logs" with
// {"logs":[...],"skipped":N} at most every TailInterval, an event "gap"
// (GapJSON) when records may be missing from the tail, a comment line every
// 15 s to keep proxies from closing an idle stream, and, when the server
// stops, an event "closing" before the stream ends (an EventSource then
// reconnects, to another replica behind a load balancer).
func (a *API) tail(w http.ResponseWriter, r *http.Request) {
	f, err := FilterFromQuery(r.URL.Query(), a.now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rate, err := intParam(r, "rate", live.DefaultTailRate, 1, live.MaxTailRate)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "", "streaming unsupported")
		return
	}
	sub := a.Hub.Subscribe(f, rate)
	defer sub.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, ": tail open\n\n")
	fl.Flush()
	interval := a.TailInterval
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		u, err := sub.Next(r.Context(), interval, ping.C)
		if errors.Is(err, live.ErrStopping) {
			// A graceful stop waits for every handler: end the stream,
			// asking the client to come back in a second.
			_, _ = io.WriteString(w, "retry: 1000\n")
			_ = writeEvent(w, "closing", map[string]string{"reason": "server stopping"})
			fl.Flush()
			return
		}
		if err != nil {
			return
		}
		if g := u.Gap; g != nil {
			gj := GapJSON{From: g.From.UTC().Format(time.RFC3339Nano), To: g.To.UTC().Format(time.RFC3339Nano), Reason: g.Reason}
			if g.Records >= 0 {
				gj.MissedRecords = &g.Records
			}
			err = writeEvent(w, "gap", gj)
		}
		switch {
		case err != nil:
		case u.Empty():
			_, err = io.WriteString(w, ": ping\n\n")
		case len(u.Entries) > 0 || u.Skipped > 0:
			err = writeEvent(w, "logs", map[string]any{"logs": ToEntries(u.Entries), "skipped": u.Skipped})
		}
		if err != nil {
			return
		}
		fl.Flush()
	}
}
