package rollout_test

import (
	"errors"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/coalmine-dev/coalmine/workflows"
)

// TestAbortBeforeAnyTrafficChangeIsANoop aborts a rollout whose router
// was never written (its gateway is gone): the rollback records a no-op
// and ends at once instead of retrying a reset forever.
func TestAbortBeforeAnyTrafficChangeIsANoop(t *testing.T) {
	t.Parallel()
	s := newStack(t, "it-noop", 0.95)
	w := s.startWorker()
	defer w.Stop()
	run := s.start(s.plan(`    - pause: {duration: 1h}
    - setWeight: 30`, ""))
	s.waitFor("the pause", func(st workflows.Status) bool { return st.WaitKind == "pause" })
	if err := s.gwServer.Stop(); err != nil {
		t.Fatalf("stop gateway: %v", err)
	}
	if _, err := s.update(workflows.UpdateAbort, workflows.Request{By: "bob", Reason: "wrong canary"}); err != nil {
		t.Fatalf("abort: %v", err)
	}
	_, err := s.result(run)
	if msg := rolledBack(t, err); msg != "it-noop v2 was rolled back to v1: bob aborted it: wrong canary." {
		t.Errorf("message = %q", msg)
	}
	if n := s.calls.snapshot()["reset"]; n != 0 {
		t.Errorf("%d resets: want none, traffic never changed", n)
	}
	s.recordHistory(run, "noop-rollback")
}

// TestForceAbortEndsAResetThatCannotComplete takes the gateway away after
// the first weight: the rollback's reset fails, an abort is accepted and
// says why, and abort --force ends the rollout as Abandoned, naming the
// split as last read and the unreachable router.
func TestForceAbortEndsAResetThatCannotComplete(t *testing.T) {
	t.Parallel()
	s := newStack(t, "it-force", 0.95)
	w := s.startWorker()
	defer w.Stop()
	run := s.start(s.plan(`    - setWeight: 20
    - pause: {duration: 1h}
    - setWeight: 60`, ""))
	s.waitFor("the pause", func(st workflows.Status) bool { return st.WaitKind == "pause" })
	if err := s.gwServer.Stop(); err != nil {
		t.Fatalf("stop gateway: %v", err)
	}
	if _, err := s.update(workflows.UpdateAbort, workflows.Request{By: "bob", Reason: "latency"}); err != nil {
		t.Fatalf("abort: %v", err)
	}
	st := s.waitFor("a failed reset", func(st workflows.Status) bool { return st.ResetFailures > 0 })
	if st.Phase != workflows.PhaseRollingBack || !strings.Contains(st.ResetError, "connection refused") {
		t.Errorf("status after a failed reset: phase %s, error %q", st.Phase, st.ResetError)
	}
	out, err := s.update(workflows.UpdateAbort, workflows.Request{By: "carol", Reason: "still stuck?"})
	if err != nil || !strings.Contains(out, "already rolling back, but returning traffic to v1 has failed") {
		t.Errorf("abort while the reset fails: %q, %v", out, err)
	}
	s.waitFor("a second failed reset", func(st workflows.Status) bool { return st.ResetFailures > 1 })
	if _, err := s.update(workflows.UpdateAbort, workflows.Request{By: "carol", Reason: "gateway host is gone", Force: true}); err != nil {
		t.Fatalf("abort --force: %v", err)
	}
	_, err = s.result(run)
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != workflows.ErrorTypeAbandoned {
		t.Fatalf("rollout error = %v, want Abandoned", err)
	}
	for _, want := range []string{"As last read from the router, traffic is v2 20%", "connection refused", "check that the gateway's admin API at " + s.adminURL} {
		if !strings.Contains(ae.Message(), want) {
			t.Errorf("message %q lacks %q", ae.Message(), want)
		}
	}
	if final := s.status(); final.Phase != workflows.PhaseAbandoned {
		t.Errorf("final phase %s", final.Phase)
	}
	s.recordHistory(run, "force-abort")
}
