// Package slackbot turns clicks on the Promote and Abort buttons of
// coalmine's Slack messages into actions on rollouts. Clicks arrive as
// signed HTTP requests (the Interactivity URL) or over Socket Mode; both
// go through one Handler, which checks that the clicker is an approver of
// the gate, that the gate is the one waiting now, and that nobody acted on
// it already.
package slackbot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/slack-go/slack"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/activities/notify"
)

// Environment variables that hold Slack's secrets on the worker. They are
// read at start and never logged.
const (
	EnvBotToken      = "SLACK_BOT_TOKEN"
	EnvSigningSecret = "SLACK_SIGNING_SECRET"
	EnvAppToken      = "SLACK_APP_TOKEN"
)

// ErrNoRollout is what Rollouts returns when the run is not running any more.
var ErrNoRollout = errors.New("no such rollout running")

// GateState is what a click needs to know about a rollout run.
type GateState struct {
	// App is the application being rolled out.
	App string
	// WaitingGate is the id of the gate waiting for a person now; "" when
	// none waits.
	WaitingGate string
	// Where describes the rollout's position, e.g. "step 4, setWeight 25".
	Where string
	// Approvers are the Slack user and user group ids that may act on the
	// waiting gate; empty means anyone.
	Approvers []string
	// Decisions are the people's actions on gates so far, by gate id.
	Decisions map[string]api.Decision
	// Card is the rollout's Slack card as of now.
	Card api.Card
}

// Rollouts acts on rollout runs; the worker implements it with the Temporal
// client (the approve signal, the abort update, the status query).
type Rollouts interface {
	// Gate reports a run's gate state; ErrNoRollout when it is not running.
	Gate(ctx context.Context, workflowID, runID string) (GateState, error)
	// Approve passes the waiting gate gateID.
	Approve(ctx context.Context, workflowID, runID, gateID, who string) error
	// Abort rolls the rollout back.
	Abort(ctx context.Context, workflowID, runID, who, reason string) error
}

// Slack is the part of the Slack Web API the handler uses.
type Slack interface {
	Upsert(ctx context.Context, channel string, where api.Posted, c api.Card) (api.Posted, error)
	Ephemeral(ctx context.Context, channel, user, text string) error
	GroupMembers(ctx context.Context, group string) ([]string, error)
}

// Handler handles button clicks.
type Handler struct {
	// SigningSecret verifies HTTP requests (X-Slack-Signature).
	SigningSecret string
	// Slack posts ephemeral answers and updates messages.
	Slack Slack
	// Rollouts acts on rollouts.
	Rollouts Rollouts
	// Logger logs each click's outcome; nil means slog.Default().
	Logger *slog.Logger
	// Now tells the time; nil means time.Now.
	Now func() time.Time
}

// Outcome is what a click did, for logs and tests.
type Outcome string

// Outcomes of a click.
const (
	OutcomePromoted    Outcome = "promoted"
	OutcomeAborted     Outcome = "aborted"
	OutcomeNotApprover Outcome = "not-approver"
	OutcomeDuplicate   Outcome = "duplicate"
	OutcomeStaleGate   Outcome = "stale-gate"
	OutcomeGone        Outcome = "gone"
	OutcomeMalformed   Outcome = "malformed"
	OutcomeIgnored     Outcome = "ignored"
)

// Handle acts on one interaction. It answers the user in Slack itself
// (an ephemeral message, or the updated rollout message) and returns what
// it did; the error is for failures to reach Slack or Temporal.
func (h *Handler) Handle(ctx context.Context, cb slack.InteractionCallback) (Outcome, error) {
	if cb.Type != slack.InteractionTypeBlockActions {
		return OutcomeIgnored, nil
	}
	var act *slack.BlockAction
	for _, a := range cb.ActionCallback.BlockActions {
		if a.ActionID == notify.ActionPromote || a.ActionID == notify.ActionAbort {
			act = a
			break
		}
	}
	if act == nil {
		return OutcomeIgnored, nil
	}
	user, channel := cb.User.ID, cb.Container.ChannelID
	if channel == "" {
		channel = cb.Channel.ID
	}
	say := func(o Outcome, text string) (Outcome, error) {
		h.logger().InfoContext(ctx, "slack click", "user", user, "action", act.ActionID, "outcome", string(o))
		if err := h.Slack.Ephemeral(ctx, channel, user, text); err != nil {
			return o, err
		}
		return o, nil
	}
	bv, err := notify.ParseButtonValue(act.Value)
	if err != nil || user == "" {
		return say(OutcomeMalformed, "This button does not name a coalmine rollout; nothing was changed.")
	}
	st, err := h.Rollouts.Gate(ctx, bv.WorkflowID, bv.RunID)
	if errors.Is(err, ErrNoRollout) {
		return say(OutcomeGone, "This rollout is no longer running; nothing was changed.")
	}
	if err != nil {
		return "", fmt.Errorf("read rollout %s: %w", bv.WorkflowID, err)
	}
	if d, ok := st.Decisions[bv.GateID]; ok {
		return say(OutcomeDuplicate, fmt.Sprintf("%s already %s this gate at %s; nothing was changed.",
			describeWho(d.Who), pastTense(d.Action), d.At.UTC().Format("15:04 UTC")))
	}
	if st.WaitingGate != bv.GateID {
		where := "no gate is waiting"
		if st.Where != "" {
			where = "the rollout is now at " + st.Where
		}
		return say(OutcomeStaleGate, fmt.Sprintf("This gate has already passed: %s. Nothing was changed.", where))
	}
	ok, err := h.isApprover(ctx, user, st.Approvers)
	if err != nil {
		return "", err
	}
	if !ok {
		return say(OutcomeNotApprover, fmt.Sprintf("You are not an approver for %s; nothing was changed.", st.App))
	}
	who := "slack:" + user
	var outcome Outcome
	switch act.ActionID {
	case notify.ActionPromote:
		err, outcome = h.Rollouts.Approve(ctx, bv.WorkflowID, bv.RunID, bv.GateID, who), OutcomePromoted
	default:
		err, outcome = h.Rollouts.Abort(ctx, bv.WorkflowID, bv.RunID, who, "aborted from Slack"), OutcomeAborted
	}
	if errors.Is(err, ErrNoRollout) {
		return say(OutcomeGone, "This rollout is no longer running; nothing was changed.")
	}
	if err != nil {
		_, _ = say("error", "coalmine could not act on the rollout: "+err.Error())
		return "", fmt.Errorf("%s rollout %s: %w", outcome, bv.WorkflowID, err)
	}
	card := st.Card
	card.Gate = nil
	card.Decision = &api.Decision{Action: map[Outcome]string{OutcomePromoted: "promote", OutcomeAborted: "abort"}[outcome], Who: who, At: h.now()}
	if cb.Container.MessageTs != "" {
		if _, err := h.Slack.Upsert(ctx, channel, api.Posted{Channel: channel, TS: cb.Container.MessageTs}, card); err != nil {
			h.logger().WarnContext(ctx, "update rollout message after click", "error", err)
		}
	}
	h.logger().InfoContext(ctx, "slack click", "user", user, "action", act.ActionID, "outcome", string(outcome), "workflow", bv.WorkflowID, "gate", bv.GateID)
	return outcome, nil
}

// isApprover reports whether user is in approvers directly or through one
// of its user groups (S…). No approvers means anyone may act.
func (h *Handler) isApprover(ctx context.Context, user string, approvers []string) (bool, error) {
	if len(approvers) == 0 || slices.Contains(approvers, user) {
		return true, nil
	}
	for _, a := range approvers {
		if len(a) == 0 || a[0] != 'S' {
			continue
		}
		members, err := h.Slack.GroupMembers(ctx, a)
		if err != nil {
			return false, err
		}
		if slices.Contains(members, user) {
			return true, nil
		}
	}
	return false, nil
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func describeWho(identity string) string {
	if len(identity) > 6 && identity[:6] == "slack:" {
		return "<@" + identity[6:] + ">"
	}
	return identity
}

func pastTense(action string) string {
	switch action {
	case "promote":
		return "promoted"
	case "abort":
		return "aborted"
	}
	return action
}
