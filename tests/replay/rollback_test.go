package replay_test

import (
	"log/slog"
	"path/filepath"
	"testing"

	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/coalmine-dev/coalmine/workers"
	"github.com/coalmine-dev/coalmine/workflows"
)

// TestReplayRollbackHistories replays the recorded Rollback workflow
// histories of tests/testdata/rollback-v1 (recorded by
// go test ./tests/rollout -run Rollback -record).
func TestReplayRollbackHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testdata(t), "rollback-v1", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded Rollback histories in tests/testdata/rollback-v1: run go test ./tests/rollout -run Rollback -record")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			r.RegisterWorkflowWithOptions(workflows.Rollout, workflow.RegisterOptions{Name: workers.WorkflowName})
			r.RegisterWorkflowWithOptions(workflows.Rollback, workflow.RegisterOptions{Name: workers.RollbackWorkflowName})
			logger := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
			if err := r.ReplayWorkflowHistoryFromJSONFile(logger, f); err != nil {
				t.Errorf("replay %s: %v", filepath.Base(f), err)
			}
		})
	}
}
