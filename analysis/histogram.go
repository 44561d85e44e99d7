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

// bad returns the look's count of bad outcomes at each tested boundary.
func (s SequentialSpec) bad(st SequentialState, d Totals) ([]int64, error) {
	if s.Kind == KindProportion {
		if s.WorseWhen == WorseLower {
			return []int64{max(d.Count-d.Events, 0)}, nil
		}
		return []int64{d.Events}, nil
	}
	out := make([]int64, len(st.Boundaries))
	for i, b := range st.Boundaries {
		c, ok := bucketCount(d.Buckets, b)
		if !ok {
			if d.Count == 0 {
				continue
			}
			return nil, fmt.Errorf("no bucket le=%s in the histogram", fmtNum(b))
		}
		out[i] = d.Count - c
	}
	return out, nil
}

func bucketCount(bs []Bucket, le float64) (int64, bool) {
	for _, b := range bs {
		if b.Le == le {
			return b.Count, true
		}
	}
	return 0, false
}
