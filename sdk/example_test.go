package sawmill_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sawmill-dev/sawmill/sdk"
	"github.com/sawmill-dev/sawmill/sdk/sawmilltest"
)

// A client sends records in the background; Close flushes them.
func ExampleNew() {
	// In a real service Endpoint is the sawmill server's gRPC address; here
	// an in-memory test server stands in for it.
	srv, err := sawmilltest.Start()
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	ctx := context.Background()
	client, err := sawmill.New(ctx, sawmill.Config{
		Endpoint: srv.Addr(),
		Resource: sawmill.Resource{Service: "orders", Instance: "orders-1", Environment: "dev", Version: "1.0.0"},
	})
	if err != nil {
		panic(err)
	}

	var attrs sawmill.Attrs
	attrs.Key("order_id")
	attrs.Int(482913)
	attrs.Key("amount")
	attrs.Float(42)
	_ = client.Log(&sawmill.Record{
		Time: time.Now(), Severity: sawmill.SeverityInfo, SeverityText: "info",
		Body: "order created", Attrs: &attrs,
	})

	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Close(closeCtx); err != nil {
		panic(err)
	}
	r := srv.Records()[0]
	fmt.Println(r.GetBody(), string(r.GetAttributesJson()))
	fmt.Printf("acked %d\n", client.Stats().Acked)
	// Output:
	// order created {"order_id":482913,"amount":42.0}
	// acked 1
}

// What Config.OnError receives works with the standard gRPC and context
// helpers: status.Code, status.FromError (details included) and errors.Is.
func ExampleStatusError() {
	srv, err := sawmilltest.Start()
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	srv.FailNext(1, codes.ResourceExhausted, 10*time.Millisecond) // the server is overloaded once

	reported := make(chan error, 10)
	client, err := sawmill.New(context.Background(), sawmill.Config{
		Endpoint: srv.Addr(),
		Resource: sawmill.Resource{Service: "orders"},
		OnError: func(err error) {
			select {
			case reported <- err:
			default:
			}
		},
	})
	if err != nil {
		panic(err)
	}
	_ = client.Log(&sawmill.Record{Body: "order created"})

	err = <-reported
	var retry *sawmill.SendError
	fmt.Println(errors.As(err, &retry), status.Code(err), errors.Is(err, context.DeadlineExceeded))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Close(ctx); err != nil {
		panic(err)
	}
	fmt.Println("stored", srv.Count())
	// Output:
	// true ResourceExhausted false
	// stored 1
}
