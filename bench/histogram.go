package main

import (
	"math"
	"math/bits"
	"time"
)

// histogram records latencies in log-linear buckets: exact below 128 ns,
// then 64 buckets per power of two, so a quantile is within 1/64 (1.6 %)
// of the true value and memory is fixed (30 KiB) however long a phase
// runs. It is not safe for concurrent use; each worker keeps its own and
// they are merged at the end.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
}

const (
	histSubBits = 6
	histSub     = 1 << histSubBits // buckets per power of two
	// Values below 2^63 ns have bits.Len64 ≤ 63, so the largest index is
	// (63-7)*64 + 127 < 60*64.
	histBuckets = 60 * histSub
)

// bucketOf maps a duration in ns to its bucket: values below 2*histSub
// are their own bucket; above, the top histSubBits+1 bits select it.
func bucketOf(d time.Duration) int {
	v := uint64(max(d, 0))
	if v < 2*histSub {
		return int(v)
	}
	e := bits.Len64(v) - (histSubBits + 1)
	return e*histSub + int(v>>e)
}

// bucketValue is the middle of bucket i.
func bucketValue(i int) time.Duration {
	if i < 2*histSub {
		return time.Duration(i)
	}
	e := i/histSub - 1
	m := i - e*histSub
	return time.Duration(m)<<e + (time.Duration(1)<<e)/2
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.n++
	h.sum += d
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// quantile returns the value at q (0 < q ≤ 1), or 0 when empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(bucketValue(i), h.max)
		}
	}
	return h.max
}
