package analysis

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// binom draws from Binomial(n, p) with src.
func binom(src rand.Source, n int64, p float64) int64 {
	if n <= 0 || p <= 0 {
		return 0
	}
	return int64(distuv.Binomial{N: float64(n), P: p, Src: src}.Rand())
}

// aaRun is one simulated A/A rollout: looks of traffic with a drifting
// baseline and a canary share that steps up, as a real rollout does.
type aaRun struct {
	looks    int
	perLook  int64               // requests per look, both versions
	share    func(k int) float64 // canary share at look k
	baseline func(k int) float64 // bad-outcome rate at look k, same for both versions
	next     func(k int, st, ca *Totals, src rand.Source)
}

// falseFails runs A/A rollouts and returns how many ended in Fail and how
// many peeks were taken.
func falseFails(t *testing.T, spec SequentialSpec, runs int, seed uint64, r aaRun, start func() (Totals, Totals)) (fails, peeks int) {
	t.Helper()
	for i := range runs {
		src := rand.NewPCG(seed, uint64(i))
		stable, canary := start()
		st := started(t, spec, stable, canary)
		for k := range r.looks {
			r.next(k, &stable, &canary, src)
			m, next := look(t, spec, st, stable, canary)
			st = next
			peeks++
			if m.Verdict == Fail {
				fails++
				break
			}
			if m.Verdict == Pass {
				break
			}
		}
	}
	return fails, peeks
}

func proportionTraffic(r *aaRun) func(k int, st, ca *Totals, src rand.Source) {
	return func(k int, st, ca *Totals, src rand.Source) {
		nc := binom(src, r.perLook, r.share(k))
		ns := r.perLook - nc
		p := r.baseline(k)
		ca.Count += nc
		ca.Events += binom(src, nc, p)
		st.Count += ns
		st.Events += binom(src, ns, p)
	}
}

func steppedShare(k int) float64 {
	switch {
	case k < 20:
		return 0.05
	case k < 40:
		return 0.25
	}
	return 0.5
}

// TestProportionAAFalseAlarm checks the anytime guarantee on simulated A/A
// traffic: looking after every one of 60 looks, with a drifting error rate
// and the canary share stepping 5% → 25% → 50%, the share of rollouts that
// ever fail stays at or below alpha.
func TestProportionAAFalseAlarm(t *testing.T) {
	tests := []struct {
		name   string
		p      float64
		effect float64
		runs   int
	}{
		{"rare errors, no margin", 0.01, 0, 1000},
		{"rare errors, margin 0.2", 0.01, 0.2, 1000},
		{"common failures, no margin", 0.2, 0, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const alpha = 0.05
			spec := SequentialSpec{Kind: KindProportion, WorseWhen: WorseHigher, Alpha: alpha, MinEffect: tt.effect}
			r := aaRun{looks: 60, perLook: 1200, share: steppedShare,
				baseline: func(k int) float64 { return tt.p * (1 + 0.5*math.Sin(float64(k)/6)) }}
			r.next = proportionTraffic(&r)
			fails, peeks := falseFails(t, spec, tt.runs, 1, r, func() (Totals, Totals) { return Totals{}, Totals{} })
			rate := float64(fails) / float64(tt.runs)
			t.Logf("%d of %d A/A rollouts failed (%.2f%%) over %d peeks", fails, tt.runs, 100*rate, peeks)
			if rate > alpha {
				t.Fatalf("A/A false-fail rate %.3f above alpha %.2f", rate, alpha)
			}
		})
	}
}

// TestHistogramAAFalseAlarm does the same for latency histograms: both
// versions draw from one log-normal latency distribution.
func TestHistogramAAFalseAlarm(t *testing.T) {
	const alpha = 0.05
	les := []float64{0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10}
	probs := make([]float64, len(les))
	ln := distuv.LogNormal{Mu: 0, Sigma: 0.5}
	for i, le := range les {
		probs[i] = ln.CDF(le)
	}
	fill := func(tot *Totals, n int64, src rand.Source) {
		if tot.Buckets == nil {
			for _, le := range les {
				tot.Buckets = append(tot.Buckets, Bucket{Le: le})
			}
		}
		// Multinomial draw over the buckets by successive binomials.
		left, prevP := n, 0.0
		var cum int64
		for i := range les {
			cell := probs[i] - prevP
			c := binom(src, left, min(cell/(1-prevP), 1))
			left -= c
			cum += c
			prevP = probs[i]
			tot.Buckets[i].Count += cum
		}
		tot.Count += n
	}
	spec := SequentialSpec{Kind: KindHistogram, WorseWhen: WorseHigher, Alpha: alpha, MinEffect: 0.1}
	r := aaRun{looks: 60, perLook: 1200, share: steppedShare}
	r.next = func(k int, st, ca *Totals, src rand.Source) {
		nc := binom(src, r.perLook, r.share(k))
		fill(ca, nc, src)
		fill(st, r.perLook-nc, src)
	}
	const runs = 400
	fails, peeks := falseFails(t, spec, runs, 2, r, func() (Totals, Totals) {
		var st, ca Totals
		fill(&st, 10000, rand.NewPCG(99, 99))
		fill(&ca, 0, nil)
		return st, ca
	})
	rate := float64(fails) / runs
	t.Logf("%d of %d A/A rollouts failed (%.2f%%) over %d peeks", fails, runs, 100*rate, peeks)
	if rate > alpha {
		t.Fatalf("A/A false-fail rate %.3f above alpha %.2f", rate, alpha)
	}
}

// TestBoundedAAFalseAlarm checks the confidence sequences on A/A scores
// drawn from one Beta distribution.
func TestBoundedAAFalseAlarm(t *testing.T) {
	const alpha = 0.05
	spec := SequentialSpec{Kind: KindBounded, WorseWhen: WorseLower, Alpha: alpha, MinEffect: 0}
	const runs = 400
	fails := 0
	for i := range runs {
		src := rand.NewPCG(3, uint64(i))
		beta := distuv.Beta{Alpha: 8, Beta: 2, Src: src}
		var stable, canary Totals
		st := started(t, spec, stable, canary)
		for k := range 60 {
			nc := binom(src, 300, steppedShare(k))
			for j := int64(0); j < 300; j++ {
				x := beta.Rand()
				tot := &stable
				if j < nc {
					tot = &canary
				}
				tot.Count++
				tot.Sum += x
				tot.SumSquares += x * x
			}
			m, next := look(t, spec, st, stable, canary)
			st = next
			if m.Verdict == Fail {
				fails++
				break
			}
		}
	}
	rate := float64(fails) / runs
	t.Logf("%d of %d A/A rollouts failed (%.2f%%)", fails, runs, 100*rate)
	if rate > alpha {
		t.Fatalf("A/A false-fail rate %.3f above alpha %.2f", rate, alpha)
	}
}

// TestProportionDetects is the other side: a canary with five times the
// error rate is failed in almost every rollout, and an A/A canary with a
// margin of 20% is eventually passed with enough traffic.
func TestProportionDetects(t *testing.T) {
	tests := []struct {
		name     string
		canaryP  float64
		effect   float64
		want     Verdict
		minShare float64
	}{
		{"1% to 5% fails", 0.05, 0.2, Fail, 0.95},
		{"A/A with margin passes", 0.01, 0.2, Pass, 0.8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := SequentialSpec{Kind: KindProportion, WorseWhen: WorseHigher, Alpha: 0.05, MinEffect: tt.effect}
			const runs = 200
			hits := 0
			for i := range runs {
				src := rand.NewPCG(4, uint64(i))
				var stable, canary Totals
				st := started(t, spec, stable, canary)
				for range 200 {
					nc := binom(src, 12000, 0.1)
					canary.Count += nc
					canary.Events += binom(src, nc, tt.canaryP)
					stable.Count += 12000 - nc
					stable.Events += binom(src, 12000-nc, 0.01)
					m, next := look(t, spec, st, stable, canary)
					st = next
					if m.Final {
						if m.Verdict == tt.want {
							hits++
						}
						break
					}
				}
			}
			if share := float64(hits) / runs; share < tt.minShare {
				t.Fatalf("%s in %.2f of rollouts, want at least %.2f", tt.want, share, tt.minShare)
			}
		})
	}
}

// Both ends of rateCS grow with the count for a fixed number of trials:
// quantileBracket's validity with one sequence per side rests on it.
func TestRateCSMonotoneInTheCount(t *testing.T) {
	for _, n := range []int64{1, 7, 100, 5000} {
		for _, a := range []float64{0.01, 0.025, 0.05} {
			plo, phi := rateCS(0, n, a)
			for x := int64(1); x <= n; x += max(1, n/200) {
				lo, hi := rateCS(x, n, a)
				if lo < plo-1e-12 || hi < phi-1e-12 {
					t.Fatalf("n %d, a %v: x %d gives [%v, %v], below x−1's [%v, %v]", n, a, x, lo, hi, plo, phi)
				}
				plo, phi = lo, hi
			}
		}
	}
}

// An identical canary judged by compare with confidence, a look a minute
// for three hours: quantile limits on latency and a floor on the success
// rate fail no more often than alpha.
func TestConfidenceLimitsAAFalseFails(t *testing.T) {
	if testing.Short() {
		t.Skip("Monte-Carlo run")
	}
	les := []float64{0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10}
	lognormal := distuv.LogNormal{Mu: math.Log(1.2), Sigma: 0.5}
	probs := make([]float64, len(les)+1)
	prev := 0.0
	for i, le := range les {
		probs[i] = lognormal.CDF(le) - prev
		prev = lognormal.CDF(le)
	}
	probs[len(les)] = 1 - prev
	inc, dec, floor := 0.5, 0.02, 0.0
	cases := []struct {
		name string
		lim  ConfidenceLimits
		draw func(src rand.Source, n int64, t *Totals)
	}{
		{"p99 within 1.5x stable's", ConfidenceLimits{Kind: KindHistogram, Quantile: 0.99, MaxRelativeIncrease: &inc},
			func(src rand.Source, n int64, t *Totals) { addHistogram(src, n, les, probs, t) }},
		{"p50 not below 0.98x stable's", ConfidenceLimits{Kind: KindHistogram, Quantile: 0.5, MaxRelativeDecrease: &dec},
			func(src rand.Source, n int64, t *Totals) { addHistogram(src, n, les, probs, t) }},
		{"success at least 0.98x stable's", ConfidenceLimits{Kind: KindProportion, Successes: true, MaxRelativeDecrease: &dec, MinAbsolute: &floor},
			func(src rand.Source, n int64, t *Totals) { t.Count += n; t.Events += binom(src, n, 0.99) }},
	}
	const runs, looks, alpha = 100, 180, 0.05
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lim := c.lim
			lim.Alpha = alpha
			fails := 0
			for i := range runs {
				src := rand.NewPCG(7, uint64(i))
				var st ConfidenceState
				var stable, canary Totals
				for k := range looks + 1 {
					if k > 0 {
						c.draw(src, 1140, &stable) // 20 req/s at a 5% canary share
						c.draw(src, 60, &canary)
					}
					m, next, err := lim.Look(st, stable, canary)
					if err != nil {
						t.Fatal(err)
					}
					st = next
					if m.Verdict == Fail {
						fails++
						break
					}
				}
			}
			if rate := float64(fails) / runs; rate > alpha {
				t.Errorf("A/A false fails %d of %d (%.1f%%), above alpha %v", fails, runs, 100*rate, alpha)
			}
		})
	}
}

// addHistogram adds n requests drawn over the buckets (the last share is
// above the last bound) to the cumulative histogram t.
func addHistogram(src rand.Source, n int64, les, probs []float64, t *Totals) {
	if t.Buckets == nil {
		for _, le := range les {
			t.Buckets = append(t.Buckets, Bucket{Le: le})
		}
	}
	t.Count += n
	left, rest := n, 1.0
	var cum int64
	for i := range les {
		c := binom(src, left, min(probs[i]/rest, 1))
		left -= c
		rest -= probs[i]
		cum += c
		t.Buckets[i].Count += cum
	}
}
