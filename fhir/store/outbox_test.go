package store_test

import (
	"testing"
	"time"

	"github.com/signpost-fhir/signpost/fhir/store"
)

func TestBackoffAfter(t *testing.T) {
	b := store.Backoff{Base: time.Second, Max: 10 * time.Second, MaxAttempts: 6}
	tests := []struct {
		attempts int
		full     time.Duration
		dead     bool
	}{
		{1, time.Second, false},
		{2, 2 * time.Second, false},
		{3, 4 * time.Second, false},
		{4, 8 * time.Second, false},
		{5, 10 * time.Second, false}, // capped
		{6, 0, true},
		{7, 0, true},
	}
	for _, tt := range tests {
		for range 50 {
			d, dead := b.After(tt.attempts)
			if dead != tt.dead {
				t.Fatalf("After(%d) dead = %v, want %v", tt.attempts, dead, tt.dead)
			}
			if !dead && (d < tt.full/2 || d > tt.full) {
				t.Fatalf("After(%d) = %v, want within [%v, %v]", tt.attempts, d, tt.full/2, tt.full)
			}
		}
	}
	if _, dead := (store.Backoff{Base: time.Second, Max: time.Minute}).After(1000); dead {
		t.Fatal("no attempt limit must never be dead")
	}
}
