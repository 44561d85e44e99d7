package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

// runStep runs one step. A step that waits can be resumed by a new run
// after continue-as-new: its progress lives in r.ctl and r.st.
func (r *rollout) runStep(ctx workflow.Context, s plans.Step) error {
	if !r.ctl.Entered && r.ctl.Deadline.IsZero() && !r.ctl.Inconclusive && len(r.st.Analysis) == 0 {
		r.event(ctx, "step", "", stepLabel(r.st.Step, r.st.Steps))
	}
	switch stepKind(s) {
	case kindSetWeight:
		return r.setWeight(ctx, *s.SetWeight)
	case kindSetSegmentWeight:
		return r.setSegmentWeight(ctx, *s.SetSegmentWeight)
	case kindPause:
		return r.pause(ctx, *s.Pause)
	case kindApproval:
		return r.approval(ctx, s.Approval)
	case kindAnalysis:
		return r.analysisStep(ctx, *s.Analysis)
	case kindShadow:
		return r.shadow(ctx, *s.Shadow)
	}
	return stop("step %d sets no field", r.st.Step+1)
}

// stepFailed is the reason to roll back when a step's activity failed.
func (r *rollout) stepFailed(err error) error {
	return stop("%s failed: %s", stepLabel(r.st.Step, r.st.Steps), sentence(errText(err)))
}

func (r *rollout) setWeight(ctx workflow.Context, w float64) error {
	if err := r.mu.Lock(ctx); err != nil {
		return err
	}
	defer r.mu.Unlock()
	var ts api.TrafficState
	in := api.WeightInput{TrafficInput: r.trafficInput(), Weight: w}
	if err := r.exec(ctx, "setWeight "+pct(w), api.NameSetWeight, in, &ts); err != nil {
		return r.stepFailed(err)
	}
	r.st.Weight = ts.CanaryWeight
	r.exposed(ctx)
	r.st.AchievedWeight = nil
	if a := ts.AchievedWeight; a != nil && *a != ts.CanaryWeight {
		r.st.AchievedWeight = a
		r.event(ctx, "weight", "", fmt.Sprintf("%s gets %s%% of traffic (asked %s%%; whole replicas allow no closer)", r.st.Canary.Name, pct(*a), pct(ts.CanaryWeight)))
		return nil
	}
	r.event(ctx, "weight", "", fmt.Sprintf("%s gets %s%% of traffic", r.st.Canary.Name, pct(ts.CanaryWeight)))
	return nil
}

func (r *rollout) setSegmentWeight(ctx workflow.Context, sw plans.SegmentWeight) error {
	if err := r.mu.Lock(ctx); err != nil {
		return err
	}
	defer r.mu.Unlock()
	var ts api.TrafficState
	in := api.SegmentWeightInput{TrafficInput: r.trafficInput(), Segment: sw.Segment, Weight: sw.Weight}
	if err := r.exec(ctx, fmt.Sprintf("setSegmentWeight %s %s", sw.Segment, pct(sw.Weight)), api.NameSetSegmentWeight, in, &ts); err != nil {
		return r.stepFailed(err)
	}
	if r.st.SegmentWeights == nil {
		r.st.SegmentWeights = map[string]float64{}
	}
	r.st.SegmentWeights[sw.Segment] = sw.Weight
	if v, ok := ts.SegmentWeights[sw.Segment]; ok {
		r.st.SegmentWeights[sw.Segment] = v
	}
	r.exposed(ctx)
	r.event(ctx, "weight", "", fmt.Sprintf("%s gets %s%% of segment %s", r.st.Canary.Name, pct(r.st.SegmentWeights[sw.Segment]), sw.Segment))
	return nil
}

func (r *rollout) pause(ctx workflow.Context, p plans.Pause) error {
	if p.Duration == nil || p.Duration.Duration <= 0 {
		return r.gate(ctx, waitGate, "a person to promote (pause without a duration)", time.Time{}, nil)
	}
	if r.ctl.Deadline.IsZero() {
		r.ctl.Deadline = workflow.Now(ctx).Add(p.Duration.Duration)
	}
	skipped := false
	_, err := r.wait(ctx, waitPause, "pause of "+p.Duration.String(), r.ctl.Deadline, func() bool {
		skipped = r.ctl.Skip
		return skipped
	})
	if err == nil && skipped {
		r.event(ctx, "pause", "", "pause cut short by promote")
	}
	return err
}

func (r *rollout) approval(ctx workflow.Context, a *plans.Approval) error {
	timeout := approvalTimeout(a)
	if r.ctl.Deadline.IsZero() {
		r.ctl.Deadline = workflow.Now(ctx).Add(timeout.Duration)
	}
	timedOut, err := r.gateWithDeadline(ctx, waitApproval, fmt.Sprintf("an approver to promote or abort (times out after %s, then %s)", timeout, onTimeout(a)), r.ctl.Deadline, a)
	if err != nil || !timedOut {
		return err
	}
	now := workflow.Now(ctx)
	if onTimeout(a) == plans.OnTimeoutPromote {
		r.st.Approvals = append(r.st.Approvals, Approval{Step: r.st.Step, Decision: "timed out, promoted", At: now})
		r.event(ctx, "approval", "", fmt.Sprintf("nobody decided within %s: going on, as onTimeout says", timeout))
		return nil
	}
	r.st.Approvals = append(r.st.Approvals, Approval{Step: r.st.Step, Decision: "timed out, rolled back", At: now})
	return stop("nobody approved %s within %s", stepLabel(r.st.Step, r.st.Steps), timeout)
}

func onTimeout(a *plans.Approval) string {
	if a.OnTimeout == plans.OnTimeoutPromote {
		return plans.OnTimeoutPromote
	}
	return plans.OnTimeoutRollback
}

// gate waits for a person with no deadline.
func (r *rollout) gate(ctx workflow.Context, kind, text string, until time.Time, a *plans.Approval) error {
	_, err := r.gateWithDeadline(ctx, kind, text, until, a)
	return err
}

// gateWithDeadline notifies people once, then waits for promote or approve.
func (r *rollout) gateWithDeadline(ctx workflow.Context, kind, text string, until time.Time, a *plans.Approval) (bool, error) {
	if a != nil && a.Approvers != nil {
		r.st.Approvers = append(append([]string(nil), a.Approvers.Users...), a.Approvers.Groups...)
	}
	if !r.ctl.Entered {
		r.ctl.Entered = true
		r.notify(ctx, plans.EventGate, fmt.Sprintf("%s %s waits at %s for %s.", r.st.App, r.st.Canary.Name, stepLabel(r.st.Step, r.st.Steps), text), a)
	}
	timedOut, err := r.wait(ctx, kind, text, until, func() bool { return r.ctl.Skip })
	if err == nil && !timedOut && has(ctx, changeGateDecisionNote) {
		// Say who passed the gate, so the message loses its buttons now.
		r.notify(ctx, plans.EventApproved, fmt.Sprintf("%s %s passed %s.", r.st.App, r.st.Canary.Name, stepLabel(r.st.Step, r.st.Steps)), nil)
	}
	return timedOut, err
}

// changeGateDecisionNote versions the notification sent when a gate is
// passed, which rollouts recorded before it do not have.
const changeGateDecisionNote = "gate-decision-note"

// gateID names the gate of step i, as Status.Gate and Slack buttons carry it.
func gateID(i int) string { return fmt.Sprintf("step-%d", i+1) }

func (r *rollout) shadow(ctx workflow.Context, sh plans.Shadow) error {
	if !r.ctl.Entered {
		if err := r.setShadow(ctx, sh.Percent); err != nil {
			return err
		}
		r.ctl.Entered = true
		r.ctl.Deadline = workflow.Now(ctx).Add(sh.Duration.Duration)
	}
	if _, err := r.wait(ctx, waitShadow, fmt.Sprintf("shadow traffic (%s%% of stable mirrored) for %s", pct(sh.Percent), sh.Duration), r.ctl.Deadline, func() bool { return r.ctl.Skip }); err != nil {
		return err
	}
	return r.setShadow(ctx, 0)
}

func (r *rollout) setShadow(ctx workflow.Context, percent float64) error {
	if err := r.mu.Lock(ctx); err != nil {
		return err
	}
	defer r.mu.Unlock()
	var ts api.TrafficState
	in := api.ShadowInput{TrafficInput: r.trafficInput(), Percent: percent}
	if err := r.exec(ctx, "shadow "+pct(percent)+"%", api.NameSetShadow, in, &ts); err != nil {
		return r.stepFailed(err)
	}
	r.st.ShadowPercent = ts.ShadowPercent
	r.exposed(ctx)
	if percent == 0 {
		r.event(ctx, "shadow", "", "shadow traffic stopped")
	} else {
		r.event(ctx, "shadow", "", fmt.Sprintf("%s%% of stable traffic is mirrored to %s", pct(ts.ShadowPercent), r.st.Canary.Name))
	}
	return nil
}

// analysisStep measures the templates' metrics until each has a result.
// Failed or Error rolls back; Inconclusive waits for a person.
func (r *rollout) analysisStep(ctx workflow.Context, ref plans.AnalysisRef) error {
	if r.ctl.Failed != "" {
		return r.failurePause(ctx)
	}
	if !r.ctl.Inconclusive {
		if !r.ctl.Entered {
			r.st.Analysis = r.metricsFor(ref)
			r.ctl.Entered = true
			if len(r.st.Analysis) == 0 {
				return stop("analysis %s has no metrics", strings.Join(ref.Templates, ", "))
			}
		}
		actx, cancel := workflow.WithCancel(ctx)
		running := 0
		for i := range r.st.Analysis {
			ms := &r.st.Analysis[i]
			if ended(ms) {
				continue
			}
			running++
			workflow.Go(actx, func(gctx workflow.Context) {
				defer func() { running-- }()
				r.measureLoop(gctx, ms, ref, false)
			})
		}
		name := "analysis " + strings.Join(ref.Templates, ", ")
		_, err := r.wait(ctx, waitAnalysis, name+": measuring", time.Time{}, func() bool {
			return r.ctl.Skip || analysisDone(r.st.Analysis)
		})
		cancel()
		// Let the measuring coroutines see the cancellation before the state is used.
		_ = workflow.Await(ctx, func() bool { return running == 0 })
		if err != nil {
			return err
		}
		label := fmt.Sprintf("step %d", r.st.Step+1)
		if !analysisDone(r.st.Analysis) {
			r.addVerdict(ctx, label, "Skipped", "promote skipped the analysis")
			return nil
		}
		phase, reason := summarize(r.st.Analysis)
		r.addVerdict(ctx, label, phase, reason)
		switch phase {
		case analysis.PhaseFailed, analysis.PhaseError:
			switch r.onFailure(r.st.Analysis) {
			case plans.OnFailureNotify:
				r.notify(ctx, plans.EventInconclusive, fmt.Sprintf("%s %s: analysis at step %d failed (%s); its metrics only notify (onFailure: notify), so the rollout goes on.", r.st.App, r.st.Canary.Name, r.st.Step+1, sentence(reason)), nil)
				return nil
			case plans.OnFailurePause:
				r.ctl.Failed = fmt.Sprintf("analysis at step %d failed: %s", r.st.Step+1, sentence(reason))
				r.ctl.Entered = false
				return r.failurePause(ctx)
			}
			return stop("analysis at step %d failed: %s", r.st.Step+1, sentence(reason))
		case analysis.PhaseInconclusive:
			r.ctl.Inconclusive = true
			r.ctl.Entered = false
			r.notify(ctx, plans.EventInconclusive, fmt.Sprintf("%s %s: analysis at step %d is inconclusive (%s); promote to go on or abort to roll back.", r.st.App, r.st.Canary.Name, r.st.Step+1, sentence(reason)), nil)
		default:
			return nil
		}
	}
	r.ctl.Entered = true
	_, err := r.wait(ctx, waitInconclusive, "a person to promote or abort: the analysis was inconclusive", time.Time{}, func() bool { return r.ctl.Skip })
	return err
}

// onFailure is what a failed analysis does: rollback when any failed
// metric says so (or its provider cannot be measured), else pause when
// any says so, else notify.
func (r *rollout) onFailure(ms []MetricStatus) string {
	act := plans.OnFailureNotify
	for i := range ms {
		g := ms[i].Assessment.Gate()
		if g != analysis.PhaseFailed && g != analysis.PhaseError {
			continue
		}
		m, _ := r.metric(ms[i].Template, ms[i].Metric)
		switch {
		case g == analysis.PhaseError || m.OnFailure == "" || m.OnFailure == plans.OnFailureRollback:
			return plans.OnFailureRollback
		case m.OnFailure == plans.OnFailurePause:
			act = plans.OnFailurePause
		}
	}
	return act
}

// failurePause holds the rollout at its current weight after a failure
// whose metrics say onFailure: pause, as an approval gate: promote (or the
// Slack button) goes on, abort rolls back, and after the approval timeout
// the rollout rolls back.
func (r *rollout) failurePause(ctx workflow.Context) error {
	why := r.ctl.Failed
	a := &plans.Approval{Timeout: plans.Duration{Duration: defaultApprovalTimeout}, OnTimeout: plans.OnTimeoutRollback}
	if r.ctl.Deadline.IsZero() {
		r.ctl.Deadline = workflow.Now(ctx).Add(defaultApprovalTimeout)
	}
	text := fmt.Sprintf("a person to review: %s (onFailure: pause; promote goes on, abort rolls back, rolls back after %s)", why, a.Timeout)
	timedOut, err := r.gateWithDeadline(ctx, waitFailed, text, r.ctl.Deadline, a)
	r.ctl.Skip = false
	if err != nil {
		return err
	}
	if timedOut {
		r.st.Approvals = append(r.st.Approvals, Approval{Step: r.st.Step, Decision: "timed out, rolled back", At: workflow.Now(ctx)})
		return stop("nobody reviewed the failure within %s: %s", a.Timeout, why)
	}
	return nil
}

// exposed notes whether the canary has a share of traffic now, for the
// metrics' noDataTimeout.
func (r *rollout) exposed(ctx workflow.Context) {
	share := r.st.Weight > 0 || r.st.ShadowPercent > 0
	//workflowcheck:ignore any share will do: the order does not matter
	for _, w := range r.st.SegmentWeights {
		share = share || w > 0
	}
	switch {
	case !share:
		r.st.CanaryTrafficSince = time.Time{}
	case r.st.CanaryTrafficSince.IsZero():
		r.st.CanaryTrafficSince = workflow.Now(ctx)
	}
}

// exposedAt is how long the canary will have had a share of traffic at the
// time at, if it keeps it; 0 when it has none now.
func (r *rollout) exposedAt(at time.Time) time.Duration {
	if r.st.CanaryTrafficSince.IsZero() {
		return 0
	}
	return at.Sub(r.st.CanaryTrafficSince)
}
