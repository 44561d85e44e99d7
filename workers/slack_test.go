package workers

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/activities/notify"
)

// TestSlackOffSaysSoOnce checks the worker without Slack: it says so once,
// keeps logging notifications, and starts no listener.
func TestSlackOffSaysSoOnce(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	acts := &activities.Activities{Notifier: notify.Log{Logger: logger}}
	stop, err := startSlack(context.Background(), SlackFromEnv(func(string) string { return "" }), nil, "default", acts, logger)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if n := strings.Count(logs.String(), "Slack is off"); n != 1 {
		t.Errorf("the worker said %d times that Slack is off:\n%s", n, logs.String())
	}
	if _, ok := acts.Notifier.(notify.Log); !ok {
		t.Errorf("notifier = %T, want the log notifier", acts.Notifier)
	}
}

// TestSlackOnPostsThroughSlack checks that a bot token switches the
// notifier to Slack and that the secrets stay out of the logs.
func TestSlackOnPostsThroughSlack(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	acts := &activities.Activities{}
	env := map[string]string{"SLACK_BOT_TOKEN": "xoxb-secret", "SLACK_SIGNING_SECRET": "shh-signing"}
	cfg := SlackFromEnv(func(k string) string { return env[k] })
	cfg.Listen = "127.0.0.1:0"
	stop, err := startSlack(context.Background(), cfg, nil, "default", acts, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, ok := acts.Notifier.(*notify.Slack); !ok {
		t.Errorf("notifier = %T, want Slack", acts.Notifier)
	}
	if !strings.Contains(logs.String(), "/slack/interactions") {
		t.Errorf("the interactions address was not logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "xoxb-secret") || strings.Contains(logs.String(), "shh-signing") {
		t.Errorf("a Slack secret reached the log:\n%s", logs.String())
	}
}
