package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSmoke runs the harness end to end on a small burst: one Go source,
// 20,000 records in 1 s, embedded mode, and checks that everything sent is
// acknowledged and stored exactly once. It checks correctness only; speed
// is measured by `make bench`, never asserted here.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts sawmill and a source process")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go toolchain not on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root, err := repoRoot()
	require.NoError(t, err)
	work := t.TempDir()
	var log bytes.Buffer
	bins, err := build(ctx, root, work, "go", &log)
	require.NoError(t, err, log.String())
	runDir := filepath.Join(work, "run")
	require.NoError(t, os.MkdirAll(runDir, 0o755))
	res, err := Run(ctx, Options{Mode: "embedded", Rate: 20000, Duration: time.Second, Sources: 1, SDK: "go",
		Bins: bins, WorkDir: runDir, Distinct: true, DrainLimit: 60 * time.Second, Log: &log})
	require.NoError(t, err, log.String())
	require.Empty(t, res.Problems, log.String())
	require.Equal(t, uint64(20000), res.Sent)
	require.Equal(t, res.Sent, res.Accepted)
	require.Equal(t, res.Sent, res.Stored, "stored = sent")
	require.NotNil(t, res.Duplicates)
	require.Zero(t, *res.Duplicates, "no duplicates")
	require.True(t, res.Drained)
	require.Equal(t, 0, res.QueryLatency.Missing, "every marker found by a search")
	require.Greater(t, res.Server.CPUSeconds, 0.0, "server CPU sampled from /proc")
	require.Greater(t, res.Server.PeakRSSMiB, 0.0, "server RSS sampled from /proc")
	var out bytes.Buffer
	printTable(&out, &Output{Commit: "test", Cores: 2}, res)
	require.Contains(t, out.String(), "stored                 20000")
}
