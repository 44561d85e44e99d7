package gateway

import (
	"math"
	"runtime"
	"testing"
	"time"
)

// busyOutcome is the i-th request of a varied stream: latencies over several
// buckets, streamed answers with usage, some errors.
func busyOutcome(i int) outcome {
	o := outcome{status: 200, latency: time.Duration(200+i%7*450) * time.Millisecond, streamed: true,
		ttft: time.Duration(80+i%5*60) * time.Millisecond, usage: true, tokensIn: 100, tokensOut: int64(20 + i%9), answered: true}
	if i%17 == 0 {
		o.status = 503
	}
	return o
}

// TestWindowCountsMatchCumulativeWithinTheHorizon records an hour of traffic
// out of order within slots and checks that the window since the start
// holds exactly what the cumulative counts hold.
func TestWindowCountsMatchCumulativeWithinTheHorizon(t *testing.T) {
	s := newSeries("r", "v", RoleCanary)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	price := Price{InputPerMillion: 1, OutputPerMillion: 2}
	end := t0.Add(windowResolution * (windowSlots - 1))
	for i := range 3 * windowSlots {
		o := busyOutcome(i)
		// every slot, the later half of each slot first
		at := t0.Add(time.Duration(i/3)*windowResolution + time.Duration(2-i%3)*3*time.Second)
		s.record(&o, price, at)
	}
	total, w := s.snapshot(t0, end)
	if !w.Since.Equal(t0) {
		t.Fatalf("window since %v, want %v", w.Since, t0)
	}
	// Sums of floats added in another order may differ in the last bits.
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Abs(b) }
	if total.Requests != 3*windowSlots || w.Counts.Requests != total.Requests || w.Counts.Errors != total.Errors ||
		w.Counts.Latency.Count != total.Latency.Count || w.Counts.TTFT.Count != total.TTFT.Count ||
		!near(w.Counts.TTFT.Sum, total.TTFT.Sum) || w.Counts.TokensOut != total.TokensOut ||
		w.Counts.Cost.Count != total.Cost.Count || !near(w.Counts.Cost.Sum, total.Cost.Sum) {
		t.Fatalf("window %+v\ncumulative %+v", w.Counts, total)
	}
	for i, b := range total.Latency.Buckets {
		if w.Counts.Latency.Buckets[i] != b {
			t.Fatalf("latency bucket %d: window %d, cumulative %d", i, w.Counts.Latency.Buckets[i], b)
		}
	}
	if len(s.slots) != windowSlots {
		t.Fatalf("%d slots, want %d", len(s.slots), windowSlots)
	}
	// An hour without traffic: a read without a window (a scrape) forgets
	// every slot, and the cumulative counts stay.
	if total, w := s.snapshot(time.Time{}, end.Add(time.Hour)); w != nil || total.Requests != 3*windowSlots || len(s.slots) != 0 {
		t.Fatalf("an hour later: %d requests, %d slots kept", total.Requests, len(s.slots))
	}
	if _, w := s.snapshot(end, end.Add(time.Hour)); w.Counts.Requests != 0 {
		t.Fatalf("an hour later: window of %d requests", w.Counts.Requests)
	}
}

func TestSparseHistogramMatchesBuckets(t *testing.T) {
	var h hist
	want := make([]uint64, nBuckets)
	for i := range 1000 {
		d := time.Duration(i*i) * time.Millisecond / 3 // 0 to 333 s: every bucket, +Inf included
		h.observe(d)
		want[bucketOf(d)]++
	}
	var sum hist
	sum.add(&h)
	sum.add(&h)
	e, e2 := h.export(), sum.export()
	var c uint64
	for i, n := range want[:len(LatencyBucketsSeconds)] {
		c += n
		if e.Buckets[i] != c || e2.Buckets[i] != 2*c {
			t.Fatalf("bucket %d: %d and %d (sum of two), want %d and %d", i, e.Buckets[i], e2.Buckets[i], c, 2*c)
		}
	}
	if e.Count != 1000 || e2.Count != 2000 || e2.Sum != 2*e.Sum {
		t.Fatalf("count %d, sum of two %d; sums %v, %v", e.Count, e2.Count, e.Sum, e2.Sum)
	}
	if len(h.entries) != nBuckets {
		t.Fatalf("%d entries, want one per bucket (%d)", len(h.entries), nBuckets)
	}
}

// TestBusySeriesMemoryIsBounded checks what a series costs with traffic in
// every slot of the window horizon (its most): streamed answers with usage,
// latencies over several buckets. The bound is generous, for a loaded
// machine; a series with preallocated slots cost about 400 KiB.
func TestBusySeriesMemoryIsBounded(t *testing.T) {
	const n, maxPerSeries = 20, 256 << 10
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	before := heapAlloc()
	all := make([]*series, n)
	for k := range all {
		s := newSeries("r", "v", RoleStable)
		for i := range 5 * windowSlots {
			o := busyOutcome(i)
			s.record(&o, Price{}, t0.Add(time.Duration(i/5)*windowResolution))
		}
		all[k] = s
	}
	per := (heapAlloc() - before) / n
	runtime.KeepAlive(all)
	t.Logf("a series with traffic in each of its %d slots: %.1f KiB", windowSlots, float64(per)/1024)
	if per > maxPerSeries {
		t.Fatalf("a busy series takes %d KiB, more than %d KiB", per>>10, maxPerSeries>>10)
	}
}

// LiveHeap is heapAlloc for the package's external tests.
var LiveHeap = heapAlloc

// heapAlloc is the live heap after a garbage collection, in bytes.
func heapAlloc() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
