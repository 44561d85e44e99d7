package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/releases"
	"github.com/coalmine-dev/coalmine/workers"
	"github.com/coalmine-dev/coalmine/workflows"
)

// startOptions are the flags of `coalmine start`.
type startOptions struct {
	canary, stable       string
	canaryURL, stableURL string
	watch, supersede     bool
	by                   string
}

func newStartCmd(io streams) *cobra.Command {
	var (
		tc temporalOptions
		o  = startOptions{by: whoAmI()}
	)
	cmd := &cobra.Command{
		Use:   "start PLAN --canary V [--stable V] [--canary-url U] [--watch] [--supersede]",
		Short: "Start a rollout of a new version as the plan says",
		Long: `Start loads the plan, then starts the durable rollout of the canary version:
one rollout per app at a time (workflow coalmine/<app>).

The stable version is --stable, else the version the app's last promoted
rollout made stable, else (gateway router) the stable version of the
plan's gateway route, read with the admin token from the plan's tokenEnv
(default COALMINE_GATEWAY_TOKEN); start says which it took. --canary-url (and --stable-url) give the versions' base URLs to
routers that send requests to URLs, such as the built-in gateway.

When a rollout of the app is running, start refuses; --supersede aborts
that rollout first (its traffic goes back to its stable version) and then
starts the new one.`,
		Example: `  coalmine start plans/examples/voice-agent.yaml --canary v2 --watch
  coalmine start plan.yaml --canary v3 --stable v2 --canary-url http://127.0.0.1:9002 --supersede`,
		Args: exactArgs(1, "give the plan file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.canary == "" {
				return usageError{errors.New("--canary is required: the version to roll out")}
			}
			p, warns, err := plans.LoadFile(args[0])
			for _, w := range warns {
				fmt.Fprintf(io.Err, "%s\n", w.String())
			}
			if err != nil {
				return err
			}
			defer tc.Close()
			c, err := tc.Client(cmd.Context())
			if err != nil {
				return err
			}
			if err := startRollout(cmd.Context(), io, c, &tc, p, o); err != nil {
				return err
			}
			if o.watch {
				return watchStatus(cmd.Context(), io, c, p.Spec.App, "text", defaultWatchEvery, defaultQueryTimeout)
			}
			return nil
		},
	}
	tc.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.canary, "canary", "", "the version to roll out (required)")
	f.StringVar(&o.stable, "stable", "", "the version serving traffic now; defaults to the last promoted one, then the gateway route's stable version")
	f.StringVar(&o.canaryURL, "canary-url", "", "base URL of the canary version, for URL-based routers")
	f.StringVar(&o.stableURL, "stable-url", "", "base URL of the stable version, for URL-based routers")
	f.BoolVarP(&o.watch, "watch", "w", false, "show the rollout's progress until it ends")
	f.BoolVar(&o.supersede, "supersede", false, "abort the app's running rollout first, with rollback")
	f.StringVar(&o.by, "by", o.by, "who starts it (env COALMINE_USER, USER)")
	return cmd
}

// startRollout starts the workflow, superseding a running one when asked.
func startRollout(ctx context.Context, io streams, c client.Client, tc *temporalOptions, p *plans.RolloutPlan, o startOptions) error {
	app := p.Spec.App
	id := workflows.WorkflowID(app)
	running, err := runningRollout(ctx, c, id)
	if err != nil {
		return err
	}
	stable, from, err := stableVersion(ctx, c, tc.namespace, p, o.stable)
	if err != nil {
		return err
	}
	if stable == o.canary {
		return usageError{fmt.Errorf("the canary %s is already %s's stable version (%s): nothing to roll out; give the new version with --canary, or the serving one with --stable", o.canary, app, stableSource(from, o.stable))}
	}
	if from != "" {
		fmt.Fprintf(io.Err, "stable version %s: from %s\n", stable, from)
	}
	if running != "" {
		if !o.supersede {
			return fmt.Errorf("a rollout of %s is already running (%s); abort it first or pass --supersede", app, running)
		}
		// Forced: when its router does not take the reset, the old rollout
		// ends anyway; the new one sets absolute weights from its first step.
		reason := fmt.Sprintf("superseded by %s", o.canary)
		out, err := sendUpdate(ctx, c, app, workflows.UpdateAbort, workflows.Request{By: o.by, Reason: reason, Force: true})
		if err != nil {
			return fmt.Errorf("supersede the running rollout of %s: %w", app, err)
		}
		fmt.Fprintf(io.Err, "aborting the running rollout of %s (%s): %s...\n", app, running, out)
		err = c.GetWorkflow(ctx, id, "").Get(ctx, nil)
		if err != nil && !isRolledBack(err) {
			return fmt.Errorf("wait for the superseded rollout of %s: %w", app, plainError(app, err))
		}
		fmt.Fprintf(io.Err, "the superseded rollout of %s has ended: %s\n", app, supersededEnd(err))
	}
	in := workflows.Input{
		Plan:      *p,
		Stable:    api.Version{Name: stable, URL: o.stableURL},
		Canary:    api.Version{Name: o.canary, URL: o.canaryURL},
		StartedBy: o.by,
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                tc.taskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		// A worker killed in the middle of a workflow task delays the
		// rollout (and its rollback) by this timeout; the default is 10s.
		WorkflowTaskTimeout:   workflowTaskTimeout,
		StaticSummary:         workflows.StaticSummary(app, stable, o.canary),
		StaticDetails:         staticDetails(p, o.by),
		TypedSearchAttributes: workflows.SearchAttributes(app, stable, o.canary, workflows.PhaseProgressing, 0),
	}, workers.WorkflowName, in)
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return fmt.Errorf("a rollout of %s is already running; abort it first or pass --supersede", app)
		}
		return fmt.Errorf("start the rollout of %s: %w", app, plainError(app, err))
	}
	fmt.Fprintf(io.Out, "started the rollout of %s %s → %s (workflow %s, run %s)\n", app, stable, o.canary, id, run.GetRunID())
	return nil
}

// workflowTaskTimeout is the rollout's workflow task timeout.
const workflowTaskTimeout = 3 * time.Second

// defaultWatchEvery is how often start --watch redraws.
const defaultWatchEvery = 2 * time.Second

// runningRollout describes the app's running rollout, or "" when none runs.
func runningRollout(ctx context.Context, c client.Client, id string) (string, error) {
	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("look up %s: %w", id, err)
	}
	info := d.GetWorkflowExecutionInfo()
	if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return "", nil
	}
	sa := info.GetSearchAttributes().GetIndexedFields()
	return fmt.Sprintf("%s → %s, %s", orQ(keyword(sa, "CoalmineStableVersion")), keyword(sa, "CoalmineCanaryVersion"), keyword(sa, "CoalminePhase")), nil
}

// lastPromoted returns the version serving the app now: the one its last
// promoted rollout made stable, or a later rollback went back to.
func lastPromoted(ctx context.Context, c client.Client, namespace, app string) (string, error) {
	st, err := releases.Load(ctx, c, namespace, app)
	if err != nil {
		return "", fmt.Errorf("look up the version serving %s: %w", app, err)
	}
	if st.Current == nil {
		return "", nil
	}
	return st.Current.Version.Name, nil
}

// isRolledBack reports whether err is a rollout that ended rolled back, or
// was ended by abort --force (a superseded rollout whose router did not answer).
func isRolledBack(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && (ae.Type() == workflows.ErrorTypeRolledBack || ae.Type() == workflows.ErrorTypeAbandoned)
}

// staticDetails is the Web UI's static details: the plan's steps.
func staticDetails(p *plans.RolloutPlan, by string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Plan **%s**, router `%s`, started by %s.\n\nSteps:\n", p.Metadata.Name, p.Spec.Traffic.Router, by)
	for i, s := range p.Spec.Steps {
		fmt.Fprintf(&b, "%d. %s\n", i+1, describeStep(s))
	}
	if p.Spec.BackgroundAnalysis != nil {
		fmt.Fprintf(&b, "\nBackground analysis: %s\n", strings.Join(p.Spec.BackgroundAnalysis.Templates, ", "))
	}
	return b.String()
}

// supersededEnd says how a superseded rollout ended.
func supersededEnd(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) && ae.Type() == workflows.ErrorTypeAbandoned {
		return ae.Message()
	}
	return "rolled back"
}

// stableSource says where the stable version came from: the flag, or
// what stableVersion found.
func stableSource(from, flag string) string {
	if flag != "" {
		return "from --stable"
	}
	return "from " + from
}
