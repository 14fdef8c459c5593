// Package workload generates the records of the standard "seed-burst"
// workload (shared/WORKLOAD.md): seeded levels (70% info, 20% debug, 8% warn,
// 2% error), messages from templates with random ids, about 1 in 50 in
// Korean, and seven attributes, about 250-350 bytes as JSON.
package workload

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

// Gen generates records for one service; not safe for concurrent use.
type Gen struct {
	service string
	rng     *rand.Rand
	buf     []byte
}

// New returns a generator seeded by seed.
func New(service string, seed uint64) *Gen {
	return &Gen{service: service, rng: rand.New(rand.NewPCG(seed, uint64(len(service))))}
}

var methods = []string{"GET", "POST", "PUT", "DELETE"}

// Level returns a seeded level: 70% info, 20% debug, 8% warn, 2% error.
func (g *Gen) Level() sawmillv1.SeverityNumber {
	switch n := g.rng.IntN(100); {
	case n < 70:
		return sawmillv1.SeverityNumber_SEVERITY_NUMBER_INFO
	case n < 90:
		return sawmillv1.SeverityNumber_SEVERITY_NUMBER_DEBUG
	case n < 98:
		return sawmillv1.SeverityNumber_SEVERITY_NUMBER_WARN
	default:
		return sawmillv1.SeverityNumber_SEVERITY_NUMBER_ERROR
	}
}

// Message returns a templated message.
func (g *Gen) Message() string {
	id := g.rng.IntN(1_000_000)
	if g.rng.IntN(50) == 0 {
		return fmt.Sprintf("주문 %d 처리 완료", id)
	}
	switch g.rng.IntN(3) {
	case 0:
		return fmt.Sprintf("order %d created for user %d in %d ms", id, g.rng.IntN(100_000), g.rng.IntN(500))
	case 1:
		return fmt.Sprintf("payment %d authorised amount=%d KRW", id, g.rng.IntN(100_000))
	default:
		return fmt.Sprintf("user %d logged in from 10.%d.%d.%d", id, g.rng.IntN(256), g.rng.IntN(256), g.rng.IntN(256))
	}
}

// Attributes returns the seven attributes as a JSON object.
func (g *Gen) Attributes() []byte {
	var tr [16]byte
	var sp [8]byte
	for i := range tr {
		tr[i] = byte(g.rng.Uint32())
	}
	for i := range sp {
		sp[i] = byte(g.rng.Uint32())
	}
	b := g.buf[:0]
	b = append(b, `{"trace_id":"`...)
	b = hex.AppendEncode(b, tr[:])
	b = append(b, `","span_id":"`...)
	b = hex.AppendEncode(b, sp[:])
	b = append(b, `","http_method":"`...)
	b = append(b, methods[g.rng.IntN(len(methods))]...)
	b = append(b, `","http_path":"/api/`...)
	b = append(b, g.service...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(g.rng.IntN(1_000_000)), 10)
	b = append(b, `","http_status":`...)
	b = strconv.AppendInt(b, int64([]int{200, 200, 200, 201, 204, 400, 404, 500}[g.rng.IntN(8)]), 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(g.rng.IntN(500_000))/1000+0.001, 'f', 3, 64)
	b = append(b, `,"user_id":`...)
	b = strconv.AppendInt(b, int64(g.rng.IntN(100_000)), 10)
	b = append(b, '}')
	g.buf = b
	return append([]byte(nil), b...)
}

// Record returns one record stamped now.
func (g *Gen) Record(now time.Time) *sawmillv1.LogRecord {
	lvl := g.Level()
	return &sawmillv1.LogRecord{
		TimeUnixNano:         uint64(now.UnixNano()),
		ObservedTimeUnixNano: uint64(now.UnixNano()),
		SeverityNumber:       lvl,
		SeverityText:         [...]string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}[(lvl-1)/4],
		Body:                 g.Message(),
		AttributesJson:       g.Attributes(),
	}
}
