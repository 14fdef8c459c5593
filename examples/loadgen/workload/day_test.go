package workload

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTimeAtSpreadsEvenlyBeforeEnd(t *testing.T) {
	end := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC).UnixNano()
	const n = 3_000_000
	span := 24 * time.Hour
	assert.Equal(t, end-int64(span), TimeAt(end, span, 0, n))
	assert.Equal(t, end-int64(span)/2, TimeAt(end, span, n/2, n))
	last := TimeAt(end, span, n-1, n)
	assert.Less(t, last, end)
	assert.Greater(t, last, end-int64(span)/n*2)
	for i := 1; i < 1000; i++ {
		assert.Less(t, TimeAt(end, span, i-1, n), TimeAt(end, span, i, n))
	}
}

func TestDayPlantsNeedlesAtKnownPositions(t *testing.T) {
	for _, kind := range []Kind{Standard, LongLine} {
		t.Run(string(kind), func(t *testing.T) {
			const n = 250_000
			d := NewDay(kind, "payments", 2, n)
			var traces, phrases, users, needles []int
			for i := range n {
				require.Equal(t, i, d.Index())
				e := d.Next()
				if e.TraceID == NeedleTraceID {
					traces = append(traces, i)
				}
				if strings.Contains(e.Message, RarePhrase+"planted") {
					phrases = append(phrases, i)
				}
				if e.UserID == RareUserID && i == n/6 {
					users = append(users, i)
				}
				if strings.Contains(e.Message, NeedleToken("payments", i)) {
					needles = append(needles, i)
				}
				if kind == LongLine {
					require.GreaterOrEqual(t, len(e.Message), LongMinBytes)
					require.LessOrEqual(t, len(e.Message), LongMaxBytes)
				}
			}
			assert.Equal(t, []int{n / 4, n / 2, n * 3 / 4}, traces)
			assert.Equal(t, []int{n / 5}, phrases)
			assert.Equal(t, []int{n / 6}, users)
			assert.Equal(t, []int{n / 3, NeedleEvery - 1, 2*NeedleEvery - 1}, needles)
		})
	}
}

func TestDayIsDeterministic(t *testing.T) {
	a, b := NewDay(LongLine, "orders", 1, 1000), NewDay(LongLine, "orders", 1, 1000)
	for range 1000 {
		assert.Equal(t, a.Next(), b.Next())
	}
	assert.NotEqual(t, NeedleToken("orders", 5), NeedleToken("users", 5))
}

func TestLongLineShape(t *testing.T) {
	g := NewLong("orders", 1)
	const n = 20000
	levels := map[Level]int{}
	total := 0
	kinds := map[string]int{}
	for range n {
		e := g.Next()
		levels[e.Level]++
		total += len(e.Message)
		for _, k := range []string{"SELECT ", "\n\tat com.acme.", "goroutine ", "    at ", "HTTP/1.1", "request body: {"} {
			if strings.Contains(e.Message, k) {
				kinds[k]++
			}
		}
	}
	assert.Len(t, kinds, 6, "every template occurs: %v", kinds)
	for _, lv := range []Level{Debug, Info, Warn, Error} {
		assert.Greater(t, levels[lv], n/50, "level %s: %v", lv, levels)
	}
	avg := total / n
	assert.Greater(t, avg, 250)
	assert.Less(t, avg, 1200)
}
