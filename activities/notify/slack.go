package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/slack-go/slack"

	"github.com/coalmine-dev/coalmine/activities/api"
)

// Slack keeps one Slack message per rollout: posted when the rollout
// starts, updated in place (chat.update) as it moves.
type Slack struct {
	// Client calls the Slack Web API with the bot token.
	Client *slack.Client
	// Logger receives what Slack answered; nil means slog.Default().
	Logger *slog.Logger
}

// NewSlack returns a Slack notifier that calls the Web API at apiURL (""
// for Slack itself; a slacktest server in tests) with the bot token. The
// token is kept by the client only: it never enters messages or logs.
func NewSlack(token, apiURL string, logger *slog.Logger) *Slack {
	var opts []slack.Option
	if apiURL != "" {
		opts = append(opts, slack.OptionAPIURL(apiURL))
	}
	return &Slack{Client: slack.New(token, opts...), Logger: logger}
}

// Upsert shows the card in Slack: it updates the message at where when
// where.TS is set, and posts a new one to channel otherwise. An update of a
// message that is gone posts a new one. It returns where the message is.
func (s *Slack) Upsert(ctx context.Context, channel string, where api.Posted, c api.Card) (api.Posted, error) {
	opts := []slack.MsgOption{slack.MsgOptionText(c.Fallback(), false), slack.MsgOptionBlocks(Blocks(c)...)}
	if where.TS != "" {
		ch, ts, _, err := s.Client.UpdateMessageContext(ctx, where.Channel, where.TS, opts...)
		if err == nil {
			return api.Posted{Channel: ch, TS: ts}, nil
		}
		if !isMissingMessage(err) {
			return where, fmt.Errorf("update Slack message %s in %s: %w", where.TS, where.Channel, err)
		}
		s.logger().WarnContext(ctx, "rollout message is gone; posting a new one", "channel", where.Channel, "ts", where.TS)
	}
	if channel == "" {
		return api.Posted{}, errors.New("post to Slack: no channel: set notifications.slack.channel in the plan")
	}
	ch, ts, err := s.Client.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		return api.Posted{}, fmt.Errorf("post Slack message to %s: %w", channel, err)
	}
	return api.Posted{Channel: ch, TS: ts}, nil
}

// Ephemeral shows text to one user only, in the channel of a message.
func (s *Slack) Ephemeral(ctx context.Context, channel, user, text string) error {
	if _, err := s.Client.PostEphemeralContext(ctx, channel, user, slack.MsgOptionText(text, false)); err != nil {
		return fmt.Errorf("post ephemeral message to %s in %s: %w", user, channel, err)
	}
	return nil
}

// GroupMembers lists the user ids of a user group.
func (s *Slack) GroupMembers(ctx context.Context, group string) ([]string, error) {
	ids, err := s.Client.GetUserGroupMembersContext(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("list members of user group %s: %w", group, err)
	}
	return ids, nil
}

func (s *Slack) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// isMissingMessage reports whether Slack answered that the message or its
// channel no longer exists.
func isMissingMessage(err error) bool {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err == "message_not_found" || se.Err == "channel_not_found"
	}
	return err.Error() == "message_not_found" || err.Error() == "channel_not_found"
}
