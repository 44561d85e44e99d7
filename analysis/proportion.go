package analysis

import (
	"fmt"
	"math"
	"sync"

	"gonum.org/v1/gonum/floats"
)

// The fixed grid of log rate ratios θ = log(p_canary/p_stable) over which
// the e-process mixes, and the spread of its normal prior (ANALYSIS.md §1).
// The grid is not re-centred on the margin, so E-values are comparable
// across margins.
const (
	gridStep  = 0.02
	gridHalf  = 350
	gridSigma = 1.0
)

// thetaGrid holds the grid points and their log mixture weights.
type thetaGrid struct {
	theta  []float64
	logW   []float64
	expNeg []float64 // e^(−θ)
}

// grid returns the shared, read-only grid; it is built once.
var grid = sync.OnceValue(func() *thetaGrid {
	n := 2*gridHalf + 1
	g := &thetaGrid{theta: make([]float64, n), logW: make([]float64, n), expNeg: make([]float64, n)}
	for i := range g.theta {
		th := float64(i-gridHalf) * gridStep
		g.theta[i] = th
		g.expNeg[i] = math.Exp(-th)
		g.logW[i] = -th * th / (2 * gridSigma * gridSigma)
	}
	z := floats.LogSumExp(g.logW)
	for i := range g.logW {
		g.logW[i] -= z
	}
	return g
})

// lookLogLik is the log-likelihood of one look at log rate ratio θ: given
// that T = xc + xs bad outcomes happened, each came from the canary with
// probability π = nc·e^θ / (nc·e^θ + ns).
func lookLogLik(theta float64, nc, ns, xc, xs int64) float64 {
	if xc == 0 && xs == 0 {
		return 0
	}
	a := math.Log(float64(nc)) + theta
	b := math.Log(float64(ns))
	lse := logAddExp(a, b)
	var ll float64
	if xc > 0 {
		ll += float64(xc) * (a - lse)
	}
	if xs > 0 {
		ll += float64(xs) * (b - lse)
	}
	return ll
}

func logAddExp(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	return a + math.Log1p(math.Exp(b-a))
}

// addLook adds one look's log-likelihood at every grid point to sums (in
// place). With r = ns/nc, log π = −log(1 + r·e^−θ) and log(1−π) = log π +
// log r − θ, which needs one log1p per grid point.
func addLook(sums []float64, nc, ns, xc, xs int64) {
	if xc == 0 && xs == 0 {
		return
	}
	g := grid()
	r := float64(ns) / float64(nc)
	logR := math.Log(r)
	tot, fxs := float64(xc+xs), float64(xs)
	for j, th := range g.theta {
		sums[j] += fxs*(logR-th) - tot*math.Log1p(r*g.expNeg[j])
	}
}

// eValues returns log E^F and log E^P for margin θ0 from the grid sums and
// the log-likelihood at θ0 itself:
//
//	E^F = Σ_{θj > θ0} wj·exp(ℓ(θj) − ℓ(θ0)),  E^P = Σ_{θj < θ0} wj·exp(ℓ(θj) − ℓ(θ0)).
func eValues(sums []float64, ll0, theta0 float64, scratch []float64) (logF, logP float64) {
	g := grid()
	scratch = scratch[:0]
	for j, th := range g.theta {
		if th < theta0 {
			scratch = append(scratch, g.logW[j]+sums[j])
		}
	}
	logP = logSumExp(scratch) - ll0
	scratch = scratch[:0]
	for j, th := range g.theta {
		if th > theta0 {
			scratch = append(scratch, g.logW[j]+sums[j])
		}
	}
	logF = logSumExp(scratch) - ll0
	return logF, logP
}

func logSumExp(s []float64) float64 {
	if len(s) == 0 {
		return math.Inf(-1)
	}
	return floats.LogSumExp(s)
}

// lookCounts updates the proportion or histogram e-processes with one look.
func (s SequentialSpec) lookCounts(st SequentialState, ds, dc Totals) (Measurement, SequentialState, error) {
	xs, err := s.bad(st, ds)
	if err != nil {
		return Measurement{}, st, fmt.Errorf("stable: %w", err)
	}
	xc, err := s.bad(st, dc)
	if err != nil {
		return Measurement{}, st, fmt.Errorf("canary: %w", err)
	}
	if ds.Count > 0 && dc.Count > 0 {
		st.Looks = append(st.Looks, LookCounts{NC: dc.Count, NS: ds.Count, XC: xc, XS: xs})
		st.StableSamples += ds.Count
		st.CanarySamples += dc.Count
	}
	if len(st.Looks) == 0 {
		return Measurement{Verdict: Inconclusive, NoData: true, Reason: "no data yet: no look since the baseline had requests on both versions"}, st, nil
	}
	st.cache = updateCache(st.cache, st.Looks, len(st.Looks[0].XC))
	return s.decideCounts(st), st, nil
}

// updateCache returns grid sums covering all looks, reusing c when it covers
// a prefix. It never modifies c, so older states that share it stay valid.
func updateCache(c *gridCache, looks []LookCounts, nb int) *gridCache {
	n := len(grid().theta)
	next := &gridCache{looks: len(looks), sums: make([][]float64, nb)}
	start := 0
	if c != nil && c.looks <= len(looks) && len(c.sums) == nb {
		start = c.looks
	}
	for b := range nb {
		row := make([]float64, n)
		if start > 0 {
			copy(row, c.sums[b])
		}
		for _, l := range looks[start:] {
			addLook(row, l.NC, l.NS, l.XC[b], l.XS[b])
		}
		next.sums[b] = row
	}
	return next
}

// boundaryEvidence is one boundary's e-values and cumulative counts.
type boundaryEvidence struct {
	logF, logP     float64
	xc, xs, nc, ns int64
	lo, hi         float64 // stable-rate confidence sequence (absolute margin only)
}

// stableCSShare is the part of alpha spent on the stable-rate confidence
// sequence when the margin is absolute (ANALYSIS.md §1: α_s = α/5).
const stableCSShare = 0.2

// levels returns the level of the e-process decisions and of the stable-rate
// confidence sequence; the two add up to Alpha.
func (s SequentialSpec) levels() (eLevel, csLevel float64) {
	if s.AbsoluteEffect {
		return s.Alpha * (1 - stableCSShare), s.Alpha * stableCSShare
	}
	return s.Alpha, 0
}

// evidence computes every tested boundary's e-values. With a relative margin
// both are taken at θ0 = log(1 + MinEffect). With an absolute margin δ on a
// proportion, E^F is taken at log(1 + δ/L) and E^P at log(1 + δ/U), where
// [L, U] is the stable rate's confidence sequence; E^F(θ0) is non-increasing
// in θ0 wherever it is at least 1, so the data-dependent margin is safe and
// the error adds up to the e-process level plus the sequence's level.
func (s SequentialSpec) evidence(st SequentialState) []boundaryEvidence {
	nb := len(st.Looks[0].XC)
	out := make([]boundaryEvidence, nb)
	scratch := make([]float64, 0, len(grid().theta))
	_, csLevel := s.levels()
	for b := range nb {
		e := boundaryEvidence{}
		for _, l := range st.Looks {
			e.xc += l.XC[b]
			e.xs += l.XS[b]
			e.nc += l.NC
			e.ns += l.NS
		}
		thetaF, thetaP := math.Log1p(s.MinEffect), math.Log1p(s.MinEffect)
		if s.AbsoluteEffect {
			e.lo, e.hi = rateCS(e.xs, e.ns, csLevel)
			thetaF, thetaP = math.Inf(1), math.Log1p(s.MinEffect/e.hi)
			if e.lo > 0 {
				thetaF = math.Log1p(s.MinEffect / e.lo)
			}
		}
		var llF, llP float64
		for _, l := range st.Looks {
			if !math.IsInf(thetaF, 1) {
				llF += lookLogLik(thetaF, l.NC, l.NS, l.XC[b], l.XS[b])
			}
			llP += lookLogLik(thetaP, l.NC, l.NS, l.XC[b], l.XS[b])
		}
		e.logF = math.Inf(-1)
		if !math.IsInf(thetaF, 1) {
			e.logF, _ = eValues(st.cache.sums[b], llF, thetaF, scratch)
		}
		_, e.logP = eValues(st.cache.sums[b], llP, thetaP, scratch)
		out[b] = e
	}
	return out
}

// decideCounts applies the decision rule: for one boundary, Fail iff
// E^F ≥ 1/α and Pass iff E^P ≥ 1/α; for several, Fail iff the mean of E^F
// is ≥ 1/α and Pass iff the smallest E^P is ≥ 1/α.
func (s SequentialSpec) decideCounts(st SequentialState) Measurement {
	ev := s.evidence(st)
	logF := make([]float64, len(ev))
	minP, minAt, maxF, maxAt := math.Inf(1), 0, math.Inf(-1), 0
	for i, e := range ev {
		logF[i] = e.logF
		if e.logP < minP {
			minP, minAt = e.logP, i
		}
		if e.logF > maxF {
			maxF, maxAt = e.logF, i
		}
	}
	meanF := logSumExp(logF) - math.Log(float64(len(ev)))
	eLevel, _ := s.levels()
	thr := math.Log(1 / eLevel)
	m := Measurement{Result: []float64{math.Exp(meanF), math.Exp(minP)}}
	shown := ev[maxAt]
	m.Canary = []float64{ratio(shown.xc, shown.nc)}
	m.Stable = []float64{ratio(shown.xs, shown.ns)}
	what := s.describe(st, maxAt, shown)
	margin := fmt.Sprintf("%s%%", fmtNum(100*s.MinEffect))
	if s.AbsoluteEffect {
		margin = fmt.Sprintf("%s percentage points (stable's rate is within %s–%s)", fmtNum(100*s.MinEffect), fmtPct(shown.lo), fmtPct(shown.hi))
	}
	need := fmtNum(1 / eLevel)
	switch {
	case meanF >= thr:
		m.Verdict = Fail
		m.Reason = fmt.Sprintf("regression: %s; worse by more than %s, shown at alpha %s (evidence %s ≥ %s)", what, margin, fmtNum(s.Alpha), fmtNum(math.Exp(meanF)), need)
	case minP >= thr && st.CanarySamples >= s.MinSamples:
		m.Verdict = Pass
		m.Reason = fmt.Sprintf("no regression: %s; not worse by more than %s, shown at alpha %s (evidence %s ≥ %s)", s.describe(st, minAt, ev[minAt]), margin, fmtNum(s.Alpha), fmtNum(math.Exp(minP)), need)
	case minP >= thr:
		m.Verdict = Inconclusive
		m.Reason = fmt.Sprintf("not worse by more than %s, but only %d of the %d canary samples required: %s", margin, st.CanarySamples, s.MinSamples, what)
	default:
		m.Verdict = Inconclusive
		m.Reason = fmt.Sprintf("not yet shown either way: %s (evidence of regression %s, of none %s; %s needed)", what, fmtNum(math.Exp(meanF)), fmtNum(math.Exp(minP)), need)
	}
	return m
}

// describe renders one boundary's cumulative counts for a reason.
func (s SequentialSpec) describe(st SequentialState, i int, e boundaryEvidence) string {
	rc, rs := ratio(e.xc, e.nc), ratio(e.xs, e.ns)
	rel := "n/a"
	if rs > 0 {
		rel = fmt.Sprintf("%.3g×", rc/rs)
	}
	if s.Kind == KindHistogram {
		return fmt.Sprintf("canary %s above %s in %s of %d requests vs stable's %s of %d (%s)",
			s.metric(), fmtNum(st.Boundaries[i]), fmtPct(rc), e.nc, fmtPct(rs), e.ns, rel)
	}
	return fmt.Sprintf("canary %s %s (%d of %d) vs stable's %s (%d of %d), %s",
		s.metric(), fmtPct(rc), e.xc, e.nc, fmtPct(rs), e.xs, e.ns, rel)
}

func ratio(x, n int64) float64 {
	if n == 0 {
		return math.NaN()
	}
	return float64(x) / float64(n)
}

func fmtPct(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.3g%%", 100*x)
}
