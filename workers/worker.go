// Package workers assembles coalmine's worker: configuration, the
// connection to Temporal, activities, registration, metrics and the run
// loop of the Temporal worker, and the Slack interaction endpoint. The dev
// stack and the demo that run it on one machine live in package devstack.
package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/workflows"
)

// WorkflowName is the registered name of the Rollout workflow.
const WorkflowName = "Rollout"

// RollbackWorkflowName is the registered name of the Rollback workflow
// that `coalmine rollback` starts.
const RollbackWorkflowName = "Rollback"

// Register registers the Rollout and Rollback workflows and the activities on w.
func Register(w worker.Registry, acts *activities.Activities) {
	RegisterWorkflows(w)
	w.RegisterActivity(acts)
}

// WorkflowRegistrar is what takes workflows by name: a worker, or a
// replayer (worker.WorkflowReplayer) that checks or reads histories.
type WorkflowRegistrar interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// RegisterWorkflows registers the Rollout and Rollback workflows under the
// names recorded histories carry.
func RegisterWorkflows(r WorkflowRegistrar) {
	r.RegisterWorkflowWithOptions(workflows.Rollout, workflow.RegisterOptions{Name: WorkflowName})
	r.RegisterWorkflowWithOptions(workflows.Rollback, workflow.RegisterOptions{Name: RollbackWorkflowName})
}

// NewWorker builds a worker on c for the task queue that runs rollouts,
// with the default Tuning. Activities get stopTimeout to finish when the
// worker stops.
func NewWorker(c client.Client, taskQueue string, acts *activities.Activities, stopTimeout time.Duration) worker.Worker {
	return NewTunedWorker(c, taskQueue, acts, stopTimeout, Tuning{})
}

// NewTunedWorker is NewWorker with the pollers, sticky timeout and rate
// limit of t; t must be valid (Tuning.Validate).
func NewTunedWorker(c client.Client, taskQueue string, acts *activities.Activities, stopTimeout time.Duration, t Tuning) worker.Worker {
	if taskQueue == "" {
		taskQueue = workflows.TaskQueue
	}
	opts := t.options(stopTimeout)
	// A heartbeat that a loaded server answers late does not end an
	// activity's work (activities.NewInterceptor).
	opts.Interceptors = append(opts.Interceptors, activities.NewInterceptor())
	w := worker.New(c, taskQueue, opts)
	Register(w, acts)
	return w
}

// Config configures a worker process.
type Config struct {
	// Temporal is where Temporal is and how to authenticate (Connection.Resolve, PlainEndpoint).
	Temporal Endpoint
	// TaskQueue is the task queue; "coalmine" when empty.
	TaskQueue string
	// MetricsAddr is where /metrics is served, e.g. 127.0.0.1:9464; empty serves none.
	MetricsAddr string
	// StopTimeout is how long activities may finish on shutdown; 30s when zero.
	StopTimeout time.Duration
	// Activities are the activities with their dependencies.
	Activities *activities.Activities
	// Logger logs; nil means slog.Default().
	Logger *slog.Logger
	// Slack configures Slack messages and approvals; zero means Slack is off.
	Slack SlackConfig
	// Tuning sets the pollers, the sticky timeout and the rate limit; zero is the defaults.
	Tuning Tuning
	// Ready, when set, is called once the worker polls (and /metrics listens).
	Ready func(metricsAddr string)
}

// Run runs a worker until ctx is done, then stops it gracefully: the
// worker stops polling, activities in flight get StopTimeout to finish,
// and the metrics listener drains.
func Run(ctx context.Context, cfg Config) error {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if cfg.Activities == nil {
		return errors.New("run worker: no activities")
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 30 * time.Second
	}
	if err := cfg.Tuning.Validate(); err != nil {
		return fmt.Errorf("run worker: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c, err := Dial(ctx, cfg.Temporal, logger, NewPrometheusHandler(reg))
	if err != nil {
		return err
	}
	defer c.Close()

	var srv *http.Server
	metricsAddr := ""
	if cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen for metrics on %s: %w", cfg.MetricsAddr, err)
		}
		metricsAddr = ln.Addr().String()
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("metrics listener failed", "addr", metricsAddr, "error", err)
			}
		}()
	}

	stopSlack, err := startSlack(ctx, cfg.Slack, c, cfg.Temporal.Namespace, cfg.Activities, logger)
	if err != nil {
		return err
	}
	defer stopSlack()

	w := NewTunedWorker(c, cfg.TaskQueue, cfg.Activities, cfg.StopTimeout, cfg.Tuning)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on task queue %s: %w", orDefault(cfg.TaskQueue, workflows.TaskQueue), err)
	}
	logger.Info("worker started", "temporal", cfg.Temporal.String(), "taskQueue", orDefault(cfg.TaskQueue, workflows.TaskQueue), "metrics", metricsAddr)
	if cfg.Ready != nil {
		cfg.Ready(metricsAddr)
	}
	<-ctx.Done()
	logger.Info("worker stopping")
	w.Stop()
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("stop metrics listener: %w", err)
		}
	}
	logger.Info("worker stopped")
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
