package live

import (
	"context"
	"errors"
	"sync"
	"time"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// ErrStopping is returned by Next once the server stops (Hub.StopTails):
// the client should reconnect, to another replica if need be.
var ErrStopping = errors.New("server stopping")

// Update is what one call of Next returns.
type Update struct {
	// Entries waiting, in arrival order.
	Entries []*sawmillv1.LogEntry
	// Skipped counts matching records that sampling left out since the
	// previous update.
	Skipped uint64
	// Gap, when set, says that records may be missing from this tail (the
	// live view missed batches); Entries follow the gap.
	Gap *pipeline.LiveGap
}

// Empty reports whether u carries nothing (a keepalive).
func (u Update) Empty() bool { return len(u.Entries) == 0 && u.Skipped == 0 && u.Gap == nil }

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
	gap     *pipeline.LiveGap
	opened  time.Time
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
	now := h.opts.Now()
	s := &Subscription{h: h, m: store.NewMatcher(f), rate: rate, tokens: float64(rate), last: now, opened: now, wake: make(chan struct{}, 1)}
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

// Next returns what is waiting (entries in arrival order, how many matching
// records sampling skipped, a gap notice), waiting until there is some. It
// returns at most once per interval with something, so a reader gets
// batches at a bounded pace. When keepalive fires first it returns an empty
// Update, so the caller can keep an idle stream open. The error is ctx's
// once ctx ends, and ErrStopping at once when the server stops. Only the
// subscription's owner calls Next.
func (s *Subscription) Next(ctx context.Context, interval time.Duration, keepalive <-chan time.Time) (Update, error) {
	if wait := interval - time.Since(s.sent); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return Update{}, ctx.Err()
		case <-s.h.stopping:
			t.Stop()
			return Update{}, ErrStopping
		case <-t.C:
		}
	}
	for {
		select {
		case <-ctx.Done():
			return Update{}, ctx.Err()
		case <-s.h.stopping:
			return Update{}, ErrStopping
		case <-keepalive:
			return Update{}, nil
		case <-s.wake:
			if u := s.take(); !u.Empty() {
				s.sent = time.Now()
				return u, nil
			}
		}
	}
}

// take returns and clears what is waiting.
func (s *Subscription) take() Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := Update{Entries: s.buf, Skipped: s.skipped, Gap: s.gap}
	s.buf, s.skipped, s.gap = nil, 0, nil
	return u
}

// addGap merges g into the gap waiting for the reader: the earliest start,
// the latest end, the counts summed (unknown if either is), the reasons of
// the first.
func (s *Subscription) addGap(g pipeline.LiveGap) {
	if g.To.Before(s.opened) {
		return // over before this tail opened
	}
	if g.From.Before(s.opened) {
		g.From = s.opened
	}
	s.mu.Lock()
	if p := s.gap; p != nil {
		if g.From.Before(p.From) {
			p.From = g.From
		}
		if g.To.After(p.To) {
			p.To = g.To
		}
		if p.Batches < 0 || g.Batches < 0 {
			p.Batches = -1
		} else {
			p.Batches += g.Batches
		}
		if p.Records < 0 || g.Records < 0 {
			p.Records = -1
		} else {
			p.Records += g.Records
		}
		if p.Reason != g.Reason && g.Records < 0 {
			p.Reason = g.Reason // the unknown-count reason is the one to read
		}
	} else {
		s.gap = &g
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
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
	if !s.m.MatchResource(b.GetResource()) {
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
