package apptest

import (
	"context"
	"io"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sawmill-dev/sawmill/sdk"
	"github.com/sawmill-dev/sawmill/sdk/sawmillzap"
)

// workloadFields are the 7 attributes of the standard workload (WORKLOAD.md).
var workloadFields = []zap.Field{
	zap.String("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
	zap.String("span_id", "00f067aa0ba902b7"),
	zap.String("http_method", "POST"),
	zap.String("http_path", "/api/v1/orders"),
	zap.Int("http_status", 201),
	zap.Float64("duration_ms", 12.5),
	zap.Int("user_id", 77310),
}

const workloadMessage = "order 482913 created for user 77310 in 12 ms"

// BenchmarkLogCall measures one zap log call (message + 7 workload fields)
// through sawmillzap to the real server (another process, so allocs/op
// are the service process's own: the log call plus its share of the
// background sending), next to zap's production JSON core writing to
// io.Discard in the same run.
func BenchmarkLogCall(b *testing.B) {
	b.Run("zap-json-discard", func(b *testing.B) {
		enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
		logger := zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zapcore.InfoLevel))
		b.ReportAllocs()
		for b.Loop() {
			logger.Info(workloadMessage, workloadFields...)
		}
	})
	b.Run("sawmillzap", func(b *testing.B) {
		srv := newServer(b, "")
		srv.start()
		c, err := sawmill.New(context.Background(), sawmill.Config{
			Endpoint: srv.grpcAddr, Resource: sawmill.Resource{Service: "bench-call"}, BufferBytes: 512 << 20,
		})
		if err != nil {
			b.Fatal(err)
		}
		logger := zap.New(sawmillzap.NewCore(c, zapcore.InfoLevel))
		b.ReportAllocs()
		for b.Loop() {
			logger.Info(workloadMessage, workloadFields...)
		}
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(c.Stats().DroppedFull), "dropped")
	})
}

// BenchmarkSustained measures logs/s one process pushes to a local real
// server end to end: b.N zap log calls then Close, which returns once the
// server acknowledged (made durable) every record. Run with a fixed count,
// e.g. -benchtime=200000x. Both transports, to choose DefaultTransport.
func BenchmarkSustained(b *testing.B) {
	for _, tr := range []sawmill.Transport{sawmill.TransportUnary, sawmill.TransportStream} {
		b.Run(tr.String(), func(b *testing.B) {
			srv := newServer(b, "")
			srv.start()
			c, err := sawmill.New(context.Background(), sawmill.Config{
				Endpoint: srv.grpcAddr, Resource: sawmill.Resource{Service: "bench-" + tr.String()},
				Transport: tr, BufferBytes: 512 << 20,
			})
			if err != nil {
				b.Fatal(err)
			}
			logger := zap.New(sawmillzap.NewCore(c, zapcore.InfoLevel))
			start := time.Now()
			b.ResetTimer()
			for range b.N {
				logger.Info(workloadMessage, workloadFields...)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			if err := c.Close(ctx); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			st := c.Stats()
			if st.Acked+st.Duplicates != uint64(b.N) {
				b.Fatalf("acked %d of %d (stats %+v)", st.Acked+st.Duplicates, b.N, st)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "logs/s")
		})
	}
}
