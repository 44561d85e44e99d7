package workers

import (
	"log/slog"
	"os"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/activities/metrics"
	"github.com/coalmine-dev/coalmine/activities/notify"
	"github.com/coalmine-dev/coalmine/activities/traffic"
)

// DefaultActivities builds the activities with every built-in traffic
// router and metric provider. getenv reads the secrets plans name (nil
// reads the process environment); notifications are logged.
func DefaultActivities(logger *slog.Logger, getenv func(string) string) *activities.Activities {
	if logger == nil {
		logger = slog.Default()
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	return &activities.Activities{
		Routers:  traffic.NewRegistry(traffic.Deps{Getenv: getenv}),
		Metrics:  metrics.NewRegistry(metrics.Options{Getenv: getenv, Logger: logger}),
		Notifier: notify.Log{Logger: logger},
		Logger:   logger,
	}
}
