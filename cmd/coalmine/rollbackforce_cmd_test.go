package main

import (
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/workflows"
)

// TestRollbackEndedWithAbortForce promotes v2, takes the gateway away and
// runs coalmine rollback: status names the failing reset, abort says how
// it fails, abort --force ends the rollback as Abandoned. A second
// rollback fails the same way; start --supersede ends it, and with the
// gateway back the new rollout runs from v2, the version still serving
// (v3 is the first agent again, under a new name).
func TestRollbackEndedWithAbortForce(t *testing.T) {
	s := startDevStack(t)
	plan := s.gatePlan(t, "cli-app", 60)
	tq := "--task-queue=" + s.taskQueue
	if code, out, errOut := s.cli(t, "start", plan, "--canary", "v2", "--stable", "v1", "--canary-url", s.canary, "--stable-url", s.stable, tq); code != 0 {
		t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
	}
	s.waitStatus(t, "cli-app", func(st workflows.Status) bool { return st.WaitKind == "gate" })
	if code, out, errOut := s.cli(t, "promote", "cli-app", "--full"); code != 0 {
		t.Fatalf("promote --full: exit %d\n%s%s", code, out, errOut)
	}
	s.waitStatus(t, "cli-app", func(st workflows.Status) bool { return st.Phase == workflows.PhasePromoted })
	if err := s.gw.Stop(); err != nil {
		t.Fatal(err)
	}
	s.rollbackOnceVisible(t, "cli-app", "rolling cli-app back from v2 to v1", "--reason", "v2 regressed", "--by", "ana", "--no-wait", tq)
	s.runSteps(t, []cliStep{
		{name: "status names the failure", args: []string{"status", "cli-app"}, want: "connection refused",
			before: func() {
				s.waitStatus(t, "cli-app", func(st workflows.Status) bool { return st.ResetFailures == 1 })
			}},
		{name: "abort while the reset fails", args: []string{"abort", "cli-app", "--reason", "still stuck?"},
			want: "cli-app is already being rolled back from v2 to v1 by ana, but returning traffic to v1 has failed once"},
		{name: "abort --force", args: []string{"abort", "cli-app", "--force", "--reason", "gateway host is gone"},
			want: "ending the rollback of cli-app without returning traffic to v1; as coalmine last knew it, v2 serves all traffic"},
		{name: "status says abandoned", args: []string{"status", "cli-app"}, want: "ended the rollback with abort --force (gateway host is gone)",
			before: func() {
				s.waitStatus(t, "cli-app", func(st workflows.Status) bool { return st.Phase == workflows.PhaseAbandoned })
			}},
		{name: "rollback again", args: []string{"rollback", "cli-app", "--reason", "once more", "--by", "ana", "--no-wait", tq},
			want: "rolling cli-app back from v2 to v1"},
		// The gateway comes back from its configuration (v1 on the route,
		// no state file) while the second rollback waits to retry:
		// start --supersede ends that rollback, and v2's URL goes with
		// the start.
		{name: "start --supersede ends the second rollback", args: []string{"start", plan, "--canary", "v3", "--canary-url", s.stable, "--stable-url", s.canary, "--supersede", tq},
			want: "ended the rollback with abort --force (superseded by v3) without returning traffic to v1",
			before: func() {
				s.waitStatus(t, "cli-app", func(st workflows.Status) bool { return st.Phase == workflows.PhaseRollingBack && st.ResetFailures == 1 })
				s.gw = s.gw.Restart(t)
			}},
	})
	st := s.waitStatus(t, "cli-app", func(st workflows.Status) bool { return st.WaitKind == "gate" })
	if st.Stable.Name != "v2" || st.Weight != 10 {
		t.Errorf("the new rollout: %s → %s at %v%%, want v2 → v3 at 10%% (its first step reached the gateway)", st.Stable.Name, st.Canary.Name, st.Weight)
	}
}

// rollbackOnceVisible runs coalmine rollback APP args until it starts:
// Temporal's visibility shows a promotion a moment after it ended.
func (s devStack) rollbackOnceVisible(t *testing.T, app, want string, args ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, out, errOut := s.cli(t, append([]string{"rollback", app}, args...)...)
		if code == 0 && strings.Contains(out, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("coalmine rollback %s: exit %d; want %q in\nstdout: %s\nstderr: %s", app, code, want, out, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
