package rollout_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/coalmine-dev/coalmine/workers/demoagent"
	"github.com/coalmine-dev/coalmine/workflows"
)

// faultyCanary is the demo agent v2 behind a switch: when every is n > 0,
// one chat request in n is answered with HTTP 500.
type faultyCanary struct {
	next  http.Handler
	every atomic.Int64
	seen  atomic.Int64
}

func newFaultyCanary() *faultyCanary {
	return &faultyCanary{next: demoagent.New(demoagent.Config{Version: "v2", Quality: 0.95, Seed: 2, Latency: time.Millisecond}).Handler()}
}

func (f *faultyCanary) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if n := f.every.Load(); n > 0 && strings.HasSuffix(r.URL.Path, "/chat/completions") && f.seen.Add(1)%n == 0 {
		http.Error(w, `{"error":{"message":"injected failure"}}`, http.StatusInternalServerError)
		return
	}
	f.next.ServeHTTP(w, r)
}

// load sends chat requests through the gateway, each with its own
// session, until the test ends.
func (s *stack) load() {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	s.t.Cleanup(func() { cancel(); wg.Wait() })
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.trafficURL+"/"+s.app+"/v1/chat/completions",
					strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
				if err != nil {
					return
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("x-session-id", fmt.Sprintf("load-%d-%d", w, i))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
}

// guardTemplate is a background error-rate guardrail read from the gateway.
const guardTemplate = `  backgroundAnalysis: {templates: [guard]}
  analysisTemplates:
    guard:
      metrics:
        - name: error-rate
          interval: 1s
          minSamples: 20
          provider: {gateway: {stat: error_rate}}
          successCondition: result <= 0.005
          failureCondition: result > 0.05`

func TestGuardrailWatchesAfterSegmentAndShadow(t *testing.T) {
	t.Parallel()
	canary := newFaultyCanary()
	s := newStackWith(t, "it-guardrail", nil, canary)
	w := s.startWorker()
	defer w.Stop()
	s.load()
	run := s.start(s.plan(`    - setSegmentWeight: {segment: internal, weight: 100}
    - shadow: {percent: 50, duration: 3s}
    - setWeight: 100
    - pause: {duration: 5m}`, `  segments:
    - name: internal
      header: {name: x-cohort, value: internal}
`+guardTemplate))
	// The internal segment sends nothing: the guardrail waits for data
	// instead of ending; it judges the mirrored requests, then everyone's.
	s.waitFor("the canary at 100%", func(st workflows.Status) bool { return st.Weight == 100 && st.WaitKind == "pause" })
	canary.every.Store(5)
	_, err := s.result(run)
	msg := rolledBack(t, err)
	if !strings.Contains(msg, "background analysis failed: guard/error-rate") {
		t.Errorf("message = %q", msg)
	}
	st := s.status()
	if st.Held != nil {
		t.Errorf("hold shown after the rollback: %+v", st.Held)
	}
	s.recordHistory(run, "segment-shadow-guardrail")
}

func TestBackgroundHoldResumeThenFail(t *testing.T) {
	t.Parallel()
	canary := newFaultyCanary()
	canary.every.Store(50) // 2% errors: neither the success nor the failure condition
	s := newStackWith(t, "it-hold", nil, canary)
	w := s.startWorker()
	defer w.Stop()
	s.load()
	run := s.start(s.plan(`    - setWeight: 50
    - pause: {duration: 2s}
    - setWeight: 60
    - pause: {duration: 5m}`, guardTemplate))
	st := s.waitFor("the hold", func(st workflows.Status) bool { return st.WaitKind == "held" })
	if st.Held == nil || !strings.Contains(st.Held.Reason, "guard/error-rate is inconclusive") {
		t.Fatalf("hold = %+v", st.Held)
	}
	canary.every.Store(0)
	// The metric is still measured during the hold: wait for a clean look.
	s.waitFor("a passing look during the hold", func(st workflows.Status) bool {
		last, ok := st.Background[0].History.Last()
		return ok && last.Verdict == "Pass"
	})
	if _, err := s.update(workflows.UpdateResume, workflows.Request{By: "alice", Reason: "flaky upstream, fixed"}); err != nil {
		t.Fatalf("resume: %v", err)
	}
	s.waitFor("the next step", func(st workflows.Status) bool { return st.Weight == 60 })
	canary.every.Store(5) // 20% errors: a failure
	_, err := s.result(run)
	if msg := rolledBack(t, err); !strings.Contains(msg, "background analysis failed: guard/error-rate") {
		t.Errorf("message = %q", msg)
	}
	s.recordHistory(run, "background-hold-resume-fail")
}

func TestApprovalTimeoutGoesOn(t *testing.T) {
	t.Parallel()
	s := newStack(t, "it-approval-timeout", 0.95)
	w := s.startWorker()
	defer w.Stop()
	run := s.start(s.plan(`    - setWeight: 10
    - approval: {timeout: 2s, onTimeout: promote}
    - setWeight: 50`, ""))
	r, err := s.result(run)
	if err != nil {
		t.Fatalf("rollout: %v", err)
	}
	if len(r.Approvals) != 1 || r.Approvals[0].Decision != "timed out, promoted" {
		t.Errorf("approvals = %+v", r.Approvals)
	}
	s.recordHistory(run, "approval-timeout")
}

func TestThresholdTableAAPromotes(t *testing.T) {
	t.Parallel()
	agent := func(version string, seed uint64) http.Handler {
		return demoagent.New(demoagent.Config{Version: version, ErrorRate: 0.01, Latency: 2 * time.Millisecond, LatencySigma: 0.5, Quality: 0.95, Seed: seed}).Handler()
	}
	s := newStackWith(t, "it-aa-table", agent("v1", 1), agent("v2", 2))
	w := s.startWorker()
	defer w.Stop()
	s.load()
	// The usual rollback-triggers table, judged with confidence (the
	// default method): an identical canary must not be rolled back.
	run := s.start(s.plan(`    - setWeight: 50
    - pause: {duration: 20s}`, `  backgroundAnalysis: {templates: [table]}
  analysisTemplates:
    table:
      metrics:
        - name: error-rate
          interval: 1s
          provider: {gateway: {stat: error_rate}}
          compare: {with: stable, maxRelativeIncrease: 1.0, maxAbsolute: 0.05}
        - name: latency-p99
          interval: 1s
          provider: {gateway: {stat: latency, quantile: 0.99}}
          compare: {with: stable, maxRelativeIncrease: 0.5}`))
	r, err := s.result(run)
	if err != nil {
		t.Fatalf("an A/A canary was not promoted: %v", err)
	}
	st := s.status()
	for _, m := range st.Background {
		if m.History.Failed > 0 {
			t.Errorf("%s/%s failed %d looks of an A/A canary: %s", m.Template, m.Metric, m.History.Failed, m.Assessment.Reason)
		}
		t.Logf("%s/%s: %d looks (%d pass, %d gathering evidence, %d waiting); %s", m.Template, m.Metric, m.History.Count, m.History.Passed, m.History.Pending, m.History.Waiting, m.Assessment.Reason)
	}
	t.Logf("promoted %s after %s", r.Promoted.Name, r.Duration)
}

func TestOnFailurePauseWaitsForAPerson(t *testing.T) {
	t.Parallel()
	s := newStack(t, "it-onfailure-pause", 0.2)
	w := s.startWorker()
	defer w.Stop()
	run := s.start(s.evalsPlan("count: 1", "onFailure: pause"))
	st := s.waitFor("the failure review", func(st workflows.Status) bool { return st.WaitKind == "failed" })
	if st.Weight != 10 || st.Phase != workflows.PhasePaused || !strings.Contains(st.Waiting, "evals/eval-pass-rate") {
		t.Errorf("at the review: %s at %v%%, waiting for %q", st.Phase, st.Weight, st.Waiting)
	}
	if _, err := s.update(workflows.UpdatePromote, workflows.Request{By: "alice", Reason: "the eval suite is being rewritten"}); err != nil {
		t.Fatalf("promote: %v", err)
	}
	r, err := s.result(run)
	if err != nil {
		t.Fatalf("rollout after the review: %v", err)
	}
	if len(r.Approvals) != 1 || r.Approvals[0].By != "alice" {
		t.Errorf("approvals = %+v", r.Approvals)
	}
	s.recordHistory(run, "onfailure-pause")
}

// TestContinueAsNewWithBackgroundAnalysis runs on its own dev server that
// suggests continue-as-new after a few hundred events, so that a rollout
// with background analysis hands over to a new run in seconds.
func TestContinueAsNewWithBackgroundAnalysis(t *testing.T) {
	t.Parallel()
	s := newStack(t, "it-continue", 0.95)
	s.client = continueAsNewServer(t).Client()
	w := s.startWorker()
	defer w.Stop()
	s.load()
	run := s.start(s.plan(`    - setWeight: 20
    - pause: {duration: 15s}`, `  backgroundAnalysis: {templates: [guard]}
  analysisTemplates:
    guard:
      metrics:
        - name: error-rate
          interval: 200ms
          provider: {gateway: {stat: error_rate}}
          failureCondition: result > 0.05`))
	first := run.GetRunID()
	r, err := s.result(run)
	if err != nil {
		t.Fatalf("rollout across runs: %v", err)
	}
	st := s.status()
	if st.Runs < 2 {
		t.Fatalf("the rollout ran in %d run, want a continue-as-new", st.Runs)
	}
	if bg := st.Background[0]; bg.History.Count < 10 {
		t.Errorf("background looks over all runs = %d, want the metric measured across the hand-over", bg.History.Count)
	}
	t.Logf("promoted %s after %d runs", r.Promoted.Name, st.Runs)
	s.recordRun(run.GetID(), first, "continue-as-new-background-first-run")
	s.recordHistory(run, "continue-as-new-background")
}

// continueAsNewServer starts a dev server of its own that suggests
// continue-as-new after 150 events, so that a rollout hands over to a new
// run within seconds; it stops at the end of the test.
func continueAsNewServer(t *testing.T) *testsuite.DevServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:     filepath.Join(repoRoot(), "bin", "temporal"),
		SearchAttributes: workflows.SearchAttributes("app", "v1", "v2", workflows.PhaseProgressing, 0),
		ClientOptions:    &client.Options{Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))},
		LogLevel:         "error",
		ExtraArgs:        []string{"--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=150"},
	})
	if err != nil {
		t.Fatalf("start a dev server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return srv
}

// TestReviewAfterContinueAsNew: a background metric with onFailure: pause
// fails during a pause step, and the run hands over to a new one mid-pause.
// The review waits with its own 24h deadline; after a person promotes, the
// pause keeps its own deadline and the rollout goes on.
func TestReviewAfterContinueAsNew(t *testing.T) {
	t.Parallel()
	var score atomic.Value
	score.Store("1")
	evals := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"failures": %s}`, score.Load())
	}))
	defer evals.Close()
	s := newStack(t, "it-review-continue", 0.95)
	s.client = continueAsNewServer(t).Client()
	w := s.startWorker()
	defer w.Stop()
	run := s.start(s.plan(`    - setWeight: 20
    - pause: {duration: 20s}
    - setWeight: 50`, `  backgroundAnalysis: {templates: [guard]}
  analysisTemplates:
    guard:
      metrics:
        - name: failures
          interval: 100ms
          onFailure: pause
          provider:
            web: {url: "`+evals.URL+`", jsonPath: "$.failures"}
          failureCondition: result > 0`))
	first := run.GetRunID()
	st := s.waitFor("a failure review in a later run", func(st workflows.Status) bool { return st.WaitKind == "failed" && st.Runs >= 2 })
	if left := time.Until(st.WaitUntil); left < 23*time.Hour {
		t.Errorf("the review waits until %s (%s from now), want its own 24h", st.WaitUntil, left.Round(time.Second))
	}
	score.Store("0")
	if _, err := s.update(workflows.UpdatePromote, workflows.Request{By: "alice", Reason: "reviewed"}); err != nil {
		t.Fatalf("promote: %v", err)
	}
	r, err := s.result(run)
	if err != nil {
		t.Fatalf("rollout after the review: %v", err)
	}
	st = s.status()
	pauses := 0
	for _, e := range st.Events {
		if e.Kind == "step" && strings.Contains(e.Message, "pause") {
			pauses++
		}
	}
	if pauses != 1 {
		t.Errorf("the pause step started %d times, want once: it must keep its own deadline through the review", pauses)
	}
	t.Logf("promoted after %d runs in %s", st.Runs, r.Duration)
	s.recordRun(run.GetID(), first, "review-continue-as-new-first-run")
	s.recordHistory(run, "review-continue-as-new")
}
