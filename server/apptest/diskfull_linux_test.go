package apptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

// mountTmpfs mounts a tmpfs of size bytes for the test, or skips it.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the disk-full test mounts a small tmpfs, which needs root")
	}
	dir := filepath.Join(t.TempDir(), "mnt")
	require.NoError(t, os.Mkdir(dir, 0o755))
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func statfsFree(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(dir, &st))
	return int64(st.Bavail) * st.Bsize
}

// leaveFree grows (or shrinks) the filler file so that about free bytes stay
// free on the filesystem of dir.
func leaveFree(t *testing.T, filler string, free int64) {
	t.Helper()
	var size int64
	if fi, err := os.Stat(filler); err == nil {
		size = fi.Size()
	}
	grow := statfsFree(t, filepath.Dir(filler)) - free
	f, err := os.OpenFile(filler, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	defer f.Close()
	if grow < 0 {
		require.NoError(t, f.Truncate(max(size+grow, 0)))
		return
	}
	// Written, not only extended, so that tmpfs allocates the pages.
	chunk := make([]byte, 1<<20)
	for left := grow; left > 0; left -= int64(len(chunk)) {
		_, err := f.Write(chunk[:min(int64(len(chunk)), left)])
		require.NoError(t, err)
	}
}

// loadClient pushes batches at a fixed rate through the real gRPC API and
// counts what it was told, retrying a refused batch (same id) after the
// server's RetryInfo, as the SDKs do.
type loadClient struct {
	c           sawmillv1.IngestServiceClient
	service     string
	records     int
	randomBody  int          // bytes of incompressible text added to each record's body
	acked       atomic.Int64 // records acknowledged
	refused     atomic.Int64 // records in answers to retry (RESOURCE_EXHAUSTED, UNAVAILABLE from the server)
	exhausted   atomic.Int64 // RESOURCE_EXHAUSTED answers
	diskReason  atomic.Int64 // ... of which named the disk
	noRetryInfo atomic.Int64 // RESOURCE_EXHAUSTED answers without RetryInfo
	rejected    atomic.Int64 // records refused for good
	lastReason  atomic.Value // string
}

// run pushes one batch every period until stop is closed; a batch not acked
// by then is abandoned (it was never acknowledged).
func (l *loadClient) run(stop <-chan struct{}, period time.Duration) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		b := Batch(l.service, l.records, time.Now())
		if l.randomBody > 0 {
			raw := make([]byte, l.randomBody/2)
			for _, r := range b.Records {
				_, _ = rand.Read(raw)
				r.Body += " " + hex.EncodeToString(raw)
			}
		}
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			resp, err := Push(ctx, l.c, b)
			cancel()
			if err == nil {
				l.acked.Add(int64(resp.GetAccepted()))
				break
			}
			st := status.Convert(err)
			retry := 200 * time.Millisecond
			switch st.Code() {
			case codes.ResourceExhausted:
				l.exhausted.Add(1)
				l.refused.Add(int64(l.records))
				if strings.Contains(st.Message(), "disk nearly full") {
					l.diskReason.Add(1)
					l.lastReason.Store(st.Message())
				}
				ri := retryInfo(st)
				if ri == nil {
					l.noRetryInfo.Add(1)
				} else {
					retry = min(ri.GetRetryDelay().AsDuration(), time.Second)
				}
			case codes.Unavailable:
				// The server's own answer counts as refused; a refused
				// connection (server stopping) never reached it.
				if !strings.Contains(st.Message(), "connection") && !strings.Contains(st.Message(), "transport") {
					l.refused.Add(int64(l.records))
				}
			case codes.InvalidArgument:
				l.rejected.Add(int64(l.records))
			}
			select {
			case <-stop:
				return
			case <-time.After(retry):
			}
		}
	}
}

func retryInfo(st *status.Status) *errdetails.RetryInfo {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri
		}
	}
	return nil
}

// load runs clients at about rate records/s until the returned stop is
// called, which waits for them to finish.
func load(clients []*loadClient, rate int) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, l := range clients {
		period := time.Duration(float64(time.Second) * float64(l.records*len(clients)) / float64(rate))
		wg.Add(1)
		go func() { defer wg.Done(); l.run(done, period) }()
	}
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

func sum(clients []*loadClient, f func(*loadClient) *atomic.Int64) int64 {
	var n int64
	for _, l := range clients {
		n += f(l).Load()
	}
	return n
}

// readyz returns /readyz's status code and reason (0 while the server does
// not answer).
func readyz(t *testing.T, s *Server) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + s.HTTPAddr + "/readyz")
	if err != nil {
		select {
		case <-s.done:
			t.Fatalf("sawmill exited: %v", s.exitErr)
		default:
		}
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &body), "%s", b)
	return resp.StatusCode, body.Reason
}

// waitReadyz waits until /readyz answers code with a reason containing
// want.
func waitReadyz(t *testing.T, s *Server, code int, want string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got, reason := readyz(t, s)
		if got == code && strings.Contains(reason, want) {
			return reason
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz answered %d (%q) for %s, want %d", got, reason, d, code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func metricValue(t *testing.T, s *Server, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + s.HTTPAddr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("metric %s not exported", name)
	return ""
}

type statusJSON struct {
	QueueBatches int64  `json:"queue_batches"`
	Ingested     int64  `json:"ingested_records"`
	Stored       int64  `json:"stored_records"`
	Rejected     int64  `json:"rejected_records"`
	Refused      int64  `json:"refused_records"`
	DiskRefusing string `json:"disk_refusing"`
}

func listDir(t *testing.T, dir string) string {
	var b strings.Builder
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			fmt.Fprintf(&b, "%s=%d ", strings.TrimPrefix(p, dir), fi.Size())
		}
		return nil
	})
	return b.String()
}

func emptySegments(t *testing.T, dir string) (empty, all int) {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "queue", "*.seg"))
	require.NoError(t, err)
	for _, p := range m {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		if fi.Size() == 0 {
			empty++
		}
	}
	return empty, len(m)
}

// waitQueueReclaimed waits until the queue under dataDir holds one empty
// segment: everything delivered, and the delivered frames' space given back.
func waitQueueReclaimed(t *testing.T, dataDir string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		m, err := filepath.Glob(filepath.Join(dataDir, "queue", "*.seg"))
		require.NoError(t, err)
		if len(m) == 1 {
			if fi, err := os.Stat(m[0]); err == nil && fi.Size() == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queue's delivered segments were not reclaimed within %s: %s", d, listDir(t, dataDir))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The reproduction at a smaller scale: the data dir on a 48 MiB
// tmpfs with ~12 MiB free, 20k logs/s through the real gRPC API. The server
// must refuse (RESOURCE_EXHAUSTED + RetryInfo, /readyz 503 with the reason)
// before the store runs out of room, store every acknowledged record, create
// no empty segments, count as clients saw, stop on SIGTERM with nothing
// left queued, restart on a nearly full disk, and accept again once space is
// freed.
func TestEmbeddedDiskFull(t *testing.T) {
	mnt := mountTmpfs(t, 48<<20)
	const reserve = 4 << 20
	s := &Server{t: t, GRPCAddr: FreeAddr(t), HTTPAddr: FreeAddr(t), DataDir: filepath.Join(mnt, "data"),
		Args: []string{"--disk-reserve", fmt.Sprint(reserve), "--queue-max-bytes", fmt.Sprint(16 << 20), "--shutdown-timeout", "15s"}}
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("sawmill output:\n%s", tail(s.Logs(), 6000))
		}
	})
	s.Restart()
	filler := filepath.Join(mnt, "filler")
	leaveFree(t, filler, 12<<20)

	conn := s.Conn(t)
	var clients []*loadClient
	for i := range 4 {
		clients = append(clients, &loadClient{c: sawmillv1.NewIngestServiceClient(conn), service: fmt.Sprintf("disk-%d", i), records: 500,
			randomBody: 200}) // incompressible: the store needs about as much room as the queue
	}
	q := url.Values{} // every record
	stopLoad := load(clients, 20000)
	defer stopLoad()

	// The disk fills up: refused with the reason, before the store fails.
	reason := waitReadyz(t, s, http.StatusServiceUnavailable, "disk nearly full: ", 15*time.Second)
	assert.Contains(t, reason, "disk nearly full: ")
	assert.Contains(t, reason, " free on "+s.DataDir+", reserve ")
	deadline := time.Now().Add(10 * time.Second)
	for sum(clients, func(l *loadClient) *atomic.Int64 { return &l.diskReason }) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stopLoad()
	require.Positive(t, sum(clients, func(l *loadClient) *atomic.Int64 { return &l.diskReason }), "clients were told the disk is nearly full")
	assert.Zero(t, sum(clients, func(l *loadClient) *atomic.Int64 { return &l.noRetryInfo }), "RESOURCE_EXHAUSTED always carries RetryInfo")
	for _, l := range clients {
		if r := l.lastReason.Load(); r != nil {
			t.Logf("a client was told: %s", r)
			break
		}
	}
	acked := sum(clients, func(l *loadClient) *atomic.Int64 { return &l.acked })
	refused := sum(clients, func(l *loadClient) *atomic.Int64 { return &l.refused })
	require.Positive(t, acked)

	// Everything acknowledged reaches the store although the disk is full.
	assert.EqualValues(t, acked, s.WaitCount(t, q, uint64(acked), 15*time.Second), "acked records must all be queryable")
	var st statusJSON
	require.Equal(t, http.StatusOK, s.Get(t, "/api/v1/status", nil, &st))
	assert.Equal(t, acked, st.Ingested, "ingested = what clients had acked")
	assert.Equal(t, acked, st.Stored)
	assert.Zero(t, st.Rejected, "clients saw nothing rejected")
	assert.Equal(t, refused, st.Refused, "refused = the retryable answers clients got")
	assert.NotEqual(t, "0", metricValue(t, s, "sawmill_disk_refused_batches_total"))
	assert.NotContains(t, s.Logs(), "database or disk is full", "the store never ran out of room")
	empty, segs := emptySegments(t, s.DataDir)
	assert.LessOrEqual(t, empty, 1, "empty segments: %s", listDir(t, s.DataDir))
	t.Logf("phase 1: acked %d records, %d refused answers (%d naming the disk), stored %d, %d segments (%d empty)",
		acked, sum(clients, func(l *loadClient) *atomic.Int64 { return &l.exhausted }),
		sum(clients, func(l *loadClient) *atomic.Int64 { return &l.diskReason }), st.Stored, segs, empty)

	// Some space comes back; SIGTERM under load on the nearly full disk:
	// what is queued drains into the store.
	leaveFree(t, filler, 12<<20)
	waitReadyz(t, s, http.StatusOK, "", 10*time.Second)
	ackedBefore := acked
	stopLoad = load(clients, 20000)
	time.Sleep(time.Second)
	began := time.Now()
	require.NoError(t, s.Stop(20*time.Second))
	took := time.Since(began)
	stopLoad()
	assert.Less(t, took, 15*time.Second)
	assert.Contains(t, s.Logs(), `"queued_batches_left":0`)
	acked = sum(clients, func(l *loadClient) *atomic.Int64 { return &l.acked })
	require.Greater(t, acked, ackedBefore, "the load was accepted again")
	t.Logf("SIGTERM under load took %s; %d records acked in all", took.Round(time.Millisecond), acked)

	// Restart on a nearly full disk (less free than the reserve): it starts,
	// serves what it has, and says why it refuses.
	leaveFree(t, filler, reserve/2)
	s.Launch()
	reason = waitReadyz(t, s, http.StatusServiceUnavailable, "disk nearly full: ", 20*time.Second)
	assert.Contains(t, reason, "disk nearly full: ")
	assert.EqualValues(t, acked, s.WaitCount(t, q, uint64(acked), 15*time.Second), "acked = queryable after the restart, no duplicates")
	// The queue was drained at SIGTERM: once idle it gives back the space of
	// its delivered segment. Take that space too, so that the refusal below
	// is stable.
	waitQueueReclaimed(t, s.DataDir, 15*time.Second)
	leaveFree(t, filler, reserve/2)
	waitReadyz(t, s, http.StatusServiceUnavailable, "disk nearly full: ", 10*time.Second)
	ingest := sawmillv1.NewIngestServiceClient(s.Conn(t))
	_, err := Push(context.Background(), ingest, Batch("after", 100, time.Now()))
	st2 := status.Convert(err)
	require.Equal(t, codes.ResourceExhausted, st2.Code(), "%v", err)
	assert.Contains(t, st2.Message(), "disk nearly full")
	require.NotNil(t, retryInfo(st2))
	assert.Equal(t, "1", metricValue(t, s, "sawmill_disk_ingest_refused"))
	require.Equal(t, http.StatusOK, s.Get(t, "/api/v1/status", nil, &st))
	assert.Contains(t, st.DiskRefusing, "disk nearly full: ")

	// Space is freed: ready and accepting again.
	require.NoError(t, os.Remove(filler))
	waitReadyz(t, s, http.StatusOK, "", 10*time.Second)
	assert.Equal(t, "0", metricValue(t, s, "sawmill_disk_ingest_refused"))
	resp, err := Push(context.Background(), ingest, Batch("after", 100, time.Now()))
	require.NoError(t, err)
	assert.EqualValues(t, 100, resp.GetAccepted())
	assert.EqualValues(t, acked+100, s.WaitCount(t, q, uint64(acked+100), 15*time.Second))
	require.Equal(t, http.StatusOK, s.Get(t, "/api/v1/status", nil, &st))
	assert.Zero(t, st.Rejected)
	assert.EqualValues(t, 100, st.Refused, "the one refused push of 100 records")
	assert.EqualValues(t, 100, st.Ingested)
	empty, segs = emptySegments(t, s.DataDir)
	assert.LessOrEqual(t, empty, 1, "empty segments (of %d)", segs)
}

// A restart on a disk with no space at all cannot open the store (SQLite
// needs room for its write-ahead log): it exits saying so, and once space is
// freed it starts and has every acknowledged record.
func TestEmbeddedRestartOnFullDisk(t *testing.T) {
	mnt := mountTmpfs(t, 16<<20)
	s := &Server{t: t, GRPCAddr: FreeAddr(t), HTTPAddr: FreeAddr(t), DataDir: filepath.Join(mnt, "data"),
		Args: []string{"--disk-reserve", fmt.Sprint(2 << 20)}}
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("sawmill output:\n%s", tail(s.Logs(), 6000))
		}
	})
	s.Restart()
	c := sawmillv1.NewIngestServiceClient(s.Conn(t))
	for range 10 {
		_, err := Push(context.Background(), c, Batch("full", 500, time.Now()))
		require.NoError(t, err)
	}
	require.NoError(t, s.Stop(15*time.Second))

	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	require.NoError(t, err)
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			require.ErrorIs(t, err, syscall.ENOSPC)
			break
		}
	}
	require.NoError(t, f.Close())
	before := len(s.Logs())
	s.Launch()
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		t.Fatal("sawmill did not exit on a full disk")
	}
	require.Error(t, s.exitErr)
	out := s.Logs()[before:]
	assert.Contains(t, out, `data dir "`+s.DataDir+`" is full: 0 B free, below --disk-reserve 2.0 MiB; free space on its disk and start again: `)

	require.NoError(t, os.Remove(filler))
	s.Restart()
	assert.EqualValues(t, 5000, s.WaitCount(t, url.Values{}, 5000, 15*time.Second))
}

// After a disk-full refusal the queue drains into the store; the delivered
// frames still in the queue's newest segment are then the space that keeps
// the disk under the reserve. With the filler left in place (nobody frees
// space), the server must give that space back and accept again by itself.
// Before, it kept refusing until an operator freed space: the segment (up to
// 64 MiB of already stored records) was only deleted when the queue rolled
// over to a new one, which a refusing server never does.
func TestEmbeddedDiskFullDrainedQueueAcceptsAgain(t *testing.T) {
	mnt := mountTmpfs(t, 40<<20)
	const reserve = 4 << 20
	s := &Server{t: t, GRPCAddr: FreeAddr(t), HTTPAddr: FreeAddr(t), DataDir: filepath.Join(mnt, "data"),
		Args: []string{"--disk-reserve", fmt.Sprint(reserve), "--queue-max-bytes", fmt.Sprint(16 << 20)}}
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("sawmill output:\n%s", tail(s.Logs(), 6000))
		}
	})
	s.Restart()
	filler := filepath.Join(mnt, "filler")
	leaveFree(t, filler, 14<<20)

	conn := s.Conn(t)
	var clients []*loadClient
	for i := range 4 {
		// Ordinary (compressible) records: the store needs far less room
		// than the queue, so once the queue's copy is gone there is room.
		clients = append(clients, &loadClient{c: sawmillv1.NewIngestServiceClient(conn), service: fmt.Sprintf("drain-%d", i), records: 500})
	}
	stopLoad := load(clients, 20000)
	defer stopLoad()
	waitReadyz(t, s, http.StatusServiceUnavailable, "disk nearly full: ", 15*time.Second)
	for deadline := time.Now().Add(10 * time.Second); sum(clients, func(l *loadClient) *atomic.Int64 { return &l.diskReason }) == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	stopLoad()
	acked := sum(clients, func(l *loadClient) *atomic.Int64 { return &l.acked })
	require.Positive(t, acked)
	require.Positive(t, sum(clients, func(l *loadClient) *atomic.Int64 { return &l.diskReason }), "clients were told the disk is nearly full")
	q := url.Values{}
	assert.EqualValues(t, acked, s.WaitCount(t, q, uint64(acked), 15*time.Second), "acked records must all be queryable")
	t.Logf("refused with %d records acked; %s free; %s", acked, diskguardBytes(statfsFree(t, mnt)), listDir(t, s.DataDir))

	// The filler stays. The queue is drained: its delivered segment is
	// replaced by an empty one and deleted, and the guard's next sample
	// sees the space.
	waitReadyz(t, s, http.StatusOK, "", 15*time.Second)
	t.Logf("accepting again; %s free; %s", diskguardBytes(statfsFree(t, mnt)), listDir(t, s.DataDir))
	assert.Equal(t, "0", metricValue(t, s, "sawmill_disk_ingest_refused"))
	var st statusJSON
	require.Equal(t, http.StatusOK, s.Get(t, "/api/v1/status", nil, &st))
	assert.Empty(t, st.DiskRefusing)
	waitQueueReclaimed(t, s.DataDir, time.Second) // already done: that is what made the room

	resp, err := Push(context.Background(), sawmillv1.NewIngestServiceClient(conn), Batch("after", 100, time.Now()))
	require.NoError(t, err)
	assert.EqualValues(t, 100, resp.GetAccepted())
	assert.EqualValues(t, acked+100, s.WaitCount(t, q, uint64(acked+100), 15*time.Second), "nothing lost or stored twice")
	require.NoError(t, s.Stop(15*time.Second))
}

func diskguardBytes(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
