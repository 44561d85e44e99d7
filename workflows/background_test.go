package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

// guarded is a plan whose background metric guard/errors is measured every
// minute while the steps run.
func guarded(steps ...plans.Step) plans.RolloutPlan {
	p := plan(steps...)
	p.Spec.BackgroundAnalysis = &plans.AnalysisRef{Templates: []string{"guard"}}
	return p
}

func TestBackgroundHoldKeepsMeasuringAndAFailRollsBack(t *testing.T) {
	h := newHarness(t, map[string][]string{"errors": {"Inconclusive", "Pass", "Pass", "Pass", "Fail"}})
	var held Status
	h.at(3*time.Minute+30*time.Second, func() { held = h.status() })
	h.run(guarded(weight(10), pauseFor(30*time.Second), weight(50)))

	if held.Held == nil || held.Held.By != "background analysis" || !strings.Contains(held.Held.Reason, "guard/errors is inconclusive") {
		t.Errorf("hold at 3m30s = %+v, want one by background analysis", held.Held)
	}
	if held.WaitKind != waitHeld || held.Weight != 10 {
		t.Errorf("at 3m30s: waiting %q at weight %v, want held at 10", held.WaitKind, held.Weight)
	}
	msg := h.rolledBack()
	if !strings.Contains(msg, "background analysis failed: guard/errors") {
		t.Errorf("message = %q", msg)
	}
	if got := h.metrics.count("errors"); got != 5 {
		t.Errorf("measured %d times, want 5: the metric goes on during the hold", got)
	}
	s := h.status()
	if s.Held != nil {
		t.Errorf("a rolled-back rollout still shows a hold: %+v", s.Held)
	}
	if d := s.Events[len(s.Events)-1].At.Sub(s.StartedAt); d > 6*time.Minute {
		t.Errorf("rolled back after %s, want at the fifth look (4m)", d)
	}
}

func TestBackgroundResumeGoesOnMeasuring(t *testing.T) {
	h := newHarness(t, map[string][]string{"errors": {"Inconclusive", "Pass"}})
	h.update(10*time.Minute, UpdateResume, Request{By: "alice", Reason: "known blip"}, &updateOutcome{})
	h.run(guarded(weight(10), pauseFor(time.Minute), weight(50), pauseFor(30*time.Minute)))
	h.result()
	// Looks every minute: from 0 to the end of the 30-minute pause that
	// starts after the resume at 10m.
	if got := h.metrics.count("errors"); got < 38 {
		t.Errorf("measured %d times, want a look a minute until the end (about 41)", got)
	}
	s := h.status()
	bg := s.Background[0]
	if bg.Holding || bg.Assessment.Phase == analysis.PhaseRunning {
		t.Errorf("background metric at the end: holding %v, phase %s, want a final phase", bg.Holding, bg.Assessment.Phase)
	}
	if bg.History.Inconclusive != 0 || bg.History.Passed < 37 {
		t.Errorf("history after resume: %+v", bg.History)
	}
}

func TestBackgroundNoDataThenFail(t *testing.T) {
	h := newHarness(t, map[string][]string{"errors": {"nodata", "nodata", "nodata", "Fail"}})
	h.run(guarded(weight(10), pauseFor(time.Hour), weight(50)))
	msg := h.rolledBack()
	if !strings.Contains(msg, "background analysis failed: guard/errors") {
		t.Errorf("message = %q", msg)
	}
	s := h.status()
	for _, e := range s.Events {
		if strings.Contains(e.Message, "inconclusive") {
			t.Errorf("looks waiting for data held the rollout: %s", e.Message)
		}
	}
	if w := s.Background[0].History.Waiting; w != 3 {
		t.Errorf("waiting looks = %d, want 3", w)
	}
}

func TestNoDataTimeoutCountsFromCanaryTraffic(t *testing.T) {
	h := newHarness(t, map[string][]string{"errors": {"nodata"}})
	h.update(40*time.Minute, UpdateAbort, Request{By: "bob", Reason: "no data"}, &updateOutcome{})
	// Ten minutes without canary traffic, then 10%: the 5-minute default
	// timeout (5 × 1m) runs from 10m.
	h.run(guarded(pauseFor(10*time.Minute), weight(10), pauseFor(time.Hour)))
	h.rolledBack()
	s := h.status()
	var hold *Verdict
	for i := range s.Verdicts {
		if s.Verdicts[i].Analysis == "background" && s.Verdicts[i].Phase == analysis.PhaseInconclusive {
			hold = &s.Verdicts[i]
			break
		}
	}
	if hold == nil {
		t.Fatalf("no inconclusive background verdict: %+v", s.Verdicts)
	}
	if at := hold.At.Sub(s.StartedAt); at < 15*time.Minute || at > 16*time.Minute {
		t.Errorf("inconclusive at %s, want 15m (5m after the canary got traffic at 10m)", at)
	}
	if !strings.Contains(hold.Reason, "no data 5m0s after the canary got traffic") {
		t.Errorf("reason = %q", hold.Reason)
	}
}

func TestNoMetricRunningAfterTheEnd(t *testing.T) {
	h := newHarness(t, map[string][]string{"pass-rate": {"Pass"}, "errors": {"Pass"}})
	h.update(90*time.Second, UpdateAbort, Request{By: "bob", Reason: "enough"}, &updateOutcome{})
	h.run(guarded(weight(10), analyze("quality"), weight(50)))
	h.rolledBack()
	s := h.status()
	for _, ms := range append(s.Analysis, s.Background...) {
		if ms.Assessment.Phase == analysis.PhaseRunning {
			t.Errorf("%s/%s still Running after the rollback: %s", ms.Template, ms.Metric, ms.Assessment.Reason)
		}
	}
	if len(s.Analysis) == 0 {
		t.Error("the step analysis cut short is not shown")
	}
}

func TestBackgroundErrorsHoldAndShowTheirText(t *testing.T) {
	h := newHarness(t, map[string][]string{"errors": {"err", "err", "err", "err", "err", "Pass", "Pass", "Fail"}})
	var held Status
	h.at(6*time.Minute+30*time.Second, func() { held = h.status() })
	h.run(guarded(weight(10), pauseFor(10*time.Minute), weight(50)))
	msg := h.rolledBack()
	if !strings.Contains(msg, "background analysis failed: guard/errors") {
		t.Errorf("message = %q", msg)
	}
	if held.Held == nil || !strings.Contains(held.Held.Reason, "guard/errors cannot be measured") {
		t.Errorf("hold at 6m30s = %+v", held.Held)
	}
	bg := held.Background[0]
	if !strings.Contains(bg.History.LastError, "provider unreachable") {
		t.Errorf("last error = %q, want the provider's text", bg.History.LastError)
	}
	var timeline []string
	for _, e := range h.status().Events {
		if e.Kind == "measure" {
			timeline = append(timeline, e.Message)
		}
	}
	if len(timeline) != 1 || !strings.Contains(timeline[0], "provider unreachable") {
		t.Errorf("timeline of errors = %q, want the first error of the streak with its text", timeline)
	}
	if got := h.metrics.count("errors"); got != 8 {
		t.Errorf("measured %d times, want 8: the metric goes on during the hold", got)
	}
}
