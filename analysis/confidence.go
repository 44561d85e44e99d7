package analysis

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ConfidenceLimits are compare limits judged with confidence rather than
// on two point estimates: a limit is broken only when the data show it at
// Alpha, kept only when they show that, and the look is still gathering
// evidence otherwise.
//
// Which test decides which limit:
//   - MaxRelativeIncrease on a rate of bad outcomes (proportion, Successes
//     unset): the exposure-conditional e-process of the sequential test with
//     the limit as its margin; it holds under a drifting baseline.
//   - Every other relative limit: a confidence sequence for each version's
//     own value at Alpha/2 (the rate, or the quantile for histograms), and
//     the limit is shown broken when even the most favourable values in
//     both break it (canary's lower bound above (1+m) × stable's upper).
//   - MaxAbsolute and MinAbsolute: the canary's own confidence sequence at Alpha.
//
// A histogram's quantile is bracketed from its buckets only (ANALYSIS.md
// §3): Q(p) ≤ b is shown when the confidence sequence for the share of
// requests at most b is at least p, Q(p) > b when it is below p. Bucket
// bounds are read conservatively: a limit between two bounds is shown
// broken only at the next bound up and kept only at the next bound down.
// The per-version forms assume each version's requests are alike over the
// analysis (no drift); see ratecs.go and quantile.go.
type ConfidenceLimits struct {
	// Kind is KindProportion (events among requests) or KindHistogram
	// (latency buckets, judged at Quantile).
	Kind SequentialKind `json:"kind"`
	// MaxRelativeIncrease is the largest allowed increase over stable as a
	// fraction (1.0 = up to twice stable's value).
	MaxRelativeIncrease *float64 `json:"maxRelativeIncrease,omitempty"`
	// MaxRelativeDecrease is the largest allowed decrease below stable as a
	// fraction (0.02 = down to 0.98 × stable's value).
	MaxRelativeDecrease *float64 `json:"maxRelativeDecrease,omitempty"`
	// MaxAbsolute and MinAbsolute bound the canary's own value: its event
	// rate (proportion) or its quantile in the histogram's unit (histogram).
	MaxAbsolute *float64 `json:"maxAbsolute,omitempty"`
	MinAbsolute *float64 `json:"minAbsolute,omitempty"`
	// Successes says the events are good outcomes (a success rate): its
	// relative limits then use the per-version confidence sequences, since
	// the e-process is for rare bad outcomes.
	Successes bool `json:"successes,omitempty"`
	// Quantile is the quantile a histogram's limits are about (0.99 = p99).
	Quantile float64 `json:"quantile,omitempty"`
	// Alpha bounds the chance of a false Fail, over all looks, of each limit.
	Alpha float64 `json:"alpha"`
	// Metric names the metric in reasons ("error rate").
	Metric string `json:"metric,omitempty"`
	// Trials names what a proportion's count counts in reasons: "requests"
	// when empty, "cases" for eval runs.
	Trials string `json:"trials,omitempty"`
}

// ConfidenceState carries a ConfidenceLimits judgement from look to look.
type ConfidenceState struct {
	// Relative is the state of the relative limit's e-process.
	Relative *SequentialState `json:"relative,omitempty"`
	// Started is set once the baseline totals are recorded.
	Started bool `json:"started,omitempty"`
	// PrevStable and PrevCanary are the versions' totals at the previous look.
	PrevStable Totals `json:"prevStable"`
	PrevCanary Totals `json:"prevCanary"`
	// Stable and Canary are the versions' counts since the baseline.
	Stable Totals `json:"stable"`
	Canary Totals `json:"canary"`
}

// Validate reports limits no look can judge.
func (l ConfidenceLimits) Validate() error {
	var errs []error
	switch l.Kind {
	case KindProportion:
	case KindHistogram:
		if !(l.Quantile > 0 && l.Quantile < 1) {
			errs = append(errs, fmt.Errorf("quantile %v is not between 0 and 1", l.Quantile))
		}
	default:
		errs = append(errs, fmt.Errorf("kind %q is not proportion or histogram", l.Kind))
	}
	if !(l.Alpha > 0 && l.Alpha < 1) {
		errs = append(errs, fmt.Errorf("alpha %v is not between 0 and 1", l.Alpha))
	}
	if p := l.MaxRelativeDecrease; p != nil && !(*p >= 0 && *p <= 1) {
		errs = append(errs, fmt.Errorf("maxRelativeDecrease %v is not a fraction from 0 to 1", *p))
	}
	if p := l.MaxRelativeIncrease; p != nil && !(*p >= 0) {
		errs = append(errs, fmt.Errorf("maxRelativeIncrease %v is not 0 or more", *p))
	}
	if l.MaxRelativeIncrease == nil && l.MaxRelativeDecrease == nil && l.MaxAbsolute == nil && l.MinAbsolute == nil {
		errs = append(errs, errors.New("no limit set"))
	}
	return errors.Join(errs...)
}

// Look judges one look of the limits on cumulative totals and returns the
// measurement and the state for the next look. Unlike a sequential test it
// never stops: a shown Pass is reported and the evidence keeps growing, so
// a later regression is still caught with the same false-Fail bound.
func (l ConfidenceLimits) Look(st ConfidenceState, stable, canary Totals) (Measurement, ConfidenceState, error) {
	if err := l.Validate(); err != nil {
		return Measurement{}, st, fmt.Errorf("compare with confidence: %w", err)
	}
	var parts []Measurement
	if l.usesEProcess() {
		m, next, err := l.relative(st.Relative, *l.MaxRelativeIncrease, stable, canary)
		if err != nil {
			return Measurement{}, st, err
		}
		st.Relative = &next
		parts = append(parts, m)
	}
	if l.hasArmLimits() {
		var m Measurement
		m, st = l.arms(st, stable, canary)
		parts = append(parts, m)
	}
	return worstOf(parts), st, nil
}

// usesEProcess reports whether MaxRelativeIncrease is judged by the
// e-process (a rate of bad outcomes).
func (l ConfidenceLimits) usesEProcess() bool {
	return l.MaxRelativeIncrease != nil && l.Kind == KindProportion && !l.Successes
}

// hasArmLimits reports whether any limit reads the versions' own
// confidence sequences.
func (l ConfidenceLimits) hasArmLimits() bool {
	return l.MaxRelativeDecrease != nil || l.MaxAbsolute != nil || l.MinAbsolute != nil ||
		(l.MaxRelativeIncrease != nil && !l.usesEProcess())
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

// interval is a confidence interval [lo, hi] of a rate, or a quantile
// bracket (lo, hi] (±Inf when a side is not bounded yet).
type interval struct{ lo, hi float64 }

// arms judges the limits that read each version's own confidence
// sequence, on the counts since the baseline.
func (l ConfidenceLimits) arms(st ConfidenceState, stable, canary Totals) (Measurement, ConfidenceState) {
	if err := checkTotals(l.Kind, stable); err != nil {
		return Measurement{Verdict: Error, Reason: "stable: " + err.Error()}, st
	}
	if err := checkTotals(l.Kind, canary); err != nil {
		return Measurement{Verdict: Error, Reason: "canary: " + err.Error()}, st
	}
	if !st.Started {
		st.Started, st.PrevStable, st.PrevCanary = true, stable.clone(), canary.clone()
		return Measurement{Verdict: Inconclusive, Pending: true, Reason: "baseline recorded; the " + l.metric() + " is judged from the next look"}, st
	}
	st.Stable = accumulate(st.Stable, increment(st.PrevStable, stable))
	st.Canary = accumulate(st.Canary, increment(st.PrevCanary, canary))
	st.PrevStable, st.PrevCanary = stable.clone(), canary.clone()
	relative := l.MaxRelativeDecrease != nil || (l.MaxRelativeIncrease != nil && !l.usesEProcess())
	switch {
	case st.Canary.Count == 0:
		return Waiting("no data yet: no canary requests since the baseline"), st
	case relative && st.Stable.Count == 0:
		return Waiting("no data yet: no stable requests since the baseline"), st
	}
	m := Measurement{CanarySamples: st.Canary.Count}
	if relative {
		m.StableSamples = st.Stable.Count
	}
	j := l.judgeArms(st.Stable, st.Canary, relative)
	m.Result = []float64{j.canary.lo, j.canary.hi}
	if l.Kind == KindHistogram {
		j.what += "; bucket bounds read conservatively"
	}
	switch {
	case len(j.broken) > 0:
		m.Verdict, m.Reason = Fail, fmt.Sprintf("%s: %s, shown at alpha %s", j.what, strings.Join(j.broken, " and "), fmtNum(l.Alpha))
	case len(j.unshown) > 0:
		m.Verdict, m.Pending, m.Reason = Inconclusive, true, fmt.Sprintf("%s: %s", j.what, strings.Join(j.unshown, ", "))
	default:
		m.Verdict, m.Reason = Pass, fmt.Sprintf("%s: within its limits, shown at alpha %s", j.what, fmtNum(l.Alpha))
	}
	return m, st
}

// armJudgement is what the per-version limits found at one look.
type armJudgement struct {
	what            string
	canary          interval
	broken, unshown []string
}

// judgeArms checks every per-version limit: relative ones with each
// version's interval at Alpha/2, absolute ones with the canary's at Alpha.
func (l ConfidenceLimits) judgeArms(stable, canary Totals, relative bool) armJudgement {
	var j armJudgement
	var c interval
	if l.MaxAbsolute != nil || l.MinAbsolute != nil || !relative {
		c = l.interval(canary, l.Alpha)
		j.canary, j.what = c, "canary "+l.describe(canary, c, l.Alpha)
	}
	check := func(fail, pass bool, broken, unshown string) {
		switch {
		case fail:
			j.broken = append(j.broken, broken)
		case !pass:
			j.unshown = append(j.unshown, "not yet shown "+unshown)
		}
	}
	if relative {
		c2, s2 := l.interval(canary, l.Alpha/2), l.interval(stable, l.Alpha/2)
		j.what = fmt.Sprintf("canary %s, stable %s", l.describe(canary, c2, l.Alpha/2), l.describe(stable, s2, l.Alpha/2))
		if j.canary == (interval{}) {
			j.canary = c2
		}
		if p := l.MaxRelativeIncrease; p != nil && !l.usesEProcess() {
			f := fmtNum(1+*p) + "× stable's"
			check(c2.lo > scale(1+*p, s2.hi), c2.hi <= scale(1+*p, s2.lo), "above "+f, "within "+f)
		}
		if p := l.MaxRelativeDecrease; p != nil {
			f := fmtNum(1-*p) + "× stable's"
			check(c2.hi < scale(1-*p, s2.lo), c2.lo >= scale(1-*p, s2.hi), "below "+f, "at least "+f)
		}
	}
	if p := l.MaxAbsolute; p != nil {
		check(c.lo > *p, c.hi <= *p, "above the maximum "+l.fmtValue(*p), "at most "+l.fmtValue(*p))
	}
	if p := l.MinAbsolute; p != nil {
		check(c.hi < *p, c.lo >= *p, "below the minimum "+l.fmtValue(*p), "at least "+l.fmtValue(*p))
	}
	return j
}

// scale returns f·x, with 0·±Inf = 0 (a limit of nothing).
func scale(f, x float64) float64 {
	if f == 0 {
		return 0
	}
	return f * x
}

// interval is the version's confidence interval at level a: of its rate,
// or its quantile bracket from the histogram's buckets.
func (l ConfidenceLimits) interval(t Totals, a float64) interval {
	if l.Kind == KindHistogram {
		lo, hi := quantileBracket(t, l.Quantile, a)
		return interval{lo, hi}
	}
	lo, hi := rateCS(min(t.Events, t.Count), t.Count, a)
	return interval{lo, hi}
}

// describe says what a version's counts show at level a.
func (l ConfidenceLimits) describe(t Totals, iv interval, a float64) string {
	level := fmt.Sprintf("%.4g%%", 100*(1-a))
	if l.Kind == KindHistogram {
		return fmt.Sprintf("p%s %s in (%s, %s] (%s, %d requests)",
			fmtNum(100*l.Quantile), l.metric(), fmtNum(iv.lo), fmtNum(iv.hi), level, t.Count)
	}
	rate := float64(min(t.Events, t.Count)) / float64(t.Count)
	trials := l.Trials
	if trials == "" {
		trials = "requests"
	}
	return fmt.Sprintf("%s %s (%d of %d %s; %s interval %s–%s)", l.metric(), fmtPct(rate), min(t.Events, t.Count), t.Count, trials, level, fmtPct(iv.lo), fmtPct(iv.hi))
}

func (l ConfidenceLimits) fmtValue(x float64) string {
	if l.Kind == KindHistogram {
		return fmtNum(x)
	}
	return fmtPct(x)
}

func (l ConfidenceLimits) metric() string {
	switch {
	case l.Metric != "":
		return l.Metric
	case l.Kind == KindHistogram:
		return "latency"
	}
	return "rate"
}

// accumulate adds the increment d to the totals t. A bucket bound missing
// from either has no known count and is dropped.
func accumulate(t, d Totals) Totals {
	out := Totals{Count: t.Count + d.Count, Events: t.Events + d.Events, Sum: t.Sum + d.Sum, SumSquares: t.SumSquares + d.SumSquares}
	if t.Count == 0 && len(t.Buckets) == 0 {
		out.Buckets = slices.Clone(d.Buckets)
		return out
	}
	for _, b := range d.Buckets {
		if c, ok := bucketCount(t.Buckets, b.Le); ok {
			out.Buckets = append(out.Buckets, Bucket{Le: b.Le, Count: c + b.Count})
		}
	}
	return out
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
	out.NoData = out.Verdict == Inconclusive
	for _, p := range parts {
		if p.Verdict == Inconclusive && !p.NoData {
			out.NoData = false
		}
	}
	return out
}
