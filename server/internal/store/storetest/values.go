package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
	"github.com/sawmill-dev/sawmill/server/internal/validate"
)

// Behavior is what an engine documents it changes in what it stores; the
// zero value stores every field exactly.
type Behavior struct {
	// NULAsReplacement: NUL (U+0000) in the body, and the escape \u0000 in
	// attribute strings and keys, read back as U+FFFD, and filter values
	// are matched with the same replacement (PostgreSQL).
	NULAsReplacement bool
}

// norm is what b makes of a body or an attribute string.
func (b Behavior) norm(s string) string {
	if b.NULAsReplacement {
		return strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return s
}

// edgeStrings are the characters a store must keep: NUL, U+FFFD, astral
// characters, bidi overrides, controls, quotes and backslashes, SQL and
// LIKE syntax, text that looks like an escape.
var edgeStrings = []string{
	"a\x00b", "\x00", "\x00\x00end", "\uFFFD", "😀 👩‍👩‍👧 \U0010FFFF", "abc\u202Edcba\u202C", "\u200F\u061C\uFEFF",
	"\x01\x07\x08\t\n\r\x1b\x1f\x7f\u0085\u2028\u2029", `"'\` + "`" + ` \\ \" \u0000 \x00 %_ $1 ?`,
	"'; DROP TABLE logs; --", "<script>&amp;</script>", "é e\u0301 中文 한국어",
}

// edgeServices are service names (no control characters allowed there).
var edgeServices = []string{"svc-😀", "svc\u202Eevil", `svc"'\%_`, "svc\uFFFD", strings.Repeat("s", validate.MaxServiceBytes)}

// fit cuts s to at most n bytes on a rune boundary.
func fit(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// padTo returns s repeated and cut to exactly n bytes of valid UTF-8
// (padded with 'x' where a rune does not fit).
func padTo(s string, n int) string {
	out := fit(strings.Repeat(s, n/len(s)+1), n)
	return out + strings.Repeat("x", n-len(out))
}

func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// edgeAttrs builds an attributes document holding s as key and as value,
// escaped as encoding/json escapes it (NUL as \u0000), and with the astral
// characters written as surrogate-pair escapes.
func edgeAttrs(s string, i int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"k":%s,%s:%d,"nested":{"a":[%s,{"$bytes":"AAEC/w=="}]},"pair":"\ud83d\ude00","i":%d,`, jsonString(s), jsonString("key "+s), i, jsonString(s), i)
	b.WriteString(`"max":1.7976931348623157e308,"min":-1.7976931348623157e308,"tiny":5e-324,"under":1e-400,"z":-0,"big":123456789012345678901234567890}`)
	return b.Bytes()
}

// maxAttrs is an attributes document of exactly n bytes with the most
// top-level keys and the deepest nesting the contract allows.
func maxAttrs(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"deep":` + strings.Repeat("[", 15) + `"\u0000"` + strings.Repeat("]", 15))
	for i := 1; i < 127; i++ {
		fmt.Fprintf(&b, `,"k%d":%d`, i, i)
	}
	b.WriteString(`,"pad":"`)
	pad := n - b.Len() - 2
	b.WriteString(strings.Repeat(`\u0000`, pad/6))
	b.WriteString(strings.Repeat("x", pad%6))
	b.WriteString(`"}`)
	return b.Bytes()
}

// EdgeBatches returns batches holding the edge characters in every string
// field, values at the size limits of the contract, and edge numbers; every
// one of them passes validation.
func EdgeBatches() []*sawmillv1.LogBatch {
	t0 := Base.Add(time.Hour)
	var out []*sawmillv1.LogBatch
	for si, svc := range edgeServices {
		b := &sawmillv1.LogBatch{
			BatchId: fmt.Sprintf("edge-%d", si),
			Resource: &sawmillv1.Resource{
				Service:        svc,
				Instance:       edgeStrings[si%len(edgeStrings)],
				Environment:    edgeStrings[(si+1)%len(edgeStrings)],
				Version:        padTo(edgeStrings[(si+2)%len(edgeStrings)], validate.MaxResourceBytes),
				AttributesJson: edgeAttrs(edgeStrings[(si+3)%len(edgeStrings)], si),
			},
		}
		for i, s := range edgeStrings {
			r := &sawmillv1.LogRecord{
				TimeUnixNano:         uint64(t0.Add(time.Duration(si*100+i) * time.Millisecond).UnixNano()),
				ObservedTimeUnixNano: uint64(t0.UnixNano()),
				SeverityNumber:       sawmillv1.SeverityNumber(1 + i%24),
				SeverityText:         fit(s, validate.MaxSeverityTextBytes),
				Body:                 s,
				AttributesJson:       edgeAttrs(s, i),
				TraceId:              []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(i)},
				SpanId:               []byte{0, 0, 0, 0, 0, 0, 0, byte(i)},
				Logger:               s,
				Source:               &sawmillv1.SourceLocation{File: s, Line: int32(i), Function: s},
				Error:                &sawmillv1.ErrorInfo{Type: s, Message: s, Stack: s + "\n\tat " + s},
			}
			b.Records = append(b.Records, r)
		}
		// One record at every size limit.
		big := edgeStrings[si%len(edgeStrings)]
		b.Records = append(b.Records, &sawmillv1.LogRecord{
			TimeUnixNano:   uint64(t0.Add(time.Duration(si*100+99) * time.Millisecond).UnixNano()),
			SeverityNumber: 17,
			SeverityText:   padTo(big, validate.MaxSeverityTextBytes),
			Body:           padTo(big, validate.DefaultLimits.MaxBodyBytes),
			AttributesJson: maxAttrs(validate.DefaultLimits.MaxAttrs.MaxBytes),
			Logger:         padTo(big, validate.MaxLoggerBytes),
			Error: &sawmillv1.ErrorInfo{Type: padTo(big, 1000), Message: padTo(big, 100<<10),
				Stack: padTo(big, validate.MaxStackBytes)},
		})
		out = append(out, b)
	}
	return out
}

// normAttrs decodes an attributes document with b's replacement applied to
// every string and key.
func normAttrs(t *testing.T, b Behavior, doc []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v), "%q", doc)
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case string:
			return b.norm(x)
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		case map[string]any:
			m := make(map[string]any, len(x))
			for k, e := range x {
				m[b.norm(k)] = walk(e)
			}
			return m
		}
		return v
	}
	return walk(v)
}

// checkEntry compares what the store returned with what was written.
func checkEntry(t *testing.T, b Behavior, x rec, e *sawmillv1.LogEntry) {
	t.Helper()
	want := proto.Clone(x.r).(*sawmillv1.LogRecord)
	want.Body = b.norm(want.Body)
	got := proto.Clone(e.GetRecord()).(*sawmillv1.LogRecord)
	assert.Equal(t, normAttrs(t, b, x.r.GetAttributesJson()), normAttrs(t, Behavior{}, got.GetAttributesJson()), "attributes of %s", x.key.ID())
	if !b.NULAsReplacement {
		assert.Equal(t, string(x.r.GetAttributesJson()), string(got.GetAttributesJson()), "attributes bytes of %s", x.key.ID())
	}
	want.AttributesJson, got.AttributesJson = nil, nil
	assert.True(t, proto.Equal(want, got), "record %s:\nwant %v\n got %v", x.key.ID(), want, got)
	assert.True(t, proto.Equal(x.res, e.GetResource()), "resource of %s:\nwant %v\n got %v", x.key.ID(), x.res, e.GetResource())
}

func testEdgeValues(t *testing.T, s store.Store, b Behavior) {
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	ctx := context.Background()
	bs := EdgeBatches()
	for _, batch := range bs {
		require.Empty(t, validate.Batch(batch, proto.Size(batch), Base.Add(time.Hour), validate.DefaultLimits), "the edge batch %s is valid", batch.GetBatchId())
	}
	all := flatten(bs)
	n, err := s.WriteBatches(ctx, bs)
	require.NoError(t, err, "every batch validation accepts is stored")
	require.Equal(t, len(all), n)

	byID := map[string]rec{}
	for _, x := range all {
		byID[x.key.ID()] = x
	}
	// Read back through Search (pages) and Get.
	seen := 0
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 100)
		p, err := s.Search(ctx, store.SearchQuery{Limit: 7, Cursor: cursor, OldestFirst: true})
		require.NoError(t, err)
		for _, e := range p.Entries {
			x, ok := byID[e.GetId()]
			require.True(t, ok, "unknown id %q", e.GetId())
			checkEntry(t, b, x, e)
			seen++
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	assert.Equal(t, len(all), seen)
	for _, x := range all[:len(edgeStrings)+1] {
		d, err := s.Get(ctx, x.key.ID(), 2)
		require.NoError(t, err)
		checkEntry(t, b, x, d.Entry)
	}

	// Filters on the edge values match what the reference says.
	check := func(name string, f store.Filter, match func(x rec) bool) {
		t.Helper()
		var want uint64
		for _, x := range all {
			if match(x) {
				want++
			}
		}
		got, err := s.Count(ctx, f)
		require.NoError(t, err, name)
		assert.Equal(t, want, got, name)
		p, err := s.Search(ctx, store.SearchQuery{Filter: f, Limit: store.MaxLimit})
		require.NoError(t, err, name)
		assert.Len(t, p.Entries, int(want), name)
	}
	for i, es := range edgeStrings {
		needle := fit(es, 8)
		check(fmt.Sprintf("text %d %q", i, needle), store.Filter{Text: needle}, func(x rec) bool {
			return strings.Contains(strings.ToLower(b.norm(x.r.GetBody())), strings.ToLower(b.norm(needle)))
		})
		// Record j has "k": edgeStrings[j] and "key "+edgeStrings[j]: j; the
		// last record of each batch has neither.
		check(fmt.Sprintf("attr value %d %q", i, es), store.Filter{Attrs: []store.AttrMatch{{Key: "k", Value: es}}}, func(x rec) bool {
			return x.key.Index < len(edgeStrings) && b.norm(edgeStrings[x.key.Index]) == b.norm(es)
		})
		check(fmt.Sprintf("attr key %d %q", i, es), store.Filter{Attrs: []store.AttrMatch{{Key: "key " + es, Value: fmt.Sprint(i)}}}, func(x rec) bool {
			return x.key.Index == i
		})
	}
	for _, svc := range edgeServices {
		check("service "+svc, store.Filter{Services: []string{svc}}, func(x rec) bool { return x.service == svc })
	}
	svcs, err := s.Services(ctx)
	require.NoError(t, err)
	require.Len(t, svcs, len(edgeServices))
}
