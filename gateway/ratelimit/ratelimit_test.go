package ratelimit

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// A burst is allowed at once, the next request waits for a token, and
// each key has a bucket of its own.
func TestLimiterBurstThenWait(t *testing.T) {
	t.Parallel()
	l := New(1, 2)
	for i := range 2 {
		if ok, _ := l.Allow("a", t0); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("a", t0)
	if ok || wait != time.Second {
		t.Fatalf("third request: allowed %v, wait %v; want refused, 1s", ok, wait)
	}
	if ok, _ := l.Allow("b", t0); !ok {
		t.Fatal("another key shares the first key's bucket")
	}
	// A refused request takes no token: one second later one is back.
	if ok, _ := l.Allow("a", t0.Add(time.Second)); !ok {
		t.Fatal("no token after a second at 1/s")
	}
	if ok, _ := l.Allow("a", t0.Add(time.Second)); ok {
		t.Fatal("two tokens after a second at 1/s")
	}
}

// Without a burst the bucket holds the rate rounded up; a rate of zero
// is no limiter, which allows everything.
func TestLimiterDefaultsAndOff(t *testing.T) {
	t.Parallel()
	if l := New(2.5, 0); l.burst != 3 {
		t.Errorf("burst for 2.5/s: %d, want 3", l.burst)
	}
	if l := New(0.2, 0); l.burst != 1 {
		t.Errorf("burst for 0.2/s: %d, want 1", l.burst)
	}
	var off *Limiter = New(0, 5)
	if off != nil {
		t.Fatal("New(0, 5) is a limiter")
	}
	for range 100 {
		if ok, wait := off.Allow("a", t0); !ok || wait != 0 {
			t.Fatalf("the nil limiter refused: %v %v", ok, wait)
		}
	}
}

// Buckets idle for longer than IdleBucket are dropped.
func TestLimiterDropsIdleBuckets(t *testing.T) {
	t.Parallel()
	l := New(1, 1)
	l.Allow("a", t0)
	l.Allow("b", t0)
	if n := l.size(); n != 2 {
		t.Fatalf("%d buckets, want 2", n)
	}
	later := t0.Add(IdleBucket + time.Second)
	l.Allow("c", later)
	if n := l.size(); n != 1 {
		t.Fatalf("%d buckets after the idle ones went, want 1", n)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		wait time.Duration
		want int
	}{{0, 1}, {time.Millisecond, 1}, {time.Second, 1}, {1500 * time.Millisecond, 2}, {3 * time.Second, 3}} {
		if got := RetryAfter(c.wait); got != c.want {
			t.Errorf("RetryAfter(%v) = %d, want %d", c.wait, got, c.want)
		}
	}
}
