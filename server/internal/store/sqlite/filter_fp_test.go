package sqlite

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// fpShape generates the message bodies of one kind of block.
type fpShape struct {
	name string
	body func(rng *rand.Rand, b []byte) []byte
}

// fpShapes are the message shapes the filter is measured on: the standard
// workload (short templated messages), random words of ~300 B, 1 KB and
// 4 KB, and long infrastructure lines (stack traces, SQL, URLs, UUIDs,
// JSON; 100-2,000 bytes).
var fpShapes = []fpShape{
	{"standard", func(rng *rand.Rand, b []byte) []byte {
		return fmt.Appendf(b, "order %d created for user %d in %d ms", rng.IntN(1e6), rng.IntN(1e5), rng.IntN(500))
	}},
	{"random300", func(rng *rand.Rand, b []byte) []byte { return randomWords(rng, b, 300) }},
	{"random1k", func(rng *rand.Rand, b []byte) []byte { return randomWords(rng, b, 1000) }},
	{"random4k", func(rng *rand.Rand, b []byte) []byte { return randomWords(rng, b, 4000) }},
	{"longline", longLine},
}

// randomWords appends words of 2-10 random letters and digits, about n
// bytes in all.
func randomWords(rng *rand.Rand, b []byte, n int) []byte {
	const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	start := len(b)
	for len(b)-start < n {
		if len(b) > start {
			b = append(b, ' ')
		}
		for range 2 + rng.IntN(9) {
			b = append(b, alnum[rng.IntN(len(alnum))])
		}
	}
	return b
}

func appendUUID(rng *rand.Rand, b []byte) []byte {
	const hex = "0123456789abcdef"
	for i := range 36 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			b = append(b, '-')
			continue
		}
		b = append(b, hex[rng.IntN(16)])
	}
	return b
}

var (
	llClasses = []string{"OrderService", "PaymentGateway", "InventoryClient", "SessionStore", "InvoiceRenderer", "RetryTemplate", "KafkaListener"}
	llMethods = []string{"find", "save", "authorize", "reserve", "render", "execute", "onMessage", "lookup"}
	llExcs    = []string{"java.lang.NullPointerException", "java.lang.IllegalStateException", "org.postgresql.util.PSQLException", "java.net.SocketTimeoutException"}
	llTables  = []string{"orders", "order_items", "customers", "payments", "invoices", "shipments", "sessions", "audit_log"}
	llCols    = []string{"id", "customer_id", "total_cents", "status", "created_at", "updated_at", "email", "currency", "region"}
	llAgents  = []string{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36", "curl/8.5.0", "okhttp/4.12.0", "Go-http-client/2.0"}
)

// longLine appends one infrastructure-style line of 100-2,000 bytes: a Java
// stack trace, a slow SQL statement, an access-log line with a URL, or a
// JSON payload dump, each with ids and numbers varying per line.
func longLine(rng *rand.Rand, b []byte) []byte {
	start := len(b)
	target := 100 + rng.IntN(1900)
	pick := func(s []string) { b = append(b, s[rng.IntN(len(s))]...) }
	num := func(n int) { b = strconv.AppendInt(b, int64(rng.IntN(n)), 10) }
	switch rng.IntN(4) {
	case 0:
		pick(llExcs)
		b = append(b, ": order "...)
		b = appendUUID(rng, b)
		b = append(b, " not found"...)
		for len(b)-start < target {
			b = append(b, "\n\tat com.acme."...)
			c := llClasses[rng.IntN(len(llClasses))]
			b = append(b, strings.ToLower(c)...)
			b = append(b, '.')
			b = append(b, c...)
			b = append(b, '.')
			pick(llMethods)
			b = append(b, '(')
			b = append(b, c...)
			b = append(b, ".java:"...)
			num(900)
			b = append(b, ')')
		}
	case 1:
		b = append(b, "slow query ("...)
		num(5000)
		b = append(b, " ms): SELECT "...)
		for len(b)-start < target {
			pick(llCols)
			b = append(b, ", "...)
		}
		b = append(b, "1 FROM "...)
		pick(llTables)
		b = append(b, " WHERE customer_id = "...)
		num(1e7)
		b = append(b, " AND id = '"...)
		b = appendUUID(rng, b)
		b = append(b, '\'')
	case 2:
		b = fmt.Appendf(b, "10.%d.%d.%d - - \"GET /api/v1/orders/", rng.IntN(256), rng.IntN(256), rng.IntN(256))
		b = appendUUID(rng, b)
		b = fmt.Appendf(b, "?page=%d&session=%x HTTP/1.1\" %d %d \"", rng.IntN(100), rng.Uint64(), 200+rng.IntN(4)*100, rng.IntN(1e6))
		pick(llAgents)
		b = append(b, "\" request_id="...)
		b = appendUUID(rng, b)
		for len(b)-start < target {
			b = append(b, " x-forwarded-for=10."...)
			num(256)
			b = append(b, ".0."...)
			num(256)
		}
	default:
		b = append(b, `payload {"order_id":"`...)
		b = appendUUID(rng, b)
		b = append(b, `","items":[`...)
		for len(b)-start < target {
			b = fmt.Appendf(b, `{"sku":"SKU-%d","qty":%d,"price_cents":%d},`, rng.IntN(1e5), 1+rng.IntN(9), rng.IntN(1e5))
		}
		b = append(b, `{}]}`...)
	}
	if len(b)-start > 2000 {
		b = b[:start+2000]
	}
	return b
}

// fpResult is what measureFP finds for one full block of a shape.
type fpResult struct {
	textFP, numFP, attrFP float64 // share of absent needles / attribute values the filter lets through
	filterBytes           int
	records               int
}

// measureFP builds one block of records records of shape and probes
// its filter with probes needles and attribute values that no record has
// (checked by brute force): " <word> " with a random 8-letter word (text),
// " <number> " with a random 8-digit number (num; its trigrams are in
// most blocks, so only whole words prune it), and user_id=<a number no
// record uses> (attr).
func measureFP(tb testing.TB, shape fpShape, records, probes int) fpResult {
	rng := rand.New(rand.NewPCG(7, uint64(len(shape.name))))
	var bs []*sawmillv1.LogBatch
	var all strings.Builder
	var body []byte
	for i := 0; i < records; i += 1000 {
		bt := &sawmillv1.LogBatch{BatchId: fmt.Sprint(shape.name, i), Resource: &sawmillv1.Resource{Service: "svc"}}
		for j := 0; j < 1000 && i+j < records; j++ {
			body = shape.body(rng, body[:0])
			all.WriteString(strings.ToLower(string(body)))
			all.WriteByte('\n')
			bt.Records = append(bt.Records, &sawmillv1.LogRecord{
				TimeUnixNano:   uint64(1_700_000_000_000_000_000 + i + j),
				SeverityNumber: sawmillv1.SeverityNumber_SEVERITY_NUMBER_INFO,
				Body:           string(body),
				AttributesJson: fmt.Appendf(nil, `{"trace_id":"%016x%016x","span_id":"%016x","http_method":"POST","http_path":"/api/orders/%d","http_status":201,"duration_ms":%d.5,"user_id":%d}`,
					rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.IntN(1e6), rng.IntN(500), rng.IntN(1e5)),
			})
		}
		bs = append(bs, bt)
	}
	c := &codec{}
	blk, _, err := c.build("svc", bs, nil)
	require.NoError(tb, err)
	text := all.String()
	absentFP := func(alphabet string) float64 {
		hits, n := 0, 0
		for n < probes {
			w := make([]byte, 8)
			for i := range w {
				w[i] = alphabet[rng.IntN(len(alphabet))]
			}
			needle := " " + string(w) + " "
			if strings.Contains(text, needle) {
				continue // present: not a probe of a false positive
			}
			n++
			if mayMatchText(store.NewMatcher(store.Filter{Text: needle}), blk.filter) {
				hits++
			}
		}
		return float64(hits) / float64(n)
	}
	attrHits := 0
	for range probes {
		v := strconv.Itoa(1e5 + rng.IntN(1e9)) // user ids are below 1e5
		if mayMatchText(store.NewMatcher(store.Filter{Attrs: []store.AttrMatch{{Key: "user_id", Value: v}}}), blk.filter) {
			attrHits++
		}
	}
	return fpResult{
		textFP:      absentFP("abcdefghijklmnopqrstuvwxyz"),
		numFP:       absentFP("0123456789"),
		attrFP:      float64(attrHits) / float64(probes),
		filterBytes: filterBytes(blk.blockMeta),
		records:     int(blk.records),
	}
}

// BenchmarkFilterFP reports, per message shape, the false-positive rate of
// one full block's filter for absent words and attribute values, and the
// filter's bytes per record. The time per op is that of building and
// probing the block, not of interest.
//
//	go test -run '^$' -bench FilterFP -benchtime 1x ./internal/store/sqlite
func BenchmarkFilterFP(b *testing.B) {
	for _, sh := range fpShapes {
		b.Run(sh.name, func(b *testing.B) {
			var r fpResult
			for range b.N {
				r = measureFP(b, sh, maxBlockRecords, 400)
			}
			b.ReportMetric(100*r.textFP, "text-fp%")
			b.ReportMetric(100*r.numFP, "num-fp%")
			b.ReportMetric(100*r.attrFP, "attr-fp%")
			b.ReportMetric(float64(r.filterBytes)/float64(r.records), "filter-B/record")
		})
	}
}

func filterBytes(b blockMeta) int { return len(b.filter) }
