package apptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The sawmill binary, built once per test run from this repository.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// repoRoot walks up from the working directory to the directory holding go.work.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.work above the test directory")
		}
		dir = parent
	}
}

// serverBinary builds ./server/cmd/sawmill or skips the test when the
// server module is absent or does not build.
func serverBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			buildErr = err
			return
		}
		if _, err := os.Stat(filepath.Join(root, "server", "cmd", "sawmill")); err != nil {
			buildErr = fmt.Errorf("server/cmd/sawmill not found in %s", root)
			return
		}
		buildDir, err = os.MkdirTemp("", "sawmill-sdk-apptest-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(buildDir, "sawmill")
		cmd := exec.Command("go", "build", "-o", binPath, "./server/cmd/sawmill")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./server/cmd/sawmill: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Skipf("real server unavailable, skipping: %v", buildErr)
	}
	return binPath
}

// server is one sawmill process on loopback.
type server struct {
	t        testing.TB
	bin      string
	dataDir  string
	grpcAddr string
	httpAddr string
	token    string
	cmd      *exec.Cmd
	done     chan struct{}
	out      *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// newServer prepares (does not start) a server with free ports and a temp data dir.
func newServer(t testing.TB, token string) *server {
	t.Helper()
	s := &server{t: t, bin: serverBinary(t), dataDir: t.TempDir(), grpcAddr: freeAddr(t), httpAddr: freeAddr(t), token: token}
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("server output:\n%s", s.output())
		}
	})
	return s
}

func (s *server) output() string {
	if s.out == nil {
		return ""
	}
	out := s.out.String()
	if len(out) > 8000 {
		out = "…" + out[len(out)-8000:]
	}
	return out
}

// start runs the binary and waits for /readyz.
func (s *server) start() {
	s.t.Helper()
	args := []string{"--grpc-addr", s.grpcAddr, "--http-addr", s.httpAddr, "--data-dir", s.dataDir, "--log-level", "warn"}
	if s.token != "" {
		args = append(args, "--token", s.token)
	}
	s.cmd = exec.Command(s.bin, args...)
	if s.out == nil {
		s.out = &lockedBuffer{}
	}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	require.NoError(s.t, s.cmd.Start())
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(s.cmd, s.done)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			s.t.Fatalf("sawmill exited during start-up:\n%s", s.output())
		default:
		}
		resp, err := s.get("/readyz", nil)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("sawmill not ready after 30s:\n%s", s.output())
}

// kill ends the process with SIGKILL (a crash) and waits for it.
func (s *server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // in case it was stopped
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// stop ends the process gracefully (SIGTERM: drain, exit 0).
func (s *server) stop() {
	s.t.Helper()
	if s.cmd == nil {
		return
	}
	require.NoError(s.t, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-s.done:
	case <-time.After(40 * time.Second):
		s.t.Errorf("sawmill did not stop within 40s after SIGTERM")
		s.kill()
	}
	s.cmd = nil
}

// pause and resume freeze the process (SIGSTOP/SIGCONT): a hung server.
func (s *server) pause()  { require.NoError(s.t, s.cmd.Process.Signal(syscall.SIGSTOP)) }
func (s *server) resume() { require.NoError(s.t, s.cmd.Process.Signal(syscall.SIGCONT)) }

func (s *server) get(path string, q url.Values) (*http.Response, error) {
	u := "http://" + s.httpAddr + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	return httpClient.Do(req)
}

// httpClient keeps no idle connections, so no goroutine outlives a test.
var httpClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func (s *server) getJSON(path string, q url.Values, into any) []byte {
	s.t.Helper()
	resp, err := s.get(path, q)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	require.Equal(s.t, http.StatusOK, resp.StatusCode, "GET %s?%s: %s", path, q.Encode(), body)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	require.NoError(s.t, dec.Decode(into), "%s", body)
	return body
}

func (s *server) count(service string) int {
	s.t.Helper()
	var out struct {
		Count json.Number `json:"count"`
	}
	s.getJSON("/api/v1/logs/count", url.Values{"service": {service}}, &out)
	n, err := out.Count.Int64()
	require.NoError(s.t, err)
	return int(n)
}

// waitCount polls the count until it reaches want (and checks it does not
// pass it) or the deadline passes.
func (s *server) waitCount(service string, want int, within time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(within)
	got := -1
	for time.Now().Before(deadline) {
		got = s.count(service)
		if got >= want {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(s.t, want, got, "stored records of %s", service)
	time.Sleep(300 * time.Millisecond) // late duplicates would show up now
	require.Equal(s.t, want, s.count(service), "stored records of %s, a moment later", service)
}

// entry is the server's JSON view of a stored record (server-contract.md).
type entry struct {
	ID                 string         `json:"id"`
	Service            string         `json:"service"`
	Instance           string         `json:"instance"`
	Environment        string         `json:"environment"`
	Version            string         `json:"version"`
	ResourceAttributes map[string]any `json:"resource_attributes"`
	Time               string         `json:"time"`
	TimeUnixNano       json.Number    `json:"time_unix_nano"`
	SeverityNumber     int            `json:"severity_number"`
	SeverityText       string         `json:"severity_text"`
	Level              string         `json:"level"`
	Body               string         `json:"body"`
	Attributes         map[string]any `json:"attributes"`
	TraceID            string         `json:"trace_id"`
	SpanID             string         `json:"span_id"`
	Logger             string         `json:"logger"`
	Source             *struct {
		File     string `json:"file"`
		Line     int    `json:"line"`
		Function string `json:"function"`
	} `json:"source"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Stack   string `json:"stack"`
	} `json:"error"`
}

// logs returns every stored record of service, oldest first, following cursors.
func (s *server) logs(service string) ([]entry, []byte) {
	s.t.Helper()
	var all []entry
	var raw []byte
	cursor := ""
	for range 1000 {
		q := url.Values{"service": {service}, "limit": {"1000"}, "order": {"asc"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Logs       []entry `json:"logs"`
			NextCursor string  `json:"next_cursor"`
		}
		body := s.getJSON("/api/v1/logs", q, &page)
		raw = append(raw, body...)
		all = append(all, page.Logs...)
		if page.NextCursor == "" || len(page.Logs) == 0 {
			return all, raw
		}
		cursor = page.NextCursor
	}
	s.t.Fatal("more than 1000 pages")
	return nil, nil
}
