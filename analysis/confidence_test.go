package analysis

import (
	"math"
	"strings"
	"testing"
)

func TestConfidenceLimits(t *testing.T) {
	inc, maxRate := 1.0, 0.05
	table := ConfidenceLimits{Kind: KindProportion, MaxRelativeIncrease: &inc, MaxAbsolute: &maxRate, Alpha: 0.05, Metric: "error rate"}
	tests := []struct {
		name string
		// looks are cumulative (stable requests, stable errors, canary requests, canary errors).
		looks   [][4]int64
		want    Verdict
		pending bool
		reason  string
	}{
		{name: "baseline only", looks: [][4]int64{{100, 1, 10, 0}}, want: Inconclusive, pending: true, reason: "baseline"},
		{name: "11 errors in 560 is not shown above 2x stable", looks: [][4]int64{{0, 0, 0, 0}, {10000, 43, 559, 11}}, want: Inconclusive, pending: true, reason: "not yet shown"},
		{name: "A/A with plenty of data passes", looks: [][4]int64{{0, 0, 0, 0}, {200000, 2000, 20000, 200}}, want: Pass, reason: "within its limits"},
		{name: "5x stable fails", looks: [][4]int64{{0, 0, 0, 0}, {38000, 190, 2000, 60}}, want: Fail, reason: "regression"},
		{name: "a canary without requests waits", looks: [][4]int64{{0, 0, 0, 0}, {1000, 10, 0, 0}}, want: Inconclusive, reason: "no data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st ConfidenceState
			var m Measurement
			for _, l := range tt.looks {
				var err error
				m, st, err = table.Look(st, Totals{Count: l[0], Events: l[1]}, Totals{Count: l[2], Events: l[3]})
				if err != nil {
					t.Fatal(err)
				}
			}
			if m.Verdict != tt.want || m.Final || (tt.pending && !m.Pending) || !strings.Contains(m.Reason, tt.reason) {
				t.Errorf("look = %s (final %v, pending %v, no data %v): %s; want %s with %q", m.Verdict, m.Final, m.Pending, m.NoData, m.Reason, tt.want, tt.reason)
			}
		})
	}
}

func TestConfidenceLimitsKeepWatchingAfterAPass(t *testing.T) {
	inc := 0.2
	l := ConfidenceLimits{Kind: KindProportion, MaxRelativeIncrease: &inc, Alpha: 0.05}
	_, st, _ := l.Look(ConfidenceState{}, Totals{}, Totals{})
	m, st, _ := l.Look(st, Totals{Count: 200000, Events: 2000}, Totals{Count: 200000, Events: 2000})
	if m.Verdict != Pass {
		t.Fatalf("identical arms: %s: %s", m.Verdict, m.Reason)
	}
	// The canary then fails 10× more often: the evidence keeps growing.
	m, _, _ = l.Look(st, Totals{Count: 400000, Events: 4000}, Totals{Count: 400000, Events: 22000})
	if m.Verdict != Fail {
		t.Errorf("after a regression: %s: %s", m.Verdict, m.Reason)
	}
}

// lookTwice records a baseline of zeros and judges one look of the totals.
func lookTwice(t *testing.T, l ConfidenceLimits, stable, canary Totals) Measurement {
	t.Helper()
	_, st, err := l.Look(ConfidenceState{}, Totals{Buckets: zeroBuckets(stable.Buckets)}, Totals{Buckets: zeroBuckets(canary.Buckets)})
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := l.Look(st, stable, canary)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func zeroBuckets(bs []Bucket) []Bucket {
	out := make([]Bucket, len(bs))
	for i, b := range bs {
		out[i] = Bucket{Le: b.Le}
	}
	return out
}

func TestConfidenceLimitsOnASuccessRate(t *testing.T) {
	dec := 0.02 // success at least 0.98 × stable's
	l := ConfidenceLimits{Kind: KindProportion, MaxRelativeDecrease: &dec, Successes: true, Alpha: 0.05, Metric: "success"}
	tests := []struct {
		name           string
		stable, canary [2]int64 // requests, successes
		want           Verdict
		reason         string
	}{
		{name: "A/A with plenty of data passes", stable: [2]int64{100000, 99000}, canary: [2]int64{20000, 19800}, want: Pass, reason: "within its limits"},
		{name: "a few requests are not enough", stable: [2]int64{10000, 9900}, canary: [2]int64{50, 48}, want: Inconclusive, reason: "not yet shown at least 0.98× stable's"},
		{name: "90% against 99% fails", stable: [2]int64{100000, 99000}, canary: [2]int64{5000, 4500}, want: Fail, reason: "below 0.98× stable's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := lookTwice(t, l, Totals{Count: tt.stable[0], Events: tt.stable[1]}, Totals{Count: tt.canary[0], Events: tt.canary[1]})
			if m.Verdict != tt.want || !strings.Contains(m.Reason, tt.reason) {
				t.Errorf("look = %s: %s; want %s with %q", m.Verdict, m.Reason, tt.want, tt.reason)
			}
		})
	}
}

// histogramOf spreads n requests over the bounds with the given shares per
// bucket (the rest is above the last bound).
func histogramOf(n int64, les, shares []float64) Totals {
	t := Totals{Count: n}
	var cum float64
	for i, le := range les {
		cum += shares[i]
		t.Buckets = append(t.Buckets, Bucket{Le: le, Count: int64(math.Round(cum * float64(n)))})
	}
	return t
}

func TestConfidenceLimitsOnAQuantile(t *testing.T) {
	les := []float64{0.5, 1, 2, 3, 5}
	usual := []float64{0.60, 0.30, 0.08, 0.015, 0.004} // p99 in (2, 3]
	slow := []float64{0.20, 0.30, 0.20, 0.20, 0.07}    // p99 above 5
	inc := 0.5
	maxP99 := 4.0
	tests := []struct {
		name           string
		lim            ConfidenceLimits
		stable, canary Totals
		want           Verdict
		reason         string
	}{
		{name: "A/A p99 within 1.5x", lim: ConfidenceLimits{MaxRelativeIncrease: &inc},
			stable: histogramOf(200000, les, usual), canary: histogramOf(50000, les, usual), want: Pass, reason: "p99 latency in (2, 3]"},
		{name: "few requests wait", lim: ConfidenceLimits{MaxRelativeIncrease: &inc},
			stable: histogramOf(200000, les, usual), canary: histogramOf(100, les, usual), want: Inconclusive, reason: "not yet shown within 1.5× stable's"},
		{name: "a slow canary fails", lim: ConfidenceLimits{MaxRelativeIncrease: &inc},
			stable: histogramOf(200000, les, usual), canary: histogramOf(5000, les, slow), want: Fail, reason: "above 1.5× stable's"},
		{name: "absolute cap kept", lim: ConfidenceLimits{MaxAbsolute: &maxP99},
			stable: Totals{}, canary: histogramOf(50000, les, usual), want: Pass, reason: "within its limits"},
		{name: "absolute cap broken", lim: ConfidenceLimits{MaxAbsolute: &maxP99},
			stable: Totals{}, canary: histogramOf(5000, les, slow), want: Fail, reason: "above the maximum 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.lim
			l.Kind, l.Quantile, l.Alpha = KindHistogram, 0.99, 0.05
			m := lookTwice(t, l, tt.stable, tt.canary)
			if m.Verdict != tt.want || !strings.Contains(m.Reason, tt.reason) {
				t.Errorf("look = %s: %s; want %s with %q", m.Verdict, m.Reason, tt.want, tt.reason)
			}
		})
	}
}

func TestQuantileBracket(t *testing.T) {
	les := []float64{0.5, 1, 2, 3, 5}
	h := histogramOf(100000, les, []float64{0.60, 0.30, 0.08, 0.015, 0.004})
	if lo, hi := quantileBracket(h, 0.99, 0.05); lo != 2 || hi != 3 {
		t.Errorf("p99 bracket of 100000 requests = (%v, %v], want (2, 3]", lo, hi)
	}
	if lo, hi := quantileBracket(histogramOf(20, les, []float64{0.60, 0.30, 0.08, 0.015, 0.004}), 0.99, 0.05); !math.IsInf(hi, 1) || lo > 0.5 {
		t.Errorf("p99 bracket of 20 requests = (%v, %v], want nothing shown above", lo, hi)
	}
	if lo, hi := quantileBracket(Totals{}, 0.5, 0.05); !math.IsInf(lo, -1) || !math.IsInf(hi, 1) {
		t.Errorf("bracket without requests = (%v, %v]", lo, hi)
	}
}

func TestConfidenceLimitsNameTheTrials(t *testing.T) {
	floor := 0.85
	for _, tt := range []struct{ trials, want string }{{"", "of 400 requests"}, {"cases", "of 400 cases"}} {
		l := ConfidenceLimits{Kind: KindProportion, Successes: true, MinAbsolute: &floor, Alpha: 0.05, Metric: "pass rate", Trials: tt.trials}
		m := lookTwice(t, l, Totals{Count: 400, Events: 380}, Totals{Count: 400, Events: 380})
		if !strings.Contains(m.Reason, tt.want) {
			t.Errorf("trials %q: reason %q does not say %q", tt.trials, m.Reason, tt.want)
		}
	}
}
