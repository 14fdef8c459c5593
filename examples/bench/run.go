package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options describe one run.
type Options struct {
	Mode       string        // "embedded" or "production"
	Rate       int           // records/s per source
	Duration   time.Duration // burst length
	Sources    int           // source processes
	SDK        string        // "go" or "node"
	Bins       Bins          // built binaries
	WorkDir    string        // temporary files of the run
	AMQPURL    string        // production: broker (the run adds its own vhost)
	PGURL      string        // production: PostgreSQL server (the run adds its own database)
	ProfileDir string        // when set: CPU and allocation profiles of sawmill during the burst
	Distinct   bool          // count distinct ids (pages through every record)
	NoQueries  bool          // do not poll the query API for markers (to isolate its cost)
	DrainLimit time.Duration // longest wait for the drain
	ServerArgs []string      // extra sawmill flags
	SourceArgs []string      // extra loadgen flags
	ServerEnv  []string      // extra environment of sawmill (e.g. GOGC=200)
	Log        io.Writer     // progress
}

// SourceResult is one source's report (examples/loadgen --report).
type SourceResult struct {
	Service        string   `json:"service"`
	SDK            string   `json:"sdk"`
	Rate           int      `json:"rate"`
	Sent           uint64   `json:"sent"`
	Acked          uint64   `json:"acked"`
	Failed         uint64   `json:"failed"`
	Retries        uint64   `json:"retries"`
	StartNS        int64    `json:"start_unix_nano"`
	LoggedNS       int64    `json:"logged_unix_nano"`
	DoneNS         int64    `json:"done_unix_nano"`
	MaxBehindMS    float64  `json:"max_behind_ms"`
	BatchRecords   int      `json:"batch_records"`
	BatchWaitMS    float64  `json:"batch_wait_ms"`
	LoopDelayP99MS *float64 `json:"loop_delay_p99_ms,omitempty"`
	LoopDelayMaxMS *float64 `json:"loop_delay_max_ms,omitempty"`
	PeakRSSMiB     *float64 `json:"peak_rss_mib,omitempty"`
	Markers        []struct {
		Seq      int   `json:"seq"`
		HandedNS int64 `json:"handed_unix_nano"`
	} `json:"markers"`

	// Filled by the harness.
	AchievedRate float64 `json:"achieved_rate"`
	Stored       uint64  `json:"stored"`
	Distinct     *uint64 `json:"distinct,omitempty"`
	ExitError    string  `json:"exit_error,omitempty"`
}

// Latency is a distribution summary in milliseconds.
type Latency struct {
	Seen    int     `json:"seen"`
	Missing int     `json:"missing"`
	P50MS   float64 `json:"p50_ms"`
	P99MS   float64 `json:"p99_ms"`
	MaxMS   float64 `json:"max_ms"`
}

// ProcFigures are one process group's CPU and memory.
type ProcFigures struct {
	CPUSeconds    float64 `json:"cpu_s"`
	CPUMicrosLog  float64 `json:"cpu_us_per_log"`
	PeakRSSMiB    float64 `json:"peak_rss_mib"`
	MemoryMeasure string  `json:"memory_measure"`
}

// Result holds the figures of WORKLOAD.md for one run.
type Result struct {
	Mode               string                 `json:"mode"`
	SDK                string                 `json:"sdk"`
	Sources            int                    `json:"sources"`
	RatePerSource      int                    `json:"rate_per_source"`
	DurationS          float64                `json:"duration_s"`
	Sent               uint64                 `json:"sent"`
	Accepted           uint64                 `json:"accepted"`
	AchievedRate       float64                `json:"achieved_rate"`
	BurstS             float64                `json:"burst_s"`
	Stored             uint64                 `json:"stored"`
	Distinct           *uint64                `json:"distinct,omitempty"`
	Duplicates         *int64                 `json:"duplicates,omitempty"`
	DrainLagS          float64                `json:"drain_lag_s"`
	Drained            bool                   `json:"drained"`
	TailLatency        Latency                `json:"tail_latency"`
	QueryLatency       Latency                `json:"query_latency"`
	Server             ProcFigures            `json:"server"`
	Others             map[string]ProcFigures `json:"others,omitempty"`
	SourcesCPUS        float64                `json:"sources_cpu_s"`
	PerSource          []SourceResult         `json:"per_source"`
	LoadBefore         string                 `json:"load_before"`
	LoadAfter          string                 `json:"load_after"`
	Problems           []string               `json:"problems,omitempty"`
	serverLogTail      string
	serverExitedEarly  bool
	ClientBatchRecords int     `json:"client_batch_records"`
	ClientBatchWaitMS  float64 `json:"client_batch_wait_ms"`
}

var serviceNames = []string{"orders", "payments", "users"}

func serviceName(i int) string {
	if i < len(serviceNames) {
		return serviceNames[i]
	}
	return "service" + strconv.Itoa(i+1)
}

// freeAddr returns a free 127.0.0.1 port.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// Run performs one run.
func Run(ctx context.Context, o Options) (*Result, error) {
	res := &Result{Mode: o.Mode, SDK: o.SDK, Sources: o.Sources, RatePerSource: o.Rate, DurationS: o.Duration.Seconds(), LoadBefore: loadavg()}
	logf := func(format string, a ...any) { _, _ = fmt.Fprintf(o.Log, format+"\n", a...) }
	grpcAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(o.WorkDir, "data")
	args := []string{"--grpc-addr", grpcAddr, "--http-addr", httpAddr, "--data-dir", dataDir, "--log-level", "warn"}
	if o.ProfileDir != "" {
		args = append(args, "--pprof")
	}
	var others []*Group
	if o.Mode == "production" {
		env, cleanup, err := setupProduction(ctx, o, logf)
		if err != nil {
			return nil, err
		}
		defer cleanup()
		args = append(args, "--amqp-url", env.amqpURL, "--database-url", env.dbURL)
		others = append(others, NewCommGroup("rabbitmq", nil, "beam.smp"), NewCommGroup("postgresql", postgresOf(env.dbName), "postgres"))
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
	stopServer := func() {
		if srv.ProcessState != nil {
			return
		}
		_ = srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-srvDone:
		case <-time.After(60 * time.Second):
			_ = srv.Process.Kill()
			<-srvDone
		}
	}
	defer stopServer()
	base := "http://" + httpAddr
	if err := waitReady(ctx, base, srvDone, 60*time.Second); err != nil {
		b, _ := os.ReadFile(serverLog.Name())
		return nil, fmt.Errorf("%w\nserver log:\n%s", err, tail(string(b), 2000))
	}
	logf("sawmill ready: grpc %s http %s (%s mode)", grpcAddr, httpAddr, o.Mode)

	services := make([]string, o.Sources)
	for i := range services {
		services[i] = serviceName(i)
	}
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	var bg sync.WaitGroup
	defer bg.Wait()
	defer cancelRun()

	// Samplers: /proc every 100 ms until the run ends.
	server := NewPIDGroup("sawmill", srv.Process.Pid)
	groups := append([]*Group{server}, others...)
	for _, g := range groups {
		g.Sample()
	}
	bg.Add(1)
	go func() {
		defer bg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				for _, g := range groups {
					g.Sample()
				}
			}
		}
	}()

	// Marker followers.
	seen := newMarkerSeen()
	tailReady := make(chan struct{})
	bg.Add(1)
	go func() { defer bg.Done(); followTail(runCtx, base, seen.tail, tailReady) }()
	select {
	case <-tailReady:
	case <-time.After(10 * time.Second):
		res.Problems = append(res.Problems, "live tail did not open within 10s")
	}
	t0 := time.Now() // before any source starts
	if !o.NoQueries {
		bg.Add(1)
		go func() {
			defer bg.Done()
			pollMarkers(runCtx, base, services, t0, 100*time.Millisecond, seen.tail, seen.query)
		}()
	}

	// Profiles during the burst.
	if o.ProfileDir != "" {
		bg.Add(1)
		go func() {
			defer bg.Done()
			secs := max(1, int(o.Duration.Seconds()))
			f := filepath.Join(o.ProfileDir, fmt.Sprintf("cpu-%s-%s.pprof", o.Mode, o.SDK))
			if err := fetchTo(runCtx, base+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), f, time.Duration(secs+30)*time.Second); err != nil {
				logf("cpu profile: %v", err)
				return
			}
			logf("cpu profile: %s", f)
		}()
		bg.Add(1)
		go func() {
			defer bg.Done()
			select {
			case <-runCtx.Done():
				return
			case <-time.After(o.Duration * 4 / 5):
			}
			f := filepath.Join(o.ProfileDir, fmt.Sprintf("heap-%s-%s.pprof", o.Mode, o.SDK))
			if err := fetchTo(runCtx, base+"/debug/pprof/heap", f, 30*time.Second); err == nil {
				logf("heap profile (at %s): %s", o.Duration*4/5, f)
			}
		}()
	}

	// The sources, all at once.
	logf("starting %d %s sources at %d logs/s each for %s", o.Sources, o.SDK, o.Rate, o.Duration)
	reports := make([]string, o.Sources)
	outs := make([]*strings.Builder, o.Sources)
	procs := make([]*exec.Cmd, o.Sources)
	for i, svc := range services {
		reports[i] = filepath.Join(o.WorkDir, "source-"+svc+".json")
		procs[i] = sourceCommand(o, grpcAddr, svc, i, reports[i])
		outs[i] = &strings.Builder{}
		procs[i].Stdout, procs[i].Stderr = &lockedWriter{w: outs[i]}, &lockedWriter{w: outs[i]}
	}
	for i, p := range procs {
		if err := p.Start(); err != nil {
			for _, q := range procs[:i] {
				_ = q.Process.Kill()
				_ = q.Wait()
			}
			return nil, fmt.Errorf("start source %s: %w", services[i], err)
		}
	}
	exitErrs := waitAll(procs, o.Duration+120*time.Second)
	sourcesEnded := time.Now()
	for _, p := range procs {
		if p.ProcessState != nil {
			res.SourcesCPUS += (p.ProcessState.UserTime() + p.ProcessState.SystemTime()).Seconds()
		}
	}

	// Reports: acks and markers.
	var firstStart, lastAck int64
	for i := range procs {
		var r SourceResult
		b, err := os.ReadFile(reports[i])
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err != nil {
			r = SourceResult{Service: services[i]}
			res.Problems = append(res.Problems, fmt.Sprintf("source %s: no report (%v): %s", services[i], err, tail(outs[i].String(), 500)))
		}
		if exitErrs[i] != nil {
			r.ExitError = fmt.Sprintf("%v: %s", exitErrs[i], tail(outs[i].String(), 500))
			res.Problems = append(res.Problems, "source "+services[i]+": "+r.ExitError)
		}
		if d := r.DoneNS - r.StartNS; d > 0 {
			r.AchievedRate = float64(r.Acked) / (float64(d) / 1e9)
		}
		if firstStart == 0 || (r.StartNS != 0 && r.StartNS < firstStart) {
			firstStart = r.StartNS
		}
		lastAck = max(lastAck, r.DoneNS)
		res.Sent += r.Sent
		res.Accepted += r.Acked
		res.ClientBatchRecords, res.ClientBatchWaitMS = r.BatchRecords, r.BatchWaitMS
		res.PerSource = append(res.PerSource, r)
		logf("  %s", strings.TrimSpace(outs[i].String()))
	}
	if lastAck == 0 {
		lastAck = sourcesEnded.UnixNano()
	}
	if firstStart > 0 && lastAck > firstStart {
		res.BurstS = float64(lastAck-firstStart) / 1e9
		res.AchievedRate = float64(res.Accepted) / res.BurstS
	}

	// The drain: until everything sent is counted (or the limit passes).
	drainDeadline := time.Now().Add(o.DrainLimit)
	for {
		n, err := count(ctx, base, "")
		if err == nil {
			res.Stored = n
			if n >= res.Sent {
				res.Drained = true
				res.DrainLagS = max(0, float64(time.Now().UnixNano()-lastAck)/1e9)
				break
			}
		}
		if time.Now().After(drainDeadline) || ctx.Err() != nil {
			res.DrainLagS = float64(time.Now().UnixNano()-lastAck) / 1e9
			res.Problems = append(res.Problems, fmt.Sprintf("not drained after %s: stored %d of %d sent", o.DrainLimit, res.Stored, res.Sent))
			break
		}
		select {
		case <-srvDone:
			res.serverExitedEarly = true
			res.Problems = append(res.Problems, "sawmill exited during the run")
		case <-time.After(50 * time.Millisecond):
		}
		if res.serverExitedEarly {
			break
		}
	}
	// CPU and memory up to the end of the drain.
	for _, g := range groups {
		g.Sample()
	}
	res.Server = figures(server, res.Sent, "VmHWM of the sawmill process")
	if len(others) > 0 {
		res.Others = map[string]ProcFigures{}
		for _, g := range others {
			res.Others[g.Name] = figures(g, res.Sent, "highest sampled sum of Pss over its processes (100 ms samples)")
		}
	}
	if o.ProfileDir != "" {
		f := filepath.Join(o.ProfileDir, fmt.Sprintf("allocs-%s-%s.pprof", o.Mode, o.SDK))
		if err := fetchTo(ctx, base+"/debug/pprof/allocs", f, 30*time.Second); err == nil {
			logf("allocation profile: %s", f)
		}
	}

	// Markers still in flight get a moment after the drain.
	wantMarkers := 0
	for _, r := range res.PerSource {
		wantMarkers += len(r.Markers)
	}
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if seen.tail.len() >= wantMarkers && seen.query.len() >= wantMarkers {
			break
		}
	}
	cancelRun()
	res.TailLatency = latency(res.PerSource, seen.tail)
	res.QueryLatency = latency(res.PerSource, seen.query)

	// Per source: stored and distinct.
	for i := range res.PerSource {
		r := &res.PerSource[i]
		if n, err := count(ctx, base, r.Service); err == nil {
			r.Stored = n
		}
		if r.Stored != r.Acked {
			res.Problems = append(res.Problems, fmt.Sprintf("source %s: stored %d, acked %d", r.Service, r.Stored, r.Acked))
		}
	}
	if o.Distinct {
		var total uint64
		ok := true
		for i := range res.PerSource {
			r := &res.PerSource[i]
			n, err := distinctIDs(ctx, grpcAddr, r.Service, 180*time.Second)
			if err != nil {
				res.Problems = append(res.Problems, fmt.Sprintf("distinct ids of %s: %v", r.Service, err))
				ok = false
				continue
			}
			r.Distinct = &n
			total += n
		}
		if ok {
			res.Distinct = &total
			d := int64(res.Stored) - int64(total)
			res.Duplicates = &d
		}
	}
	if res.Stored != res.Sent {
		res.Problems = append(res.Problems, fmt.Sprintf("stored %d != sent %d", res.Stored, res.Sent))
	}
	stopServer()
	res.LoadAfter = loadavg()
	b, _ := os.ReadFile(serverLog.Name())
	res.serverLogTail = tail(string(b), 2000)
	return res, nil
}

func figures(g *Group, logs uint64, mem string) ProcFigures {
	f := ProcFigures{CPUSeconds: g.CPUSeconds(), PeakRSSMiB: float64(g.PeakRSSBytes()) / (1 << 20), MemoryMeasure: mem}
	if logs > 0 {
		f.CPUMicrosLog = f.CPUSeconds / float64(logs) * 1e6
	}
	return f
}

func sourceCommand(o Options, grpcAddr, svc string, i int, report string) *exec.Cmd {
	args := []string{"--target", grpcAddr, "--service", svc, "--rate", strconv.Itoa(o.Rate),
		"--duration", o.Duration.String(), "--seed", strconv.Itoa(i + 1), "--report", report}
	args = append(args, o.SourceArgs...)
	if o.SDK == "node" {
		return exec.Command("node", append([]string{o.Bins.NodeMain}, args...)...)
	}
	return exec.Command(o.Bins.Loadgen, args...)
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func waitReady(ctx context.Context, base string, exited <-chan error, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if resp, err := httpClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("sawmill exited before ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("sawmill not ready after %s", limit)
}

func fetchTo(ctx context.Context, u, file string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: %s", u, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("create %s: %w", file, err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return fmt.Errorf("read %s: %w", u, err)
	}
	return f.Close()
}

func getJSON(ctx context.Context, u string, v any) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func count(ctx context.Context, base, service string) (uint64, error) {
	u := base + "/api/v1/logs/count"
	if service != "" {
		u += "?service=" + url.QueryEscape(service)
	}
	var c struct {
		Count uint64 `json:"count"`
	}
	err := getJSON(ctx, u, &c)
	return c.Count, err
}

// markerKey names one marker.
type markerKey struct {
	service string
	seq     int
}

// seenSet records when each marker was first seen, and the marker record's
// own time (unix ns) when known.
type seenSet struct {
	mu     sync.Mutex
	at     map[markerKey]time.Time
	stamps map[markerKey]int64
}

func (s *seenSet) add(k markerKey, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.at[k]; !ok {
		s.at[k] = t
	}
}

func (s *seenSet) setStamp(k markerKey, ns int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stamps[k] = ns
}

func (s *seenSet) stamp(k markerKey) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns, ok := s.stamps[k]
	return ns, ok
}

func (s *seenSet) get(k markerKey) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.at[k]
	return t, ok
}

func (s *seenSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.at)
}

type markerSeen struct{ tail, query *seenSet }

func newMarkerSeen() markerSeen {
	return markerSeen{tail: &seenSet{at: map[markerKey]time.Time{}, stamps: map[markerKey]int64{}},
		query: &seenSet{at: map[markerKey]time.Time{}, stamps: map[markerKey]int64{}}}
}

type entryJSON struct {
	Service    string `json:"service"`
	TimeNS     string `json:"time_unix_nano"`
	Attributes struct {
		MarkerSeq *int `json:"marker_seq"`
	} `json:"attributes"`
}

// followTail reads the live tail (markers only: their message starts with
// "marker") and records when each marker arrives; it reconnects until ctx ends.
func followTail(ctx context.Context, base string, seen *seenSet, ready chan<- struct{}) {
	var once sync.Once
	for attempt := 0; attempt < 100 && ctx.Err() == nil; attempt++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/tail?q=marker&rate=1000", nil)
		resp, err := (&http.Client{}).Do(req)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		once.Do(func() { close(ready) })
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if !strings.HasPrefix(string(line), "data:") {
				continue
			}
			now := time.Now()
			var ev struct {
				Logs []entryJSON `json:"logs"`
			}
			if json.Unmarshal([]byte(strings.TrimSpace(string(line[5:]))), &ev) != nil {
				continue
			}
			for _, e := range ev.Logs {
				if e.Attributes.MarkerSeq != nil {
					k := markerKey{e.Service, *e.Attributes.MarkerSeq}
					seen.add(k, now)
					if ns, err := strconv.ParseInt(e.TimeNS, 10, 64); err == nil {
						seen.setStamp(k, ns)
					}
				}
			}
		}
		_ = resp.Body.Close()
	}
}

// pollMarkers searches for each service's next marker every 50 ms and
// records when a search first returns it. The search is narrowed by time, as
// a person's search for one record would be, so that polling 20 times a
// second does not itself load the store: to the marker's exact time, which
// the live tail shows first (the tail is fed when a batch is acknowledged,
// before the store has it, so waiting for it delays no search). A marker the
// tail has not shown 5 s after it was due is searched in [due, now]; that
// scan is expensive in PostgreSQL (0.5 s for a 5 s window there), so it is
// the exception.
func pollMarkers(ctx context.Context, base string, services []string, t0 time.Time, every time.Duration, tail, seen *seenSet) {
	next := make([]int, len(services))
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for i, svc := range services {
			for range 100 { // bounded: at most 100 markers found per tick and service
				var page struct {
					Logs []entryJSON `json:"logs"`
				}
				k := markerKey{svc, next[i]}
				due := t0.Add(time.Duration(next[i])*every - 10*time.Millisecond)
				from, to := due.UnixNano(), time.Now().UnixNano()
				if ns, ok := tail.stamp(k); ok {
					from, to = ns, ns+1
				} else if time.Since(due) < 5*time.Second {
					break
				}
				u := base + "/api/v1/logs?limit=1&service=" + url.QueryEscape(svc) + "&attr=marker_seq:" + strconv.Itoa(next[i]) +
					"&from=" + strconv.FormatInt(from, 10) + "&to=" + strconv.FormatInt(to, 10)
				if err := getJSON(ctx, u, &page); err != nil || len(page.Logs) == 0 {
					break
				}
				seen.add(k, time.Now())
				next[i]++
			}
		}
	}
}

func latency(sources []SourceResult, seen *seenSet) Latency {
	var ds []float64
	var l Latency
	for _, r := range sources {
		for _, m := range r.Markers {
			t, ok := seen.get(markerKey{r.Service, m.Seq})
			if !ok {
				l.Missing++
				continue
			}
			ds = append(ds, float64(t.UnixNano()-m.HandedNS)/1e6)
		}
	}
	l.Seen = len(ds)
	if len(ds) == 0 {
		return l
	}
	sort.Float64s(ds)
	q := func(p float64) float64 { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
	l.P50MS, l.P99MS, l.MaxMS = q(0.50), q(0.99), ds[len(ds)-1]
	return l
}

// waitAll waits for every process to exit, killing one that runs past
// limit; it returns each one's exit error, in order.
func waitAll(procs []*exec.Cmd, limit time.Duration) []error {
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan error, 1)
			go func() { done <- p.Wait() }()
			select {
			case errs[i] = <-done:
			case <-time.After(limit):
				_ = p.Process.Kill()
				errs[i] = fmt.Errorf("killed after %s", limit)
				<-done
			}
		}()
	}
	wg.Wait()
	return errs
}
