// Command users is an example microservice in Go that logs with log/slog.
// Every record goes to stdout (slog's JSON handler) and, through
// sawmillslog, to Sawmill.
//
// It keeps a small in-memory user directory: GET /users/{id} (the orders
// service asks it about customers) and POST /users. Configuration comes
// only from the environment:
//
//	HTTP_ADDR        listen address                 (default 127.0.0.1:8082)
//	LOG_ENDPOINT     Sawmill gRPC address            (default 127.0.0.1:7070)
//	LOG_TOKEN        Sawmill bearer token            (default none)
//	SERVICE_ENV      deployment environment          (default dev)
//	SERVICE_VERSION  version reported to Sawmill     (default 0.1.0)
//	INSTANCE         instance name                   (default the host name)
//
// See README.md for the endpoints and the run commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"

	sawmill "github.com/sawmill-dev/sawmill/sdk"
	"github.com/sawmill-dev/sawmill/sdk/sawmillslog"
)

const serviceName = "users"

func main() {
	if err := run(os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, serviceName+":", err)
		os.Exit(1)
	}
}

type config struct {
	addr, endpoint, token  string
	env, version, instance string
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
		addr:     get("HTTP_ADDR", "127.0.0.1:8082"),
		endpoint: get("LOG_ENDPOINT", "127.0.0.1:7070"),
		token:    getenv("LOG_TOKEN"),
		env:      get("SERVICE_ENV", "dev"),
		version:  get("SERVICE_VERSION", "0.1.0"),
		instance: get("INSTANCE", host),
	}
}

// newLogger returns a slog logger writing JSON to stdout and sending every
// record to Sawmill.
func newLogger(ctx context.Context, cfg config) (*slog.Logger, *sawmill.Client, error) {
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
	h := slog.NewMultiHandler(
		slog.NewJSONHandler(os.Stdout, nil),
		sawmillslog.New(client, &sawmillslog.Options{Level: slog.LevelInfo, AddSource: true}),
	)
	return slog.New(h), client, nil
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
		// Close returns once Sawmill acknowledged every record (durable)
		// or the deadline passed.
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.Close(closeCtx); err != nil {
			fmt.Fprintln(os.Stderr, serviceName+": close sawmill client:", err)
		}
	}()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	srv := &http.Server{Handler: newService(log).routes(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("users started", "addr", ln.Addr().String(), "sawmill", cfg.endpoint)

	select {
	case err := <-errc:
		return fmt.Errorf("serve HTTP: %w", err)
	case <-ctx.Done():
	}
	log.Info("users stopping")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("stop HTTP server: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve HTTP: %w", err)
	}
	log.Info("users stopped")
	return nil
}
