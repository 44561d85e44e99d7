package workflows

import "go.temporal.io/sdk/workflow"

// changeBaseline stands for every change of baselineChanges at once. A
// rollout records it as the first thing it does: one version marker, and
// one upsert of the TemporalChangeVersion search attribute that the SDK
// adds to every marker, instead of one marker and one upsert per change
// (twelve of each, most in a rollout's first workflow task, each upsert a
// write to the server's visibility store). Rollouts started before it have
// no such marker and ask for each change as they did.
const changeBaseline = "baseline"

// baselineVersion is the newest version of changeBaseline.
const baselineVersion workflow.Version = 1

// baselineChanges maps each change a baseline version stands for to that
// version. A later change is asked for on its own (workflow.GetVersion or
// has), or added here at baselineVersion+1 with baselineVersion raised:
// never at a version that rollouts already recorded.
var baselineChanges = map[string]workflow.Version{
	changeJudgedLooks:      1,
	changeBatchedLooks:     1,
	changeDelayedLooks:     1,
	changeNoopRollback:     1,
	changeForceAbort:       1,
	changeSkipNotify:       1,
	changeRollbackForce:    1,
	changeReviewDeadline:   1,
	changeGateDecisionNote: 1,
	changeCancelTimers:     1,
	changeVerifyTraffic:    1,
	changeWatchTraffic:     1,
}

type baselineKey struct{}

// withBaseline records which baseline the rollout runs with; it must come
// before any other command of the run.
func withBaseline(ctx workflow.Context) workflow.Context {
	v := workflow.GetVersion(ctx, changeBaseline, workflow.DefaultVersion, baselineVersion)
	return workflow.WithValue(ctx, baselineKey{}, v)
}

// has reports whether the rollout of ctx runs with change (version 1 of
// it): every rollout whose baseline stands for it does; others say so
// with the change's own marker.
func has(ctx workflow.Context, change string) bool {
	if at, ok := baselineChanges[change]; ok {
		if v, _ := ctx.Value(baselineKey{}).(workflow.Version); v >= at {
			return true
		}
	}
	return workflow.GetVersion(ctx, change, workflow.DefaultVersion, 1) >= 1
}
