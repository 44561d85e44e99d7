package rollout_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/releases"
	"github.com/coalmine-dev/coalmine/workflows"
)

// TestRollbackWhoseGatewayWentAway promotes v2, takes the gateway away and
// rolls back to v1: the reset fails and says why, abort is accepted and
// says so, rollback --supersede ends the stuck rollback (abort --force)
// and starts another, and abort --force ends that one as Abandoned.
func TestRollbackWhoseGatewayWentAway(t *testing.T) {
	t.Parallel()
	s := newStack(t, "it-rollback-force", 0.95)
	w := s.startWorker()
	defer w.Stop()
	v1, v2 := api.Version{Name: "v1", URL: s.stable.URL}, api.Version{Name: "v2", URL: s.canary.URL}
	s.promote(v1, v2)
	st := s.releases("v2")
	if err := s.gwServer.Stop(); err != nil {
		t.Fatalf("stop gateway: %v", err)
	}
	first, err := s.rollback(st, releases.RollbackRequest{By: "alice", Reason: "v2 regressed"})
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	failing := s.waitFor("a failed reset", func(st workflows.Status) bool { return st.ResetFailures > 0 })
	if failing.Phase != workflows.PhaseRollingBack || !strings.Contains(failing.ResetError, "connection refused") {
		t.Errorf("status after a failed reset: phase %s, error %q", failing.Phase, failing.ResetError)
	}
	out, err := s.update(workflows.UpdateAbort, workflows.Request{By: "bob", Reason: "still stuck?"})
	if err != nil || !strings.Contains(out, "it-rollback-force is already being rolled back from v2 to v1 by alice, but returning traffic to v1 has failed") {
		t.Errorf("abort while the reset fails: %q, %v", out, err)
	}

	busy := s.releasesAfter(func(st *releases.State) bool { return st.Running != nil })
	if _, err := s.rollback(busy, releases.RollbackRequest{By: "carol", Reason: "again"}); err == nil || !strings.Contains(err.Error(), "give --supersede to end it") {
		t.Errorf("rollback over a running rollback: %v, want a refusal naming --supersede", err)
	}
	second, err := s.rollback(busy, releases.RollbackRequest{By: "carol", Reason: "again", Supersede: true})
	if err != nil {
		t.Fatalf("rollback --supersede over a stuck rollback: %v", err)
	}
	if msg := endedAs(t, s.wait(first), workflows.ErrorTypeAbandoned); !strings.Contains(msg, "carol ended the rollback with abort --force (superseded by a rollback to v1: again)") {
		t.Errorf("the superseded rollback ended with %q", msg)
	}
	s.recordRollback(first, "superseded-while-stuck")

	s.waitFor("the second rollback's failed reset", func(st workflows.Status) bool { return st.ResetFailures > 0 && st.Reason == "carol rolls back: again" })
	if _, err := s.update(workflows.UpdateAbort, workflows.Request{By: "dan", Reason: "gateway host is gone", Force: true}); err != nil {
		t.Fatalf("abort --force: %v", err)
	}
	msg := endedAs(t, s.wait(second), workflows.ErrorTypeAbandoned)
	for _, want := range []string{"it-rollback-force v2: dan ended the rollback with abort --force (gateway host is gone) without returning traffic to v1",
		"As coalmine last knew it, v2 serves all traffic", "connection refused", "check that the gateway's admin API at " + s.adminURL} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if final := s.status(); final.Phase != workflows.PhaseAbandoned {
		t.Errorf("final phase %s", final.Phase)
	}
	if after := s.releases("v2"); after.Current.Version.Name != "v2" {
		t.Errorf("after the abandoned rollbacks the app is on %+v, want v2 still", after.Current)
	}
	s.recordRollback(second, "force-abort")
}

// wait returns the error a run ended with.
func (s *stack) wait(run client.WorkflowRun) error {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return run.Get(ctx, nil)
}
