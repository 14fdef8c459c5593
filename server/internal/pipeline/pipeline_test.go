package pipeline

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestBackoff(t *testing.T) {
	for attempt, want := range map[int]time.Duration{
		0: 100 * time.Millisecond, 1: 200 * time.Millisecond, 3: 800 * time.Millisecond,
		6: 5 * time.Second, 40: 5 * time.Second, 1000: 5 * time.Second,
	} {
		for range 100 {
			d := Backoff(attempt, 100*time.Millisecond, 5*time.Second)
			assert.GreaterOrEqual(t, d, want/2, "attempt %d", attempt)
			assert.Less(t, d, want, "attempt %d", attempt)
		}
	}
}

func TestErrors(t *testing.T) {
	full := fmt.Errorf("publish: %w", &FullError{RetryAfter: time.Second})
	assert.ErrorIs(t, full, ErrFull)
	assert.False(t, IsPermanent(full))
	p := fmt.Errorf("store: %w", Permanent(errors.New("bad frame")))
	assert.True(t, IsPermanent(p))
	assert.NoError(t, Permanent(nil))
	assert.EqualError(t, &FullError{RetryAfter: time.Second}, "queue full, retry after 1s")
	disk := fmt.Errorf("publish: %w", &FullError{RetryAfter: time.Second, Reason: "disk nearly full"})
	assert.ErrorIs(t, disk, ErrFull)
	assert.EqualError(t, disk, "publish: disk nearly full, retry after 1s")
}
