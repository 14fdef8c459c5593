package diskq

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// makeBatch builds a batch of n records of about 300 encoded bytes each.
func makeBatch(id string, n int) *sawmillv1.LogBatch {
	b := &sawmillv1.LogBatch{
		BatchId:  id,
		Resource: &sawmillv1.Resource{Service: "orders", Instance: "orders-1", Environment: "production", Version: "1.4.2"},
		Records:  make([]*sawmillv1.LogRecord, n),
	}
	base := uint64(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	for i := range b.Records {
		b.Records[i] = &sawmillv1.LogRecord{
			TimeUnixNano:         base + uint64(i),
			ObservedTimeUnixNano: base + uint64(i) + 1000,
			SeverityNumber:       sawmillv1.SeverityNumber_SEVERITY_NUMBER_INFO,
			SeverityText:         "info",
			Body:                 fmt.Sprintf("order %s/%d accepted for customer c-%06d after payment authorization", id, i, i*7919%1000000),
			AttributesJson:       fmt.Appendf(nil, `{"order_id":"o-%08d","amount":%d.25,"currency":"EUR","items":%d,"retry":false,"region":"eu-west-1","latency_ms":%d}`, i, i%1000, i%7, i%250),
			TraceId:              []byte("0123456789abcdef"),
			SpanId:               []byte("01234567"),
			Logger:               "orders.api",
			Source:               &sawmillv1.SourceLocation{File: "orders/api/handler.go", Line: int32(100 + i%50), Function: "handler.Accept"},
		}
	}
	return b
}

func openQ(t testing.TB, dir string, opts Options) *Queue {
	t.Helper()
	if opts.Logger == nil {
		if tt, ok := t.(*testing.T); ok {
			opts.Logger = zaptest.NewLogger(tt)
		}
	}
	q, err := Open(dir, opts)
	require.NoError(t, err)
	return q
}

func shutdown(t testing.TB, q *Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, q.Shutdown(ctx))
}

func publishN(t testing.TB, q *Queue, prefix string, from, to, records int) []string {
	t.Helper()
	var ids []string
	for i := from; i < to; i++ {
		id := fmt.Sprintf("%s-%05d", prefix, i)
		require.NoError(t, q.Publish(context.Background(), makeBatch(id, records)))
		ids = append(ids, id)
	}
	return ids
}

// recorder is a Consumer that records the batch ids it stored.
type recorder struct {
	mu      sync.Mutex
	ids     []string
	calls   int
	maxSize int
	fail    func(call int, bs []*sawmillv1.LogBatch) error // optional
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) ConsumeBatches(ctx context.Context, bs []*sawmillv1.LogBatch) error {
	r.mu.Lock()
	r.calls++
	call := r.calls
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		if err := fail(call, bs); err != nil {
			return err
		}
	}
	r.mu.Lock()
	for _, b := range bs {
		r.ids = append(r.ids, b.GetBatchId())
	}
	r.maxSize = max(r.maxSize, len(bs))
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
	return nil
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

// waitFor waits until the recorder holds n ids.
func (r *recorder) waitFor(t testing.TB, n int) []string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if ids := r.got(); len(ids) >= n {
			return ids
		}
		select {
		case <-r.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out: consumer holds %d batches, want %d", len(r.got()), n)
		}
	}
}

// runQ starts q.Run in a goroutine; the returned function stops it and
// returns Run's error.
func runQ(t testing.TB, q *Queue, c pipeline.Consumer) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- q.Run(ctx, c) }()
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(20 * time.Second):
				err = fmt.Errorf("run did not stop")
			}
		})
		return err
	}
}

// crash stops q like a killed process would leave it as far as the ack file
// is concerned: the final ack position is not written.
func crash(t testing.TB, q *Queue) {
	t.Helper()
	q.noPersist.Store(true)
	shutdown(t, q)
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	require.NoError(t, err)
	return m
}

func deadLetterFiles(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(dir, deadLetterDir))
	require.NoError(t, err)
	var out []string
	for _, de := range des {
		if strings.HasSuffix(de.Name(), ".dead") {
			out = append(out, filepath.Join(dir, deadLetterDir, de.Name()))
		}
	}
	return out
}

func seq(prefix string, from, to int) []string {
	var ids []string
	for i := from; i < to; i++ {
		ids = append(ids, fmt.Sprintf("%s-%05d", prefix, i))
	}
	return ids
}
