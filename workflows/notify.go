package workflows

import (
	"slices"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// notify shows the rollout's card to people; a failed notification is
// recorded, never fatal. The card's message place is kept in the state so
// every event updates the one message.
func (r *rollout) notify(ctx workflow.Context, event, text string, approval *plans.Approval) {
	if !r.notifies(event) && has(ctx, changeSkipNotify) {
		// Nobody is to be told: the activity would only log the card.
		r.logger.Info("rollout notification (the plan sends none)", "app", r.st.App, "event", event, "text", text)
		return
	}
	in := api.NotifyInput{
		Event:         event,
		Notifications: r.spec.Notifications,
		Card:          r.card(ctx, event, text, approval),
		Message:       r.ctl.Message,
	}
	if approval != nil {
		in.Channel = approval.Channel
	}
	var out api.NotifyResult
	if err := r.exec(ctx, "notify "+event, api.NameNotify, in, &out); err != nil {
		if ctx.Err() == nil && !temporal.IsCanceledError(err) {
			// A notification cut short by the end of what sent it did not fail.
			r.event(ctx, "notify", "", "notification failed: "+errText(err))
		}
		return
	}
	if out.Message.TS != "" {
		r.ctl.Message = out.Message
	}
}

// changeSkipNotify versions notifications that the plan does not ask for:
// they are logged by the workflow instead of sent to a Notify activity,
// saving an activity and a workflow task each. Rollouts recorded before it
// ran Notify for every event, and the activity only logged those.
const changeSkipNotify = "skip-notify"

// notifies reports whether the plan wants people told about event: Slack
// is configured and its event list (all events when empty) names it.
func (r *rollout) notifies(event string) bool {
	n := r.spec.Notifications
	if n == nil || n.Slack == nil {
		return false
	}
	return len(n.Slack.Events) == 0 || slices.Contains(n.Slack.Events, event)
}

// card is the rollout as its Slack message shows it.
func (r *rollout) card(ctx workflow.Context, event, text string, approval *plans.Approval) api.Card {
	c := api.Card{
		App:    r.st.App,
		Stable: r.st.Stable.Name,
		Canary: r.st.Canary.Name,
		Phase:  string(r.phase()),
		Step:   min(r.st.Step+1, len(r.st.Steps)),
		Steps:  len(r.st.Steps),
		Weight: r.st.Weight,
		Event:  event,
		Text:   text,
	}
	if r.st.Step < len(r.st.Steps) {
		c.StepText = r.st.Steps[r.st.Step]
	}
	for _, ms := range [][]MetricStatus{r.st.Analysis, r.st.Background} {
		for _, m := range ms {
			if last, ok := m.History.Last(); ok {
				c.Verdicts = append(c.Verdicts, api.VerdictLine{Metric: m.Metric, Verdict: last.Label(), Detail: lastMeasurement(m)})
			}
		}
	}
	info := workflow.GetInfo(ctx)
	switch event {
	case plans.EventGate:
		c.Phase = string(PhasePaused)
		g := &api.Gate{ID: gateID(r.st.Step), WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID}
		if approval != nil {
			if approval.Approvers != nil {
				g.Approvers = append(append([]string(nil), approval.Approvers.Users...), approval.Approvers.Groups...)
			}
			g.Deadline = r.ctl.Deadline
			g.OnTimeout = onTimeout(approval)
		}
		c.Gate = g
	case plans.EventApproved:
		if n := len(r.st.Approvals); n > 0 {
			a := r.st.Approvals[n-1]
			action := "promote"
			if a.Decision == "aborted" {
				action = "abort"
			}
			c.Decision = &api.Decision{Action: action, Who: a.By, At: a.At}
		}
	}
	return c
}
