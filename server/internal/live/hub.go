package live

import (
	"context"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// window is how many seconds of per-second counts the hub keeps.
const window = 300

// Options configure a Hub.
type Options struct {
	RecentSize int // records kept per service; default 50
	Backlog    int // batches waiting for the hub before live drops them; default 4096
	// DedupeWindow is how many recent batch ids the hub remembers to show a
	// batch once even when it arrives twice (a publish retried after a lost
	// confirm); default 16384.
	DedupeWindow int
	Registerer   prometheus.Registerer
	Now          func() time.Time
}

// Hub is the in-memory view of arriving logs. Start it with Run.
type Hub struct {
	opts Options
	in   chan *sawmillv1.LogBatch

	mu      sync.RWMutex
	recent  map[string]*ring
	rates   map[string]*[window]slot
	subs    map[*Subscription]struct{}
	ids     idWindow // recent batch ids (under mu)
	dropped prometheus.Counter
	dupes   prometheus.Counter
	gaps    prometheus.Counter
	ndrop   atomic.Int64
	ndupe   atomic.Int64
	seen    atomic.Int64

	stopOnce sync.Once
	stopping chan struct{} // closed by StopTails
}

type slot struct {
	sec    int64
	levels [store.NumLevels]uint64
}

var _ pipeline.Observer = (*Hub)(nil)

// New returns a Hub.
func New(opts Options) *Hub {
	if opts.RecentSize <= 0 {
		opts.RecentSize = 50
	}
	if opts.Backlog <= 0 {
		opts.Backlog = 4096
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DedupeWindow <= 0 {
		opts.DedupeWindow = 16384
	}
	h := &Hub{
		opts:     opts,
		in:       make(chan *sawmillv1.LogBatch, opts.Backlog),
		recent:   map[string]*ring{},
		rates:    map[string]*[window]slot{},
		subs:     map[*Subscription]struct{}{},
		ids:      newIDWindow(opts.DedupeWindow),
		stopping: make(chan struct{}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sawmill_live_dropped_batches_total",
			Help: "Batches the live view (tail, recent, rates) skipped because it fell behind; storage is unaffected. Open tails are told (a gap event).",
		}),
		dupes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sawmill_live_duplicate_batches_total",
			Help: "Batches the live view saw again (same batch id, e.g. a publish retried after a lost confirm) and did not show twice.",
		}),
		gaps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sawmill_live_gaps_total",
			Help: "Times the live view may have missed batches (it fell behind, or its live feed from the broker was lost); each is sent to open tails as a gap event.",
		}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(h.dropped, h.dupes, h.gaps)
	}
	return h
}

// Observe hands b to the hub without blocking. A batch the hub cannot take
// (it fell behind) is reported to open tails as a gap with its records.
func (h *Hub) Observe(b *sawmillv1.LogBatch) {
	select {
	case h.in <- b:
	default:
		h.dropped.Inc()
		h.ndrop.Add(1)
		now := h.opts.Now()
		h.gap(b.GetResource().GetService(), pipeline.LiveGap{From: now, To: now, Batches: 1, Records: int64(len(b.GetRecords())),
			Reason: "the live view fell behind"})
	}
}

// ObserveGap tells every open tail that records may be missing from it
// (merged into one notice per tail until the tail reads it).
func (h *Hub) ObserveGap(g pipeline.LiveGap) { h.gap("", g) }

// gap tells the tails of service (all tails when it is empty) about g.
func (h *Hub) gap(service string, g pipeline.LiveGap) {
	h.gaps.Inc()
	h.mu.RLock()
	defer h.mu.RUnlock()
	for sub := range h.subs {
		if service == "" || sub.m.MatchService(service) {
			sub.addGap(g)
		}
	}
}

// StopTails ends every tail, open and future: Next returns ErrStopping at
// once, so the streams' owners can tell their clients and return (a server
// stopping gracefully must not wait for streams that never end). The rest
// of the hub keeps working.
func (h *Hub) StopTails() {
	h.stopOnce.Do(func() { close(h.stopping) })
}

// Dropped returns how many batches the live view skipped since start.
func (h *Hub) Dropped() int64 { return h.ndrop.Load() }

// Duplicates returns how many batches the live view saw twice (and showed once).
func (h *Hub) Duplicates() int64 { return h.ndupe.Load() }

// Run processes observed batches until ctx ends.
func (h *Hub) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-h.in:
			h.process(b)
		}
	}
}

// Seen returns how many records the hub has processed.
func (h *Hub) Seen() int64 { return h.seen.Load() }

func (h *Hub) process(b *sawmillv1.LogBatch) {
	svc := b.GetResource().GetService()
	recs := b.GetRecords()
	now := h.opts.Now().Unix()

	h.mu.Lock()
	if !h.ids.add(b.GetBatchId()) {
		h.mu.Unlock()
		h.dupes.Inc()
		h.ndupe.Add(1)
		return
	}
	h.seen.Add(int64(len(recs)))
	rg := h.recent[svc]
	if rg == nil {
		rg = newRing(h.opts.RecentSize)
		h.recent[svc] = rg
	}
	first := max(0, len(recs)-h.opts.RecentSize)
	for i := first; i < len(recs); i++ {
		rg.push(&sawmillv1.LogEntry{Id: store.EntryID(b.GetBatchId(), i), Resource: b.GetResource(), Record: recs[i]})
	}
	rs := h.rates[svc]
	if rs == nil {
		rs = new([window]slot)
		h.rates[svc] = rs
	}
	// Rates count arrivals by arrival second, so a burst shows as it lands.
	s := &rs[now%window]
	if s.sec != now {
		*s = slot{sec: now}
	}
	for _, r := range recs {
		s.levels[store.LevelIndex(int32(r.GetSeverityNumber()))]++
	}
	subs := make([]*Subscription, 0, len(h.subs))
	for sub := range h.subs {
		subs = append(subs, sub)
	}
	h.mu.Unlock()

	for _, sub := range subs {
		sub.offer(b)
	}
}

// Recent returns up to limit newest records per service (all services when
// services is empty), services sorted by name, records newest first.
func (h *Hub) Recent(services []string, limit int) map[string][]*sawmillv1.LogEntry {
	if limit <= 0 || limit > h.opts.RecentSize {
		limit = h.opts.RecentSize
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := map[string][]*sawmillv1.LogEntry{}
	for svc, rg := range h.recent {
		if len(services) > 0 && !slices.Contains(services, svc) {
			continue
		}
		out[svc] = rg.newest(limit)
	}
	return out
}

// Warm fills the recent cache of service from stored entries (newest
// first), for a server that just started. Entries already cached win.
func (h *Hub) Warm(service string, newestFirst []*sawmillv1.LogEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.recent[service] != nil {
		return
	}
	rg := newRing(h.opts.RecentSize)
	for i := len(newestFirst) - 1; i >= 0; i-- {
		rg.push(newestFirst[i])
	}
	h.recent[service] = rg
}

// SecondCounts is the per-level count of one service in one second.
type SecondCounts struct {
	Second  int64 // unix seconds
	Service string
	Levels  [6]uint64 // trace, debug, info, warn, error, fatal
}

// Counts returns the per-second arrival counts of the last seconds seconds
// (at most 300), oldest first, omitting empty seconds.
func (h *Hub) Counts(seconds int) []SecondCounts {
	seconds = min(max(seconds, 1), window)
	now := h.opts.Now().Unix()
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []SecondCounts
	for svc, rs := range h.rates {
		for _, s := range rs {
			if s.sec > now-int64(seconds) && s.sec <= now {
				out = append(out, SecondCounts{Second: s.sec, Service: svc, Levels: s.levels})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Second != out[j].Second {
			return out[i].Second < out[j].Second
		}
		return out[i].Service < out[j].Service
	})
	return out
}

// Rate returns each service's arrivals per second over the last 10 full seconds.
func (h *Hub) Rate() map[string]float64 {
	now := h.opts.Now().Unix()
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := map[string]float64{}
	for svc, rs := range h.rates {
		var n uint64
		for _, s := range rs {
			if s.sec >= now-10 && s.sec < now {
				for _, c := range s.levels {
					n += c
				}
			}
		}
		out[svc] = float64(n) / 10
	}
	return out
}

// idWindow remembers the last n batch ids, in arrival order.
type idWindow struct {
	set  map[string]struct{}
	ring []string
	next int
}

func newIDWindow(n int) idWindow {
	return idWindow{set: make(map[string]struct{}, n), ring: make([]string, n)}
}

// add records id and reports whether it was new. An empty id is always new.
func (w *idWindow) add(id string) bool {
	if id == "" {
		return true
	}
	if _, ok := w.set[id]; ok {
		return false
	}
	if old := w.ring[w.next]; old != "" {
		delete(w.set, old)
	}
	w.ring[w.next] = id
	w.next = (w.next + 1) % len(w.ring)
	w.set[id] = struct{}{}
	return true
}

// ring is a fixed-size ring of entries.
type ring struct {
	buf  []*sawmillv1.LogEntry
	next int
	full bool
}

func newRing(n int) *ring { return &ring{buf: make([]*sawmillv1.LogEntry, n)} }

func (r *ring) push(e *sawmillv1.LogEntry) {
	r.buf[r.next] = e
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
}

func (r *ring) newest(limit int) []*sawmillv1.LogEntry {
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	limit = min(limit, n)
	out := make([]*sawmillv1.LogEntry, 0, limit)
	for i := 1; i <= limit; i++ {
		out = append(out, r.buf[(r.next-i+len(r.buf))%len(r.buf)])
	}
	return out
}
