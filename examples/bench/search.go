package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sawmill-dev/sawmill/examples/loadgen/workload"
)

// SearchOptions describe one search run: one store, one workload.
type SearchOptions struct {
	Mode       string // "embedded" (SQLite) or "postgres" (--database-url, no broker)
	Kind       workload.Kind
	Services   int
	Records    int // in all (divided evenly among the services)
	Span       time.Duration
	Step       time.Duration // stats step
	Runs       int           // timed runs per question, after one warm-up
	Questions  []string      // only these (names); empty: all
	Clients    int           // mixed phase: concurrent clients (0: no mixed phase)
	MixedFor   time.Duration // mixed phase length
	Bins       Bins
	WorkDir    string
	PGURL      string
	ServerArgs []string
	ServerEnv  []string
	LoadLimit  time.Duration // longest load (sources + drain)
	QueryLimit time.Duration // longest single answer
	Log        io.Writer
}

// SearchLoad are the load phase's figures.
type SearchLoad struct {
	Sent          uint64                 `json:"sent"`
	Acked         uint64                 `json:"acked"`
	Stored        uint64                 `json:"stored"`
	IngestS       float64                `json:"ingest_s"` // first source start -> last ack
	Rate          float64                `json:"ingest_rate"`
	DrainLagS     float64                `json:"drain_lag_s"` // last ack -> count complete
	Server        ProcFigures            `json:"server"`
	Others        map[string]ProcFigures `json:"others,omitempty"`
	SourcesCPUS   float64                `json:"sources_cpu_s"`
	DiskBytes     int64                  `json:"disk_bytes"`
	BytesPerRec   float64                `json:"bytes_per_record"`
	DiskMeasure   string                 `json:"disk_measure"`
	StoreBytes    int64                  `json:"store_bytes,omitempty"` // embedded: logs.db* only
	StoreBytesRec float64                `json:"store_bytes_per_record,omitempty"`
}

// QuestionResult is one question's figures.
type QuestionResult struct {
	Name     string    `json:"name"`
	Title    string    `json:"title"`
	Request  string    `json:"request"`
	Status   string    `json:"status"` // ok, WRONG, unsupported, ERROR
	Detail   string    `json:"detail,omitempty"`
	Hits     int64     `json:"hits"`
	Expected int64     `json:"expected"`
	Runs     int       `json:"runs"`
	MedianMS float64   `json:"median_ms"`
	P99MS    float64   `json:"p99_ms"` // nearest rank: the max when runs < 100
	MaxMS    float64   `json:"max_ms"`
	TimesMS  []float64 `json:"times_ms"`
}

// MixedResult is the concurrent phase's figures.
type MixedResult struct {
	Clients   int     `json:"clients"`
	DurationS float64 `json:"duration_s"`
	Completed int     `json:"completed"`
	Wrong     int     `json:"wrong"`
	Errors    int     `json:"errors"`
	PerSecond float64 `json:"answers_per_s"`
	P50MS     float64 `json:"p50_ms"`
	P99MS     float64 `json:"p99_ms"`
	MaxMS     float64 `json:"max_ms"`
}

// SearchResult is one search run.
type SearchResult struct {
	Mode       string            `json:"mode"`
	Workload   string            `json:"workload"`
	Services   []string          `json:"services"`
	Records    int               `json:"records"`
	SpanS      float64           `json:"span_s"`
	End        int64             `json:"end_unix_nano"`
	Load       SearchLoad        `json:"load"`
	Questions  []*QuestionResult `json:"questions"`
	Mixed      *MixedResult      `json:"mixed,omitempty"`
	LoadBefore string            `json:"load_before"`
	LoadAfter  string            `json:"load_after"`
	Problems   []string          `json:"problems,omitempty"`
}

// SearchOutput is what search --out writes.
type SearchOutput struct {
	Workload  string          `json:"workload"`
	Commit    string          `json:"commit"`
	Cores     int             `json:"cores"`
	MemoryMiB uint64          `json:"memory_mib"`
	GoVersion string          `json:"go_version"`
	StartedAt time.Time       `json:"started_at"`
	Runs      []*SearchResult `json:"runs"`
}

// defaults of the day workload (BENCHMARKS.md, "Search at the scale of a day").
func dayDefaults(k workload.Kind) (records, services int) {
	if k == workload.LongLine {
		return 16 * 300_000, 16
	}
	return 9_000_000, 3
}

func searchMain(args []string) error {
	fl := flag.NewFlagSet("bench search", flag.ContinueOnError)
	modes := fl.String("mode", "embedded", "store(s), comma-separated: embedded (SQLite) and/or postgres (--database-url alone, native daily partitions)")
	kinds := fl.String("workload", "standard", "workload(s), comma-separated: standard (seed-burst records) and/or longline (100-2,000-byte infrastructure lines)")
	records := fl.Int("records", 0, "records in all, divided evenly among the services (default: 9,000,000 standard, 4,800,000 longline)")
	services := fl.Int("services", 0, "services, each its own source process (default: 3 standard, 16 longline)")
	span := fl.Duration("span", 24*time.Hour, "the records' times are spread evenly over this span before the load starts")
	step := fl.Duration("step", time.Hour, "step of the stats question")
	runs := fl.Int("runs", 7, "timed runs per question, after one warm-up (median and p99 = max below 100 runs)")
	only := fl.String("questions", "", "ask only these questions (comma-separated names; default all)")
	clients := fl.Int("mixed-clients", 50, "mixed phase: concurrent clients asking the supported questions at random")
	mixedFor := fl.Duration("mixed", 0, "mixed phase length (0: no mixed phase), e.g. 10s")
	out := fl.String("out", "", "write the figures as JSON to this file")
	pgURL := fl.String("pg-url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "postgres mode: PostgreSQL (a database of the run's own is added and dropped)")
	sawmillBin := fl.String("sawmill-bin", "", "use this sawmill binary instead of building ./server/cmd/sawmill (A/B comparisons)")
	loadLimit := fl.Duration("load-limit", time.Hour, "longest load phase (sources and drain)")
	queryLimit := fl.Duration("query-limit", 5*time.Minute, "longest wait for one answer")
	keep := fl.Bool("keep", false, "keep the work directory (data, logs, source reports)")
	var serverArgs, serverEnv multiFlag
	fl.Var(&serverArgs, "server-arg", "extra sawmill flag (repeatable)")
	fl.Var(&serverEnv, "server-env", "extra environment variable of sawmill (repeatable)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *runs < 1 || *span <= 0 || *step < time.Second || *records < 0 || *services < 0 || *services > 64 {
		return errors.New("--runs at least 1, --span positive, --step at least 1s, --records not negative, --services 0-64")
	}
	var kindList []workload.Kind
	for _, s := range strings.Split(*kinds, ",") {
		k, err := workload.ParseKind(strings.TrimSpace(s))
		if err != nil {
			return err
		}
		kindList = append(kindList, k)
	}
	modeList := strings.Split(*modes, ",")
	for i, m := range modeList {
		modeList[i] = strings.TrimSpace(m)
		if modeList[i] != "embedded" && modeList[i] != "postgres" {
			return fmt.Errorf("--mode: want embedded or postgres, got %q", m)
		}
	}
	var qNames []string
	if *only != "" {
		qNames = strings.Split(*only, ",")
		known := map[string]bool{}
		for _, q := range questions(dayParams{Services: []string{"x"}, PerSvc: 1, Span: time.Hour, Step: time.Hour}) {
			known[q.Name] = true
		}
		for _, name := range qNames {
			if !known[strings.TrimSpace(name)] {
				return fmt.Errorf("--questions: no question %q", name)
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "sawmill-bench-search-")
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	if *keep {
		fmt.Fprintln(os.Stderr, "work dir:", work)
	} else {
		defer func() { _ = os.RemoveAll(work) }()
	}
	bins, err := build(ctx, root, work, "go", os.Stderr)
	if err != nil {
		return err
	}
	if *sawmillBin != "" {
		bins.Sawmill = *sawmillBin
	}
	output := SearchOutput{Workload: "day (BENCHMARKS.md, Search at the scale of a day)", Commit: commit(root), Cores: runtime.NumCPU(),
		MemoryMiB: memTotal() >> 20, GoVersion: runtime.Version(), StartedAt: time.Now().UTC()}
	bad := 0
	for _, mode := range modeList {
		for _, k := range kindList {
			n, s := dayDefaults(k)
			if *records > 0 {
				n = *records
			}
			if *services > 0 {
				s = *services
			}
			o := SearchOptions{Mode: mode, Kind: k, Services: s, Records: n, Span: *span, Step: *step, Runs: *runs, Questions: qNames,
				Clients: *clients, MixedFor: *mixedFor, Bins: bins, WorkDir: filepath.Join(work, mode+"-"+string(k)), PGURL: *pgURL,
				ServerArgs: serverArgs, ServerEnv: serverEnv, LoadLimit: *loadLimit, QueryLimit: *queryLimit, Log: os.Stderr}
			if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
				return fmt.Errorf("work dir: %w", err)
			}
			res, err := RunSearch(ctx, o)
			if err != nil {
				return err
			}
			output.Runs = append(output.Runs, res)
			printSearchTable(os.Stdout, &output, res)
			for _, q := range res.Questions {
				if q.Status == statusWrong || q.Status == statusError {
					bad++
				}
			}
			bad += len(res.Problems)
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
	if bad > 0 {
		return fmt.Errorf("%d wrong or failed answers and problems (see the tables)", bad)
	}
	return nil
}

// RunSearch performs one search run: a fresh sawmill, the load, the
// questions.
func RunSearch(ctx context.Context, o SearchOptions) (*SearchResult, error) {
	logf := func(format string, a ...any) { _, _ = fmt.Fprintf(o.Log, format+"\n", a...) }
	services := make([]string, o.Services)
	for i := range services {
		services[i] = serviceName(i)
	}
	perSvc := o.Records / o.Services
	if perSvc < 1 {
		return nil, fmt.Errorf("%d records for %d services: want at least one each", o.Records, o.Services)
	}
	res := &SearchResult{Mode: o.Mode, Workload: string(o.Kind), Services: services, Records: perSvc * o.Services, SpanS: o.Span.Seconds(), LoadBefore: loadavg()}
	grpcAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(o.WorkDir, "data")
	// Retention off: the day's records stay put while they are searched.
	args := []string{"--grpc-addr", grpcAddr, "--http-addr", httpAddr, "--data-dir", dataDir, "--log-level", "warn", "--retention", "0"}
	var others []*Group
	dbName := ""
	if o.Mode == "postgres" {
		dbName = fmt.Sprintf("sawmill_search_%d_%d", os.Getpid(), time.Now().UnixNano()%1_000_000)
		dbURL, drop, err := createDatabase(ctx, o.PGURL, dbName, logf)
		if err != nil {
			return nil, err
		}
		defer drop()
		logf("postgres: database %s", dbName)
		args = append(args, "--database-url", dbURL, "--timescaledb", "off")
		others = append(others, NewCommGroup("postgresql", postgresOf(dbName), "postgres"))
	}
	args = append(args, o.ServerArgs...)
	serverLog, err := os.Create(filepath.Join(o.WorkDir, "sawmill.log"))
	if err != nil {
		return nil, fmt.Errorf("create server log: %w", err)
	}
	defer func() { _ = serverLog.Close() }()
	srv := exec.Command(o.Bins.Sawmill, args...)
	srv.Env = append(os.Environ(), o.ServerEnv...)
	srv.Stdout, srv.Stderr = serverLog, serverLog
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start sawmill: %w", err)
	}
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Wait() }()
	defer func() {
		if srv.ProcessState == nil {
			_ = srv.Process.Signal(syscall.SIGTERM)
			select {
			case <-srvDone:
			case <-time.After(60 * time.Second):
				_ = srv.Process.Kill()
				<-srvDone
			}
		}
	}()
	base := "http://" + httpAddr
	if err := waitReady(ctx, base, srvDone, 60*time.Second); err != nil {
		b, _ := os.ReadFile(serverLog.Name())
		return nil, fmt.Errorf("%w\nserver log:\n%s", err, tail(string(b), 2000))
	}
	end := time.Now().UnixNano()
	p := dayParams{Kind: o.Kind, Services: services, PerSvc: perSvc, End: end, Span: o.Span, Step: o.Step}
	res.End = end
	logf("sawmill ready (%s); loading %d %s records (%d services x %d) over the %s before %s",
		o.Mode, res.Records, o.Kind, o.Services, perSvc, o.Span, time.Unix(0, end).UTC().Format(time.RFC3339))

	// Load.
	if err := searchLoad(ctx, o, p, grpcAddr, base, srvDone, others, res, srv.Process.Pid); err != nil {
		b, _ := os.ReadFile(serverLog.Name())
		return nil, fmt.Errorf("%w\nserver log:\n%s", err, tail(string(b), 2000))
	}
	if o.Mode == "postgres" {
		n, how, err := pgSize(ctx, o.PGURL, dbName)
		if err != nil {
			res.Problems = append(res.Problems, err.Error())
		}
		res.Load.DiskBytes, res.Load.DiskMeasure = n, how
	} else {
		all, store, err := duBytes(dataDir)
		if err != nil {
			res.Problems = append(res.Problems, err.Error())
		}
		res.Load.DiskBytes, res.Load.StoreBytes = all, store
		res.Load.DiskMeasure = "allocated bytes (du) of the data dir after the drain; store = logs.db and its -wal/-shm"
		res.Load.StoreBytesRec = float64(store) / float64(res.Records)
	}
	res.Load.BytesPerRec = float64(res.Load.DiskBytes) / float64(res.Records)

	// Expected answers.
	qs := questions(p)
	if len(o.Questions) > 0 {
		byName := map[string]*Question{}
		for _, q := range qs {
			byName[q.Name] = q
		}
		var keep []*Question
		for _, name := range o.Questions {
			q, ok := byName[strings.TrimSpace(name)]
			if !ok {
				return nil, fmt.Errorf("--questions: no question %q", name)
			}
			keep = append(keep, q)
		}
		qs = keep
	}
	t0 := time.Now()
	replay(p, qs)
	logf("expected answers replayed in %.1fs", time.Since(t0).Seconds())

	// Questions, one at a time.
	client := &http.Client{Timeout: o.QueryLimit}
	for _, q := range qs {
		qr := askRepeatedly(ctx, client, base, p, q, o.Runs)
		res.Questions = append(res.Questions, qr)
		logf("  %-16s %-11s hits %d (expected %d) median %.0f ms max %.0f ms %s", q.Name, qr.Status, qr.Hits, qr.Expected, qr.MedianMS, qr.MaxMS, qr.Detail)
	}
	if o.MixedFor > 0 && o.Clients > 0 {
		var ok []*Question
		for i, q := range qs {
			if res.Questions[i].Status == statusOK {
				ok = append(ok, q)
			}
		}
		if len(ok) > 0 {
			res.Mixed = mixedPhase(ctx, client, base, p, ok, o.Clients, o.MixedFor)
		}
	}
	select {
	case <-srvDone:
		res.Problems = append(res.Problems, "sawmill exited during the run")
	default:
	}
	res.LoadAfter = loadavg()
	return res, nil
}

// searchLoad runs the sources and waits until every record is stored.
func searchLoad(ctx context.Context, o SearchOptions, p dayParams, grpcAddr, base string, srvDone <-chan error, others []*Group, res *SearchResult, pid int) error {
	logf := func(format string, a ...any) { _, _ = fmt.Fprintf(o.Log, format+"\n", a...) }
	server := NewPIDGroup("sawmill", pid)
	groups := append([]*Group{server}, others...)
	for _, g := range groups {
		g.Sample()
	}
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
				for _, g := range groups {
					g.Sample()
				}
			}
		}
	}()
	defer func() { stopSampling(); bg.Wait() }()

	procs := make([]*exec.Cmd, len(p.Services))
	outs := make([]*strings.Builder, len(p.Services))
	reports := make([]string, len(p.Services))
	for i, svc := range p.Services {
		reports[i] = filepath.Join(o.WorkDir, "source-"+svc+".json")
		procs[i] = exec.Command(o.Bins.Loadgen, "--target", grpcAddr, "--service", svc, "--seed", strconv.Itoa(i+1),
			"--records", strconv.Itoa(p.PerSvc), "--rate", "0", "--workload", string(p.Kind), "--span", p.Span.String(),
			"--time-end", strconv.FormatInt(p.End, 10), "--marker-every", "0", "--max-time", o.LoadLimit.String(),
			// As fast as the server takes them: a log call waits while the
			// server pushes back (its queue full) instead of failing.
			"--block-timeout", "10m", "--report", reports[i])
		outs[i] = &strings.Builder{}
		procs[i].Stdout, procs[i].Stderr = &lockedWriter{w: outs[i]}, &lockedWriter{w: outs[i]}
	}
	for i, c := range procs {
		if err := c.Start(); err != nil {
			for _, q := range procs[:i] {
				_ = q.Process.Kill()
				_ = q.Wait()
			}
			return fmt.Errorf("start source %s: %w", p.Services[i], err)
		}
	}
	exitErrs := waitAll(procs, o.LoadLimit+2*time.Minute)
	var firstStart, lastAck int64
	for i, c := range procs {
		if c.ProcessState != nil {
			res.Load.SourcesCPUS += (c.ProcessState.UserTime() + c.ProcessState.SystemTime()).Seconds()
		}
		var r SourceResult
		b, err := os.ReadFile(reports[i])
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err != nil {
			return fmt.Errorf("source %s: no report (%v): %s", p.Services[i], err, tail(outs[i].String(), 500))
		}
		if exitErrs[i] != nil {
			res.Problems = append(res.Problems, fmt.Sprintf("source %s: %v: %s", p.Services[i], exitErrs[i], tail(outs[i].String(), 500)))
		}
		if firstStart == 0 || r.StartNS < firstStart {
			firstStart = r.StartNS
		}
		lastAck = max(lastAck, r.DoneNS)
		res.Load.Sent += r.Sent
		res.Load.Acked += r.Acked
	}
	if lastAck > firstStart {
		res.Load.IngestS = float64(lastAck-firstStart) / 1e9
		res.Load.Rate = float64(res.Load.Acked) / res.Load.IngestS
	}
	logf("sources done: %d acked of %d in %.1fs (%.0f/s); waiting for the store", res.Load.Acked, res.Load.Sent, res.Load.IngestS, res.Load.Rate)
	want := uint64(res.Records)
	deadline := time.Now().Add(o.LoadLimit)
	for {
		n, err := count(ctx, base, "")
		if err == nil {
			res.Load.Stored = n
			if n >= want {
				res.Load.DrainLagS = max(0, float64(time.Now().UnixNano()-lastAck)/1e9)
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not drained after %s: stored %d of %d", o.LoadLimit, res.Load.Stored, want)
		}
		select {
		case err := <-srvDone:
			return fmt.Errorf("sawmill exited during the load: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	for _, g := range groups {
		g.Sample()
	}
	res.Load.Server = figures(server, want, "VmHWM of the sawmill process")
	if len(others) > 0 {
		res.Load.Others = map[string]ProcFigures{}
		for _, g := range others {
			res.Load.Others[g.Name] = figures(g, want, "highest sampled sum of Pss over its processes (250 ms samples)")
		}
	}
	if res.Load.Stored != want || res.Load.Acked != want {
		res.Problems = append(res.Problems, fmt.Sprintf("stored %d, acked %d, want %d", res.Load.Stored, res.Load.Acked, want))
	}
	return nil
}

// askRepeatedly asks q once to warm up, then runs times, and judges every
// answer: one wrong answer makes the question WRONG.
func askRepeatedly(ctx context.Context, client *http.Client, base string, p dayParams, q *Question, runs int) *QuestionResult {
	u := q.url(p)
	r := &QuestionResult{Name: q.Name, Title: q.Title, Request: u, Expected: q.expected(), Status: statusOK}
	for i := 0; i <= runs; i++ { // i == 0 is the warm-up
		d, code, body, err := get(ctx, client, base+u)
		if err != nil {
			r.Status, r.Detail = statusError, err.Error()
			break
		}
		hits, status, detail := q.judge(code, body)
		r.Hits = hits
		if status != statusOK {
			r.Status, r.Detail = status, detail
			if status == statusWrong {
				r.TimesMS = append(r.TimesMS, float64(d)/1e6) // shown, never as a fast answer
			}
			break
		}
		if i > 0 {
			r.TimesMS = append(r.TimesMS, float64(d)/1e6)
		}
	}
	r.Runs = len(r.TimesMS)
	r.MedianMS, r.P99MS, r.MaxMS = quantiles(r.TimesMS)
	return r
}

func get(ctx context.Context, client *http.Client, u string) (time.Duration, int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, 0, nil, err
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	d := time.Since(t0)
	if err != nil {
		return d, 0, nil, fmt.Errorf("GET %s: read: %w", u, err)
	}
	return d, resp.StatusCode, body, nil
}

// quantiles returns the median, the p99 (nearest rank) and the max.
func quantiles(ms []float64) (p50, p99, mx float64) {
	if len(ms) == 0 {
		return 0, 0, 0
	}
	s := append([]float64(nil), ms...)
	sort.Float64s(s)
	rank := func(p float64) float64 {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[max(0, min(len(s)-1, i))]
	}
	return rank(0.5), rank(0.99), s[len(s)-1]
}

// mixedPhase runs clients concurrent clients, each asking the questions at
// random one after the other, for d; answers still running at the end are
// awaited (each bounded by the client's timeout) and counted.
func mixedPhase(ctx context.Context, client *http.Client, base string, p dayParams, qs []*Question, clients int, d time.Duration) *MixedResult {
	var mu sync.Mutex
	var times []float64
	m := &MixedResult{Clients: clients}
	t0 := time.Now()
	stopAt := t0.Add(d)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for n := 0; n < 1_000_000 && time.Now().Before(stopAt) && ctx.Err() == nil; n++ {
				q := qs[rng.IntN(len(qs))]
				dur, code, body, err := get(ctx, client, base+q.url(p))
				mu.Lock()
				switch {
				case err != nil:
					m.Errors++
				default:
					if _, status, _ := q.judge(code, body); status == statusOK {
						times = append(times, float64(dur)/1e6)
					} else if status == statusWrong {
						m.Wrong++
					} else {
						m.Errors++
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	m.DurationS = time.Since(t0).Seconds()
	m.Completed = len(times)
	m.PerSecond = float64(m.Completed) / m.DurationS
	m.P50MS, m.P99MS, m.MaxMS = quantiles(times)
	return m
}

// duBytes returns the allocated bytes under dir, and of the SQLite store's
// files (logs.db, -wal, -shm) among them.
func duBytes(dir string) (all, store int64, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n := info.Size()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n = st.Blocks * 512
		}
		all += n
		if strings.HasPrefix(d.Name(), "logs.db") {
			store += n
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("du %s: %w", dir, err)
	}
	return all, store, err
}

// pgSize returns pg_database_size of the run's database.
func pgSize(ctx context.Context, pgURL, db string) (int64, string, error) {
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(c, "psql", "-X", "-A", "-t", "-d", pgURL, "-c",
		"SELECT pg_database_size('"+db+"')").CombinedOutput()
	if err != nil {
		return 0, "", fmt.Errorf("psql pg_database_size: %w: %s", err, out)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("pg_database_size %q: %w", out, err)
	}
	return n, "pg_database_size of the run's own database after the drain (tables, indexes, TOAST, catalog)", nil
}

func mib(b int64) string {
	if b >= 1<<30 {
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

func printSearchTable(w io.Writer, o *SearchOutput, r *SearchResult) {
	fmt.Fprintf(w, "\nsearch (day workload): %s mode, %s records, %d services x %d over %s; commit %s; %d cores, %d MiB; load before %s, after %s\n",
		r.Mode, r.Workload, len(r.Services), r.Records/max(1, len(r.Services)), shortDur(time.Duration(r.SpanS*float64(time.Second))), o.Commit, o.Cores, o.MemoryMiB, r.LoadBefore, r.LoadAfter)
	l := r.Load
	fmt.Fprintf(w, "load: %d records stored of %d acked in %.1f s (%.0f records/s), stored %.1f s after the last ack; sawmill CPU %.1f s (%.2f µs/record), peak RSS %.0f MiB",
		l.Stored, l.Acked, l.IngestS, l.Rate, l.DrainLagS, l.Server.CPUSeconds, l.Server.CPUMicrosLog, l.Server.PeakRSSMiB)
	for name, f := range l.Others {
		fmt.Fprintf(w, "; %s CPU %.1f s (%.2f µs/record)", name, f.CPUSeconds, f.CPUMicrosLog)
	}
	fmt.Fprintf(w, "\ndisk: %s (%.0f B/record)", mib(l.DiskBytes), l.BytesPerRec)
	if l.StoreBytes > 0 {
		fmt.Fprintf(w, "; SQLite files %s (%.0f B/record)", mib(l.StoreBytes), l.StoreBytesRec)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "question\tname\thits\texpected\tmedian ms\tp99 ms\truns\tanswer")
	for _, q := range r.Questions {
		hits := strconv.FormatInt(q.Hits, 10)
		if q.Hits < 0 {
			hits = "-"
		}
		med, p99 := fmt.Sprintf("%.1f", q.MedianMS), fmt.Sprintf("%.1f", q.P99MS)
		if q.Runs == 0 {
			med, p99 = "-", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\n", q.Title, q.Name, hits, q.Expected, med, p99, q.Runs, q.Status)
	}
	_ = tw.Flush()
	for _, q := range r.Questions {
		if q.Detail != "" {
			fmt.Fprintf(w, "  %s: %s: %s\n", q.Name, q.Status, tail(q.Detail, 300))
		}
	}
	if m := r.Mixed; m != nil {
		fmt.Fprintf(w, "mixed: %d clients for %.1f s: %d answers (%.1f/s), p50 %.0f ms, p99 %.0f ms, max %.0f ms; %d wrong, %d errors\n",
			m.Clients, m.DurationS, m.Completed, m.PerSecond, m.P50MS, m.P99MS, m.MaxMS, m.Wrong, m.Errors)
	}
	for _, p := range r.Problems {
		fmt.Fprintln(w, "PROBLEM:", p)
	}
}

// shortDur formats d without zero minutes and seconds: 24h, 1h30m, 90s.
func shortDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
