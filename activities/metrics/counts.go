package metrics

import (
	"fmt"
	"maps"
	"math"
	"time"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

// This file is the counts form of the prometheus and web providers: a rate
// read from raw counts (trials and errors or successes) per version, whose
// compare limits are judged with confidence like the gateway's error rate
// and whose sequential test reads the same counts. The provider turns each
// look's answers into counts since the metric's first look (countsState);
// countsLook judges them.

// maxSeries bounds the series of one count whose last values the state
// keeps; series missing from the latest answer are dropped first.
const maxSeries = 64

// counter is one count of one version (its trials or its outcomes), summed
// over the count's series since the metric's first look.
type counter struct {
	// Started is set once the first look recorded the series' values.
	Started bool `json:"started,omitempty"`
	// Last is each series' value at the last look it was in an answer, by
	// its labels (Prometheus only).
	Last map[string]float64 `json:"last,omitempty"`
	// Sum is the count since the first look.
	Sum float64 `json:"sum"`
}

// observe returns c with what the cumulative counters in cur (by their labels) rose
// by since the last look, the way Prometheus' increase() reads counters: a
// series below its last value was reset and counts from zero, so no
// increment is ever negative; a series first seen after the first look is
// new and counts from zero (a version's first error creates its series);
// on the first look the values are the baseline. A series missing from an
// answer keeps its last value, so it is not counted twice when it comes
// back. c itself is left as it is.
func (c counter) observe(cur map[string]float64) counter {
	c.Last = maps.Clone(c.Last)
	if c.Last == nil {
		c.Last = make(map[string]float64, len(cur))
	}
	for k, v := range cur {
		if math.IsNaN(v) || v < 0 {
			continue
		}
		last, seen := c.Last[k]
		switch {
		case seen && v >= last:
			c.Sum += v - last
		case seen || c.Started:
			c.Sum += v
		}
		c.Last[k] = v
	}
	c.Started = true
	if len(c.Last) > maxSeries {
		for k := range c.Last {
			if _, ok := cur[k]; !ok {
				delete(c.Last, k)
			}
		}
	}
	return c
}

// rateCounts are one version's counts since the metric's first look.
type rateCounts struct {
	Total   counter `json:"total"`
	Outcome counter `json:"outcome"`
}

// totals are the counts as the analysis package reads them: trials and
// outcomes (errors or successes).
func (r rateCounts) totals() analysis.Totals {
	return analysis.Totals{Count: int64(math.Round(r.Total.Sum)), Events: int64(math.Round(r.Outcome.Sum))}
}

// countsState is the state of a metric read in the counts form.
type countsState struct {
	Stable rateCounts `json:"stable"`
	Canary rateCounts `json:"canary"`
	// Confidence is the state of the compare limits judged with confidence.
	Confidence *analysis.ConfidenceState `json:"confidence,omitempty"`
	// Sequential is the sequential test's state.
	Sequential *analysis.SequentialState `json:"sequential,omitempty"`
}

// versionCounts is a version to read and where its counts go.
type versionCounts struct {
	name string
	dst  *rateCounts
}

// toRead lists the versions of q whose counts a look reads into s: the
// canary's, and stable's when the metric compares versions.
func (s *countsState) toRead(q api.Query) []versionCounts {
	out := []versionCounts{{q.Stable.Name, &s.Stable}, {q.Canary.Name, &s.Canary}}
	if !comparesVersions(q.Metric) {
		out = out[1:]
	}
	return out
}

// countsEnvelope is the prometheus or web provider's state of a metric
// read in the counts form.
type countsEnvelope struct {
	Counts *countsState `json:"counts,omitempty"`
}

// loadCounts reads the counts state of the previous look of metric m from
// a provider's state; the zero state before the first look.
func loadCounts(kind string, m plans.Metric, b []byte) (countsState, error) {
	var env countsEnvelope
	if err := decodeState(kind, b, &env); err != nil {
		return countsState{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	if env.Counts == nil {
		return countsState{}, nil
	}
	return *env.Counts, nil
}

// countsResult judges a look of q's metric with countsLook and returns it
// with the state for the next look.
func countsResult(kind string, q api.Query, c plans.Counts, trials string, prev, next countsState, now time.Time) (api.Result, error) {
	meas, next, err := countsLook(q.Metric, c, trials, prev, next, q.Watch)
	if err != nil {
		return api.Result{}, err
	}
	meas.At = now
	state, err := encodeState(kind, countsEnvelope{Counts: &next})
	if err != nil {
		return api.Result{}, fmt.Errorf("metric %s: %w", q.Metric.Name, err)
	}
	return api.Result{Measurement: meas, State: state}, nil
}

// countsLook judges one look of metric m read in the counts form: prev is
// the state after the last look, next the state with this look's counts;
// trials names what the total counts in reasons ("" for requests).
// Compare limits with method confidence are decided on the counts since
// the first look; the sequential test reads them too; conditions and
// limits judged on point estimates see the rate since the last look
// (stable and canary, with its trials as the sample size).
func countsLook(m plans.Metric, c plans.Counts, trials string, prev, next countsState, watch bool) (analysis.Measurement, countsState, error) {
	stable, canary := next.Stable.totals(), next.Canary.totals()
	var extra []analysis.Measurement
	_, successes := c.Outcome()
	lim, rest, ok := splitLimits(m.Compare, analysis.ConfidenceLimits{Kind: analysis.KindProportion, Successes: successes, Metric: m.Name, Trials: trials},
		func(limit string) bool { return plans.JudgedWithConfidence(m.Provider, limit) })
	if ok {
		st, err := started(prev.Confidence, func(st analysis.ConfidenceState, s, c analysis.Totals) (analysis.Measurement, analysis.ConfidenceState, error) {
			return lim.Look(st, s, c)
		})
		if err != nil {
			return analysis.Measurement{}, next, fmt.Errorf("metric %s: %w", m.Name, err)
		}
		meas, cs, err := lim.Look(st, stable, canary)
		if err != nil {
			return analysis.Measurement{}, next, fmt.Errorf("metric %s: %w", m.Name, err)
		}
		extra, next.Confidence = append(extra, meas), &cs
		m.Compare = rest
	}
	if m.Sequential != nil {
		look := func(st analysis.SequentialState, s, c analysis.Totals) (analysis.Measurement, analysis.SequentialState, error) {
			return sequentialLook(m, analysis.KindProportion, st, s, c, watch)
		}
		st, err := started(prev.Sequential, look)
		if err != nil {
			return analysis.Measurement{}, next, err
		}
		meas, ss, err := look(st, stable, canary)
		if err != nil {
			return analysis.Measurement{}, next, err
		}
		extra, next.Sequential = append(extra, meas), &ss
	}
	v := pointRates(prev, next)
	if len(extra) > 0 {
		v.StableN, v.CanaryN = stable.Count, canary.Count
	}
	meas, err := judgeValues(m, v, extra...)
	return meas, next, err
}

// started returns the state of a test after the last look, or, before the
// first, the state of a test that took its baseline at zero counts: the
// counts are already counts since the first look, so every trial counts.
func started[S any](prev *S, look func(S, analysis.Totals, analysis.Totals) (analysis.Measurement, S, error)) (S, error) {
	if prev != nil {
		return *prev, nil
	}
	var zero S
	_, st, err := look(zero, analysis.Totals{}, analysis.Totals{})
	return st, err
}

// pointRates are the versions' rates since the last look, with their
// trials as sample sizes; a version without trials has no value.
func pointRates(prev, next countsState) values {
	rate := func(p, n rateCounts) ([]float64, int64) {
		pt, nt := p.totals(), n.totals()
		trials := nt.Count - pt.Count
		if trials <= 0 {
			return nil, 0
		}
		return []float64{float64(min(max(nt.Events-pt.Events, 0), trials)) / float64(trials)}, trials
	}
	var v values
	v.Stable, v.StableN = rate(prev.Stable, next.Stable)
	v.Canary, v.CanaryN = rate(prev.Canary, next.Canary)
	v.Result = v.Canary
	return v
}

// splitLimits splits compare block c, when its method is confidence, into
// the limits judges says have a confidence form, set on lim, and the rest,
// judged on point estimates (nil when none is left); ok is false when no
// limit is judged with confidence.
func splitLimits(c *plans.Compare, lim analysis.ConfidenceLimits, judges func(limit string) bool) (analysis.ConfidenceLimits, *plans.Compare, bool) {
	if c == nil || c.Method != plans.CompareConfidence {
		return lim, c, false
	}
	left := *c
	lim.Alpha = orDefault(c.Alpha, plans.DefaultAlpha)
	for _, l := range []struct {
		name      string
		plan, dst **float64
	}{
		{plans.LimitMaxRelativeIncrease, &left.MaxRelativeIncrease, &lim.MaxRelativeIncrease},
		{plans.LimitMaxRelativeDecrease, &left.MaxRelativeDecrease, &lim.MaxRelativeDecrease},
		{plans.LimitMaxAbsolute, &left.MaxAbsolute, &lim.MaxAbsolute},
		{plans.LimitMinAbsolute, &left.MinAbsolute, &lim.MinAbsolute},
	} {
		if *l.plan != nil && judges(l.name) {
			*l.dst, *l.plan = *l.plan, nil
		}
	}
	if len(left.Limits()) == len(c.Limits()) {
		return lim, c, false
	}
	if len(left.Limits()) == 0 {
		return lim, nil, true
	}
	return lim, &left, true
}
