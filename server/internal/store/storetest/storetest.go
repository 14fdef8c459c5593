// Package storetest is the conformance suite every store engine passes, so
// that the embedded and the production store answer every query alike. The
// expected answers come from a brute-force reference over the written data,
// written independently of the engines' filter code.
//
// EdgeValues writes, in every string field of a record and its resource,
// NUL, U+FFFD, astral characters, bidi overrides, controls, quotes and
// backslashes, values at every size limit of the contract and edge numbers,
// checks that validation accepts all of it, and that every record reads
// back equal to what was written, or to the normalisation the engine
// documents (Behavior), through Search and Get, and that filters on those
// values match as the reference says.
package storetest

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// Opener returns a new, empty store for one test; the suite closes it.
type Opener func(t *testing.T) store.Store

// Run runs the whole suite against the engine open returns, which changes
// what it stores only as b says.
func Run(t *testing.T, open Opener, b Behavior) {
	t.Run("WriteIsIdempotent", func(t *testing.T) { testIdempotent(t, open(t)) })
	t.Run("Queries", func(t *testing.T) { testQueries(t, open(t)) })
	t.Run("GetAndSurrounding", func(t *testing.T) { testGet(t, open(t)) })
	t.Run("Retention", func(t *testing.T) { testRetention(t, open(t)) })
	t.Run("BadInput", func(t *testing.T) { testBadInput(t, open(t)) })
	t.Run("EdgeValues", func(t *testing.T) { testEdgeValues(t, open(t), b) })
}

// Base is the time of the generated data: a fixed, recent-looking instant.
var Base = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

type rec struct {
	service string
	key     store.Key
	r       *sawmillv1.LogRecord
	res     *sawmillv1.Resource
}

var (
	services = []string{"orders", "payments", "users"}
	levels   = []sawmillv1.SeverityNumber{1, 5, 9, 10, 13, 17, 21}
	methods  = []string{"GET", "POST", "DELETE"}
)

// Dataset builds n batches per service with overlapping times, equal
// timestamps across batches, Korean and mixed-case messages, and nested and
// typed attributes. It is deterministic for a seed.
func Dataset(seed uint64, batchesPerService int) []*sawmillv1.LogBatch {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	var out []*sawmillv1.LogBatch
	for bi := 0; bi < batchesPerService; bi++ {
		for si, svc := range services {
			n := 1 + rng.IntN(120)
			b := &sawmillv1.LogBatch{
				BatchId:  fmt.Sprintf("%s-%04d-%x", svc, bi, rng.Uint32()),
				Resource: &sawmillv1.Resource{Service: svc, Instance: fmt.Sprintf("%s-%d", svc, bi%3), Environment: []string{"test", "staging"}[bi%2], Version: "1.0." + fmt.Sprint(si)},
			}
			start := Base.Add(time.Duration(bi) * 3 * time.Second)
			for i := 0; i < n; i++ {
				// Times wander inside a 5 s window, so batches overlap; a few
				// land exactly on whole seconds to create ties.
				t := start.Add(time.Duration(rng.IntN(5000)) * time.Millisecond)
				if rng.IntN(10) != 0 {
					t = t.Add(time.Duration(rng.IntN(1_000_000)))
				}
				sev := levels[rng.IntN(len(levels))]
				id := rng.IntN(1000)
				body := fmt.Sprintf("Order %d created for user %d", id, rng.IntN(50))
				switch rng.IntN(6) {
				case 0:
					body = fmt.Sprintf("주문 %d 처리 완료", id)
				case 1:
					body = fmt.Sprintf("payment %d AUTHORISED amount=%d KRW", id, rng.IntN(9000))
				case 2:
					body = fmt.Sprintf("user %d logged in from 10.2.3.%d", id, rng.IntN(255))
				}
				status := []int{200, 201, 404, 500}[rng.IntN(4)]
				attrs := fmt.Sprintf(`{"http_method":%q,"http_status":%d,"duration_ms":%d.5,"user":{"id":%d,"vip":%t},"http.route":"/api/%s"}`,
					methods[rng.IntN(len(methods))], status, rng.IntN(100), rng.IntN(50), rng.IntN(3) == 0, svc)
				r := &sawmillv1.LogRecord{
					TimeUnixNano:         uint64(t.UnixNano()),
					ObservedTimeUnixNano: uint64(t.UnixNano()) + 1000,
					SeverityNumber:       sev,
					SeverityText:         strings.ToLower(strings.TrimPrefix(sev.String(), "SEVERITY_NUMBER_")),
					Body:                 body,
					AttributesJson:       []byte(attrs),
					Logger:               []string{"main", "http", "db"}[rng.IntN(3)],
				}
				if rng.IntN(4) == 0 {
					// A trace spans records of several batches and services.
					r.TraceId = TraceID(rng.IntN(30))
					r.SpanId = SpanID(rng.IntN(100))
				}
				if sev >= 17 {
					r.Error = &sawmillv1.ErrorInfo{Type: []string{"*errors.errorString", "*fs.PathError"}[rng.IntN(2)], Message: "boom", Stack: "main.go:42\nmain.main()"}
					r.Source = &sawmillv1.SourceLocation{File: "main.go", Line: 42, Function: "main.main"}
				}
				b.Records = append(b.Records, r)
			}
			out = append(out, b)
		}
	}
	return out
}

// TraceID is the n-th trace id of the generated data (16 bytes).
func TraceID(n int) []byte {
	b, _ := hex.DecodeString(fmt.Sprintf("4bf92f3577b34da6%016x", n))
	return b
}

// SpanID is the n-th span id of the generated data (8 bytes).
func SpanID(n int) []byte {
	b, _ := hex.DecodeString(fmt.Sprintf("00f067aa%08x", n))
	return b
}

func flatten(bs []*sawmillv1.LogBatch) []rec {
	var out []rec
	for _, b := range bs {
		for i, r := range b.GetRecords() {
			out = append(out, rec{service: b.GetResource().GetService(), key: store.Key{Time: int64(r.GetTimeUnixNano()), BatchID: b.GetBatchId(), Index: i}, r: r, res: b.GetResource()})
		}
	}
	return out
}

// refMatch is the reference semantics of a Filter, written without the
// engines' Matcher.
func refMatch(f store.Filter, x rec) bool {
	if len(f.Services) > 0 && !slices.Contains(f.Services, x.service) {
		return false
	}
	if f.From != 0 && x.key.Time < f.From || f.To != 0 && x.key.Time >= f.To {
		return false
	}
	if int32(x.r.GetSeverityNumber()) < f.MinSeverity {
		return false
	}
	if f.Text != "" && !strings.Contains(strings.ToLower(x.r.GetBody()), strings.ToLower(f.Text)) {
		return false
	}
	for _, a := range f.Attrs {
		if !refAttr(string(x.r.GetAttributesJson()), a) {
			return false
		}
	}
	eq := func(want, got string) bool { return want == "" || want == got }
	return (len(f.TraceID) == 0 || hex.EncodeToString(f.TraceID) == hex.EncodeToString(x.r.GetTraceId())) &&
		(len(f.SpanID) == 0 || hex.EncodeToString(f.SpanID) == hex.EncodeToString(x.r.GetSpanId())) &&
		eq(f.Logger, x.r.GetLogger()) && eq(f.ErrorType, x.r.GetError().GetType()) &&
		eq(f.Instance, x.res.GetInstance()) && eq(f.Environment, x.res.GetEnvironment()) && eq(f.Version, x.res.GetVersion())
}

// refAttr knows the generated attribute shapes.
func refAttr(doc string, a store.AttrMatch) bool {
	var needle string
	switch a.Key {
	case "http_method", "http.route":
		needle = fmt.Sprintf("%q:%q", a.Key, a.Value)
	case "http_status":
		needle = fmt.Sprintf(`"http_status":%s,`, a.Value)
	case "user.id":
		needle = fmt.Sprintf(`"user":{"id":%s,`, a.Value)
	case "user.vip":
		needle = fmt.Sprintf(`"vip":%s}`, a.Value)
	default:
		return false
	}
	return strings.Contains(doc, needle)
}

func write(t *testing.T, s store.Store, bs []*sawmillv1.LogBatch) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < len(bs); i += 7 { // several writes of several batches
		_, err := s.WriteBatches(ctx, bs[i:min(i+7, len(bs))])
		require.NoError(t, err)
	}
}

func testIdempotent(t *testing.T, s store.Store) {
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	ctx := context.Background()
	bs := Dataset(1, 4)
	all := flatten(bs)
	n, err := s.WriteBatches(ctx, bs[:5])
	require.NoError(t, err)
	want := len(flatten(bs[:5]))
	assert.Equal(t, want, n)

	// The same batches again, mixed with new ones and repeated inside the call.
	again := append(slices.Clone(bs), bs[0], bs[len(bs)-1])
	n, err = s.WriteBatches(ctx, again)
	require.NoError(t, err)
	assert.Equal(t, len(all)-want, n, "only unseen batch ids are stored")
	n, err = s.WriteBatches(ctx, bs)
	require.NoError(t, err)
	assert.Zero(t, n)

	c, err := s.Count(ctx, store.Filter{})
	require.NoError(t, err)
	assert.Equal(t, uint64(len(all)), c)
}

func sortKeys(xs []rec, desc bool) {
	slices.SortFunc(xs, func(a, b rec) int {
		if desc {
			return b.key.Compare(a.key)
		}
		return a.key.Compare(b.key)
	})
}

func ids(es []*sawmillv1.LogEntry) []string {
	if len(es) == 0 {
		return nil
	}
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.GetId()
	}
	return out
}

func filters() map[string]store.Filter {
	from := Base.Add(7 * time.Second).UnixNano()
	to := Base.Add(31*time.Second + 123456789).UnixNano()
	return map[string]store.Filter{
		"all":                {},
		"one service":        {Services: []string{"payments"}},
		"two services":       {Services: []string{"orders", "users"}},
		"unknown service":    {Services: []string{"nope"}},
		"min warn":           {MinSeverity: 13},
		"min info2":          {MinSeverity: 10},
		"min fatal":          {MinSeverity: 21},
		"text":               {Text: "created"},
		"text mixed case":    {Text: "AuThOrIsEd"},
		"text korean":        {Text: "처리 완료"},
		"text id":            {Text: "order 42 "},
		"text none":          {Text: "zzzz-not-there"},
		"short text":         {Text: "d "},
		"attr string":        {Attrs: []store.AttrMatch{{Key: "http_method", Value: "POST"}}},
		"attr int":           {Attrs: []store.AttrMatch{{Key: "http_status", Value: "500"}}},
		"attr nested":        {Attrs: []store.AttrMatch{{Key: "user.id", Value: "7"}}},
		"attr nested bool":   {Attrs: []store.AttrMatch{{Key: "user.vip", Value: "true"}}},
		"attr dotted key":    {Attrs: []store.AttrMatch{{Key: "http.route", Value: "/api/users"}}},
		"attrs both":         {Attrs: []store.AttrMatch{{Key: "http_method", Value: "GET"}, {Key: "http_status", Value: "200"}}},
		"time range":         {From: from, To: to},
		"from only":          {From: to},
		"to only":            {To: from},
		"trace":              {TraceID: TraceID(7)},
		"trace unknown":      {TraceID: TraceID(999)},
		"trace and service":  {TraceID: TraceID(3), Services: []string{"payments"}},
		"trace in range":     {TraceID: TraceID(11), From: from, To: to},
		"span":               {SpanID: SpanID(42)},
		"trace and span":     {TraceID: TraceID(5), SpanID: SpanID(0x31)},
		"trace, other span":  {TraceID: TraceID(5), SpanID: SpanID(0x32)},
		"logger":             {Logger: "http"},
		"logger unknown":     {Logger: "HTTP"},
		"error type":         {ErrorType: "*fs.PathError"},
		"error type and sev": {ErrorType: "*errors.errorString", MinSeverity: 21},
		"instance":           {Instance: "orders-2"},
		"environment":        {Environment: "staging"},
		"version":            {Version: "1.0.1"},
		"resource fields":    {Instance: "payments-0", Environment: "test", Version: "1.0.1"},
		"resource mismatch":  {Instance: "payments-0", Version: "1.0.0"},
		"fields and text":    {Logger: "db", Environment: "test", Text: "created", Attrs: []store.AttrMatch{{Key: "http_method", Value: "GET"}}},
		"everything at once": {Services: []string{"orders", "payments"}, MinSeverity: 9, Text: "e", Attrs: []store.AttrMatch{{Key: "http_status", Value: "201"}}, From: from, To: to + int64(time.Minute)},
	}
}

func testQueries(t *testing.T, s store.Store) {
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	ctx := context.Background()
	bs := Dataset(2, 25)
	write(t, s, bs)
	all := flatten(bs)

	for name, f := range filters() {
		t.Run(name, func(t *testing.T) {
			var want []rec
			for _, x := range all {
				if refMatch(f, x) {
					want = append(want, x)
				}
			}
			if !strings.Contains(name, "none") && !strings.Contains(name, "unknown") && !strings.Contains(name, "mismatch") {
				require.NotEmpty(t, want, "the data set has records for this filter")
			}
			got, err := s.Count(ctx, f)
			require.NoError(t, err)
			assert.Equal(t, uint64(len(want)), got, "count")

			for _, desc := range []bool{true, false} {
				sortKeys(want, desc)
				var wantIDs []string
				for _, x := range want {
					wantIDs = append(wantIDs, x.key.ID())
				}
				var gotIDs []string
				cursor := ""
				for pages := 0; ; pages++ {
					require.Less(t, pages, 1000, "pagination does not end")
					p, err := s.Search(ctx, store.SearchQuery{Filter: f, Limit: 37, Cursor: cursor, OldestFirst: !desc})
					require.NoError(t, err)
					require.LessOrEqual(t, len(p.Entries), 37)
					gotIDs = append(gotIDs, ids(p.Entries)...)
					if p.NextCursor == "" {
						break
					}
					require.Len(t, p.Entries, 37, "a page before the last is full")
					cursor = p.NextCursor
				}
				assert.Equal(t, wantIDs, gotIDs, "search order (newest first=%v)", desc)
			}

			// 90 s is no multiple of a minute; 5 min and 1 h are, so engines
			// with rollups answer them from those, for ranges not aligned
			// to them ("time range") too.
			for _, step := range []time.Duration{time.Second, 10 * time.Second, time.Minute, 90 * time.Second, 5 * time.Minute, time.Hour} {
				got, err := s.Stats(ctx, store.StatsQuery{Filter: f, Step: step})
				require.NoError(t, err)
				want := refStats(all, f, step)
				if len(want) == 0 {
					assert.Empty(t, got, "stats step %s", step)
					continue
				}
				assert.Equal(t, want, got, "stats step %s", step)
			}
		})
	}

	// A full page returns complete entries.
	p, err := s.Search(ctx, store.SearchQuery{Filter: store.Filter{MinSeverity: 17}, Limit: 5})
	require.NoError(t, err)
	require.NotEmpty(t, p.Entries)
	byID := map[string]rec{}
	for _, x := range all {
		byID[x.key.ID()] = x
	}
	for _, e := range p.Entries {
		x := byID[e.GetId()]
		assert.Equal(t, x.service, e.GetResource().GetService())
		assert.Equal(t, x.res.GetVersion(), e.GetResource().GetVersion())
		assert.Equal(t, x.r.GetBody(), e.GetRecord().GetBody())
		assert.JSONEq(t, string(x.r.GetAttributesJson()), string(e.GetRecord().GetAttributesJson()))
		assert.Equal(t, hex.EncodeToString(x.r.GetTraceId()), hex.EncodeToString(e.GetRecord().GetTraceId()))
		assert.Equal(t, x.r.GetError().GetStack(), e.GetRecord().GetError().GetStack())
		assert.Equal(t, x.r.GetSource().GetLine(), e.GetRecord().GetSource().GetLine())
		assert.Equal(t, x.r.GetObservedTimeUnixNano(), e.GetRecord().GetObservedTimeUnixNano())
	}

	svcs, err := s.Services(ctx)
	require.NoError(t, err)
	require.Len(t, svcs, 3)
	for i, name := range services {
		var last int64
		var n uint64
		for _, x := range all {
			if x.service == name {
				last = max(last, x.key.Time)
				n++
			}
		}
		assert.Equal(t, name, svcs[i].Name)
		assert.Equal(t, n, svcs[i].Total)
		assert.Equal(t, last, svcs[i].LastSeen.UnixNano())
	}
}

// refStats counts records in the buckets overlapping [From, To).
func refStats(all []rec, f store.Filter, step time.Duration) []store.Bucket {
	st := step.Nanoseconds()
	g := f
	if g.From != 0 {
		g.From = g.From / st * st
	}
	if g.To != 0 {
		g.To = (g.To + st - 1) / st * st
	}
	type k struct {
		start int64
		svc   string
		lvl   int32
	}
	agg := map[k]uint64{}
	for _, x := range all {
		if refMatch(g, x) {
			lvl := (int32(x.r.GetSeverityNumber())-1)/4*4 + 1
			agg[k{x.key.Time / st * st, x.service, lvl}]++
		}
	}
	out := []store.Bucket{}
	for key, n := range agg {
		out = append(out, store.Bucket{Start: time.Unix(0, key.start).UTC(), Service: key.svc, Severity: key.lvl, Count: n})
	}
	store.SortBuckets(out)
	return out
}

func testGet(t *testing.T, s store.Store) {
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	ctx := context.Background()
	bs := Dataset(3, 6)
	write(t, s, bs)
	all := flatten(bs)
	var mine []rec
	for _, x := range all {
		if x.service == "users" {
			mine = append(mine, x)
		}
	}
	sortKeys(mine, false)
	target := mine[len(mine)/2]
	d, err := s.Get(ctx, target.key.ID(), 3)
	require.NoError(t, err)
	assert.Equal(t, target.key.ID(), d.Entry.GetId())
	assert.Equal(t, target.r.GetBody(), d.Entry.GetRecord().GetBody())
	i := len(mine) / 2
	wantBefore := []string{mine[i-1].key.ID(), mine[i-2].key.ID(), mine[i-3].key.ID()}
	wantAfter := []string{mine[i+1].key.ID(), mine[i+2].key.ID(), mine[i+3].key.ID()}
	assert.Equal(t, wantBefore, ids(d.Before))
	assert.Equal(t, wantAfter, ids(d.After))

	d, err = s.Get(ctx, mine[0].key.ID(), 0)
	require.NoError(t, err)
	assert.Empty(t, d.Before)
	assert.Equal(t, mine[0].key.ID(), d.Entry.GetId())

	for _, bad := range []string{"", "nope", "nope~1", mine[0].key.BatchID + "~99999", "~", "x~-1"} {
		_, err := s.Get(ctx, bad, 0)
		assert.ErrorIs(t, err, store.ErrNotFound, "id %q", bad)
	}
}

func testRetention(t *testing.T, s store.Store) {
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	ctx := context.Background()
	bs := Dataset(4, 10) // batches start every 3 s over 30 s
	write(t, s, bs)
	all := flatten(bs)
	cut := Base.Add(15 * time.Second)
	require.NoError(t, s.DeleteBefore(ctx, cut))
	var kept uint64
	for _, x := range all {
		if x.key.Time >= cut.UnixNano() {
			kept++
		}
	}
	n, err := s.Count(ctx, store.Filter{From: cut.UnixNano()})
	require.NoError(t, err)
	assert.Equal(t, kept, n, "nothing at or after the cut is removed")
	total, err := s.Count(ctx, store.Filter{})
	require.NoError(t, err)
	assert.Less(t, total, uint64(len(all)), "old records are removed")
	// Stats of every step count the same records after retention.
	var perStep []uint64
	for _, step := range []time.Duration{time.Second, time.Minute, time.Hour} {
		bs, err := s.Stats(ctx, store.StatsQuery{Step: step})
		require.NoError(t, err)
		var n uint64
		for _, b := range bs {
			n += b.Count
		}
		perStep = append(perStep, n)
	}
	assert.Equal(t, []uint64{perStep[0], perStep[0], perStep[0]}, perStep, "stats per 1s, 1min and 1h after retention")

	require.NoError(t, s.DeleteBefore(ctx, Base.Add(time.Hour)))
	total, err = s.Count(ctx, store.Filter{})
	require.NoError(t, err)
	assert.Zero(t, total)
	svcs, err := s.Services(ctx)
	require.NoError(t, err)
	assert.Empty(t, svcs)
	// A batch id whose records were removed by retention is gone for good:
	// writing it again stores it again (retention bounds the dedup window).
	n2, err := s.WriteBatches(ctx, bs[:1])
	require.NoError(t, err)
	assert.Equal(t, len(bs[0].GetRecords()), n2)
}

func testBadInput(t *testing.T, s store.Store) {
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	ctx := context.Background()
	write(t, s, Dataset(5, 1))
	for _, c := range []string{"!!!", "AAAA", "zz", "AAAAAAAAAAAAAAAA", "c2F3bWlsbC1jdXJzb3ItZ2FyYmFnZQ"} {
		_, err := s.Search(ctx, store.SearchQuery{Cursor: c})
		assert.ErrorIs(t, err, store.ErrBadCursor, "cursor %q", c)
	}
	// A cursor is verified against the query it is used with: one issued for
	// another filter or order is refused, not followed.
	p, err := s.Search(ctx, store.SearchQuery{Filter: store.Filter{Services: []string{"orders"}}, Limit: 2})
	require.NoError(t, err)
	require.NotEmpty(t, p.NextCursor)
	for name, q := range map[string]store.SearchQuery{
		"other service": {Filter: store.Filter{Services: []string{"payments"}}},
		"no filter":     {},
		"other order":   {Filter: store.Filter{Services: []string{"orders"}}, OldestFirst: true},
	} {
		q.Cursor = p.NextCursor
		_, err := s.Search(ctx, q)
		assert.ErrorIs(t, err, store.ErrBadCursor, name)
	}
	// Hostile text is data, never SQL.
	n, err := s.Count(ctx, store.Filter{Text: `'; DROP TABLE blocks; --`, Services: []string{`x' OR '1'='1`}})
	require.NoError(t, err)
	assert.Zero(t, n)
	n, err = s.Count(ctx, store.Filter{})
	require.NoError(t, err)
	assert.NotZero(t, n)
	// Filter values that no stored string can equal (invalid UTF-8, NUL)
	// match nothing, without an error.
	for name, f := range map[string]store.Filter{
		"text invalid UTF-8":    {Text: "order \xff"},
		"service invalid UTF-8": {Services: []string{"orders\xff"}},
		"attr key invalid":      {Attrs: []store.AttrMatch{{Key: "http_method\xfe", Value: "GET"}}},
		"attr value invalid":    {Attrs: []store.AttrMatch{{Key: "http_method", Value: "GET\xc3"}}},
		"text NUL":              {Text: "order\x00"},
		"service NUL":           {Services: []string{"orders\x00"}},
		"attr value NUL":        {Attrs: []store.AttrMatch{{Key: "http_method", Value: "GET\x00"}}},
	} {
		n, err := s.Count(ctx, f)
		require.NoError(t, err, name)
		assert.Zero(t, n, name)
		_, err = s.Search(ctx, store.SearchQuery{Filter: f})
		require.NoError(t, err, name)
		_, err = s.Stats(ctx, store.StatsQuery{Filter: f, Step: time.Minute})
		require.NoError(t, err, name)
	}
	stored, err := s.WriteBatches(ctx, nil)
	require.NoError(t, err)
	assert.Zero(t, stored)
}
