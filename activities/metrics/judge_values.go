package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

// This file is the one place where a provider's values become a verdict:
// the metric's conditions, its comparison with stable and its sequential
// test, combined so that the worst part wins. Every provider calls it, so a
// plan means the same thing whatever the data source.

// values are what a provider measured for one look.
type values struct {
	// Result is what conditions see as `result`; when the metric compares
	// versions it is the canary's values.
	Result []float64
	// Stable and Canary are the per-version values; nil when the provider
	// measured the canary alone.
	Stable, Canary []float64
	// StableN and CanaryN are the sample sizes behind the values, 0 when unknown.
	StableN, CanaryN int64
}

// comparesVersions reports whether the metric needs a value per version.
func comparesVersions(m plans.Metric) bool {
	if m.Compare != nil || m.Sequential != nil {
		return true
	}
	for _, c := range []string{m.SuccessCondition, m.FailureCondition} {
		if strings.Contains(c, analysis.VarStable) {
			return true
		}
	}
	return false
}

// judgeValues judges one look of metric m: conditions (when set, or when
// nothing else judges the metric) and the comparison with stable (when
// set). extra holds judgements the provider made itself (a sequential test,
// failed sentinels, an LLM judge's answer); they take part in the worst-wins
// combination. A condition that does not compile is an error wrapping
// ErrInvalidConfig.
func judgeValues(m plans.Metric, v values, extra ...analysis.Measurement) (analysis.Measurement, error) {
	parts := make([]analysis.Measurement, 0, 2+len(extra))
	hasCond := m.SuccessCondition != "" || m.FailureCondition != ""
	if hasCond || (m.Compare == nil && len(extra) == 0) {
		success, err := compile(m.SuccessCondition)
		if err != nil {
			return analysis.Measurement{}, fmt.Errorf("metric %s: successCondition: %w", m.Name, err)
		}
		failure, err := compile(m.FailureCondition)
		if err != nil {
			return analysis.Measurement{}, fmt.Errorf("metric %s: failureCondition: %w", m.Name, err)
		}
		parts = append(parts, analysis.EvaluateConditions(success, failure, analysis.Inputs{
			Result: v.Result, Stable: v.Stable, Canary: v.Canary,
		}))
	}
	if c := m.Compare; c != nil {
		parts = append(parts, compareValues(m.Name, first(v.Stable), first(v.Canary), v.StableN, v.CanaryN, *c))
	}
	parts = append(parts, extra...)
	out := combine(parts)
	out.Result, out.Stable, out.Canary = v.Result, v.Stable, v.Canary
	out.StableSamples, out.CanarySamples = v.StableN, v.CanaryN
	return out, nil
}

func compile(src string) (*analysis.Condition, error) {
	if src == "" {
		return nil, nil
	}
	c, err := analysis.CompileCondition(src)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, api.ErrInvalidConfig)
	}
	return c, nil
}

// first returns the first value, or NaN when there is none.
func first(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	return v[0]
}

// compareValues applies a plan's compare block. The plan's relative limits
// are fractions (maxRelativeIncrease 0.2 allows canary up to 1.2 × stable)
// and become analysis ratios; its absolute limits bound the canary's own
// value whatever stable's (analysis bounds the difference instead), so they
// are checked here.
func compareValues(name string, stable, canary float64, stableN, canaryN int64, c plans.Compare) analysis.Measurement {
	var parts []analysis.Measurement
	if c.MaxRelativeIncrease != nil || c.MaxRelativeDecrease != nil {
		var l analysis.CompareLimits
		if p := c.MaxRelativeIncrease; p != nil {
			r := 1 + *p
			l.MaxRelativeIncrease = &r
		}
		l.MaxRelativeDecrease = c.MaxRelativeDecrease
		parts = append(parts, analysis.Compare(name, stable, canary, stableN, canaryN, l))
	}
	if c.MaxAbsolute != nil || c.MinAbsolute != nil {
		m := analysis.Measurement{Verdict: analysis.Pass}
		switch {
		case math.IsNaN(canary):
			m.Verdict, m.NoData, m.Reason = analysis.Inconclusive, true, fmt.Sprintf("no data for canary's %s", name)
		case c.MaxAbsolute != nil && canary > *c.MaxAbsolute:
			m.Verdict, m.Reason = analysis.Fail, fmt.Sprintf("canary %s %s is above the maximum %s", name, num(canary), num(*c.MaxAbsolute))
		case c.MinAbsolute != nil && canary < *c.MinAbsolute:
			m.Verdict, m.Reason = analysis.Fail, fmt.Sprintf("canary %s %s is below the minimum %s", name, num(canary), num(*c.MinAbsolute))
		default:
			m.Reason = fmt.Sprintf("canary %s %s is within its absolute limits", name, num(canary))
		}
		parts = append(parts, m)
	}
	if len(parts) == 0 {
		return analysis.Measurement{Verdict: analysis.Error, Reason: fmt.Sprintf("compare %s: no limit set", name)}
	}
	return combine(parts)
}

// severity orders verdicts: the worst wins.
func severity(v analysis.Verdict) int {
	switch v {
	case analysis.Pass:
		return 0
	case analysis.Inconclusive:
		return 1
	case analysis.Error:
		return 2
	case analysis.Fail:
		return 3
	}
	return 2
}

// combine returns the worst of parts, with its Final and Pending flags and
// a reason that names every part of that verdict (or every part when all
// passed). No parts is Inconclusive: nothing judged the metric.
func combine(parts []analysis.Measurement) analysis.Measurement {
	if len(parts) == 0 {
		return analysis.Measurement{Verdict: analysis.Inconclusive, Reason: "no data: nothing judged the metric"}
	}
	worst := 0
	for i, p := range parts {
		if severity(p.Verdict) > severity(parts[worst].Verdict) {
			worst = i
		}
	}
	out := parts[worst]
	var reasons []string
	for _, p := range parts {
		if p.Verdict == out.Verdict && p.Reason != "" {
			reasons = append(reasons, p.Reason)
		}
	}
	out.Reason = strings.Join(reasons, "; ")
	if out.Verdict != analysis.Inconclusive {
		out.Pending = false
	}
	// Waiting for data only when every inconclusive part is.
	out.NoData = out.Verdict == analysis.Inconclusive
	for _, p := range parts {
		if p.Verdict == analysis.Inconclusive && !p.NoData {
			out.NoData = false
		}
	}
	return out
}

// sequentialLook runs one look of the metric's sequential test on the
// cumulative totals of both versions and returns the look's measurement and
// the test's next state. With watch (background analysis), a Pass does not
// end the test: the evidence keeps growing, and a later regression still
// fails with the same bound on false failures.
func sequentialLook(m plans.Metric, kind analysis.SequentialKind, st analysis.SequentialState, stable, canary analysis.Totals, watch bool) (analysis.Measurement, analysis.SequentialState, error) {
	s := m.Sequential
	spec := analysis.SequentialSpec{
		Kind:       kind,
		WorseWhen:  analysis.Direction(s.WorseWhen),
		Alpha:      orDefault(s.Alpha, plans.DefaultAlpha),
		MinEffect:  s.MinEffect,
		MinSamples: int64(s.MinSamples),
		Metric:     m.Name,
	}
	meas, next, err := spec.Look(st, stable, canary)
	if err != nil {
		return analysis.Measurement{}, st, fmt.Errorf("metric %s: sequential test: %w: %w", m.Name, err, api.ErrInvalidConfig)
	}
	if watch && meas.Verdict == analysis.Pass {
		meas.Final, next.Decided = false, nil
	}
	return meas, next, nil
}

func orDefault(v, d float64) float64 {
	if v == 0 {
		return d
	}
	return v
}

// decodeState reads a provider's state from the previous look into v; no
// state leaves v as it is.
func decodeState(kind string, b []byte, v any) error {
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s provider state: %w: %w", kind, err, api.ErrInvalidConfig)
	}
	return nil
}

// encodeState writes a provider's state for the next look.
func encodeState(kind string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s provider state: %w", kind, err)
	}
	return b, nil
}

// num formats a value for a reason.
func num(x float64) string {
	return fmt.Sprintf("%.4g", x)
}

// noData is the measurement of a look that found nothing to judge.
func noData(reason string) analysis.Measurement {
	return analysis.Measurement{Verdict: analysis.Inconclusive, NoData: true, Reason: "no data: " + reason}
}
