package deploy

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Values the Dockerfile's build arguments get in the test build.
const (
	testVersion = "9.8.7-deploytest"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
)

// serverInfo is what the real sawmill binary says about itself.
type serverInfo struct {
	Binary   string
	EnvVars  map[string]bool   // every SAWMILL_* variable it reads
	Defaults map[string]string // flag name -> default value ("" when none is printed)
	Version  string            // output of --version
}

var (
	serverOnce sync.Once
	server     serverInfo
	serverErr  error
)

// sawmillServer builds server/cmd/sawmill once per test process with the
// -ldflags of server/Dockerfile (VERSION and COMMIT substituted) and asks
// it for --help and --version.
func sawmillServer(t testing.TB) serverInfo {
	t.Helper()
	serverOnce.Do(func() {
		server, serverErr = buildServer(repoRoot(t), parseDockerfile(t, filepath.Join(repoRoot(t), "server", "Dockerfile")))
	})
	require.NoError(t, serverErr)
	return server
}

var ldflagsRe = regexp.MustCompile(`-ldflags\s+"([^"]*)"\s+(?:\S+\s+)*\./server/cmd/sawmill`)

func buildServer(root string, df dockerfile) (serverInfo, error) {
	var ldflags string
	for _, in := range df.all("RUN") {
		if m := ldflagsRe.FindStringSubmatch(in.Args); m != nil {
			ldflags = m[1]
		}
	}
	if ldflags == "" {
		return serverInfo{}, fmt.Errorf("%s: no RUN go build ... -ldflags \"...\" ./server/cmd/sawmill", df.Path)
	}
	ldflags = strings.NewReplacer("${VERSION}", testVersion, "$VERSION", testVersion, "${COMMIT}", testCommit, "$COMMIT", testCommit).Replace(ldflags)
	dir, err := os.MkdirTemp("", "sawmill-deploytest-")
	if err != nil {
		return serverInfo{}, err
	}
	info := serverInfo{Binary: filepath.Join(dir, "sawmill"), EnvVars: map[string]bool{}, Defaults: map[string]string{}}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", info.Binary, "./server/cmd/sawmill")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return serverInfo{}, fmt.Errorf("go build ./server/cmd/sawmill: %v\n%s", err, out)
	}
	out, err := exec.Command(info.Binary, "--version").Output()
	if err != nil {
		return serverInfo{}, fmt.Errorf("sawmill --version: %w", err)
	}
	info.Version = strings.TrimSpace(string(out))

	var help bytes.Buffer
	hc := exec.Command(info.Binary, "--help")
	hc.Env = []string{} // no SAWMILL_* from the test's environment
	hc.Stdout, hc.Stderr = &help, &help
	if err := hc.Run(); err != nil {
		return serverInfo{}, fmt.Errorf("sawmill --help: %w\n%s", err, help.String())
	}
	if err := parseHelp(help.String(), &info); err != nil {
		return serverInfo{}, err
	}
	return info, nil
}

var (
	flagLine  = regexp.MustCompile(`^\s{1,4}-{1,2}([a-z0-9][a-z0-9-]*)(?:\s+\S+)?\s*$`)
	envNameRe = regexp.MustCompile(`SAWMILL_[A-Z0-9_]+`)
	defaultRe = regexp.MustCompile(`\(default (.*)\)\s*$`)
)

// parseHelp reads Go flag's PrintDefaults layout: "  -name type" then the
// usage indented by a tab. A flag's variable is the one its usage names
// (--token says SAWMILL_TOKENS), else its twin SAWMILL_<NAME>.
func parseHelp(help string, info *serverInfo) error {
	lines := strings.Split(help, "\n")
	for i := 0; i < len(lines); i++ {
		m := flagLine.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		name := m[1]
		var usage strings.Builder
		for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "    \t") {
			i++
			usage.WriteString(strings.TrimSpace(lines[i]) + " ")
		}
		u := strings.TrimSpace(usage.String())
		if d := defaultRe.FindStringSubmatch(u); d != nil {
			info.Defaults[name] = strings.Trim(d[1], `"`)
		} else {
			info.Defaults[name] = ""
		}
		if name == "version" || name == "help" || name == "h" {
			continue
		}
		if named := envNameRe.FindString(u); named != "" {
			info.EnvVars[named] = true
		} else {
			info.EnvVars["SAWMILL_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))] = true
		}
	}
	for _, must := range []string{"SAWMILL_GRPC_ADDR", "SAWMILL_HTTP_ADDR", "SAWMILL_DATA_DIR"} {
		if !info.EnvVars[must] {
			return fmt.Errorf("sawmill --help: could not read the flags (no %s among %v):\n%s", must, info.EnvVars, help)
		}
	}
	return nil
}

// freeAddr returns a free loopback address.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// runningServer is sawmill started in embedded mode on loopback.
type runningServer struct {
	HTTP string
	cmd  *exec.Cmd
	done chan struct{}
	out  *bytes.Buffer
}

// startServer starts the binary with only SAWMILL_* variables (the way the
// image configures it) and waits for /readyz. It is stopped with SIGTERM
// (SIGKILL after 10 s) when the test ends.
func startServer(t *testing.T, info serverInfo) *runningServer {
	t.Helper()
	s := &runningServer{HTTP: freeAddr(t), done: make(chan struct{}), out: &bytes.Buffer{}}
	s.cmd = exec.Command(info.Binary)
	s.cmd.Env = []string{
		"SAWMILL_GRPC_ADDR=" + freeAddr(t),
		"SAWMILL_HTTP_ADDR=" + s.HTTP,
		"SAWMILL_DATA_DIR=" + t.TempDir(),
	}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	require.NoError(t, s.cmd.Start())
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		select {
		case <-s.done:
			t.Fatalf("sawmill exited during start:\n%s", s.out.String())
		case <-ctx.Done():
			t.Fatalf("sawmill not ready after 20s")
		case <-time.After(50 * time.Millisecond):
		}
		if code, _ := httpGet(ctx, "http://"+s.HTTP+"/readyz"); code == http.StatusOK {
			return s
		}
	}
}

func httpGet(ctx context.Context, url string) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}
