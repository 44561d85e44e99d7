package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/coalmine-dev/coalmine/activities/api"
)

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

// Blocks renders a card as Block Kit blocks.
func Blocks(c api.Card) []slack.Block {
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
		md("*Canary weight*\n" + c.WeightText() + "%"),
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
