package store

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var cursorQuery = SearchQuery{
	Filter: Filter{Services: []string{"orders", "payments"}, MinSeverity: 13, Text: "card",
		Attrs: []AttrMatch{{Key: "http.status", Value: "500"}, {Key: "user", Value: "7"}}, From: 100, To: 200},
	Limit: 50,
}

func TestCursorRoundTrip(t *testing.T) {
	for _, k := range []Key{
		{Time: 1, BatchID: "b", Index: 0},
		{Time: 1795406961884678774, BatchID: "orders-0001-deadbeef", Index: 8191},
		{Time: 1<<63 - 1, BatchID: strings.Repeat("x", 64), Index: 1 << 20},
		{Time: 5, BatchID: "주문~7", Index: 3},
	} {
		c := EncodeCursor(k, cursorQuery)
		assert.LessOrEqual(t, len(c), MaxCursorLen)
		got, err := DecodeCursor(c, cursorQuery)
		require.NoError(t, err, "%+v", k)
		assert.Equal(t, k, got)
	}
}

// The same query seen again decodes the cursor: sets are sets, and the time
// range and the page size may change between pages (relative ranges move).
func TestCursorSameQuery(t *testing.T) {
	k := Key{Time: 150, BatchID: "b1", Index: 2}
	c := EncodeCursor(k, cursorQuery)
	q := cursorQuery
	q.Filter.Services = []string{"payments", "orders", "orders"}
	q.Filter.Attrs = []AttrMatch{{Key: "user", Value: "7"}, {Key: "http.status", Value: "500"}}
	q.Filter.From, q.Filter.To, q.Limit = 120, 0, 10
	got, err := DecodeCursor(c, q)
	require.NoError(t, err)
	assert.Equal(t, k, got)
}

func TestCursorRejected(t *testing.T) {
	k := Key{Time: 1795406961884678774, BatchID: "orders-0001-deadbeef", Index: 17}
	good := EncodeCursor(k, cursorQuery)
	raw, err := base64.RawURLEncoding.DecodeString(good)
	require.NoError(t, err)

	// The unversioned form of earlier releases: time, index, batch id.
	old := base64.RawURLEncoding.EncodeToString(append([]byte{0x18, 0xea, 0x6c, 0x3e, 0x6f, 0x5c, 0x93, 0x76, 17}, "orders-0001-deadbeef"...))
	bad := map[string]string{
		"empty-ish":            "A",
		"16 base64 characters": "AAAAAAAAAAAAAAAA",
		"garbage":              "c2F3bWlsbC1jdXJzb3ItZ2FyYmFnZQ",
		"32 characters":        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY",
		"not base64":           "!!!!",
		"padded base64":        good + "==",
		"old format":           old,
		"too long":             strings.Repeat("A", MaxCursorLen+1),
		"truncated":            good[:len(good)-1],
		"trailing byte":        base64.RawURLEncoding.EncodeToString(append(append([]byte{}, raw...), 0)),
	}
	for i := range raw {
		for _, bit := range []byte{0x01, 0x80} {
			b := append([]byte{}, raw...)
			b[i] ^= bit
			bad[fmt.Sprintf("byte %d xor %#x", i, bit)] = base64.RawURLEncoding.EncodeToString(b)
		}
	}
	for name, c := range bad {
		_, err := DecodeCursor(c, cursorQuery)
		assert.ErrorIs(t, err, ErrBadCursor, name)
	}

	other := map[string]func(q *SearchQuery){
		"other order":   func(q *SearchQuery) { q.OldestFirst = true },
		"other service": func(q *SearchQuery) { q.Filter.Services = []string{"orders"} },
		"other level":   func(q *SearchQuery) { q.Filter.MinSeverity = 17 },
		"other text":    func(q *SearchQuery) { q.Filter.Text = "Card" },
		"other attr":    func(q *SearchQuery) { q.Filter.Attrs = q.Filter.Attrs[:1] },
		"no filter":     func(q *SearchQuery) { q.Filter = Filter{} },
		"a trace":       func(q *SearchQuery) { q.Filter.TraceID = []byte("0123456789abcdef") },
		"a span":        func(q *SearchQuery) { q.Filter.SpanID = []byte("01234567") },
		"a logger":      func(q *SearchQuery) { q.Filter.Logger = "http" },
		"an error type": func(q *SearchQuery) { q.Filter.ErrorType = "E" },
		"an instance":   func(q *SearchQuery) { q.Filter.Instance = "orders-1" },
		"an env":        func(q *SearchQuery) { q.Filter.Environment = "prod" },
		"a version":     func(q *SearchQuery) { q.Filter.Version = "1.2" },
		"text vs attr":  func(q *SearchQuery) { q.Filter.Text = ""; q.Filter.Services = []string{"orders", "paymentscard"} },
		"moved a string": func(q *SearchQuery) {
			q.Filter.Attrs = []AttrMatch{{Key: "http.status", Value: "500u"}, {Key: "ser", Value: "7"}}
		},
	}
	for name, change := range other {
		q := cursorQuery
		q.Filter.Services = append([]string{}, q.Filter.Services...)
		q.Filter.Attrs = append([]AttrMatch{}, q.Filter.Attrs...)
		change(&q)
		_, err := DecodeCursor(good, q)
		require.ErrorIs(t, err, ErrBadCursor, name)
		assert.Contains(t, err.Error(), "another filter or order", name)
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(EncodeCursor(Key{Time: 1795406961884678774, BatchID: "orders-0001-deadbeef", Index: 17}, SearchQuery{}))
	f.Add(EncodeCursor(Key{Time: 1, BatchID: "b", Index: 0}, cursorQuery))
	f.Add("AAAAAAAAAAAAAAAA")
	f.Add("GOqMPm9ck3YRb3JkZXJzLTAwMDEtZGVhZGJlZWY")
	f.Fuzz(func(t *testing.T, c string) {
		for _, q := range []SearchQuery{{}, cursorQuery} {
			k, err := DecodeCursor(c, q)
			if err != nil {
				require.ErrorIs(t, err, ErrBadCursor)
				continue
			}
			// Whatever decodes is exactly what EncodeCursor makes for q.
			require.Equal(t, c, EncodeCursor(k, q))
			require.Positive(t, k.Time)
			require.NotEmpty(t, k.BatchID)
			require.LessOrEqual(t, k.Index, 1<<20)
		}
	})
}
