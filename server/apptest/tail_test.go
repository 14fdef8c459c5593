package apptest

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

// sseTail opens GET /api/v1/tail?service=... and returns its lines.
func sseTail(t *testing.T, ctx context.Context, s *Server, service string) <-chan string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.HTTPAddr+"/api/v1/tail?service="+service, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

// waitLine reads lines until one has prefix (true) or the stream ends or d passes.
func waitLine(lines <-chan string, prefix string, d time.Duration) bool {
	timeout := time.After(d)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return false
			}
			if strings.HasPrefix(l, prefix) {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// A graceful stop with live tails open (a dashboard left on the tail page)
// ends the tails at once instead of waiting out --shutdown-timeout: the SSE
// stream gets a "closing" event and ends, the gRPC stream ends UNAVAILABLE
// (both clients reconnect, to another replica), and the process exits 0
// in about the time it takes without tails.
func TestGracefulStopWithOpenTails(t *testing.T) {
	for _, mode := range []string{"embedded", "production"} {
		t.Run(mode, func(t *testing.T) {
			var args []string
			if mode == "production" {
				args, _, _ = prodBackends(t)
			}
			s := Start(t, append(args, "--shutdown-timeout", "30s")...)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			lines := sseTail(t, ctx, s, "stopper")
			require.True(t, waitLine(lines, ": tail open", 10*time.Second))
			stream, err := sawmillv1.NewQueryServiceClient(s.Conn(t)).Tail(ctx, &sawmillv1.TailRequest{Filter: &sawmillv1.Filter{Services: []string{"stopper"}}})
			require.NoError(t, err)
			// Both tails are open on the server once both saw a record.
			var first *sawmillv1.TailResponse
			require.Eventually(t, func() bool {
				_, err := Push(ctx, sawmillv1.NewIngestServiceClient(s.Conn(t)), Batch("stopper", 1, time.Now()))
				require.NoError(t, err)
				return waitLine(lines, "event: logs", time.Second)
			}, 20*time.Second, 10*time.Millisecond)
			first, err = stream.Recv()
			require.NoError(t, err)
			require.NotEmpty(t, first.GetEntries())

			start := time.Now()
			require.NoError(t, s.Stop(45*time.Second), "SIGTERM exits 0")
			took := time.Since(start)
			t.Logf("stop took %s", took)
			// Without open tails a stop takes about a second here; the
			// bound leaves room for a loaded machine and stays far below
			// the 30 s shutdown timeout the tails used to wait out.
			assert.Less(t, took, 10*time.Second, "stop took %s", took)
			assert.NotContains(t, s.Logs(), "deadline exceeded")
			assert.NotContains(t, s.Logs(), "shutdown deadline reached")
			assert.True(t, waitLine(lines, "event: closing", 5*time.Second), "the SSE client is told the server is stopping")
			for {
				_, err = stream.Recv()
				if err != nil {
					break
				}
			}
			assert.Equal(t, codes.Unavailable, status.Code(err), "the gRPC tail ends UNAVAILABLE: %v", err)
		})
	}
}
