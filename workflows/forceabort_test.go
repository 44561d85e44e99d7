package workflows

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// abandoned asserts the workflow ended Abandoned and returns its message.
func (h *harness) abandoned() string {
	h.t.Helper()
	var ae *temporal.ApplicationError
	if err := h.env.GetWorkflowError(); !errors.As(err, &ae) || ae.Type() != ErrorTypeAbandoned {
		h.t.Fatalf("workflow error = %v, want an Abandoned application error", err)
	}
	if s := h.status(); s.Phase != PhaseAbandoned || s.Reason != ae.Message() {
		h.t.Errorf("status phase %s reason %q, want Abandoned with the error's message", s.Phase, s.Reason)
	}
	return ae.Message()
}

// hasEvent reports whether the status has an event of kind whose message contains text.
func hasEvent(s Status, kind, text string) bool {
	return slices.ContainsFunc(s.Events, func(e Event) bool { return e.Kind == kind && strings.Contains(e.Message, text) })
}

func TestRollbackWithoutATrafficChangeIsANoop(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *harness)
		steps []plans.Step
	}{
		{"the router was never reachable", func(h *harness) { h.router.setDown(true) }, []plans.Step{weight(10), pauseFor(time.Hour)}},
		{"aborted before the first setWeight", func(h *harness) {
			h.update(time.Minute, UpdateAbort, Request{By: "bob", Reason: "wrong canary"}, &updateOutcome{})
		}, []plans.Step{pauseFor(time.Hour), weight(10)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			tt.setup(h)
			h.run(plan(tt.steps...))
			var ae *temporal.ApplicationError
			if err := h.env.GetWorkflowError(); !errors.As(err, &ae) || ae.Type() != ErrorTypeRolledBack {
				t.Fatalf("workflow error = %v, want RolledBack", err)
			}
			if slices.ContainsFunc(h.router.Calls(), func(c string) bool { return strings.HasPrefix(c, "reset") }) {
				t.Errorf("router calls %v: a reset although traffic never changed", h.router.Calls())
			}
			s := h.status()
			if s.Phase != PhaseRolledBack || !hasEvent(s, "rollback", "nothing to return: coalmine never changed this app's traffic, v1 serves all of it") {
				t.Errorf("phase %s, events %+v: want RolledBack with the no-op recorded", s.Phase, s.Events)
			}
		})
	}
}

func TestAbortWhileResetFails(t *testing.T) {
	h := newHarness(t, nil)
	h.at(30*time.Second, func() { h.router.setDown(true) })
	h.update(time.Minute, UpdateAbort, Request{By: "bob", Reason: "latency"}, &updateOutcome{})
	var retry, force, again updateOutcome
	var during Status
	h.at(10*time.Minute, func() { during = h.status() })
	h.update(10*time.Minute+time.Second, UpdateAbort, Request{By: "carol", Reason: "still stuck?"}, &retry)
	h.update(20*time.Minute, UpdateAbort, Request{By: "carol", Reason: "gateway host is gone", Force: true}, &force)
	h.at(20*time.Minute+time.Second, func() {
		h.env.UpdateWorkflow(UpdateAbort, "again", &testsuite.TestUpdateCallback{
			OnAccept: func() { again.accepted = true }, OnReject: func(err error) { again.rejected = err }, OnComplete: func(any, error) {},
		}, Request{By: "dan", Reason: "me too", Force: true})
	})
	h.run(plan(weight(10), pauseFor(time.Hour)))

	if during.Phase != PhaseRollingBack || during.ResetFailures < 2 || !strings.Contains(during.ResetError, "connection refused") {
		t.Errorf("status while the reset fails: phase %s, %d failures, %q", during.Phase, during.ResetFailures, during.ResetError)
	}
	if !retry.accepted || retry.err != nil {
		t.Fatalf("abort while rolling back: accepted %v, err %v, rejected %v", retry.accepted, retry.err, retry.rejected)
	}
	msg := h.abandoned()
	for _, want := range []string{
		"carol ended the rollout with abort --force (gateway host is gone) without returning traffic to v1",
		"As last read from the router, traffic is v2 10%",
		"connection refused",
		"check that the gateway's admin API at http://gw is up",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q\nlacks %q", msg, want)
		}
	}
	if !force.accepted || force.err != nil {
		t.Errorf("abort --force: accepted %v err %v rejected %v", force.accepted, force.err, force.rejected)
	}
	if again.accepted {
		t.Error("a second abort --force was accepted")
	}
	notes := h.notes.all()
	if len(notes) < 3 || !strings.Contains(notes[len(notes)-1].Card.Text, "abort --force") {
		t.Fatalf("last notification %+v: want the abandon message", notes[len(notes)-1].Card)
	}
	first := slices.IndexFunc(notes, func(n api.Note) bool { return strings.Contains(n.Card.Text, "cannot return") })
	if first < 0 || !strings.Contains(notes[first].Card.Text, "(attempt 1)") || !strings.Contains(notes[first].Card.Text, "connection refused") {
		t.Errorf("no alert naming the cause at the first failed reset: %+v", notes)
	}
}

func TestRetryAbortSaysHowTheResetFails(t *testing.T) {
	h := newHarness(t, nil)
	h.at(30*time.Second, func() { h.router.setDown(true) })
	h.update(time.Minute, UpdateAbort, Request{By: "bob", Reason: "latency"}, &updateOutcome{})
	var out string
	h.at(10*time.Minute, func() {
		h.env.UpdateWorkflow(UpdateAbort, "retry", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { t.Errorf("rejected: %v", err) },
			OnComplete: func(v any, err error) { out, _ = v.(string) },
		}, Request{By: "carol", Reason: "still stuck?"})
	})
	h.at(11*time.Minute, func() { h.router.setDown(false) })
	h.run(plan(weight(10), pauseFor(time.Hour)))
	h.rolledBack()
	for _, want := range []string{"the rollout of voice-agent is already rolling back, but returning traffic to v1 has failed", "connection refused", "coalmine abort voice-agent --force --reason WHY"} {
		if !strings.Contains(out, want) {
			t.Errorf("answer %q lacks %q", out, want)
		}
	}
}

func TestSupersedeDuringAFailingReset(t *testing.T) {
	// start --supersede sends abort --force; the rollout may be anywhere.
	tests := []struct {
		name string
		at   time.Duration
	}{
		{"while progressing", 2 * time.Minute},
		{"while the reset fails", 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.at(30*time.Second, func() { h.router.setDown(true) })
			if tt.at > time.Minute*3 {
				h.update(time.Minute, UpdateAbort, Request{By: "bob", Reason: "latency"}, &updateOutcome{})
			}
			var out updateOutcome
			h.update(tt.at, UpdateAbort, Request{By: "ci", Reason: "superseded by v3", Force: true}, &out)
			h.run(plan(weight(10), pauseFor(time.Hour)))
			if !out.accepted || out.err != nil {
				t.Fatalf("abort --force: %+v", out)
			}
			if msg := h.abandoned(); !strings.Contains(msg, "ci ended the rollout with abort --force (superseded by v3)") {
				t.Errorf("message %q", msg)
			}
			if d := h.status().UpdatedAt.Sub(h.status().StartedAt); d > tt.at+time.Minute {
				t.Errorf("ended %s after the start, want soon after the abort at %s", d, tt.at)
			}
		})
	}
}

func TestRacingPromotesAgreeWhoWasFirst(t *testing.T) {
	h := newHarness(t, nil)
	outs := map[string]*updateOutcome{"alice": {}, "bob": {}}
	h.at(time.Minute, func() {
		for _, who := range []string{"alice", "bob"} {
			o := outs[who]
			h.env.UpdateWorkflow(UpdatePromote, who, &testsuite.TestUpdateCallback{
				OnAccept: func() { o.accepted = true }, OnReject: func(err error) { o.rejected = err },
				OnComplete: func(_ any, err error) { o.completed, o.err = true, err },
			}, Request{By: who})
		}
	})
	h.run(plan(weight(10), gate(), weight(50)))
	h.result()
	// Either may take the workflow's lock first; the other is told who won.
	winner, loser := "alice", "bob"
	if outs["alice"].err != nil || outs["alice"].rejected != nil {
		winner, loser = "bob", "alice"
	}
	if w := outs[winner]; w.err != nil || w.rejected != nil {
		t.Fatalf("neither promote passed: alice %+v, bob %+v", outs["alice"], outs["bob"])
	}
	lost := outs[loser].err
	if lost == nil {
		lost = outs[loser].rejected
	}
	if want := "the gate of step 2 of 3 was already passed by " + winner + " 0 s ago; voice-agent goes on"; lost == nil || lost.Error() != want {
		t.Errorf("%s was told %v, want %q", loser, lost, want)
	}
	if n := len(h.status().Approvals); n != 1 {
		t.Errorf("%d approvals, want 1", n)
	}
}
