package testenv

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
)

// RecordHistory writes the history of one workflow run to
// tests/testdata/<folder>/<name>.json for the replay test. A history
// already recorded there is kept: recorded histories are never overwritten.
func RecordHistory(t testing.TB, c client.Client, id, runID, folder, name string) {
	t.Helper()
	dir := filepath.Join(RepoRoot(), "tests", "testdata", folder)
	path := filepath.Join(dir, name+".json")
	if _, err := os.Stat(path); err == nil {
		t.Logf("kept %s: a recorded history is never overwritten", path)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("read history: %v", err)
		}
		h.Events = append(h.Events, ev)
	}
	data, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatalf("encode history: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatalf("history folder: %v", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		t.Fatalf("write history: %v", err)
	}
	t.Logf("recorded %s (%d events)", path, len(h.Events))
}
