package batch

import (
	"math/rand/v2"
	"time"
)

// Backoff computes retry delays: exponential from Initial, capped at Max,
// with full jitter in [d/2, d] so that many clients do not retry in step.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

// Delay returns the wait before retry number attempt (1 = first retry).
// A server hint (google.rpc.RetryInfo) wins when it asks for longer.
func (b Backoff) Delay(attempt int, hint time.Duration) time.Duration {
	d := b.Initial
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if d > 1 {
		d = d/2 + rand.N(d/2+1)
	}
	if hint > d {
		// Honour the server, plus up to 10% so retries spread out.
		d = hint + rand.N(hint/10+1)
	}
	return d
}
