package workload

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShape(t *testing.T) {
	g := New("orders", 1)
	const n = 20000
	levels := map[Level]int{}
	korean, size := 0, 0
	var buf []byte
	for range n {
		e := g.Next()
		levels[e.Level]++
		if strings.HasPrefix(e.Message, "주문 ") {
			korean++
		}
		buf = e.AppendJSON(buf[:0])
		var attrs map[string]any
		require.NoError(t, json.Unmarshal(buf, &attrs), "%s", buf)
		require.Len(t, attrs, 7)
		assert.Len(t, attrs["trace_id"], 32)
		assert.Len(t, attrs["span_id"], 16)
		assert.Contains(t, string(buf), `"duration_ms":`)
		assert.NotContains(t, string(buf), `"http_status":"`, "http_status is an int")
		// The record as JSON: time, service, host, level, message, attributes.
		size += len(buf) + len(e.Message) + len(`{"time":"2026-11-23T04:00:00.123456789Z","service":"orders","host":"orders-1","level":"info","message":"","attributes":}`)
	}
	frac := func(l Level) float64 { return float64(levels[l]) / n }
	assert.InDelta(t, 0.70, frac(Info), 0.02)
	assert.InDelta(t, 0.20, frac(Debug), 0.02)
	assert.InDelta(t, 0.08, frac(Warn), 0.01)
	assert.InDelta(t, 0.02, frac(Error), 0.005)
	assert.InDelta(t, 1.0/50, float64(korean)/n, 0.005)
	avg := size / n
	assert.True(t, avg >= 250 && avg <= 350, "average record %d bytes as JSON", avg)
}

func TestDeterministic(t *testing.T) {
	a, b := New("users", 7), New("users", 7)
	for range 100 {
		assert.Equal(t, a.Next(), b.Next())
	}
	assert.NotEqual(t, New("users", 7).Next(), New("users", 8).Next())
}
