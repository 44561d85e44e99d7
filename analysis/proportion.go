package analysis

import (
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
