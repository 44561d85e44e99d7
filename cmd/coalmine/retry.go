package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/releases"
)

func newRetryCmd(io streams) *cobra.Command {
	var (
		tc                      temporalOptions
		by                      = whoAmI()
		watch                   bool
		kubeconfig, kubeContext string
	)
	cmd := &cobra.Command{
		Use:   "retry APP",
		Short: "Start the app's last rolled-back or aborted rollout again, with the same plan and versions",
		Long: `Retry starts again the app's last rollout when it ended rolled back,
aborted, cancelled or terminated: the same plan (as it was when that
rollout started) and the same stable and canary versions.

It refuses when a rollout of the app runs, when the app's last run was
promoted or was a rollback, and when the canary no longer exists: its URL
does not answer, the gateway route no longer has its backend, or, for the
httproute and virtualservice routers, the canary's Service (or the canary
subset of the DestinationRule) selects no ready pod, and for the replicas
router the canary Deployment is gone. Those three ask the cluster with
--kubeconfig and --context (else $KUBECONFIG or ~/.kube/config). Plans
with a workload start the canary Deployment again themselves.`,
		Example: `  coalmine retry voice-agent
  coalmine retry voice-agent --watch`,
		Args: exactArgs(1, "give the app"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			app := args[0]
			defer tc.Close()
			c, err := tc.Client(ctx)
			if err != nil {
				return err
			}
			st, err := releases.Load(ctx, c, tc.namespace, app)
			if err != nil {
				return err
			}
			in, err := st.RetryInput(ctx, c, by)
			if err != nil {
				return err
			}
			how, err := releases.CheckCanary(ctx, in, os.Getenv, &http.Client{Timeout: 10 * time.Second})
			if err == nil && how == "" {
				how, err = releases.ClusterCanary(ctx, in, traffic.LazyKube(kubeconfig, kubeContext))
			}
			if errors.Is(err, releases.ErrCanaryGone) {
				return fmt.Errorf("retry refused: %w; start a new rollout with coalmine start", err)
			}
			if err != nil {
				return err
			}
			if how == "" {
				how = fmt.Sprintf("the %s router cannot be asked; the first step finds out", in.Plan.Spec.Traffic.Router)
			}
			fmt.Fprintf(io.Err, "canary %s: %s\n", in.Canary.Name, how)
			run, err := releases.Retry(ctx, c, tc.taskQueue, in)
			if err != nil {
				return err
			}
			fmt.Fprintf(io.Out, "started the retry of %s %s → %s (workflow %s, run %s)\n", app, in.Stable.Name, in.Canary.Name, run.GetID(), run.GetRunID())
			if watch {
				return watchStatus(ctx, io, c, app, "text", defaultWatchEvery, defaultQueryTimeout)
			}
			return nil
		},
	}
	tc.addFlags(cmd)
	cmd.Flags().StringVar(&by, "by", by, "who starts it (env COALMINE_USER, USER)")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "show the rollout's progress until it ends")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file, to look for the canary of an httproute, virtualservice or replicas plan; empty uses in-cluster configuration, else $KUBECONFIG or ~/.kube/config")
	cmd.Flags().StringVar(&kubeContext, "context", "", "kubeconfig context to use; empty uses the current one")
	return cmd
}
