package workflows

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/plans"
)

// withOnFailure sets onFailure on the first metric of a template.
func withOnFailure(p plans.RolloutPlan, template, onFailure string) plans.RolloutPlan {
	t := p.Spec.AnalysisTemplates[template]
	t.Metrics = slices.Clone(t.Metrics)
	t.Metrics[0].OnFailure = onFailure
	p.Spec.AnalysisTemplates[template] = t
	return p
}

func TestStepOnFailure(t *testing.T) {
	tests := []struct {
		name      string
		onFailure string
		act       func(h *harness)
		want      string // "promoted" or part of the RolledBack message
	}{
		{name: "notify goes on", onFailure: plans.OnFailureNotify, want: "promoted"},
		{name: "pause then promote goes on", onFailure: plans.OnFailurePause, want: "promoted",
			act: func(h *harness) {
				h.update(time.Hour, UpdatePromote, Request{By: "alice", Reason: "cost is expected"}, &updateOutcome{})
			}},
		{name: "pause then abort rolls back", onFailure: plans.OnFailurePause, want: "bob aborted it: too expensive",
			act: func(h *harness) {
				h.update(time.Hour, UpdateAbort, Request{By: "bob", Reason: "too expensive"}, &updateOutcome{})
			}},
		{name: "pause times out and rolls back", onFailure: plans.OnFailurePause, want: "nobody reviewed the failure within 24h"},
		{name: "rollback is the default", want: "analysis at step 2 failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, map[string][]string{"pass-rate": {"Fail"}})
			var at Status
			h.at(30*time.Minute, func() { at = h.status() })
			if tt.act != nil {
				tt.act(h)
			}
			h.run(withOnFailure(plan(weight(10), analyze("quality"), weight(50)), "quality", tt.onFailure))
			if tt.want == "promoted" {
				h.result()
			} else if msg := h.rolledBack(); !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not contain %q", msg, tt.want)
			}
			if tt.onFailure == plans.OnFailurePause && (at.WaitKind != waitFailed || at.Weight != 10 || at.Phase != PhasePaused || !strings.Contains(at.Waiting, "analysis at step 2 failed")) {
				t.Errorf("at 30m: %s waiting %q at %v%%, want a failure review at 10%%", at.Phase, at.Waiting, at.Weight)
			}
			if tt.onFailure == plans.OnFailurePause && !slices.Contains(h.notes.events(), plans.EventGate) {
				t.Errorf("notifications %v: no gate with buttons", h.notes.events())
			}
		})
	}
}

func TestBackgroundOnFailure(t *testing.T) {
	t.Run("notify goes on and keeps measuring", func(t *testing.T) {
		h := newHarness(t, map[string][]string{"errors": {"Pass", "Fail", "Pass"}})
		h.run(withOnFailure(guarded(weight(10), pauseFor(20*time.Minute), weight(50)), "guard", plans.OnFailureNotify))
		h.result()
		if got := h.metrics.count("errors"); got < 20 {
			t.Errorf("measured %d times, want a look a minute to the end", got)
		}
		s := h.status()
		if len(s.Verdicts) == 0 || !strings.Contains(s.Verdicts[0].Reason, "onFailure: notify") {
			t.Errorf("verdicts = %+v", s.Verdicts)
		}
	})
	t.Run("pause waits for the Slack button, then goes on", func(t *testing.T) {
		h := newHarness(t, map[string][]string{"errors": {"Pass", "Fail", "Pass"}})
		var at Status
		h.at(10*time.Minute, func() {
			at = h.status()
			h.env.SignalWorkflow(SignalApprove, Request{By: "U123", Gate: at.Gate})
		})
		h.run(withOnFailure(guarded(weight(10), pauseFor(2*time.Minute), weight(50)), "guard", plans.OnFailurePause))
		r := h.result()
		if at.WaitKind != waitFailed || at.Gate == "" || at.Weight != 10 || !strings.Contains(at.Waiting, "guard/errors failed") {
			t.Errorf("at 10m: waiting %s %q at %v%% (gate %q)", at.WaitKind, at.Waiting, at.Weight, at.Gate)
		}
		if len(r.Approvals) != 1 || r.Approvals[0].By != "U123" {
			t.Errorf("approvals = %+v", r.Approvals)
		}
		if bg := h.status().Background[0]; bg.History.Count < 10 {
			t.Errorf("background looks = %d, want the metric measured through the review", bg.History.Count)
		}
	})
}

// heldMidPause runs a rollout whose background metric fails (onFailure:
// pause) during an hour's pause and continues it as new mid-pause; it
// returns the carried input and the time the next run starts.
func heldMidPause(t *testing.T) (Input, time.Time) {
	t.Helper()
	p := withOnFailure(guarded(weight(10), pauseFor(time.Hour), weight(50)), "guard", plans.OnFailurePause)
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	first := newHarness(t, map[string][]string{"errors": {"Pass", "Fail", "Pass"}})
	first.env.SetStartTime(t0)
	next := first.continuedAt(10*time.Minute+30*time.Second, input(p))
	if ctl := next.Carry.Control; ctl.Held == nil || ctl.Held.Gate != holdFailure || ctl.Deadline.IsZero() {
		t.Fatalf("carried control = %+v, want a failure hold mid-pause", ctl)
	}
	return next, t0.Add(10*time.Minute + 30*time.Second)
}

// TestReviewAfterContinueAsNewKeepsTheStepsDeadline: a background metric
// fails (onFailure: pause) during an hour's pause, and the run continues as
// new mid-pause. The next run's failure review has its own 24h deadline, and
// after the review the pause ends at its own deadline, not an hour later.
func TestReviewAfterContinueAsNewKeepsTheStepsDeadline(t *testing.T) {
	next, start := heldMidPause(t)
	pauseEnds := next.Carry.Control.Deadline
	second := newHarness(t, nil)
	second.env.SetStartTime(start)
	var review Status
	second.at(5*time.Minute, func() { review = second.status() })
	// The review outlasts the pause's end; then a person goes on.
	second.update(70*time.Minute, UpdatePromote, Request{By: "alice", Reason: "reviewed"}, &updateOutcome{})
	second.env.ExecuteWorkflow(Rollout, next)
	second.result()
	if review.WaitKind != waitFailed || review.WaitUntil.Sub(start) < 23*time.Hour {
		t.Errorf("review in the second run: %s until %s, want a failure review with its own 24h deadline", review.WaitKind, review.WaitUntil)
	}
	s := second.status()
	i := slices.IndexFunc(s.Events, func(e Event) bool { return e.Kind == "weight" && strings.Contains(e.Message, "50%") })
	if i < 0 {
		t.Fatalf("no weight 50 event in %+v", s.Events)
	}
	// The pause had ended during the review: the next step comes at once.
	if at := s.Events[i].At; at.Sub(start) > 71*time.Minute || at.Before(pauseEnds) {
		t.Errorf("weight 50 at %s (pause ended %s, review ended %s): the pause did not keep its own deadline", at, pauseEnds, start.Add(70*time.Minute))
	}
	if n := slices.IndexFunc(s.Events, func(e Event) bool {
		return e.Kind == "step" && strings.Contains(e.Message, "pause") && e.At.After(start)
	}); n >= 0 {
		t.Errorf("the pause started over after the review: %+v", s.Events[n])
	}
}

// TestReviewCarriedAcrossContinueAsNew: the review itself continues as
// new; the next run goes on with the same review deadline, without a second
// notification, and the step set aside comes back after it.
func TestReviewCarriedAcrossContinueAsNew(t *testing.T) {
	next, start := heldMidPause(t)
	pauseEnds := next.Carry.Control.Deadline
	second := newHarness(t, nil)
	second.env.SetStartTime(start)
	next = second.continuedAt(5*time.Minute, next)
	ctl := next.Carry.Control
	if ctl.SetAside == nil || !ctl.SetAside.Deadline.Equal(pauseEnds) || ctl.Deadline.Sub(start) < 23*time.Hour {
		t.Fatalf("carried control = %+v, want the review's own deadline and the pause's set aside", ctl)
	}

	third := newHarness(t, nil)
	third.env.SetStartTime(start.Add(5 * time.Minute))
	var review Status
	third.at(time.Minute, func() { review = third.status() })
	third.update(2*time.Hour, UpdatePromote, Request{By: "alice"}, &updateOutcome{})
	third.env.ExecuteWorkflow(Rollout, next)
	third.result()
	if !review.WaitUntil.Equal(ctl.Deadline) {
		t.Errorf("review in the third run until %s, want the same deadline %s", review.WaitUntil, ctl.Deadline)
	}
	if slices.Contains(third.notes.events(), plans.EventGate) {
		t.Errorf("the third run notified the review gate again: %v", third.notes.events())
	}
}
