package workflows

import (
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// Change ids of the operator's way out of a rollback (issue 19).
const (
	// changeNoopRollback: a rollback before any traffic change reached the
	// router records a no-op and ends at once.
	changeNoopRollback = "noop-rollback"
	// changeForceAbort: the reset loop alerts at its first failure, an
	// abort while rolling back retries at once, and abort --force ends it.
	changeForceAbort = "force-abort"
)

// changesTraffic reports whether an activity writes the router's split.
func changesTraffic(name string) bool {
	switch name {
	case api.NameSetWeight, api.NameSetSegmentWeight, api.NameSetShadow, api.NamePromoteTraffic:
		return true
	}
	return false
}

// isUntouched reports whether a traffic change failed without reaching
// the router on any attempt.
func isUntouched(err error) bool {
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) {
		return false
	}
	if ae.Type() == api.ErrorTypeTrafficUntouched {
		return true // recorded before the kind was kept
	}
	var detail string
	return ae.HasDetails() && ae.Details(&detail) == nil && detail == api.TrafficUntouched
}

// forceable records, once per rollback, whether this rollback runs the
// reset loop that abort and abort --force can reach.
func (r *rollout) forceable(ctx workflow.Context) bool {
	r.canForce = has(ctx, changeForceAbort)
	return r.canForce
}

// forcible runs an activity that abort --force may cut short: forced
// reports that it was cancelled for that. An abort --force that came
// before the activity started lets it run.
func (r *rollout) forcible(ctx workflow.Context, opts workflow.ActivityOptions, name string, in, out any) (forced bool, err error) {
	forcedBefore := r.ctl.Forced != nil
	actx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	f := workflow.ExecuteActivity(workflow.WithActivityOptions(actx, opts), name, in)
	if err := workflow.Await(ctx, func() bool { return f.IsReady() || !forcedBefore && r.ctl.Forced != nil }); err != nil {
		return false, err
	}
	if !f.IsReady() {
		return true, nil
	}
	return false, f.Get(ctx, out)
}

// returnTraffic sends all traffic back to stable with in, retrying until
// the router confirms, and reports whether an abort --force ended it
// first. A Rollout's compensation retries every failure
// (stopOnPermanent false); a Rollback stops at a non-retryable one and
// returns it, as it does when the workflow is cancelled.
func (r *rollout) returnTraffic(ctx workflow.Context, in api.TrafficInput, stopOnPermanent bool) (forced bool, err error) {
	opts := api.Options(api.NameResetTraffic)
	opts.Summary = "return all traffic to " + r.st.Stable.Name
	for attempt := 1; ; attempt++ {
		var ts api.TrafficState
		forced, err := r.forcible(ctx, opts, api.NameResetTraffic, in, &ts)
		switch {
		case forced:
			return true, nil
		case err == nil:
			r.st.ResetFailures, r.st.ResetError = 0, ""
			return false, nil
		case ctx.Err() != nil:
			return false, err
		}
		var ae *temporal.ApplicationError
		if stopOnPermanent && errors.As(err, &ae) && ae.NonRetryable() {
			return false, err
		}
		r.resetFailed(ctx, attempt, err)
		if r.ctl.Forced != nil {
			return true, nil
		}
		r.ctl.RetryNow = false
		if _, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout:      retryBackoff(attempt),
			TimerOptions: workflow.TimerOptions{Summary: "retry returning traffic to " + r.st.Stable.Name},
		}, func() bool { return r.ctl.Forced != nil || r.ctl.RetryNow }); err != nil {
			return false, err
		}
		if r.ctl.Forced != nil {
			return true, nil
		}
	}
}

// resetFailed records a failed attempt to return traffic in the status
// and the history, and alerts at the first failure and every third after,
// with the cause and the way out.
func (r *rollout) resetFailed(ctx workflow.Context, attempt int, err error) {
	r.st.ResetFailures, r.st.ResetError = attempt, reasonText(err)
	r.event(ctx, "rollback", "", fmt.Sprintf("could not return traffic to %s (attempt %d): %s", r.st.Stable.Name, attempt, r.st.ResetError))
	if attempt == 1 || attempt%resetAlertEvery == 0 {
		r.notify(ctx, plans.EventRolledBack, fmt.Sprintf("coalmine cannot return %s traffic to %s (attempt %d): %s. It keeps trying; check %s. To end the %s leaving traffic as it is: coalmine abort %s --force --reason WHY.",
			r.st.App, r.st.Stable.Name, attempt, sentence(r.st.ResetError), r.routerText(), r.what(), r.st.App), nil)
	}
}

// abandon ends a rollout (or a Rollback) whose traffic could not be
// returned to stable, on an operator's abort --force: the status, the
// history and Slack say what traffic was last read, which router could
// not be reached and what to check.
func (r *rollout) abandon(ctx workflow.Context) error {
	f := r.ctl.Forced
	r.st.Phase = PhaseAbandoned
	msg := fmt.Sprintf("%s %s: %s ended the %s with abort --force (%s) without returning traffic to %s. %s. The %s; check %s, then set the split by hand or start a new rollout.",
		r.st.App, r.st.Canary.Name, by(*f), r.what(), sentence(f.Reason), r.st.Stable.Name, r.lastRead(), r.resetFailure(), r.checkText())
	r.st.Reason = msg
	r.event(ctx, "abandoned", by(*f), msg)
	if r.rollbackIn == nil {
		r.metrics(ctx).WithTags(map[string]string{"outcome": string(PhaseAbandoned)}).Counter(MetricRollouts).Inc(1)
	}
	r.notify(ctx, plans.EventRolledBack, msg, nil)
	r.refresh(ctx)
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return temporal.NewNonRetryableApplicationError(msg, ErrorTypeAbandoned, nil)
}

// what names the workflow for people: "rollout" or "rollback".
func (r *rollout) what() string {
	if r.rollbackIn != nil {
		return "rollback"
	}
	return "rollout"
}

// lastRead says what the router's split was when coalmine last read it.
// A Rollback starts from all traffic on the version it leaves.
func (r *rollout) lastRead() string {
	if r.rollbackIn != nil {
		return fmt.Sprintf("As coalmine last knew it, %s serves all traffic; a reset under way when the router went away may have taken effect", r.st.Canary.Name)
	}
	if !r.ctl.Changed {
		return fmt.Sprintf("Traffic was never changed: %s serves all of it", r.st.Stable.Name)
	}
	parts := []string{fmt.Sprintf("%s %s%%", r.st.Canary.Name, pct(r.st.Weight))}
	if a := r.st.AchievedWeight; a != nil {
		parts[0] = fmt.Sprintf("%s %s%% (asked %s%%)", r.st.Canary.Name, pct(*a), pct(r.st.Weight))
	}
	for _, seg := range sortedKeys(r.st.SegmentWeights) {
		parts = append(parts, fmt.Sprintf("segment %s %s%%", seg, pct(r.st.SegmentWeights[seg])))
	}
	if r.st.ShadowPercent > 0 {
		parts = append(parts, fmt.Sprintf("shadow %s%%", pct(r.st.ShadowPercent)))
	}
	return "As last read from the router, traffic is " + strings.Join(parts, ", ") + "; a change under way when the router went away may not show here"
}

// resetFailure says how returning traffic failed, for the abandon message.
func (r *rollout) resetFailure() string {
	switch {
	case r.restoring != "":
		return fmt.Sprintf("rollback was cut short while %s was being given %s back: it may run either version now, and traffic was not returned", r.restoring, r.st.Stable.Name)
	case r.st.ResetFailures == 0:
		return "reset was cut short before the router answered"
	}
	return fmt.Sprintf("reset failed %s, last: %s", times(r.st.ResetFailures), sentence(r.st.ResetError))
}

// checkText says what to check after an abandon: the Deployment a
// Rollback was restoring, else the router.
func (r *rollout) checkText() string {
	if r.restoring != "" {
		return fmt.Sprintf("the Deployment %s (kubectl rollout status deployment/%s) and the worker's Kubernetes access to it", r.restoring, r.restoring)
	}
	return r.routerText()
}

// routerText names the router and what to check on it.
func (r *rollout) routerText() string {
	t := r.spec.Traffic
	if t.Block != nil {
		return t.Block.WhatToCheck()
	}
	return fmt.Sprintf("the %s router and the worker's access to it", t.Router)
}

// validateAbortRollingBack checks an abort that comes while the rollout
// rolls back: accepted once the reset loop can hear it.
func (r *rollout) validateAbortRollingBack(req Request) error {
	switch {
	case !r.canForce:
		return fmt.Errorf("the rollout of %s is rolling back (%s); traffic is being returned to %s", r.st.App, sentence(r.st.Reason), r.st.Stable.Name)
	case r.ctl.Forced != nil:
		return fmt.Errorf("the rollout of %s is already being ended by %s (abort --force)", r.st.App, by(*r.ctl.Forced))
	}
	return nil
}

// handleAbortRollingBack takes an abort while rolling back: with force the
// rollout (or Rollback) ends leaving traffic as last read, without it the
// reset retries at once and goes on.
func (r *rollout) handleAbortRollingBack(ctx workflow.Context, req Request) (string, error) {
	if err := r.validateAbortRollingBack(req); err != nil {
		return "", err
	}
	if req.Force {
		r.ctl.Forced = &req
		r.event(ctx, "abort", by(req), withReason("abort --force: end the "+r.what()+" without returning traffic to "+r.st.Stable.Name, req))
		return fmt.Sprintf("ending the %s of %s without returning traffic to %s; %s", r.what(), r.st.App, r.st.Stable.Name, strings.ToLower(r.lastRead()[:1])+r.lastRead()[1:]), nil
	}
	r.ctl.RetryNow = true
	r.event(ctx, "abort", by(req), withReason("abort while rolling back: retry returning traffic now", req))
	switch {
	case r.restoring != "":
		return fmt.Sprintf("%s: %s is being given %s back first, then traffic returns to it. To end it at once: coalmine abort %s --force --reason WHY",
			r.alreadyRollingBack(), r.restoring, r.st.Stable.Name, r.st.App), nil
	case r.st.ResetFailures == 0:
		return fmt.Sprintf("%s: traffic is being returned to %s", r.alreadyRollingBack(), r.st.Stable.Name), nil
	}
	return fmt.Sprintf("%s, but returning traffic to %s has failed %s (last: %s); it retries now and keeps trying. To end it leaving traffic as it is: coalmine abort %s --force --reason WHY",
		r.alreadyRollingBack(), r.st.Stable.Name, times(r.st.ResetFailures), sentence(r.st.ResetError), r.st.App), nil
}

// alreadyRollingBack opens the answer to an abort while rolling back.
func (r *rollout) alreadyRollingBack() string {
	if in := r.rollbackIn; in != nil {
		return fmt.Sprintf("%s is already being rolled back from %s to %s by %s", r.st.App, in.From.Name, in.To.Name, in.By)
	}
	return fmt.Sprintf("the rollout of %s is already rolling back", r.st.App)
}

// times says how many times: "once", "2 times".
func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}
