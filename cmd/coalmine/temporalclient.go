package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/coalmine-dev/coalmine/workflows"
)

// temporalOptions are the connection flags shared by the commands that
// talk to Temporal, and the lazily dialled client.
type temporalOptions struct {
	address   string
	namespace string
	taskQueue string
	// dial is the seam tests replace; nil dials the address.
	dial   func(ctx context.Context, o client.Options) (client.Client, error)
	client client.Client
}

// envOr returns the first non-empty environment variable, or def.
func envOr(def string, names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return def
}

// addFlags registers --address, --namespace and --task-queue on cmd.
func (o *temporalOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.address, "address", envOr(client.DefaultHostPort, "COALMINE_TEMPORAL_ADDRESS", "TEMPORAL_ADDRESS"), "Temporal frontend address (env COALMINE_TEMPORAL_ADDRESS, TEMPORAL_ADDRESS)")
	f.StringVar(&o.namespace, "namespace", envOr("default", "COALMINE_TEMPORAL_NAMESPACE", "TEMPORAL_NAMESPACE"), "Temporal namespace (env COALMINE_TEMPORAL_NAMESPACE, TEMPORAL_NAMESPACE)")
	f.StringVar(&o.taskQueue, "task-queue", envOr(workflows.TaskQueue, "COALMINE_TASK_QUEUE"), "Temporal task queue of the coalmine workers")
}

// Client dials Temporal on first use and returns the same client afterwards.
func (o *temporalOptions) Client(ctx context.Context) (client.Client, error) {
	if o.client != nil {
		return o.client, nil
	}
	dial := o.dial
	if dial == nil {
		dial = client.DialContext
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := dial(dctx, client.Options{
		HostPort:  o.address,
		Namespace: o.namespace,
		Logger:    tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		return nil, fmt.Errorf("cannot reach Temporal at %s (namespace %s): %w", o.address, o.namespace, err)
	}
	o.client = c
	return c, nil
}

// Close closes the client if one was dialled.
func (o *temporalOptions) Close() {
	if o.client != nil {
		o.client.Close()
		o.client = nil
	}
}

// whoAmI is the default for --by: the login name.
func whoAmI() string {
	return envOr("someone", "COALMINE_USER", "USER", "USERNAME")
}

// plainError turns a server error into a plain sentence about the app's rollout.
func plainError(app string, err error) error {
	if err == nil {
		return nil
	}
	var nf *serviceerror.NotFound
	var ae *temporal.ApplicationError
	msg := err.Error()
	switch {
	case errors.As(err, &nf):
		return fmt.Errorf("no rollout of %s is running", app)
	case strings.Contains(msg, "workflow execution already completed"):
		return fmt.Errorf("the rollout of %s has ended", app)
	case errors.As(err, &ae):
		return errors.New(ae.Message())
	}
	var ue *serviceerror.Unavailable
	if errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("cannot reach Temporal: %w", err)
	}
	return err
}

// queryStatus asks the app's rollout (running or ended) for its status.
func queryStatus(ctx context.Context, c client.Client, app string) (workflows.Status, error) {
	v, err := c.QueryWorkflow(ctx, workflows.WorkflowID(app), "", workflows.QueryStatus)
	if err != nil {
		return workflows.Status{}, plainError(app, err)
	}
	var st workflows.Status
	if err := v.Get(&st); err != nil {
		return workflows.Status{}, fmt.Errorf("read the status of %s: %w", app, err)
	}
	return st, nil
}

// sendUpdate sends an update to the app's running rollout and waits for
// its answer; a refusal comes back as a plain sentence.
func sendUpdate(ctx context.Context, c client.Client, app, name string, req workflows.Request) (string, error) {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflows.WorkflowID(app),
		UpdateID:     fmt.Sprintf("%s-%s-%d", name, req.By, time.Now().UnixNano()),
		UpdateName:   name,
		Args:         []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return "", endedError(ctx, c, app, err)
	}
	var out string
	if err := h.Get(ctx, &out); err != nil {
		return "", endedError(ctx, c, app, err)
	}
	return out, nil
}

// endedError says how the app's last rollout ended when err shows that
// none is running, and is plainError otherwise.
func endedError(ctx context.Context, c client.Client, app string, err error) error {
	var nf *serviceerror.NotFound
	if !errors.As(err, &nf) && !strings.Contains(err.Error(), "workflow execution already completed") {
		return plainError(app, err)
	}
	d, derr := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(app), "")
	if derr != nil {
		return fmt.Errorf("no rollout of %s is running", app)
	}
	phase := keyword(d.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields(), "CoalminePhase")
	if phase == "" {
		return fmt.Errorf("no rollout of %s is running: the last one has ended", app)
	}
	return fmt.Errorf("no rollout of %s is running: the last one has ended %s", app, phase)
}

// newUpdateCmd builds promote, abort, pause and resume: each sends one
// update with who and why and prints the answer.
func newUpdateCmd(io streams, use, short, long, update string, needReason bool, extra func(*cobra.Command, *workflows.Request)) *cobra.Command {
	var tc temporalOptions
	req := workflows.Request{By: whoAmI()}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  exactArgs(1, "give the app"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if needReason && strings.TrimSpace(req.Reason) == "" {
				return usageError{errors.New("--reason is required: say why")}
			}
			defer tc.Close()
			c, err := tc.Client(cmd.Context())
			if err != nil {
				return err
			}
			out, err := sendUpdate(cmd.Context(), c, args[0], update, req)
			if err != nil {
				return err
			}
			fmt.Fprintln(io.Out, out)
			return nil
		},
	}
	tc.addFlags(cmd)
	cmd.Flags().StringVar(&req.By, "by", req.By, "who asks (env COALMINE_USER, USER)")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why, in a few words")
	if extra != nil {
		extra(cmd, &req)
	}
	return cmd
}
