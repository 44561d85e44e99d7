package main

import (
	"fmt"
	"math"
	"slices"

	"github.com/coalmine-dev/coalmine/analysis"
)

// rollout is the simulated traffic of one rollout: a stable-only
// pre-period, then one minute after another with the canary at its share.
type rollout struct {
	sc   scenario
	pre  []minute
	mins []minute
}

// outcome is what one method did with one rollout: the minute it rolled
// back (0 = never) and, for coalmine, the minute it promoted (0 = never).
type outcome struct {
	failAt, passAt int
}

// method is one way of judging a canary.
type method struct {
	name  string
	judge func(r *rollout) (outcome, error)
}

// coalmine runs the sequential test of package analysis, one look a minute.
func coalmine(alpha, minEffect float64) method {
	return method{
		name: "coalmine sequential, α=" + trimFloat(alpha),
		judge: func(r *rollout) (outcome, error) {
			spec := analysis.SequentialSpec{Alpha: alpha, MinEffect: minEffect}
			switch r.sc.kind {
			case errorRate:
				spec.Kind, spec.WorseWhen = analysis.KindProportion, analysis.WorseHigher
			case evalPass:
				spec.Kind, spec.WorseWhen = analysis.KindProportion, analysis.WorseLower
			case latency:
				spec.Kind, spec.WorseWhen = analysis.KindHistogram, analysis.WorseHigher
			}
			var tot [2]analysis.Totals
			for _, m := range r.pre {
				addTotals(&tot, m, r.sc.kind)
			}
			_, st, err := spec.Look(analysis.SequentialState{}, tot[stableArm], tot[canaryArm])
			if err != nil {
				return outcome{}, fmt.Errorf("coalmine baseline look: %w", err)
			}
			for k, m := range r.mins {
				addTotals(&tot, m, r.sc.kind)
				var res analysis.Measurement
				res, st, err = spec.Look(st, tot[stableArm], tot[canaryArm])
				if err != nil {
					return outcome{}, fmt.Errorf("coalmine look %d: %w", k+1, err)
				}
				switch res.Verdict {
				case analysis.Fail:
					return outcome{failAt: k + 1}, nil
				case analysis.Pass:
					return outcome{passAt: k + 1}, nil
				case analysis.Error:
					return outcome{}, fmt.Errorf("coalmine look %d: %s", k+1, res.Reason)
				}
			}
			return outcome{}, nil
		},
	}
}

// addTotals adds one minute to the cumulative counters the gateway would report.
func addTotals(tot *[2]analysis.Totals, m minute, kind metricKind) {
	for arm := range 2 {
		t := &tot[arm]
		t.Count += m.n[arm]
		switch kind {
		case errorRate:
			t.Events += m.bad[arm]
		case evalPass:
			t.Events += m.n[arm] - m.bad[arm]
		case latency:
			if t.Buckets == nil {
				t.Buckets = make([]analysis.Bucket, len(latencyBuckets))
				for i, le := range latencyBuckets {
					t.Buckets[i].Le = le
				}
			}
			var cum int64
			for i := range latencyBuckets {
				cum += m.hist[arm][i]
				t.Buckets[i].Count += cum
			}
		}
	}
}

// thresholds are the per-interval limits of the fixed-threshold method, set
// where an operator who knows the stable version would put them.
type thresholds struct {
	maxErrorRate  float64 // canary error rate per interval
	maxP95        float64 // canary p95 per interval, seconds
	minPassRate   float64 // canary eval pass rate per interval
	failedToAbort int     // failed checks that roll back
}

// fixedThreshold checks the canary alone every minute against a threshold
// and rolls back at the failedToAbort-th failed check, as Argo Rollouts
// (failureLimit = failedToAbort − 1) and Flagger (threshold) do.
func fixedThreshold(name string, th thresholds) method {
	return method{
		name: name,
		judge: func(r *rollout) (outcome, error) {
			failed := 0
			for k, m := range r.mins {
				n := m.n[canaryArm]
				if n == 0 {
					continue // no data: Argo records an error, not a failure
				}
				var bad bool
				switch r.sc.kind {
				case errorRate:
					bad = float64(m.bad[canaryArm])/float64(n) > th.maxErrorRate
				case evalPass:
					bad = float64(n-m.bad[canaryArm])/float64(n) < th.minPassRate
				case latency:
					bad = histogramQuantile(0.95, latencyBuckets, m.hist[canaryArm]) > th.maxP95
				}
				if bad {
					failed++
					if failed >= th.failedToAbort {
						return outcome{failAt: k + 1}, nil
					}
				}
			}
			return outcome{}, nil
		},
	}
}

// Kayenta's NetflixACAJudge settings (ANALYSIS.md §6).
const (
	kayentaConf      = 0.98
	kayentaTolerance = 0.25
	kayentaAllowed   = 1.0
)

// kayenta judges each window of `window` one-minute points with
// Kayenta's Mann–Whitney classifier: canary and stable per-minute series,
// High (Low for a lower-is-worse metric) fails the canary, which with one
// critical metric fails the run.
func kayenta(window int) method {
	return method{
		name: "Kayenta Mann–Whitney, " + itoa(window) + "-min judgements",
		judge: func(r *rollout) (outcome, error) {
			for end := window; end <= len(r.mins); end += window {
				x, y := series(r, r.mins[end-window:end])
				if kayentaFails(x, y, r.sc.kind == evalPass) {
					return outcome{failAt: end}, nil
				}
			}
			return outcome{}, nil
		},
	}
}

// series returns the per-minute canary and stable values, NaN removed.
func series(r *rollout, mins []minute) (canary, stable []float64) {
	for _, m := range mins {
		for arm := range 2 {
			var v float64
			n := m.n[arm]
			switch r.sc.kind {
			case errorRate:
				v = float64(m.bad[arm]) / float64(n)
			case evalPass:
				v = float64(n-m.bad[arm]) / float64(n)
			case latency:
				v = histogramQuantile(0.95, latencyBuckets, m.hist[arm])
			}
			if n == 0 || math.IsNaN(v) {
				continue
			}
			if arm == canaryArm {
				canary = append(canary, v)
			} else {
				stable = append(stable, v)
			}
		}
	}
	return canary, stable
}

// kayentaFails classifies one metric as Kayenta's MannWhitneyClassifier
// does, with the direction set to the metric's worse side.
func kayentaFails(x, y []float64, lowerIsWorse bool) bool {
	if len(x) == 0 || len(y) == 0 || slices.Equal(x, y) {
		return false
	}
	res, err := mannWhitney(x, y, kayentaConf)
	if err != nil {
		return false // all tied: no difference to classify
	}
	ratio := mean(x) / mean(y)
	bound := kayentaTolerance * math.Abs(res.estimate)
	if lowerIsWorse {
		return res.upper < -bound && ratio <= kayentaAllowed
	}
	return res.lower > bound && ratio >= kayentaAllowed
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
