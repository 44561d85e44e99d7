package main

import (
	"strings"
	"testing"

	"github.com/coalmine-dev/coalmine/workflows"
)

// TestSupersedeWhileTheResetFails takes the gateway away from a rollout at
// its gate: abort is accepted and the reset fails; abort again says how;
// start --supersede ends the old rollout (abort --force) and starts the new one.
func TestSupersedeWhileTheResetFails(t *testing.T) {
	s := startDevStack(t)
	plan := s.gatePlan(t, "cli-app", 60)
	tq := "--task-queue=" + s.taskQueue
	if code, out, errOut := s.cli(t, "start", plan, "--canary", "v2", "--stable", "v1", "--canary-url", s.canary, tq); code != 0 {
		t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
	}
	s.waitStatus(t, "cli-app", func(st workflows.Status) bool { return st.WaitKind == "gate" })
	// A canary that is the stable version is refused before anything is
	// superseded: the running rollout keeps waiting at its gate.
	code, out, errOut := s.cli(t, "start", plan, "--canary", "v1", "--stable", "v1", "--supersede", tq)
	if code != 2 || !strings.Contains(errOut, "the canary v1 is already cli-app's stable version (from --stable): nothing to roll out") {
		t.Fatalf("start with the stable version as canary: exit %d, want 2 and a refusal\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	s.waitStatus(t, "cli-app", func(st workflows.Status) bool { return st.WaitKind == "gate" && st.Canary.Name == "v2" })
	if err := s.gw.Stop(); err != nil {
		t.Fatal(err)
	}
	s.runSteps(t, []cliStep{
		{name: "abort", args: []string{"abort", "cli-app", "--reason", "latency", "--by", "ana"}, want: "rolling cli-app back to v1"},
		{name: "abort while the reset fails", args: []string{"abort", "cli-app", "--reason", "still stuck?"},
			want: "already rolling back, but returning traffic to v1 has failed once",
			before: func() {
				s.waitStatus(t, "cli-app", func(st workflows.Status) bool { return st.ResetFailures == 1 })
			}},
		{name: "status names the failure", args: []string{"status", "cli-app"}, want: "connect: connection refused: the router cannot be reached; coalmine keeps trying"},
		{name: "supersede", args: []string{"start", plan, "--canary", "v3", "--stable", "v1", "--canary-url", s.canary, "--supersede", tq},
			want: "ended the rollout with abort --force (superseded by v3) without returning traffic to v1. As last read from the router, traffic is v2 10%"},
		{name: "the new rollout runs", args: []string{"status", "cli-app"}, want: "v1 → v3"},
	})
}

// cliStep is one command of a scripted session: its arguments, what its
// output must contain, and what to wait for before it.
type cliStep struct {
	name   string
	args   []string
	want   string // in stdout and stderr
	before func()
}

// runSteps runs the commands in order; the first that fails or does not
// say what it should ends the test.
func (s devStack) runSteps(t *testing.T, steps []cliStep) {
	t.Helper()
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		code, out, errOut := s.cli(t, st.args...)
		if code != 0 || !strings.Contains(out+errOut, st.want) {
			t.Fatalf("%s: coalmine %s\nexit %d; want %q in\nstdout: %s\nstderr: %s", st.name, strings.Join(st.args, " "), code, st.want, out, errOut)
		}
	}
}
