package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/devstack"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/workers"
	"github.com/coalmine-dev/coalmine/workflows"
)

// demo is one run of the demo: what it started and, once the stack runs,
// where Temporal is.
type demo struct {
	o        Options
	plan     *plans.RolloutPlan
	route    string
	tokenEnv string
	versions []demoVersion
	// trafficURL and adminURL are the demo gateway's; admin is its client.
	trafficURL, adminURL string
	admin                *admin.Client
	info                 devstack.Info
	c                    client.Client
}

// run runs the two rollouts on the running stack.
func (d *demo) run(ctx context.Context, rep *Report) error {
	opts := client.Options{HostPort: d.info.HostPort, Namespace: d.info.Namespace,
		Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))}
	if d.o.Interceptor != nil {
		opts.ConnectionOptions.DialOptions = []grpc.DialOption{grpc.WithChainUnaryInterceptor(d.o.Interceptor)}
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return fmt.Errorf("demo: connect to Temporal at %s: %w", d.info.HostPort, err)
	}
	defer c.Close()
	d.c = c
	v1, v2, v3 := d.versions[0], d.versions[1], d.versions[2]

	good, err := d.rollout(ctx, 1, "good canary", v1, v2)
	rep.Rollouts = append(rep.Rollouts, good)
	if err != nil {
		return err
	}
	if good.Phase != workflows.PhasePromoted {
		return fmt.Errorf("demo: the good canary %s ended %s, not Promoted: %s", v2.cfg.Version, good.Phase, good.Reason)
	}
	bad, err := d.rollout(ctx, 2, "bad canary", v2, v3)
	rep.Rollouts = append(rep.Rollouts, bad)
	if err != nil {
		return err
	}
	if bad.Phase != workflows.PhaseRolledBack {
		return fmt.Errorf("demo: the bad canary %s ended %s, not RolledBack", v3.cfg.Version, bad.Phase)
	}
	return nil
}

// rollout starts one rollout, shows its progress, promotes it at its
// approval gate and waits for its end.
func (d *demo) rollout(ctx context.Context, n int, title string, stable, canary demoVersion) (Rollout, error) {
	app := d.plan.Spec.App
	r := Rollout{Title: title, App: app, Stable: stable.cfg.Version, Canary: canary.cfg.Version, WorkflowID: workflows.WorkflowID(app)}
	fmt.Fprintf(d.o.Out, "── Rollout %d/2: %s — %s %s → %s (%s)\n", n, title, app, r.Stable, r.Canary, describeAgent(canary.cfg, stable.cfg))

	watch := watchRoute(ctx, d.admin, d.route, r.Canary)
	run, err := d.start(ctx, n, &r, stable, canary)
	if err != nil {
		watch.stop()
		return r, err
	}
	st, err := d.follow(ctx, run, r.Title)
	samples := watch.stop()
	if err != nil {
		return r, err
	}
	if err := d.outcome(ctx, run, st, samples, &r); err != nil {
		return r, err
	}
	if r.Phase == workflows.PhaseRolledBack {
		fmt.Fprintf(d.o.Out, "%s rolled back: %s\n\n", r.Canary, r.Reason)
	} else {
		fmt.Fprintf(d.o.Out, "%s %s\n\n", r.Canary, r.Phase)
	}
	return r, nil
}

// start starts the Rollout workflow of r as `coalmine start` does and
// records its run in r.
func (d *demo) start(ctx context.Context, n int, r *Rollout, stable, canary demoVersion) (client.WorkflowRun, error) {
	in := workflows.Input{
		Plan:      *d.plan,
		Stable:    api.Version{Name: r.Stable, URL: stable.url},
		Canary:    api.Version{Name: r.Canary, URL: canary.url},
		StartedBy: demoBy,
	}
	run, err := d.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       r.WorkflowID,
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		StaticSummary:            workflows.StaticSummary(r.App, r.Stable, r.Canary),
		StaticDetails:            fmt.Sprintf("coalmine demo, rollout %d/2: the %s. Plan **%s** at speed ×%g.", n, r.Title, d.plan.Metadata.Name, d.o.Speed),
		TypedSearchAttributes:    workflows.SearchAttributes(r.App, r.Stable, r.Canary, workflows.PhaseProgressing, 0),
	}, workers.WorkflowName, in)
	if err != nil {
		return nil, fmt.Errorf("demo: start the rollout of %s %s: %w", r.App, r.Canary, err)
	}
	r.RunID = run.GetRunID()
	r.UIURL = workflowUIURL(d.info.UIURL, d.info.Namespace, r.WorkflowID, r.RunID)
	fmt.Fprintf(d.o.Out, "started workflow %s (run %s)\n   Web UI: %s\n", r.WorkflowID, r.RunID, r.UIURL)
	return run, nil
}

// outcome records in r how the rollout ended, checking that its workflow
// says the same, and when the gateway moved traffic.
func (d *demo) outcome(ctx context.Context, run client.WorkflowRun, st workflows.Status, samples routeSamples, r *Rollout) error {
	r.Phase, r.Reason, r.Verdicts = st.Phase, st.Reason, st.Verdicts
	gerr := run.Get(ctx, nil)
	if (r.Phase == workflows.PhasePromoted && gerr != nil) || (r.Phase == workflows.PhaseRolledBack && !isRolledBackErr(gerr)) {
		return fmt.Errorf("demo: the rollout of %s ended %s but its workflow says: %v", r.Canary, r.Phase, gerr)
	}
	r.Started, r.Ended = st.StartedAt, st.UpdatedAt
	for _, a := range st.Approvals {
		if a.Decision == "approved" || strings.HasPrefix(a.Decision, "approv") {
			r.PromotedBy = a.By
		}
	}
	for _, v := range st.Verdicts {
		if v.Phase == analysis.PhaseFailed {
			r.DetectedAt = v.At
			break
		}
	}
	r.TrafficAt, r.StableAt = samples.times(r.DetectedAt)
	r.Plain = plainCatch(st, d.plan)
	if rs, err := d.admin.Route(ctx, d.route); err == nil {
		r.GatewayStable = rs.Stable.Version
	}
	return nil
}

// follow shows the rollout's progress until it ends, promoting it at its
// approval gate; it returns the final status.
func (d *demo) follow(ctx context.Context, run client.WorkflowRun, title string) (workflows.Status, error) {
	app := d.plan.Spec.App
	p := newProgress(d.o.Out, d.o.TTY, d.o.Render)
	p.width, p.height = d.o.Width, d.o.Height
	every := 250 * time.Millisecond
	if d.o.TTY {
		every = 500 * time.Millisecond
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var gateSince time.Time
	promoted := false
	for {
		st, err := d.status(ctx, run)
		if err != nil {
			return st, err
		}
		p.show(st, time.Now())
		if st.Phase.Ended() {
			p.done()
			return st, nil
		}
		if st.Gate != "" && st.Phase == workflows.PhasePaused && !promoted && (st.WaitKind == "approval" || st.WaitKind == "gate") {
			if gateSince.IsZero() {
				gateSince = time.Now()
				p.note(fmt.Sprintf("%s waits at its approval gate (%s); in %s the demo approves it with the promote update, as `coalmine promote %s` does", st.Canary.Name, st.Gate, d.o.GateHold, app))
			} else if time.Since(gateSince) >= d.o.GateHold {
				if err := d.promote(ctx, app); err != nil {
					return st, err
				}
				promoted = true
				p.note(fmt.Sprintf("promote sent by %q: the gate passed", demoBy))
			}
		} else if st.Phase == workflows.PhasePaused && st.WaitKind == "inconclusive" {
			return st, fmt.Errorf("demo: the %s's analysis was inconclusive (%s); the rollout waits for a person — look at it with coalmine status %s", title, st.Waiting, app)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-tick.C:
		}
	}
}

// status queries the rollout's status; the query keeps working after the
// workflow has ended while the worker runs.
func (d *demo) status(ctx context.Context, run client.WorkflowRun) (workflows.Status, error) {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := d.c.QueryWorkflow(qctx, run.GetID(), run.GetRunID(), workflows.QueryStatus)
	if err != nil {
		return workflows.Status{}, fmt.Errorf("demo: query the status of %s: %w", run.GetID(), err)
	}
	var st workflows.Status
	if err := v.Get(&st); err != nil {
		return workflows.Status{}, fmt.Errorf("demo: decode the status of %s: %w", run.GetID(), err)
	}
	return st, nil
}

// promote sends the promote update, as `coalmine promote` does.
func (d *demo) promote(ctx context.Context, app string) error {
	uctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	h, err := d.c.UpdateWorkflow(uctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflows.WorkflowID(app),
		UpdateName:   workflows.UpdatePromote,
		Args:         []any{workflows.Request{By: demoBy, Reason: "every analysis passed"}},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return fmt.Errorf("demo: promote %s: %w", app, err)
	}
	var out string
	if err := h.Get(uctx, &out); err != nil {
		return fmt.Errorf("demo: promote %s: %w", app, err)
	}
	return nil
}

// workflowUIURL links a workflow run in the Temporal Web UI.
func workflowUIURL(ui, namespace, id, runID string) string {
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", ui, url.PathEscape(namespace), url.PathEscape(id), url.PathEscape(runID))
}

// isRolledBackErr reports whether err is a rollout that ended rolled back.
func isRolledBackErr(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == workflows.ErrorTypeRolledBack
}
