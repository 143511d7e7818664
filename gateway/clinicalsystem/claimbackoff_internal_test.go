package clinicalsystem

import (
	"testing"
	"time"
)

// TestClaimBackoff checks the wait between failed claims: the poll
// interval first, doubling per failure, never above maxClaimBackoff and
// reaching it.
func TestClaimBackoff(t *testing.T) {
	const poll = 200 * time.Millisecond
	if got := claimBackoff(1, poll); got != poll {
		t.Fatalf("after the first failure: %s, want the poll interval %s", got, poll)
	}
	prev := poll
	for n := 2; n <= 40; n++ {
		got := claimBackoff(n, poll)
		if got < prev || got > maxClaimBackoff {
			t.Fatalf("after %d failures: %s (previous %s, cap %s)", n, got, prev, maxClaimBackoff)
		}
		if prev < maxClaimBackoff && got != min(2*prev, maxClaimBackoff) {
			t.Fatalf("after %d failures: %s, want double the previous %s up to %s", n, got, prev, maxClaimBackoff)
		}
		prev = got
	}
	if prev != maxClaimBackoff {
		t.Fatalf("after 40 failures: %s, want the cap %s", prev, maxClaimBackoff)
	}
	if got := claimBackoff(1, time.Minute); got != maxClaimBackoff {
		t.Fatalf("a poll interval above the cap: %s, want the cap %s", got, maxClaimBackoff)
	}
}
