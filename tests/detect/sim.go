package main

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/stat/distuv"
)

// metricKind is what a scenario measures.
type metricKind int

const (
	errorRate metricKind = iota // share of requests that fail; higher is worse
	latency                     // request latency histogram; higher is worse
	evalPass                    // share of requests whose eval passes; lower is worse
)

// scenario is one kind of change between stable and canary.
type scenario struct {
	name   string
	kind   metricKind
	stable float64 // error rate, latency scale (1 = unchanged) or eval pass rate
	canary float64
	aa     bool
}

// Latency model: log-normal, median 1.2 s, σ = 0.5 (p95 ≈ 2.73 s), with
// the buckets an LLM gateway would export. A regression multiplies every
// canary latency by the scenario's factor, so p95 moves by that factor.
var latencyBuckets = []float64{0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10, 15, 20, 30}

const (
	latencyMedian = 1.2
	latencySigma  = 0.5
)

// bucketProbs returns the probability of each bucket (the last is +Inf) for
// latencies scaled by factor.
func bucketProbs(factor float64) []float64 {
	ln := distuv.LogNormal{Mu: math.Log(latencyMedian * factor), Sigma: latencySigma}
	out := make([]float64, len(latencyBuckets)+1)
	prev := 0.0
	for i, le := range latencyBuckets {
		c := ln.CDF(le)
		out[i] = c - prev
		prev = c
	}
	out[len(latencyBuckets)] = 1 - prev
	return out
}

// minute is one simulated minute of traffic for one rollout.
type minute struct {
	n          [2]int64   // requests: stable, canary
	bad        [2]int64   // errors or failed evals
	hist       [2][]int64 // latency counts per bucket (last is +Inf)
	stableOnly bool
}

const (
	stableArm = 0
	canaryArm = 1
)

// traffic generates per-minute data for one rollout.
type traffic struct {
	sc     scenario
	rps    float64
	share  float64
	rng    *rand.Rand
	src    rand.Source
	probs  [2][]float64
	poisN  distuv.Poisson
	params [2]float64 // per-arm error rate or eval pass rate
}

func newTraffic(sc scenario, rps, share float64, seed1, seed2 uint64) *traffic {
	src := rand.NewPCG(seed1, seed2)
	t := &traffic{sc: sc, rps: rps, share: share, rng: rand.New(src), src: src}
	t.poisN = distuv.Poisson{Lambda: rps * 60, Src: src}
	t.params = [2]float64{sc.stable, sc.canary}
	if sc.kind == latency {
		t.probs = [2][]float64{bucketProbs(sc.stable), bucketProbs(sc.canary)}
	}
	return t
}

func (t *traffic) binom(n int64, p float64) int64 {
	switch {
	case n <= 0 || p <= 0:
		return 0
	case p >= 1:
		return n
	}
	return int64(distuv.Binomial{N: float64(n), P: p, Src: t.src}.Rand())
}

// next draws one minute. With stableOnly all traffic goes to stable (the
// pre-period before the canary starts).
func (t *traffic) next(stableOnly bool) minute {
	total := int64(t.poisN.Rand())
	var m minute
	m.stableOnly = stableOnly
	if stableOnly {
		m.n = [2]int64{total, 0}
	} else {
		c := t.binom(total, t.share)
		m.n = [2]int64{total - c, c}
	}
	for arm := range 2 {
		switch t.sc.kind {
		case errorRate:
			m.bad[arm] = t.binom(m.n[arm], t.params[arm])
		case evalPass:
			m.bad[arm] = t.binom(m.n[arm], 1-t.params[arm])
		case latency:
			m.hist[arm] = t.multinomial(m.n[arm], t.probs[arm])
		}
	}
	return m
}

// multinomial draws n observations over the buckets by successive binomials.
func (t *traffic) multinomial(n int64, probs []float64) []int64 {
	out := make([]int64, len(probs))
	left, rest := n, 1.0
	for i, p := range probs {
		if left == 0 {
			break
		}
		if i == len(probs)-1 || rest <= 0 {
			out[i] = left
			break
		}
		c := t.binom(left, min(p/rest, 1))
		out[i] = c
		left -= c
		rest -= p
	}
	return out
}

// histogramQuantile is Prometheus' histogram_quantile on per-bucket counts
// (the last bucket is +Inf): linear interpolation inside the bucket that
// holds rank q·total, the top finite bound if that is the +Inf bucket.
func histogramQuantile(q float64, les []float64, counts []int64) float64 {
	var total int64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return math.NaN()
	}
	rank := q * float64(total)
	var cum int64
	for i, c := range counts {
		if float64(cum+c) >= rank && c > 0 {
			if i == len(les) {
				return les[len(les)-1]
			}
			start := 0.0
			if i > 0 {
				start = les[i-1]
			}
			return start + (les[i]-start)*(rank-float64(cum))/float64(c)
		}
		cum += c
	}
	return les[len(les)-1]
}

// quantileOfProbs is histogram_quantile on the bucket probabilities
// themselves: the value an operator reads off a long-run dashboard.
func quantileOfProbs(q float64, probs []float64) float64 {
	counts := make([]int64, len(probs))
	for i, p := range probs {
		counts[i] = int64(math.Round(p * 1e9))
	}
	return histogramQuantile(q, latencyBuckets, counts)
}
