package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/workflows"
)

func TestTimelineGolden(t *testing.T) {
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	st := workflows.Status{
		App: "voice-agent", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"}, Phase: workflows.PhasePaused, EventsDropped: 3,
		Events: []workflows.Event{
			{At: start, Kind: "started", By: "alice", Message: "rollout of voice-agent v1 → v2 started with 3 steps"},
			{At: start.Add(time.Second), Kind: "weight", Message: "v2 gets 10% of traffic"},
			{At: start.Add(2 * time.Minute), Kind: "pause", By: "carol", Message: "pause: incident elsewhere"},
		},
	}
	tests := []struct {
		name string
		from *timelineSource
	}{
		{"live", nil},
		{"replayed", &timelineSource{why: "the status query got no answer within 5s: no worker answered it (none polls the task queue, or all are busy)", events: 42}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			renderTimeline(&b, st, tt.from)
			golden(t, "history-"+tt.name+".golden", b.String())
		})
	}
}

// TestStatusAndHistoryWithTheWorkerStopped stops the only worker of a
// rollout that waits at a gate, so its status query never answers, and
// checks that status shows the current details and history the timeline,
// both rebuilt from the workflow's event history.
func TestStatusAndHistoryWithTheWorkerStopped(t *testing.T) {
	s := startDevStack(t)
	plan := s.gatePlan(t, "stuck-app", 60)
	if code, out, errOut := s.cli(t, "start", plan, "--canary", "v2", "--stable", "v1", "--canary-url", s.canary, "--by", "alice", "--task-queue", s.taskQueue); code != 0 {
		t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
	}
	live := s.waitStatus(t, "stuck-app", func(st workflows.Status) bool { return st.WaitKind == "gate" })
	var events strings.Builder
	renderEvents(&events, live.Events)
	s.worker.Stop()

	s.wantOutput(t, []string{"status", "stuck-app", "--query-timeout", "2s"},
		"stuck-app  v1 → v2  Paused  weight 10%",
		"NOT LIVE: ",
		"current details (rebuilt here by replaying the workflow's ",
		"**stuck-app** v1 → v2 · **Paused**",
		"- Step 2 of 3: `pause (gate)`",
		"- Canary weight: **10%**",
		"- Waiting for: "+live.Waiting,
	)
	d := s.described(t, "stuck-app")
	if d.Source != sourceDescription || !strings.Contains(d.CurrentDetails, "- Step 2 of 3: `pause (gate)`") || !strings.Contains(d.CurrentDetailsFrom, "replaying") {
		t.Errorf("status -o json: source %q, currentDetails %q, currentDetailsFrom %q", d.Source, d.CurrentDetails, d.CurrentDetailsFrom)
	}
	out, errOut := s.wantOutput(t, []string{"history", "stuck-app", "--query-timeout", "2s"},
		"stuck-app  v1 → v2  Paused\nNOT LIVE: ",
		"This timeline was rebuilt by replaying the workflow's ",
		events.String(),
		"No rollout of stuck-app has been promoted yet",
	)
	for _, s := range []string{out, errOut} {
		if strings.Contains(s, "rpc error") || strings.Contains(s, "RST_STREAM") {
			t.Errorf("raw gRPC error in the output:\n%s", s)
		}
	}
	listWithoutWorker(t, s)
}

// wantOutput runs a command that must succeed and print every one of
// wants; it returns what it printed.
func (s devStack) wantOutput(t *testing.T, args []string, wants ...string) (string, string) {
	t.Helper()
	code, out, errOut := s.cli(t, args...)
	for _, want := range wants {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("coalmine %s: exit %d, want 0 and %q in\n%s%s", strings.Join(args, " "), code, want, out, errOut)
		}
	}
	return out, errOut
}

// described runs status -o json on a rollout whose query does not answer
// within 2s and returns the view from the description.
func (s devStack) described(t *testing.T, app string) describedStatus {
	t.Helper()
	code, out, errOut := s.cli(t, "status", app, "--query-timeout", "2s", "-o", "json")
	var d describedStatus
	if code != 0 {
		t.Fatalf("status -o json: exit %d\n%s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	return d
}

// listWithoutWorker checks that list answers from the visibility store
// alone while no worker runs, and pages up to --limit.
func listWithoutWorker(t *testing.T, s devStack) {
	t.Helper()
	for _, app := range []string{"idle-a", "idle-b"} {
		if code, out, errOut := s.cli(t, "start", s.gatePlan(t, app, 50), "--canary", "v2", "--stable", "v1", "--task-queue", "nobody-polls"); code != 0 {
			t.Fatalf("start %s: exit %d\n%s%s", app, code, out, errOut)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, out, errOut := s.cli(t, "list", "--limit", "3")
		rows := strings.Count(out, "\n") - 1
		if code == 0 && rows == 3 {
			if !regexp.MustCompile(`(?m)^stuck-app +Paused +v1 → v2 +10% +running`).MatchString(out) || strings.Contains(out, "more match") {
				t.Errorf("list --limit 3 of 3 rollouts:\n%s", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("list --limit 3: exit %d, %d rows, want 3\n%s%s", code, rows, out, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
	code, out, errOut := s.cli(t, "list", "--limit", "2")
	if code != 0 || strings.Count(out, "\n") != 4 || !strings.Contains(out, "(the newest 2; more match: raise --limit") {
		t.Errorf("list --limit 2 of 3 rollouts: exit %d\n%s%s", code, out, errOut)
	}
}

func TestListLimitIsBounded(t *testing.T) {
	for _, n := range []string{"0", "10001"} {
		code, _, errOut := runCLI(t, "list", "--limit", n)
		if code != 2 || !strings.Contains(errOut, "give a number from 1 to 10000") {
			t.Errorf("list --limit %s: exit %d, stderr %q", n, code, errOut)
		}
	}
}

func TestQueryTimeoutMustBePositive(t *testing.T) {
	for _, cmd := range []string{"status", "history"} {
		code, _, errOut := runCLI(t, cmd, "voice-agent", "--query-timeout", "0s")
		if code != 2 || !strings.Contains(errOut, "--query-timeout 0s: give a positive duration") {
			t.Errorf("%s --query-timeout 0s: exit %d, stderr %q", cmd, code, errOut)
		}
	}
}
