package api

import (
	"fmt"
	"strings"
	"time"
)

// Card is what one Slack message shows about a rollout. The message is
// posted when the rollout starts and updated in place as it moves.
type Card struct {
	// App is the application being rolled out.
	App string `json:"app"`
	// Stable and Canary are the version names.
	Stable string `json:"stable"`
	Canary string `json:"canary"`
	// Phase is the rollout's phase (Progressing, Paused, Promoted, RolledBack…).
	Phase string `json:"phase"`
	// Step is the current step, 1-based, of Steps; StepText describes it.
	Step     int    `json:"step"`
	Steps    int    `json:"steps"`
	StepText string `json:"stepText,omitempty"`
	// Weight is the canary's share of traffic, in percent.
	Weight float64 `json:"weight"`
	// Event is the plans.Event* that caused this version of the message.
	Event string `json:"event"`
	// Text says what happened in a sentence or two (the rollback reason, say).
	Text string `json:"text,omitempty"`
	// Verdicts are the latest measurements, one line each with numbers.
	Verdicts []VerdictLine `json:"verdicts,omitempty"`
	// UIURL links to the workflow in the Temporal Web UI.
	UIURL string `json:"uiUrl,omitempty"`
	// Gate, when set, is a gate waiting for a person: the message carries
	// Promote and Abort buttons for it.
	Gate *Gate `json:"gate,omitempty"`
	// Decision, when set, says who decided the last gate and how; the
	// buttons are gone.
	Decision *Decision `json:"decision,omitempty"`
}

// VerdictLine is one metric's latest verdict.
type VerdictLine struct {
	// Metric is the metric's name.
	Metric string `json:"metric"`
	// Verdict is Pass, Fail, Inconclusive or Error.
	Verdict string `json:"verdict"`
	// Detail gives the numbers, e.g. "canary 0.031 vs stable 0.012 (n=812)".
	Detail string `json:"detail,omitempty"`
}

// Gate identifies a waiting gate, so a button click acts on exactly it.
type Gate struct {
	// ID is the gate's id within the rollout (e.g. "step-9").
	ID string `json:"id"`
	// WorkflowID and RunID identify the rollout run.
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
	// Approvers are Slack user ids and user group ids allowed to act;
	// empty means anyone who can see the message.
	Approvers []string `json:"approvers,omitempty"`
	// Deadline is when the gate times out; zero when it does not.
	Deadline time.Time `json:"deadline,omitzero"`
	// OnTimeout is what happens then: rollback or promote.
	OnTimeout string `json:"onTimeout,omitempty"`
}

// Decision is a person's action on a gate.
type Decision struct {
	// Action is "promote" or "abort".
	Action string `json:"action"`
	// Who is the identity that acted, e.g. slack:U024BE7LH or cli:alice.
	Who string `json:"who"`
	// At is when.
	At time.Time `json:"at"`
}

// Title is the card's one-line summary, also the notification text.
func (c Card) Title() string {
	return fmt.Sprintf("%s %s → %s", c.App, c.Stable, c.Canary)
}

// Fallback is the plain text shown in notifications and by clients that
// cannot render blocks.
func (c Card) Fallback() string {
	s := fmt.Sprintf("%s: %s, canary at %s%%", c.Title(), c.Phase, c.WeightText())
	if c.Text != "" {
		s += ". " + c.Text
	}
	return s
}

// WeightText is the canary's weight as people read it: 12.5, 20, 0.25.
func (c Card) WeightText() string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", c.Weight), "0"), ".")
}

// Posted is where a rollout's message lives, kept in the workflow's state so
// later events update it instead of posting again.
type Posted struct {
	// Channel is the channel id Slack answered with.
	Channel string `json:"channel"`
	// TS is the message's timestamp, its id within the channel.
	TS string `json:"ts"`
}

// Note is one notification about a rollout: the card as it is now, where to
// show it, and where the rollout's message already is.
type Note struct {
	// Channel is where to post when there is no message yet.
	Channel string `json:"channel"`
	// Card is what the message shows.
	Card Card `json:"card"`
	// Message is where the rollout's message is; empty before the first post.
	Message Posted `json:"message"`
}
