package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"
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

// Button action ids; the interaction handler dispatches on them.
const (
	ActionPromote = "coalmine_promote"
	ActionAbort   = "coalmine_abort"
)

// ButtonValue is what a button carries: the rollout run and gate it acts on.
type ButtonValue struct {
	WorkflowID string `json:"w"`
	RunID      string `json:"r"`
	GateID     string `json:"g"`
}

// ParseButtonValue decodes a button's value.
func ParseButtonValue(s string) (ButtonValue, error) {
	var v ButtonValue
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return v, fmt.Errorf("decode button value: %w", err)
	}
	if v.WorkflowID == "" || v.GateID == "" {
		return v, fmt.Errorf("button value %q names no rollout or gate", s)
	}
	return v, nil
}

var phaseEmoji = map[string]string{
	"Progressing": ":large_blue_circle:",
	"Paused":      ":double_vertical_bar:",
	"Waiting":     ":hourglass_flowing_sand:",
	"Promoted":    ":white_check_mark:",
	"RolledBack":  ":rewind:",
	"Aborted":     ":octagonal_sign:",
}

// Title is the card's one-line summary, also the notification text.
func (c Card) Title() string {
	return fmt.Sprintf("%s %s → %s", c.App, c.Stable, c.Canary)
}

// Fallback is the plain text shown in notifications and by clients that
// cannot render blocks.
func (c Card) Fallback() string {
	s := fmt.Sprintf("%s: %s, canary at %s%%", c.Title(), c.Phase, fmtWeight(c.Weight))
	if c.Text != "" {
		s += ". " + c.Text
	}
	return s
}

// Blocks renders the card as Block Kit blocks.
func (c Card) Blocks() []slack.Block {
	md := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, c.Title(), false, false)),
	}
	phase := c.Phase
	if e, ok := phaseEmoji[c.Phase]; ok {
		phase = e + " " + c.Phase
	}
	step := fmt.Sprintf("%d of %d", c.Step, c.Steps)
	if c.StepText != "" {
		step += ": " + c.StepText
	}
	blocks = append(blocks, slack.NewSectionBlock(nil, []*slack.TextBlockObject{
		md("*Phase*\n" + phase),
		md("*Canary weight*\n" + fmtWeight(c.Weight) + "%"),
		md("*Step*\n" + step),
		md("*Versions*\nstable `" + c.Stable + "`, canary `" + c.Canary + "`"),
	}, nil))
	if c.Text != "" {
		blocks = append(blocks, slack.NewSectionBlock(md(c.Text), nil, nil))
	}
	if len(c.Verdicts) > 0 {
		var b strings.Builder
		b.WriteString("*Latest verdicts*")
		for _, v := range c.Verdicts {
			fmt.Fprintf(&b, "\n• %s `%s` %s", verdictEmoji(v.Verdict), v.Metric, v.Verdict)
			if v.Detail != "" {
				b.WriteString(": " + v.Detail)
			}
		}
		blocks = append(blocks, slack.NewSectionBlock(md(b.String()), nil, nil))
	}
	if g := c.Gate; g != nil && c.Decision == nil {
		var who string
		if len(g.Approvers) > 0 {
			mentions := make([]string, len(g.Approvers))
			for i, a := range g.Approvers {
				mentions[i] = mention(a)
			}
			who = " by " + strings.Join(mentions, ", ")
		}
		text := "*Waiting for approval" + who + ".*"
		if !g.Deadline.IsZero() {
			text += fmt.Sprintf(" If nobody acts by %s, the rollout will %s.", slackDate(g.Deadline), g.OnTimeout)
		}
		blocks = append(blocks, slack.NewSectionBlock(md(text), nil, nil))
		value, _ := json.Marshal(ButtonValue{WorkflowID: g.WorkflowID, RunID: g.RunID, GateID: g.ID})
		promote := slack.NewButtonBlockElement(ActionPromote, string(value), slack.NewTextBlockObject(slack.PlainTextType, "Promote", false, false))
		promote.Style = slack.StylePrimary
		abort := slack.NewButtonBlockElement(ActionAbort, string(value), slack.NewTextBlockObject(slack.PlainTextType, "Abort", false, false))
		abort.Style = slack.StyleDanger
		abort.Confirm = slack.NewConfirmationBlockObject(
			slack.NewTextBlockObject(slack.PlainTextType, "Abort the rollout?", false, false),
			slack.NewTextBlockObject(slack.MarkdownType, "All traffic goes back to `"+c.Stable+"` at once.", false, false),
			slack.NewTextBlockObject(slack.PlainTextType, "Abort", false, false),
			slack.NewTextBlockObject(slack.PlainTextType, "Cancel", false, false))
		blocks = append(blocks, slack.NewActionBlock("gate:"+g.ID, promote, abort))
	}
	if d := c.Decision; d != nil {
		verb := map[string]string{"promote": "Promoted", "abort": "Aborted"}[d.Action]
		if verb == "" {
			verb = d.Action
		}
		blocks = append(blocks, slack.NewContextBlock("decision", md(fmt.Sprintf("%s by %s at %s", verb, who(d.Who), slackDate(d.At)))))
	}
	var ctx []string
	if c.UIURL != "" {
		ctx = append(ctx, fmt.Sprintf("<%s|Open in Temporal Web UI>", c.UIURL))
	}
	ctx = append(ctx, fmt.Sprintf("`coalmine status %s`", c.App))
	blocks = append(blocks, slack.NewContextBlock("links", md(strings.Join(ctx, " · "))))
	return blocks
}

func verdictEmoji(v string) string {
	switch v {
	case "Pass":
		return ":white_check_mark:"
	case "Fail":
		return ":x:"
	case "Inconclusive":
		return ":grey_question:"
	}
	return ":warning:"
}

// mention renders a Slack user (U…/W…) or user group (S…) id as a mention.
func mention(id string) string {
	if strings.HasPrefix(id, "S") {
		return "<!subteam^" + id + ">"
	}
	return "<@" + id + ">"
}

// who renders an identity: slack:U123 becomes a mention, others stay as text.
func who(identity string) string {
	if id, ok := strings.CutPrefix(identity, "slack:"); ok {
		return "<@" + id + ">"
	}
	return "`" + identity + "`"
}

// slackDate renders a time that Slack shows in each reader's time zone,
// with a UTC fallback.
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

func fmtWeight(w float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", w), "0"), ".")
}
