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
// combines metrics.
//
// # Conditions and comparisons
//
// [CompileCondition] compiles an expr-lang expression such as
// `result >= 0.95`; `result`, `stable` and `canary` are in scope, each a number
// or a list, and Argo-style `result[0]` works on a number too.
// [EvaluateConditions] judges a look as Argo does. [Compare] checks a
// canary value against stable's with relative (ratio) and absolute limits.
package analysis
