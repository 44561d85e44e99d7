package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// targets records the target of every router the activities build, so a
// test sees which version each change made stable.
type targets struct {
	next api.Routers
	mu   sync.Mutex
	seen []api.Target
}

func (r *targets) Router(ctx context.Context, in api.TrafficInput) (api.Router, error) {
	r.mu.Lock()
	r.seen = append(r.seen, in.Target)
	r.mu.Unlock()
	return r.next.Router(ctx, in)
}

func (r *targets) last() api.Target {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.seen) == 0 {
		return api.Target{}
	}
	return r.seen[len(r.seen)-1]
}

// rollbackHarness is a harness with the Rollback workflow registered and
// the routers' targets recorded.
func rollbackHarness(t *testing.T) (*harness, *targets) {
	t.Helper()
	h := newHarness(t, nil)
	h.env.RegisterWorkflow(Rollback)
	tg := &targets{next: h.router}
	h.env.RegisterActivity(&activities.Activities{
		Routers: tg, Metrics: h.metrics, Notifier: h.notes, Workloads: h.loads, HeartbeatEvery: time.Hour,
		Logger: slog.New(slog.DiscardHandler),
	})
	return h, tg
}

func rollbackInput(p plans.RolloutPlan) RollbackInput {
	return RollbackInput{
		Plan: p,
		From: api.Version{Name: "v2", URL: "http://v2"},
		To:   api.Version{Name: "v1", URL: "http://v1"},
		By:   "alice", Reason: "answers got worse overnight",
	}
}

func (h *harness) rollbackResult() RollbackResult {
	h.t.Helper()
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("rollback did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		h.t.Fatalf("rollback failed: %v", err)
	}
	var r RollbackResult
	if err := h.env.GetWorkflowResult(&r); err != nil {
		h.t.Fatalf("decode result: %v", err)
	}
	return r
}

func TestRollbackReturnsAllTrafficAtOnce(t *testing.T) {
	h, tg := rollbackHarness(t)
	p := plan(weight(10), pauseFor(time.Hour), analyze("t"), weight(100))
	p.Spec.Notifications = &plans.Notifications{Slack: &plans.SlackNotifications{Channel: "#deploys"}}
	h.env.ExecuteWorkflow(Rollback, rollbackInput(p))
	r := h.rollbackResult()
	if r.To.Name != "v1" || r.From.Name != "v2" || r.By != "alice" {
		t.Errorf("result = %+v", r)
	}
	wantCalls(t, h.router.Calls(), []string{"reset"})
	if got := tg.last(); got.Stable.Name != "v1" || got.Stable.URL != "http://v1" || got.Canary.Name != "v2" {
		t.Errorf("reset target = %+v, want v1 as the stable side", got)
	}
	if n := h.metrics.count("m"); n != 0 {
		t.Errorf("%d measurements: a rollback skips analysis", n)
	}
	st := h.status()
	if st.Phase != PhaseRolledBack || st.Stable.Name != "v1" || st.Canary.Name != "v2" || st.Weight != 0 {
		t.Errorf("status: phase %s stable %s canary %s weight %v", st.Phase, st.Stable.Name, st.Canary.Name, st.Weight)
	}
	var said bool
	for _, e := range st.Events {
		said = said || (e.By == "alice" && strings.Contains(e.Message, "is back on v1 at 100% (was v2), rolled back by alice: answers got worse overnight"))
	}
	if !said {
		t.Errorf("no event says who rolled back and why: %+v", st.Events)
	}
	wantCalls(t, h.notes.events(), []string{plans.EventStarted, plans.EventRolledBack})
	last := h.notes.all()[1]
	if !strings.Contains(last.Card.Text, "back on v1") || last.Message.TS == "" {
		t.Errorf("last note = %+v, want the one message updated to say v1 is back", last)
	}
}

func TestRollbackRestoresTheWorkloadFirst(t *testing.T) {
	h, _ := rollbackHarness(t)
	p := plan(weight(50))
	p.Spec.Workload = &plans.Workload{Deployment: "voice-agent"}
	h.env.ExecuteWorkflow(Rollback, rollbackInput(p))
	h.rollbackResult()
	wantCalls(t, h.loads.log(), []string{"promote voice-agent@v1"})
	wantCalls(t, h.router.Calls(), []string{"reset"})
}

func TestRollbackRetriesTheRouter(t *testing.T) {
	// Each attempt of the activity tries 5 times: 15 failures are three
	// whole attempts. Rollbacks alert at the first and the third
	// (changeRollbackForce); those recorded before, at the third only.
	tests := []struct {
		name    string
		version workflow.Version
		alerts  []int
	}{
		{"rollback-force", 1, []int{1, 3}},
		{"before rollback-force", workflow.DefaultVersion, []int{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := rollbackHarness(t)
			h.version(changeRollbackForce, tt.version)
			h.router.failures["reset"] = 15
			h.env.ExecuteWorkflow(Rollback, rollbackInput(plan(weight(50))))
			h.rollbackResult()
			if st := h.status(); st.Phase != PhaseRolledBack || st.ResetFailures != 0 {
				t.Errorf("phase = %s, reset failures %d after success", st.Phase, st.ResetFailures)
			}
			var alerts []int
			for _, n := range h.notes.all() {
				for a := 1; a <= 3; a++ {
					if strings.Contains(n.Card.Text, "cannot return") && (strings.Contains(n.Card.Text, fmt.Sprintf("(attempt %d)", a)) || strings.Contains(n.Card.Text, fmt.Sprintf("after %d attempts", a))) {
						alerts = append(alerts, a)
					}
				}
			}
			if !slices.Equal(alerts, tt.alerts) {
				t.Errorf("alerts at attempts %v, want %v", alerts, tt.alerts)
			}
		})
	}
}

func TestRollbackFailsWithASentence(t *testing.T) {
	t.Run("router cannot", func(t *testing.T) {
		h, _ := rollbackHarness(t)
		h.router.unsupported["reset"] = true
		h.env.ExecuteWorkflow(Rollback, rollbackInput(plan(weight(50))))
		var ae *temporal.ApplicationError
		if err := h.env.GetWorkflowError(); !errors.As(err, &ae) || ae.Type() != ErrorTypeRollbackFailed {
			t.Fatalf("error = %v, want RollbackFailed", err)
		}
		if !strings.Contains(ae.Message(), "the rollback of voice-agent to v1 failed: traffic did not go back: router gateway cannot do reset; v2 still serves it") {
			t.Errorf("message = %q", ae.Message())
		}
	})
	for name, mutate := range map[string]func(*RollbackInput){
		"same version": func(in *RollbackInput) { in.To = in.From },
		"no reason":    func(in *RollbackInput) { in.Reason = "" },
		"no target":    func(in *RollbackInput) { in.To = api.Version{} },
	} {
		t.Run(name, func(t *testing.T) {
			h, _ := rollbackHarness(t)
			in := rollbackInput(plan(weight(50)))
			mutate(&in)
			h.env.ExecuteWorkflow(Rollback, in)
			var ae *temporal.ApplicationError
			if err := h.env.GetWorkflowError(); !errors.As(err, &ae) || ae.Type() != "InvalidInput" {
				t.Fatalf("error = %v, want InvalidInput", err)
			}
			if len(h.router.Calls()) != 0 {
				t.Errorf("router calls %v for an invalid rollback", h.router.Calls())
			}
		})
	}
}

func TestRollbackRefusesRolloutUpdates(t *testing.T) {
	// A rollback has no steps: promote is refused; abort is taken since
	// changeRollbackForce and refused by Rollbacks recorded before.
	for _, version := range []workflow.Version{1, workflow.DefaultVersion} {
		t.Run(fmt.Sprint("version ", version), func(t *testing.T) {
			h, _ := rollbackHarness(t)
			h.version(changeRollbackForce, version)
			h.router.failures["reset"] = 6 // keeps the rollback busy in its retry timer
			var promote, abort updateOutcome
			h.update(10*time.Second, UpdatePromote, Request{By: "bob"}, &promote)
			h.update(20*time.Second, UpdateAbort, Request{By: "bob", Reason: "x"}, &abort)
			h.env.ExecuteWorkflow(Rollback, rollbackInput(plan(weight(50))))
			h.rollbackResult()
			refused := map[string]updateOutcome{"promote": promote}
			if version == workflow.DefaultVersion {
				refused["abort"] = abort
			} else if !abort.accepted || abort.err != nil {
				t.Errorf("abort: %+v, want accepted", abort)
			}
			for name, o := range refused {
				if o.rejected == nil || !strings.Contains(o.rejected.Error(), "voice-agent is being rolled back from v2 to v1 by alice; wait for it to end") {
					t.Errorf("%s: rejected = %v, want a sentence", name, o.rejected)
				}
			}
		})
	}
}

func TestRollbackCancelledStopsRetrying(t *testing.T) {
	h, _ := rollbackHarness(t)
	h.router.failures["reset"] = 1000
	h.at(time.Hour, h.env.CancelWorkflow)
	h.env.ExecuteWorkflow(Rollback, rollbackInput(plan(weight(50))))
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("a cancelled rollback did not end")
	}
	var ae *temporal.ApplicationError
	if err := h.env.GetWorkflowError(); !errors.As(err, &ae) || ae.Type() != ErrorTypeRollbackFailed {
		t.Fatalf("error = %v, want RollbackFailed", err)
	}
	if !strings.Contains(ae.Message(), "the rollback was cancelled") {
		t.Errorf("message = %q", ae.Message())
	}
	if ev := h.notes.events(); ev[len(ev)-1] != plans.EventRolledBack {
		t.Errorf("notifications %v: people were not told", ev)
	}
}
