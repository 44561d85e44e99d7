package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/coalmine-dev/coalmine/workers"
	"github.com/coalmine-dev/coalmine/workflows"
)

func newListCmd(io streams) *cobra.Command {
	var (
		tc    temporalOptions
		app   string
		phase string
		limit int
	)
	cmd := &cobra.Command{
		Use:   "list [--app APP] [--phase PHASE]",
		Short: "List rollouts, newest first, from Temporal's visibility store",
		Long: `List shows rollouts, running and ended, newest first: app, phase, versions,
canary weight and when they started. Filter by app or by phase
(Progressing, Paused, RollingBack, Promoted, RolledBack).

List reads only Temporal's visibility store — the search attributes each
rollout last recorded — and never queries a rollout, so it answers at
once with hundreds of rollouts running, even when the workers are busy
or down. The store may lag a second or so behind the rollouts. It shows
the newest --limit rollouts (at most 10000) and says when more match.`,
		Example: "  coalmine list\n  coalmine list --phase Paused\n  coalmine list --app voice-agent",
		Args:    exactArgs(0, "filters are flags"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > maxListLimit {
				return usageError{fmt.Errorf("--limit %d: give a number from 1 to %d", limit, maxListLimit)}
			}
			defer tc.Close()
			if phase != "" {
				p, err := phaseNamed(phase)
				if err != nil {
					return err
				}
				phase = p
			}
			c, err := tc.Client(cmd.Context())
			if err != nil {
				return err
			}
			execs, more, err := listRollouts(cmd.Context(), c, tc.namespace, listQuery(app, phase), limit)
			if err != nil {
				return fmt.Errorf("list rollouts: %w", plainError(app, err))
			}
			if len(execs) == 0 {
				fmt.Fprintln(io.Out, "no rollouts found")
				return nil
			}
			tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "APP\tPHASE\tVERSIONS\tWEIGHT\tSTATUS\tSTARTED")
			for _, e := range execs {
				sa := e.GetSearchAttributes().GetIndexedFields()
				fmt.Fprintf(tw, "%s\t%s\t%s → %s\t%s%%\t%s\t%s\n",
					keyword(sa, "CoalmineApp"), keyword(sa, "CoalminePhase"),
					orQ(keyword(sa, "CoalmineStableVersion")), keyword(sa, "CoalmineCanaryVersion"),
					fmtPct(double(sa, "CoalmineCanaryWeight")),
					outcome(e.GetStatus(), keyword(sa, "CoalminePhase")),
					e.GetStartTime().AsTime().UTC().Format(time.DateTime))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if more {
				fmt.Fprintf(io.Out, "(the newest %d; more match: raise --limit or filter with --app or --phase)\n", limit)
			}
			return nil
		},
	}
	tc.addFlags(cmd)
	cmd.Flags().StringVar(&app, "app", "", "only this app")
	cmd.Flags().StringVar(&phase, "phase", "", "only rollouts in this phase")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many rollouts, newest first (1 to 10000)")
	return cmd
}

// maxListLimit bounds list --limit.
const maxListLimit = 10000

// listRollouts reads the newest rollouts that match query from the
// visibility store, page by page, at most limit of them; more says
// whether others match too (it reads one beyond limit to know).
func listRollouts(ctx context.Context, c client.Client, ns, query string, limit int) (execs []*workflowpb.WorkflowExecutionInfo, more bool, err error) {
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: ns, PageSize: int32(min(limit+1-len(execs), 1000)), NextPageToken: token, Query: query,
		})
		if err != nil {
			return nil, false, err
		}
		execs = append(execs, resp.GetExecutions()...)
		token = resp.GetNextPageToken()
		if len(execs) > limit {
			return execs[:limit], true, nil
		}
		if len(token) == 0 {
			return execs, false, nil
		}
	}
}

// phases are the rollout phases list --phase accepts.
var phases = []workflows.Phase{workflows.PhaseProgressing, workflows.PhasePaused, workflows.PhaseRollingBack, workflows.PhasePromoted, workflows.PhaseRolledBack, workflows.PhaseAbandoned}

// phaseNamed returns the phase named s, in any case, or an error that
// lists the phases.
func phaseNamed(s string) (string, error) {
	names := make([]string, len(phases))
	for i, p := range phases {
		if strings.EqualFold(s, string(p)) {
			return string(p), nil
		}
		names[i] = string(p)
	}
	return "", fmt.Errorf("--phase %q is not a rollout phase; use one of %s", s, strings.Join(names, ", "))
}

// outcome says how a rollout's workflow stands, in rollout words: a
// completed rollout was promoted, a failed one was rolled back unless its
// phase says it was abandoned (abort --force).
func outcome(s enumspb.WorkflowExecutionStatus, phase string) string {
	if s == enumspb.WORKFLOW_EXECUTION_STATUS_FAILED && phase == string(workflows.PhaseAbandoned) {
		return "abandoned, traffic as last read"
	}
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return "running"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "promoted"
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "rolled back"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "cancelled, rolled back"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "continued"
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_"))
}

// listQuery is the visibility query for rollouts with the filters.
func listQuery(app, phase string) string {
	q := []string{fmt.Sprintf("WorkflowType = '%s'", workers.WorkflowName)}
	if app != "" {
		q = append(q, fmt.Sprintf("CoalmineApp = '%s'", quote(app)))
	}
	if phase != "" {
		q = append(q, fmt.Sprintf("CoalminePhase = '%s'", quote(phase)))
	}
	return strings.Join(q, " AND ")
}

func quote(s string) string { return strings.ReplaceAll(s, "'", "\\'") }

func keyword(sa map[string]*commonpb.Payload, name string) string {
	var s string
	if p, ok := sa[name]; ok {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &s)
	}
	return s
}

func double(sa map[string]*commonpb.Payload, name string) float64 {
	var f float64
	if p, ok := sa[name]; ok {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &f)
	}
	return f
}
