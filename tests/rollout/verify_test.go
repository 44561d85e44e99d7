package rollout_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/workflows"
)

// TestVerifyRestoresAHandEditedWeight: during a pause someone sets the
// gateway route's canary weight to 0 through the admin API; within one
// traffic.verifyInterval the rollout reads the split back, sets 25% again
// and says so in an event.
func TestVerifyRestoresAHandEditedWeight(t *testing.T) {
	t.Parallel()
	s := newStack(t, "it-verify", 0.95)
	w := s.startWorker()
	defer w.Stop()
	p := s.plan(`    - setWeight: 25
    - pause: {duration: 1h}`, "")
	const every = 2 * time.Second
	p.Spec.Traffic.VerifyInterval = &plans.Duration{Duration: every}
	run := s.start(p)
	s.waitFor("the pause", func(st workflows.Status) bool { return st.WaitKind == "pause" })

	zero := 0
	if _, err := admin.NewClient(s.adminURL, token, nil).Modify(context.Background(), s.app, 3, func(gateway.RouteState) (gateway.RouteUpdate, error) {
		return gateway.RouteUpdate{CanaryWeightBP: &zero}, nil
	}); err != nil {
		t.Fatalf("hand edit: %v", err)
	}
	edited := time.Now()
	for s.route().CanaryWeightBP != 2500 {
		if time.Since(edited) > every+10*time.Second {
			t.Fatalf("the weight was not restored %v after the hand edit", time.Since(edited))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("hand-edited weight restored after %v (verifyInterval %v)", time.Since(edited).Round(time.Millisecond), every)
	const want = "canary weight found at 0%, expected 25%: restored"
	st := s.waitFor("the restore event", func(st workflows.Status) bool {
		return slices.ContainsFunc(st.Events, func(e workflows.Event) bool { return e.Message == want })
	})
	if st.WaitKind != "pause" || st.Weight != 25 {
		t.Errorf("after the restore: waiting for %q, weight %v; want the pause at 25%%", st.WaitKind, st.Weight)
	}
	if _, err := s.update(workflows.UpdateAbort, workflows.Request{By: "bob", Reason: "done checking"}); err != nil {
		t.Fatalf("abort: %v", err)
	}
	_, err := s.result(run)
	if msg := rolledBack(t, err); !strings.Contains(msg, "done checking") {
		t.Errorf("aborted rollout: %q", msg)
	}
	s.recordHistory(run, "verify-restored")
}
