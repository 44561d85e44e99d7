package analysis

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// SequentialKind says which anytime-valid test a sequential metric uses;
// it follows from the data the provider returns.
type SequentialKind string

// The kinds of sequential test (ANALYSIS.md §1, §3, §4).
const (
	// KindProportion tests the rate of a counted outcome per request (errors,
	// failed evals) with the exposure-conditional thinning e-process.
	KindProportion SequentialKind = "proportion"
	// KindHistogram tests a latency histogram through exceedance counts at
	// its bucket boundaries, each with the proportion test.
	KindHistogram SequentialKind = "histogram"
	// KindBounded tests the mean of per-request scores in [0, 1] with
	// empirical-Bernstein confidence sequences per version.
	KindBounded SequentialKind = "bounded"
)

// Direction says which way a metric gets worse (plan field worseWhen).
type Direction string

// The two directions.
const (
	// WorseHigher is for error rates, latency, cost: higher is worse.
	WorseHigher Direction = "higher"
	// WorseLower is for success rates, eval pass rates, quality scores.
	WorseLower Direction = "lower"
)

// SequentialSpec configures a sequential test (plan field `sequential`).
type SequentialSpec struct {
	// Kind selects the test.
	Kind SequentialKind `json:"kind"`
	// WorseWhen says which direction is a regression.
	WorseWhen Direction `json:"worseWhen"`
	// Alpha bounds the chance of a false Fail (and of a false Pass) over
	// all looks together, for example 0.05.
	Alpha float64 `json:"alpha"`
	// MinEffect is the margin, relative to stable: 0.2 means "worse by more
	// than 20%" is a regression worth failing for and "not worse by more
	// than 20%" is enough to pass. For proportions it is relative to the bad
	// outcome's rate (errors, or requests − successes), for histograms to the
	// share of requests above each boundary, for bounded scores to the mean
	// score. 0 fails on any regression and passes only a canary shown better.
	MinEffect float64 `json:"minEffect,omitempty"`
	// AbsoluteEffect makes MinEffect an absolute difference: of mean scores
	// (bounded; 0.02 = two points on a [0, 1] score) or of bad-outcome rates
	// (proportion; 0.0025 = a quarter of a percentage point). For proportions
	// a fifth of Alpha is spent on a confidence sequence for stable's rate,
	// which then must be steady within the analysis; the relative form does
	// not need that.
	AbsoluteEffect bool `json:"absoluteEffect,omitempty"`
	// MinSamples holds back a Pass until the canary has this many samples
	// since the test started. It does not hold back a Fail, whose error
	// guarantee holds at every look.
	MinSamples int64 `json:"minSamples,omitempty"`
	// Boundaries are the histogram boundaries to test (each must be a bucket
	// bound). Empty means: those between stable's median and its 99th
	// percentile at the first look.
	Boundaries []float64 `json:"boundaries,omitempty"`
	// Metric names the metric in reasons ("error rate").
	Metric string `json:"metric,omitempty"`
}

// Validate reports a spec the test cannot run with.
func (s SequentialSpec) Validate() error {
	var errs []error
	switch s.Kind {
	case KindProportion, KindHistogram, KindBounded:
	default:
		errs = append(errs, fmt.Errorf("kind %q is not one of proportion, histogram, bounded", s.Kind))
	}
	switch s.WorseWhen {
	case WorseHigher, WorseLower:
	default:
		errs = append(errs, fmt.Errorf("worseWhen %q is not higher or lower", s.WorseWhen))
	}
	if s.Kind == KindHistogram && s.WorseWhen == WorseLower {
		errs = append(errs, errors.New("worseWhen lower is not supported for histograms; latency regressions are higher"))
	}
	if !(s.Alpha > 0 && s.Alpha < 1) {
		errs = append(errs, fmt.Errorf("alpha %v is not between 0 and 1", s.Alpha))
	}
	if !(s.MinEffect >= 0) || math.IsInf(s.MinEffect, 0) {
		errs = append(errs, fmt.Errorf("minEffect %v is not a finite number of 0 or more", s.MinEffect))
	}
	if s.WorseWhen == WorseLower && s.Kind == KindBounded && !s.AbsoluteEffect && s.MinEffect >= 1 {
		errs = append(errs, fmt.Errorf("minEffect %v would allow the score to drop to nothing; use less than 1", s.MinEffect))
	}
	if s.AbsoluteEffect && s.Kind == KindHistogram {
		errs = append(errs, errors.New("absoluteEffect is not supported for histograms; use a relative minEffect"))
	}
	if s.AbsoluteEffect && s.Kind == KindProportion && !(s.MinEffect > 0 && s.MinEffect < 1) {
		errs = append(errs, fmt.Errorf("absolute minEffect %v is not a rate difference between 0 and 1", s.MinEffect))
	}
	if s.MinSamples < 0 {
		errs = append(errs, fmt.Errorf("minSamples %d is negative", s.MinSamples))
	}
	if len(s.Boundaries) > 0 && s.Kind != KindHistogram {
		errs = append(errs, errors.New("boundaries apply only to histograms"))
	}
	for _, b := range s.Boundaries {
		if math.IsNaN(b) || math.IsInf(b, 0) {
			errs = append(errs, fmt.Errorf("boundary %v is not a finite number", b))
		}
	}
	return errors.Join(errs...)
}

func (s SequentialSpec) metric() string {
	if s.Metric != "" {
		return s.Metric
	}
	switch s.Kind {
	case KindHistogram:
		return "latency"
	case KindBounded:
		return "score"
	}
	if s.WorseWhen == WorseLower {
		return "failure rate"
	}
	return "error rate"
}

// Bucket is one cumulative histogram bucket: Count observations were at
// most Le. Prometheus' `le` buckets map to it directly; the +Inf bucket is
// Totals.Count.
type Bucket struct {
	Le    float64 `json:"le"`
	Count int64   `json:"count"`
}

// Totals are one version's cumulative counters at one look, as the gateway
// stats API and Prometheus counters give them. The test works on the
// increments between looks, so counters may start anywhere and may reset.
type Totals struct {
	// Count is requests (proportion, histogram) or scored requests (bounded).
	Count int64 `json:"count"`
	// Events counts the outcome the metric is about (proportion): errors when
	// WorseWhen is higher, successes (or passed evals) when it is lower.
	Events int64 `json:"events,omitempty"`
	// Sum and SumSquares are the sums of the scores and of their squares
	// (bounded). Without SumSquares the wider Hoeffding bound is used.
	Sum        float64 `json:"sum,omitempty"`
	SumSquares float64 `json:"sumSquares,omitempty"`
	// Buckets are the finite cumulative buckets, by increasing Le (histogram).
	Buckets []Bucket `json:"buckets,omitempty"`
}

func (t Totals) clone() Totals {
	t.Buckets = slices.Clone(t.Buckets)
	return t
}

// SequentialState carries a sequential test from one look to the next as
// plain data: the measure activity passes it in and records the returned
// state, so the test survives worker restarts and replays. The zero value
// starts a test: its first look only records the counters as a baseline.
type SequentialState struct {
	// Kind is the test this state belongs to.
	Kind SequentialKind `json:"kind,omitempty"`
	// Started is set once the baseline totals are recorded.
	Started bool `json:"started,omitempty"`
	// PrevStable and PrevCanary are the totals at the previous look.
	PrevStable Totals `json:"prevStable"`
	PrevCanary Totals `json:"prevCanary"`
	// Boundaries are the histogram boundaries under test, fixed at the first look.
	Boundaries []float64 `json:"boundaries,omitempty"`
	// Looks are the per-look increments the e-processes are built from
	// (proportion and histogram): exposures and bad outcomes per version.
	Looks []LookCounts `json:"looks,omitempty"`
	// StableArm and CanaryArm are the confidence-sequence states (bounded).
	StableArm *ArmCS `json:"stableArm,omitempty"`
	CanaryArm *ArmCS `json:"canaryArm,omitempty"`
	// StableSamples and CanarySamples count samples since the baseline.
	StableSamples int64 `json:"stableSamples,omitempty"`
	CanarySamples int64 `json:"canarySamples,omitempty"`
	// Decided is the measurement that decided the test (Pass or Fail); every
	// later look repeats it.
	Decided *Measurement `json:"decided,omitempty"`

	cache *gridCache
}

// LookCounts is one look's increments: exposures (requests) per version and
// bad outcomes per version, one per tested boundary (one for proportions).
type LookCounts struct {
	NC int64   `json:"nc"`
	NS int64   `json:"ns"`
	XC []int64 `json:"xc"`
	XS []int64 `json:"xs"`
}

// gridCache holds the per-grid log-likelihood sums for the first `looks`
// looks, one row per boundary; it is rebuilt from Looks when missing.
type gridCache struct {
	looks int
	sums  [][]float64
}

// Look runs one look of the sequential test: it takes the cumulative totals
// of both versions, updates the test with the increments since the previous
// look and returns the measurement and the state for the next look. It
// returns an error only for an invalid spec or a state from another kind of
// test; bad data gives a measurement with verdict Error and an unchanged
// state. Once the test has decided, every later look repeats the decision.
//
// The measurement's Canary and Stable hold the versions' cumulative rates
// (at the most telling boundary for histograms; mean scores for bounded);
// Result holds the evidence: [mean E^F, min E^P] for proportions and
// histograms, [canary lower, canary upper, stable lower, stable upper]
// bounds for bounded scores.
func (s SequentialSpec) Look(st SequentialState, stable, canary Totals) (Measurement, SequentialState, error) {
	if err := s.Validate(); err != nil {
		return Measurement{}, st, fmt.Errorf("sequential test: %w", err)
	}
	if st.Kind != "" && st.Kind != s.Kind {
		return Measurement{}, st, fmt.Errorf("sequential test: state is for a %s test, spec is %s", st.Kind, s.Kind)
	}
	if err := checkTotals(s.Kind, stable); err != nil {
		return Measurement{Verdict: Error, Reason: "stable: " + err.Error()}, st, nil
	}
	if err := checkTotals(s.Kind, canary); err != nil {
		return Measurement{Verdict: Error, Reason: "canary: " + err.Error()}, st, nil
	}
	next := st
	next.Kind = s.Kind
	next.Looks = slices.Clip(st.Looks)
	// The state keeps its own copy: callers may reuse their bucket slices.
	next.PrevStable, next.PrevCanary = stable.clone(), canary.clone()
	if !st.Started {
		next.Started = true
		if s.Kind == KindHistogram {
			b, err := s.chooseBoundaries(stable)
			if err != nil {
				return Measurement{Verdict: Inconclusive, Pending: true, Reason: err.Error()}, st, nil
			}
			next.Boundaries = b
		}
		m := Measurement{Verdict: Inconclusive, Pending: true, Reason: "baseline recorded; the test starts at the next look"}
		if s.Kind == KindHistogram {
			m.Reason += fmt.Sprintf(" (testing %s above %s)", s.metric(), fmtList(next.Boundaries))
		}
		return m, next, nil
	}
	ds, dc := increment(st.PrevStable, stable), increment(st.PrevCanary, canary)
	if st.Decided != nil {
		m := *st.Decided
		m.Result, m.Stable, m.Canary = slices.Clone(m.Result), slices.Clone(m.Stable), slices.Clone(m.Canary)
		return m, next, nil
	}
	var (
		m   Measurement
		err error
	)
	switch s.Kind {
	case KindProportion, KindHistogram:
		m, next, err = s.lookCounts(next, ds, dc)
	case KindBounded:
		m, next, err = s.lookBounded(next, ds, dc)
	}
	if err != nil {
		return Measurement{Verdict: Error, Reason: err.Error()}, st, nil
	}
	m.StableSamples, m.CanarySamples = next.StableSamples, next.CanarySamples
	m.Pending = m.Verdict == Inconclusive
	if m.Verdict == Pass || m.Verdict == Fail {
		m.Final = true
		decided := m
		next.Decided = &decided
	}
	return m, next, nil
}

// checkTotals rejects counters no provider can produce.
func checkTotals(kind SequentialKind, t Totals) error {
	if t.Count < 0 || t.Events < 0 {
		return fmt.Errorf("negative counter (count %d, events %d)", t.Count, t.Events)
	}
	if kind == KindProportion && t.Events > t.Count {
		return fmt.Errorf("%d events in %d requests", t.Events, t.Count)
	}
	if math.IsNaN(t.Sum) || math.IsNaN(t.SumSquares) || math.IsInf(t.Sum, 0) || math.IsInf(t.SumSquares, 0) {
		return fmt.Errorf("sum %v or sum of squares %v is not finite", t.Sum, t.SumSquares)
	}
	prev := math.Inf(-1)
	var prevCount int64
	for _, b := range t.Buckets {
		if math.IsNaN(b.Le) || math.IsInf(b.Le, 0) {
			return fmt.Errorf("bucket bound %v is not finite (the +Inf bucket is the count)", b.Le)
		}
		if b.Le <= prev {
			return fmt.Errorf("bucket bounds not increasing at %v", b.Le)
		}
		if b.Count < prevCount || b.Count > t.Count {
			return fmt.Errorf("bucket le=%v has %d, not between %d and the count %d", b.Le, b.Count, prevCount, t.Count)
		}
		prev, prevCount = b.Le, b.Count
	}
	if kind == KindHistogram && len(t.Buckets) == 0 && t.Count > 0 {
		return errors.New("histogram without buckets")
	}
	return nil
}

// increment returns cur − prev, reset-aware: if any counter went down the
// source restarted, and cur itself is the increment (as Prometheus' increase
// treats a counter reset).
func increment(prev, cur Totals) Totals {
	reset := cur.Count < prev.Count || cur.Events < prev.Events || cur.Sum < prev.Sum-1e-9*math.Abs(prev.Sum) ||
		cur.SumSquares < prev.SumSquares-1e-9*math.Abs(prev.SumSquares)
	pb := map[float64]int64{}
	for _, b := range prev.Buckets {
		pb[b.Le] = b.Count
	}
	for _, b := range cur.Buckets {
		if c, ok := pb[b.Le]; ok && b.Count < c {
			reset = true
		}
	}
	if reset {
		return cur
	}
	d := Totals{Count: cur.Count - prev.Count, Events: cur.Events - prev.Events,
		Sum: cur.Sum - prev.Sum, SumSquares: cur.SumSquares - prev.SumSquares}
	d.Sum, d.SumSquares = max(d.Sum, 0), max(d.SumSquares, 0)
	for _, b := range cur.Buckets {
		d.Buckets = append(d.Buckets, Bucket{Le: b.Le, Count: b.Count - pb[b.Le]})
	}
	return d
}
