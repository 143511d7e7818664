package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is per-client rate limiting: a token bucket per key (the
// gateway uses the client id of an authenticated caller, the IP address
// of anyone else, failed tokens included, so guessing tokens is
// throttled too). Buckets not used for a while are dropped, so memory
// stays bounded by the number of recent clients. Limits are per process;
// behind a load balancer with N replicas a client gets up to N times the
// rate. A nil *Limiter allows everything.
type Limiter struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// IdleBucket is how long an unused bucket is kept; a full bucket after
// that is what a new one would be anyway.
const IdleBucket = 10 * time.Minute

// New is a Limiter of perSecond requests a second per key, with bursts of
// burst (when burst is not positive, perSecond rounded up, at least 1).
// It is nil, allowing everything, when perSecond is not positive.
func New(perSecond float64, burst int) *Limiter {
	if perSecond <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = max(1, int(math.Ceil(perSecond)))
	}
	return &Limiter{rate: rate.Limit(perSecond), burst: burst, buckets: map[string]*bucket{}}
}

// Allow takes a token from key's bucket at now; when there is none it
// says how long to wait.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	if now.Sub(l.swept) > IdleBucket {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > IdleBucket {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	l.mu.Unlock()
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// RetryAfter is wait in whole seconds, rounded up, at least 1: the value
// of a 429's Retry-After.
func RetryAfter(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}

// size is how many buckets l holds.
func (l *Limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
