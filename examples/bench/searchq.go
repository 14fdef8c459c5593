package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sawmill-dev/sawmill/examples/loadgen/workload"
)

// qKind is how a question is asked and its answer read.
type qKind int

const (
	qSearch qKind = iota // GET /api/v1/logs: {"logs":[...]}
	qCount               // GET /api/v1/logs/count: {"count":N}
	qStats               // GET /api/v1/stats: {"buckets":[...]}
	qFields              // GET /api/v1/fields/values: {"values":[{"value","count"}]}
)

// record is one generated record as the replay sees it.
type record struct {
	service string
	e       *workload.Entry
	t       int64 // unix ns
}

// Question is one search question of the day workload. Its expected answer
// is computed by replaying the sources' generators (replay), never
// hard-coded, so it holds for any --records, --services and --span.
type Question struct {
	Name   string // short id (--questions, JSON)
	Title  string
	Kind   qKind
	Path   string
	Params url.Values // besides from and to (the whole span), added to every question
	Limit  int        // search: the page size asked for
	// Match selects the records of the expected answer.
	Match func(r *record) bool
	// Base is set for a question the API may not support yet: it selects
	// the records an answer that ignores the new parameter would count.
	// Such an answer, or 400/404, is reported "unsupported", not wrong.
	Base func(r *record) bool
	// Field: qFields, the attribute whose value counts are expected.
	Field string

	// Filled by the replay.
	hits, baseHits int64
	newest         int64 // time of the newest match
	buckets        map[bucketKey]uint64
	values         map[string]int64
}

type bucketKey struct {
	start   int64 // unix s
	service string
	level   string
}

// dayParams describes one run of the day workload, for its questions.
type dayParams struct {
	Kind     workload.Kind
	Services []string
	PerSvc   int           // records per service
	End      int64         // unix ns; every record is before it
	Span     time.Duration // records spread over [End-Span, End)
	Step     time.Duration // stats step
}

func (p dayParams) from() int64 { return p.End - int64(p.Span) }

// containsFold reports whether s contains needle (lower case), ignoring
// case the way the stores do (strings.ToLower).
func containsFold(s, needle string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strings.Contains(strings.ToLower(s), needle)
		}
	}
	n := len(needle)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for j < n && lower(s[i+j]) == needle[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func levelName(l workload.Level) string { return l.String() }

// questions returns the question set of the day workload: the issue's
// questions (newest of a service, newest errors, rare phrase, needle, rare
// attribute, counts, hourly stats), a 1-hour window, and the questions the
// API cannot ask yet (trace id, NOT, field values) in the parameter
// spelling the harness proposes; when the API adopts another spelling,
// change it here.
func questions(p dayParams) []*Question {
	svc := p.Services[0]
	needleSvc := p.Services[1%len(p.Services)]
	needle := workload.NeedleToken(needleSvc, p.PerSvc/3)
	notWord := "payment"
	if p.Kind == workload.LongLine {
		notWord = "java"
	}
	winFrom := p.End - int64(p.Span)/2
	winTo := min(p.End, winFrom+int64(time.Hour))
	word := "created"
	v := func(kv ...string) url.Values {
		out := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	isErr := func(r *record) bool { return r.e.Level == workload.Error }
	return []*Question{
		{Name: "newest-service", Title: "newest 100 of a service", Kind: qSearch, Path: "/api/v1/logs", Limit: 100,
			Params: v("service", svc), Match: func(r *record) bool { return r.service == svc }},
		{Name: "newest-errors", Title: "newest 100 errors, all services", Kind: qSearch, Path: "/api/v1/logs", Limit: 100,
			Params: v("level", "error"), Match: isErr},
		{Name: "rare-phrase", Title: fmt.Sprintf("rare phrase (%q)", workload.RarePhrase), Kind: qSearch, Path: "/api/v1/logs", Limit: 1000,
			Params: v("q", workload.RarePhrase), Match: func(r *record) bool { return containsFold(r.e.Message, workload.RarePhrase) }},
		{Name: "needle", Title: "needle token (1 record)", Kind: qSearch, Path: "/api/v1/logs", Limit: 1000,
			Params: v("q", needle), Match: func(r *record) bool { return containsFold(r.e.Message, needle) }},
		{Name: "rare-attr", Title: fmt.Sprintf("rare attribute (user_id=%d)", workload.RareUserID), Kind: qSearch, Path: "/api/v1/logs", Limit: 1000,
			Params: v("attr", fmt.Sprintf("user_id:%d", workload.RareUserID)), Match: func(r *record) bool { return r.e.UserID == workload.RareUserID }},
		{Name: "count-errors", Title: "count errors", Kind: qCount, Path: "/api/v1/logs/count",
			Params: v("level", "error"), Match: isErr},
		{Name: "count-word", Title: fmt.Sprintf("count a common word (%q)", word), Kind: qCount, Path: "/api/v1/logs/count",
			Params: v("q", word), Match: func(r *record) bool { return containsFold(r.e.Message, word) }},
		{Name: "count-attr", Title: "count http_status=500", Kind: qCount, Path: "/api/v1/logs/count",
			Params: v("attr", "http_status:500"), Match: func(r *record) bool { return r.e.HTTPStatus == 500 }},
		{Name: "stats-hourly", Title: fmt.Sprintf("counts by service and level per %s (stats)", shortDur(p.Step)), Kind: qStats, Path: "/api/v1/stats",
			Params: v("step", shortDur(p.Step)), Match: func(*record) bool { return true }},
		{Name: "window-word", Title: fmt.Sprintf("1-hour window, newest 100 with %q", word), Kind: qSearch, Path: "/api/v1/logs", Limit: 100,
			Params: v("q", word, "from", strconv.FormatInt(winFrom, 10), "to", strconv.FormatInt(winTo, 10)),
			Match:  func(r *record) bool { return r.t >= winFrom && r.t < winTo && containsFold(r.e.Message, word) }},
		{Name: "trace-count", Title: "count a trace id (trace_id=)", Kind: qCount, Path: "/api/v1/logs/count",
			Params: v("trace_id", workload.NeedleTraceID),
			Match:  func(r *record) bool { return r.e.TraceID == workload.NeedleTraceID }, Base: func(*record) bool { return true }},
		{Name: "trace-search", Title: "all records of a trace id", Kind: qSearch, Path: "/api/v1/logs", Limit: 1000,
			Params: v("trace_id", workload.NeedleTraceID),
			Match:  func(r *record) bool { return r.e.TraceID == workload.NeedleTraceID }, Base: func(*record) bool { return true }},
		{Name: "not-word", Title: fmt.Sprintf("count errors NOT %q (not=)", notWord), Kind: qCount, Path: "/api/v1/logs/count",
			Params: v("level", "error", "not", notWord),
			Match:  func(r *record) bool { return isErr(r) && !containsFold(r.e.Message, notWord) }, Base: isErr},
		{Name: "field-values", Title: "top values of http_status (field explorer)", Kind: qFields, Path: "/api/v1/fields/values",
			Params: v("field", "http_status", "limit", "10"), Field: "http_status",
			Match: func(*record) bool { return true }, Base: func(*record) bool { return true }},
	}
}

// replay regenerates every record of the run (the sources' generators with
// their seeds) and fills each question's expected answer.
func replay(p dayParams, qs []*Question) {
	for _, q := range qs {
		q.hits, q.baseHits, q.newest = 0, 0, 0
		if q.Kind == qStats {
			q.buckets = map[bucketKey]uint64{}
		}
		if q.Kind == qFields {
			q.values = map[string]int64{}
		}
	}
	step := int64(p.Step)
	for i, svc := range p.Services {
		d := workload.NewDay(p.Kind, svc, uint64(i+1), p.PerSvc)
		for j := 0; j < p.PerSvc; j++ {
			e := d.Next()
			r := record{service: svc, e: &e, t: workload.TimeAt(p.End, p.Span, j, p.PerSvc)}
			for _, q := range qs {
				if q.Base != nil && q.Base(&r) {
					q.baseHits++
				}
				if !q.Match(&r) {
					continue
				}
				q.hits++
				q.newest = max(q.newest, r.t)
				switch q.Kind {
				case qStats:
					start := r.t / step * step / int64(time.Second)
					q.buckets[bucketKey{start, svc, levelName(e.Level)}]++
				case qFields:
					q.values[strconv.Itoa(e.HTTPStatus)]++
				}
			}
		}
	}
}

// url returns the question's request path and query over the run's span.
func (q *Question) url(p dayParams) string {
	v := url.Values{}
	v.Set("from", strconv.FormatInt(p.from(), 10))
	v.Set("to", strconv.FormatInt(p.End, 10))
	for k, vs := range q.Params {
		v.Del(k)
		for _, s := range vs {
			v.Add(k, s)
		}
	}
	if q.Kind == qSearch {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return q.Path + "?" + v.Encode()
}

// Answer statuses.
const (
	statusOK          = "ok"
	statusWrong       = "WRONG"
	statusUnsupported = "unsupported"
	statusError       = "ERROR"
)

// judge reads one answer: its hit count, status and why.
func (q *Question) judge(code int, body []byte) (hits int64, status, detail string) {
	if code == 400 || code == 404 || code == 405 || code == 501 {
		if q.Base != nil {
			return -1, statusUnsupported, fmt.Sprintf("HTTP %d: %s", code, strings.TrimSpace(string(body)))
		}
		return -1, statusError, fmt.Sprintf("HTTP %d: %s", code, strings.TrimSpace(string(body)))
	}
	if code != 200 {
		return -1, statusError, fmt.Sprintf("HTTP %d: %s", code, strings.TrimSpace(string(body)))
	}
	want, wantBase := q.hits, q.baseHits
	if q.Kind == qSearch {
		want, wantBase = min(want, int64(q.Limit)), min(wantBase, int64(q.Limit))
	}
	ignored := func(got int64) bool { return q.Base != nil && got != want && got == wantBase }
	switch q.Kind {
	case qCount:
		var a struct {
			Count *int64 `json:"count"`
		}
		if err := json.Unmarshal(body, &a); err != nil || a.Count == nil {
			return -1, statusError, fmt.Sprintf("answer without a count: %.200s", body)
		}
		hits = *a.Count
	case qSearch:
		var a struct {
			Logs []struct {
				Service      string `json:"service"`
				TimeUnixNano string `json:"time_unix_nano"`
			} `json:"logs"`
		}
		if err := json.Unmarshal(body, &a); err != nil {
			return -1, statusError, fmt.Sprintf("answer not a page of logs: %v", err)
		}
		hits = int64(len(a.Logs))
		if ignored(hits) {
			return hits, statusUnsupported, fmt.Sprintf("parameter ignored: %d records, as many as without it", hits)
		}
		if hits != want {
			return hits, statusWrong, fmt.Sprintf("%d records, want %d", hits, want)
		}
		if hits > 0 {
			if ns, _ := strconv.ParseInt(a.Logs[0].TimeUnixNano, 10, 64); ns != q.newest {
				return hits, statusWrong, fmt.Sprintf("first record at %d, want the newest match at %d", ns, q.newest)
			}
		}
		return hits, statusOK, ""
	case qStats:
		var a struct {
			Buckets []struct {
				Start   string `json:"start"`
				Service string `json:"service"`
				Level   string `json:"level"`
				Count   uint64 `json:"count"`
			} `json:"buckets"`
		}
		if err := json.Unmarshal(body, &a); err != nil {
			return -1, statusError, fmt.Sprintf("answer not stats: %v", err)
		}
		got := map[bucketKey]uint64{}
		for _, b := range a.Buckets {
			t, err := time.Parse(time.RFC3339, b.Start)
			if err != nil {
				return -1, statusError, fmt.Sprintf("bucket start %q: %v", b.Start, err)
			}
			got[bucketKey{t.Unix(), b.Service, b.Level}] += b.Count
			hits += int64(b.Count)
		}
		bad := 0
		var first string
		for k, n := range q.buckets {
			if got[k] != n {
				if bad == 0 {
					first = fmt.Sprintf("bucket %s %s %s: %d, want %d", time.Unix(k.start, 0).UTC().Format(time.RFC3339), k.service, k.level, got[k], n)
				}
				bad++
			}
		}
		if len(got) != len(q.buckets) || bad > 0 {
			return hits, statusWrong, fmt.Sprintf("%d buckets, want %d; %d differ (%s)", len(got), len(q.buckets), bad, first)
		}
		return hits, statusOK, ""
	case qFields:
		var a struct {
			Values []struct {
				Value string `json:"value"`
				Count int64  `json:"count"`
			} `json:"values"`
		}
		if err := json.Unmarshal(body, &a); err != nil || a.Values == nil {
			return -1, statusUnsupported, fmt.Sprintf("answer has no values: %.200s", body)
		}
		got := map[string]int64{}
		for _, x := range a.Values {
			got[x.Value] = x.Count
			hits += x.Count
		}
		keys := make([]string, 0, len(q.values))
		for k := range q.values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if got[k] != q.values[k] {
				return hits, statusWrong, fmt.Sprintf("value %s: %d, want %d", k, got[k], q.values[k])
			}
		}
		return hits, statusOK, ""
	}
	if ignored(hits) {
		return hits, statusUnsupported, fmt.Sprintf("parameter ignored: %d, as many as without it", hits)
	}
	if hits != want {
		return hits, statusWrong, fmt.Sprintf("%d, want %d", hits, want)
	}
	return hits, statusOK, ""
}

// expected is the answer's size the question expects.
func (q *Question) expected() int64 {
	if q.Kind == qSearch {
		return min(q.hits, int64(q.Limit))
	}
	return q.hits
}
