package workflows

import (
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/workflow"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

// activityCounts counts the activities a harness's workflow starts, by type.
type activityCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func countActivities(h *harness) *activityCounts {
	c := &activityCounts{n: map[string]int{}}
	h.started = func(info *activity.Info) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.n[info.ActivityType.Name]++
	}
	return c
}

func (c *activityCounts) get(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

func TestBatchedLooks(t *testing.T) {
	tests := []struct {
		name             string
		batched, delayed bool
		// wantLooks and wantMeasures are the MeasureLooks and Measure
		// activities started.
		wantLooks, wantMeasures int
		// wantBackground is how many background looks were taken.
		wantBackground int
	}{
		// Background looks at 0, 1m, 2m, 3m, 4m (and the one due at 5m,
		// waiting in its activity when the rollout ends); the analysis'
		// looks at 2m30s, 3m30s and 4m30s: each waited in its activity,
		// which was scheduled before the other metric's was due.
		{name: "delayed", batched: true, delayed: true, wantLooks: 0, wantMeasures: 9, wantBackground: 5},
		// Background looks at 0, 1m, 2m; the analysis starts at 2m30s: its
		// looks at 2m30s, 3m30s and 4m30s take the background's along (the
		// first due at 3m, then in step).
		{name: "before delayed-looks", batched: true, wantLooks: 3, wantMeasures: 3, wantBackground: 6},
		// Background looks at 0, 1m, 2m, 3m, 4m; the analysis' on their own.
		{name: "before batched-looks", batched: false, wantLooks: 0, wantMeasures: 8, wantBackground: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			if !tt.batched {
				h.version(changeBatchedLooks, workflow.DefaultVersion)
			}
			if !tt.delayed {
				h.version(changeDelayedLooks, workflow.DefaultVersion)
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
	h.version(changeDelayedLooks, workflow.DefaultVersion)
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
			h.version(changeSkipNotify, tt.version)
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

// twoGuards is a plan whose background analysis has two metrics measured
// every interval.
func twoGuards(interval time.Duration, steps ...plans.Step) plans.RolloutPlan {
	p := guarded(steps...)
	p.Spec.AnalysisTemplates["guard"] = plans.AnalysisTemplate{Metrics: []plans.Metric{
		metric("errors", 0, interval), metric("latency", 0, interval),
	}}
	return p
}

// timerCounts counts the timers a harness's workflow starts, by duration.
func timerCounts(h *harness) map[time.Duration]int {
	n := map[time.Duration]int{}
	h.env.SetOnTimerScheduledListener(func(_ string, d time.Duration) { n[d]++ })
	return n
}

func TestDelayedLooks(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		// wantTimers is how many timers of interval ran: none when the
		// looks wait in their activity.
		wantTimers int
		wantPassed int
	}{
		// Looks at 0, 1m, …, 5m; the one due at 6m waits when the rollout ends.
		{name: "every minute", interval: time.Minute, wantTimers: 0, wantPassed: 6},
		// Beyond api.MaxLookWait each metric waits on a timer, as before
		// delayed-looks: looks at 0 and 10m, timers for 10m and 20m.
		{name: "every ten minutes", interval: 10 * time.Minute, wantTimers: 4, wantPassed: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			counts := countActivities(h)
			timers := timerCounts(h)
			pause := 5*time.Minute + 30*time.Second
			if tt.interval > pause {
				pause = tt.interval + 30*time.Second
			}
			h.run(twoGuards(tt.interval, weight(10), pauseFor(pause), weight(50)))
			h.result()
			if got := timers[tt.interval]; got != tt.wantTimers {
				t.Errorf("%d timers of %s, want %d", got, tt.interval, tt.wantTimers)
			}
			if got := counts.get(api.NameMeasure); got != 0 {
				t.Errorf("Measure ran %d times, want 0: the two metrics are looked at together", got)
			}
			s := h.status()
			for _, bg := range s.Background {
				if bg.History.Passed != tt.wantPassed {
					t.Errorf("%s passed %d looks, want %d", bg.Metric, bg.History.Passed, tt.wantPassed)
				}
				ms := bg.History.Measurements
				for i := 1; i < len(ms); i++ {
					if gap := ms[i].At.Sub(ms[i-1].At); gap != tt.interval {
						t.Errorf("%s: look %d came %s after the one before, want %s", bg.Metric, i+1, gap, tt.interval)
					}
				}
			}
		})
	}
}

func TestDelayedLooksAnswerEachMetric(t *testing.T) {
	// latency fails at its fourth look, taken with errors' in one activity
	// that waited for them: the failure is latency's own.
	h := newHarness(t, map[string][]string{"latency": {"Pass", "Pass", "Pass", "Fail"}})
	counts := countActivities(h)
	h.run(twoGuards(time.Minute, weight(10), pauseFor(10*time.Minute), weight(50)))
	msg := h.rolledBack()
	if want := "background analysis failed: guard/latency"; !strings.Contains(msg, want) {
		t.Errorf("message = %q, want %q", msg, want)
	}
	if got := counts.get(api.NameMeasureLooks); got != 4 {
		t.Errorf("MeasureLooks ran %d times, want 4", got)
	}
	s := h.status()
	for _, bg := range s.Background {
		if bg.Metric == "errors" && bg.History.Failed != 0 {
			t.Errorf("errors took latency's failure: %+v", bg.History)
		}
	}
}

func TestFirstDue(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	peer := func(due time.Duration, delayed, taken bool) *lookPeer {
		return &lookPeer{ms: &MetricStatus{}, due: t0.Add(due), delayed: delayed, taken: taken}
	}
	p := peer(time.Minute, true, false)
	tests := []struct {
		name    string
		waiting []*lookPeer
		want    bool
	}{
		{name: "alone", waiting: []*lookPeer{p}, want: true},
		{name: "earlier after it", waiting: []*lookPeer{p, peer(30*time.Second, true, false)}, want: false},
		{name: "earlier before it", waiting: []*lookPeer{peer(30*time.Second, true, false), p}, want: false},
		{name: "as early before it", waiting: []*lookPeer{peer(time.Minute, true, false), p}, want: false},
		{name: "as early after it", waiting: []*lookPeer{p, peer(time.Minute, true, false)}, want: true},
		{name: "later", waiting: []*lookPeer{peer(2*time.Minute, true, false), p}, want: true},
		{name: "earlier but taken", waiting: []*lookPeer{peer(30*time.Second, true, true), p}, want: true},
		{name: "earlier on a timer", waiting: []*lookPeer{peer(30*time.Second, false, false), p}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &rollout{waiting: tt.waiting}
			if got := r.firstDue(p); got != tt.want {
				t.Errorf("firstDue = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestJoinsAt(t *testing.T) {
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		due        time.Duration
		background bool
		taken      bool
		want       bool
	}{
		{name: "due then", due: 0, want: true},
		{name: "a step's later look never moves", due: 10 * time.Second, want: false},
		{name: "background within half its interval", due: 30 * time.Second, background: true, want: true},
		{name: "background beyond half its interval", due: 31 * time.Second, background: true, want: false},
		{name: "background due earlier is not made later", due: -10 * time.Second, background: true, want: false},
		{name: "taken", due: 0, taken: true, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &lookPeer{due: at.Add(tt.due), background: tt.background, interval: time.Minute, taken: tt.taken}
			if got := p.joinsAt(at); got != tt.want {
				t.Errorf("joinsAt = %v, want %v", got, tt.want)
			}
		})
	}
}
