package main

import (
	"errors"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// mwResult is a two-sided Mann–Whitney (Wilcoxon rank-sum) comparison of
// x (experiment) with y (control): the location-shift confidence interval
// and the Hodges–Lehmann-type estimate, found by inverting the normal
// approximation with tie and continuity corrections, as Kayenta does.
type mwResult struct {
	lower, upper, estimate float64
}

// errAllTied is returned when every observation is equal: there is no
// interval to invert.
var errAllTied = errors.New("mann-whitney: all observations tied")

// mannWhitney returns the conf-level interval for the shift d such that
// x − d and y have the same location.
func mannWhitney(x, y []float64, conf float64) (mwResult, error) {
	if len(x) == 0 || len(y) == 0 {
		return mwResult{}, errors.New("mann-whitney: empty sample")
	}
	lo := slices.Min(x) - slices.Max(y)
	hi := slices.Max(x) - slices.Min(y)
	buf := make([]obs, len(x)+len(y))
	zq := distuv.UnitNormal.Quantile(1 - (1-conf)/2)
	// f(d) = standardized statistic of (x − d, y) − zq; decreasing in d.
	f := func(d, zq float64) (float64, error) {
		z, err := wStat(x, y, d, buf)
		return z - zq, err
	}
	root := func(zq float64) (float64, error) {
		fl, err := f(lo, zq)
		if err != nil {
			return 0, err
		}
		if fl <= 0 {
			return lo, nil
		}
		fh, err := f(hi, zq)
		if err != nil {
			return 0, err
		}
		if fh >= 0 {
			return hi, nil
		}
		a, b := lo, hi
		for range 60 {
			m := (a + b) / 2
			fm, err := f(m, zq)
			if err != nil {
				return 0, err
			}
			if fm > 0 {
				a = m
			} else {
				b = m
			}
			if b-a <= 1e-10*max(1, math.Abs(a)) {
				break
			}
		}
		return (a + b) / 2, nil
	}
	var r mwResult
	var err error
	if r.lower, err = root(zq); err != nil {
		return r, err
	}
	if r.upper, err = root(-zq); err != nil {
		return r, err
	}
	if r.estimate, err = root(0); err != nil {
		return r, err
	}
	return r, nil
}

type obs struct {
	v float64
	x bool
}

// wStat is the standardized rank-sum statistic of x − d against y, with
// the tie-corrected variance and a continuity correction of 1/2 toward 0.
func wStat(x, y []float64, d float64, buf []obs) (float64, error) {
	nx, ny := float64(len(x)), float64(len(y))
	buf = buf[:0]
	for _, v := range x {
		buf = append(buf, obs{v - d, true})
	}
	for _, v := range y {
		buf = append(buf, obs{v, false})
	}
	slices.SortFunc(buf, func(a, b obs) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	var rankSumX, ties float64
	for i := 0; i < len(buf); {
		j := i
		for j < len(buf) && buf[j].v == buf[i].v {
			j++
		}
		avg := float64(i+j+1) / 2 // ranks i+1..j
		t := float64(j - i)
		ties += t*t*t - t
		for k := i; k < j; k++ {
			if buf[k].x {
				rankSumX += avg
			}
		}
		i = j
	}
	n := nx + ny
	z := rankSumX - nx*(nx+1)/2 - nx*ny/2
	sigma := math.Sqrt(nx * ny / 12 * ((n + 1) - ties/(n*(n-1))))
	if sigma == 0 {
		return 0, errAllTied
	}
	corr := 0.0
	switch {
	case z > 0:
		corr = 0.5
	case z < 0:
		corr = -0.5
	}
	return (z - corr) / sigma, nil
}
