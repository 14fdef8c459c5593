package sawmillzap_test

import (
	"context"
	"io"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sawmill-dev/sawmill/sdk"
	"github.com/sawmill-dev/sawmill/sdk/sawmilltest"
	"github.com/sawmill-dev/sawmill/sdk/sawmillzap"
)

// workloadFields are the 7 attributes of the standard workload (WORKLOAD.md).
func workloadFields() []zap.Field {
	return []zap.Field{
		zap.String("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
		zap.String("span_id", "00f067aa0ba902b7"),
		zap.String("http_method", "POST"),
		zap.String("http_path", "/api/v1/orders"),
		zap.Int("http_status", 201),
		zap.Float64("duration_ms", 12.5),
		zap.Int("user_id", 77310),
	}
}

const workloadMessage = "order 482913 created for user 77310 in 12 ms"

// BenchmarkLog compares the cost of one log call (message + the 7
// workload fields) through sawmillzap with zap's production JSON core
// writing to io.Discard (the anchor), in the same run. The Sawmill client
// sends to an in-process sawmilltest server in discard mode; its
// background sending shares the CPU but is not in the measured call.
func BenchmarkLog(b *testing.B) {
	fields := workloadFields()
	b.Run("zap-json-discard", func(b *testing.B) {
		enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
		logger := zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zapcore.InfoLevel))
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			logger.Info(workloadMessage, fields...)
		}
	})
	b.Run("sawmillzap", func(b *testing.B) {
		srv, err := sawmilltest.Start(sawmilltest.WithDiscard())
		if err != nil {
			b.Fatal(err)
		}
		defer srv.Close()
		c, err := sawmill.New(context.Background(), sawmill.Config{
			Endpoint: srv.Addr(), Resource: sawmill.Resource{Service: "bench"}, BufferBytes: 256 << 20,
		})
		if err != nil {
			b.Fatal(err)
		}
		logger := zap.New(sawmillzap.NewCore(c, zapcore.InfoLevel))
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			logger.Info(workloadMessage, fields...)
		}
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			b.Fatal(err)
		}
		st := c.Stats()
		b.ReportMetric(float64(st.DroppedFull), "dropped")
	})
}
