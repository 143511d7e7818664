package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsTileTheLine(t *testing.T) {
	// Every bucket starts where the previous one ended, and every value in
	// it maps back to it: no value is lost or counted twice.
	next := uint64(0)
	last := bucketOf(math.MaxUint64)
	for i := 0; i <= last; i++ {
		lo, hi := bucketRange(i)
		if lo != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, lo, next)
		}
		if hi < lo {
			t.Fatalf("bucket %d is [%d, %d]", i, lo, hi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d = [%d, %d] but bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		// The width is at most 1/subBuckets of the values it holds.
		if lo >= subBuckets && float64(hi-lo+1) > float64(lo)/subBuckets {
			t.Fatalf("bucket %d = [%d, %d] is wider than 1/%d of its values", i, lo, hi, subBuckets)
		}
		next = hi + 1
	}
	if _, hi := bucketRange(last); hi != math.MaxUint64 {
		t.Fatalf("the last bucket ends at %d", hi)
	}
}

func TestHistogramEmpty(t *testing.T) {
	var h histogram
	for _, q := range []float64{0, 0.5, 0.99, 1} {
		if got := h.Quantile(q); got != 0 {
			t.Errorf("Quantile(%v) of nothing = %v, want 0", q, got)
		}
	}
	if h.Count() != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Errorf("empty histogram: count %d max %v mean %v", h.Count(), h.Max(), h.Mean())
	}
}

func TestHistogramSmallValuesAreExact(t *testing.T) {
	var h histogram
	for v := 100; v >= 1; v-- {
		h.Record(time.Duration(v))
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.01, 1}, {0.5, 50}, {0.9, 90}, {0.99, 99}, {0.995, 100}, {1, 100}} {
		if got := h.Quantile(tc.q); got != tc.want {
			t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if h.Min() != 1 || h.Max() != 100 || h.Count() != 100 {
		t.Errorf("min %v max %v count %d", h.Min(), h.Max(), h.Count())
	}
	if h.Mean() != 50 { // 5050/100, truncated
		t.Errorf("mean %v, want 50ns", h.Mean())
	}
}

func TestHistogramNegativeIsZero(t *testing.T) {
	var h histogram
	h.Record(-time.Second)
	if h.Count() != 1 || h.Max() != 0 || h.Quantile(1) != 0 {
		t.Errorf("negative latency: count %d max %v", h.Count(), h.Max())
	}
}

// exactQuantile is the nearest-rank percentile of sorted values.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := max(int(math.Ceil(q*float64(len(sorted)))), 1)
	return sorted[rank-1]
}

func TestHistogramQuantilesWithinBound(t *testing.T) {
	// Log-uniform latencies from 1µs to 10s, like a run with a long tail.
	rng := rand.New(rand.NewPCG(1, 2))
	var h histogram
	vals := make([]time.Duration, 100_000)
	for i := range vals {
		vals[i] = time.Duration(math.Exp(math.Log(1e3) + rng.Float64()*(math.Log(1e10)-math.Log(1e3))))
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1} {
		exact := exactQuantile(vals, q)
		got := h.Quantile(q)
		// Never better than the truth, and within one bucket of it.
		if got < exact || float64(got-exact) > float64(exact)/subBuckets {
			t.Errorf("Quantile(%v) = %v, exact %v: outside [exact, exact*(1+1/%d)]", q, got, exact, subBuckets)
		}
	}
	if h.Max() != vals[len(vals)-1] || h.Min() != vals[0] {
		t.Errorf("max %v min %v, want %v and %v", h.Max(), h.Min(), vals[len(vals)-1], vals[0])
	}
}

func TestHistogramMergeEqualsOneRecorder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var all histogram
	parts := make([]histogram, 5)
	for i := range 20_000 {
		// Part 4 stays empty; part 3 holds the largest values.
		p := i % 4
		d := time.Duration(rng.Int64N(int64(20 * time.Millisecond)))
		if p == 3 {
			d *= 50
		}
		all.Record(d)
		parts[p].Record(d)
	}
	var merged histogram
	for i := range parts {
		merged.Merge(&parts[i])
	}
	if merged.Count() != all.Count() || merged.Max() != all.Max() || merged.Min() != all.Min() || merged.Mean() != all.Mean() {
		t.Fatalf("merged count %d max %v min %v mean %v; one recorder %d %v %v %v",
			merged.Count(), merged.Max(), merged.Min(), merged.Mean(), all.Count(), all.Max(), all.Min(), all.Mean())
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		if a, b := merged.Quantile(q), all.Quantile(q); a != b {
			t.Errorf("Quantile(%v): merged %v, one recorder %v", q, a, b)
		}
	}
}
