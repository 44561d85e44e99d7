package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// RollbackInput starts a Rollback: all of an app's traffic back to a
// version it promoted before, at once, without steps or analysis.
type RollbackInput struct {
	// Plan is the plan of the rollout that made From the stable version:
	// its traffic, workload and notifications say how to go back.
	Plan plans.RolloutPlan `json:"plan"`
	// From is the version that serves the app's traffic now.
	From api.Version `json:"from"`
	// To is the version to go back to, with its URL for URL-based routers.
	To api.Version `json:"to"`
	// By and Reason say who asked and why.
	By     string `json:"by"`
	Reason string `json:"reason"`
}

// RollbackResult is what a finished Rollback returns; the versions the app
// can roll back to are read from these results and the Rollouts' ones.
type RollbackResult struct {
	// App is the application.
	App string `json:"app"`
	// From is the version that served traffic before; To serves it now.
	From api.Version `json:"from"`
	To   api.Version `json:"to"`
	// By and Reason say who rolled back and why.
	By     string `json:"by"`
	Reason string `json:"reason"`
	// StartedAt and FinishedAt bound the rollback.
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
}

// ErrorTypeRollbackFailed is the application error type of a Rollback
// that could not bring the earlier version back.
const ErrorTypeRollbackFailed = "RollbackFailed"

// changeRollbackForce: a Rollback whose reset fails alerts at the first
// failure with the cause, an abort is accepted (the reset retries at once)
// and abort --force ends the Rollback as Abandoned (issue 19 for
// coalmine rollback). Rollbacks recorded before it refused every update.
const changeRollbackForce = "rollback-force"

// Rollback sends all of an app's traffic back to an earlier version at
// once: for the workload lifecycle it first gives the stable Deployment
// that version's template back, then returns every request to it, retrying
// until the router confirms, and tells people. It runs on the app's
// workflow id, like a rollout, and answers the same status query; abort
// --force ends it as Abandoned when the router cannot be reached.
func Rollback(ctx workflow.Context, in RollbackInput) (RollbackResult, error) {
	r, err := newRollback(ctx, in)
	if err != nil {
		return RollbackResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidInput", nil)
	}
	r.canForce = has(ctx, changeRollbackForce)
	if err := r.registerRollback(ctx, in); err != nil {
		return RollbackResult{}, err
	}
	r.event(ctx, "started", in.By, fmt.Sprintf("rollback of %s from %s to %s: %s", r.st.App, in.From.Name, in.To.Name, sentence(in.Reason)))
	r.notify(ctx, plans.EventStarted, fmt.Sprintf("%s rolls %s back from %s to %s: %s.", in.By, r.st.App, in.From.Name, in.To.Name, sentence(in.Reason)), nil)
	r.refresh(ctx)

	if w := r.spec.Workload; w != nil {
		r.restoring = w.Deployment
		opts := api.Options(api.NamePromoteWorkload)
		opts.Summary = "give " + w.Deployment + " version " + in.To.Name
		forced, err := r.forcible(ctx, opts, api.NamePromoteWorkload, r.workloadInput(), nil)
		if forced {
			return RollbackResult{}, r.abandon(ctx)
		}
		r.restoring = ""
		if err != nil {
			return RollbackResult{}, r.rollbackFailed(ctx, fmt.Sprintf("%s did not take %s back: %s", w.Deployment, in.To.Name, reasonText(err)))
		}
		r.event(ctx, "rollback", "", fmt.Sprintf("%s runs %s again", w.Deployment, in.To.Name))
	}
	forced, err := r.resetTraffic(ctx)
	switch {
	case forced:
		return RollbackResult{}, r.abandon(ctx)
	case err != nil:
		return RollbackResult{}, r.rollbackFailed(ctx, "traffic did not go back: "+reasonText(err))
	}
	r.event(ctx, "rollback", "", "all traffic is on "+r.st.Stable.Name)
	r.st.Weight = 0
	r.st.Step = len(r.st.Steps)
	r.st.Phase = PhaseRolledBack
	r.st.Reason = in.By + " rolled back: " + sentence(in.Reason)
	msg := fmt.Sprintf("%s is back on %s at 100%% (was %s), rolled back by %s: %s.", r.st.App, in.To.Name, in.From.Name, in.By, sentence(in.Reason))
	r.event(ctx, "rolledBack", in.By, msg)
	r.notify(ctx, plans.EventRolledBack, msg, nil)
	r.refresh(ctx)
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return RollbackResult{App: r.st.App, From: in.From, To: in.To, By: in.By, Reason: in.Reason,
		StartedAt: r.st.StartedAt, FinishedAt: workflow.Now(ctx)}, nil
}

// newRollback checks the input and builds the state: the rollout status
// model with To as the stable version and From as the one left.
func newRollback(ctx workflow.Context, in RollbackInput) (*rollout, error) {
	spec := &in.Plan.Spec
	switch {
	case spec.App == "":
		return nil, errors.New("the plan names no app")
	case in.To.Name == "":
		return nil, fmt.Errorf("no version to roll %s back to", spec.App)
	case in.To.Name == in.From.Name:
		return nil, fmt.Errorf("%s already serves %s", spec.App, in.To.Name)
	case in.By == "" || in.Reason == "":
		return nil, fmt.Errorf("a rollback of %s needs who asks and why", spec.App)
	}
	now := workflow.Now(ctx)
	return &rollout{
		rollbackIn: &in,
		in:         Input{Plan: in.Plan, Stable: in.To, Canary: in.From, StartedBy: in.By},
		spec:       spec,
		target:     api.Target{App: spec.App, Stable: in.From, Canary: in.To},
		mu:         workflow.NewMutex(ctx),
		logger:     workflow.GetLogger(ctx),
		st: Status{
			App:           spec.App,
			Plan:          in.Plan.Metadata.Name,
			Stable:        in.To,
			Canary:        in.From,
			Phase:         PhaseRollingBack,
			Steps:         []string{"rollback to " + in.To.Name},
			Weight:        100,
			StartedAt:     now,
			StepStartedAt: now,
			UpdatedAt:     now,
			Reason:        in.By + " rolls back: " + sentence(in.Reason),
			Runs:          1,
		},
	}, nil
}

// registerRollback installs the status query and the updates: a
// rollback has no steps to promote or pause, so those are refused with a
// sentence; abort is taken once the Rollback can hear it
// (changeRollbackForce).
func (r *rollout) registerRollback(ctx workflow.Context, in RollbackInput) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (Status, error) { return r.st, nil }); err != nil {
		return fmt.Errorf("register query %s: %w", QueryStatus, err)
	}
	refuse := func(Request) error {
		return fmt.Errorf("%s is being rolled back from %s to %s by %s; wait for it to end", r.st.App, in.From.Name, in.To.Name, in.By)
	}
	for _, name := range []string{UpdatePromote, UpdateAbort, UpdatePause, UpdateResume} {
		var (
			handler   = func(workflow.Context, Request) (string, error) { return "", refuse(Request{}) }
			validator = refuse
			desc      = "Refused: a rollback has no steps."
		)
		if name == UpdateAbort && r.canForce {
			handler, validator = r.handleAbortRollback, r.validateAbortRollback
			desc = "Retry returning traffic now; with force, end the rollback leaving traffic as it is."
		}
		err := workflow.SetUpdateHandlerWithOptions(ctx, name, handler,
			workflow.UpdateHandlerOptions{Validator: validator, Description: desc})
		if err != nil {
			return fmt.Errorf("register update %s: %w", name, err)
		}
	}
	return nil
}

// validateAbortRollback checks an abort of a running Rollback.
func (r *rollout) validateAbortRollback(req Request) error {
	switch {
	case r.st.Phase != PhaseRollingBack:
		return fmt.Errorf("the rollback of %s has ended: %s", r.st.App, sentence(r.st.Reason))
	case strings.TrimSpace(req.Reason) == "":
		return errors.New("say why: an abort needs a reason")
	}
	return r.validateAbortRollingBack(req)
}

// handleAbortRollback takes an abort of a running Rollback as a Rollout's
// rollback takes one: the reset retries at once, or with force the
// Rollback ends.
func (r *rollout) handleAbortRollback(ctx workflow.Context, req Request) (string, error) {
	if err := r.validateAbortRollback(req); err != nil {
		return "", err
	}
	return r.handleAbortRollingBack(ctx, req)
}

// resetTraffic returns every request to the version rolled back to and
// reports whether an abort --force ended it first. The router's Reset
// sends all traffic to the target's stable side, which for a rollback is
// To; a failure that may pass is retried until it does.
func (r *rollout) resetTraffic(ctx workflow.Context) (forced bool, err error) {
	in := r.trafficInput()
	in.Target = api.Target{App: r.st.App, Stable: r.st.Stable, Canary: r.st.Canary}
	if r.canForce {
		return r.returnTraffic(ctx, in, true)
	}
	return false, r.resetRollbackLegacy(ctx, in)
}

// resetRollbackLegacy is the reset loop of Rollbacks recorded before
// changeRollbackForce: people are told every third failed attempt.
func (r *rollout) resetRollbackLegacy(ctx workflow.Context, in api.TrafficInput) error {
	for attempt := 1; ; attempt++ {
		var ts api.TrafficState
		opts := api.Options(api.NameResetTraffic)
		opts.Summary = "return all traffic to " + r.st.Stable.Name
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), api.NameResetTraffic, in).Get(ctx, &ts)
		if err == nil {
			return nil
		}
		var ae *temporal.ApplicationError
		if errors.As(err, &ae) && ae.NonRetryable() || ctx.Err() != nil {
			return err
		}
		r.event(ctx, "rollback", "", fmt.Sprintf("could not return traffic to %s (attempt %d): %s", r.st.Stable.Name, attempt, reasonText(err)))
		if attempt%resetAlertEvery == 0 {
			r.notify(ctx, plans.EventRolledBack, fmt.Sprintf("coalmine cannot return %s traffic to %s after %d attempts (%s); it keeps trying.", r.st.App, r.st.Stable.Name, attempt, reasonText(err)), nil)
		}
		_ = workflow.NewTimerWithOptions(ctx, retryBackoff(attempt), workflow.TimerOptions{Summary: "retry returning traffic to " + r.st.Stable.Name}).Get(ctx, nil)
	}
}

// rollbackFailed ends a Rollback that could not bring the version back:
// recorded, told, and the workflow fails with the reason.
func (r *rollout) rollbackFailed(ctx workflow.Context, reason string) error {
	if ctx.Err() != nil {
		// Cancelled: people still hear that the old version did not come back.
		dctx, cancel := workflow.NewDisconnectedContext(ctx)
		defer cancel()
		ctx, reason = dctx, "the rollback was cancelled ("+reason+")"
	}
	msg := fmt.Sprintf("the rollback of %s to %s failed: %s; %s still serves it", r.st.App, r.st.Stable.Name, reason, r.st.Canary.Name)
	r.st.Reason = msg
	r.event(ctx, "rollbackFailed", "", msg)
	r.notify(ctx, plans.EventRolledBack, msg+".", nil)
	r.refresh(ctx)
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return temporal.NewNonRetryableApplicationError(msg, ErrorTypeRollbackFailed, nil)
}

// reasonText is an activity error as a short reason: the application
// error's own message, without its causes.
func reasonText(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Message()
	}
	return errText(err)
}
