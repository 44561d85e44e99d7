package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/coalmine-dev/coalmine/workflows"
)

// askStatus asks the app's workflow for its status with the status
// query, waiting at most timeout. A query needs a worker to run a
// workflow task, so under load or without a worker no answer may come:
// then askStatus returns, instead of the status, a sentence that says why
// (never the raw gRPC text), and the caller shows what Temporal itself
// keeps. Only a missing workflow or an interrupt is an error. status and
// history both ask through here.
func askStatus(ctx context.Context, c client.Client, app string, timeout time.Duration) (st workflows.Status, why string, err error) {
	qctx, cancel := context.WithTimeout(ctx, timeout)
	v, err := c.QueryWorkflow(qctx, workflows.WorkflowID(app), "", workflows.QueryStatus)
	cancel()
	if err == nil {
		if err := v.Get(&st); err != nil {
			return workflows.Status{}, "", fmt.Errorf("read the status of %s: %w", app, err)
		}
		return st, "", nil
	}
	if ctx.Err() != nil {
		return workflows.Status{}, "", ctx.Err()
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return workflows.Status{}, "", plainError(app, err)
	}
	return workflows.Status{}, queryFailure(err, timeout), nil
}

// addQueryTimeout registers --query-timeout on cmd.
func addQueryTimeout(cmd *cobra.Command, d *time.Duration) {
	cmd.Flags().DurationVar(d, "query-timeout", defaultQueryTimeout, "how long to wait for the rollout to answer before showing what Temporal keeps of it instead")
}

// checkQueryTimeout refuses a --query-timeout that is not positive.
func checkQueryTimeout(d time.Duration) error {
	if d <= 0 {
		return usageError{fmt.Errorf("--query-timeout %s: give a positive duration such as 5s", d)}
	}
	return nil
}
