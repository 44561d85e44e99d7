// Package workflows holds the Rollout workflow: the step engine, gates,
// background analysis, rollback as compensation, the status model, and the
// update, query and signal handlers. Everything here is deterministic
// workflow code: no I/O, the clock only through workflow.Now.
package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// Defaults the workflow applies where a plan leaves a value out.
const (
	defaultApprovalTimeout = 24 * time.Hour
	defaultInterval        = time.Minute
	defaultScaleDownDelay  = 30 * time.Second
	// maxEvents bounds the event log kept in the status (and carried
	// through continue-as-new); older events are counted, not kept.
	maxEvents = 200
	// resetAlertEvery is how many failed attempts to return traffic to
	// stable pass between two notifications about it.
	resetAlertEvery = 3
)

// errContinueAsNew tells the step engine's callers to continue as new.
var errContinueAsNew = errors.New("continue as new")

// stopError stops the steps and rolls back for the reason it carries.
type stopError struct{ reason string }

func (e *stopError) Error() string { return e.reason }

func stop(format string, args ...any) error {
	return &stopError{reason: fmt.Sprintf(format, args...)}
}

// rollout is the state of one Rollout workflow run.
type rollout struct {
	in     Input
	spec   *plans.Spec
	target api.Target
	st     Status
	ctl    Control
	mu     workflow.Mutex
	logger log.Logger

	// bgFailure is set by background analysis when it fails.
	bgFailure string
	bgCancel  workflow.CancelFunc
	bgRunning int

	// The search attribute values last upserted.
	saPhase  Phase
	saWeight float64
	saSet    bool
	// details is the last current-details markdown set.
	details string
	// canForce is set once the rollback runs the reset loop that abort
	// and abort --force reach (change force-abort).
	canForce bool
	// passed is the last wait a promote passed (racing promotes).
	passed *pass
	// waiting are the metrics waiting for their next look (changeBatchedLooks).
	waiting []*lookPeer
	// rollbackIn holds the input of a Rollback workflow, nil in a Rollout.
	rollbackIn *RollbackInput
	// restoring names the Deployment a Rollback is giving the earlier
	// version back to, while it does.
	restoring string
}

// Rollout moves an app's traffic from its stable version to the canary,
// step by step as the plan says, and promotes the canary at the end. Any
// failure, an abort or a cancellation rolls traffic back to stable; the
// workflow then fails with an application error of type RolledBack.
func Rollout(ctx workflow.Context, in Input) (Result, error) {
	ctx = withBaseline(ctx)
	r, err := newRollout(ctx, in)
	if err != nil {
		return Result{}, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidInput", nil)
	}
	if err := r.register(ctx); err != nil {
		return Result{}, err
	}
	if in.Carry == nil {
		r.event(ctx, "started", in.StartedBy, fmt.Sprintf("rollout of %s %s → %s started with %d steps", r.st.App, in.Stable.Name, in.Canary.Name, len(r.st.Steps)))
		r.notify(ctx, plans.EventStarted, fmt.Sprintf("Rollout of %s %s → %s started.", r.st.App, in.Stable.Name, in.Canary.Name), nil)
	} else {
		r.event(ctx, "continued", "", fmt.Sprintf("run %d continues at %s", r.st.Runs, r.st.CurrentStep()))
	}
	r.refresh(ctx)
	if in.Carry == nil && r.spec.Workload != nil {
		if err := r.createCanary(ctx); err != nil {
			return Result{}, r.rollback(ctx, "the canary did not start: "+errText(err))
		}
	}
	r.startBackground(ctx)

	stopVerify := r.startVerify(ctx)
	err = r.runSteps(ctx)
	stopVerify()
	switch {
	case err == nil:
		return r.promote(ctx)
	case errors.Is(err, errContinueAsNew):
		return Result{}, r.continueAsNew(ctx)
	default:
		return Result{}, r.rollback(ctx, r.reasonOf(ctx, err))
	}
}

func newRollout(ctx workflow.Context, in Input) (*rollout, error) {
	spec := &in.Plan.Spec
	switch {
	case spec.App == "":
		return nil, errors.New("the plan names no app")
	case len(spec.Steps) == 0:
		return nil, fmt.Errorf("the plan of %s has no steps", spec.App)
	case in.Canary.Name == "":
		return nil, fmt.Errorf("no canary version given for %s", spec.App)
	}
	for i, s := range spec.Steps {
		if stepKind(s) == "" {
			return nil, fmt.Errorf("step %d of %s sets no field", i+1, spec.App)
		}
	}
	r := &rollout{
		in:     in,
		spec:   spec,
		target: api.Target{App: spec.App, Stable: in.Stable, Canary: in.Canary},
		mu:     workflow.NewMutex(ctx),
		logger: workflow.GetLogger(ctx),
	}
	r.in.Carry = nil
	now := workflow.Now(ctx)
	if in.Carry != nil {
		r.st = in.Carry.Status
		r.ctl = in.Carry.Control
		r.st.Runs++
	} else {
		r.st = Status{
			App:           spec.App,
			Plan:          in.Plan.Metadata.Name,
			Stable:        in.Stable,
			Canary:        in.Canary,
			Phase:         PhaseProgressing,
			Steps:         describeSteps(spec.Steps),
			StartedAt:     now,
			StepStartedAt: now,
			Runs:          1,
		}
	}
	r.st.UpdatedAt = now
	return r, nil
}

// runSteps runs the steps from the current one on. It returns nil when the
// rollout may be promoted, errContinueAsNew, or the reason to roll back.
func (r *rollout) runSteps(ctx workflow.Context) error {
	steps := r.spec.Steps
	for r.st.Step < len(steps) {
		if err := r.checkpoint(ctx); err != nil {
			return err
		}
		if r.ctl.Full {
			break
		}
		if err := r.runStep(ctx, steps[r.st.Step]); err != nil {
			return err
		}
		if err := r.interruption(ctx); err != nil {
			return err
		}
		r.advance(ctx)
	}
	return r.interruption(ctx)
}

// checkpoint holds the rollout while someone paused it, and stops it when
// it was aborted or its background analysis failed.
func (r *rollout) checkpoint(ctx workflow.Context) error {
	if err := r.interruption(ctx); err != nil {
		return err
	}
	if r.ctl.Held == nil || r.ctl.Full {
		return nil
	}
	if r.ctl.Held.Gate == holdFailure {
		return r.reviewFailure(ctx)
	}
	text := fmt.Sprintf("resume: paused by %s", r.ctl.Held.By)
	if r.ctl.Held.Reason != "" {
		text += " (" + r.ctl.Held.Reason + ")"
	}
	_, err := r.wait(ctx, waitHeld, text, time.Time{}, func() bool { return r.ctl.Held == nil || r.ctl.Full })
	return err
}

// reviewFailure waits, as a gate, for a person to review a background
// failure whose metric says onFailure: pause.
func (r *rollout) reviewFailure(ctx workflow.Context) error {
	own := has(ctx, changeReviewDeadline)
	if own && r.ctl.SetAside == nil {
		// The review gets its own deadline and notification; the step it
		// interrupts (after a continue-as-new mid-step) keeps its own.
		r.ctl.SetAside = &StepProgress{Deadline: r.ctl.Deadline, Entered: r.ctl.Entered}
		r.ctl.Deadline, r.ctl.Entered = time.Time{}, false
	}
	why := r.ctl.Held.Reason
	if r.ctl.Deadline.IsZero() {
		r.ctl.Deadline = workflow.Now(ctx).Add(defaultApprovalTimeout)
	}
	a := &plans.Approval{Timeout: plans.Duration{Duration: defaultApprovalTimeout}, OnTimeout: plans.OnTimeoutRollback}
	text := fmt.Sprintf("a person to review: %s (onFailure: pause; promote goes on, abort rolls back, rolls back after %s)", why, a.Timeout)
	timedOut, err := r.gateWithDeadline(ctx, waitFailed, text, r.ctl.Deadline, a)
	if own && errors.Is(err, errContinueAsNew) {
		return err // the next run goes on with the review and the step set aside
	}
	r.ctl.Skip, r.ctl.Deadline, r.ctl.Entered = false, time.Time{}, false
	if s := r.ctl.SetAside; own && s != nil {
		r.ctl.Deadline, r.ctl.Entered, r.ctl.SetAside = s.Deadline, s.Entered, nil
	}
	if err != nil {
		return err
	}
	if timedOut {
		r.st.Approvals = append(r.st.Approvals, Approval{Step: r.st.Step, Decision: "timed out, rolled back", At: workflow.Now(ctx)})
		return stop("nobody reviewed the failure within %s: %s", a.Timeout, sentence(why))
	}
	r.ctl.Held = nil
	r.releaseHolds(ctx, "a review")
	return nil
}

// changeReviewDeadline versions the failure review of background analysis
// (onFailure: pause) that sets the interrupted step's deadline and entered
// flag aside (Control.SetAside) instead of sharing them: before it, a
// review after a continue-as-new mid-step took the step's deadline as its
// own and the step started over.
const changeReviewDeadline = "onfailure-review"

// interruption returns the reason to stop now, if there is one.
func (r *rollout) interruption(ctx workflow.Context) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if a := r.ctl.Abort; a != nil {
		if a.Reason != "" {
			return stop("%s aborted it: %s", a.By, sentence(a.Reason))
		}
		return stop("%s aborted it", a.By)
	}
	if r.bgFailure != "" {
		return stop("%s", r.bgFailure)
	}
	return nil
}

// interrupted is interruption as a condition for Await.
func (r *rollout) interrupted() bool {
	return r.ctl.Abort != nil || r.bgFailure != ""
}

// advance moves to the next step.
func (r *rollout) advance(ctx workflow.Context) {
	kind := stepKind(r.spec.Steps[r.st.Step])
	r.metrics(ctx).WithTags(map[string]string{"kind": kind}).Timer(MetricStepDuration).Record(workflow.Now(ctx).Sub(r.st.StepStartedAt))
	r.st.Step++
	r.st.StepStartedAt = workflow.Now(ctx)
	r.st.Analysis = nil
	full := r.ctl.Full
	r.ctl = Control{Held: r.ctl.Held, Abort: r.ctl.Abort, BackgroundDone: r.ctl.BackgroundDone, Full: full, Message: r.ctl.Message,
		Changed: r.ctl.Changed, Forced: r.ctl.Forced}
	r.touch(ctx)
}

// Kinds of wait, shown in the status.
const (
	waitPause        = "pause"
	waitGate         = "gate"
	waitApproval     = "approval"
	waitAnalysis     = "analysis"
	waitShadow       = "shadow"
	waitInconclusive = "inconclusive"
	waitHeld         = "held"
	waitFailed       = "failed"
)

// isGate reports whether a wait kind waits for a person's approval.
func isGate(kind string) bool {
	return kind == waitGate || kind == waitApproval || kind == waitInconclusive || kind == waitFailed
}

// wait blocks until done holds, until (when not zero) passes, the rollout
// is interrupted, or continue-as-new is suggested. It reports whether it
// ended because until passed.
func (r *rollout) wait(ctx workflow.Context, kind, text string, until time.Time, done func() bool) (timedOut bool, err error) {
	r.st.WaitKind, r.st.Waiting, r.st.WaitUntil = kind, text, until
	if isGate(kind) {
		r.st.Gate = gateID(r.st.Step)
	}
	r.touch(ctx)
	defer func() {
		r.st.WaitKind, r.st.Waiting, r.st.WaitUntil, r.st.Gate, r.st.Approvers = "", "", time.Time{}, "", nil
		r.touch(ctx)
	}()
	wake := func() bool { return done() || r.interrupted() || canSuggested(ctx) }
	for {
		if err := r.interruption(ctx); err != nil {
			return false, err
		}
		if done() {
			return false, nil
		}
		if canSuggested(ctx) {
			return false, errContinueAsNew
		}
		if until.IsZero() {
			if err := workflow.Await(ctx, wake); err != nil {
				return false, err
			}
			continue
		}
		left := until.Sub(workflow.Now(ctx))
		if left <= 0 {
			return true, nil
		}
		if _, err := awaitFor(ctx, left, kind+": "+text, wake); err != nil {
			return false, err
		}
	}
}

func canSuggested(ctx workflow.Context) bool {
	return workflow.GetInfo(ctx).GetContinueAsNewSuggested()
}

// reasonOf turns what stopped the steps into the reason to roll back.
func (r *rollout) reasonOf(ctx workflow.Context, err error) string {
	var se *stopError
	switch {
	case temporal.IsCanceledError(err) || ctx.Err() != nil:
		// Whatever was under way when the cancellation came, it is the reason.
		return "the workflow was cancelled"
	case errors.As(err, &se):
		return se.reason
	}
	return err.Error()
}

// continueAsNew hands the state to a new run once handlers have finished.
func (r *rollout) continueAsNew(ctx workflow.Context) error {
	if r.bgCancel != nil {
		r.bgCancel()
	}
	_ = workflow.Await(ctx, func() bool { return r.bgRunning == 0 && workflow.AllHandlersFinished(ctx) })
	ch := workflow.GetSignalChannel(ctx, SignalApprove)
	var req Request
	for ch.ReceiveAsync(&req) {
		r.approve(ctx, req)
	}
	r.event(ctx, "continue-as-new", "", fmt.Sprintf("history is large: run %d hands over at %s", r.st.Runs, r.st.CurrentStep()))
	next := r.in
	next.Carry = &Carry{Status: r.st, Control: r.ctl}
	return workflow.NewContinueAsNewError(ctx, Rollout, next)
}

// promote makes the canary the stable version at 100% and returns the summary.
func (r *rollout) promote(ctx workflow.Context) (Result, error) {
	r.stopBackground(ctx)
	if r.ctl.Full && r.st.Step < len(r.st.Steps) {
		r.event(ctx, "promote", "", fmt.Sprintf("skipped steps %d to %d (promote --full)", r.st.Step+1, len(r.st.Steps)))
	}
	if w := r.spec.Workload; w != nil {
		in := r.workloadInput()
		if err := r.exec(ctx, "give "+w.Deployment+" version "+r.st.Canary.Name, api.NamePromoteWorkload, in, nil); err != nil {
			return Result{}, r.rollback(ctx, "promotion failed: "+errText(err))
		}
		r.event(ctx, "promote", "", fmt.Sprintf("%s runs %s", w.Deployment, r.st.Canary.Name))
	}
	var ts api.TrafficState
	if err := r.exec(ctx, "promote "+r.st.Canary.Name+" to 100%", api.NamePromoteTraffic, r.trafficInput(), &ts); err != nil {
		return Result{}, r.rollback(ctx, "promotion failed: "+errText(err))
	}
	if w := r.spec.Workload; w != nil {
		_ = workflow.NewTimerWithOptions(ctx, r.scaleDownDelay(), workflow.TimerOptions{Summary: "scale-down delay"}).Get(ctx, nil)
		in := api.ScaleDownInput{Workload: *w, Target: r.target}
		if err := r.exec(ctx, "remove the canary", api.NameScaleDownCanary, in, nil); err != nil {
			r.event(ctx, "promote", "", "could not remove the canary: "+errText(err))
		} else {
			r.event(ctx, "promote", "", "the canary "+w.Deployment+"-canary is removed")
		}
	}
	r.st.Weight = 100
	r.st.AchievedWeight = nil
	r.st.ShadowPercent = 0
	r.st.SegmentWeights = nil
	r.st.Phase = PhasePromoted
	r.metrics(ctx).WithTags(map[string]string{"outcome": string(PhasePromoted)}).Counter(MetricRollouts).Inc(1)
	now := workflow.Now(ctx)
	r.event(ctx, "promoted", "", fmt.Sprintf("%s is the stable version of %s at 100%%", r.st.Canary.Name, r.st.App))
	r.notify(ctx, plans.EventPromoted, fmt.Sprintf("%s %s is promoted: it now serves all traffic (was %s).", r.st.App, r.st.Canary.Name, r.st.Stable.Name), nil)
	r.refresh(ctx)
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return Result{
		App:        r.st.App,
		Previous:   r.st.Stable,
		Promoted:   r.st.Canary,
		StartedAt:  r.st.StartedAt,
		FinishedAt: now,
		Duration:   now.Sub(r.st.StartedAt),
		StepsRun:   r.st.Step,
		Verdicts:   r.st.Verdicts,
		Approvals:  r.st.Approvals,
	}, nil
}

// rollback is the compensation: all traffic back to stable (retried until
// it succeeds), the canary workload scaled down after the delay, people
// told. It runs on a disconnected context so that a cancelled workflow
// still cleans up, and returns the RolledBack error the workflow fails with.
func (r *rollout) rollback(ctx workflow.Context, reason string) error {
	r.stopBackground(ctx)
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	r.st.Phase = PhaseRollingBack
	r.st.Reason = reason
	r.st.WaitKind, r.st.Waiting, r.st.WaitUntil = "", "", time.Time{}
	r.event(dctx, "rollback", "", "rolling back: "+reason)
	r.refresh(dctx)

	noop := has(dctx, changeNoopRollback) && !r.ctl.Changed
	switch {
	case noop:
		r.event(dctx, "rollback", "", "nothing to return: coalmine never changed this app's traffic, "+r.st.Stable.Name+" serves all of it")
	case r.forceable(dctx):
		if forced, _ := r.returnTraffic(dctx, r.trafficInput(), false); forced {
			return r.abandon(dctx)
		}
	default:
		r.resetLegacy(dctx)
	}
	return r.finishRollback(dctx, reason, noop)
}

// resetLegacy is the reset loop of rollouts recorded before force-abort:
// it retries until the router confirms.
func (r *rollout) resetLegacy(dctx workflow.Context) {
	for attempt := 1; ; attempt++ {
		var ts api.TrafficState
		err := r.exec(dctx, "return all traffic to "+r.st.Stable.Name, api.NameResetTraffic, r.trafficInput(), &ts)
		if err == nil {
			break
		}
		r.event(dctx, "rollback", "", fmt.Sprintf("could not return traffic to stable (attempt %d): %s", attempt, errText(err)))
		if attempt%resetAlertEvery == 0 {
			r.notify(dctx, plans.EventRolledBack, fmt.Sprintf("coalmine cannot return %s traffic to %s after %d attempts (%s); it keeps trying.", r.st.App, r.st.Stable.Name, attempt, errText(err)), nil)
		}
		_ = workflow.NewTimerWithOptions(dctx, retryBackoff(attempt), workflow.TimerOptions{Summary: "retry returning traffic to stable"}).Get(dctx, nil)
	}
}

// finishRollback records traffic back on stable, scales the canary down
// and tells people. After a no-op rollback the canary goes at once: it
// never had traffic to drain.
func (r *rollout) finishRollback(dctx workflow.Context, reason string, noop bool) error {
	r.st.Weight = 0
	r.st.AchievedWeight = nil
	r.st.ShadowPercent = 0
	r.st.SegmentWeights = nil
	if !noop {
		r.event(dctx, "rollback", "", "all traffic is back on "+r.st.Stable.Name)
	}
	r.refresh(dctx)

	if w := r.spec.Workload; w != nil {
		if !noop {
			_ = workflow.NewTimerWithOptions(dctx, r.scaleDownDelay(), workflow.TimerOptions{Summary: "scale-down delay"}).Get(dctx, nil)
		}
		in := api.ScaleDownInput{Workload: *w, Target: r.target}
		if err := r.exec(dctx, "scale down the canary", api.NameScaleDownCanary, in, nil); err != nil {
			r.event(dctx, "rollback", "", "could not scale down the canary: "+errText(err))
		} else {
			r.event(dctx, "rollback", "", "the canary is scaled down")
		}
	}
	r.st.Phase = PhaseRolledBack
	r.metrics(dctx).WithTags(map[string]string{"outcome": string(PhaseRolledBack)}).Counter(MetricRollouts).Inc(1)
	msg := fmt.Sprintf("%s %s was rolled back to %s: %s.", r.st.App, r.st.Canary.Name, r.st.Stable.Name, sentence(reason))
	r.event(dctx, "rolledBack", "", msg)
	r.notify(dctx, plans.EventRolledBack, msg, nil)
	r.refresh(dctx)
	_ = workflow.Await(dctx, func() bool { return workflow.AllHandlersFinished(dctx) })
	return temporal.NewNonRetryableApplicationError(msg, ErrorTypeRolledBack, nil)
}

// retryBackoff is the wait between two attempts to return traffic to stable.
func retryBackoff(attempt int) time.Duration {
	d := time.Duration(attempt) * 30 * time.Second
	return min(d, 10*time.Minute)
}

// event appends an entry to the timeline.
func (r *rollout) event(ctx workflow.Context, kind, by, msg string) {
	r.st.Events = append(r.st.Events, Event{At: workflow.Now(ctx), Kind: kind, Step: r.st.Step, By: by, Message: msg})
	if over := len(r.st.Events) - maxEvents; over > 0 {
		r.st.Events = append([]Event(nil), r.st.Events[over:]...)
		r.st.EventsDropped += over
	}
	r.logger.Info("rollout event", "app", r.st.App, "kind", kind, "by", by, "message", msg)
	r.touch(ctx)
}

// touch records a change of the status and refreshes what the UI shows.
func (r *rollout) touch(ctx workflow.Context) {
	r.st.UpdatedAt = workflow.Now(ctx)
	r.refresh(ctx)
}

// phase is the phase as shown: Paused while a person is waited for.
func (r *rollout) phase() Phase {
	if r.st.Phase != PhaseProgressing && r.st.Phase != PhasePaused {
		return r.st.Phase
	}
	if isGate(r.st.WaitKind) || r.ctl.Held != nil {
		return PhasePaused
	}
	return PhaseProgressing
}

// createCanary starts the canary workload and waits until it is available.
func (r *rollout) createCanary(ctx workflow.Context) error {
	w := r.spec.Workload
	if err := r.exec(ctx, "start "+w.Deployment+"-canary with "+r.st.Canary.Name, api.NameCreateCanary, r.workloadInput(), nil); err != nil {
		return err
	}
	r.event(ctx, "canary", "", fmt.Sprintf("%s-canary runs %s and is available", w.Deployment, r.st.Canary.Name))
	return nil
}

// workloadInput is the input of the workload activities.
func (r *rollout) workloadInput() api.WorkloadInput {
	return api.WorkloadInput{Workload: *r.spec.Workload, Target: r.target, ZeroReplicas: r.spec.Traffic.Router == plans.RouterReplicas}
}

// scaleDownDelay is how long the canary keeps running after traffic left it.
func (r *rollout) scaleDownDelay() time.Duration {
	if rb := r.spec.Rollback; rb != nil && rb.ScaleDownDelay.Duration > 0 {
		return rb.ScaleDownDelay.Duration
	}
	return defaultScaleDownDelay
}

// trafficInput is the input of the traffic activities.
func (r *rollout) trafficInput() api.TrafficInput {
	return api.TrafficInput{Traffic: r.spec.Traffic, Segments: r.spec.Segments, Sticky: r.spec.Sticky, Target: r.target}
}

// exec runs the activity called name with the options of its type and a summary.
func (r *rollout) exec(ctx workflow.Context, summary, name string, in, out any) error {
	opts := api.Options(name)
	opts.Summary = summary
	f := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), name, in)
	err := f.Get(ctx, out)
	if changesTraffic(name) && !isUntouched(err) {
		r.ctl.Changed = true
	}
	return err
}

// execLook runs the look activity called name, which first waits wait for
// its due time, with the options for that wait and a summary.
func (r *rollout) execLook(ctx workflow.Context, summary, name string, wait time.Duration, in, out any) error {
	opts := api.LookOptions(name, wait)
	opts.Summary = summary
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), name, in).Get(ctx, out)
}

// errText is an activity error's message without the SDK's wrapping.
func errText(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Error()
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		return "timed out: " + te.Error()
	}
	return err.Error()
}
