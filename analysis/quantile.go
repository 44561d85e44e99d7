package analysis

import (
	"math"
	"sort"
)

// quantileBracket brackets quantile p of a histogram with confidence: with
// probability at least 1 − a for every look at once, for requests alike
// over time, the p-quantile Q lies in (lo, hi].
//
// Only the bucket bounds are known, so each side is a bound b. With F(b) the
// share of requests at most b and [L, U] Robbins' confidence sequence for it
// (rateCS at a): hi is the smallest b with L(b) ≥ p (then F(b) ≥ p, so
// Q ≤ b), lo the largest b with U(b) < p (then F(b) < p, so Q > b). +Inf
// and −Inf mean that side is not shown yet. A limit between two bounds
// is therefore read conservatively: nothing is shown finer than a bucket.
//
// One sequence at a suffices for each side although b is chosen from the
// data: both ends of rateCS grow with the count for a fixed n, and F̂ grows
// with b, so a hi below the true quantile implies L(b*) ≥ p at the fixed
// bound b* just below it, where F(b*) < p — a miss of that one sequence;
// likewise a lo at or above it implies a miss at the first bound where
// F ≥ p.
func quantileBracket(t Totals, p, a float64) (lo, hi float64) {
	lo, hi = math.Inf(-1), math.Inf(1)
	if t.Count <= 0 {
		return lo, hi
	}
	bs := t.Buckets
	cs := func(i int) (float64, float64) { return rateCS(min(max(bs[i].Count, 0), t.Count), t.Count, a) }
	// Both ends grow with the bound (see above): search, do not scan.
	if i := sort.Search(len(bs), func(i int) bool { _, u := cs(i); return u >= p }); i > 0 {
		lo = bs[i-1].Le
	}
	if i := sort.Search(len(bs), func(i int) bool { l, _ := cs(i); return l >= p }); i < len(bs) {
		hi = bs[i].Le
	}
	return lo, hi
}
