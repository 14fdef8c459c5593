package workload

import (
	"encoding/hex"
	"math/rand/v2"
	"strconv"
)

// LongGen generates the records of the "day-long-lines" workload: messages
// of 100-2,000 bytes that look like real infrastructure logs, with many
// distinct tokens per line (paths, ids, UUIDs, IPs, SQL, URLs, Java / Go /
// Node stack traces, JSON payloads) and numbers varying per line. The level
// follows from the text: stack traces and panics are errors, slow queries
// and 4xx answers warnings, 5xx answers errors, payload dumps debug, the
// rest info. The seven attributes are those of Gen. Deterministic for a
// given service and seed; not safe for concurrent use.
type LongGen struct {
	service string
	rng     *rand.Rand
	b       []byte
}

// Message length bounds of LongGen.
const (
	LongMinBytes = 100
	LongMaxBytes = 2000
	plantRoom    = 80 // what Day may add to a message
)

// NewLong returns a long-line generator for service seeded by seed.
func NewLong(service string, seed uint64) *LongGen {
	return &LongGen{service: service, rng: rand.New(rand.NewPCG(seed, uint64(len(service))^0x10)), b: make([]byte, 0, 2048)}
}

var (
	longTables  = []string{"orders", "order_items", "customers", "payments", "invoices", "shipments", "sessions", "audit_log"}
	longColumns = []string{"id", "customer_id", "total_cents", "status", "created_at", "updated_at", "email", "currency", "region", "version"}
	longClasses = []string{"OrderService", "PaymentGateway", "InventoryClient", "SessionStore", "InvoiceRenderer", "RetryTemplate", "KafkaListener"}
	longMethods = []string{"find", "save", "authorize", "reserve", "render", "execute", "onMessage", "lookup"}
	longExcs    = []string{"java.lang.NullPointerException", "java.lang.IllegalStateException", "org.postgresql.util.PSQLException", "java.net.SocketTimeoutException", "java.util.ConcurrentModificationException"}
	longJSErrs  = []string{"TypeError: Cannot read properties of undefined (reading 'id')", "RangeError: Maximum call stack size exceeded", "Error: connect ECONNREFUSED 10.0.3.7:6379", "SyntaxError: Unexpected token < in JSON at position 0"}
	longAgents  = []string{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36", "curl/8.5.0", "okhttp/4.12.0", "Go-http-client/2.0", "python-requests/2.32.3"}
	longRegions = []string{"ap-northeast-2", "eu-west-1", "us-east-1", "us-west-2"}
)

func (g *LongGen) num(n int) { g.b = strconv.AppendInt(g.b, int64(g.rng.IntN(n)), 10) }

func (g *LongGen) pick(s []string) { g.b = append(g.b, s[g.rng.IntN(len(s))]...) }

func (g *LongGen) uuid() {
	var u [16]byte
	for i := range u {
		u[i] = byte(g.rng.Uint32())
	}
	var h [32]byte
	hex.Encode(h[:], u[:])
	g.b = append(g.b, h[0:8]...)
	g.b = append(g.b, '-')
	g.b = append(g.b, h[8:12]...)
	g.b = append(g.b, '-')
	g.b = append(g.b, h[12:16]...)
	g.b = append(g.b, '-')
	g.b = append(g.b, h[16:20]...)
	g.b = append(g.b, '-')
	g.b = append(g.b, h[20:32]...)
}

func (g *LongGen) ip() {
	g.b = append(g.b, "10."...)
	g.num(256)
	g.b = append(g.b, '.')
	g.num(256)
	g.b = append(g.b, '.')
	g.num(256)
}

// javaTrace: an exception with 3-25 frames.
func (g *LongGen) javaTrace() Level {
	g.pick(longExcs)
	g.b = append(g.b, ": request "...)
	g.uuid()
	g.b = append(g.b, " failed after "...)
	g.num(30000)
	g.b = append(g.b, " ms"...)
	for f, n := 0, 3+g.rng.IntN(23); f < n; f++ {
		g.b = append(g.b, "\n\tat com.acme."...)
		g.b = append(g.b, g.service...)
		g.b = append(g.b, '.')
		g.pick(longClasses)
		g.b = append(g.b, '.')
		g.pick(longMethods)
		g.b = append(g.b, '(')
		g.pick(longClasses)
		g.b = append(g.b, ".java:"...)
		g.num(900)
		g.b = append(g.b, ')')
	}
	return Error
}

// goPanic: a Go panic with its goroutine's stack.
func (g *LongGen) goPanic() Level {
	g.b = append(g.b, "panic: runtime error: index out of range ["...)
	g.num(64)
	g.b = append(g.b, "] with length "...)
	g.num(64)
	g.b = append(g.b, "\n\ngoroutine "...)
	g.num(100000)
	g.b = append(g.b, " [running]:"...)
	for f, n := 0, 2+g.rng.IntN(12); f < n; f++ {
		g.b = append(g.b, "\ngithub.com/acme/"...)
		g.b = append(g.b, g.service...)
		g.b = append(g.b, "/internal/"...)
		g.pick(longTables)
		g.b = append(g.b, ".(*"...)
		g.pick(longClasses)
		g.b = append(g.b, ")."...)
		g.pick(longMethods)
		g.b = append(g.b, "(0xc000"...)
		g.b = strconv.AppendInt(g.b, int64(g.rng.IntN(1<<24)), 16)
		g.b = append(g.b, ")\n\t/src/internal/"...)
		g.pick(longTables)
		g.b = append(g.b, ".go:"...)
		g.num(700)
		g.b = append(g.b, " +0x"...)
		g.b = strconv.AppendInt(g.b, int64(g.rng.IntN(4096)), 16)
	}
	return Error
}

// nodeError: a Node.js error with 3-12 frames.
func (g *LongGen) nodeError() Level {
	g.pick(longJSErrs)
	for f, n := 0, 3+g.rng.IntN(10); f < n; f++ {
		g.b = append(g.b, "\n    at "...)
		g.pick(longClasses)
		g.b = append(g.b, '.')
		g.pick(longMethods)
		g.b = append(g.b, " (/app/dist/"...)
		g.pick(longTables)
		g.b = append(g.b, "/controller.js:"...)
		g.num(400)
		g.b = append(g.b, ':')
		g.num(80)
		g.b = append(g.b, ')')
	}
	return Error
}

// sql: a slow query with an IN list of 1-60 ids.
func (g *LongGen) sql() Level {
	g.b = append(g.b, "slow query "...)
	g.num(5000)
	g.b = append(g.b, " ms rows="...)
	g.num(10000)
	g.b = append(g.b, ": SELECT "...)
	for c, n := 0, 2+g.rng.IntN(6); c < n; c++ {
		if c > 0 {
			g.b = append(g.b, ", "...)
		}
		g.b = append(g.b, "t."...)
		g.pick(longColumns)
	}
	g.b = append(g.b, " FROM "...)
	g.pick(longTables)
	g.b = append(g.b, " t JOIN "...)
	g.pick(longTables)
	g.b = append(g.b, " u ON u.id = t.customer_id WHERE t.region = '"...)
	g.pick(longRegions)
	g.b = append(g.b, "' AND t.id IN ("...)
	for k, n := 0, 1+g.rng.IntN(60); k < n; k++ {
		if k > 0 {
			g.b = append(g.b, ',')
		}
		g.num(10_000_000)
	}
	g.b = append(g.b, ") ORDER BY t.created_at DESC LIMIT "...)
	g.num(500)
	return Warn
}

// access: an HTTP access line with a URL, UUIDs, an IP and a user agent.
func (g *LongGen) access(status int) Level {
	g.ip()
	g.b = append(g.b, " - - \""...)
	g.pick(methods)
	g.b = append(g.b, " https://api.acme.example/v2/"...)
	g.b = append(g.b, g.service...)
	g.b = append(g.b, '/')
	g.uuid()
	g.b = append(g.b, "/items?page="...)
	g.num(50)
	g.b = append(g.b, "&sort=created_at&session="...)
	g.uuid()
	g.b = append(g.b, " HTTP/1.1\" "...)
	g.b = strconv.AppendInt(g.b, int64(status), 10)
	g.b = append(g.b, ' ')
	g.num(200000)
	g.b = append(g.b, " \""...)
	g.pick(longAgents)
	g.b = append(g.b, "\" rt="...)
	g.num(3000)
	g.b = append(g.b, "ms upstream="...)
	g.ip()
	g.b = append(g.b, ":8080"...)
	switch {
	case status >= 500:
		return Error
	case status >= 400:
		return Warn
	}
	return Info
}

// payload: a JSON request body with 1-20 items.
func (g *LongGen) payload() Level {
	g.b = append(g.b, "request body: {\"order_id\":\""...)
	g.uuid()
	g.b = append(g.b, "\",\"customer\":{\"id\":"...)
	g.num(1_000_000)
	g.b = append(g.b, ",\"email\":\"user"...)
	g.num(1_000_000)
	g.b = append(g.b, "@example.com\",\"ip\":\""...)
	g.ip()
	g.b = append(g.b, "\"},\"items\":["...)
	for k, n := 0, 1+g.rng.IntN(20); k < n; k++ {
		if k > 0 {
			g.b = append(g.b, ',')
		}
		g.b = append(g.b, "{\"sku\":\"SKU-"...)
		g.num(100000)
		g.b = append(g.b, "\",\"qty\":"...)
		g.num(9)
		g.b = append(g.b, ",\"price_cents\":"...)
		g.num(200000)
		g.b = append(g.b, '}')
	}
	g.b = append(g.b, "],\"currency\":\"KRW\"}"...)
	return Debug
}

// Next returns the next entry.
func (g *LongGen) Next() Entry {
	g.b = g.b[:0]
	status := statuses[g.rng.IntN(len(statuses))]
	var lv Level
	switch n := g.rng.IntN(100); {
	case n < 45:
		lv = g.access(status)
	case n < 65:
		lv = g.sql()
	case n < 80:
		lv = g.payload()
	case n < 90:
		lv = g.javaTrace()
	case n < 95:
		lv = g.goPanic()
	default:
		lv = g.nodeError()
	}
	for len(g.b) < LongMinBytes { // bound: each pass adds 20+ bytes
		g.b = append(g.b, " cid="...)
		g.uuid()
	}
	// Room for the day workload's plants (Day), so planted records stay
	// within LongMaxBytes too.
	if len(g.b) > LongMaxBytes-plantRoom {
		g.b = g.b[:LongMaxBytes-plantRoom]
	}
	var tr [16]byte
	var sp [8]byte
	for i := range tr {
		tr[i] = byte(g.rng.Uint32())
	}
	for i := range sp {
		sp[i] = byte(g.rng.Uint32())
	}
	return Entry{
		Level:      lv,
		Message:    string(g.b),
		TraceID:    hex.EncodeToString(tr[:]),
		SpanID:     hex.EncodeToString(sp[:]),
		HTTPMethod: methods[g.rng.IntN(len(methods))],
		HTTPPath:   "/v2/" + g.service + "/" + strconv.Itoa(g.rng.IntN(1_000_000)),
		HTTPStatus: status,
		DurationMS: float64(g.rng.IntN(500_000))/1000 + 0.001,
		UserID:     g.rng.IntN(100_000),
	}
}
