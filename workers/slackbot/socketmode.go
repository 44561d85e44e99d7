package slackbot

import (
	"context"
	"fmt"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// Acker acknowledges a Socket Mode envelope; socketmode.Client does.
type Acker interface {
	Ack(req socketmode.Request, payload ...any) error
}

// RunSocketMode receives clicks over Socket Mode, for clusters without a
// public Interactivity URL. api must carry the bot token and the app-level
// token (xapp-…, slack.OptionAppLevelToken). It returns when ctx ends.
func (h *Handler) RunSocketMode(ctx context.Context, api *slack.Client) error {
	client := socketmode.New(api)
	errc := make(chan error, 1)
	go func() { errc <- client.RunContext(ctx) }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("slack socket mode: %w", err)
		case evt := <-client.Events:
			h.HandleSocketEvent(ctx, client, evt)
		}
	}
}

// HandleSocketEvent handles one Socket Mode event: interactions are acknowledged
// at once and handled as HTTP ones are; others are only logged.
func (h *Handler) HandleSocketEvent(ctx context.Context, ack Acker, evt socketmode.Event) Outcome {
	switch evt.Type {
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slack.InteractionCallback)
		if evt.Request != nil {
			if err := ack.Ack(*evt.Request); err != nil {
				h.logger().WarnContext(ctx, "acknowledge Slack envelope", "error", err)
			}
		}
		if !ok {
			return OutcomeMalformed
		}
		out, err := h.Handle(ctx, cb)
		if err != nil {
			h.logger().ErrorContext(ctx, "handle Slack click", "error", err)
		}
		return out
	case socketmode.EventTypeConnected:
		h.logger().InfoContext(ctx, "slack socket mode connected")
	case socketmode.EventTypeConnectionError, socketmode.EventTypeInvalidAuth:
		h.logger().WarnContext(ctx, "slack socket mode", "event", string(evt.Type))
	}
	return OutcomeIgnored
}
