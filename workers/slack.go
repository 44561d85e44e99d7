package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/slack-go/slack"
	"go.temporal.io/sdk/client"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/activities/notify"
	"github.com/coalmine-dev/coalmine/workers/slackbot"
)

// SlackConfig holds Slack's secrets and where clicks arrive. The secrets
// come from the environment only (SlackFromEnv); they never enter plans,
// workflow history or logs.
type SlackConfig struct {
	// BotToken (xoxb-…) posts and updates messages; without it Slack is off.
	BotToken string
	// SigningSecret checks clicks that arrive over HTTP.
	SigningSecret string
	// AppToken (xapp-…) receives clicks over Socket Mode instead.
	AppToken string
	// APIURL is the Slack Web API's address; empty means Slack itself.
	APIURL string
	// Listen is where the Interactivity URL (/slack/interactions) is
	// served when SigningSecret is set, e.g. :8092.
	Listen string
}

// Environment variables of the Slack configuration besides the secrets.
const envSlackAPIURL = "SLACK_API_URL"

// SlackFromEnv reads the Slack secrets from the environment.
func SlackFromEnv(getenv func(string) string) SlackConfig {
	return SlackConfig{
		BotToken:      getenv(slackbot.EnvBotToken),
		SigningSecret: getenv(slackbot.EnvSigningSecret),
		AppToken:      getenv(slackbot.EnvAppToken),
		APIURL:        getenv(envSlackAPIURL),
	}
}

// Enabled reports whether Slack is configured.
func (s SlackConfig) Enabled() bool { return s.BotToken != "" }

// startSlack makes the activities post to Slack and starts receiving
// clicks: over HTTP at Listen when a signing secret is set, over Socket
// Mode when an app token is. It returns a stop function. Without a bot
// token it says once that Slack is off and changes nothing.
func startSlack(ctx context.Context, cfg SlackConfig, c client.Client, namespace string, acts *activities.Activities, logger *slog.Logger) (func(), error) {
	if !cfg.Enabled() {
		logger.Info("Slack is off: set " + slackbot.EnvBotToken + " (and " + slackbot.EnvSigningSecret + " or " + slackbot.EnvAppToken + ") to post rollouts and take approvals in Slack; gates still work from the CLI")
		return func() {}, nil
	}
	poster := notify.NewSlack(cfg.BotToken, cfg.APIURL, logger)
	acts.Notifier = poster
	h := &slackbot.Handler{
		SigningSecret: cfg.SigningSecret,
		Slack:         poster,
		Rollouts:      slackbot.Temporal{Client: c, Namespace: namespace, UIURL: acts.UIURL},
		Logger:        logger,
	}
	var stops []func()
	if cfg.SigningSecret != "" && cfg.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("listen for Slack interactions on %s: %w", cfg.Listen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/slack/interactions", h)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("Slack interactions listener failed", "error", err)
			}
		}()
		logger.Info("Slack interactions at http://" + ln.Addr().String() + "/slack/interactions")
		stops = append(stops, func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		})
	}
	if cfg.AppToken != "" {
		opts := []slack.Option{slack.OptionAppLevelToken(cfg.AppToken)}
		if cfg.APIURL != "" {
			opts = append(opts, slack.OptionAPIURL(cfg.APIURL))
		}
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := h.RunSocketMode(sctx, slack.New(cfg.BotToken, opts...)); err != nil {
				logger.Error("Slack Socket Mode stopped", "error", err)
			}
		}()
		logger.Info("Slack Socket Mode on")
		stops = append(stops, func() { cancel(); <-done })
	}
	if cfg.SigningSecret == "" && cfg.AppToken == "" {
		logger.Warn("Slack posts rollouts, but clicks on its buttons cannot arrive: set " + slackbot.EnvSigningSecret + " (with --slack-listen) or " + slackbot.EnvAppToken)
	}
	return func() {
		for _, stop := range stops {
			stop()
		}
	}, nil
}
