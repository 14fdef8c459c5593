// Command sawmill is the Sawmill log server. With no flags it runs alone:
// gRPC ingest and query on :7070, the HTTP API, health and metrics on :7080,
// an embedded durable queue and an embedded SQLite store under
// ./sawmill-data. `sawmill --help` lists every flag and its SAWMILL_* twin.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sawmill-dev/sawmill/server/internal/config"
)

// Set at build time: -ldflags "-X main.version=1.2.3 -X main.commit=abc123".
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, config.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "sawmill:", err)
		os.Exit(1)
	}
}

// run parses the configuration and serves until SIGINT or SIGTERM.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.ShowVersion {
		_, err := fmt.Fprintf(stdout, "sawmill %s (commit %s)\n", version, commit)
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := newServer(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	return srv.serve(ctx)
}
