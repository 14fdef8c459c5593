// Package workload generates the records of the standard "seed-burst"
// workload (BENCHMARKS.md, "The workload"): seeded levels (70% info, 20% debug, 8% warn,
// 2% error), messages from templates with random ids, about 1 in 50 in
// Korean, and seven attributes (trace_id, span_id, http_method, http_path,
// http_status, duration_ms, user_id), about 250-350 bytes as JSON.
//
// A generator is deterministic for a given service and seed, so every run
// logs the same records; it allocates nothing per record except the message.
package workload

import (
	"encoding/hex"
	"math/rand/v2"
	"strconv"
)

// Level is a record's level.
type Level int8

// The levels the workload uses.
const (
	Debug Level = iota
	Info
	Warn
	Error
)

// String returns the level's lower-case name.
func (l Level) String() string {
	switch l {
	case Debug:
		return "debug"
	case Info:
		return "info"
	case Warn:
		return "warn"
	default:
		return "error"
	}
}

// Entry is one record's content; its string fields are valid until the
// next call of Next on the same generator.
type Entry struct {
	Level      Level
	Message    string
	TraceID    string // 32 hex digits
	SpanID     string // 16 hex digits
	HTTPMethod string
	HTTPPath   string
	HTTPStatus int
	DurationMS float64
	UserID     int
}

// Gen generates entries for one service; not safe for concurrent use.
type Gen struct {
	service string
	rng     *rand.Rand
	trace   [32]byte
	span    [16]byte
}

// New returns a generator for service seeded by seed.
func New(service string, seed uint64) *Gen {
	return &Gen{service: service, rng: rand.New(rand.NewPCG(seed, uint64(len(service))))}
}

var (
	methods  = []string{"GET", "POST", "PUT", "DELETE"}
	statuses = []int{200, 200, 200, 201, 204, 400, 404, 500}
)

func (g *Gen) level() Level {
	switch n := g.rng.IntN(100); {
	case n < 70:
		return Info
	case n < 90:
		return Debug
	case n < 98:
		return Warn
	default:
		return Error
	}
}

func (g *Gen) message() string {
	id := int64(g.rng.IntN(1_000_000))
	b := make([]byte, 0, 64)
	if g.rng.IntN(50) == 0 {
		b = append(b, "주문 "...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, " 처리 완료"...)
		return string(b)
	}
	switch g.rng.IntN(3) {
	case 0:
		b = append(b, "order "...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, " created for user "...)
		b = strconv.AppendInt(b, int64(g.rng.IntN(100_000)), 10)
		b = append(b, " in "...)
		b = strconv.AppendInt(b, int64(g.rng.IntN(500)), 10)
		b = append(b, " ms"...)
	case 1:
		b = append(b, "payment "...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, " authorised amount="...)
		b = strconv.AppendInt(b, int64(g.rng.IntN(100_000)), 10)
		b = append(b, " KRW"...)
	default:
		b = append(b, "user "...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, " logged in from 10."...)
		b = strconv.AppendInt(b, int64(g.rng.IntN(256)), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(g.rng.IntN(256)), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(g.rng.IntN(256)), 10)
	}
	return string(b)
}

// Next returns the next entry.
func (g *Gen) Next() Entry {
	var tr [16]byte
	var sp [8]byte
	for i := range tr {
		tr[i] = byte(g.rng.Uint32())
	}
	for i := range sp {
		sp[i] = byte(g.rng.Uint32())
	}
	hex.Encode(g.trace[:], tr[:])
	hex.Encode(g.span[:], sp[:])
	e := Entry{Level: g.level(), Message: g.message()}
	// The hex strings are copied: callers may keep zap fields beyond Next.
	e.TraceID = string(g.trace[:])
	e.SpanID = string(g.span[:])
	e.HTTPMethod = methods[g.rng.IntN(len(methods))]
	e.HTTPPath = "/api/" + g.service + "/" + strconv.Itoa(g.rng.IntN(1_000_000))
	e.HTTPStatus = statuses[g.rng.IntN(len(statuses))]
	e.DurationMS = float64(g.rng.IntN(500_000))/1000 + 0.001
	e.UserID = g.rng.IntN(100_000)
	return e
}

// AppendJSON appends the entry's seven attributes as one JSON object, the
// shape they have on the wire (attributes_json).
func (e *Entry) AppendJSON(b []byte) []byte {
	b = append(b, `{"trace_id":"`...)
	b = append(b, e.TraceID...)
	b = append(b, `","span_id":"`...)
	b = append(b, e.SpanID...)
	b = append(b, `","http_method":"`...)
	b = append(b, e.HTTPMethod...)
	b = append(b, `","http_path":"`...)
	b = append(b, e.HTTPPath...)
	b = append(b, `","http_status":`...)
	b = strconv.AppendInt(b, int64(e.HTTPStatus), 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, e.DurationMS, 'f', 3, 64)
	b = append(b, `,"user_id":`...)
	b = strconv.AppendInt(b, int64(e.UserID), 10)
	return append(b, '}')
}
