package workflows

import (
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// TestVerifyRestoresDrift: during a pause the router's split is changed
// behind the workflow's back (a hand edit, a gateway restarted empty); the
// next read-back sets it again, with an event and a notification.
func TestVerifyRestoresDrift(t *testing.T) {
	tests := []struct {
		name    string
		drift   func(*api.TrafficState)
		calls   []string
		message string
	}{
		{"weight", func(s *api.TrafficState) { s.CanaryWeight = 0 },
			[]string{"setWeight 25", "setSegmentWeight internal 50", "setWeight 25", "promote"}, "canary weight found at 0%, expected 25%: restored"},
		{"segment", func(s *api.TrafficState) { s.SegmentWeights = map[string]float64{"internal": 5} },
			[]string{"setWeight 25", "setSegmentWeight internal 50", "setSegmentWeight internal 50", "promote"}, "segment internal found at 5%, expected 50%: restored"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			p := plan(weight(25), segment("internal", 50), pauseFor(10*time.Minute))
			every := plans.Duration{Duration: time.Minute}
			p.Spec.Traffic.VerifyInterval = &every
			h.at(3*time.Minute+time.Second, func() {
				h.router.mu.Lock()
				tt.drift(&h.router.state)
				h.router.mu.Unlock()
			})
			h.run(p)
			h.result()
			wantCalls(t, h.router.Calls(), tt.calls)
			var texts []string
			for _, e := range h.status().Events {
				texts = append(texts, e.Message)
			}
			if !slices.Contains(texts, tt.message) {
				t.Errorf("events %q lack %q", texts, tt.message)
			}
			if !slices.Contains(h.notes.events(), plans.EventTrafficRestored) {
				t.Errorf("notifications %v lack %s", h.notes.events(), plans.EventTrafficRestored)
			}
		})
	}
}

// TestVerifyOff: verifyInterval 0s never reads the split back, so a drift
// stays.
func TestVerifyOff(t *testing.T) {
	h := newHarness(t, nil)
	p := plan(weight(25), pauseFor(10*time.Minute))
	p.Spec.Traffic.VerifyInterval = &plans.Duration{}
	h.at(3*time.Minute, func() {
		h.router.mu.Lock()
		h.router.state.CanaryWeight = 0
		h.router.mu.Unlock()
	})
	h.run(p)
	h.result()
	wantCalls(t, h.router.Calls(), []string{"setWeight 25", "promote"})
	for _, e := range h.status().Events {
		if strings.Contains(e.Message, "restored") {
			t.Errorf("event %q with verifyInterval 0s", e.Message)
		}
	}
}

// TestWatchFollowsTheSteps: each setWeight cancels the watch of the split
// before it and starts one for the new split, so the workflow's own
// changes are never taken for drift, and no VerifyTraffic runs while the
// split holds.
func TestWatchFollowsTheSteps(t *testing.T) {
	h := newHarness(t, nil)
	p := plan(weight(10), pauseFor(5*time.Minute+30*time.Second), weight(50), pauseFor(5*time.Minute))
	every := plans.Duration{Duration: time.Minute}
	p.Spec.Traffic.VerifyInterval = &every
	started := map[string]int{}
	h.started = func(info *activity.Info) {
		started[info.ActivityType.Name]++
	}
	h.run(p)
	h.result()
	wantCalls(t, h.router.Calls(), []string{"setWeight 10", "setWeight 50", "promote"})
	if started[api.NameVerifyTraffic] != 0 {
		t.Errorf("%d VerifyTraffic activities ran; the split never drifted", started[api.NameVerifyTraffic])
	}
	if started[api.NameWatchTraffic] < 8 {
		t.Errorf("%d watches in 10 minutes of holding at a 1-minute interval, want at least 8", started[api.NameWatchTraffic])
	}
	for _, e := range h.status().Events {
		if strings.Contains(e.Message, "restored") || strings.Contains(e.Message, "traffic split") {
			t.Errorf("event %q while nothing changed the split", e.Message)
		}
	}
}
