package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/workflows"
)

// Where a status view comes from, as -o json's "source" says.
const (
	// sourceQuery is the live status the workflow answered to the status query.
	sourceQuery = "query"
	// sourceDescription is what Temporal's description of the workflow
	// says, shown when the query does not answer.
	sourceDescription = "description"
)

// defaultQueryTimeout is how long status waits for the workflow to answer
// its status query before it shows the workflow's description instead.
const defaultQueryTimeout = 5 * time.Second

// describeTimeout bounds the description call, which the server answers
// without a worker.
const describeTimeout = 15 * time.Second

// maxFailureText bounds a pending activity's last failure in the view.
const maxFailureText = 300

// describedStatus is what status shows when the workflow does not answer
// its status query: what the Temporal server itself knows of the
// workflow. Its JSON shares app, phase, stable, canary and weight with
// the live status, so scripts that read those keep working.
type describedStatus struct {
	// Source is always sourceDescription.
	Source string `json:"source"`
	// Why says why the live status is not shown.
	Why string `json:"why"`
	// App, Phase, Stable, Canary and Weight come from the search
	// attributes, as the workflow last wrote them.
	App    string          `json:"app"`
	Phase  workflows.Phase `json:"phase,omitempty"`
	Stable api.Version     `json:"stable"`
	Canary api.Version     `json:"canary"`
	Weight float64         `json:"weight"`
	// Workflow is the execution as the server describes it.
	Workflow describedWorkflow `json:"workflow"`
	// Summary and Details are the summary and details given at start.
	Summary string `json:"summary,omitempty"`
	Details string `json:"details,omitempty"`
	// Memo is the workflow's memo, decoded.
	Memo map[string]any `json:"memo,omitempty"`
	// Reason says how an ended workflow ended, from its close event.
	Reason string `json:"reason,omitempty"`
	// WorkflowTask is the workflow task waiting for a worker, if any.
	WorkflowTask *pendingTask `json:"workflowTask,omitempty"`
	// Activities are the activities scheduled or running.
	Activities []pendingActivity `json:"activities,omitempty"`
	// CurrentDetails is what the Web UI shows as the rollout's current
	// details (markdown). The server keeps none — a worker serves them — so
	// they are rebuilt by replaying the workflow's event history here;
	// empty when that fails.
	CurrentDetails string `json:"currentDetails"`
	// CurrentDetailsFrom says where CurrentDetails come from, or why
	// there are none.
	CurrentDetailsFrom string `json:"currentDetailsFrom"`
}

// describedWorkflow is the execution's record on the server.
type describedWorkflow struct {
	ID            string    `json:"id"`
	RunID         string    `json:"runId"`
	Type          string    `json:"type"`
	Status        string    `json:"status"`
	TaskQueue     string    `json:"taskQueue"`
	StartedAt     time.Time `json:"startedAt"`
	ClosedAt      time.Time `json:"closedAt,omitzero"`
	HistoryLength int64     `json:"historyLength"`
}

// pendingTask is a workflow task that waits for, or runs on, a worker.
type pendingTask struct {
	State       string    `json:"state"`
	ScheduledAt time.Time `json:"scheduledAt"`
	StartedAt   time.Time `json:"startedAt,omitzero"`
	Attempt     int32     `json:"attempt"`
}

// pendingActivity is an activity that is scheduled, running or retrying.
type pendingActivity struct {
	Type          string    `json:"type"`
	State         string    `json:"state"`
	Attempt       int32     `json:"attempt"`
	LastStartedAt time.Time `json:"lastStartedAt,omitzero"`
	LastFailure   string    `json:"lastFailure,omitempty"`
}

// queryFailure says in a sentence why the status query did not answer,
// never with the raw gRPC message.
func queryFailure(err error, timeout time.Duration) string {
	var qf *serviceerror.QueryFailed
	var nr *serviceerror.WorkflowNotReady
	code := serviceerror.ToStatus(err).Code()
	switch {
	case errors.As(err, &qf):
		return "the workflow could not answer the status query: " + qf.Message
	case errors.As(err, &nr):
		return "the workflow has not run its first task yet, so it cannot answer the status query"
	case errors.Is(err, context.DeadlineExceeded) || code == codes.DeadlineExceeded:
		return fmt.Sprintf("the status query got no answer within %s: no worker answered it (none polls the task queue, or all are busy)", timeout)
	case code == codes.Canceled:
		return "Temporal dropped the status query before a worker answered it, as it does under load"
	case code == codes.FailedPrecondition && strings.Contains(err.Error(), "no poller"):
		return "no worker polls the workflow's task queue (Temporal has seen none recently): the worker may be down"
	case code == codes.ResourceExhausted || code == codes.Unavailable:
		return "Temporal is too busy to pass the status query to a worker"
	}
	return fmt.Sprintf("the status query failed (%s)", code)
}

// briefCause names the kind of a failed call without the raw gRPC text.
func briefCause(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	return serviceerror.ToStatus(err).Code().String()
}

// describeStatus reads the app's workflow's description, and the close
// event of an ended one, into the view status shows instead of the live
// status; why says why the live one is missing.
func describeStatus(ctx context.Context, c client.Client, app, why string) (describedStatus, error) {
	dctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	resp, err := c.DescribeWorkflowExecution(dctx, workflows.WorkflowID(app), "")
	if err != nil {
		if ctx.Err() != nil {
			return describedStatus{}, ctx.Err()
		}
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return describedStatus{}, fmt.Errorf("no rollout of %s is running", app)
		}
		return describedStatus{}, fmt.Errorf("the status of %s is not available: %s, and Temporal could not describe the workflow either (%s); try again in a moment, or open it in the Temporal Web UI",
			app, why, briefCause(err))
	}
	d := fromDescription(resp)
	d.Why = why
	if d.App == "" {
		d.App = app
	}
	if !d.Workflow.ClosedAt.IsZero() {
		d.Reason = closeReason(dctx, c, d.Workflow.ID, d.Workflow.RunID)
	}
	return d, nil
}

// fromDescription turns the server's description into the view.
func fromDescription(resp *workflowservice.DescribeWorkflowExecutionResponse) describedStatus {
	info := resp.GetWorkflowExecutionInfo()
	sa := info.GetSearchAttributes().GetIndexedFields()
	d := describedStatus{
		Source: sourceDescription,
		App:    keyword(sa, "CoalmineApp"),
		Phase:  workflows.Phase(keyword(sa, "CoalminePhase")),
		Stable: api.Version{Name: keyword(sa, "CoalmineStableVersion")},
		Canary: api.Version{Name: keyword(sa, "CoalmineCanaryVersion")},
		Weight: double(sa, "CoalmineCanaryWeight"),
		Workflow: describedWorkflow{
			ID: info.GetExecution().GetWorkflowId(), RunID: info.GetExecution().GetRunId(),
			Type: info.GetType().GetName(), Status: statusName(info.GetStatus()), TaskQueue: info.GetTaskQueue(),
			StartedAt: timeOf(info.GetStartTime()), ClosedAt: timeOf(info.GetCloseTime()), HistoryLength: info.GetHistoryLength(),
		},
		Summary: payloadText(resp.GetExecutionConfig().GetUserMetadata().GetSummary()),
		Details: payloadText(resp.GetExecutionConfig().GetUserMetadata().GetDetails()),
		Memo:    memoValues(info.GetMemo()),
	}
	if t := resp.GetPendingWorkflowTask(); t != nil {
		d.WorkflowTask = &pendingTask{State: strings.TrimPrefix(t.GetState().String(), "PENDING_WORKFLOW_TASK_STATE_"),
			ScheduledAt: timeOf(t.GetScheduledTime()), StartedAt: timeOf(t.GetStartedTime()), Attempt: t.GetAttempt()}
	}
	for _, a := range resp.GetPendingActivities() {
		d.Activities = append(d.Activities, pendingActivity{
			Type: a.GetActivityType().GetName(), State: strings.TrimPrefix(a.GetState().String(), "PENDING_ACTIVITY_STATE_"),
			Attempt: a.GetAttempt(), LastStartedAt: timeOf(a.GetLastStartedTime()), LastFailure: clip(a.GetLastFailure().GetMessage(), maxFailureText),
		})
	}
	return d
}

// closeReason reads why an ended workflow ended from its close event; ""
// when it completed or the event cannot be read.
func closeReason(ctx context.Context, c client.Client, id, runID string) string {
	it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	if !it.HasNext() {
		return ""
	}
	ev, err := it.Next()
	if err != nil {
		return ""
	}
	switch {
	case ev.GetWorkflowExecutionFailedEventAttributes() != nil:
		return ev.GetWorkflowExecutionFailedEventAttributes().GetFailure().GetMessage()
	case ev.GetWorkflowExecutionTerminatedEventAttributes() != nil:
		return "terminated: " + ev.GetWorkflowExecutionTerminatedEventAttributes().GetReason()
	case ev.GetWorkflowExecutionTimedOutEventAttributes() != nil:
		return "the workflow timed out"
	}
	return ""
}

// statusName is an execution status without its enum prefix: Running.
func statusName(s enumspb.WorkflowExecutionStatus) string {
	name := strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_")
	if name == "" {
		return ""
	}
	return name[:1] + strings.ToLower(strings.ReplaceAll(name[1:], "_", " "))
}

func timeOf(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// payloadText decodes a string payload such as the summary; "" when it
// is none.
func payloadText(p *commonpb.Payload) string {
	var s string
	if p == nil || converter.GetDefaultDataConverter().FromPayload(p, &s) != nil {
		return ""
	}
	return s
}

// memoValues decodes every memo field; one that does not decode is left out.
func memoValues(m *commonpb.Memo) map[string]any {
	var out map[string]any
	for k, p := range m.GetFields() {
		var v any
		if converter.GetDefaultDataConverter().FromPayload(p, &v) != nil {
			continue
		}
		if out == nil {
			out = map[string]any{}
		}
		out[k] = v
	}
	return out
}

// clip cuts s to n runes, marking the cut.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
