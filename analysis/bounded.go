package analysis

import (
	"fmt"
	"math"
)

// ArmCS is one version's running confidence sequence for the mean of a
// score in [0, 1] (ANALYSIS.md §4): a lower bound from the scores and an
// upper bound from the mirrored scores 1 − x. It is plain data kept in
// SequentialState.
type ArmCS struct {
	// Lower tracks the lower bound; Upper tracks the lower bound of 1 − x.
	Lower EBBound `json:"lower"`
	Upper EBBound `json:"upper"`
	// N, Sum and SumSquares are the totals over all looks.
	N          int64   `json:"n"`
	Sum        float64 `json:"sum"`
	SumSquares float64 `json:"sumSquares"`
}

// EBBound is the state of one one-sided predictable-plug-in
// empirical-Bernstein lower bound: the totals before the current look (for
// the plug-in mean and variance) and the running sums of the exponent of its
// e-process.
type EBBound struct {
	// N, S and Q are the count, sum and sum of squares over earlier looks.
	N float64 `json:"n"`
	S float64 `json:"s"`
	Q float64 `json:"q"`
	// SumLS, SumPsiV and SumLN are Σλ·S, Σψ(λ)·V and Σλ·n over all looks.
	SumLS   float64 `json:"sumLS"`
	SumPsiV float64 `json:"sumPsiV"`
	SumLN   float64 `json:"sumLN"`
	// L is the bound: the running maximum over looks, at least 0.
	L float64 `json:"l"`
}

// ebTruncation caps λ (c in Waudby-Smith & Ramdas); 1/2 keeps ψ moderate.
const ebTruncation = 0.5

// add updates the bound with one look of n scores summing to s with sum of
// squares q, at one-sided level a. With hoeffding set (no sum of squares
// known) it uses the sub-Gaussian bound λ²n/8 instead of ψ(λ)·V. λ only
// depends on earlier looks and on n, so the bound stays valid at every look.
func (b *EBBound) add(n, s, q, a float64, hoeffding bool) {
	if n <= 0 {
		return
	}
	logInv := math.Log(1 / a)
	t := b.N + n
	var lam, pen float64
	if hoeffding {
		lam = min(1, math.Sqrt(8*logInv/(t*math.Log1p(t))))
		pen = lam * lam * n / 8
	} else {
		mu := (0.5 + b.S) / (b.N + 1)
		spread := 0.0
		if b.N > 0 {
			spread = max(b.Q-b.S*b.S/b.N, 0)
		}
		sigma2 := (0.25 + spread) / (b.N + 1)
		lam = min(ebTruncation, math.Sqrt(2*logInv/(sigma2*t*math.Log1p(t))))
		v := q - 2*mu*s + n*mu*mu
		pen = (-math.Log1p(-lam) - lam) * max(v, 0)
	}
	b.SumLS += lam * s
	b.SumPsiV += pen
	b.SumLN += lam * n
	b.L = max(b.L, (b.SumLS-logInv-b.SumPsiV)/b.SumLN, 0)
	b.N, b.S, b.Q = t, b.S+s, b.Q+q
}

// add records one look of n scores (sum s, sum of squares q) at one-sided
// level a for each bound.
func (c *ArmCS) add(n int64, s, q, a float64) {
	hoeffding := q == 0 && s > 0
	fn := float64(n)
	c.Lower.add(fn, s, q, a, hoeffding)
	mq := fn - 2*s + q
	if hoeffding {
		mq = 0
	}
	c.Upper.add(fn, fn-s, max(mq, 0), a, hoeffding)
	c.N += n
	c.Sum += s
	c.SumSquares += q
}

// Bounds returns the current confidence interval [lower, upper] for the mean.
func (c ArmCS) Bounds() (lower, upper float64) {
	return c.Lower.L, 1 - c.Upper.L
}

// checkScores rejects a look whose sums cannot come from scores in [0, 1].
func checkScores(who string, d Totals) error {
	n := float64(d.Count)
	const tol = 1e-6
	if d.Sum > n*(1+tol)+tol || d.SumSquares > d.Sum*(1+tol)+tol {
		return fmt.Errorf("%s scores are not in [0, 1]: %d scores sum to %v with sum of squares %v", who, d.Count, d.Sum, d.SumSquares)
	}
	if d.SumSquares > 0 && n > 0 && d.SumSquares < d.Sum*d.Sum/n*(1-tol)-tol {
		return fmt.Errorf("%s sum of squares %v is below sum²/n = %v", who, d.SumSquares, d.Sum*d.Sum/n)
	}
	return nil
}

// lookBounded updates both versions' confidence sequences with one look and
// decides. Each of the four one-sided bounds is at level α/2, so a false
// Fail (or a false Pass) has probability at most α over all looks.
func (s SequentialSpec) lookBounded(st SequentialState, ds, dc Totals) (Measurement, SequentialState, error) {
	if err := checkScores("stable", ds); err != nil {
		return Measurement{}, st, err
	}
	if err := checkScores("canary", dc); err != nil {
		return Measurement{}, st, err
	}
	sa, ca := ArmCS{}, ArmCS{}
	if st.StableArm != nil {
		sa = *st.StableArm
	}
	if st.CanaryArm != nil {
		ca = *st.CanaryArm
	}
	a := s.Alpha / 2
	if ds.Count > 0 {
		sa.add(ds.Count, ds.Sum, ds.SumSquares, a)
		st.StableSamples += ds.Count
	}
	if dc.Count > 0 {
		ca.add(dc.Count, dc.Sum, dc.SumSquares, a)
		st.CanarySamples += dc.Count
	}
	st.StableArm, st.CanaryArm = &sa, &ca
	if sa.N == 0 || ca.N == 0 {
		return Measurement{Verdict: Inconclusive, NoData: true, Reason: fmt.Sprintf("no data yet: %d stable and %d canary scores since the baseline", sa.N, ca.N)}, st, nil
	}
	return s.decideBounded(st, sa, ca), st, nil
}

// decideBounded compares the two confidence sequences with the margin.
func (s SequentialSpec) decideBounded(st SequentialState, sa, ca ArmCS) Measurement {
	ls, us := sa.Bounds()
	lc, uc := ca.Bounds()
	m := s.MinEffect
	var fail, pass bool
	switch {
	case s.WorseWhen == WorseLower && s.AbsoluteEffect:
		fail, pass = ls-uc > m, us-lc < m
	case s.WorseWhen == WorseLower:
		fail, pass = uc < (1-m)*ls, lc > (1-m)*us
	case s.AbsoluteEffect:
		fail, pass = lc-us > m, uc-ls < m
	default:
		fail, pass = lc > (1+m)*us, uc < (1+m)*ls
	}
	meanC, meanS := ca.Sum/float64(ca.N), sa.Sum/float64(sa.N)
	out := Measurement{Canary: []float64{meanC}, Stable: []float64{meanS}, Result: []float64{lc, uc, ls, us}}
	margin := fmt.Sprintf("%s%%", fmtNum(100*m))
	if s.AbsoluteEffect {
		margin = fmtNum(m)
	}
	what := fmt.Sprintf("canary %s %s (%d scores, %.0f%% interval %s–%s) vs stable's %s (%d scores, %s–%s)",
		s.metric(), fmtNum(meanC), ca.N, 100*(1-s.Alpha), fmtNum(lc), fmtNum(uc), fmtNum(meanS), sa.N, fmtNum(ls), fmtNum(us))
	switch {
	case fail:
		out.Verdict = Fail
		out.Reason = fmt.Sprintf("regression: %s; worse by more than %s, shown at alpha %s", what, margin, fmtNum(s.Alpha))
	case pass && st.CanarySamples >= s.MinSamples:
		out.Verdict = Pass
		out.Reason = fmt.Sprintf("no regression: %s; not worse by more than %s, shown at alpha %s", what, margin, fmtNum(s.Alpha))
	case pass:
		out.Verdict = Inconclusive
		out.Reason = fmt.Sprintf("not worse by more than %s, but only %d of the %d canary samples required: %s", margin, st.CanarySamples, s.MinSamples, what)
	default:
		out.Verdict = Inconclusive
		out.Reason = fmt.Sprintf("not yet shown either way: %s; margin %s", what, margin)
	}
	return out
}
