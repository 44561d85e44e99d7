package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/coalmine-dev/coalmine/workers"
	"github.com/coalmine-dev/coalmine/workflows"
)

// maxReplayEvents bounds the history read for a replay: Temporal's own
// default limit of one run's history.
const maxReplayEvents = 51200

// replayTimeout bounds reading the history and replaying it.
const replayTimeout = 30 * time.Second

// replayed is what the workflow would answer, rebuilt by replaying its
// event history with the workflow code of this binary.
type replayed struct {
	// Status is what the status query would return.
	Status workflows.Status
	// CurrentDetails is the markdown the workflow last set as its current
	// details (the Web UI's "current details").
	CurrentDetails string
	// RunID and Events say which history was replayed.
	RunID  string
	Events int
}

// replayStatus reads the event history of the app's workflow (the latest
// run) from Temporal, which needs no worker, and replays it here with
// this binary's workflow code to rebuild the status and current details
// the workflow would answer. It fails when the history cannot be read or
// the code here does not replay it (a coalmine of another version).
func replayStatus(ctx context.Context, c client.Client, app string) (replayed, error) {
	ctx, cancel := context.WithTimeout(ctx, replayTimeout)
	defer cancel()
	h, runID, err := readHistory(ctx, c, app)
	if err != nil {
		return replayed{}, err
	}
	if !ranATask(h) {
		return replayed{}, fmt.Errorf("the workflow of %s has not run its first task yet, so there is nothing to replay", app)
	}
	snap := &snapshot{}
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
		Interceptors: []interceptor.WorkerInterceptor{snap},
	})
	if err != nil {
		return replayed{}, fmt.Errorf("set up the replay of %s: %w", app, err)
	}
	workers.RegisterWorkflows(r)
	quiet := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	err = r.ReplayWorkflowHistoryWithOptions(quiet, h, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: workflows.WorkflowID(app), RunID: runID},
	})
	if err != nil {
		return replayed{}, fmt.Errorf("the workflow code of this coalmine does not replay the history of %s (use the coalmine version the worker runs): %s",
			app, clip(err.Error(), maxFailureText))
	}
	if !snap.taken {
		return replayed{}, fmt.Errorf("replaying the history of %s gave no status: its workflow registers no status query", app)
	}
	return replayed{Status: snap.status, CurrentDetails: snap.details, RunID: runID, Events: len(h.Events)}, nil
}

// readHistory reads the events of the latest run of the app's workflow,
// at most maxReplayEvents of them, and the run's id.
func readHistory(ctx context.Context, c client.Client, app string) (*historypb.History, string, error) {
	id := workflows.WorkflowID(app)
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			var nf *serviceerror.NotFound
			if errors.As(err, &nf) {
				return nil, "", fmt.Errorf("no rollout of %s is running", app)
			}
			return nil, "", fmt.Errorf("read the event history of %s: %s", id, briefCause(err))
		}
		if len(h.Events) == maxReplayEvents {
			return nil, "", fmt.Errorf("the event history of %s has more than %d events, too many to replay here", id, maxReplayEvents)
		}
		h.Events = append(h.Events, ev)
	}
	runID := ""
	if len(h.Events) > 0 {
		runID = h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetOriginalExecutionRunId()
	}
	return h, runID, nil
}

// replayCache keeps the last replay of a watched rollout, so that a
// history that did not grow is not read and replayed again.
type replayCache struct {
	key  string
	r    replayed
	note string
}

// details returns the current details of the app's workflow, described as
// wf, rebuilt from its history, and where they come from; when they cannot
// be rebuilt, no details and why.
func (rc *replayCache) details(ctx context.Context, c client.Client, app string, wf describedWorkflow) (details, from string) {
	key := fmt.Sprint(wf.RunID, "/", wf.HistoryLength)
	if key != rc.key {
		r, err := replayStatus(ctx, c, app)
		rc.key, rc.r, rc.note = key, r, ""
		if err != nil {
			rc.note = "not available: " + err.Error()
		}
	}
	if rc.note != "" {
		return "", rc.note
	}
	return rc.r.CurrentDetails, fmt.Sprintf("rebuilt here by replaying the workflow's %d history events: as the workflow last set them, not live", rc.r.Events)
}

// ranATask says whether a worker completed a workflow task of the
// history: before that, the workflow has run no code.
func ranATask(h *historypb.History) bool {
	for _, ev := range h.Events {
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			return true
		}
	}
	return false
}
