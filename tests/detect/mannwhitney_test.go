package main

import (
	"math"
	"testing"
)

func TestMannWhitneyShift(t *testing.T) {
	tests := []struct {
		name      string
		shift     float64
		wantAbove bool // interval entirely above 0
	}{
		{"no shift", 0, false},
		{"large shift", 30, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var x, y []float64
			for i := range 40 {
				v := float64((i*37)%40) + 0.5*math.Sin(float64(i))
				y = append(y, v)
				x = append(x, v+tt.shift)
			}
			r, err := mannWhitney(x, y, 0.98)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(r.estimate-tt.shift) > 0.5 {
				t.Fatalf("estimate %v, want about %v", r.estimate, tt.shift)
			}
			if r.lower > tt.shift || r.upper < tt.shift {
				t.Fatalf("interval [%v, %v] misses %v", r.lower, r.upper, tt.shift)
			}
			if above := r.lower > 0; above != tt.wantAbove {
				t.Fatalf("interval [%v, %v] above 0: %v", r.lower, r.upper, above)
			}
		})
	}
}

func TestMannWhitneyTied(t *testing.T) {
	if _, err := mannWhitney([]float64{0, 0}, []float64{0, 0, 0}, 0.98); err == nil {
		t.Fatal("no error for all-tied data")
	}
}

func TestHistogramQuantile(t *testing.T) {
	les := []float64{1, 2, 4}
	tests := []struct {
		name   string
		counts []int64 // per bucket, last is +Inf
		q      float64
		want   float64
	}{
		{"inside first bucket", []int64{10, 0, 0, 0}, 0.5, 0.5},
		{"interpolated", []int64{0, 10, 10, 0}, 0.75, 3},
		{"in +Inf bucket", []int64{0, 0, 0, 10}, 0.95, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := histogramQuantile(tt.q, les, tt.counts); math.Abs(got-tt.want) > 1e-12 {
				t.Fatalf("quantile = %v, want %v", got, tt.want)
			}
		})
	}
	if got := histogramQuantile(0.5, les, []int64{0, 0, 0, 0}); !math.IsNaN(got) {
		t.Fatalf("empty histogram quantile = %v, want NaN", got)
	}
}
