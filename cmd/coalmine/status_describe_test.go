package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/workflows"
)

func TestDescribedGolden(t *testing.T) {
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	wf := describedWorkflow{ID: "coalmine/voice-agent", RunID: "0199a1b2-run", Type: "Rollout", Status: "Running",
		TaskQueue: "coalmine", StartedAt: start, HistoryLength: 57}
	ended := wf
	ended.Status, ended.ClosedAt, ended.HistoryLength = "Failed", start.Add(40*time.Minute), 120
	tests := []struct {
		name string
		d    describedStatus
		now  time.Time
	}{
		{"running", describedStatus{
			Source: sourceDescription, Why: queryFailure(context.DeadlineExceeded, 5*time.Second),
			App: "voice-agent", Phase: workflows.PhaseProgressing, Weight: 25,
			Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"},
			Workflow: wf, Summary: "voice-agent v1 → v2",
			Details:      "Plan **voice-agent**, router `gateway`, started by alice.\n\nSteps:\n1. setWeight 25\n2. pause 5m",
			Memo:         map[string]any{"team": "voice"},
			WorkflowTask: &pendingTask{State: "Scheduled", ScheduledAt: start.Add(30 * time.Minute), Attempt: 1},
			Activities: []pendingActivity{{Type: "Measure", State: "Started", Attempt: 3, LastStartedAt: start.Add(31 * time.Minute),
				LastFailure: "measure error-rate: read gateway stats of route voice-agent: connection refused"}},
			CurrentDetails:     "**voice-agent** v1 → v2 · **Progressing**\n\n- Step 2 of 2: `pause 5m`\n- Canary weight: **25%**\n- Waiting for: pause of 5m (until 2026-11-23 10:35:00 UTC)\n",
			CurrentDetailsFrom: "rebuilt here by replaying the workflow's 57 history events: as the workflow last set them, not live",
		}, start.Add(33 * time.Minute)},
		{"ended", describedStatus{
			Source: sourceDescription, Why: queryFailure(serviceerror.NewCanceled("stream terminated by RST_STREAM with error code: CANCEL"), 5*time.Second),
			App: "voice-agent", Phase: workflows.PhaseRolledBack,
			Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"},
			Workflow: ended, Reason: "bob aborted it: answers too long",
			CurrentDetailsFrom: "not available: the workflow code of this coalmine does not replay the history of voice-agent (use the coalmine version the worker runs): nondeterministic workflow",
		}, start.Add(2 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			renderDescribed(&b, tt.d, tt.now)
			golden(t, "status-described-"+tt.name+".golden", b.String())
		})
	}
}

func TestQueryFailureSaysWhyInASentence(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"client deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), "no answer within 3s"},
		{"server deadline", serviceerror.NewDeadlineExceeded("context deadline exceeded"), "no answer within 3s"},
		{"stream reset under load", serviceerror.NewCanceled("stream terminated by RST_STREAM with error code: CANCEL"), "Temporal dropped the status query"},
		{"worker down", serviceerror.NewFailedPrecondition("no poller seen for task queue recently, worker may be down"), "no worker polls the workflow's task queue"},
		{"overloaded", serviceerror.NewResourceExhausted(0, "namespace rate limit exceeded"), "too busy"},
		{"handler failed", serviceerror.NewQueryFailed("unknown queryType status"), "could not answer the status query: unknown queryType status"},
		{"not ready", serviceerror.NewWorkflowNotReady("workflow is not ready"), "has not run its first task yet"},
		{"other", serviceerror.NewInternal("stream terminated by RST_STREAM"), "the status query failed (Internal)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := queryFailure(tt.err, 3*time.Second)
			if !strings.Contains(got, tt.want) || strings.Contains(got, "RST_STREAM") {
				t.Errorf("queryFailure = %q, want %q and no raw gRPC text", got, tt.want)
			}
		})
	}
}

// TestStatusFallsBackToDescription runs status against a real dev server
// on rollouts that no worker polls for, so their status query never
// answers.
func TestStatusFallsBackToDescription(t *testing.T) {
	s := startDevStack(t)
	plan := s.gatePlan(t, "lonely-app", 60)
	if code, out, errOut := s.cli(t, "start", plan, "--canary", "v2", "--stable", "v1", "--task-queue", "nobody-polls"); code != 0 {
		t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
	}

	s.wantOutput(t, []string{"status", "lonely-app", "--query-timeout", "2s"},
		"lonely-app  v1 → v2  Progressing  weight 0%",
		"NOT LIVE: the status query got no answer within 2s",
		"from the workflow's description in Temporal",
		"workflow  coalmine/lonely-app (run ",
		"Rollout, Running on task queue nobody-polls",
		"summary   lonely-app v1 → v2",
		"workflow task  Scheduled since",
		"no worker has picked it up",
		"current details (not available: the workflow of lonely-app has not run its first task yet, so there is nothing to replay)",
	)
	d := s.described(t, "lonely-app")
	if d.Source != sourceDescription || d.Phase != workflows.PhaseProgressing || d.Canary.Name != "v2" || d.Workflow.Status != "Running" || !strings.Contains(d.Why, "no answer within 2s") {
		t.Errorf("status -o json = %+v", d)
	}

	code, _, errOut := s.cli(t, "history", "lonely-app", "--query-timeout", "2s")
	if want := "the timeline of lonely-app is not available: the status query got no answer within 2s"; code != 1 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "has not run its first task yet") {
		t.Errorf("history of a rollout that never ran: exit %d, want 1 and %q in\n%s", code, want, errOut)
	}

	c, err := client.Dial(client.Options{HostPort: s.address, Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.TerminateWorkflow(context.Background(), workflows.WorkflowID("lonely-app"), "", "cleaning up the test"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := s.cli(t, "status", "lonely-app", "--watch", "--every", "100ms", "--query-timeout", "1s")
	if code != 1 || !strings.Contains(errOut, "coalmine: terminated: cleaning up the test") || !strings.Contains(out, "Terminated on task queue nobody-polls") {
		t.Errorf("watch an ended rollout nobody answers for: exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	for _, s := range []string{out, errOut} {
		if strings.Contains(s, "RST_STREAM") || strings.Contains(s, "rpc error") {
			t.Errorf("raw gRPC error in the output:\n%s", s)
		}
	}
}

// TestStatusFromTheQuerySaysSo checks that a live status says where it
// comes from in -o json, beside the fields scripts already read.
func TestStatusFromTheQuerySaysSo(t *testing.T) {
	var b strings.Builder
	if err := printStatus(&b, workflows.Status{App: "a", Phase: workflows.PhasePaused}, "json", time.Now()); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Source string          `json:"source"`
		App    string          `json:"app"`
		Phase  workflows.Phase `json:"phase"`
	}
	if err := json.Unmarshal([]byte(b.String()), &got); err != nil {
		t.Fatal(err)
	}
	if got.Source != sourceQuery || got.App != "a" || got.Phase != workflows.PhasePaused {
		t.Errorf("live status JSON = %s", b.String())
	}
}
