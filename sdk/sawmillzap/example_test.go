package sawmillzap_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sawmill-dev/sawmill/sdk"
	"github.com/sawmill-dev/sawmill/sdk/sawmilltest"
	"github.com/sawmill-dev/sawmill/sdk/sawmillzap"
)

// Add Sawmill next to the console output a service already has.
func ExampleNewCore() {
	srv, err := sawmilltest.Start() // stands in for the sawmill server
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	ctx := context.Background()
	client, err := sawmill.New(ctx, sawmill.Config{Endpoint: srv.Addr(), Resource: sawmill.Resource{Service: "orders"}})
	if err != nil {
		panic(err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = client.Close(closeCtx)
	}()

	consoleCfg := zap.NewDevelopmentEncoderConfig()
	consoleCfg.TimeKey = "" // keep the example's output stable
	logger := zap.New(zapcore.NewTee(
		zapcore.NewCore(zapcore.NewConsoleEncoder(consoleCfg), zapcore.AddSync(struct{ io.Writer }{os.Stdout}) /* stdout may be a pipe that cannot fsync */, zapcore.InfoLevel),
		sawmillzap.NewCore(client, zapcore.InfoLevel),
	))
	logger.Info("order created", zap.Int("order_id", 482913), zap.Float64("amount", 42))
	if err := logger.Sync(); err != nil { // waits for the server's acknowledgement
		panic(err)
	}
	r := srv.Records()[0]
	fmt.Println(r.GetSeverityText(), r.GetBody(), string(r.GetAttributesJson()))
	// Output:
	// INFO	order created	{"order_id": 482913, "amount": 42}
	// info order created {"order_id":482913,"amount":42.0}
}
