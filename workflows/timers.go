package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// changeCancelTimers versions waits that end before their timeout: the
// timer is cancelled then, in the same workflow task. The SDK's
// AwaitWithOptions leaves it running (its flag to cancel it,
// SDKFlagCancelAwaitTimerOnCondition, is off in sdk v1.50.0), so a pause cut
// short by promote, an answered gate or a look taken along with another
// metric's later fired a timer and spent a workflow task that changed
// nothing. Rollouts recorded before it left those timers running.
const changeCancelTimers = "cancel-timers"

// awaitFor blocks until cond holds or d has passed, and reports whether
// cond held, as workflow.AwaitWithOptions does; with changeCancelTimers its
// timer is cancelled when cond comes first.
func awaitFor(ctx workflow.Context, d time.Duration, summary string, cond func() bool) (bool, error) {
	opts := workflow.TimerOptions{Summary: summary}
	if !has(ctx, changeCancelTimers) {
		return workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: d, TimerOptions: opts}, cond)
	}
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	t := workflow.NewTimerWithOptions(tctx, d, opts)
	if err := workflow.Await(ctx, func() bool { return cond() || t.IsReady() }); err != nil {
		return false, err
	}
	return cond(), nil
}
