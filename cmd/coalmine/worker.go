package main

import (
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/workers"
)

func newWorkerCmd(io streams) *cobra.Command {
	var (
		tc          temporalOptions
		metricsAddr string
		stopTimeout time.Duration
		slackListen string
		uiURL       string
		kubeconfig  string
		kubeContext string
		tuning      workers.Tuning
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a coalmine worker: the Rollout workflow and its activities",
		Long: `Worker connects to Temporal and runs rollouts: the Rollout workflow and
the activities that move traffic, measure metrics and notify people.

It connects the way the temporal CLI does: --address, --namespace and the
--tls* flags, else COALMINE_TEMPORAL_ADDRESS and COALMINE_TEMPORAL_NAMESPACE,
else the TEMPORAL_* variables (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
TEMPORAL_API_KEY, TEMPORAL_TLS_*), else the profile of the Temporal
config file (--profile, --config-file, TEMPORAL_PROFILE,
TEMPORAL_CONFIG_FILE). The API key is read from TEMPORAL_API_KEY or the
profile only, never from a flag.
Secrets that plans name (gateway tokens, provider credentials) are read
from this process's environment.

Kubernetes (the httproute, virtualservice and replicas routers, and the
canary Deployment of plans with spec.workload): in a pod the worker uses
its service account; elsewhere --kubeconfig and --context, else
$KUBECONFIG or ~/.kube/config. The cluster is contacted only when a plan
needs it.

Prometheus metrics are served on --metrics-listen at /metrics:
coalmine_rollouts_total{app,outcome}, coalmine_step_duration_seconds{app,kind},
coalmine_canary_weight{app}, coalmine_rollout_phase{app,phase} (1 for the
phase a rollout is in), and the Temporal SDK's own temporal_* metrics.

Slack (optional): with SLACK_BOT_TOKEN set, each rollout whose plan has
notifications.slack gets one message that is updated as it moves, and
approval gates carry Promote and Abort buttons. Clicks arrive at
--slack-listen under /slack/interactions, checked with SLACK_SIGNING_SECRET,
or over Socket Mode with SLACK_APP_TOKEN. Without them the worker says so
once and gates work from the CLI.

Many rollouts at once (docs/benchmarks.md, Orchestrator): the worker scales its pollers with the server's
backlog, up to --workflow-pollers on each of the normal and the sticky
workflow-task queue and --activity-pollers for activities, so a new
rollout's first task and an abort or promote are not stuck behind busy
rollouts; --fixed-pollers turns that off. --sticky-timeout bounds how long
a workflow task waits for this worker's cache before any worker takes it:
the default 1s lets a new worker take over a killed worker's rollbacks
within seconds; on a worker starved of CPU 30s spares it replays, and a
worker that runs a thousand rollouts may take 5s (at 1,000 it cut the
timed-out tasks to a third; at 300 1s keeps every abort within a second);
--activities-per-second caps the activities the whole task queue starts a
second (0, the default, is no cap). Each running rollout keeps one
activity open to watch its traffic split (traffic.verifyInterval) and one
for each look that waits for its due time, so --max-activities must
exceed about three times the rollouts a worker runs at once; the default
is 10000.

On SIGINT or SIGTERM the worker stops polling and lets activities in
flight finish within --stop-timeout; traffic watches and waiting looks
end at once and another worker takes them on.`,
		Example: `  coalmine worker --address 127.0.0.1:7233 --metrics-listen 127.0.0.1:9464
  TEMPORAL_API_KEY=... coalmine worker --address my-ns.a1b2c.tmprl.cloud:7233 --namespace my-ns.a1b2c
  coalmine worker --address temporal.internal:7233 --tls-cert-path client.pem --tls-key-path client.key --tls-ca-path ca.pem
  coalmine worker --profile prod`,
		Args: exactArgs(0, "the worker takes flags only"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := slog.New(slog.NewTextHandler(io.Err, nil))
			ctx := cmd.Context() // cancelled by Ctrl-C or SIGTERM (run)
			acts := workers.KubeActivities(logger, nil, traffic.LazyKube(kubeconfig, kubeContext))
			acts.UIURL = uiURL
			slackCfg := workers.SlackFromEnv(os.Getenv)
			slackCfg.Listen = slackListen
			ep, err := tc.endpoint()
			if err != nil {
				return err
			}
			return workers.Run(ctx, workers.Config{
				Temporal:    ep,
				TaskQueue:   tc.taskQueue,
				MetricsAddr: metricsAddr,
				StopTimeout: stopTimeout,
				Activities:  acts,
				Logger:      logger,
				Slack:       slackCfg,
				Tuning:      tuning,
			})
		},
	}
	tc.addFlags(cmd)
	cmd.Flags().IntVar(&tuning.WorkflowPollers, "workflow-pollers", workers.DefaultPollers, "most workflow-task pollers on each of the normal and sticky queues (a fixed number with --fixed-pollers, at least 2)")
	cmd.Flags().IntVar(&tuning.ActivityPollers, "activity-pollers", workers.DefaultPollers, "most activity-task pollers (a fixed number with --fixed-pollers)")
	cmd.Flags().BoolVar(&tuning.FixedPollers, "fixed-pollers", false, "keep the poller counts fixed instead of scaling them with the server's backlog")
	cmd.Flags().DurationVar(&tuning.StickyTimeout, "sticky-timeout", workers.DefaultStickyTimeout, "how long a workflow task waits on this worker's sticky queue before any worker may take it (whole seconds)")
	cmd.Flags().IntVar(&tuning.MaxActivities, "max-activities", workers.DefaultMaxActivities, "most activities this worker runs at once; each running rollout holds one to watch its traffic split")
	cmd.Flags().Float64Var(&tuning.ActivitiesPerSecond, "activities-per-second", 0, "most activities the whole task queue starts a second, enforced by the server; 0 is no limit")
	cmd.Flags().StringVar(&metricsAddr, "metrics-listen", "127.0.0.1:9464", "address for Prometheus /metrics; empty serves none")
	cmd.Flags().DurationVar(&stopTimeout, "stop-timeout", 30*time.Second, "how long activities in flight may finish on shutdown")
	cmd.Flags().StringVar(&slackListen, "slack-listen", ":8092", "address for Slack's Interactivity URL (/slack/interactions), used when SLACK_SIGNING_SECRET is set")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file for the Kubernetes routers and the canary workload; empty uses in-cluster configuration, else $KUBECONFIG or ~/.kube/config")
	cmd.Flags().StringVar(&kubeContext, "context", "", "kubeconfig context to use; empty uses the current one")
	cmd.Flags().StringVar(&uiURL, "ui-url", envOr("http://127.0.0.1:8233", "COALMINE_UI_URL"), "Temporal Web UI address, for links in Slack messages (env COALMINE_UI_URL)")
	return cmd
}
