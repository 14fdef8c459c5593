// Command orders is an example microservice in Go that logs with zap. Every
// log goes to the console and, through sawmillzap, to Sawmill.
//
// It takes orders (POST /orders), checks the customer with the users
// service and charges the payments service, passing the request id and the
// W3C trace context along, so one trace id ties the three services' logs
// together in Sawmill. Configuration comes only from the environment:
//
//	HTTP_ADDR        listen address                 (default 127.0.0.1:8081)
//	LOG_ENDPOINT     Sawmill gRPC address            (default 127.0.0.1:7070)
//	LOG_TOKEN        Sawmill bearer token            (default none)
//	SERVICE_ENV      deployment environment          (default dev)
//	SERVICE_VERSION  version reported to Sawmill     (default 0.1.0)
//	INSTANCE         instance name                   (default the host name)
//	USERS_URL        users service base URL          (default http://127.0.0.1:8082)
//	PAYMENTS_URL     payments service base URL       (default http://127.0.0.1:8083)
//
// See README.md for the endpoints and the run commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"

	sawmill "github.com/sawmill-dev/sawmill/sdk"
	"github.com/sawmill-dev/sawmill/sdk/sawmillzap"
)

const serviceName = "orders"

func main() {
	if err := run(os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, serviceName+":", err)
		os.Exit(1)
	}
}

type config struct {
	addr, endpoint, token  string
	env, version, instance string
	usersURL, paymentsURL  string
}

func configFromEnv(getenv func(string) string) config {
	get := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	host, _ := os.Hostname()
	return config{
		addr:        get("HTTP_ADDR", "127.0.0.1:8081"),
		endpoint:    get("LOG_ENDPOINT", "127.0.0.1:7070"),
		token:       getenv("LOG_TOKEN"),
		env:         get("SERVICE_ENV", "dev"),
		version:     get("SERVICE_VERSION", "0.1.0"),
		instance:    get("INSTANCE", host),
		usersURL:    get("USERS_URL", "http://127.0.0.1:8082"),
		paymentsURL: get("PAYMENTS_URL", "http://127.0.0.1:8083"),
	}
}

// newLogger returns a zap logger writing JSON to stdout and sending every
// entry to Sawmill. Error entries carry a stack trace, which Sawmill stores
// as the record's error stack.
func newLogger(ctx context.Context, cfg config) (*zap.Logger, *sawmill.Client, error) {
	client, err := sawmill.New(ctx, sawmill.Config{
		Endpoint: cfg.endpoint,
		Token:    cfg.token,
		Resource: sawmill.Resource{Service: serviceName, Instance: cfg.instance, Environment: cfg.env, Version: cfg.version},
		// Spread batches over every address the name resolves to (all
		// sawmill replicas behind one DNS name), not just the first.
		DialOptions: []grpc.DialOption{grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`)},
		// Problems of the log pipeline itself go to stderr, never back
		// into the logger (that could loop).
		OnError: func(err error) { fmt.Fprintln(os.Stderr, serviceName+": sawmill:", err) },
	})
	if err != nil {
		return nil, nil, err
	}
	console := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.Lock(os.Stdout), zap.InfoLevel)
	core := zapcore.NewTee(console, sawmillzap.NewCore(client, zap.InfoLevel))
	return zap.New(core, zap.AddCaller(), zap.AddStacktrace(zap.ErrorLevel)), client, nil
}

func run(getenv func(string) string) error {
	cfg := configFromEnv(getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	log, client, err := newLogger(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		// Flush what is buffered; Close returns once Sawmill acknowledged
		// every record (durable) or the deadline passed.
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = log.Sync()
		if err := client.Close(closeCtx); err != nil {
			fmt.Fprintln(os.Stderr, serviceName+": close sawmill client:", err)
		}
	}()

	svc := newService(log, cfg.usersURL, cfg.paymentsURL)
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	srv := &http.Server{Handler: svc.routes(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("orders started", zap.String("addr", ln.Addr().String()), zap.String("sawmill", cfg.endpoint),
		zap.String("users_url", cfg.usersURL), zap.String("payments_url", cfg.paymentsURL))

	select {
	case err := <-errc:
		return fmt.Errorf("serve HTTP: %w", err)
	case <-ctx.Done():
	}
	log.Info("orders stopping")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("stop HTTP server: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve HTTP: %w", err)
	}
	log.Info("orders stopped")
	return nil
}
