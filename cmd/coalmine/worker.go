package main

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/coalmine-dev/coalmine/workers"
)

func newWorkerCmd(io streams) *cobra.Command {
	var (
		tc          temporalOptions
		metricsAddr string
		stopTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a coalmine worker: the Rollout workflow and its activities",
		Long: `Worker connects to Temporal and runs rollouts: the Rollout workflow and
the activities that move traffic, measure metrics and notify people.
Secrets that plans name (gateway tokens, provider credentials) are read
from this process's environment.

Prometheus metrics are served on --metrics-listen at /metrics:
coalmine_rollouts_total{app,outcome}, coalmine_step_duration_seconds{app,kind},
coalmine_canary_weight{app}, and the Temporal SDK's own temporal_* metrics.

On SIGINT or SIGTERM the worker stops polling and lets activities in
flight finish within --stop-timeout.`,
		Example: "  coalmine worker --address 127.0.0.1:7233 --metrics-listen 127.0.0.1:9464",
		Args:    exactArgs(0, "the worker takes flags only"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := slog.New(slog.NewTextHandler(io.Err, nil))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return workers.Run(ctx, workers.Config{
				HostPort:    tc.address,
				Namespace:   tc.namespace,
				TaskQueue:   tc.taskQueue,
				MetricsAddr: metricsAddr,
				StopTimeout: stopTimeout,
				Activities:  workers.DefaultActivities(logger, nil),
				Logger:      logger,
			})
		},
	}
	tc.addFlags(cmd)
	cmd.Flags().StringVar(&metricsAddr, "metrics-listen", "127.0.0.1:9464", "address for Prometheus /metrics; empty serves none")
	cmd.Flags().DurationVar(&stopTimeout, "stop-timeout", 30*time.Second, "how long activities in flight may finish on shutdown")
	return cmd
}
