package sawmillslog_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/sawmill-dev/sawmill/sdk"
	"github.com/sawmill-dev/sawmill/sdk/sawmillslog"
	"github.com/sawmill-dev/sawmill/sdk/sawmilltest"
)

func ExampleNew() {
	srv, err := sawmilltest.Start() // stands in for the sawmill server
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	ctx := context.Background()
	client, err := sawmill.New(ctx, sawmill.Config{Endpoint: srv.Addr(), Resource: sawmill.Resource{Service: "users"}})
	if err != nil {
		panic(err)
	}
	logger := slog.New(sawmillslog.New(client, nil))
	logger.WithGroup("http").Info("user logged in", "user_id", 8812, "ip", "10.2.3.4")

	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Close(closeCtx); err != nil {
		panic(err)
	}
	r := srv.Records()[0]
	fmt.Println(r.GetSeverityText(), r.GetBody(), string(r.GetAttributesJson()))
	// Output:
	// INFO user logged in {"http":{"user_id":8812,"ip":"10.2.3.4"}}
}
