// Package replay_test replays the recorded Rollout histories in
// tests/testdata, the top-level ones and those of every version folder
// (tests/testdata/<version>/), with the current workflow code: a change that
// would break running rollouts (non-determinism) fails here. Record new
// histories with `make record-histories`.
package replay_test

import (
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/coalmine-dev/coalmine/workers"
)

func testdata(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Join(filepath.Dir(file), "..", "testdata")
}

// histories lists every recorded history under root, in lexical order.
func histories(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".json") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list recorded histories: %v", err)
	}
	return files
}

func TestReplayRecordedHistories(t *testing.T) {
	root := testdata(t)
	// The three outcomes every workflow change must still replay.
	for _, want := range []string{"promoted.json", "aborted.json", "rolled-back-by-analysis.json"} {
		if _, err := os.Stat(filepath.Join(root, want)); err != nil {
			t.Errorf("recorded history %s is missing: run make record-histories", want)
		}
	}
	for _, f := range histories(t, root) {
		name, _ := filepath.Rel(root, f)
		t.Run(name, func(t *testing.T) {
			r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			workers.RegisterWorkflows(r)
			logger := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
			if err := r.ReplayWorkflowHistoryFromJSONFile(logger, f); err != nil {
				t.Errorf("replay %s: %v", name, err)
			}
		})
	}
}
