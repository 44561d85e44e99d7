package releases

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/workers"
	"github.com/coalmine-dev/coalmine/workflows"
)

// RollbackRequest asks for an app's traffic to go back to an earlier version.
type RollbackRequest struct {
	// To is the version to go back to; empty means the newest earlier one.
	To string
	// ToURL, when set, is To's base URL, for URL-based routers (the
	// gateway) when no earlier rollout recorded it.
	ToURL string
	// By and Reason say who asks and why; both are required.
	By, Reason string
	// Supersede aborts a running rollout first (it rolls back to its own
	// stable version), then rolls back.
	Supersede bool
	// TaskQueue is the coalmine workers' task queue.
	TaskQueue string
}

// Rollback checks req against the app's releases and starts the Rollback
// workflow on the app's id. With Supersede it first aborts the running
// rollout and waits until that has rolled back; progress goes to say.
func Rollback(ctx context.Context, c client.Client, st *State, req RollbackRequest, say func(string)) (client.WorkflowRun, workflows.RollbackInput, error) {
	in, err := st.rollbackInput(req)
	if err != nil {
		return nil, in, err
	}
	if st.Running != nil {
		if err := supersede(ctx, c, st, req, in, say); err != nil {
			return nil, in, err
		}
	}
	app := st.App
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.WorkflowID(app),
		TaskQueue:                req.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		StaticSummary:            fmt.Sprintf("%s rollback %s → %s", app, in.From.Name, in.To.Name),
		StaticDetails:            fmt.Sprintf("Rollback by %s: %s", in.By, in.Reason),
		TypedSearchAttributes:    workflows.SearchAttributes(app, in.To.Name, in.From.Name, workflows.PhaseRollingBack, 100),
	}, workers.RollbackWorkflowName, in)
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return nil, in, fmt.Errorf("a rollout of %s started in the meantime; run coalmine rollback again", app)
		}
		return nil, in, fmt.Errorf("start the rollback of %s: %w", app, err)
	}
	return run, in, nil
}

// rollbackInput checks the request and resolves the version to go back to.
func (st *State) rollbackInput(req RollbackRequest) (workflows.RollbackInput, error) {
	app := st.App
	var in workflows.RollbackInput
	switch {
	case strings.TrimSpace(req.Reason) == "" || strings.TrimSpace(req.By) == "":
		return in, errors.New("a rollback needs who asks and why: give --reason")
	case st.Current == nil || st.Plan == nil:
		return in, fmt.Errorf("no rollout of %s has been promoted, so there is no earlier version to roll back to", app)
	case st.Running != nil && st.Running.Type == workers.RollbackWorkflowName && !req.Supersede:
		return in, fmt.Errorf("%s is running already; wait for it to end, or give --supersede to end it where it is (abort --force: when its router cannot be reached, traffic stays as it is) and roll back again", st.Running.Describe(app))
	case st.Running != nil && !req.Supersede:
		return in, fmt.Errorf("%s is running, and rollback refuses while a rollout runs: abort it (coalmine abort %s --reason …), wait for it to end, or give --supersede to abort it and roll back at once", st.Running.Describe(app), app)
	case len(st.Window) == 0:
		return in, fmt.Errorf("%s has had no version before %s that rollback could return to", app, st.Current.Version.Name)
	}
	to := st.Window[0]
	if req.To != "" {
		found := false
		for _, r := range st.Window {
			if r.Version.Name == req.To {
				to, found = r, true
			}
		}
		switch {
		case req.To == st.Current.Version.Name:
			return in, fmt.Errorf("%s already serves %s", app, req.To)
		case !found:
			return in, fmt.Errorf("%s is not among the versions %s can go back to (%s: the last %d promoted before %s; plan field spec.rollbackWindow.revisions); see coalmine history %s",
				req.To, app, names(st.Window), st.Revisions, st.Current.Version.Name, app)
		}
	}
	in = workflows.RollbackInput{Plan: *st.Plan, From: st.Current.Version, To: to.Version, By: req.By, Reason: req.Reason}
	if req.ToURL != "" {
		in.To.URL = req.ToURL
	}
	if in.Plan.Spec.Traffic.Router == plans.RouterGateway && in.To.URL == "" {
		return in, fmt.Errorf("the gateway needs the URL %s is served at and no earlier rollout recorded it: give --to-url", in.To.Name)
	}
	return in, nil
}

func names(rs []Release) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Version.Name
	}
	return strings.Join(out, ", ")
}

// supersede ends the running rollout or rollback and waits for it: an
// abort with force, as start --supersede sends, so that one whose router
// cannot be reached ends as Abandoned instead of blocking the app.
func supersede(ctx context.Context, c client.Client, st *State, req RollbackRequest, in workflows.RollbackInput, say func(string)) error {
	app, run := st.App, st.Running
	reason := fmt.Sprintf("superseded by a rollback to %s: %s", in.To.Name, req.Reason)
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflows.WorkflowID(app),
		RunID:        run.RunID,
		UpdateID:     fmt.Sprintf("supersede-%s-%d", req.By, time.Now().UnixNano()),
		UpdateName:   workflows.UpdateAbort,
		Args:         []any{workflows.Request{By: req.By, Reason: reason, Force: true}},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err != nil && !strings.Contains(err.Error(), "rolling back") {
		return fmt.Errorf("abort %s: %w", run.Describe(app), err)
	}
	say(fmt.Sprintf("aborting %s first...", run.Describe(app)))
	// The run fails with RolledBack (or Abandoned): that is what was asked for.
	err = c.GetWorkflow(ctx, workflows.WorkflowID(app), run.RunID).Get(ctx, nil)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("wait for %s to end: %w", run.Describe(app), ctx.Err())
	}
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) && ae.Type() == workflows.ErrorTypeAbandoned {
		say(fmt.Sprintf("%s has ended: %s", run.Describe(app), ae.Message()))
		return nil
	}
	say(fmt.Sprintf("%s is rolled back", run.Describe(app)))
	return nil
}
