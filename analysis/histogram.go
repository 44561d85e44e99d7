package analysis

import (
	"fmt"
	"slices"
)

// Default boundary choice for histograms: test the boundaries where stable's
// pre-period distribution is at or above its median and at least 1% of its
// requests are above (ANALYSIS.md §3). Fewer stable observations than
// minBaselineObs do not tell where the median is.
const (
	minBaselineObs  = 100
	minTailFraction = 0.01
)

// chooseBoundaries fixes the boundaries a histogram test uses, before any
// canary data is tested: the spec's own, or a choice from stable's totals at
// the baseline (the pre-period).
func (s SequentialSpec) chooseBoundaries(stable Totals) ([]float64, error) {
	if len(s.Boundaries) > 0 {
		b := slices.Clone(s.Boundaries)
		slices.Sort(b)
		return slices.Compact(b), nil
	}
	if stable.Count < minBaselineObs {
		return nil, fmt.Errorf("cannot choose latency boundaries: stable has %d observations at the baseline, %d needed (or set boundaries in the plan)", stable.Count, minBaselineObs)
	}
	var out []float64
	first := -1.0
	n := float64(stable.Count)
	for _, b := range stable.Buckets {
		f := float64(b.Count) / n
		if f < 0.5 {
			continue
		}
		if first < 0 && f < 1 {
			first = b.Le
		}
		if 1-f >= minTailFraction {
			out = append(out, b.Le)
		}
	}
	if len(out) == 0 && first >= 0 {
		out = []float64{first}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cannot choose latency boundaries: no bucket bound of %d has stable requests above it at or beyond its median", len(stable.Buckets))
	}
	return out, nil
}
