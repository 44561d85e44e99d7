package analysis

import (
	"fmt"
	"strings"
)

// ConfidenceLimits are compare limits judged with confidence rather than
// on two point estimates: a limit is broken only when the data show it at
// Alpha, kept only when they show that, and the look is still gathering
// evidence otherwise. Limits relative to stable use the anytime-valid
// e-processes of the sequential test (proportions, or histogram exceedance
// for latency) with the limit as the margin; absolute limits on the
// canary's own rate use a confidence sequence for that rate.
type ConfidenceLimits struct {
	// Kind is KindProportion (events among requests) or KindHistogram
	// (latency buckets; only MaxRelativeIncrease applies).
	Kind SequentialKind `json:"kind"`
	// MaxRelativeIncrease is the largest allowed increase over stable as a
	// fraction (1.0 = up to twice stable's rate).
	MaxRelativeIncrease *float64 `json:"maxRelativeIncrease,omitempty"`
	// MaxRate and MinRate bound the canary's own event rate (proportion only).
	MaxRate *float64 `json:"maxRate,omitempty"`
	MinRate *float64 `json:"minRate,omitempty"`
	// Alpha bounds the chance of a false Fail, over all looks, of each limit.
	Alpha float64 `json:"alpha"`
	// Metric names the metric in reasons ("error rate").
	Metric string `json:"metric,omitempty"`
}

// ConfidenceState carries a ConfidenceLimits judgement from look to look.
type ConfidenceState struct {
	// Relative is the state of the relative limit's test.
	Relative *SequentialState `json:"relative,omitempty"`
	// Started is set once the canary's baseline totals are recorded.
	Started bool `json:"started,omitempty"`
	// PrevCanary are the canary's totals at the previous look.
	PrevCanary Totals `json:"prevCanary"`
	// Requests and Events are the canary's counts since the baseline.
	Requests int64 `json:"requests,omitempty"`
	Events   int64 `json:"events,omitempty"`
}

// Look judges one look of the limits on cumulative totals and returns the
// measurement and the state for the next look. Unlike a sequential test it
// never stops: a shown Pass is reported and the evidence keeps growing, so
// a later regression is still caught with the same false-Fail bound.
func (l ConfidenceLimits) Look(st ConfidenceState, stable, canary Totals) (Measurement, ConfidenceState, error) {
	if l.Kind != KindProportion && l.Kind != KindHistogram {
		return Measurement{}, st, fmt.Errorf("compare with confidence: kind %q is not proportion or histogram", l.Kind)
	}
	var parts []Measurement
	if p := l.MaxRelativeIncrease; p != nil {
		m, next, err := l.relative(st.Relative, *p, stable, canary)
		if err != nil {
			return Measurement{}, st, err
		}
		st.Relative = &next
		parts = append(parts, m)
	}
	if l.Kind == KindProportion && (l.MaxRate != nil || l.MinRate != nil) {
		var m Measurement
		m, st = l.rate(st, canary)
		parts = append(parts, m)
	}
	if len(parts) == 0 {
		return Measurement{Verdict: Error, Reason: "compare with confidence: no limit it can judge"}, st, nil
	}
	return worstOf(parts), st, nil
}

// relative runs the sequential test with the limit as its margin, without
// letting a decision end it.
func (l ConfidenceLimits) relative(prev *SequentialState, margin float64, stable, canary Totals) (Measurement, SequentialState, error) {
	spec := SequentialSpec{Kind: l.Kind, WorseWhen: WorseHigher, Alpha: l.Alpha, MinEffect: margin, Metric: l.Metric}
	var st SequentialState
	if prev != nil {
		st = *prev
	}
	m, next, err := spec.Look(st, stable, canary)
	if err != nil {
		return Measurement{}, st, fmt.Errorf("compare with confidence: %w", err)
	}
	next.Decided = nil
	m.Final = false
	m.Pending = m.Verdict == Inconclusive && !m.NoData
	return m, next, nil
}

// rate judges the canary's own event rate against MaxRate and MinRate with
// a confidence sequence at Alpha.
func (l ConfidenceLimits) rate(st ConfidenceState, canary Totals) (Measurement, ConfidenceState) {
	if !st.Started {
		st.Started, st.PrevCanary = true, canary.clone()
		return Measurement{Verdict: Inconclusive, Pending: true, Reason: "baseline recorded; the canary's rate is judged from the next look"}, st
	}
	d := increment(st.PrevCanary, canary)
	st.PrevCanary = canary.clone()
	st.Requests += d.Count
	st.Events += min(d.Events, d.Count)
	if st.Requests == 0 {
		return Waiting("no data yet: no canary requests since the baseline"), st
	}
	lo, hi := rateCS(st.Events, st.Requests, l.Alpha)
	rate := float64(st.Events) / float64(st.Requests)
	what := fmt.Sprintf("canary %s %s (%d of %d requests; %.0f%% interval %s–%s)", l.metric(), fmtPct(rate), st.Events, st.Requests, 100*(1-l.Alpha), fmtPct(lo), fmtPct(hi))
	m := Measurement{Canary: []float64{rate}, Result: []float64{rate}, CanarySamples: st.Requests}
	var broken, unshown []string
	if p := l.MaxRate; p != nil {
		switch {
		case lo > *p:
			broken = append(broken, "above the maximum "+fmtPct(*p))
		case hi >= *p:
			unshown = append(unshown, "not yet shown below "+fmtPct(*p))
		}
	}
	if p := l.MinRate; p != nil {
		switch {
		case hi < *p:
			broken = append(broken, "below the minimum "+fmtPct(*p))
		case lo <= *p:
			unshown = append(unshown, "not yet shown above "+fmtPct(*p))
		}
	}
	switch {
	case len(broken) > 0:
		m.Verdict, m.Reason = Fail, fmt.Sprintf("%s: %s, shown at alpha %s", what, strings.Join(broken, " and "), fmtNum(l.Alpha))
	case len(unshown) > 0:
		m.Verdict, m.Pending, m.Reason = Inconclusive, true, fmt.Sprintf("%s: %s", what, strings.Join(unshown, ", "))
	default:
		m.Verdict, m.Reason = Pass, fmt.Sprintf("%s: within its limits, shown at alpha %s", what, fmtNum(l.Alpha))
	}
	return m, st
}

func (l ConfidenceLimits) metric() string {
	if l.Metric == "" {
		return "rate"
	}
	return l.Metric
}

// worstOf returns the worst part (Fail, Error, Inconclusive, Pass), with
// the reasons of every part of that verdict.
func worstOf(parts []Measurement) Measurement {
	rank := map[Verdict]int{Pass: 0, Inconclusive: 1, Error: 2, Fail: 3}
	out := parts[0]
	for _, p := range parts[1:] {
		if rank[p.Verdict] > rank[out.Verdict] {
			out = p
		}
	}
	var reasons []string
	for _, p := range parts {
		if p.Verdict == out.Verdict {
			reasons = append(reasons, p.Reason)
		}
	}
	out.Reason = strings.Join(reasons, "; ")
	return out
}
