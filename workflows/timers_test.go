package workflows

import (
	"testing"
	"time"

	"go.temporal.io/sdk/workflow"
)

func TestCancelTimers(t *testing.T) {
	tests := []struct {
		name    string
		version workflow.Version
		// wantCancelled and wantFired count the pause's timer, cut short
		// by promote: cancelled, or left to fire later.
		wantCancelled, wantFired int
	}{
		{name: "cancel-timers", version: 1, wantCancelled: 1, wantFired: 0},
		{name: "before cancel-timers", version: workflow.DefaultVersion, wantCancelled: 0, wantFired: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.version(changeCancelTimers, tt.version)
			// Only the pauses' timers count: verify-traffic keeps its own.
			pauses := map[string]bool{}
			cancelled, fired := 0, 0
			h.env.SetOnTimerScheduledListener(func(id string, d time.Duration) { pauses[id] = d >= 30*time.Minute })
			h.env.SetOnTimerCanceledListener(func(id string) {
				if pauses[id] {
					cancelled++
				}
			})
			h.env.SetOnTimerFiredListener(func(id string) {
				if pauses[id] {
					fired++
				}
			})
			h.update(time.Minute, UpdatePromote, Request{By: "alice"}, &updateOutcome{})
			h.run(plan(weight(10), pauseFor(time.Hour), weight(50), pauseFor(2*time.Hour)))
			h.result()
			// The second pause runs out: its timer fires in both.
			if cancelled != tt.wantCancelled || fired != tt.wantFired+1 {
				t.Errorf("timers cancelled %d, fired %d; want %d and %d", cancelled, fired, tt.wantCancelled, tt.wantFired+1)
			}
		})
	}
}
