package workload

import (
	"fmt"
	"hash/fnv"
	"math/bits"
	"strconv"
	"time"
)

// Kind names a record generator of the "day" search workload.
type Kind string

// The kinds of the day workload (BENCHMARKS.md, "Search at the scale of a day").
const (
	// Standard is the seed-burst record shape (Gen).
	Standard Kind = "standard"
	// LongLine is infrastructure-like messages of 100-2,000 bytes (LongGen).
	LongLine Kind = "longline"
)

// ParseKind checks a kind name.
func ParseKind(s string) (Kind, error) {
	switch Kind(s) {
	case Standard, LongLine:
		return Kind(s), nil
	}
	return "", fmt.Errorf("workload %q: want standard or longline", s)
}

// The planted needles of the day workload. Every service of a run holds
// them at fixed positions of its n records (see Day), so a search harness
// that replays the generators knows each question's exact answer.
const (
	// NeedleTraceID is the trace id of three records per service, at
	// positions n/4, n/2 and 3n/4: one trace across every service.
	NeedleTraceID = "5a3d1e0f00c0ffee5a3d1e0f00c0ffee"
	// RarePhrase is planted in the message of the record at n/5 of every
	// service (in the standard workload it also occurs naturally, about
	// once per 3 million records: "order 123456 created ...").
	RarePhrase = "order 123456 "
	// RareUserID is the user_id of the record at n/6 of every service (in
	// both workloads it also occurs naturally, about once per 100,000).
	RareUserID = 4242
	// NeedleEvery is the spacing of the needle tokens: one record in every
	// NeedleEvery of each service carries NeedleToken(service, i), and so
	// does the record at n/3.
	NeedleEvery = 100_000
)

// NeedleToken is the unique token planted in record i of service: "ndl"
// and 16 hex digits, a token no generator produces otherwise.
func NeedleToken(service string, i int) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(service))
	_, _ = h.Write([]byte(strconv.Itoa(i)))
	return fmt.Sprintf("ndl%016x", h.Sum64())
}

// IsNeedle reports whether record i of n carries a needle token.
func IsNeedle(i, n int) bool { return i%NeedleEvery == NeedleEvery-1 || i == n/3 }

// TimeAt is the time (unix ns) of record i of n spread evenly over the span
// ending at end: end-span + i*span/n, computed exactly. Records of one
// service are in time order and every one is before end.
func TimeAt(end int64, span time.Duration, i, n int) int64 {
	if n <= 0 || span <= 0 {
		return end
	}
	hi, lo := bits.Mul64(uint64(i), uint64(span))
	q, _ := bits.Div64(hi, lo, uint64(n)) // i < n, so the quotient fits
	return end - int64(span) + int64(q)
}

// Day generates the n records of one service of the day workload: the
// records of its kind's generator with the needles planted. Entries are
// deterministic for a given kind, service, seed and n; not safe for
// concurrent use.
type Day struct {
	service string
	n, i    int
	std     *Gen
	long    *LongGen
}

// NewDay returns the generator of service's n records.
func NewDay(kind Kind, service string, seed uint64, n int) *Day {
	d := &Day{service: service, n: n}
	if kind == LongLine {
		d.long = NewLong(service, seed)
	} else {
		d.std = New(service, seed)
	}
	return d
}

// Index is the position of the entry the next call of Next returns.
func (d *Day) Index() int { return d.i }

// Next returns the next entry (its string fields stay valid).
func (d *Day) Next() Entry {
	var e Entry
	if d.long != nil {
		e = d.long.Next()
	} else {
		e = d.std.Next()
	}
	i, n := d.i, d.n
	d.i++
	switch i {
	case n / 4, n / 2, n * 3 / 4:
		e.TraceID = NeedleTraceID
	}
	if i == n/5 {
		e.Message = RarePhrase + "planted by the day workload, " + e.Message
	}
	if i == n/6 {
		e.UserID = RareUserID
	}
	if IsNeedle(i, n) {
		e.Message += " req=" + NeedleToken(d.service, i)
	}
	return e
}
