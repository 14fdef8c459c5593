// Package config reads the sawmill server's configuration from flags, each
// with a SAWMILL_* environment twin (a flag given on the command line wins
// over its variable). It validates everything at start-up, so a bad value
// stops the server with a message naming the flag, not later at run time.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is the whole server configuration.
type Config struct {
	GRPCAddr        string
	HTTPAddr        string
	DataDir         string
	Retention       time.Duration
	RecentSize      int
	Tokens          []string
	UIToken         string // required by the dashboard's query API (ingest tokens work there too)
	QueueMaxBytes   int64
	DiskReserve     int64 // embedded mode: free bytes kept on the data directory's disk (floor)
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
	Pprof           bool
	ShowVersion     bool
	Production      Production // RabbitMQ and PostgreSQL (production.go)
}

// Defaults.
const (
	DefaultGRPCAddr = ":7070"
	DefaultHTTPAddr = ":7080"
	DefaultDataDir  = "./sawmill-data"
	// DefaultDiskReserve is the default --disk-reserve, 256 MiB.
	DefaultDiskReserve int64 = 256 << 20
)

// EnvPrefix starts every environment variable.
const EnvPrefix = "SAWMILL_"

// envName is the twin of a flag: --grpc-addr -> SAWMILL_GRPC_ADDR.
func envName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet declares every flag into c.
func newFlagSet(c *Config, tokens *stringList) *flag.FlagSet {
	fs := flag.NewFlagSet("sawmill", flag.ContinueOnError)
	fs.StringVar(&c.GRPCAddr, "grpc-addr", DefaultGRPCAddr, "gRPC listen address (ingest and query)")
	fs.StringVar(&c.HTTPAddr, "http-addr", DefaultHTTPAddr, "HTTP listen address (JSON API, /healthz, /readyz, /metrics, dashboard)")
	fs.StringVar(&c.DataDir, "data-dir", DefaultDataDir, "directory of the embedded queue and store")
	fs.DurationVar(&c.Retention, "retention", 7*24*time.Hour, "how long logs are kept (e.g. 72h); 0 keeps them forever")
	fs.IntVar(&c.RecentSize, "recent-size", 50, "records kept in memory per service for the recent view")
	fs.Var(tokens, "token", "bearer token required on ingest and query (repeatable; SAWMILL_TOKENS takes a comma-separated list); none means open")
	fs.StringVar(&c.UIToken, "ui-token", "", "token the dashboard and the HTTP query API require (users type it into the dashboard's sign-in page); ingest tokens are accepted too; none means open")
	fs.Int64Var(&c.QueueMaxBytes, "queue-max-bytes", 1<<30, "bound of the embedded queue on disk, bytes; when full, ingest answers RESOURCE_EXHAUSTED")
	fs.Int64Var(&c.DiskReserve, "disk-reserve", DefaultDiskReserve, "embedded mode: free bytes kept on the data directory's disk; ingest answers RESOURCE_EXHAUSTED (and /readyz 503) once free space falls below this plus twice the bytes queued for the store")
	fs.StringVar(&c.LogLevel, "log-level", "info", "the server's own log level: debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", "json", "the server's own log format: json or console")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long a graceful stop may take to drain the queue into the store")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve Go profiles under /debug/pprof/ on the HTTP address (for profiling; keep it off where the HTTP port is public)")
	fs.BoolVar(&c.ShowVersion, "version", false, "print the version and exit")
	c.Production.flags(fs)
	return fs
}

// envFor maps a flag to its variable; --token reads SAWMILL_TOKENS.
func envFor(name string) string {
	if name == "token" {
		return EnvPrefix + "TOKENS"
	}
	return envName(name)
}

// EnvVars lists every environment variable the server reads, sorted.
func EnvVars() []string {
	var c Config
	var tl stringList
	fs := newFlagSet(&c, &tl)
	var out []string
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "version" {
			out = append(out, envFor(f.Name))
		}
	})
	sort.Strings(out)
	return out
}

type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// ErrHelp is returned when -h or --help was asked for (usage was printed).
var ErrHelp = flag.ErrHelp

// Parse reads args (without the program name) and the environment through
// getenv. Usage and errors are written to out.
func Parse(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	var c Config
	var tokens stringList
	fs := newFlagSet(&c, &tokens)
	fs.SetOutput(out)
	fs.Usage = func() {
		_, _ = fmt.Fprintf(out, "Usage: sawmill [flags]\n\nSawmill is a central log server. With no flags it runs alone: an embedded\ndurable queue and an embedded SQLite store under --data-dir.\n\nEvery flag has an environment twin: --grpc-addr is SAWMILL_GRPC_ADDR.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || f.Name == "version" {
			return
		}
		env := envFor(f.Name)
		v, ok := lookup(getenv, env)
		if !ok {
			return
		}
		if f.Name == "token" {
			for _, t := range strings.Split(v, ",") {
				if t = strings.TrimSpace(t); t != "" {
					tokens = append(tokens, t)
				}
			}
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
		}
	})
	if len(errs) > 0 {
		return c, errors.Join(errs...)
	}
	c.Tokens = tokens
	return c, c.Validate()
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// Validate checks the values.
func (c Config) Validate() error {
	var errs []error
	for _, a := range []struct{ flag, addr string }{{"grpc-addr", c.GRPCAddr}, {"http-addr", c.HTTPAddr}} {
		if _, port, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("--%s %q: want host:port or :port: %w", a.flag, a.addr, err))
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			errs = append(errs, fmt.Errorf("--%s %q: bad port", a.flag, a.addr))
		}
	}
	if c.GRPCAddr == c.HTTPAddr {
		errs = append(errs, fmt.Errorf("--grpc-addr and --http-addr are both %q", c.GRPCAddr))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	if c.Retention < 0 || (c.Retention > 0 && c.Retention < time.Minute) {
		errs = append(errs, fmt.Errorf("--retention %s: want 0 (forever) or at least 1m", c.Retention))
	}
	if c.RecentSize < 1 || c.RecentSize > 10000 {
		errs = append(errs, fmt.Errorf("--recent-size %d: want 1-10000", c.RecentSize))
	}
	if strings.ContainsAny(c.UIToken, " \t\r\n") {
		errs = append(errs, errors.New("--ui-token: must not contain spaces or line breaks"))
	}
	if c.QueueMaxBytes < 16<<20 {
		errs = append(errs, fmt.Errorf("--queue-max-bytes %d: want at least 16 MiB", c.QueueMaxBytes))
	}
	if c.DiskReserve < 1<<20 {
		errs = append(errs, fmt.Errorf("--disk-reserve %d: want at least 1 MiB (1048576)", c.DiskReserve))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "json", "console":
	default:
		errs = append(errs, fmt.Errorf("--log-format %q: want json or console", c.LogFormat))
	}
	errs = append(errs, c.Production.validate()...)
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout %s: must be positive", c.ShutdownTimeout))
	}
	return errors.Join(errs...)
}
