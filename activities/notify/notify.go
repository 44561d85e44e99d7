// Package notify tells people about rollouts: a Slack message per rollout,
// updated in place as it moves, or a log line where Slack is off.
package notify

import (
	"context"
	"log/slog"
)

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

// Log writes notifications to a structured log; it is the notifier when
// Slack is off.
type Log struct {
	// Logger receives the messages; nil means slog.Default().
	Logger *slog.Logger
}

// Notify logs the note and returns its message place unchanged.
func (l Log) Notify(ctx context.Context, n Note) (Posted, error) {
	lg := l.Logger
	if lg == nil {
		lg = slog.Default()
	}
	c := n.Card
	lg.InfoContext(ctx, "notification", "app", c.App, "event", c.Event, "phase", c.Phase, "channel", n.Channel, "text", c.Fallback())
	return n.Message, nil
}

// Notify shows the note in Slack: it updates the rollout's message, or
// posts it when there is none yet.
func (s *Slack) Notify(ctx context.Context, n Note) (Posted, error) {
	return s.Upsert(ctx, n.Channel, n.Message, n.Card)
}
