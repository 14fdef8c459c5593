package sawmill_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"

	"github.com/sawmill-dev/sawmill/sdk"
	"github.com/sawmill-dev/sawmill/sdk/sawmilltest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var transports = []struct {
	name string
	t    sawmill.Transport
}{{"unary", sawmill.TransportUnary}, {"stream", sawmill.TransportStream}}

func newClient(t *testing.T, addr string, mod func(*sawmill.Config)) *sawmill.Client {
	t.Helper()
	cfg := sawmill.Config{
		Endpoint:      addr,
		Resource:      sawmill.Resource{Service: "test-svc", Instance: "test-1"},
		FlushInterval: 20 * time.Millisecond,
		RetryInitial:  10 * time.Millisecond,
		RetryMax:      100 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := sawmill.New(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

func logN(t *testing.T, c *sawmill.Client, from, n int) {
	t.Helper()
	var a sawmill.Attrs
	for i := from; i < from+n; i++ {
		a.Reset()
		a.Key("i")
		a.Int(int64(i))
		require.NoError(t, c.Log(&sawmill.Record{Time: time.Now(), Severity: sawmill.SeverityInfo, SeverityText: "info",
			Body: fmt.Sprintf("record %d", i), Attrs: &a}))
	}
}

func closeOK(t *testing.T, c *sawmill.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Close(ctx))
}

// bodies returns the stored bodies and fails on duplicates.
func bodies(t *testing.T, srv *sawmilltest.Server) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range srv.Records() {
		require.False(t, seen[r.GetBody()], "duplicate record %q", r.GetBody())
		seen[r.GetBody()] = true
	}
	return seen
}

func TestClientDeliversEverything(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			srv := sawmilltest.New(t)
			c := newClient(t, srv.Addr(), func(c *sawmill.Config) { c.Transport = tr.t })
			logN(t, c, 0, 2500)
			closeOK(t, c)
			assert.Equal(t, 2500, srv.Count())
			assert.Len(t, bodies(t, srv), 2500)
			for _, b := range srv.Batches() {
				assert.LessOrEqual(t, len(b.GetRecords()), sawmill.DefaultMaxBatchRecords)
				assert.Equal(t, "test-svc", b.GetResource().GetService())
			}
			st := c.Stats()
			assert.EqualValues(t, 2500, st.Enqueued)
			assert.EqualValues(t, 2500, st.Acked)
			assert.Zero(t, st.BufferedBytes)
			assert.ErrorIs(t, c.Log(&sawmill.Record{Body: "late"}), sawmill.ErrClosed)
			assert.EqualValues(t, 1, c.Stats().DroppedClosed)
		})
	}
}

func TestClientConcurrentLoggingAndFlush(t *testing.T) {
	srv := sawmilltest.New(t)
	c := newClient(t, srv.Addr(), func(c *sawmill.Config) { c.MaxBatchRecords = 100 })
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var a sawmill.Attrs
			for i := range 1000 {
				a.Reset()
				a.Key("g")
				a.Int(int64(g))
				if err := c.Log(&sawmill.Record{Body: fmt.Sprintf("g%d-%d", g, i), Attrs: &a}); err != nil {
					t.Error(err)
					return
				}
				if i%250 == 0 {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					assert.NoError(t, c.Flush(ctx))
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.Flush(ctx))
	assert.Equal(t, 8000, srv.Count(), "Flush returns after everything logged before it is acked")
	assert.Len(t, bodies(t, srv), 8000)
}

func TestClientFlushIntervalSealsQuietBatch(t *testing.T) {
	srv := sawmilltest.New(t)
	c := newClient(t, srv.Addr(), func(c *sawmill.Config) { c.FlushInterval = 30 * time.Millisecond })
	logN(t, c, 0, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitCount(ctx, 1), "one record is sent without Flush once the interval passed")
}

func TestClientRetriesWithSameBatchID(t *testing.T) {
	for _, code := range []codes.Code{codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded} {
		for _, tr := range transports {
			t.Run(code.String()+"/"+tr.name, func(t *testing.T) {
				srv := sawmilltest.New(t)
				srv.FailNext(3, code, 0)
				var mu sync.Mutex
				var sendErrs []*sawmill.SendError
				c := newClient(t, srv.Addr(), func(c *sawmill.Config) {
					c.Transport = tr.t
					c.OnError = func(err error) {
						var se *sawmill.SendError
						if errors.As(err, &se) {
							mu.Lock()
							sendErrs = append(sendErrs, se)
							mu.Unlock()
						}
					}
				})
				logN(t, c, 0, 10)
				closeOK(t, c)
				assert.Equal(t, 10, srv.Count())
				assert.Equal(t, 4, srv.Attempts(), "3 failures then success")
				assert.Len(t, srv.Batches(), 1)
				assert.EqualValues(t, 3, c.Stats().Retries)
				mu.Lock()
				defer mu.Unlock()
				require.Len(t, sendErrs, 3)
				for _, se := range sendErrs {
					assert.Equal(t, srv.Batches()[0].GetBatchId(), se.BatchID, "every attempt reuses the batch id")
					var st *sawmill.StatusError
					require.ErrorAs(t, se, &st)
					assert.Equal(t, code, st.Code)
				}
			})
		}
	}
}

func TestClientHonoursRetryInfo(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			srv := sawmilltest.New(t)
			srv.FailNext(1, codes.ResourceExhausted, 300*time.Millisecond)
			c := newClient(t, srv.Addr(), func(c *sawmill.Config) { c.Transport = tr.t })
			start := time.Now()
			logN(t, c, 0, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			require.NoError(t, c.Flush(ctx))
			// Behaviour, not speed: the retry must not come before the server's hint.
			assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
			assert.Equal(t, 1, srv.Count())
		})
	}
}

func TestClientLostAnswerIsStoredOnce(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			srv := sawmilltest.New(t)
			srv.Hold() // the batch is stored but its answer never comes in time
			c := newClient(t, srv.Addr(), func(c *sawmill.Config) {
				c.Transport = tr.t
				c.RequestTimeout = 100 * time.Millisecond
			})
			logN(t, c, 0, 5)
			time.Sleep(350 * time.Millisecond) // the first attempt and some retries time out
			srv.Release()
			closeOK(t, c)
			assert.Equal(t, 5, srv.Count(), "stored once")
			assert.Len(t, srv.Batches(), 1)
			assert.GreaterOrEqual(t, srv.Duplicates(), 1)
			st := c.Stats()
			assert.EqualValues(t, 5, st.Duplicates, "the answer that came back said duplicate")
			assert.Positive(t, st.Retries)
		})
	}
}

func TestClientPermanentErrorDropsBatch(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			srv := sawmilltest.New(t)
			srv.FailNext(1, codes.InvalidArgument, 0)
			drops := make(chan *sawmill.DropError, 10)
			c := newClient(t, srv.Addr(), func(c *sawmill.Config) {
				c.Transport = tr.t
				c.OnError = func(err error) {
					var de *sawmill.DropError
					if errors.As(err, &de) {
						drops <- de
					}
				}
			})
			logN(t, c, 0, 10)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			require.NoError(t, c.Flush(ctx))
			logN(t, c, 10, 10)
			closeOK(t, c)
			assert.Equal(t, 10, srv.Count(), "the rejected batch is dropped, the next one goes through")
			assert.Equal(t, 2, srv.Attempts(), "a permanent error is not retried")
			st := c.Stats()
			assert.EqualValues(t, 10, st.Rejected)
			assert.EqualValues(t, 10, st.Acked)
			de := <-drops
			assert.Equal(t, sawmill.ReasonRejected, de.Reason)
			assert.Equal(t, 10, de.Records)
			var se *sawmill.StatusError
			require.ErrorAs(t, de, &se)
			assert.Equal(t, codes.InvalidArgument, se.Code)
		})
	}
}

func TestClientToken(t *testing.T) {
	srv := sawmilltest.New(t, sawmilltest.WithToken("s3cret"))
	good := newClient(t, srv.Addr(), func(c *sawmill.Config) { c.Token = "s3cret" })
	logN(t, good, 0, 3)
	closeOK(t, good)
	assert.Equal(t, 3, srv.Count())

	bad := newClient(t, srv.Addr(), func(c *sawmill.Config) { c.Token = "wrong" })
	logN(t, bad, 0, 3)
	closeOK(t, bad)
	assert.Equal(t, 3, srv.Count())
	assert.EqualValues(t, 3, bad.Stats().Rejected, "Unauthenticated is permanent")
}

func TestClientGzip(t *testing.T) {
	srv := sawmilltest.New(t)
	c := newClient(t, srv.Addr(), func(c *sawmill.Config) { c.Compression = sawmill.Gzip })
	logN(t, c, 0, 1000)
	closeOK(t, c)
	assert.Equal(t, 1000, srv.Count())
	wire, raw := srv.WireBytes()
	assert.Less(t, wire*2, raw, "gzip at least halves these batches (wire %d, raw %d)", wire, raw)
}

func TestClientServerDownAtStart(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			addr := freeAddr(t)
			c := newClient(t, addr, func(c *sawmill.Config) { c.Transport = tr.t })
			logN(t, c, 0, 50)
			time.Sleep(300 * time.Millisecond) // a few failed attempts
			assert.Positive(t, c.Stats().Retries)
			srv := sawmilltest.New(t, sawmilltest.WithAddr(addr))
			logN(t, c, 50, 50)
			closeOK(t, c)
			assert.Equal(t, 100, srv.Count())
			assert.Len(t, bodies(t, srv), 100)
		})
	}
}

func TestClientServerRestartMidStream(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			srv1, err := sawmilltest.Start()
			require.NoError(t, err)
			addr := srv1.Addr()
			c := newClient(t, addr, func(c *sawmill.Config) { c.Transport = tr.t })
			logN(t, c, 0, 100)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			require.NoError(t, c.Flush(ctx))
			srv1.Close()
			logN(t, c, 100, 100) // buffered while the server is away
			time.Sleep(200 * time.Millisecond)
			srv2 := sawmilltest.New(t, sawmilltest.WithAddr(addr))
			logN(t, c, 200, 100)
			closeOK(t, c)
			assert.Equal(t, 100, srv1.Count())
			assert.Equal(t, 200, srv2.Count())
			all := bodies(t, srv2)
			for b := range bodies(t, srv1) {
				assert.False(t, all[b], "stored twice: %s", b)
				all[b] = true
			}
			assert.Len(t, all, 300)
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestClientCloseWithDeadServerReturnsInTime(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			c := newClient(t, freeAddr(t), func(c *sawmill.Config) { c.Transport = tr.t })
			logN(t, c, 0, 10)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := c.Close(ctx)
			elapsed := time.Since(start)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Less(t, elapsed, 2*time.Second, "Close returns soon after its context ends")
			st := c.Stats()
			assert.EqualValues(t, 10, st.Lost)
			assert.Equal(t, st.Enqueued, st.Acked+st.Duplicates+st.Evicted+st.Rejected+st.Lost)
		})
	}
}

func TestClientCloseWithHungServerReturnsInTime(t *testing.T) {
	srv := sawmilltest.New(t)
	srv.Hold()
	c := newClient(t, srv.Addr(), nil)
	logN(t, c, 0, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	require.ErrorIs(t, c.Close(ctx), context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.EqualValues(t, 10, c.Stats().Lost)
}

// fill logs ~200-byte records until Log refuses one or n were logged.
func fill(c *sawmill.Client, n int) (ok int, err error) {
	pad := strings.Repeat("p", 150)
	for i := range n {
		if err := c.Log(&sawmill.Record{Body: fmt.Sprintf("%06d %s", i, pad)}); err != nil {
			return ok, err
		}
		ok++
	}
	return ok, nil
}

func smallBuffer(p sawmill.FullPolicy) func(*sawmill.Config) {
	return func(c *sawmill.Config) {
		c.MaxBatchBytes = 1024
		c.BufferBytes = 8 * 1024
		c.MaxInFlight = 1
		c.FullPolicy = p
		c.BlockTimeout = 50 * time.Millisecond
	}
}

func TestPolicyDropNewest(t *testing.T) {
	srv := sawmilltest.New(t)
	srv.Hold()
	c := newClient(t, srv.Addr(), smallBuffer(sawmill.DropNewest))
	ok, err := fill(c, 1000)
	require.ErrorIs(t, err, sawmill.ErrDropped)
	assert.Less(t, ok, 60, "the buffer holds ~8 KiB")
	ok2, err := fill(c, 10)
	require.ErrorIs(t, err, sawmill.ErrDropped)
	assert.Zero(t, ok2)
	srv.Release()
	closeOK(t, c)
	st := c.Stats()
	assert.EqualValues(t, ok, st.Enqueued)
	assert.EqualValues(t, 2, st.DroppedFull)
	assert.Equal(t, ok, srv.Count(), "everything accepted is delivered")
	assert.Contains(t, bodies(t, srv), fmt.Sprintf("%06d %s", 0, strings.Repeat("p", 150)), "the oldest records are kept")
}

func TestPolicyDropOldest(t *testing.T) {
	srv := sawmilltest.New(t)
	srv.Hold()
	var mu sync.Mutex
	evicted := 0
	c := newClient(t, srv.Addr(), func(cfg *sawmill.Config) {
		smallBuffer(sawmill.DropOldest)(cfg)
		cfg.OnError = func(err error) {
			var de *sawmill.DropError
			if errors.As(err, &de) && de.Reason == sawmill.ReasonEvicted {
				mu.Lock()
				evicted += de.Records
				mu.Unlock()
			}
		}
	})
	ok, err := fill(c, 500)
	require.NoError(t, err, "waiting batches make room for new records")
	assert.Equal(t, 500, ok)
	srv.Release()
	closeOK(t, c)
	st := c.Stats()
	assert.Positive(t, st.Evicted)
	assert.Equal(t, int(st.Enqueued-st.Evicted), srv.Count())
	assert.Contains(t, bodies(t, srv), fmt.Sprintf("%06d %s", 499, strings.Repeat("p", 150)), "the newest record is kept")
	mu.Lock()
	assert.EqualValues(t, st.Evicted, evicted, "OnError was told about every evicted record")
	mu.Unlock()
}

func TestPolicyBlock(t *testing.T) {
	srv := sawmilltest.New(t)
	srv.Hold()
	c := newClient(t, srv.Addr(), smallBuffer(sawmill.Block))
	ok, err := fill(c, 1000)
	require.ErrorIs(t, err, sawmill.ErrDropped, "after BlockTimeout the record is dropped")
	start := time.Now()
	_, err = fill(c, 1)
	require.ErrorIs(t, err, sawmill.ErrDropped)
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond, "the call waited for room first")

	// Room appearing while a call waits lets it through.
	go func() {
		time.Sleep(30 * time.Millisecond)
		srv.Release()
	}()
	c2ok, err := fill(c, 1)
	require.NoError(t, err)
	closeOK(t, c)
	assert.Equal(t, ok+c2ok, srv.Count())
}

func TestPolicyBlockUnblocksOnClose(t *testing.T) {
	srv := sawmilltest.New(t)
	srv.Hold()
	c := newClient(t, srv.Addr(), func(cfg *sawmill.Config) {
		smallBuffer(sawmill.Block)(cfg)
		cfg.BlockTimeout = time.Minute
	})
	_, _ = fill(c, 40) // fill the buffer (the last call may block: keep it short)
	done := make(chan error, 1)
	go func() {
		_, err := fill(c, 100)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_ = c.Close(ctx)
	select {
	case err := <-done:
		assert.ErrorIs(t, err, sawmill.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("a blocked Log call did not return after Close")
	}
}

func TestClientOnErrorPanicIsContained(t *testing.T) {
	srv := sawmilltest.New(t)
	srv.FailNext(1, codes.InvalidArgument, 0)
	c := newClient(t, srv.Addr(), func(c *sawmill.Config) { c.OnError = func(error) { panic("callback bug") } })
	logN(t, c, 0, 5)
	require.NoError(t, c.Flush(context.Background()))
	logN(t, c, 5, 5)
	closeOK(t, c)
	assert.Equal(t, 5, srv.Count())
}

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*sawmill.Config)
	}{
		{"no endpoint", func(c *sawmill.Config) { c.Endpoint = "" }},
		{"no service", func(c *sawmill.Config) { c.Resource.Service = "" }},
		{"long service", func(c *sawmill.Config) { c.Resource.Service = strings.Repeat("s", 129) }},
		{"control in service", func(c *sawmill.Config) { c.Resource.Service = "a\nb" }},
		{"bad instance", func(c *sawmill.Config) { c.Resource.Instance = "\xff" }},
		{"too many records", func(c *sawmill.Config) { c.MaxBatchRecords = 10001 }},
		{"batch too big", func(c *sawmill.Config) { c.MaxBatchBytes = 5 << 20 }},
		{"buffer below batch", func(c *sawmill.Config) { c.BufferBytes = 1024; c.MaxBatchBytes = 4096 }},
		{"bad policy", func(c *sawmill.Config) { c.FullPolicy = 7 }},
		{"retry max below initial", func(c *sawmill.Config) { c.RetryInitial = time.Second; c.RetryMax = time.Millisecond }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := sawmill.Config{Endpoint: "127.0.0.1:1", Resource: sawmill.Resource{Service: "s"}}
			tt.mod(&cfg)
			_, err := sawmill.New(context.Background(), cfg)
			require.ErrorIs(t, err, sawmill.ErrConfig)
		})
	}
}
