// Package notify tells people about rollouts. For now it logs; the Slack
// notifier will live here too.
package notify

import (
	"context"
	"log/slog"
)

// Message is one notification about a rollout.
type Message struct {
	// App is the application being rolled out.
	App string
	// Event is one of the plans.Event* names.
	Event string
	// Text is the message in plain sentences.
	Text string
	// Channel is where to post it, when the plan says.
	Channel string
	// WorkflowID identifies the rollout, for buttons that act on it.
	WorkflowID string
}

// Log writes notifications to a structured log.
type Log struct {
	// Logger receives the messages; nil means slog.Default().
	Logger *slog.Logger
}

// Notify implements the activities' Notifier by logging the message.
func (l Log) Notify(ctx context.Context, m Message) error {
	lg := l.Logger
	if lg == nil {
		lg = slog.Default()
	}
	lg.InfoContext(ctx, "notification", "app", m.App, "event", m.Event, "channel", m.Channel, "workflow", m.WorkflowID, "text", m.Text)
	return nil
}
