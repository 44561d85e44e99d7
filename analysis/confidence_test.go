package analysis

import (
	"strings"
	"testing"
)

func TestConfidenceLimits(t *testing.T) {
	inc, maxRate := 1.0, 0.05
	table := ConfidenceLimits{Kind: KindProportion, MaxRelativeIncrease: &inc, MaxRate: &maxRate, Alpha: 0.05, Metric: "error rate"}
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
