package query

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// Trace limits: how many records one trace answer holds at most.
const (
	DefaultTraceLimit = 1000
	MaxTraceLimit     = 10000
)

// Trace is every stored record of one trace (up to a limit), oldest first.
type Trace struct {
	Entries   []*sawmillv1.LogEntry
	Services  []TraceService // by first record's time, then name
	Truncated bool           // more records match than the limit
	Total     uint64         // matching records in all (len(Entries) unless Truncated)
}

// TraceService summarises one service's records among a Trace's entries.
type TraceService struct {
	Service     string
	Count       uint64
	First, Last uint64 // unix ns of its first and last record
	MaxSeverity int32
	Spans       int // distinct span ids
}

// GetTrace reads the records matching f (a filter on one trace id, maybe a
// time range) oldest first, paging through the store's cursors up to limit
// records; when the limit cuts the trace, Truncated is set and Total is the
// store's count. It is the store's own trace_id search, so it costs what a
// search by trace_id costs on that engine (a bloom filter per block in
// SQLite, a partial index in PostgreSQL).
func GetTrace(ctx context.Context, r store.Reader, f store.Filter, limit int) (Trace, error) {
	var t Trace
	cursor := ""
	for len(t.Entries) < limit {
		p, err := r.Search(ctx, store.SearchQuery{Filter: f, Limit: min(store.MaxLimit, limit-len(t.Entries)), Cursor: cursor, OldestFirst: true})
		if err != nil {
			return Trace{}, fmt.Errorf("trace page: %w", err)
		}
		t.Entries = append(t.Entries, p.Entries...)
		if cursor = p.NextCursor; cursor == "" || len(p.Entries) == 0 {
			break
		}
	}
	t.Total = uint64(len(t.Entries))
	if len(t.Entries) >= limit && cursor != "" {
		// The last page was full: there may be more, which a count says.
		n, err := r.Count(ctx, f)
		if err != nil {
			return Trace{}, fmt.Errorf("trace count: %w", err)
		}
		if n > t.Total {
			t.Truncated, t.Total = true, n
		}
	}
	t.Services = summarise(t.Entries)
	return t, nil
}

// summarise groups entries (oldest first) by service.
func summarise(es []*sawmillv1.LogEntry) []TraceService {
	idx := map[string]int{}
	spans := map[string]map[string]struct{}{}
	var out []TraceService
	for _, e := range es {
		svc := e.GetResource().GetService()
		ts, sev := e.GetRecord().GetTimeUnixNano(), int32(e.GetRecord().GetSeverityNumber())
		i, ok := idx[svc]
		if !ok {
			i = len(out)
			idx[svc] = i
			out = append(out, TraceService{Service: svc, First: ts, Last: ts, MaxSeverity: sev})
			spans[svc] = map[string]struct{}{}
		}
		s := &out[i]
		s.Count++
		s.First, s.Last, s.MaxSeverity = min(s.First, ts), max(s.Last, ts), max(s.MaxSeverity, sev)
		if id := e.GetRecord().GetSpanId(); len(id) > 0 {
			spans[svc][string(id)] = struct{}{}
		}
	}
	for i := range out {
		out[i].Spans = len(spans[out[i].Service])
	}
	slices.SortStableFunc(out, func(a, b TraceService) int {
		if a.First != b.First {
			if a.First < b.First {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Service, b.Service)
	})
	return out
}

// validTraceID checks a trace id of the v1 API: 16 bytes, not all zero (W3C
// trace context calls the all-zero id invalid).
func validTraceID(id []byte, param string) error {
	if len(id) != 16 {
		return &ParamError{param, fmt.Sprintf("want a trace id of 16 bytes (32 hex digits), got %d bytes", len(id))}
	}
	if !slices.ContainsFunc(id, func(b byte) bool { return b != 0 }) {
		return &ParamError{param, "the all-zero trace id is invalid"}
	}
	return nil
}

// TraceJSON is the HTTP form of a Trace.
type TraceJSON struct {
	TraceID           string             `json:"trace_id"`
	Logs              []Entry            `json:"logs"`
	Services          []TraceServiceJSON `json:"services"`
	FirstTime         string             `json:"first_time"`
	LastTime          string             `json:"last_time"`
	FirstTimeUnixNano string             `json:"first_time_unix_nano"`
	DurationNanos     string             `json:"duration_nanos"` // last_time - first_time
	Truncated         bool               `json:"truncated"`
	Total             uint64             `json:"total"`
}

// TraceServiceJSON is the HTTP form of a TraceService.
type TraceServiceJSON struct {
	Service     string `json:"service"`
	Count       uint64 `json:"count"`
	FirstTime   string `json:"first_time"`
	LastTime    string `json:"last_time"`
	MaxSeverity int32  `json:"max_severity"`
	MaxLevel    string `json:"max_level"`
	Spans       int    `json:"spans"`
}

// trace answers GET /api/v1/traces/{trace_id}: the trace's records with
// the per-service summary, or 404 when no stored record has the id (in the
// range, if given).
func (a *API) trace(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("trace_id")
	id, err := hex.DecodeString(raw)
	if err != nil || len(id) != 16 {
		a.fail(w, r, &ParamError{"trace_id", fmt.Sprintf("want 32 hex digits, got %q", raw)})
		return
	}
	if err := validTraceID(id, "trace_id"); err != nil {
		a.fail(w, r, err)
		return
	}
	limit, err := intParam(r, "limit", DefaultTraceLimit, 1, MaxTraceLimit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	f := store.Filter{TraceID: id}
	q := r.URL.Query()
	if f.From, err = ParseTime(q.Get("from"), a.now(), From); err != nil {
		a.fail(w, r, &ParamError{"from", err.Error()})
		return
	}
	if f.To, err = ParseTime(q.Get("to"), a.now(), To); err != nil {
		a.fail(w, r, &ParamError{"to", err.Error()})
		return
	}
	if f.From != 0 && f.To != 0 && f.From >= f.To {
		a.fail(w, r, &ParamError{"from", "must be before to"})
		return
	}
	t, err := GetTrace(r.Context(), a.Store, f, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	hexID := hex.EncodeToString(id)
	if len(t.Entries) == 0 {
		writeError(w, http.StatusNotFound, "trace_id", fmt.Sprintf("no stored log of trace %s", hexID))
		return
	}
	first := t.Entries[0].GetRecord().GetTimeUnixNano()
	last := t.Entries[len(t.Entries)-1].GetRecord().GetTimeUnixNano()
	out := TraceJSON{
		TraceID: hexID, Logs: ToEntries(t.Entries), Services: make([]TraceServiceJSON, len(t.Services)),
		FirstTime: rfc3339(first), LastTime: rfc3339(last),
		FirstTimeUnixNano: strconv.FormatUint(first, 10), DurationNanos: strconv.FormatUint(last-first, 10),
		Truncated: t.Truncated, Total: t.Total,
	}
	for i, s := range t.Services {
		out.Services[i] = TraceServiceJSON{
			Service: s.Service, Count: s.Count, FirstTime: rfc3339(s.First), LastTime: rfc3339(s.Last),
			MaxSeverity: s.MaxSeverity, MaxLevel: store.LevelName(s.MaxSeverity), Spans: s.Spans,
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// GetTrace returns one trace's records, or NOT_FOUND when none is stored.
func (s *Service) GetTrace(ctx context.Context, req *sawmillv1.GetTraceRequest) (*sawmillv1.GetTraceResponse, error) {
	if err := validTraceID(req.GetTraceId(), "trace_id"); err != nil {
		return nil, grpcError(err)
	}
	limit := int(req.GetLimit())
	switch {
	case limit == 0:
		limit = DefaultTraceLimit
	case limit > MaxTraceLimit:
		return nil, grpcError(&ParamError{"limit", fmt.Sprintf("at most %d", MaxTraceLimit)})
	}
	f := store.Filter{TraceID: req.GetTraceId(), From: ClampNanos(req.GetFromUnixNano(), From), To: ClampNanos(req.GetToUnixNano(), To)}
	if f.From != 0 && f.To != 0 && f.From >= f.To {
		return nil, grpcError(&ParamError{"from_unix_nano", "must be before to_unix_nano"})
	}
	t, err := GetTrace(ctx, s.Store, f, limit)
	if err != nil {
		return nil, grpcError(err)
	}
	if len(t.Entries) == 0 {
		return nil, status.Errorf(codes.NotFound, "no stored log of trace %s", hex.EncodeToString(req.GetTraceId()))
	}
	out := &sawmillv1.GetTraceResponse{Entries: t.Entries, Truncated: t.Truncated, Total: t.Total}
	for _, sv := range t.Services {
		out.Services = append(out.Services, &sawmillv1.TraceServiceSummary{
			Service: sv.Service, Count: sv.Count, FirstUnixNano: sv.First, LastUnixNano: sv.Last,
			MaxSeverity: sawmillv1.SeverityNumber(sv.MaxSeverity), Spans: uint32(sv.Spans),
		})
	}
	return out, nil
}
