package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/activities/metrics"
	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/plans"
)

// harness is one workflow test environment with fake dependencies.
type harness struct {
	t       *testing.T
	env     *testsuite.TestWorkflowEnvironment
	router  *fakeRouter
	metrics *fakeMetrics
	notes   *fakeNotifier
	loads   *fakeWorkloads
	// watchEvery is the plan's traffic.verifyInterval (run sets it).
	watchEvery time.Duration
	// lookWaits hands the wait of a look activity (MeasureInput.NotBefore)
	// from the started listener to the look's mock, one at a time.
	lookWaits chan time.Duration
	// started, when set, is told of every activity that starts.
	started func(info *activity.Info)
}

func newHarness(t *testing.T, scripts map[string][]string) *harness {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	h := &harness{
		t:       t,
		env:     s.NewTestWorkflowEnvironment(),
		router:  newFakeRouter(),
		metrics: newFakeMetrics(scripts),
		notes:   &fakeNotifier{},
		loads:   &fakeWorkloads{},
	}
	h.env.RegisterWorkflow(Rollout)
	acts := &activities.Activities{
		Routers:        h.router,
		Metrics:        h.metrics,
		Notifier:       h.notes,
		Workloads:      h.loads,
		HeartbeatEvery: time.Hour,
		Logger:         slog.New(slog.DiscardHandler),
	}
	h.env.RegisterActivity(acts)
	// The test environment skips no time while an activity runs, so here
	// a traffic watch is one read of the real activity after each interval
	// on the workflow clock.
	h.watchEvery = plans.DefaultVerifyInterval
	h.env.OnActivity(api.NameWatchTraffic, mock.Anything, mock.Anything).
		Return(func(ctx context.Context, in api.WatchInput) (api.WatchResult, error) {
			in.For = time.Nanosecond
			return acts.WatchTraffic(ctx, in)
		}).
		AfterFn(func() time.Duration { return h.watchEvery })
	h.mockLooks(acts)
	h.env.SetTestTimeout(30 * time.Second)
	return h
}

// mockLooks runs the real look activities after the wait for their due
// time on the workflow clock, which the test environment cannot see from
// inside an activity: the started listener reads the input's NotBefore
// against the workflow clock and the mock's AfterFn waits that long.
func (h *harness) mockLooks(acts *activities.Activities) {
	h.lookWaits = make(chan time.Duration, 1)
	h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		if h.started != nil {
			h.started(info)
		}
		var due time.Time
		switch info.ActivityType.Name {
		case api.NameMeasure:
			var in api.MeasureInput
			if err := args.Get(&in); err != nil {
				h.t.Errorf("decode %s input: %v", info.ActivityType.Name, err)
			}
			due = in.NotBefore
		case api.NameMeasureLooks:
			var in api.MeasureLooksInput
			if err := args.Get(&in); err != nil {
				h.t.Errorf("decode %s input: %v", info.ActivityType.Name, err)
			}
			due = in.NotBefore
		default:
			return
		}
		wait := time.Duration(0)
		if !due.IsZero() {
			wait = due.Sub(h.env.Now())
		}
		h.lookWaits <- wait
	})
	h.env.OnActivity(api.NameMeasure, mock.Anything, mock.Anything).
		Return(func(ctx context.Context, in api.MeasureInput) (api.MeasureResult, error) {
			in.NotBefore = time.Time{}
			return acts.Measure(ctx, in)
		}).
		AfterFn(func() time.Duration { return <-h.lookWaits })
	h.env.OnActivity(api.NameMeasureLooks, mock.Anything, mock.Anything).
		Return(func(ctx context.Context, in api.MeasureLooksInput) (api.MeasureLooksResult, error) {
			in.NotBefore = time.Time{}
			return acts.MeasureLooks(ctx, in)
		}).
		AfterFn(func() time.Duration { return <-h.lookWaits })
}

// version makes the rollout run with version v of change, as a rollout
// started before changeBaseline does (its baseline stands for no change).
func (h *harness) version(change string, v workflow.Version) {
	h.env.OnGetVersion(changeBaseline, workflow.DefaultVersion, baselineVersion).Return(workflow.DefaultVersion)
	h.env.OnGetVersion(change, workflow.DefaultVersion, 1).Return(v)
}

func (h *harness) run(p plans.RolloutPlan) {
	h.t.Helper()
	if v := p.Spec.Traffic.VerifyInterval; v != nil && v.Duration > 0 {
		h.watchEvery = v.Duration
	}
	h.env.ExecuteWorkflow(Rollout, input(p))
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
}

// input starts a rollout of p from v1 to v2.
func input(p plans.RolloutPlan) Input {
	return Input{Plan: p, Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"}, StartedBy: "tester"}
}

// at runs fn at time d on the workflow clock.
func (h *harness) at(d time.Duration, fn func()) { h.env.RegisterDelayedCallback(fn, d) }

// update sends an update at time d and records its outcome in out.
func (h *harness) update(d time.Duration, name string, req Request, out *updateOutcome) {
	h.at(d, func() {
		h.env.UpdateWorkflow(name, name+d.String(), &testsuite.TestUpdateCallback{
			OnAccept: func() { out.accepted = true },
			OnReject: func(err error) { out.rejected = err },
			OnComplete: func(v any, err error) {
				out.completed = true
				out.err = err
				out.answer, _ = v.(string)
			},
		}, req)
	})
}

type updateOutcome struct {
	accepted, completed bool
	rejected, err       error
	answer              string
}

func (h *harness) status() Status {
	h.t.Helper()
	v, err := h.env.QueryWorkflow(QueryStatus)
	if err != nil {
		h.t.Fatalf("query status: %v", err)
	}
	var s Status
	if err := v.Get(&s); err != nil {
		h.t.Fatalf("decode status: %v", err)
	}
	return s
}

// details is the workflow's current details, the Markdown the Web UI shows,
// read through the SDK's metadata query; "" after reporting an error.
func (h *harness) details() string {
	h.t.Helper()
	v, err := h.env.QueryWorkflow("__temporal_workflow_metadata")
	if err != nil {
		h.t.Errorf("metadata query: %v", err)
		return ""
	}
	var md sdkpb.WorkflowMetadata
	if err := v.Get(&md); err != nil {
		h.t.Errorf("decode metadata: %v", err)
	}
	return md.GetCurrentDetails()
}

func (h *harness) result() Result {
	h.t.Helper()
	if err := h.env.GetWorkflowError(); err != nil {
		h.t.Fatalf("workflow failed: %v", err)
	}
	var r Result
	if err := h.env.GetWorkflowResult(&r); err != nil {
		h.t.Fatalf("decode result: %v", err)
	}
	return r
}

// continuedAt runs in (a first run when it carries nothing) with
// continue-as-new suggested at time d and returns the input the run handed
// to the next one.
func (h *harness) continuedAt(d time.Duration, in Input) Input {
	h.t.Helper()
	h.at(d, func() { h.env.SetContinueAsNewSuggested(true) })
	h.env.ExecuteWorkflow(Rollout, in)
	var can *workflow.ContinueAsNewError
	if err := h.env.GetWorkflowError(); !errors.As(err, &can) {
		h.t.Fatalf("first run error = %v, want continue-as-new", err)
	}
	var next Input
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		h.t.Fatalf("decode continue-as-new input: %v", err)
	}
	return next
}

// rolledBack asserts the workflow failed with RolledBack and returns the message.
func (h *harness) rolledBack() string {
	h.t.Helper()
	err := h.env.GetWorkflowError()
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != ErrorTypeRolledBack {
		h.t.Fatalf("workflow error = %v, want a RolledBack application error", err)
	}
	if got := h.router.Calls(); !slices.Contains(got, "reset") {
		h.t.Errorf("router calls %v: no reset", got)
	}
	if slices.Contains(h.router.Calls(), "promote") {
		h.t.Errorf("router calls %v: promoted although rolled back", h.router.Calls())
	}
	if h.router.state.CanaryWeight != 0 {
		h.t.Errorf("canary weight after rollback = %v, want 0", h.router.state.CanaryWeight)
	}
	if s := h.status(); s.Phase != PhaseRolledBack {
		h.t.Errorf("phase = %s, want RolledBack", s.Phase)
	}
	return ae.Message()
}

func wantCalls(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("router calls:\n got %q\nwant %q", got, want)
	}
}

// Plan builders.

func weight(w float64) plans.Step { return plans.Step{SetWeight: &w} }

func pauseFor(d time.Duration) plans.Step {
	return plans.Step{Pause: &plans.Pause{Duration: &plans.Duration{Duration: d}}}
}

func gate() plans.Step { return plans.Step{Pause: &plans.Pause{}} }

func approval(timeout time.Duration, onTimeout string) plans.Step {
	return plans.Step{Approval: &plans.Approval{Timeout: plans.Duration{Duration: timeout}, OnTimeout: onTimeout}}
}

func analyze(templates ...string) plans.Step {
	return plans.Step{Analysis: &plans.AnalysisRef{Templates: templates}}
}

func segment(name string, w float64) plans.Step {
	return plans.Step{SetSegmentWeight: &plans.SegmentWeight{Segment: name, Weight: w}}
}

func shadow(p float64, d time.Duration) plans.Step {
	return plans.Step{Shadow: &plans.Shadow{Percent: p, Duration: plans.Duration{Duration: d}}}
}

func intp(n int) *int { return &n }

func metric(name string, count int, interval time.Duration) plans.Metric {
	return plans.Metric{
		Name:     name,
		Provider: plans.Provider{Block: &metrics.WebProvider{URL: "http://evals/" + name, JSONPath: "$.v"}},
		Count:    count,
		Interval: plans.Duration{Duration: interval},
	}
}

func plan(steps ...plans.Step) plans.RolloutPlan {
	return plans.RolloutPlan{
		APIVersion: plans.APIVersion,
		Kind:       plans.Kind,
		Metadata:   plans.Metadata{Name: "voice-agent"},
		Spec: plans.Spec{
			App:           "voice-agent",
			Traffic:       plans.Traffic{Router: plans.RouterGateway, Block: &traffic.GatewayTraffic{URL: "http://gw", Route: "voice-agent"}},
			Segments:      []plans.Segment{{Name: "internal", Header: &plans.HeaderMatch{Name: "x-cohort", Value: "internal"}}},
			Steps:         steps,
			Notifications: &plans.Notifications{Slack: &plans.SlackNotifications{Channel: "#deploys"}},
			AnalysisTemplates: map[string]plans.AnalysisTemplate{
				"quality": {Metrics: []plans.Metric{metric("pass-rate", 3, time.Minute)}},
				"guard":   {Metrics: []plans.Metric{metric("errors", 0, time.Minute)}},
			},
		},
	}
}

func TestEveryStepKindThenPromote(t *testing.T) {
	h := newHarness(t, nil)
	h.run(plan(weight(10), segment("internal", 50), shadow(20, 5*time.Minute), pauseFor(10*time.Minute), analyze("quality"), weight(50)))
	r := h.result()
	wantCalls(t, h.router.Calls(), []string{"setWeight 10", "setSegmentWeight internal 50", "shadow 20", "shadow 0", "setWeight 50", "promote"})
	if r.Previous.Name != "v1" || r.Promoted.Name != "v2" || r.StepsRun != 6 {
		t.Errorf("result = %+v", r)
	}
	// shadow 5m + pause 10m + analysis: 3 looks 1m apart.
	if r.Duration < 17*time.Minute || r.Duration > 18*time.Minute {
		t.Errorf("duration = %s, want 17m to 18m", r.Duration)
	}
	if len(r.Verdicts) != 1 || r.Verdicts[0].Phase != "Successful" {
		t.Errorf("verdicts = %+v, want one Successful", r.Verdicts)
	}
	if got := h.metrics.count("pass-rate"); got != 3 {
		t.Errorf("pass-rate measured %d times, want 3", got)
	}
	s := h.status()
	if s.Phase != PhasePromoted || s.Weight != 100 {
		t.Errorf("status phase %s weight %v, want Promoted at 100", s.Phase, s.Weight)
	}
	if got := h.notes.events(); !slices.Equal(got, []string{plans.EventStarted, plans.EventPromoted}) {
		t.Errorf("notifications = %v", got)
	}
}

func TestGates(t *testing.T) {
	tests := []struct {
		name      string
		step      plans.Step
		act       func(h *harness)
		promote   bool
		reason    string // in the RolledBack message
		approvals []string
	}{
		{
			name: "pause gate passed by promote",
			step: gate(),
			act: func(h *harness) {
				h.update(time.Hour, UpdatePromote, Request{By: "alice", Reason: "looks good"}, &updateOutcome{})
			},
			promote:   true,
			approvals: []string{"approved"},
		},
		{
			name: "approval passed by the approve signal",
			step: approval(2*time.Hour, ""),
			act: func(h *harness) {
				h.at(time.Hour, func() { h.env.SignalWorkflow(SignalApprove, Request{By: "U123"}) })
			},
			promote:   true,
			approvals: []string{"approved"},
		},
		{
			name:      "approval times out and rolls back",
			step:      approval(2*time.Hour, plans.OnTimeoutRollback),
			act:       func(*harness) {},
			reason:    "nobody approved step 2 of 3, approval (timeout 2h) within 2h",
			approvals: []string{"timed out, rolled back"},
		},
		{
			name:      "approval times out and promotes",
			step:      approval(2*time.Hour, plans.OnTimeoutPromote),
			act:       func(*harness) {},
			promote:   true,
			approvals: []string{"timed out, promoted"},
		},
		{
			name: "approval aborted",
			step: approval(2*time.Hour, ""),
			act: func(h *harness) {
				h.update(time.Minute, UpdateAbort, Request{By: "bob", Reason: "tone is off"}, &updateOutcome{})
			},
			reason:    "bob aborted it: tone is off",
			approvals: []string{"aborted"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			tt.act(h)
			h.run(plan(weight(10), tt.step, weight(50)))
			if tt.promote {
				h.result()
				wantCalls(t, h.router.Calls(), []string{"setWeight 10", "setWeight 50", "promote"})
			} else {
				msg := h.rolledBack()
				if !strings.Contains(msg, tt.reason) {
					t.Errorf("message %q does not contain %q", msg, tt.reason)
				}
			}
			var got []string
			for _, a := range h.status().Approvals {
				got = append(got, a.Decision)
			}
			if !slices.Equal(got, tt.approvals) {
				t.Errorf("approvals = %v, want %v", got, tt.approvals)
			}
			if !slices.Contains(h.notes.events(), plans.EventGate) {
				t.Errorf("no gate notification in %v", h.notes.events())
			}
		})
	}
}

func TestPromoteEarlyAndFull(t *testing.T) {
	t.Run("promote cuts a pause short", func(t *testing.T) {
		h := newHarness(t, nil)
		h.update(2*time.Minute, UpdatePromote, Request{By: "alice"}, &updateOutcome{})
		h.run(plan(weight(10), pauseFor(time.Hour), weight(50)))
		r := h.result()
		wantCalls(t, h.router.Calls(), []string{"setWeight 10", "setWeight 50", "promote"})
		if r.Duration > 3*time.Minute {
			t.Errorf("duration = %s, want the pause cut short at 2m", r.Duration)
		}
	})
	t.Run("promote --full skips the remaining steps", func(t *testing.T) {
		h := newHarness(t, nil)
		var out updateOutcome
		h.update(time.Minute, UpdatePromote, Request{By: "alice", Full: true, Reason: "hotfix"}, &out)
		h.run(plan(weight(10), pauseFor(time.Hour), weight(50), pauseFor(time.Hour), weight(75)))
		r := h.result()
		wantCalls(t, h.router.Calls(), []string{"setWeight 10", "promote"})
		if !out.completed || out.err != nil {
			t.Errorf("update outcome = %+v", out)
		}
		if r.StepsRun != 2 {
			t.Errorf("steps run = %d, want 2 (the pause was cut short)", r.StepsRun)
		}
	})
}

func TestAbortAtEveryPhase(t *testing.T) {
	tests := []struct {
		name string
		plan plans.RolloutPlan
		at   time.Duration
	}{
		{"during a pause", plan(weight(10), pauseFor(time.Hour), weight(50)), 10 * time.Minute},
		{"at a gate", plan(weight(10), gate(), weight(50)), 10 * time.Minute},
		{"during analysis", plan(weight(10), analyze("quality"), weight(50)), 90 * time.Second},
		{"during shadow", plan(shadow(10, time.Hour), weight(50)), 10 * time.Minute},
		{"while held", plan(weight(10), pauseFor(time.Minute), weight(50)), 30 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			if tt.name == "while held" {
				h.update(10*time.Second, UpdatePause, Request{By: "carol", Reason: "lunch"}, &updateOutcome{})
			}
			var out updateOutcome
			h.update(tt.at, UpdateAbort, Request{By: "bob", Reason: "customers complain"}, &out)
			h.run(tt.plan)
			msg := h.rolledBack()
			if want := "voice-agent v2 was rolled back to v1: bob aborted it: customers complain."; msg != want {
				t.Errorf("message = %q, want %q", msg, want)
			}
			if !out.completed || out.err != nil {
				t.Errorf("abort update outcome = %+v", out)
			}
			if slices.Contains(h.router.Calls(), "setWeight 50") {
				t.Errorf("router calls %v: went on after abort", h.router.Calls())
			}
			if !slices.Contains(h.notes.events(), plans.EventRolledBack) {
				t.Errorf("no rolledBack notification in %v", h.notes.events())
			}
		})
	}
}

func TestAnalysisLimits(t *testing.T) {
	tests := []struct {
		name    string
		script  []string
		limits  func(*plans.Metric)
		promote time.Duration // when to promote an inconclusive gate
		want    string        // "promoted" or part of the RolledBack message
		looks   int
	}{
		{name: "all pass", script: []string{"Pass"}, want: "promoted", looks: 3},
		{name: "a fail rolls back at once", script: []string{"Pass", "Fail"}, want: "analysis at step 2 failed: quality/pass-rate: 1 of 2 measurements failed", looks: 2},
		{name: "failure limit tolerates one", script: []string{"Fail", "Pass"}, limits: func(m *plans.Metric) { m.FailureLimit = intp(1) }, want: "promoted", looks: 3},
		{name: "inconclusive waits for a person", script: []string{"Pass", "Inconclusive"}, promote: time.Hour, want: "promoted", looks: 2},
		{name: "consecutive errors roll back", script: []string{"err"}, limits: func(m *plans.Metric) { m.Count = 10; m.ConsecutiveErrorLimit = intp(2) }, want: "3 measurements in a row errored", looks: 3},
		{name: "invalid provider config rolls back", script: []string{"invalid"}, want: "cannot be measured", looks: 1},
		{name: "waiting for data counts toward nothing", script: []string{"nodata", "nodata", "Pass"}, want: "promoted", looks: 5},
		{name: "a look below minSamples waits", script: []string{"Fail:10", "Pass:200"}, limits: func(m *plans.Metric) { m.MinSamples = 100 }, want: "promoted", looks: 4},
		{name: "no data after the timeout is inconclusive", script: []string{"nodata"}, limits: func(m *plans.Metric) { m.NoDataTimeout = plans.Duration{Duration: 3 * time.Minute} }, promote: time.Hour, want: "promoted", looks: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, map[string][]string{"pass-rate": tt.script})
			p := plan(weight(10), analyze("quality"), weight(50))
			if tt.limits != nil {
				tpl := p.Spec.AnalysisTemplates["quality"]
				tt.limits(&tpl.Metrics[0])
				p.Spec.AnalysisTemplates["quality"] = tpl
			}
			if tt.promote > 0 {
				h.update(tt.promote, UpdatePromote, Request{By: "alice"}, &updateOutcome{})
			}
			h.run(p)
			if tt.want == "promoted" {
				h.result()
			} else if msg := h.rolledBack(); !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not contain %q", msg, tt.want)
			}
			if got := h.metrics.count("pass-rate"); got != tt.looks {
				t.Errorf("measured %d times, want %d", got, tt.looks)
			}
		})
	}
}

func TestBackgroundAnalysisAbortsAtOnce(t *testing.T) {
	h := newHarness(t, map[string][]string{"errors": {"Pass", "Pass", "Fail"}})
	p := plan(weight(10), pauseFor(time.Hour), weight(50))
	p.Spec.BackgroundAnalysis = &plans.AnalysisRef{Templates: []string{"guard"}}
	h.run(p)
	msg := h.rolledBack()
	if !strings.Contains(msg, "background analysis failed: guard/errors") {
		t.Errorf("message = %q", msg)
	}
	s := h.status()
	if d := s.Events[len(s.Events)-1].At.Sub(s.StartedAt); d > 5*time.Minute {
		t.Errorf("rolled back after %s, want within minutes of the third look", d)
	}
}

func TestCancellationRollsBack(t *testing.T) {
	h := newHarness(t, nil)
	h.at(10*time.Minute, func() { h.env.CancelWorkflow() })
	p := plan(weight(10), pauseFor(time.Hour), weight(50))
	p.Spec.Workload = &plans.Workload{Deployment: "voice-agent"}
	p.Spec.Rollback = &plans.Rollback{ScaleDownDelay: plans.Seconds(45)}
	h.run(p)
	msg := h.rolledBack()
	if !strings.Contains(msg, "the workflow was cancelled") {
		t.Errorf("message = %q", msg)
	}
	if !slices.Equal(h.loads.downs, []string{"voice-agent@v2"}) {
		t.Errorf("scale-downs = %v", h.loads.downs)
	}
}

func TestActivityFailures(t *testing.T) {
	t.Run("retried until it works", func(t *testing.T) {
		h := newHarness(t, nil)
		h.router.failures["setWeight"] = 2
		h.run(plan(weight(10), weight(50)))
		h.result()
		wantCalls(t, h.router.Calls(), []string{"setWeight 10 (failed)", "setWeight 10 (failed)", "setWeight 10", "setWeight 50", "promote"})
	})
	t.Run("an unsupported step kind rolls back naming router and kind", func(t *testing.T) {
		h := newHarness(t, nil)
		h.router.unsupported["shadow"] = true
		h.run(plan(weight(10), shadow(5, time.Hour), weight(50)))
		msg := h.rolledBack()
		if !strings.Contains(msg, "router gateway cannot do shadow") {
			t.Errorf("message = %q", msg)
		}
	})
	t.Run("reset retried until it works, with a notification", func(t *testing.T) {
		h := newHarness(t, nil)
		h.router.failures["reset"] = 5*3 + 1 // three whole activity executions and one attempt fail
		h.update(time.Minute, UpdateAbort, Request{By: "bob", Reason: "test"}, &updateOutcome{})
		h.run(plan(weight(10), pauseFor(time.Hour)))
		h.rolledBack()
		n := 0
		for _, e := range h.notes.events() {
			if e == plans.EventRolledBack {
				n++
			}
		}
		if n != 3 {
			t.Errorf("rolledBack notifications = %d, want 3 (alerts at the first and third failures, one final)", n)
		}
	})
}

func TestValidatorsRefuseWithASentence(t *testing.T) {
	tests := []struct {
		name   string
		update string
		req    Request
		at     time.Duration
		want   string
	}{
		{"resume when not paused", UpdateResume, Request{By: "a"}, 30 * time.Second, "the rollout of voice-agent is not paused: it is at step 2 of 3, pause 1h, waiting for pause of 1h"},
		{"abort without a reason", UpdateAbort, Request{By: "a"}, 30 * time.Second, "say why: an abort needs a reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			var out updateOutcome
			h.update(tt.at, tt.update, tt.req, &out)
			h.run(plan(weight(10), pauseFor(time.Hour), weight(20)))
			if out.rejected == nil || !strings.Contains(out.rejected.Error(), tt.want) {
				t.Errorf("rejection = %v, want %q", out.rejected, tt.want)
			}
		})
	}
}

func TestPromoteRefusedWhenNothingWaits(t *testing.T) {
	h := newHarness(t, nil)
	var out updateOutcome
	h.router.failures["setWeight"] = 1 // the setWeight step is retrying at 0.5s
	h.update(500*time.Millisecond, UpdatePromote, Request{By: "a"}, &out)
	h.run(plan(weight(25), pauseFor(time.Minute)))
	h.result()
	if out.rejected == nil || out.rejected.Error() != "no gate or pause is waiting: the rollout is at step 1 of 2, setWeight 25" {
		t.Errorf("rejection = %v", out.rejected)
	}
}

func TestPauseAndResume(t *testing.T) {
	h := newHarness(t, nil)
	h.update(time.Minute, UpdatePause, Request{By: "carol", Reason: "incident elsewhere"}, &updateOutcome{})
	var second updateOutcome
	h.update(2*time.Minute, UpdatePause, Request{By: "dan"}, &second)
	var st Status
	h.at(3*time.Hour, func() { st = h.status() })
	h.update(4*time.Hour, UpdateResume, Request{By: "carol"}, &updateOutcome{})
	h.run(plan(weight(10), pauseFor(10*time.Minute), weight(50)))
	r := h.result()
	if st.Phase != PhasePaused || st.Step != 2 || st.WaitKind != waitHeld || st.Held == nil || st.Held.By != "carol" {
		t.Errorf("status while held: phase %s step %d wait %q", st.Phase, st.Step, st.WaitKind)
	}
	if second.rejected == nil || !strings.Contains(second.rejected.Error(), "already paused by carol: incident elsewhere") {
		t.Errorf("second pause: %v", second.rejected)
	}
	if r.Duration < 4*time.Hour {
		t.Errorf("duration %s: did not hold until resumed", r.Duration)
	}
}

func TestStatusShowsNumbersAndEvents(t *testing.T) {
	h := newHarness(t, map[string][]string{"pass-rate": {"Pass"}})
	var st Status
	h.at(90*time.Second, func() { st = h.status() })
	h.run(plan(weight(10), analyze("quality"), weight(50)))
	h.result()
	if st.Phase != PhaseProgressing || st.Step != 1 || st.Weight != 10 || st.WaitKind != waitAnalysis {
		t.Fatalf("status = phase %s step %d weight %v wait %q", st.Phase, st.Step, st.Weight, st.WaitKind)
	}
	if len(st.Analysis) != 1 || st.Analysis[0].History.Count != 2 {
		t.Fatalf("analysis = %+v", st.Analysis)
	}
	if last, _ := st.Analysis[0].History.Last(); !strings.Contains(last.Reason, "pass-rate") || len(last.Result) != 1 {
		t.Errorf("last measurement = %+v", last)
	}
	final := h.status()
	var kinds []string
	for _, e := range final.Events {
		kinds = append(kinds, e.Kind)
	}
	for _, k := range []string{"started", "step", "weight", "analysis", "promoted"} {
		if !slices.Contains(kinds, k) {
			t.Errorf("events %v lack %q", kinds, k)
		}
	}
}

func TestContinueAsNewKeepsState(t *testing.T) {
	p := plan(weight(10), pauseFor(time.Hour), analyze("quality"), weight(50))
	first := newHarness(t, nil)
	first.update(time.Minute, UpdatePause, Request{By: "carol"}, &updateOutcome{})
	first.at(10*time.Minute, func() { first.env.SetContinueAsNewSuggested(true) })
	first.run(p)
	var can *workflow.ContinueAsNewError
	if err := first.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("first run error = %v, want continue-as-new", err)
	}
	var next Input
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatalf("decode continue-as-new input: %v", err)
	}
	if next.Carry == nil || next.Carry.Status.Step != 1 || next.Carry.Control.Held == nil || next.Carry.Control.Deadline.IsZero() {
		t.Fatalf("carried state = %+v", next.Carry)
	}

	second := newHarness(t, nil)
	second.router.state = api.TrafficState{CanaryWeight: 10} // the split the first run left
	second.update(2*time.Hour, UpdateResume, Request{By: "carol"}, &updateOutcome{})
	second.env.ExecuteWorkflow(Rollout, next)
	r := second.result()
	// The second run must not set 10% again: the first did.
	wantCalls(t, second.router.Calls(), []string{"setWeight 50", "promote"})
	s := second.status()
	if s.Runs != 2 || len(r.Verdicts) != 1 {
		t.Errorf("runs = %d, verdicts = %+v", s.Runs, r.Verdicts)
	}
	if !slices.ContainsFunc(s.Events, func(e Event) bool { return e.Kind == "pause" && e.By == "carol" }) {
		t.Errorf("the pause event of the first run was lost: %+v", s.Events)
	}
}

func TestSearchAttributesFollowPhaseAndWeight(t *testing.T) {
	h := newHarness(t, nil)
	var got []string
	h.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		phase, _ := sa.GetKeyword(AttrPhase)
		w, _ := sa.GetFloat64(AttrWeight)
		entry := fmt.Sprintf("%s %v", phase, w)
		if app, ok := sa.GetKeyword(AttrApp); ok {
			entry += " " + app
		}
		got = append(got, entry)
	}).Return(nil)
	h.update(time.Hour, UpdatePromote, Request{By: "alice"}, &updateOutcome{})
	h.run(plan(weight(10), gate(), weight(50)))
	h.result()
	want := []string{"Progressing 0 voice-agent", "Progressing 10", "Paused 10", "Progressing 10", "Progressing 50", "Promoted 100"}
	if !slices.Equal(got, want) {
		t.Errorf("search attribute upserts:\n got %q\nwant %q", got, want)
	}
}

func TestApproveSignalWithoutGateIsRecordedAndIgnored(t *testing.T) {
	h := newHarness(t, nil)
	h.at(time.Minute, func() { h.env.SignalWorkflow(SignalApprove, Request{By: "U1"}) })
	h.run(plan(weight(10), pauseFor(time.Hour), weight(50)))
	r := h.result()
	if r.Duration < time.Hour {
		t.Errorf("approve cut a timed pause short: duration %s", r.Duration)
	}
	s := h.status()
	if !slices.ContainsFunc(s.Events, func(e Event) bool {
		return e.Kind == "approve" && e.By == "U1" && strings.Contains(e.Message, "approve ignored: no gate is waiting")
	}) {
		t.Errorf("no ignored-approve event in %+v", s.Events)
	}
}

func TestDetailsMarkdownShowsWhereTheRolloutIs(t *testing.T) {
	h := newHarness(t, nil)
	var details string
	h.at(30*time.Minute, func() {
		details = h.details()
	})
	h.run(plan(weight(10), pauseFor(time.Hour), weight(50)))
	h.result()
	for _, want := range []string{"**voice-agent** v1 → v2 · **Progressing**", "Step 2 of 3: `pause 1h`", "Canary weight: **10%**", "Waiting for: pause of 1h (until "} {
		if !strings.Contains(details, want) {
			t.Errorf("details lack %q:\n%s", want, details)
		}
	}
}

func TestContinueAsNewCarriesBackgroundAnalysis(t *testing.T) {
	p := plan(weight(10), pauseFor(time.Hour), weight(50))
	p.Spec.BackgroundAnalysis = &plans.AnalysisRef{Templates: []string{"guard"}}
	first := newHarness(t, nil)
	next := first.continuedAt(10*time.Minute+30*time.Second, input(p))
	bg := next.Carry.Status.Background
	if len(bg) != 1 || bg[0].History.Count != 11 || string(bg[0].State) != `{"looks":11}` {
		t.Fatalf("carried background analysis = %+v", bg)
	}

	second := newHarness(t, nil)
	second.router.state = api.TrafficState{CanaryWeight: 10} // the split the first run left
	second.env.ExecuteWorkflow(Rollout, next)
	second.result()
	s := second.status()
	if n := s.Background[0].History.Count; n < 60 || n > 62 {
		t.Errorf("background measurements over both runs = %d, want about 61 (one a minute for an hour)", n)
	}
	if got := second.metrics.count("errors"); got < 49 || got > 51 {
		t.Errorf("second run measured %d times, want about 50", got)
	}
	wantCalls(t, second.router.Calls(), []string{"setWeight 50", "promote"})
}

func TestCancellationDuringAnActivityRollsBack(t *testing.T) {
	h := newHarness(t, nil)
	h.router.failures["setWeight"] = 6 // retried at 60s, 61s, 63s, 67s, 75s, ... when the cancellation comes at 70s
	h.at(70*time.Second, func() { h.env.CancelWorkflow() })
	h.run(plan(pauseFor(time.Minute), weight(10), weight(50)))
	if msg := h.rolledBack(); !strings.HasSuffix(msg, ": the workflow was cancelled.") {
		t.Errorf("message = %q", msg)
	}
}

// TestSlackCardAtGates follows the rollout's one message through two
// approval gates: every note after the first updates the same message, the
// gate's card carries its id and approvers, an approve meant for a gate
// that has passed is ignored, and passing a gate says who did it.
func TestSlackCardAtGates(t *testing.T) {
	h := newHarness(t, nil)
	first := approval(2*time.Hour, "")
	first.Approval.Approvers = &plans.Approvers{Users: []string{"U1"}, Groups: []string{"S9"}}
	h.at(time.Minute, func() {
		s := h.status()
		if s.Gate != "step-2" || !slices.Equal(s.Approvers, []string{"U1", "S9"}) {
			t.Errorf("status at the first gate: gate %q approvers %v", s.Gate, s.Approvers)
		}
		h.env.SignalWorkflow(SignalApprove, Request{By: "slack:U1", Gate: "step-2"})
	})
	// A late click on the first gate's button must not pass the second gate.
	h.at(time.Hour, func() { h.env.SignalWorkflow(SignalApprove, Request{By: "slack:U1", Gate: "step-2"}) })
	h.at(2*time.Hour, func() {
		if s := h.status(); s.Gate != "step-4" || s.Phase != PhasePaused {
			t.Errorf("the stale approve moved the rollout: gate %q phase %s", s.Gate, s.Phase)
		}
		h.env.SignalWorkflow(SignalApprove, Request{By: "slack:U2", Gate: "step-4"})
	})
	h.run(plan(weight(10), first, weight(50), approval(3*time.Hour, "")))
	h.result()

	notes := h.notes.all()
	var events []string
	for i, n := range notes {
		events = append(events, n.Card.Event)
		if i > 0 && n.Message.TS != "1700000000.000001" {
			t.Errorf("note %d (%s) went to message %+v, not the rollout's first one", i, n.Card.Event, n.Message)
		}
	}
	want := []string{plans.EventStarted, plans.EventGate, plans.EventApproved, plans.EventGate, plans.EventApproved, plans.EventPromoted}
	if !slices.Equal(events, want) {
		t.Fatalf("events = %v, want %v", events, want)
	}
	g := notes[1].Card.Gate
	if g == nil || g.ID != "step-2" || g.WorkflowID == "" || !slices.Equal(g.Approvers, []string{"U1", "S9"}) || g.Deadline.IsZero() || g.OnTimeout != plans.OnTimeoutRollback {
		t.Errorf("first gate card = %+v", g)
	}
	if d := notes[2].Card.Decision; d == nil || d.Action != "promote" || d.Who != "slack:U1" {
		t.Errorf("decision after the first gate = %+v", d)
	}
	if notes[5].Card.Phase != string(PhasePromoted) || notes[5].Card.Weight != 100 {
		t.Errorf("final card: phase %s weight %v", notes[5].Card.Phase, notes[5].Card.Weight)
	}
	stale := false
	for _, e := range h.status().Events {
		stale = stale || strings.Contains(e.Message, "approve for gate step-2 ignored")
	}
	if !stale {
		t.Error("the stale approve left no event")
	}
}

func TestWorkloadLifecycle(t *testing.T) {
	withWorkload := func() plans.RolloutPlan {
		p := plan(weight(10), weight(50))
		p.Spec.Workload = &plans.Workload{Deployment: "voice-agent"}
		p.Spec.Rollback = &plans.Rollback{ScaleDownDelay: plans.Seconds(45)}
		return p
	}
	t.Run("canary created first, stable promoted before traffic, canary removed after the delay", func(t *testing.T) {
		h := newHarness(t, nil)
		h.run(withWorkload())
		h.result()
		wantCalls(t, h.loads.log(), []string{"create voice-agent@v2", "promote voice-agent@v2", "scaleDown voice-agent@v2"})
		wantCalls(t, h.router.Calls(), []string{"setWeight 10", "setWeight 50", "promote"})
		var removed bool
		for _, e := range h.status().Events {
			removed = removed || strings.Contains(e.Message, "voice-agent-canary is removed")
		}
		if !removed {
			t.Error("no event says the canary was removed")
		}
	})
	t.Run("a canary that never becomes available rolls back with the cluster's message", func(t *testing.T) {
		h := newHarness(t, nil)
		h.loads.failCreate = fmt.Errorf(`ReplicaSet "voice-agent-canary-5d" has timed out progressing. (%w)`, api.ErrNotAvailable)
		h.run(withWorkload())
		var ae *temporal.ApplicationError
		if err := h.env.GetWorkflowError(); !errors.As(err, &ae) || ae.Type() != ErrorTypeRolledBack || !strings.Contains(ae.Message(), "has timed out progressing") {
			t.Errorf("workflow error = %v", err)
		}
		wantCalls(t, h.loads.log(), []string{"create voice-agent@v2", "scaleDown voice-agent@v2"})
		// Traffic never went to the canary: the rollback has none to return.
		wantCalls(t, h.router.Calls(), nil)
	})
	t.Run("plans without a workload touch none", func(t *testing.T) {
		h := newHarness(t, nil)
		h.run(plan(weight(10)))
		h.result()
		if got := h.loads.log(); len(got) != 0 {
			t.Errorf("workload calls %v", got)
		}
	})
}

func TestAchievedWeight(t *testing.T) {
	h := newHarness(t, nil)
	h.router.achieved = map[float64]float64{5: 10}
	var st Status
	var details string
	h.at(30*time.Minute, func() {
		st = h.status()
		details = h.details()
	})
	h.run(plan(weight(5), pauseFor(time.Hour), weight(50)))
	h.result()
	if st.Weight != 5 || st.AchievedWeight == nil || *st.AchievedWeight != 10 {
		t.Errorf("status during the pause: weight %v, achieved %v", st.Weight, st.AchievedWeight)
	}
	if !strings.Contains(details, "Canary weight: **5%** (achieved 10% with whole replicas)") {
		t.Errorf("current details:\n%s", details)
	}
	var said bool
	for _, e := range h.status().Events {
		said = said || strings.Contains(e.Message, "v2 gets 10% of traffic (asked 5%")
	}
	if !said {
		t.Error("no event names the achieved weight")
	}
}
