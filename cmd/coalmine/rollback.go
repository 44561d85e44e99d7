package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/temporal"

	"github.com/coalmine-dev/coalmine/releases"
	"github.com/coalmine-dev/coalmine/workflows"
)

func newRollbackCmd(io streams) *cobra.Command {
	var (
		tc     temporalOptions
		req    = releases.RollbackRequest{By: whoAmI()}
		noWait bool
	)
	cmd := &cobra.Command{
		Use:   "rollback APP [--to VERSION] --reason WHY [--supersede]",
		Short: "Send all of an app's traffic back to an earlier promoted version at once",
		Long: `Rollback moves all of the app's traffic back to a version it promoted
before, at once: no steps, no analysis. It runs as a short durable workflow
on the app's id (coalmine/<app>): for plans with a workload it first gives
the stable Deployment that version again, then returns every request to
it, retrying until the router confirms; it is recorded with who and why,
and notified like a rollback.

Without --to it goes back to the version that was stable before the
current one. The versions it can go back to are the last
spec.rollbackWindow.revisions (default 3) promoted before the current one,
read from the app's promoted rollouts and rollbacks in Temporal;
coalmine history APP lists them.

It refuses while a rollout of the app runs; --supersede aborts that
rollout first (its canary goes back to its stable version) and then rolls
back.

When the router refuses the reset (gateway down, wrong admin token), the
rollback alerts at the first failure with the cause and keeps retrying;
coalmine status shows the failures. coalmine abort APP --reason WHY
retries at once; coalmine abort APP --force --reason WHY ends the rollback
as Abandoned, leaving traffic as it is. --supersede also ends a running
rollback that way before starting this one, and so does start --supersede.`,
		Example: `  coalmine rollback voice-agent --reason "answers got worse overnight"
  coalmine rollback voice-agent --to v5 --reason "v6 and v7 both regress on tool calls"
  coalmine rollback voice-agent --reason "incident 4711" --supersede`,
		Args: exactArgs(1, "give the app"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(req.Reason) == "" {
				return usageError{errors.New("--reason is required: say why")}
			}
			ctx := cmd.Context()
			defer tc.Close()
			c, err := tc.Client(ctx)
			if err != nil {
				return err
			}
			st, err := releases.Load(ctx, c, tc.namespace, args[0])
			if err != nil {
				return err
			}
			req.TaskQueue = tc.taskQueue
			run, in, err := releases.Rollback(ctx, c, st, req, func(s string) { fmt.Fprintln(io.Err, s) })
			if err != nil {
				return err
			}
			fmt.Fprintf(io.Out, "rolling %s back from %s to %s (workflow %s, run %s)\n", args[0], in.From.Name, in.To.Name, run.GetID(), run.GetRunID())
			if noWait {
				return nil
			}
			var res workflows.RollbackResult
			if err := run.Get(ctx, &res); err != nil {
				var ae *temporal.ApplicationError
				if errors.As(err, &ae) {
					return errors.New(ae.Message())
				}
				return fmt.Errorf("wait for the rollback of %s: %w", args[0], err)
			}
			fmt.Fprintf(io.Out, "%s is back on %s at 100%% (was %s)\n", res.App, res.To.Name, res.From.Name)
			return nil
		},
	}
	tc.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&req.To, "to", "", "the version to go back to; defaults to the one stable before the current")
	f.StringVar(&req.ToURL, "to-url", "", "base URL of that version, for the gateway router when no earlier rollout recorded it")
	f.StringVar(&req.Reason, "reason", "", "why, in a few words (required)")
	f.StringVar(&req.By, "by", req.By, "who asks (env COALMINE_USER, USER)")
	f.BoolVar(&req.Supersede, "supersede", false, "end the app's running rollout or rollback first (abort --force), then roll back")
	f.BoolVar(&noWait, "no-wait", false, "return once the rollback has started")
	return cmd
}
