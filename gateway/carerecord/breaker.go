package carerecord

import (
	"sync"
	"time"
)

// breaker is a consecutive-failure circuit breaker. Closed, it lets every
// lookup through; after threshold failed lookups in a row it opens and
// refuses calls until coolDown has passed; then it lets one probe through
// (half-open): success closes it, failure opens it for another coolDown.
//
// It is small enough that a library (sony/gobreaker) would add more
// surface than it saves, and it reads the client's injectable clock.
type breaker struct {
	threshold int
	coolDown  time.Duration
	now       func() time.Time

	mu       sync.Mutex
	failures int
	open     bool
	openedAt time.Time
	probing  bool
}

// allow reports whether a call may go out now; probe is true when it is
// the half-open probe, whose outcome must be reported.
func (b *breaker) allow() (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return true, false
	}
	if b.probing || b.now().Sub(b.openedAt) < b.coolDown {
		return false, false
	}
	b.probing = true
	return true, true
}

// record reports a call's outcome.
func (b *breaker) record(success bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if success {
		b.failures, b.open = 0, false
		return
	}
	b.failures++
	if b.open || b.failures >= b.threshold {
		b.open, b.openedAt = true, b.now()
	}
}

// State is "closed", "open" or "half-open" (for logs and tests).
func (b *breaker) state() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case !b.open:
		return "closed"
	case b.probing || b.now().Sub(b.openedAt) >= b.coolDown:
		return "half-open"
	}
	return "open"
}
