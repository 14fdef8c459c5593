package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // accept gzip-compressed requests (the SDKs' compression option)
	"google.golang.org/grpc/keepalive"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/auth"
	"github.com/sawmill-dev/sawmill/server/internal/config"
	"github.com/sawmill-dev/sawmill/server/internal/diskguard"
	"github.com/sawmill-dev/sawmill/server/internal/ingest"
	"github.com/sawmill-dev/sawmill/server/internal/live"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
	"github.com/sawmill-dev/sawmill/server/internal/query"
	"github.com/sawmill-dev/sawmill/server/internal/store"
	"github.com/sawmill-dev/sawmill/server/internal/storewriter"
	"github.com/sawmill-dev/sawmill/server/internal/webui"
)

// server is the composed process: every part, started in order and stopped
// in reverse.
type server struct {
	cfg    config.Config
	log    *zap.Logger
	reg    *prometheus.Registry
	mode   string
	queue  pipeline.Queue
	store  store.Store
	hub    *live.Hub
	writer *storewriter.Writer
	ingest *ingest.Service
	grpc   *grpc.Server
	http   *http.Server
	ready  atomic.Bool
	disk   *diskguard.Guard // embedded mode only
	// readyChecks must all pass for /readyz to answer 200.
	readyChecks []func() error
	closer      []func()
}

func newLogger(cfg config.Config, out io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("log level %q: %w", cfg.LogLevel, err)
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	enc := zapcore.NewJSONEncoder(ec)
	if cfg.LogFormat == "console" {
		ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(out)), lvl)), nil
}

func newServer(ctx context.Context, cfg config.Config, logOut io.Writer) (*server, error) {
	log, err := newLogger(cfg, logOut)
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sawmill_build_info", Help: "Build of this server (always 1)."}, []string{"version", "commit", "goversion"})
	buildInfo.WithLabelValues(version, commit, runtime.Version()).Set(1)
	s.reg.MustRegister(buildInfo)

	s.hub = live.New(live.Options{RecentSize: cfg.RecentSize, Registerer: s.reg})
	if err := s.openPipeline(ctx); err != nil {
		s.close()
		return nil, err
	}
	s.writer = storewriter.New(s.store, s.reg)
	s.ingest = ingest.New(s.queue, ingest.Options{Logger: log.Named("ingest"), Registerer: s.reg})

	tokens := auth.New(cfg.Tokens)
	// Queries (gRPC QueryService and the HTTP API) also take the dashboard's
	// token (--ui-token); ingest takes only the ingest tokens.
	queryTokens := auth.New(append(slices.Clone(cfg.Tokens), cfg.UIToken))
	router := auth.Router{Default: tokens, ByService: map[string]*auth.Tokens{sawmillv1.QueryService_ServiceDesc.ServiceName: queryTokens}}
	s.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(16<<20),
		grpc.MaxSendMsgSize(16<<20),
		// Tokens are checked on the headers, before a call's stream exists:
		// an unauthenticated request is refused without its body being read.
		grpc.InTapHandle(router.TapHandle),
		// Push and PushStream requests reach ingest undecoded: it counts the
		// records and bytes of each batch, and reserves its memory, before
		// decoding it. Every other message uses the standard protobuf codec.
		grpc.ForceServerCodecV2(ingest.Codec()),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	s.ingest.Register(s.grpc)
	sawmillv1.RegisterQueryServiceServer(s.grpc, &query.Service{Store: s.store, Hub: s.hub})

	api := &query.API{Store: s.store, Hub: s.hub, Logger: log.Named("api"), Status: s.statusNow}
	apiMux := http.NewServeMux()
	api.Register(apiMux)
	mux := http.NewServeMux()
	mux.Handle("/api/", queryTokens.Middleware(apiMux))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if !s.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"not ready"}` + "\n"))
			return
		}
		for _, check := range s.readyChecks {
			if err := check(); err != nil {
				// A replica whose broker is away answers ingest with
				// UNAVAILABLE; taking it out of rotation sends clients to
				// replicas that can take their logs.
				w.WriteHeader(http.StatusServiceUnavailable)
				_ = json.NewEncoder(w).Encode(map[string]string{"status": "not ready", "reason": err.Error()})
				return
			}
		}
		_, _ = w.Write([]byte(`{"status":"ready"}` + "\n"))
	})
	if cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	ui, err := webui.New()
	if err != nil {
		s.close()
		return nil, err
	}
	mux.Handle("/", ui) // the dashboard: its assets and, for every other path, the app
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	return s, nil
}

func (s *server) statusNow() query.Status {
	b, by := s.queue.Depth()
	st := query.Status{
		QueueBatches: b, QueueBytes: by, Mode: s.mode,
		Ingested: s.ingest.Accepted(), Rejected: s.ingest.Rejected(), Refused: s.ingest.Refused(),
		Stored: s.writer.Stored(), LiveDropped: s.hub.Dropped(),
	}
	if s.disk != nil {
		if err := s.disk.Err(); err != nil {
			st.DiskRefusing = err.Error()
		}
	}
	return st
}

// serve runs until ctx ends, then stops gracefully: stop accepting, drain
// the queue into the store (bounded by --shutdown-timeout), close.
func (s *server) serve(ctx context.Context) error {
	defer s.close()
	gl, err := net.Listen("tcp", s.cfg.GRPCAddr)
	if err != nil {
		s.shutdownQueue()
		return fmt.Errorf("listen gRPC on %s: %w", s.cfg.GRPCAddr, err)
	}
	hl, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		_ = gl.Close()
		s.shutdownQueue()
		return fmt.Errorf("listen HTTP on %s: %w", s.cfg.HTTPAddr, err)
	}
	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	wg.Add(4)
	go func() { defer wg.Done(); s.hub.Run(runCtx) }()
	go func() {
		defer wg.Done()
		if err := s.queue.Run(runCtx, s.writer); err != nil {
			errc <- fmt.Errorf("queue: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := s.grpc.Serve(gl); err != nil {
			errc <- fmt.Errorf("gRPC server: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := s.http.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("HTTP server: %w", err)
		}
	}()
	retentionDone := make(chan struct{})
	go func() { defer close(retentionDone); s.retention(runCtx) }()
	s.warmRecent(ctx)
	s.ready.Store(true)
	s.log.Info("sawmill started", zap.String("version", version), zap.String("grpc", gl.Addr().String()),
		zap.String("http", hl.Addr().String()), zap.String("mode", s.mode))

	var runErr error
	select {
	case <-ctx.Done():
		s.log.Info("stopping: signal received")
	case runErr = <-errc:
		s.log.Error("stopping", zap.Error(runErr))
	}
	s.ready.Store(false)
	// Live tails never end on their own, and both GracefulStop and
	// http.Server.Shutdown wait for them: end them first (their clients are
	// told to reconnect, to another replica).
	s.hub.StopTails()
	stopCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()

	// Stop accepting: in-flight pushes finish (and are acked) first.
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-stopCtx.Done():
		s.grpc.Stop()
	}
	_ = s.http.Shutdown(stopCtx)
	// Drain what is queued into the store, as far as the deadline allows;
	// the rest stays durable in the queue for the next start.
	if runErr == nil {
		s.drain(stopCtx)
	}
	if err := s.queue.Shutdown(stopCtx); err != nil {
		s.log.Error("queue shutdown", zap.Error(err))
	}
	cancelRun()
	wg.Wait()
	<-retentionDone
	b, _ := s.queue.Depth()
	s.log.Info("sawmill stopped", zap.Int64("queued_batches_left", b))
	return runErr
}

// shutdownQueue releases a queue that never ran (start-up failed).
func (s *server) shutdownQueue() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.queue.Shutdown(ctx); err != nil {
		s.log.Error("queue shutdown", zap.Error(err))
	}
}

func (s *server) drain(ctx context.Context) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	// A broker's backlog is durable already and shared: wait only for the
	// confirms this replica owes.
	owed := s.queue.Depth
	if u, ok := s.queue.(interface{ Unconfirmed() (int64, int64) }); ok {
		owed = u.Unconfirmed
	}
	for {
		if b, _ := owed(); b == 0 {
			return
		}
		select {
		case <-ctx.Done():
			b, _ := owed()
			s.log.Warn("shutdown deadline reached before the queue drained; the rest is kept for the next start", zap.Int64("batches", b))
			return
		case <-t.C:
		}
	}
}

// warmRecent fills the recent cache from the store after a restart.
func (s *server) warmRecent(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	svcs, err := s.store.Services(ctx)
	if err != nil {
		s.log.Warn("warm recent cache", zap.Error(err))
		return
	}
	for _, sv := range svcs {
		p, err := s.store.Search(ctx, store.SearchQuery{Filter: store.Filter{Services: []string{sv.Name}}, Limit: s.cfg.RecentSize})
		if err != nil {
			s.log.Warn("warm recent cache", zap.String("service", sv.Name), zap.Error(err))
			return
		}
		s.hub.Warm(sv.Name, p.Entries)
	}
}

// retention deletes expired logs at start and then periodically.
func (s *server) retention(ctx context.Context) {
	if s.cfg.Retention == 0 {
		return
	}
	every := min(max(s.cfg.Retention/24, time.Minute), time.Hour)
	for {
		cut := time.Now().Add(-s.cfg.Retention)
		if err := s.store.DeleteBefore(ctx, cut); err != nil && ctx.Err() == nil {
			s.log.Error("retention", zap.Time("before", cut), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

func (s *server) close() {
	for i := len(s.closer) - 1; i >= 0; i-- {
		s.closer[i]()
	}
	s.closer = nil
	_ = s.log.Sync()
}
