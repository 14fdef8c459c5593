package apptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds the sawmill binary once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sawmill-apptest-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "sawmill")
		cmd := exec.Command("go", "build", "-o", binPath, "../cmd/sawmill")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

// FreeAddr returns a free loopback address.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// Server is one running sawmill process.
type Server struct {
	t        testing.TB
	GRPCAddr string
	HTTPAddr string
	DataDir  string
	Args     []string
	Env      []string
	cmd      *exec.Cmd
	done     chan struct{}
	exitErr  error
	logs     *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Start starts sawmill on free loopback ports with a fresh data directory
// and extra args, and waits until /readyz answers. It is stopped (SIGKILL
// if still running) when the test ends.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	s := &Server{t: t, GRPCAddr: FreeAddr(t), HTTPAddr: FreeAddr(t), DataDir: t.TempDir(), Args: extra}
	s.Restart()
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("sawmill output:\n%s", tail(s.logs.String(), 4000))
		}
	})
	return s
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// Restart starts the process again on the same ports and data directory
// and waits until /readyz answers 200.
func (s *Server) Restart() {
	s.t.Helper()
	s.Launch()
	s.WaitReady(20 * time.Second)
}

// Launch starts the process on the server's ports and data directory
// without waiting for it to be ready.
func (s *Server) Launch() {
	s.t.Helper()
	args := append([]string{"--grpc-addr", s.GRPCAddr, "--http-addr", s.HTTPAddr, "--data-dir", s.DataDir, "--log-level", "info"}, s.Args...)
	s.cmd = exec.Command(Binary(s.t), args...)
	s.cmd.Env = append(os.Environ(), s.Env...)
	if s.logs == nil {
		s.logs = &lockedBuffer{}
	}
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	require.NoError(s.t, s.cmd.Start())
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		s.exitErr = cmd.Wait()
		close(done)
	}(s.cmd, s.done)
}

// WaitReady waits for /readyz.
func (s *Server) WaitReady(d time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			s.t.Fatalf("sawmill exited during start: %v\n%s", s.exitErr, tail(s.logs.String(), 4000))
		default:
		}
		resp, err := http.Get("http://" + s.HTTPAddr + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("sawmill not ready after %s\n%s", d, tail(s.logs.String(), 4000))
}

// Kill sends SIGKILL and waits for the process to go.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Stop sends SIGTERM and returns the exit error after the process ends.
func (s *Server) Stop(d time.Duration) error {
	s.t.Helper()
	require.NoError(s.t, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-s.done:
		return s.exitErr
	case <-time.After(d):
		s.Kill()
		return fmt.Errorf("sawmill did not stop within %s", d)
	}
}

// Logs returns what the process printed so far.
func (s *Server) Logs() string { return s.logs.String() }

// Conn dials the gRPC address.
func (s *Server) Conn(t testing.TB) *grpc.ClientConn {
	t.Helper()
	c, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(32<<20)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Get fetches an API path with query values and decodes the JSON answer into
// out (when not nil); it returns the status code.
func (s *Server) Get(t testing.TB, path string, q url.Values, out any, header ...string) int {
	t.Helper()
	u := "http://" + s.HTTPAddr + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil {
		require.NoError(t, json.Unmarshal(body, out), "body: %s", body)
	}
	return resp.StatusCode
}

// Count returns /api/v1/logs/count for q.
func (s *Server) Count(t testing.TB, q url.Values) uint64 {
	t.Helper()
	var out struct {
		Count uint64 `json:"count"`
	}
	require.Equal(t, http.StatusOK, s.Get(t, "/api/v1/logs/count", q, &out))
	return out.Count
}

// WaitCount polls the count until it equals want or d passes; it returns
// the last count.
func (s *Server) WaitCount(t testing.TB, q url.Values, want uint64, d time.Duration) uint64 {
	t.Helper()
	deadline := time.Now().Add(d)
	var n uint64
	for time.Now().Before(deadline) {
		if n = s.Count(t, q); n == want {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
	return n
}

// NewBatchID returns a random batch id.
func NewBatchID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Batch builds a batch of n simple records of service.
func Batch(service string, n int, at time.Time) *sawmillv1.LogBatch {
	b := &sawmillv1.LogBatch{BatchId: NewBatchID(), Resource: &sawmillv1.Resource{Service: service, Instance: service + "-1"}}
	for i := 0; i < n; i++ {
		b.Records = append(b.Records, &sawmillv1.LogRecord{
			TimeUnixNano:   uint64(at.Add(time.Duration(i) * time.Microsecond).UnixNano()),
			SeverityNumber: sawmillv1.SeverityNumber_SEVERITY_NUMBER_INFO,
			Body:           fmt.Sprintf("record %d of %s", i, b.BatchId),
			AttributesJson: []byte(fmt.Sprintf(`{"i":%d,"service":%q}`, i, service)),
		})
	}
	return b
}

// Push sends one batch with Push.
func Push(ctx context.Context, c sawmillv1.IngestServiceClient, b *sawmillv1.LogBatch) (*sawmillv1.PushResponse, error) {
	return c.Push(ctx, &sawmillv1.PushRequest{Batch: b})
}
