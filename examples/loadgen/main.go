// Command loadgen sends the standard "seed-burst" workload
// (BENCHMARKS.md, "The workload") to a Sawmill server as one source, the way a Go
// service would: through a zap logger whose core is the Sawmill SDK's
// sawmillzap. Records of one service are logged at a fixed rate, paced by a
// token bucket refilled every 10 ms; the SDK batches them (up to --batch
// records or --batch-wait) and pushes them over gRPC. Every 100 ms one
// record is a marker (message "marker N from SERVICE", attribute
// marker_seq=N) whose hand-off time is reported, so a harness can measure
// when it becomes visible.
//
// For the search benchmark (examples/bench search) it sends a fixed number
// of records instead (--records), as fast as the server takes them (--rate
// 0), from the "day" generators with their planted needles (--workload
// standard or longline), with record times spread evenly over --span
// before --time-end instead of now, and no markers (--marker-every 0).
//
// It prints one summary line (records acked by the server, how far behind
// the pacing fell) and, with --report FILE, writes the same figures and the
// markers as JSON. Records the SDK could not deliver are counted, never
// skipped silently: the exit status is 1 when any record was not acked.
//
//	go run ./examples/loadgen --target 127.0.0.1:7070 --service demo --rate 10000 --duration 1s
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sawmill-dev/sawmill/examples/loadgen/workload"
	"github.com/sawmill-dev/sawmill/sdk"
	"github.com/sawmill-dev/sawmill/sdk/sawmillzap"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// Marker is one marker record: its sequence number and when it was handed
// to the logger (unix ns).
type Marker struct {
	Seq      int   `json:"seq"`
	HandedNS int64 `json:"handed_unix_nano"`
}

// Report is what --report writes.
type Report struct {
	Service      string   `json:"service"`
	SDK          string   `json:"sdk"`
	Rate         int      `json:"rate"`
	Sent         int      `json:"sent"`
	Acked        uint64   `json:"acked"`
	Failed       uint64   `json:"failed"`
	Retries      uint64   `json:"retries"`
	StartNS      int64    `json:"start_unix_nano"`
	LoggedNS     int64    `json:"logged_unix_nano"` // last log call returned
	DoneNS       int64    `json:"done_unix_nano"`   // everything acked (Close returned)
	MaxBehindMS  float64  `json:"max_behind_ms"`
	BatchRecords int      `json:"batch_records"`
	BatchWaitMS  float64  `json:"batch_wait_ms"`
	Markers      []Marker `json:"markers"`
}

func run() error {
	target := flag.String("target", "127.0.0.1:7070", "Sawmill gRPC address")
	service := flag.String("service", "orders", "service name of this source")
	rate := flag.Int("rate", 100000, "records per second")
	duration := flag.Duration("duration", 5*time.Second, "how long to send")
	batchSize := flag.Int("batch", 1000, "most records per batch")
	batchWait := flag.Duration("batch-wait", 100*time.Millisecond, "longest a record waits for its batch")
	inflight := flag.Int("inflight", sawmill.DefaultMaxInFlight, "batches in flight at once")
	markerEvery := flag.Duration("marker-every", 100*time.Millisecond, "interval between marker records")
	token := flag.String("token", "", "bearer token")
	seed := flag.Uint64("seed", 1, "seed of the record generator")
	report := flag.String("report", "", "write the figures and markers as JSON to this file")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of this source to the file")
	closeTimeout := flag.Duration("close-timeout", 60*time.Second, "longest wait for the last acknowledgements")
	records := flag.Int("records", 0, "send exactly this many records (instead of --rate x --duration); with --rate 0 as fast as the server takes them")
	kind := flag.String("workload", "", "record generator: empty for the seed burst's; standard or longline for the day workload's (with its planted needles; needs --records)")
	span := flag.Duration("span", 0, "with --records: spread the records' times evenly over this span before --time-end instead of stamping them now")
	timeEnd := flag.Int64("time-end", 0, "with --span: end of the span, unix ns (default: now); every record is before it")
	maxTime := flag.Duration("max-time", time.Hour, "with --records: give up after this long")
	blockTimeout := flag.Duration("block-timeout", 10*time.Second, "longest a log call waits for room in the SDK's full buffer before the record counts as failed")
	flag.Parse()
	if *rate < 0 || (*rate == 0 && *records == 0) || *duration <= 0 || *batchSize <= 0 || *inflight <= 0 || *markerEvery < 0 || *records < 0 {
		return errors.New("--duration, --batch and --inflight must be positive, --rate too unless --records is set, --marker-every and --records not negative")
	}
	if (*kind != "" || *span > 0) && *records == 0 {
		return errors.New("--workload and --span need --records")
	}
	if *span > 0 && *markerEvery > 0 {
		return errors.New("--span needs --marker-every 0 (markers are stamped now)")
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var sendErrs atomic.Int64
	client, err := sawmill.New(ctx, sawmill.Config{
		Endpoint:        *target,
		Resource:        sawmill.Resource{Service: *service, Instance: *service + "-1"},
		Token:           *token,
		MaxBatchRecords: *batchSize,
		FlushInterval:   *batchWait,
		MaxInFlight:     *inflight,
		// The source must never skip records silently: when the buffer is
		// full the log call waits (and the pacing falls behind, which is
		// reported); a record still refused is counted as failed.
		FullPolicy:   sawmill.Block,
		BlockTimeout: *blockTimeout,
		OnError: func(err error) {
			var se *sawmill.SendError
			if errors.As(err, &se) {
				sendErrs.Add(1) // retried by the SDK; counted in Stats().Retries
				return
			}
			fmt.Fprintln(os.Stderr, "loadgen: sdk:", err)
		},
	})
	if err != nil {
		return fmt.Errorf("start client for %s: %w", *target, err)
	}
	logger := zap.New(sawmillzap.NewCore(client, zapcore.DebugLevel))

	total := int(int64(*rate) * int64(*duration) / int64(time.Second))
	bound := *duration + 30*time.Second
	next := workload.New(*service, *seed).Next
	if *records > 0 {
		total, bound = *records, *maxTime
	}
	if *kind != "" {
		k, err := workload.ParseKind(*kind)
		if err != nil {
			return err
		}
		next = workload.NewDay(k, *service, *seed, total).Next
	}
	markers := []Marker{}
	if *markerEvery > 0 {
		markers = make([]Marker, 0, int(*duration / *markerEvery)+1)
	}
	start := time.Now()
	end := *timeEnd
	if end == 0 {
		end = start.UnixNano()
	}
	deadline := start.Add(bound) // bound: never run away
	nextMarker := start
	if *markerEvery == 0 {
		nextMarker = time.Unix(1<<40, 0) // never
	}
	sent := 0
	var maxBehind time.Duration
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	// One field slice for every call: zap cores encode fields during Write
	// and keep none of them, so it is reused (no 512-byte slice per record).
	fs := make([]zap.Field, 0, 8)
	for sent < total && ctx.Err() == nil && time.Now().Before(deadline) {
		now := time.Now()
		due := min(total, sent+10000) // unpaced: check the deadline every 10,000
		if *rate > 0 {
			due = min(total, int(float64(*rate)*now.Sub(start).Seconds()))
		}
		if behind := time.Duration(float64(due-sent) / float64(*rate) * float64(time.Second)); *rate > 0 && behind > maxBehind {
			maxBehind = behind
		}
		for ; sent < due; sent++ {
			e := next()
			if !now.Before(nextMarker) {
				seq := len(markers)
				markers = append(markers, Marker{Seq: seq, HandedNS: time.Now().UnixNano()})
				fs = append(fields(fs[:0], &e), zap.Int("marker_seq", seq))
				logger.Info("marker "+strconv.Itoa(seq)+" from "+*service, fs...)
				nextMarker = nextMarker.Add(*markerEvery)
				continue
			}
			var ce *zapcore.CheckedEntry
			switch e.Level {
			case workload.Debug:
				ce = logger.Check(zapcore.DebugLevel, e.Message)
			case workload.Info:
				ce = logger.Check(zapcore.InfoLevel, e.Message)
			case workload.Warn:
				ce = logger.Check(zapcore.WarnLevel, e.Message)
			default:
				ce = logger.Check(zapcore.ErrorLevel, e.Message)
			}
			if *span > 0 {
				ce.Time = time.Unix(0, workload.TimeAt(end, *span, sent, total))
			}
			fs = fields(fs[:0], &e)
			ce.Write(fs...)
		}
		if sent < total && *rate > 0 {
			<-tick.C
		}
	}
	logged := time.Now()
	closeCtx, cancel := context.WithTimeout(context.Background(), *closeTimeout)
	closeErr := client.Close(closeCtx)
	cancel()
	done := time.Now()
	st := client.Stats()
	failed := uint64(sent) - min(uint64(sent), st.Acked)
	elapsed := done.Sub(start)
	fmt.Printf("service=%s sent=%d acked=%d failed=%d elapsed=%.2fs rate=%.0f/s max_behind=%s retries=%d\n",
		*service, sent, st.Acked, failed, elapsed.Seconds(), float64(st.Acked)/elapsed.Seconds(), maxBehind.Round(time.Millisecond), st.Retries)
	if *report != "" {
		r := Report{Service: *service, SDK: "go", Rate: *rate, Sent: sent, Acked: st.Acked, Failed: failed, Retries: st.Retries,
			StartNS: start.UnixNano(), LoggedNS: logged.UnixNano(), DoneNS: done.UnixNano(),
			MaxBehindMS: float64(maxBehind) / 1e6, BatchRecords: *batchSize, BatchWaitMS: float64(*batchWait) / 1e6, Markers: markers}
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode report: %w", err)
		}
		if err := os.WriteFile(*report, b, 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	if closeErr != nil {
		return fmt.Errorf("close: %w (%d records not acknowledged)", closeErr, failed)
	}
	if failed > 0 {
		return fmt.Errorf("%d records not acknowledged (dropped full %d, rejected %d, lost %d)", failed, st.DroppedFull, st.Rejected, st.Lost)
	}
	return nil
}

// fields appends the entry's seven attributes as zap fields to fs; trace_id
// and span_id become the record's trace and span ids through the SDK's
// mapping.
func fields(fs []zap.Field, e *workload.Entry) []zap.Field {
	return append(fs,
		zap.String("trace_id", e.TraceID),
		zap.String("span_id", e.SpanID),
		zap.String("http_method", e.HTTPMethod),
		zap.String("http_path", e.HTTPPath),
		zap.Int("http_status", e.HTTPStatus),
		zap.Float64("duration_ms", e.DurationMS),
		zap.Int("user_id", e.UserID),
	)
}
