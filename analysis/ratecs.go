package analysis

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// rateCS returns a confidence sequence [lo, hi] at level a for a Bernoulli
// rate from x events in n trials: Robbins' beta-binomial mixture with a
// uniform prior, valid at every n at once for independent trials,
//
//	{p : log B(1+x, 1+n−x) − log B(1, 1) − x·log p − (n−x)·log(1−p) < log(1/a)}.
//
// The log-mixture is convex in p with its minimum at x/n, so each end is
// found by bisection.
func rateCS(x, n int64, a float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	fx, fn := float64(x), float64(n)
	lb := mathext.Lbeta(1+fx, 1+fn-fx)
	limit := math.Log(1 / a)
	logM := func(p float64) float64 {
		v := lb
		if x > 0 {
			v -= fx * math.Log(p)
		}
		if n > x {
			v -= (fn - fx) * math.Log1p(-p)
		}
		return v
	}
	phat := fx / fn
	bisect := func(in, out float64) float64 {
		// logM(in) < limit ≤ logM(out)
		for range 200 {
			mid := (in + out) / 2
			if logM(mid) < limit {
				in = mid
			} else {
				out = mid
			}
			if math.Abs(out-in) <= 1e-12*max(phat, 1e-12) {
				break
			}
		}
		return (in + out) / 2
	}
	lo, hi = 0, 1
	if x > 0 {
		lo = bisect(phat, 0)
	}
	if x < n {
		hi = bisect(phat, 1)
	}
	return lo, hi
}
