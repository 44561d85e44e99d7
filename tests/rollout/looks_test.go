package rollout_test

import (
	"context"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/coalmine-dev/coalmine/activities/api"
)

// TestBatchedLooksPromoted runs an analysis beside a background metric:
// a background look due within half its interval (5 s) is taken along
// with one of the analysis' looks (2 s apart, so at least one of them is
// that close to it, however the steps are timed), by MeasureLooks; and no
// Notify activity runs for a plan without notifications.
func TestBatchedLooksPromoted(t *testing.T) {
	t.Parallel()
	s := newStack(t, "it-batched", 0.95)
	w := s.startWorker()
	defer w.Stop()
	s.load()
	run := s.start(s.plan(`    - setWeight: 20
    - pause: {duration: 3s}
    - analysis: {templates: [quality]}
    - setWeight: 100`, `  backgroundAnalysis: {templates: [guard]}
  analysisTemplates:
    quality:
      metrics:
        - name: errors
          interval: 2s
          count: 3
          minSamples: 5
          provider: {gateway: {stat: error_rate}}
          successCondition: result <= 0.05
    guard:
      metrics:
        - name: error-rate
          interval: 10s
          minSamples: 5
          provider: {gateway: {stat: error_rate}}
          successCondition: result <= 0.05`))
	if _, err := s.result(run); err != nil {
		t.Fatalf("rollout: %v", err)
	}
	counts := s.activityCounts(run.GetID(), run.GetRunID())
	if counts[api.NameMeasureLooks] == 0 {
		t.Errorf("activities %v: no MeasureLooks, the looks were not batched", counts)
	}
	if counts[api.NameNotify] != 0 {
		t.Errorf("activities %v: Notify ran for a plan without notifications", counts)
	}
	s.recordHistory(run, "batched-looks-promoted")
}

// activityCounts counts the activities of a run's history by type.
func (s *stack) activityCounts(id, runID string) map[string]int {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	counts := map[string]int{}
	it := s.client.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			s.t.Fatalf("read history: %v", err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			counts[a.GetActivityType().GetName()]++
		}
	}
	return counts
}
