// Package releases reads an app's releases from what Temporal already
// records: the runs on the app's workflow id in visibility, the results of
// promoted rollouts and of rollbacks, and the inputs of rollouts. From them
// it says which version serves the app now, which earlier versions a
// rollback may return to, and which rollout a retry would start again. It
// keeps no store of its own.
package releases

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/workers"
	"github.com/coalmine-dev/coalmine/workflows"
)

// maxRuns bounds the runs read from visibility for one app.
const maxRuns = 1000

// Release is a version that served all of an app's traffic.
type Release struct {
	// Version names it, with the URL it was served at where known.
	Version api.Version `json:"version"`
	// Since is when it became the stable version.
	Since time.Time `json:"since"`
	// How says how it became stable: "promoted by the rollout v1 → v2" or
	// "rolled back by alice: reason".
	How string `json:"how"`
	// RunID is the run that made it stable.
	RunID string `json:"runId"`
}

// Run is one run on the app's workflow id.
type Run struct {
	// Type is Rollout or Rollback.
	Type string `json:"type"`
	// RunID identifies the run.
	RunID string `json:"runId"`
	// Status is the run's Temporal status (Running, Completed, Failed, …).
	Status enumspb.WorkflowExecutionStatus `json:"status"`
	// Stable, Canary and Phase are the run's search attributes.
	Stable, Canary, Phase string
	// Start and Close bound it; Close is zero while it runs.
	Start, Close time.Time
}

// Describe says what the run is, e.g. "the rollout of voice v1 → v2 (Progressing)".
func (r Run) Describe(app string) string {
	if r.Type == workers.RollbackWorkflowName {
		return fmt.Sprintf("the rollback of %s %s → %s (%s)", app, r.Canary, r.Stable, r.Phase)
	}
	return fmt.Sprintf("the rollout of %s %s → %s (%s)", app, orQ(r.Stable), r.Canary, r.Phase)
}

func orQ(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// State is what Temporal knows of an app's releases.
type State struct {
	// App is the application.
	App string
	// Running is the run going on now, nil when none runs.
	Running *Run
	// LastEnded is the latest run that ended, nil when none has.
	LastEnded *Run
	// Current is the version serving the app now, by the latest promoted
	// rollout or rollback; nil when none completed.
	Current *Release
	// Window holds the earlier versions a rollback may return to, newest
	// first, at most Revisions of them.
	Window []Release
	// Revisions is the plan's rollbackWindow.revisions, or its default.
	Revisions int
	// Plan is the plan of the run that made Current stable.
	Plan *plans.RolloutPlan
}

// Load reads the app's runs from Temporal (namespace ns) and works out
// its releases.
func Load(ctx context.Context, c client.Client, ns, app string) (*State, error) {
	runs, err := listRuns(ctx, c, ns, app)
	if err != nil {
		return nil, err
	}
	st := &State{App: app, Revisions: plans.DefaultRollbackRevisions}
	var done []change
	for _, r := range runs {
		switch r.Status {
		case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
			if st.Running == nil {
				st.Running = &r
			}
			continue
		case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
			continue
		}
		if st.LastEnded == nil {
			st.LastEnded = &r
		}
		if r.Status != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			continue
		}
		if len(done) == 0 {
			if err := st.readPlan(ctx, c, app, r); err != nil {
				return nil, err
			}
		}
		ch, err := outcome(ctx, c, app, r)
		if err != nil {
			return nil, err
		}
		done = append(done, ch)
		if st.fold(done); len(st.Window) >= st.Revisions {
			break
		}
	}
	st.fold(done)
	return st, nil
}

// change is what one completed run did: made became the stable version
// in place of before.
type change struct {
	became, before api.Version
	how, runID     string
	start, close   time.Time
	describe       string
}

// fold works out the current version and the rollback window from the
// completed runs, newest first: each made a version stable and left the
// one before; a version counts once, at its newest place, with the URL of
// any run that knew it.
func (st *State) fold(changes []change) {
	st.Current, st.Window = nil, nil
	var all []Release
	seen := map[string]int{}
	add := func(v api.Version, since time.Time, how, runID string) {
		if v.Name == "" {
			return
		}
		if i, ok := seen[v.Name]; ok {
			if all[i].Version.URL == "" {
				all[i].Version.URL = v.URL
			}
			// Say how the version became stable, not only what left it.
			if all[i].RunID == "" && runID != "" {
				all[i].Since, all[i].How, all[i].RunID = since, how, runID
			}
			return
		}
		seen[v.Name] = len(all)
		all = append(all, Release{Version: v, Since: since, How: how, RunID: runID})
	}
	for _, ch := range changes {
		add(ch.became, ch.close, ch.how, ch.runID)
		add(ch.before, ch.start, "stable before "+ch.describe, "")
	}
	if len(all) == 0 {
		return
	}
	st.Current = &all[0]
	st.Window = all[1:min(len(all), st.Revisions+1)]
}

// readPlan takes the plan and the rollback window of the run that made
// the current version stable.
func (st *State) readPlan(ctx context.Context, c client.Client, app string, r Run) error {
	var p plans.RolloutPlan
	if r.Type == workers.RollbackWorkflowName {
		var in workflows.RollbackInput
		if err := Input(ctx, c, app, r.RunID, &in); err != nil {
			return err
		}
		p = in.Plan
	} else {
		var in workflows.Input
		if err := Input(ctx, c, app, r.RunID, &in); err != nil {
			return err
		}
		p = in.Plan
	}
	st.Plan = &p
	if w := p.Spec.RollbackWindow; w != nil && w.Revisions > 0 {
		st.Revisions = min(w.Revisions, plans.MaxRollbackRevisions)
	}
	return nil
}

// outcome reads a completed run's result: the version it made stable and
// the one that was stable before.
func outcome(ctx context.Context, c client.Client, app string, r Run) (change, error) {
	id := workflows.WorkflowID(app)
	ch := change{runID: r.RunID, start: r.Start, close: r.Close, describe: r.Describe(app)}
	if r.Type == workers.RollbackWorkflowName {
		var res workflows.RollbackResult
		if err := c.GetWorkflow(ctx, id, r.RunID).Get(ctx, &res); err != nil {
			return ch, fmt.Errorf("read the result of rollback run %s of %s: %w", r.RunID, app, err)
		}
		ch.became, ch.before = res.To, res.From
		ch.how = fmt.Sprintf("rolled back from %s by %s: %s", res.From.Name, res.By, res.Reason)
		return ch, nil
	}
	var res workflows.Result
	if err := c.GetWorkflow(ctx, id, r.RunID).Get(ctx, &res); err != nil {
		return ch, fmt.Errorf("read the result of rollout run %s of %s: %w", r.RunID, app, err)
	}
	ch.became, ch.before = res.Promoted, res.Previous
	ch.how = fmt.Sprintf("promoted by the rollout %s → %s", orQ(res.Previous.Name), res.Promoted.Name)
	return ch, nil
}

// listRuns lists the runs on the app's workflow id, running ones first,
// then by close time, newest first.
func listRuns(ctx context.Context, c client.Client, ns, app string) ([]Run, error) {
	var runs []Run
	var token []byte
	query := fmt.Sprintf("WorkflowId = '%s'", strings.ReplaceAll(workflows.WorkflowID(app), "'", "\\'"))
	for len(runs) < maxRuns {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: ns, PageSize: 100, NextPageToken: token, Query: query,
		})
		if err != nil {
			return nil, fmt.Errorf("list the runs of %s: %w", app, err)
		}
		for _, e := range resp.GetExecutions() {
			runs = append(runs, runOf(e))
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	slices.SortStableFunc(runs, func(a, b Run) int {
		ka, kb := a.Close, b.Close
		if ka.IsZero() {
			ka = time.Unix(1<<40, 0)
		}
		if kb.IsZero() {
			kb = time.Unix(1<<40, 0)
		}
		return kb.Compare(ka)
	})
	return runs, nil
}

func runOf(e *workflowpb.WorkflowExecutionInfo) Run {
	sa := e.GetSearchAttributes().GetIndexedFields()
	kw := func(name string) string {
		var s string
		if p, ok := sa[name]; ok {
			_ = converter.GetDefaultDataConverter().FromPayload(p, &s)
		}
		return s
	}
	r := Run{
		Type:   e.GetType().GetName(),
		RunID:  e.GetExecution().GetRunId(),
		Status: e.GetStatus(),
		Stable: kw(workflows.AttrStable.GetName()),
		Canary: kw(workflows.AttrCanary.GetName()),
		Phase:  kw(workflows.AttrPhase.GetName()),
		Start:  e.GetStartTime().AsTime(),
	}
	if e.GetCloseTime() != nil {
		r.Close = e.GetCloseTime().AsTime()
	}
	return r
}

// Input decodes the input of one run of the app's workflow into v.
func Input(ctx context.Context, c client.Client, app, runID string, v any) error {
	it := c.GetWorkflowHistory(ctx, workflows.WorkflowID(app), runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return fmt.Errorf("run %s of %s has no history", runID, app)
	}
	ev, err := it.Next()
	if err != nil {
		return fmt.Errorf("read run %s of %s: %w", runID, app, err)
	}
	started := ev.GetWorkflowExecutionStartedEventAttributes()
	if started == nil {
		return fmt.Errorf("run %s of %s: the first event is not its start", runID, app)
	}
	if err := converter.GetDefaultDataConverter().FromPayloads(started.GetInput(), v); err != nil {
		return fmt.Errorf("decode the input of run %s of %s: %w", runID, app, err)
	}
	return nil
}

// ErrNoRelease is returned when no rollout of the app ever completed.
var ErrNoRelease = errors.New("no rollout of the app has been promoted")
