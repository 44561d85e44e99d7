// Package notify tells people about rollouts: a Slack message per rollout,
// updated in place as it moves, or a log line where Slack is off.
package notify

import (
	"context"
	"log/slog"

	"github.com/coalmine-dev/coalmine/activities/api"
)

// Log writes notifications to a structured log; it is the notifier when
// Slack is off.
type Log struct {
	// Logger receives the messages; nil means slog.Default().
	Logger *slog.Logger
}

// Notify logs the note and returns its message place unchanged.
func (l Log) Notify(ctx context.Context, n api.Note) (api.Posted, error) {
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
func (s *Slack) Notify(ctx context.Context, n api.Note) (api.Posted, error) {
	return s.Upsert(ctx, n.Channel, n.Message, n.Card)
}
