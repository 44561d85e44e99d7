package releases

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/workers"
	"github.com/coalmine-dev/coalmine/workflows"
)

// RetryInput returns the input of the app's last rollout, when it ended
// rolled back, aborted, cancelled or terminated and nothing ran after it:
// the same plan and versions, started again by by.
func (st *State) RetryInput(ctx context.Context, c client.Client, by string) (workflows.Input, error) {
	app := st.App
	var in workflows.Input
	last := st.LastEnded
	switch {
	case st.Running != nil:
		return in, fmt.Errorf("%s is running; retry starts a rollout again only when none runs", st.Running.Describe(app))
	case last == nil:
		return in, fmt.Errorf("no rollout of %s has ended, so there is none to retry", app)
	case last.Type != workers.WorkflowName:
		return in, fmt.Errorf("the last run of %s was %s, after any rolled-back rollout; start a new rollout with coalmine start", app, last.Describe(app))
	case last.Status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return in, fmt.Errorf("the last rollout of %s, %s → %s, was promoted: there is nothing to retry", app, orQ(last.Stable), last.Canary)
	}
	if err := Input(ctx, c, app, last.RunID, &in); err != nil {
		return in, err
	}
	in.Carry = nil
	in.StartedBy = by
	return in, nil
}

// Retry starts the rollout in again on the app's workflow id.
func Retry(ctx context.Context, c client.Client, taskQueue string, in workflows.Input) (client.WorkflowRun, error) {
	app := in.Plan.Spec.App
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.WorkflowID(app),
		TaskQueue:                taskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		StaticSummary:            workflows.StaticSummary(app, in.Stable.Name, in.Canary.Name),
		StaticDetails:            fmt.Sprintf("Retry by %s of the rolled-back rollout %s → %s.", in.StartedBy, in.Stable.Name, in.Canary.Name),
		TypedSearchAttributes:    workflows.SearchAttributes(app, in.Stable.Name, in.Canary.Name, workflows.PhaseProgressing, 0),
	}, workers.WorkflowName, in)
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return nil, fmt.Errorf("a rollout of %s started in the meantime", app)
		}
		return nil, fmt.Errorf("start the retry of %s: %w", app, err)
	}
	return run, nil
}

// ErrCanaryGone is returned (wrapped) when the canary of a rollout to
// retry no longer exists.
var ErrCanaryGone = errors.New("the canary no longer exists")

// CheckCanary says whether the canary of in still exists, and how it was
// told: the canary's URL answers; the gateway route still has the canary
// backend; or the plan's workload starts the canary again anyway. A router
// the check cannot see into gives "" and no error: the rollout's first
// step finds out.
func CheckCanary(ctx context.Context, in workflows.Input, getenv func(string) string, hc *http.Client) (string, error) {
	cv := in.Canary
	g, _ := in.Plan.Spec.Traffic.Block.(*traffic.GatewayTraffic)
	switch {
	case in.Plan.Spec.Workload != nil:
		return fmt.Sprintf("the rollout starts %s-canary with %s again from the plan", in.Plan.Spec.Workload.Deployment, cv.Name), nil
	case cv.URL != "":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, cv.URL, nil)
		if err != nil {
			return "", fmt.Errorf("canary %s has a bad URL %q: %w", cv.Name, cv.URL, err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return "", fmt.Errorf("%w: %s does not answer at %s (%v)", ErrCanaryGone, cv.Name, cv.URL, unwrapURL(err))
		}
		resp.Body.Close()
		return fmt.Sprintf("%s answers at %s", cv.Name, cv.URL), nil
	case in.Plan.Spec.Traffic.Router == plans.RouterGateway && g != nil:
		route, tokenEnv := g.Route, g.TokenEnv
		if route == "" {
			route = in.Plan.Spec.App
		}
		if tokenEnv == "" {
			tokenEnv = plans.DefaultGatewayTokenEnv
		}
		rs, err := admin.NewClient(g.URL, getenv(tokenEnv), hc).Route(ctx, route)
		if err != nil {
			return "", fmt.Errorf("ask the gateway whether canary %s is still configured: %w", cv.Name, err)
		}
		if rs.Canary == nil || rs.Canary.Version != cv.Name {
			return "", fmt.Errorf("%w: the gateway route %s has no backend for %s any more", ErrCanaryGone, route, cv.Name)
		}
		return fmt.Sprintf("the gateway route %s still has %s at %s", route, cv.Name, rs.Canary.URL), nil
	}
	return "", nil
}

// unwrapURL drops the method and URL that net/http puts before the cause.
func unwrapURL(err error) error {
	if i := strings.LastIndex(err.Error(), ": "); i > 0 {
		return errors.New(err.Error()[i+2:])
	}
	return err
}
