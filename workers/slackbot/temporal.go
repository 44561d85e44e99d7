package slackbot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/workflows"
)

// Temporal acts on rollouts through the Temporal client: the status query
// for the gate, the approve signal (Slack needs an answer within three
// seconds, so it does not wait for an update), and the abort update.
type Temporal struct {
	// Client reaches the Temporal frontend.
	Client client.Client
	// Namespace is the client's namespace, for the card's link.
	Namespace string
	// UIURL is the Web UI's base address for the card's link; may be empty.
	UIURL string
}

// Gate implements Rollouts. It reads the rollout's latest run, since a
// long rollout continues as new under the same workflow id and gate ids
// stay the same across runs.
func (t Temporal) Gate(ctx context.Context, workflowID, _ string) (GateState, error) {
	v, err := t.Client.QueryWorkflow(ctx, workflowID, "", workflows.QueryStatus)
	if err != nil {
		return GateState{}, notRunning(err)
	}
	var st workflows.Status
	if err := v.Get(&st); err != nil {
		return GateState{}, fmt.Errorf("decode status of %s: %w", workflowID, err)
	}
	if st.Phase.Ended() {
		return GateState{}, ErrNoRollout
	}
	gs := GateState{
		App:         st.App,
		WaitingGate: st.Gate,
		Where:       st.CurrentStep(),
		Approvers:   st.Approvers,
		Decisions:   map[string]api.Decision{},
		Card: api.Card{
			App: st.App, Stable: st.Stable.Name, Canary: st.Canary.Name, Phase: string(st.Phase),
			Step: min(st.Step+1, len(st.Steps)), Steps: len(st.Steps), Weight: st.Weight,
		},
	}
	if st.Step < len(st.Steps) {
		gs.Card.StepText = st.Steps[st.Step]
	}
	if t.UIURL != "" {
		gs.Card.UIURL = activities.WorkflowURL(t.UIURL, t.Namespace, workflowID, "")
	}
	for _, a := range st.Approvals {
		action := ""
		switch a.Decision {
		case "approved":
			action = "promote"
		case "aborted":
			action = "abort"
		default:
			continue // timeouts are nobody's click
		}
		gs.Decisions[fmt.Sprintf("step-%d", a.Step+1)] = api.Decision{Action: action, Who: a.By, At: a.At}
	}
	return gs, nil
}

// Approve implements Rollouts with the approve signal, naming the gate so
// a late click never passes a later gate.
func (t Temporal) Approve(ctx context.Context, workflowID, _, gateID, who string) error {
	err := t.Client.SignalWorkflow(ctx, workflowID, "", workflows.SignalApprove, workflows.Request{By: who, Gate: gateID, Reason: "approved in Slack"})
	if err != nil {
		return notRunning(err)
	}
	return nil
}

// Abort implements Rollouts with the abort update; it returns once the
// workflow has accepted it, so Slack gets its answer in time.
func (t Temporal) Abort(ctx context.Context, workflowID, _, who, reason string) error {
	ctx, cancel := context.WithTimeout(ctx, 2500*time.Millisecond)
	defer cancel()
	h, err := t.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflowID,
		UpdateName:   workflows.UpdateAbort,
		Args:         []any{workflows.Request{By: who, Reason: reason}},
		WaitForStage: client.WorkflowUpdateStageAccepted,
	})
	if err != nil {
		return notRunning(err)
	}
	var out string
	if err := h.Get(ctx, &out); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("abort %s: %w", workflowID, err)
	}
	return nil
}

// notRunning maps Temporal's "not found" and "already completed" answers
// to ErrNoRollout.
func notRunning(err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("%w: %v", ErrNoRollout, err)
	}
	return err
}
