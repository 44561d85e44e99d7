package rollout_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/workflows"
)

func TestStartStatusPromote(t *testing.T) {
	t.Parallel()
	s := newStack(t, "it-promote", 0.95)
	w := s.startWorker()
	defer w.Stop()
	p := s.plan(`    - setWeight: 20
    - pause: {}
    - setWeight: 50
    - pause: {duration: 1s}`, "")
	run := s.start(p)

	st := s.waitFor("the gate", func(st workflows.Status) bool { return st.WaitKind == "gate" })
	if st.Phase != workflows.PhasePaused || st.Step != 1 || st.Weight != 20 {
		t.Errorf("status at the gate: phase %s step %d weight %v", st.Phase, st.Step, st.Weight)
	}
	if r := s.route(); r.CanaryWeightBP != 2000 || r.Canary == nil || r.Canary.Version != "v2" {
		t.Errorf("gateway route at the gate: %+v", r)
	}
	if details := s.currentDetails(); !strings.Contains(details, "Waiting for: a person to promote") || !strings.Contains(details, "Canary weight: **20%**") {
		t.Errorf("Web UI details at the gate:\n%s", details)
	}
	if sum := s.staticSummary(); sum != "it-promote v1 → v2" {
		t.Errorf("Web UI summary = %q", sum)
	}
	if _, err := s.update(workflows.UpdateResume, workflows.Request{By: "alice"}); err == nil || !strings.Contains(err.Error(), "is not paused") {
		t.Errorf("resume at a gate: err = %v, want a refusal", err)
	}
	if _, err := s.update(workflows.UpdatePromote, workflows.Request{By: "alice", Reason: "looks good"}); err != nil {
		t.Fatalf("promote: %v", err)
	}
	r, err := s.result(run)
	if err != nil {
		t.Fatalf("rollout: %v", err)
	}
	if r.Promoted.Name != "v2" || r.Previous.Name != "v1" || len(r.Approvals) != 1 || r.Approvals[0].By != "alice" {
		t.Errorf("result = %+v", r)
	}
	route := s.route()
	if route.Stable.Version != "v2" || route.Canary != nil {
		t.Errorf("gateway route after promotion: stable %s canary %+v, want v2 alone", route.Stable.Version, route.Canary)
	}
	if got := s.versionsServed(20); got["v2"] != 20 {
		t.Errorf("versions served after promotion: %v, want all v2", got)
	}
	if final := s.status(); final.Phase != workflows.PhasePromoted || final.Weight != 100 {
		t.Errorf("final status: phase %s weight %v", final.Phase, final.Weight)
	}
	s.recordHistory(run, "promoted")
}

func TestAbortReturnsTrafficToStable(t *testing.T) {
	t.Parallel()
	s := newStack(t, "it-abort", 0.95)
	w := s.startWorker()
	defer w.Stop()
	run := s.start(s.plan(`    - setWeight: 30
    - pause: {duration: 1h}
    - setWeight: 60`, ""))
	s.waitFor("the pause", func(st workflows.Status) bool { return st.WaitKind == "pause" })
	if got := s.versionsServed(40); got["v2"] == 0 || got["v1"] == 0 {
		t.Errorf("versions served at 30%%: %v, want both", got)
	}
	if _, err := s.update(workflows.UpdateAbort, workflows.Request{By: "bob"}); err == nil || !strings.Contains(err.Error(), "needs a reason") {
		t.Errorf("abort without reason: err = %v, want a refusal", err)
	}
	if _, err := s.update(workflows.UpdateAbort, workflows.Request{By: "bob", Reason: "answers too long"}); err != nil {
		t.Fatalf("abort: %v", err)
	}
	_, err := s.result(run)
	if msg := rolledBack(t, err); msg != "it-abort v2 was rolled back to v1: bob aborted it: answers too long." {
		t.Errorf("message = %q", msg)
	}
	route := s.route()
	if route.Stable.Version != "v1" || route.CanaryWeightBP != 0 {
		t.Errorf("gateway route after abort: stable %s canary weight %d", route.Stable.Version, route.CanaryWeightBP)
	}
	if got := s.versionsServed(20); got["v1"] != 20 {
		t.Errorf("versions served after abort: %v, want all v1", got)
	}
	s.recordHistory(run, "aborted")
}

func TestAnalysisFailureRollsBack(t *testing.T) {
	t.Parallel()
	s := newStack(t, "it-analysis", 0.2)
	w := s.startWorker()
	defer w.Stop()
	run := s.start(s.evalsPlan("count: 2"))
	_, err := s.result(run)
	msg := rolledBack(t, err)
	if !strings.Contains(msg, "analysis at step 2 failed: evals/eval-pass-rate") {
		t.Errorf("message = %q", msg)
	}
	st := s.status()
	if len(st.Verdicts) != 1 || st.Verdicts[0].Phase != "Failed" || !strings.Contains(st.Verdicts[0].Reason, "result") {
		t.Errorf("verdicts = %+v", st.Verdicts)
	}
	if r := s.route(); r.CanaryWeightBP != 0 || r.Stable.Version != "v1" {
		t.Errorf("gateway route after rollback: %+v", r)
	}
	s.recordHistory(run, "rolled-back-by-analysis")
}

// evalsPlan is 10% of traffic, an analysis of the canary's eval pass rate
// (the metric's settings given, one YAML field each), then 50%.
func (s *stack) evalsPlan(settings ...string) plans.RolloutPlan {
	s.t.Helper()
	return s.plan(`    - setWeight: 10
    - analysis: {templates: [evals]}
    - setWeight: 50`, `  analysisTemplates:
    evals:
      metrics:
        - name: eval-pass-rate
          interval: 1s
          `+strings.Join(settings, "\n          ")+`
          provider:
            web: {url: "{{.Canary.URL}}/api/run?suite=voice&repeat=20", jsonPath: "$.passRate"}
          successCondition: result >= 0.9`)
}

func TestWorkerReplacedDuringPause(t *testing.T) {
	t.Parallel()
	s := newStack(t, "it-failover", 0.95)
	first := s.startWorker()
	run := s.start(s.plan(`    - setWeight: 10
    - pause: {duration: 3s}
    - setWeight: 40
    - pause: {duration: 1s}
    - setWeight: 70`, ""))
	s.waitFor("the first pause", func(st workflows.Status) bool { return st.Step == 1 && st.WaitKind == "pause" })
	first.Stop()

	second := s.startWorker()
	defer second.Stop()
	r, err := s.result(run)
	if err != nil {
		t.Fatalf("rollout after the worker was replaced: %v", err)
	}
	if r.StepsRun != 5 {
		t.Errorf("steps run = %d, want 5", r.StepsRun)
	}
	want := map[string]int{"setWeight 10": 1, "setWeight 40": 1, "setWeight 70": 1, "promote": 1}
	if got := s.calls.snapshot(); !maps.Equal(got, want) {
		t.Errorf("router changes = %v, want each exactly once: %v", got, want)
	}
	if route := s.route(); route.Stable.Version != "v2" {
		t.Errorf("gateway stable after promotion = %s", route.Stable.Version)
	}
}
