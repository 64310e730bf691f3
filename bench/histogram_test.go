package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsCoverEveryValue(t *testing.T) {
	prev := -1
	for _, v := range []time.Duration{0, 1, 127, 128, 129, 255, 256, 1000, time.Millisecond, time.Hour, 1<<62 + 12345} {
		i := bucketOf(v)
		if i >= histBuckets || i < prev {
			t.Fatalf("bucketOf(%d) = %d (previous %d, %d buckets)", v, i, prev, histBuckets)
		}
		prev = i
		if got := bucketValue(i); relErr(got, v) > 1.0/histSub {
			t.Errorf("bucketValue(bucketOf(%d)) = %d, more than 1/%d off", v, got, histSub)
		}
	}
}

func TestQuantileMatchesSortedSample(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h histogram
	var all []time.Duration
	for range 100_000 {
		// Log-normal-ish latencies between ~10 µs and ~100 ms.
		d := time.Duration(10_000 * (1 + r.ExpFloat64()*r.ExpFloat64()*50))
		h.record(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		want := all[int(q*float64(len(all)))-1]
		if got := h.quantile(q); relErr(got, want) > 1.0/histSub {
			t.Errorf("quantile(%v) = %v, want %v ± 1/%d", q, got, want, histSub)
		}
	}
	var a, b histogram
	for i, d := range all {
		if i%2 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	a.merge(&b)
	if a.counts != h.counts || a.n != h.n || a.max != h.max {
		t.Error("merging two halves differs from recording everything in one")
	}
}

func relErr(got, want time.Duration) float64 {
	if want == 0 {
		return float64(got)
	}
	return float64(max(got-want, want-got)) / float64(want)
}
