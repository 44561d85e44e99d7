// Package replay_test replays the recorded Rollout histories in
// tests/testdata with the current workflow code: a change that would break
// running rollouts (non-determinism) fails here. Record new histories with
// `make record-histories`.
package replay_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"

	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/coalmine-dev/coalmine/workers"
	"github.com/coalmine-dev/coalmine/workflows"
)

func testdata(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Join(filepath.Dir(file), "..", "testdata")
}

func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testdata(t), "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	// The three outcomes every workflow change must still replay.
	for _, want := range []string{"promoted.json", "aborted.json", "rolled-back-by-analysis.json"} {
		if _, err := os.Stat(filepath.Join(testdata(t), want)); err != nil {
			t.Errorf("recorded history %s is missing: run make record-histories", want)
		}
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			r.RegisterWorkflowWithOptions(workflows.Rollout, workflow.RegisterOptions{Name: workers.WorkflowName})
			logger := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
			if err := r.ReplayWorkflowHistoryFromJSONFile(logger, f); err != nil {
				t.Errorf("replay %s: %v", filepath.Base(f), err)
			}
		})
	}
}
