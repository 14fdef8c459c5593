package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	if err := mainErr(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// Bins are the programs a run starts.
type Bins struct {
	Sawmill  string
	Loadgen  string
	NodeMain string // examples/loadgen-node/src/main.js
}

// Output is what --out writes.
type Output struct {
	Workload  string    `json:"workload"`
	Commit    string    `json:"commit"`
	Cores     int       `json:"cores"`
	MemoryMiB uint64    `json:"memory_mib"`
	GoVersion string    `json:"go_version"`
	StartedAt time.Time `json:"started_at"`
	Mode      string    `json:"mode"`
	SDK       string    `json:"sdk"`
	Runs      []*Result `json:"runs"`
	Knee      *int      `json:"knee_rate_per_source,omitempty"`
	// NodeFloor is winston's own ceiling (Stream transport into a no-op
	// sink) at the same rate, one process, run after the Node runs.
	NodeFloor  *SourceResult `json:"node_floor,omitempty"`
	KneeReason string        `json:"knee_reason,omitempty"`
}

func mainErr() error {
	if len(os.Args) > 1 && os.Args[1] == "search" {
		return searchMain(os.Args[2:])
	}
	mode := flag.String("mode", "embedded", "embedded (disk queue + SQLite) or production (RabbitMQ + PostgreSQL)")
	rate := flag.Int("rate", 100000, "records/s per source")
	duration := flag.Duration("duration", 5*time.Second, "burst length")
	sources := flag.Int("sources", 3, "source processes (orders, payments, users, service4, ...)")
	sdk := flag.String("sdk", "go", "sources log through: go (zap + sawmillzap) or node (winston + winston-sawmill)")
	knee := flag.Bool("knee", false, "raise the per-source rate (x2 per step, at most 4 steps) until the achieved rate or the drain lag degrades")
	out := flag.String("out", "", "write the figures as JSON to this file")
	amqpURL := flag.String("amqp-url", "amqp://guest:guest@127.0.0.1:5672/", "production mode: RabbitMQ (a vhost of the run's own is added)")
	pgURL := flag.String("pg-url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "production mode: PostgreSQL (a database of the run's own is added)")
	profile := flag.String("profile", "", "directory: save sawmill's CPU profile of the burst and its allocation profile")
	distinct := flag.Bool("distinct", true, "count distinct record ids (pages through every stored record)")
	noQueries := flag.Bool("no-query-poll", false, "do not search for markers during the run (isolates the cost of the searches; query latency is then not measured)")
	drain := flag.Duration("drain-limit", 120*time.Second, "longest wait for everything acked to be stored")
	sawmillBin := flag.String("sawmill-bin", "", "use this sawmill binary instead of building ./server/cmd/sawmill (A/B comparisons)")
	keep := flag.Bool("keep", false, "keep the work directory (data, logs, source reports)")
	var serverArgs multiFlag
	var serverEnv multiFlag
	flag.Var(&serverEnv, "server-env", "extra environment variable of sawmill (repeatable), e.g. --server-env=GOMEMLIMIT=200MiB")
	var sourceArgs multiFlag
	flag.Var(&sourceArgs, "source-arg", "extra loadgen flag (repeatable), e.g. --source-arg=--inflight=8")
	flag.Var(&serverArgs, "server-arg", "extra sawmill flag (repeatable), e.g. --server-arg=--queue-max-bytes=2147483648")
	flag.Parse()
	if *mode != "embedded" && *mode != "production" {
		return fmt.Errorf("--mode must be embedded or production, got %q", *mode)
	}
	if *sdk != "go" && *sdk != "node" {
		return fmt.Errorf("--sdk must be go or node, got %q", *sdk)
	}
	if *rate <= 0 || *duration <= 0 || *sources <= 0 || *sources > 32 {
		return errors.New("--rate and --duration must be positive, --sources 1-32")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := repoRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "sawmill-bench-")
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	if *keep {
		fmt.Fprintln(os.Stderr, "work dir:", work)
	} else {
		defer func() { _ = os.RemoveAll(work) }()
	}
	bins, err := build(ctx, root, work, *sdk, os.Stderr)
	if err != nil {
		return err
	}
	if *sawmillBin != "" {
		bins.Sawmill = *sawmillBin
	}
	if *profile != "" {
		if err := os.MkdirAll(*profile, 0o755); err != nil {
			return fmt.Errorf("profile dir: %w", err)
		}
	}
	o := Options{Mode: *mode, Rate: *rate, Duration: *duration, Sources: *sources, SDK: *sdk, Bins: bins,
		AMQPURL: *amqpURL, PGURL: *pgURL, ProfileDir: *profile, Distinct: *distinct, NoQueries: *noQueries, DrainLimit: *drain,
		ServerArgs: serverArgs, SourceArgs: sourceArgs, ServerEnv: serverEnv, Log: os.Stderr}
	output := Output{Workload: "seed-burst (BENCHMARKS.md, The workload)", Commit: commit(root), Cores: runtime.NumCPU(),
		MemoryMiB: memTotal() >> 20, GoVersion: runtime.Version(), StartedAt: time.Now().UTC(), Mode: *mode, SDK: *sdk}

	steps := 1
	if *knee {
		steps = 4
	}
	drainTarget := 5.0
	if *mode == "production" {
		drainTarget = 15
	}
	for step := 0; step < steps; step++ {
		o.Rate = *rate << step
		o.WorkDir = filepath.Join(work, fmt.Sprintf("run-%d", step))
		if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
			return fmt.Errorf("work dir: %w", err)
		}
		res, err := Run(ctx, o)
		if err != nil {
			return err
		}
		output.Runs = append(output.Runs, res)
		printTable(os.Stdout, &output, res)
		if !*knee {
			break
		}
		offered := float64(o.Rate * o.Sources)
		switch {
		case res.AchievedRate < 0.9*offered:
			output.KneeReason = fmt.Sprintf("at %d/s per source the achieved rate was %.0f/s, under 90%% of the offered %.0f/s", o.Rate, res.AchievedRate, offered)
		case !res.Drained || res.DrainLagS > drainTarget:
			output.KneeReason = fmt.Sprintf("at %d/s per source the drain lag was %.1fs (target %.0fs)", o.Rate, res.DrainLagS, drainTarget)
		case res.Stored != res.Sent:
			output.KneeReason = fmt.Sprintf("at %d/s per source stored %d of %d", o.Rate, res.Stored, res.Sent)
		default:
			r := o.Rate
			output.Knee = &r
			continue
		}
		break
	}
	if *knee {
		if output.Knee != nil {
			fmt.Printf("knee: held %d logs/s per source (%d in all)", *output.Knee, *output.Knee**sources)
		} else {
			fmt.Printf("knee: below %d logs/s per source", *rate)
		}
		if output.KneeReason != "" {
			fmt.Printf("; degraded: %s\n", output.KneeReason)
		} else {
			fmt.Printf("; every step held (at most %d steps)\n", steps)
		}
	}
	if *sdk == "node" {
		floor, err := runNodeFloor(ctx, o, *rate, filepath.Join(work, "floor.json"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "node floor:", err)
		} else {
			output.NodeFloor = floor
			best := 0.0
			for _, r := range output.Runs {
				for _, s := range r.PerSource {
					best = max(best, s.AchievedRate)
				}
			}
			fmt.Printf("winston floor (Stream transport into a no-op sink, 1 process, offered %d logs/s): %.0f logs/s, event-loop delay p99 %.1f ms; best Node source through winston-sawmill %.0f logs/s = %.0f%% of the floor\n",
				*rate, floor.AchievedRate, deref(floor.LoopDelayP99MS), best, 100*best/max(1, floor.AchievedRate))
		}
	}
	if *out != "" {
		b, err := json.MarshalIndent(output, "", "  ")
		if err != nil {
			return fmt.Errorf("encode --out: %w", err)
		}
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write --out: %w", err)
		}
	}
	last := output.Runs[0]
	if !*knee && (last.Stored != last.Sent || (last.Duplicates != nil && *last.Duplicates != 0)) {
		return fmt.Errorf("stored %d of %d sent: nothing may be lost or duplicated", last.Stored, last.Sent)
	}
	return nil
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// runNodeFloor runs one Node source into winston's Stream transport with a
// no-op sink: what winston itself can do on this machine.
func runNodeFloor(ctx context.Context, o Options, rate int, report string) (*SourceResult, error) {
	c := exec.CommandContext(ctx, "node", o.Bins.NodeMain, "--sink", "floor", "--service", "floor", "--rate", fmt.Sprint(rate),
		"--duration", o.Duration.String(), "--report", report)
	out, err := c.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, out)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	var r SourceResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode report: %w", err)
	}
	if d := r.DoneNS - r.StartNS; d > 0 {
		r.AchievedRate = float64(r.Acked) / (float64(d) / 1e9)
	}
	return &r, nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// repoRoot walks up from the working directory to the directory with go.work.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for range 20 {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("run bench inside the sawmill repository (no go.work found above the working directory)")
}

// build compiles sawmill and the Go loadgen, or checks the Node loadgen.
func build(ctx context.Context, root, work, sdk string, log io.Writer) (Bins, error) {
	b := Bins{Sawmill: filepath.Join(work, "sawmill"), Loadgen: filepath.Join(work, "loadgen")}
	for _, t := range []struct{ out, pkg string }{{b.Sawmill, "./server/cmd/sawmill"}, {b.Loadgen, "./examples/loadgen"}} {
		c := exec.CommandContext(ctx, "go", "build", "-o", t.out, t.pkg)
		c.Dir = root
		if out, err := c.CombinedOutput(); err != nil {
			return b, fmt.Errorf("go build %s: %w\n%s", t.pkg, err, out)
		}
	}
	if sdk == "node" {
		dir := filepath.Join(root, "examples", "loadgen-node")
		b.NodeMain = filepath.Join(dir, "src", "main.js")
		nt := filepath.Join(root, "node-transport")
		if stale(filepath.Join(nt, "dist", "esm", "index.js"), filepath.Join(nt, "src")) {
			for _, args := range [][]string{{"install", "--no-save", "--no-audit", "--no-fund"}, {"run", "build"}} {
				_, _ = fmt.Fprintln(log, "node-transport: npm", strings.Join(args, " "))
				c := exec.CommandContext(ctx, "npm", args...)
				c.Dir = nt
				if out, err := c.CombinedOutput(); err != nil {
					return b, fmt.Errorf("npm %s in node-transport: %w\n%s", strings.Join(args, " "), err, out)
				}
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "winston-sawmill")); err != nil {
			_, _ = fmt.Fprintln(log, "installing examples/loadgen-node (npm install)")
			c := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund")
			c.Dir = dir
			if out, err := c.CombinedOutput(); err != nil {
				return b, fmt.Errorf("npm install in examples/loadgen-node: %w\n%s", err, out)
			}
		}
	}
	return b, nil
}

// stale reports whether built is missing or older than a file under src.
func stale(built, src string) bool {
	st, err := os.Stat(built)
	if err != nil {
		return true
	}
	newer := false
	_ = filepath.WalkDir(src, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || newer {
			return nil
		}
		if info, err := d.Info(); err == nil && info.ModTime().After(st.ModTime()) {
			newer = true
		}
		return nil
	})
	return newer
}

func commit(root string) string {
	c := exec.Command("git", "rev-parse", "--short=12", "HEAD")
	c.Dir = root
	out, err := c.Output()
	if err != nil {
		return "unknown"
	}
	s := strings.TrimSpace(string(out))
	c = exec.Command("git", "status", "--porcelain", "--", "server", "sdk", "proto", "node-transport/src", "examples/loadgen", "examples/loadgen-node/src")
	c.Dir = root
	if out, err := c.Output(); err == nil && len(strings.TrimSpace(string(out))) > 0 {
		s += "-dirty"
	}
	return s
}

func memTotal() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	return kbField(b, "MemTotal:")
}

func printTable(w io.Writer, o *Output, r *Result) {
	fmt.Fprintf(w, "\nseed-burst: %s mode, %s SDK, %d sources x %d logs/s for %s; commit %s; %d cores, %d MiB; load before %s, after %s\n",
		r.Mode, r.SDK, r.Sources, r.RatePerSource, time.Duration(r.DurationS*float64(time.Second)), o.Commit, o.Cores, o.MemoryMiB, r.LoadBefore, r.LoadAfter)
	fmt.Fprintf(w, "client batching: up to %d records or %.0f ms\n", r.ClientBatchRecords, r.ClientBatchWaitMS)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue")
	fmt.Fprintln(tw, "------\t-----")
	per := make([]string, 0, len(r.PerSource))
	for _, s := range r.PerSource {
		per = append(per, fmt.Sprintf("%s %.0f", s.Service, s.AchievedRate))
	}
	fmt.Fprintf(tw, "achieved rate\t%.0f logs/s (burst took %.2fs; per source: %s)\n", r.AchievedRate, r.BurstS, strings.Join(per, ", "))
	fmt.Fprintf(tw, "sent\t%d\n", r.Sent)
	fmt.Fprintf(tw, "accepted\t%d\n", r.Accepted)
	fmt.Fprintf(tw, "stored\t%d\n", r.Stored)
	if r.Duplicates != nil {
		fmt.Fprintf(tw, "duplicates\t%d (distinct ids %d)\n", *r.Duplicates, *r.Distinct)
	} else {
		fmt.Fprintf(tw, "duplicates\tnot counted\n")
	}
	drained := ""
	if !r.Drained {
		drained = " (NOT drained)"
	}
	fmt.Fprintf(tw, "drain lag\t%.2fs%s\n", r.DrainLagS, drained)
	fmt.Fprintf(tw, "tail latency p50/p99\t%.0f / %.0f ms (max %.0f; %d markers seen, %d missing)\n", r.TailLatency.P50MS, r.TailLatency.P99MS, r.TailLatency.MaxMS, r.TailLatency.Seen, r.TailLatency.Missing)
	fmt.Fprintf(tw, "query latency p50/p99\t%.0f / %.0f ms (max %.0f; %d markers seen, %d missing)\n", r.QueryLatency.P50MS, r.QueryLatency.P99MS, r.QueryLatency.MaxMS, r.QueryLatency.Seen, r.QueryLatency.Missing)
	fmt.Fprintf(tw, "server CPU, peak RSS\tsawmill %.2fs (%.2f µs/log), %.0f MiB\n", r.Server.CPUSeconds, r.Server.CPUMicrosLog, r.Server.PeakRSSMiB)
	for _, name := range []string{"rabbitmq", "postgresql"} {
		if f, ok := r.Others[name]; ok {
			fmt.Fprintf(tw, "\t%s %.2fs (%.2f µs/log), %.0f MiB (Pss)\n", name, f.CPUSeconds, f.CPUMicrosLog, f.PeakRSSMiB)
		}
	}
	fmt.Fprintf(tw, "sources CPU\t%.2fs in all (%.2f µs/log)\n", r.SourcesCPUS, r.SourcesCPUS/float64(max(1, r.Sent))*1e6)
	for _, s := range r.PerSource {
		if s.LoopDelayP99MS != nil {
			fmt.Fprintf(tw, "node event-loop delay\t%s p99 %.1f ms (max %.1f), fell behind up to %.0f ms\n", s.Service, *s.LoopDelayP99MS, *s.LoopDelayMaxMS, s.MaxBehindMS)
		}
	}
	_ = tw.Flush()
	for _, p := range r.Problems {
		fmt.Fprintln(w, "PROBLEM:", p)
	}
	if r.serverExitedEarly {
		fmt.Fprintln(w, "server log:", r.serverLogTail)
	}
}
