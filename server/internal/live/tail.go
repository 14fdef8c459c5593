package live

import (
	"context"
	"sync"
	"time"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// DefaultTailRate is the default most records per second sent to one tail.
const DefaultTailRate = 1000

// MaxTailRate bounds what a client may ask for.
const MaxTailRate = 20000

// Subscription is one live tail. Its owner calls Next in a loop and Close
// when done.
type Subscription struct {
	h       *Hub
	m       *store.Matcher
	rate    int
	mu      sync.Mutex
	buf     []*sawmillv1.LogEntry
	skipped uint64
	tokens  float64
	last    time.Time
	wake    chan struct{}
	sent    time.Time // when Next last returned entries (owner only)
}

// Subscribe opens a tail of the records matching f, sending at most rate
// records per second (0 means DefaultTailRate).
func (h *Hub) Subscribe(f store.Filter, rate int) *Subscription {
	if rate <= 0 {
		rate = DefaultTailRate
	}
	rate = min(rate, MaxTailRate)
	s := &Subscription{h: h, m: store.NewMatcher(f), rate: rate, tokens: float64(rate), last: h.opts.Now(), wake: make(chan struct{}, 1)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.h.mu.Lock()
	delete(s.h.subs, s)
	s.h.mu.Unlock()
}

// Next returns the entries waiting (in arrival order) and how many matching
// records sampling skipped, waiting until there are some. It returns at most
// once per interval with entries, so a reader gets batches at a bounded
// pace. When keepalive fires first it returns nothing with ok true, so the
// caller can keep an idle stream open; ok is false once ctx ends. Only the
// subscription's owner calls Next.
func (s *Subscription) Next(ctx context.Context, interval time.Duration, keepalive <-chan time.Time) (es []*sawmillv1.LogEntry, skipped uint64, ok bool) {
	if wait := interval - time.Since(s.sent); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, 0, false
		case <-t.C:
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil, 0, false
		case <-keepalive:
			return nil, 0, true
		case <-s.wake:
			if es, skipped = s.Take(); len(es) > 0 || skipped > 0 {
				s.sent = time.Now()
				return es, skipped, true
			}
		}
	}
}

// Ready is signalled when entries may be waiting.
func (s *Subscription) Ready() <-chan struct{} { return s.wake }

// Take returns the entries waiting (in arrival order) and how many matching
// records were skipped by sampling since the last call.
func (s *Subscription) Take() ([]*sawmillv1.LogEntry, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out, skipped := s.buf, s.skipped
	s.buf, s.skipped = nil, 0
	return out, skipped
}

func (s *Subscription) offer(b *sawmillv1.LogBatch) {
	svc := b.GetResource().GetService()
	if !s.m.MatchService(svc) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.h.opts.Now()
	s.tokens = min(float64(s.rate), s.tokens+now.Sub(s.last).Seconds()*float64(s.rate))
	s.last = now
	added := false
	for i, r := range b.GetRecords() {
		if !s.m.MatchRecord(r) {
			continue
		}
		// The buffer holds at most one second of records for a reader
		// that stopped reading; beyond the budget records are counted, not kept.
		if s.tokens < 1 || len(s.buf) >= s.rate {
			s.skipped++
			continue
		}
		s.tokens--
		s.buf = append(s.buf, &sawmillv1.LogEntry{Id: store.EntryID(b.GetBatchId(), i), Resource: b.GetResource(), Record: r})
		added = true
	}
	if added || s.skipped > 0 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}
