package main

import (
	"math"
	"math/bits"
	"time"
)

// histogram records latencies in fixed memory whatever the run's length,
// with a bounded relative error: each power of two of nanoseconds is split
// into subBuckets buckets (log-linear, the HdrHistogram layout), so a
// recorded value is known to within 1/subBuckets (under 1%). Values below
// subBuckets ns are exact. It is not safe for concurrent use: each load
// worker keeps its own and they are merged at the end.
//
// A sorted slice of every sample would be exact, but grows with
// duration x rate; a ten-minute soak at 20k req/s would hold 12M samples.
type histogram struct {
	counts []uint64
	n      uint64
	min    time.Duration
	max    time.Duration
	sum    time.Duration
}

const (
	subBucketBits = 7
	subBuckets    = 1 << subBucketBits
)

// bucketOf maps a value to its bucket index. Below 2*subBuckets the index
// is the value itself; above, a value whose highest bit is at position
// subBucketBits+shift keeps its top subBucketBits+1 bits.
func bucketOf(v uint64) int {
	if v < 2*subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - subBucketBits - 1
	return shift*subBuckets + int(v>>uint(shift))
}

// bucketRange is the smallest and largest value that fall in bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < 2*subBuckets {
		return uint64(i), uint64(i)
	}
	shift := i/subBuckets - 1
	top := uint64(i - shift*subBuckets)
	return top << uint(shift), (top+1)<<uint(shift) - 1
}

// Record adds one latency; negative values count as zero.
func (h *histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := bucketOf(uint64(d))
	if i >= len(h.counts) {
		grown := make([]uint64, i+1, max(i+1, 2*len(h.counts)))
		copy(grown, h.counts)
		h.counts = grown
	}
	h.counts[i]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += d
}

// Merge adds every value recorded in o.
func (h *histogram) Merge(o *histogram) {
	if o.n == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		grown := make([]uint64, len(o.counts))
		copy(grown, h.counts)
		h.counts = grown
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of recorded values.
func (h *histogram) Count() uint64 { return h.n }

// Max is the largest recorded value, exactly.
func (h *histogram) Max() time.Duration { return h.max }

// Min is the smallest recorded value, exactly.
func (h *histogram) Min() time.Duration { return h.min }

// Mean is the exact arithmetic mean, 0 when empty.
func (h *histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the latency at or below which a fraction q of the
// recorded values fall (q = 0.99 is p99), nearest-rank: the smallest
// recorded value v with at least ceil(q*n) values <= v. It answers with
// the upper end of v's bucket, never more than Max, so a percentile is
// never reported better than it was. 0 when empty.
func (h *histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return h.min
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketRange(i)
			return min(time.Duration(hi), h.max)
		}
	}
	return h.max
}
