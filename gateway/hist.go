package gateway

import (
	"sort"
	"time"
)

var nBuckets = len(LatencyBucketsSeconds) + 1 // + the +Inf bucket

// A hist entry holds a bucket index in its top histBucketBits bits and that
// bucket's count in the others: 2^56 observations are beyond any gateway's
// life, and 2^8 buckets beyond LatencyBucketsSeconds.
const (
	histBucketBits = 8
	histCountBits  = 64 - histBucketBits
	histCountMask  = 1<<histCountBits - 1
)

// hist is a histogram kept sparse: one entry per bucket that has
// observations, in the order they first had one. An empty histogram
// allocates nothing, and one of a 10-second window slot holds only the few
// buckets its requests fell in.
type hist struct {
	entries []uint64
	sum     float64
}

// newHist returns an empty histogram; entries are allocated as buckets
// get their first observation.
func newHist() hist { return hist{} }

func bucketOf(d time.Duration) int {
	s := d.Seconds()
	i := sort.SearchFloat64s(LatencyBucketsSeconds, s)
	return i // == len for +Inf
}

func (h *hist) observe(d time.Duration) {
	h.inc(bucketOf(d), 1)
	h.sum += d.Seconds()
}

// inc adds n observations to bucket b.
func (h *hist) inc(b int, n uint64) {
	for i, e := range h.entries {
		if int(e>>histCountBits) == b {
			h.entries[i] = e + n
			return
		}
	}
	h.entries = append(h.entries, uint64(b)<<histCountBits|n)
}

func (h *hist) add(o *hist) {
	for _, e := range o.entries {
		h.inc(int(e>>histCountBits), e&histCountMask)
	}
	h.sum += o.sum
}

// dense returns the per-bucket (non-cumulative) counts, +Inf last.
func (h *hist) dense() []uint64 {
	out := make([]uint64, nBuckets)
	for _, e := range h.entries {
		out[e>>histCountBits] += e & histCountMask
	}
	return out
}

// export turns per-bucket counts into the cumulative JSON form.
func (h *hist) export() Histogram {
	out := Histogram{Sum: h.sum, Buckets: make([]uint64, len(LatencyBucketsSeconds))}
	var c uint64
	for i, n := range h.dense() {
		c += n
		if i < len(out.Buckets) {
			out.Buckets[i] = c
		}
	}
	out.Count = c
	return out
}

// quantile estimates quantile q by linear interpolation within buckets.
func (h *hist) quantile(q float64) float64 {
	counts := h.dense()
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var cum float64
	for i, c := range counts {
		if c == 0 {
			continue
		}
		if cum+float64(c) >= rank {
			lo := 0.0
			if i > 0 {
				lo = LatencyBucketsSeconds[i-1]
			}
			if i >= len(LatencyBucketsSeconds) {
				return lo // +Inf bucket: the highest finite bound
			}
			hi := LatencyBucketsSeconds[i]
			return lo + (hi-lo)*(rank-cum)/float64(c)
		}
		cum += float64(c)
	}
	return LatencyBucketsSeconds[len(LatencyBucketsSeconds)-1]
}

func (h *hist) quantiles() Quantiles {
	return Quantiles{P50: h.quantile(0.5), P90: h.quantile(0.9), P95: h.quantile(0.95), P99: h.quantile(0.99)}
}
