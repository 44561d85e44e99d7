package workflows

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// wantAll reports each of wants that text lacks.
func wantAll(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("%s %q\nlacks %q", what, text, want)
		}
	}
}

func TestRollbackWhoseResetFailsEndsOnAbortForce(t *testing.T) {
	h, _ := rollbackHarness(t)
	h.router.setDown(true)
	var noReason, retry, force, again updateOutcome
	var during Status
	h.update(time.Minute, UpdateAbort, Request{By: "bob"}, &noReason)
	h.at(10*time.Minute, func() { during = h.status() })
	h.update(10*time.Minute+time.Second, UpdateAbort, Request{By: "carol", Reason: "still stuck?"}, &retry)
	h.update(20*time.Minute, UpdateAbort, Request{By: "carol", Reason: "gateway host is gone", Force: true}, &force)
	h.update(20*time.Minute+time.Second, UpdateAbort, Request{By: "dan", Reason: "me too", Force: true}, &again)
	h.env.ExecuteWorkflow(Rollback, rollbackInput(plan(weight(50))))
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("the rollback did not end")
	}

	if noReason.rejected == nil || !strings.Contains(noReason.rejected.Error(), "an abort needs a reason") {
		t.Errorf("abort without a reason: rejected %v", noReason.rejected)
	}
	if during.Phase != PhaseRollingBack || during.ResetFailures < 2 || !strings.Contains(during.ResetError, "connection refused") {
		t.Errorf("status while the reset fails: phase %s, %d failures, %q", during.Phase, during.ResetFailures, during.ResetError)
	}
	if !retry.accepted || retry.err != nil {
		t.Fatalf("abort while the reset fails: %+v", retry)
	}
	wantAll(t, "answer to abort", retry.answer,
		"voice-agent is already being rolled back from v2 to v1 by alice, but returning traffic to v1 has failed",
		"connection refused", "coalmine abort voice-agent --force --reason WHY")
	if !force.accepted || force.err != nil {
		t.Errorf("abort --force: %+v", force)
	}
	if again.accepted {
		t.Error("a second abort --force was accepted")
	}
	msg := h.abandoned()
	wantAll(t, "message", msg,
		"voice-agent v2: carol ended the rollback with abort --force (gateway host is gone) without returning traffic to v1",
		"As coalmine last knew it, v2 serves all traffic",
		"The reset failed", "connection refused",
		"check that the gateway's admin API at http://gw is up")
	if d := h.status().UpdatedAt.Sub(h.status().StartedAt); d > 21*time.Minute {
		t.Errorf("ended %s after the start, want at the abort --force (20 min)", d)
	}

	notes := h.notes.all()
	first := slices.IndexFunc(notes, func(n api.Note) bool { return strings.Contains(n.Card.Text, "cannot return") })
	if first < 0 {
		t.Fatalf("no alert about the failing reset: %+v", notes)
	}
	wantAll(t, "first alert", notes[first].Card.Text, "(attempt 1)", "connection refused", "To end the rollback leaving traffic as it is: coalmine abort voice-agent --force")
	if last := notes[len(notes)-1]; last.Card.Text != msg {
		t.Errorf("last notification %q, want the abandon message", last.Card.Text)
	}
}

func TestRollbackWhoseWorkloadFails(t *testing.T) {
	// PromoteWorkload retries on its own (10 attempts); the Rollback ends
	// when it gives up, or at once on abort --force.
	tests := []struct {
		name   string
		force  bool
		wantIn []string
	}{
		{"gives up", false, []string{"the rollback of voice-agent to v1 failed: voice-agent did not take v1 back: quota exceeded", "v2 still serves it"}},
		{"abort --force", true, []string{
			"ops ended the rollback with abort --force (cluster is down) without returning traffic to v1",
			"The rollback was cut short while voice-agent was being given v1 back: it may run either version now, and traffic was not returned",
			"check the Deployment voice-agent (kubectl rollout status deployment/voice-agent)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := rollbackHarness(t)
			h.loads.failPromote = errors.New("quota exceeded")
			var retry, force updateOutcome
			if tt.force {
				h.update(20*time.Second, UpdateAbort, Request{By: "ops", Reason: "anything?"}, &retry)
				h.update(30*time.Second, UpdateAbort, Request{By: "ops", Reason: "cluster is down", Force: true}, &force)
			}
			p := plan(weight(50))
			p.Spec.Workload = &plans.Workload{Deployment: "voice-agent"}
			h.env.ExecuteWorkflow(Rollback, rollbackInput(p))
			var ae *temporal.ApplicationError
			if err := h.env.GetWorkflowError(); !errors.As(err, &ae) {
				t.Fatalf("error = %v, want an application error", err)
			}
			wantAll(t, "message", ae.Message(), tt.wantIn...)
			if tt.force {
				wantAll(t, "answer to abort", retry.answer, "voice-agent is already being rolled back from v2 to v1 by alice: voice-agent is being given v1 back first")
				if ae.Type() != ErrorTypeAbandoned || !force.accepted {
					t.Errorf("type %s, abort --force %+v: want Abandoned", ae.Type(), force)
				}
			}
			if calls := h.router.Calls(); len(calls) != 0 {
				t.Errorf("router calls %v: traffic must wait for the workload", calls)
			}
		})
	}
}
