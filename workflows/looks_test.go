package workflows

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
)

// activityCounts counts the activities a harness's workflow starts, by type.
type activityCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func countActivities(h *harness) *activityCounts {
	c := &activityCounts{n: map[string]int{}}
	h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.n[info.ActivityType.Name]++
	})
	return c
}

func (c *activityCounts) get(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

func TestBatchedLooks(t *testing.T) {
	tests := []struct {
		name    string
		batched bool
		// wantLooks and wantMeasures are the MeasureLooks and Measure api.
		wantLooks, wantMeasures int
		// wantBackground is how many background looks were taken.
		wantBackground int
	}{
		// Background looks at 0, 1m, 2m; the analysis starts at 2m30s: its
		// looks at 2m30s, 3m30s and 4m30s take the background's along (the
		// first due at 3m, then in step).
		{name: "batched", batched: true, wantLooks: 3, wantMeasures: 3, wantBackground: 6},
		// Background looks at 0, 1m, 2m, 3m, 4m; the analysis' on their own.
		{name: "before batched-looks", batched: false, wantLooks: 0, wantMeasures: 8, wantBackground: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			if !tt.batched {
				h.env.OnGetVersion(changeBatchedLooks, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
			}
			counts := countActivities(h)
			h.run(guarded(weight(10), pauseFor(2*time.Minute+30*time.Second), analyze("quality"), weight(50)))
			h.result()
			if got := counts.get(api.NameMeasureLooks); got != tt.wantLooks {
				t.Errorf("MeasureLooks ran %d times, want %d", got, tt.wantLooks)
			}
			if got := counts.get(api.NameMeasure); got != tt.wantMeasures {
				t.Errorf("Measure ran %d times, want %d", got, tt.wantMeasures)
			}
			s := h.status()
			if !hasVerdict(s, "step 3", analysis.PhaseSuccessful) {
				t.Errorf("verdicts = %+v, want step 3 Successful", s.Verdicts)
			}
			if bg := s.Background[0]; bg.History.Passed != tt.wantBackground {
				t.Errorf("background looks passed = %d, want %d", bg.History.Passed, tt.wantBackground)
			}
			if got := h.metrics.count("pass-rate"); got != 3 {
				t.Errorf("pass-rate measured %d times, want 3", got)
			}
		})
	}
}

func TestBatchedLooksAnswerEachMetric(t *testing.T) {
	// The background metric fails at its fifth look, taken along with the
	// analysis' second: the failure is the background metric's own.
	h := newHarness(t, map[string][]string{"errors": {"Pass", "Pass", "Pass", "Pass", "Fail"}})
	counts := countActivities(h)
	h.run(guarded(weight(10), pauseFor(2*time.Minute+30*time.Second), analyze("quality"), weight(50)))
	msg := h.rolledBack()
	if want := "background analysis failed: guard/errors"; !strings.Contains(msg, want) {
		t.Errorf("message = %q, want %q", msg, want)
	}
	if counts.get(api.NameMeasureLooks) == 0 {
		t.Error("no look was batched")
	}
	if s := h.status(); hasVerdict(s, "step 3", analysis.PhaseFailed) {
		t.Errorf("the analysis took the background's failure: %+v", s.Verdicts)
	}
}

func hasVerdict(s Status, name string, phase analysis.Phase) bool {
	for _, v := range s.Verdicts {
		if v.Analysis == name && v.Phase == phase {
			return true
		}
	}
	return false
}

func TestSkipNotify(t *testing.T) {
	tests := []struct {
		name    string
		slack   bool
		events  []string
		version workflow.Version
		want    int
	}{
		{name: "no notifications", version: 1, want: 0},
		{name: "slack for every event", slack: true, version: 1, want: 2},
		{name: "slack for rollbacks only", slack: true, events: []string{"rolledBack"}, version: 1, want: 0},
		{name: "before skip-notify", version: workflow.DefaultVersion, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.env.OnGetVersion(changeSkipNotify, workflow.DefaultVersion, 1).Return(tt.version)
			counts := countActivities(h)
			p := plan(weight(10), weight(50))
			if !tt.slack {
				p.Spec.Notifications = nil
			} else {
				p.Spec.Notifications.Slack.Events = tt.events
			}
			h.run(p)
			h.result()
			if got := counts.get(api.NameNotify); got != tt.want {
				t.Errorf("Notify ran %d times, want %d (started, promoted)", got, tt.want)
			}
		})
	}
}
