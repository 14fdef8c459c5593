package diskguard

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
)

func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "mnt")
	require.NoError(t, os.Mkdir(dir, 0o755))
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func writeFile(t *testing.T, path string, n int) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, make([]byte, n), 0o644))
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Between samples every admitted byte is counted against the free space:
// the guard admits exactly as many batches as fit above the threshold.
func TestAdmitCountsBytesBetweenSamples(t *testing.T) {
	mnt := mountTmpfs(t, 8<<20)
	var queued atomic.Int64
	queued.Store(512 << 10)
	g, err := New(Options{Dir: mnt, Reserve: 1 << 20, Queued: queued.Load, Interval: time.Hour})
	require.NoError(t, err)
	defer g.Close()
	free := g.Free()
	require.InDelta(t, 8<<20, free, 64<<10)

	const n = 100 << 10
	// Batch k+1 is admitted while free - k*n >= reserve + 2*(queued+n) + n.
	want := 0
	for k := int64(0); free-k*n >= 1<<20+2*(512<<10+n)+n; k++ {
		want++
	}
	got := 0
	for g.Admit(n) == nil {
		got++
		require.Less(t, got, 1000)
	}
	assert.Equal(t, want, got)
	var full *pipeline.FullError
	require.ErrorAs(t, g.Admit(n), &full)
	assert.Equal(t, time.Second, full.RetryAfter)
	assert.Contains(t, full.Reason, "disk nearly full: ")
	assert.Contains(t, full.Reason, " free on "+mnt+", reserve ")
	require.Error(t, g.Err())
	assert.Equal(t, full.Reason, g.Err().Error())
}

// The guard refuses when the disk fills (whoever fills it) or the queue
// grows, says why, exports it, and admits again once space is back.
func TestRefusesWhileDiskNearlyFullThenAdmitsAgain(t *testing.T) {
	mnt := mountTmpfs(t, 8<<20)
	var queued atomic.Int64
	reg := prometheus.NewRegistry()
	g, err := New(Options{Dir: mnt, Reserve: 2 << 20, Queued: queued.Load, Interval: 10 * time.Millisecond, Registerer: reg})
	require.NoError(t, err)
	defer g.Close()
	metric := func(name string) float64 {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == name {
				m := mf.GetMetric()[0]
				if m.GetGauge() != nil {
					return m.GetGauge().GetValue()
				}
				return m.GetCounter().GetValue()
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}

	require.NoError(t, g.Admit(64<<10))
	assert.NoError(t, g.Err())
	assert.Zero(t, metric("sawmill_disk_ingest_refused"))

	// Another process leaves 3 MiB: still room for the reserve.
	filler := filepath.Join(mnt, "filler")
	writeFile(t, filler, 5<<20)
	waitFor(t, "a sample after the filler", func() bool { return g.Free() < 4<<20 })
	require.NoError(t, g.Admit(64<<10))

	// 1 MiB queued for the store needs 2 MiB more than the floor: refused.
	queued.Store(1 << 20)
	waitFor(t, "refusal", func() bool { return g.Err() != nil })
	err = g.Admit(1 << 10)
	require.ErrorIs(t, err, pipeline.ErrFull)
	assert.True(t, strings.HasPrefix(g.Err().Error(), "disk nearly full: "), g.Err().Error())
	// 2 MiB + 2 × 1 MiB, and while refusing a quarter of the floor more to resume
	assert.Contains(t, g.Err().Error(), "reserve 4.5 MiB")
	assert.EqualValues(t, 1, metric("sawmill_disk_ingest_refused"))
	assert.EqualValues(t, 1, metric("sawmill_disk_refused_batches_total"))
	assert.InDelta(t, 3<<20, metric("sawmill_disk_free_bytes"), 128<<10)
	assert.EqualValues(t, 4<<20, metric("sawmill_disk_reserve_bytes"))

	// The queue drained: back above the threshold plus the hysteresis.
	queued.Store(0)
	waitFor(t, "admitting again", func() bool { return g.Err() == nil })
	require.NoError(t, g.Admit(64<<10))
	assert.Zero(t, metric("sawmill_disk_ingest_refused"))

	// The disk fills up, then the filler goes.
	writeFile(t, filepath.Join(mnt, "filler2"), 2<<20)
	waitFor(t, "refusal", func() bool { return g.Err() != nil })
	require.ErrorIs(t, g.Admit(1), pipeline.ErrFull)
	require.NoError(t, os.Remove(filler))
	waitFor(t, "admitting again", func() bool { return g.Err() == nil })
	require.NoError(t, g.Admit(1<<20))
}
