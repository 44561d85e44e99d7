// Package analysis holds coalmine's pure decision logic: it turns metric
// values into verdicts and a series of verdicts into a metric's phase. It
// does no I/O and knows nothing of Temporal, so measure activities can call
// it and record its results in workflow history (changing the math then
// never breaks replay), and it can be fuzzed and benchmarked alone.
//
// # Verdicts and limits
//
// One look at one metric is a [Measurement] with a [Verdict]: Pass, Fail,
// Inconclusive (no data, or the statistics cannot tell yet) or Error (the
// provider failed). Missing data is never a Pass. A [History] keeps the
// counters over all looks and the last few measurements; [Assess] applies
// [Limits] (failureLimit, inconclusiveLimit, consecutiveErrorLimit, count,
// dryRun) to it as Argo Rollouts' assessMetricStatus does, and [Worst]
// combines metrics. The looks of a sequential test that is still gathering
// evidence are marked Pending and do not count against inconclusiveLimit; a
// metric that ends without a single Pass is Inconclusive.
//
// # Conditions and comparisons
//
// [CompileCondition] compiles an expr-lang expression such as
// `result >= 0.95`; `result`, `stable` and `canary` are in scope, each a number
// or a list, and Argo-style `result[0]` works on a number too.
// [EvaluateConditions] judges a look as Argo does. [Compare] checks a
// canary value against stable's with relative (ratio) and absolute limits;
// it takes the values as given and does not account for noise.
//
// # Sequential tests
//
// [SequentialSpec.Look] runs an anytime-valid comparison of canary against
// stable that may be looked at after every measurement, for as long as the
// rollout lasts, without inflating its error rate. Each look takes both
// versions' cumulative counters ([Totals]); the test works on the exact
// integer increments since the previous look (reset-aware) and carries its
// evidence in a [SequentialState] of plain data. The first look records a
// baseline. The decision at each look is
//
//   - Fail as soon as an e-process E^F for the null "canary is worse than
//     stable by at most MinEffect" reaches 1/Alpha;
//   - Pass as soon as an e-process E^P for the null "canary is worse by at
//     least MinEffect" reaches 1/Alpha (and MinSamples canary samples were
//     seen);
//   - Inconclusive otherwise. A decision is final.
//
// An e-process is non-negative with expectation at most 1 under its null at
// every stopping time, so by Ville's inequality P(∃t: E_t ≥ 1/α) ≤ α: the
// chance that a canary no worse than the margin is ever failed, over all
// looks together, is at most Alpha (and likewise for a false Pass). This is
// what makes A/A false rollbacks at most Alpha however often one looks; a
// repeated fixed-sample test has no such bound.
//
// Proportions (KindProportion; errors, failed requests, failed evals): the
// exposure-conditional thinning e-process. Given a look's bad outcomes
// T = x_c + x_s and requests n_c, n_s, the canary's share of them is
// Binomial(T, π) with π = n_c·R / (n_c·R + n_s), where R is the ratio of the
// canary's rate to stable's. The baseline rate cancels, so it may drift
// (daily load, a shared dependency's incident) and the canary share may
// change between looks. The likelihood in θ = log R is mixed over a fixed
// grid (θ from −7 to 7 in steps of 0.02, normal weights with σ = 1); E^F sums
// the grid above θ0 = log(1 + MinEffect), E^P below it, each against the
// likelihood at θ0. Assumptions: within a look, bad outcomes of the two
// versions are independent Poisson or binomial counts with a common time
// profile; with MinEffect = 0 and binomial counts the bound is exact (the
// hypergeometric is dominated in convex order by the binomial), with a
// positive margin and common outcomes the binomial thinning is an
// approximation of order p. Per-request amounts with several events per
// request are over-dispersed and must not be fed to it. With AbsoluteEffect
// the margin δ is a difference of rates: a fifth of Alpha buys a confidence
// sequence [L, U] for stable's rate (Robbins' beta-binomial mixture) and
// E^F and E^P are taken at log(1 + δ/L) and log(1 + δ/U); this needs a steady
// stable rate during the analysis, which the relative form does not.
//
// Latency (KindHistogram): exceedance counts at histogram bucket boundaries
// (requests above b), each tested as a proportion with R0 = 1 + MinEffect.
// The boundaries are fixed at the first look (the plan's, or those between
// stable's pre-period median and 99th percentile). Fail when the mean of the
// boundaries' E^F reaches 1/Alpha (a mean of e-values is an e-value under any
// dependence); Pass when the smallest E^P does (an intersection–union test).
// A "p95" regression is tested at the boundary nearest stable's p95: the
// test speaks about the share of slow requests, not about seconds below
// bucket resolution.
//
// Bounded scores (KindBounded; quality or judge scores in [0, 1]): per
// version, a predictable-plug-in empirical-Bernstein confidence sequence for
// the mean, from count, sum and sum of squares per look (Hoeffding's wider
// bound when no sum of squares is given). Each one-sided bound is at level
// Alpha/2; Fail when the intervals show the canary worse than the margin,
// Pass when they show it is not. Assumptions: scores within a version are
// independent with a constant mean; under drift the bound covers a weighted
// average of the means.
//
// Not covered: only sampling noise is controlled. Real differences that are
// not the change under test (a cold canary against a warm stable) are real
// effects and will be detected. Each metric is tested at its own Alpha; a
// gate with M metrics that fails if any fails has a false-rollback rate of at
// most M·Alpha (use Alpha/M each for an overall bound).
//
// References: M. Lindon, C. Sanden, V. Shirikian, "Rapid Regression Detection
// in Software Deployments through Sequential Testing", KDD 2022
// (arXiv:2205.14762), and the Netflix Tech Blog series "Sequential A/B
// Testing Keeps the World Streaming Netflix"; M. Lindon, A. Malek,
// "Anytime-Valid Inference for Multinomial Count Data", NeurIPS 2022
// (arXiv:2011.03567); S. Howard, A. Ramdas, J. McAuliffe, J. Sekhon,
// "Time-uniform, nonparametric, nonasymptotic confidence sequences", Annals
// of Statistics 2021 (arXiv:1810.08240); I. Waudby-Smith, A. Ramdas,
// "Estimating means of bounded random variables by betting", JRSS-B 2024
// (arXiv:2010.09686); J. Ville, "Étude critique de la notion de
// collectif", 1939; W. Hoeffding, "Probability inequalities for sums of
// bounded random variables", JASA 1963; R. Berger, "Multiparameter
// hypothesis testing and acceptance sampling", Technometrics 1982. The
// derivations and the unit-test numbers are in the repository's ANALYSIS.md.
package analysis
