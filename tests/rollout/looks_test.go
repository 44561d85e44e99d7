package rollout_test

import (
	"context"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/coalmine-dev/coalmine/activities/api"
)

// TestBatchedLooksPromoted runs an analysis beside two background metrics
// measured every 3 s: their looks are taken together, by MeasureLooks,
// and every look waits for its due time in its activity, so that the
// only timer is the pause's; and no Notify activity runs for a plan
// without notifications.
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
          interval: 3s
          minSamples: 5
          provider: {gateway: {stat: error_rate}}
          successCondition: result <= 0.05
        - name: error-rate-loose
          interval: 3s
          minSamples: 5
          provider: {gateway: {stat: error_rate}}
          successCondition: result <= 0.2`))
	if _, err := s.result(run); err != nil {
		t.Fatalf("rollout: %v", err)
	}
	counts := s.activityCounts(run.GetID(), run.GetRunID())
	if counts[api.NameMeasureLooks] == 0 || counts[api.NameMeasure] != 3 {
		t.Errorf("activities %v: want the guard's looks in MeasureLooks and the analysis' 3 in Measure", counts)
	}
	if counts[api.NameNotify] != 0 {
		t.Errorf("activities %v: Notify ran for a plan without notifications", counts)
	}
	if n := counts[timers]; n != 1 {
		t.Errorf("%d timers, want the pause's only: the looks wait in their activities", n)
	}
	if n := counts[versionMarkers]; n != 1 {
		t.Errorf("%d version markers, want the baseline's only", n)
	}
	s.recordHistory(run, "batched-looks-promoted")
}

// timers and versionMarkers are the keys under which activityCounts
// counts the timers started and the version markers recorded.
const (
	timers         = "timers"
	versionMarkers = "version markers"
)

// activityCounts counts the activities of a run's history by type, its
// timers under timers and its version markers under versionMarkers.
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
		if ev.GetTimerStartedEventAttributes() != nil {
			counts[timers]++
		}
		if ev.GetMarkerRecordedEventAttributes().GetMarkerName() == "Version" {
			counts[versionMarkers]++
		}
	}
	return counts
}
