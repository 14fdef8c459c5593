package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sawmill-dev/sawmill/examples/loadgen/workload"
)

// TestSearchSmoke runs the search harness end to end at CI size: 21,000
// standard records over 24 h through three source processes into an
// embedded sawmill, then a few questions, each judged against the replay of
// the generators. It checks the answers only; speed is measured by
// `make bench-search`, never asserted here.
func TestSearchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts sawmill and source processes")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go toolchain not on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	root, err := repoRoot()
	require.NoError(t, err)
	work := t.TempDir()
	var log bytes.Buffer
	bins, err := build(ctx, root, work, "go", &log)
	require.NoError(t, err, log.String())
	runDir := filepath.Join(work, "run")
	require.NoError(t, os.MkdirAll(runDir, 0o755))
	res, err := RunSearch(ctx, SearchOptions{Mode: "embedded", Kind: workload.Standard, Services: 3, Records: 21000, Span: 24 * time.Hour,
		Step: time.Hour, Runs: 1, Questions: []string{"newest-service", "newest-errors", "needle", "rare-attr", "count-word", "stats-hourly", "trace-count", "field-values"},
		Bins: bins, WorkDir: runDir, LoadLimit: 2 * time.Minute, QueryLimit: time.Minute, Log: &log})
	require.NoError(t, err, log.String())
	require.Empty(t, res.Problems, log.String())
	assert.Equal(t, uint64(21000), res.Load.Stored)
	assert.Equal(t, uint64(21000), res.Load.Acked)
	assert.Positive(t, res.Load.DiskBytes)
	assert.Positive(t, res.Load.StoreBytes)
	require.Len(t, res.Questions, 8)
	for _, q := range res.Questions {
		switch q.Name {
		case "trace-count", "field-values": // not in the API yet; the harness must say so, not call it wrong
			assert.Contains(t, []string{statusOK, statusUnsupported}, q.Status, "%s: %s", q.Name, q.Detail)
		default:
			assert.Equal(t, statusOK, q.Status, "%s: %s", q.Name, q.Detail)
			assert.Equal(t, q.Expected, q.Hits, q.Name)
			assert.Len(t, q.TimesMS, 1, q.Name)
		}
	}
	byName := map[string]*QuestionResult{}
	for _, q := range res.Questions {
		byName[q.Name] = q
	}
	assert.EqualValues(t, 1, byName["needle"].Hits, "one planted needle token")
	assert.GreaterOrEqual(t, byName["rare-attr"].Hits, int64(3), "user_id=4242 planted once per service")
	assert.EqualValues(t, 21000, byName["stats-hourly"].Hits, "every record in one hourly bucket")
	var out bytes.Buffer
	printSearchTable(&out, &SearchOutput{Commit: "test", Cores: 2}, res)
	assert.Contains(t, out.String(), "needle token (1 record)")
}

// TestJudge checks how answers are read: a wrong count is WRONG, an
// ignored new parameter or a 404 is unsupported, a 400 to a question the
// API supports is an error.
func TestJudge(t *testing.T) {
	count := &Question{Kind: qCount, hits: 7}
	trace := &Question{Kind: qCount, hits: 9, baseHits: 1000, Base: func(*record) bool { return true }}
	search := &Question{Kind: qSearch, Limit: 100, hits: 3, newest: 42}
	for name, tc := range map[string]struct {
		q      *Question
		code   int
		body   string
		status string
		hits   int64
	}{
		"right count":             {count, 200, `{"count":7}`, statusOK, 7},
		"wrong count":             {count, 200, `{"count":8}`, statusWrong, 8},
		"no count":                {count, 200, `{}`, statusError, -1},
		"400 to a known question": {count, 400, `{"error":"bad"}`, statusError, -1},
		"500":                     {count, 500, `{"error":"internal"}`, statusError, -1},
		"new parameter ignored":   {trace, 200, `{"count":1000}`, statusUnsupported, 1000},
		"new parameter refused":   {trace, 400, `{"error":"unknown parameter"}`, statusUnsupported, -1},
		"new parameter answered":  {trace, 200, `{"count":9}`, statusOK, 9},
		"new parameter wrong":     {trace, 200, `{"count":10}`, statusWrong, 10},
		"search right":            {search, 200, `{"logs":[{"time_unix_nano":"42"},{"time_unix_nano":"41"},{"time_unix_nano":"40"}]}`, statusOK, 3},
		"search not the newest":   {search, 200, `{"logs":[{"time_unix_nano":"41"},{"time_unix_nano":"40"},{"time_unix_nano":"39"}]}`, statusWrong, 3},
		"search too few":          {search, 200, `{"logs":[{"time_unix_nano":"42"}]}`, statusWrong, 1},
	} {
		t.Run(name, func(t *testing.T) {
			hits, status, detail := tc.q.judge(tc.code, []byte(tc.body))
			assert.Equal(t, tc.status, status, detail)
			assert.Equal(t, tc.hits, hits)
		})
	}
}

func TestQuantiles(t *testing.T) {
	p50, p99, mx := quantiles([]float64{5, 1, 3, 2, 4})
	assert.Equal(t, 3.0, p50)
	assert.Equal(t, 5.0, p99, "p99 of fewer than 100 runs is the max")
	assert.Equal(t, 5.0, mx)
	assert.Equal(t, "24h", shortDur(24*time.Hour))
	assert.Equal(t, "1h30m", shortDur(90*time.Minute))
}
