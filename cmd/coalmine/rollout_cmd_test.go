package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/gateway/gatewaytest"
	"github.com/coalmine-dev/coalmine/workers"
	"github.com/coalmine-dev/coalmine/workers/demoagent"
	"github.com/coalmine-dev/coalmine/workflows"
)

func TestStatusGolden(t *testing.T) {
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return start.Add(d) }
	steps := []string{"setWeight 5", "pause 5m", "analysis voice-canary", "setWeight 25", "approval (timeout 24h)", "setWeight 100"}
	events := []workflows.Event{
		{At: at(0), Kind: "started", By: "alice", Message: "rollout of voice-agent v1 → v2 started with 6 steps"},
		{At: at(time.Second), Kind: "weight", Message: "v2 gets 5% of traffic"},
		{At: at(6 * time.Minute), Kind: "analysis", Message: "step 3 analysis Successful: voice-canary/eval-pass-rate: 3 measurements within limits"},
	}
	hist := analysis.History{Count: 2, Passed: 2}
	hist.Add(analysis.Measurement{Verdict: analysis.Pass, Reason: "result 0.93 met the success condition `result >= 0.92`", Result: []float64{0.93}, At: at(7 * time.Minute)})
	var errs analysis.History
	errs.Add(analysis.Waiting("no data: no canary requests on route voice-agent in the last 1m0s"))
	for i := range 5 {
		errs.Add(analysis.Errored(at(time.Duration(i+1)*time.Minute), errors.New("measure error-rate: read gateway stats of route voice-agent: dial tcp 127.0.0.1:8480: connection refused")))
	}
	errs.Add(analysis.Measurement{Verdict: analysis.Inconclusive, Pending: true, Reason: "not yet shown either way", At: at(7 * time.Minute)})
	tests := []struct {
		name string
		st   workflows.Status
		now  time.Time
	}{
		{"held-by-errors", workflows.Status{
			App: "voice-agent", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"},
			Phase: workflows.PhasePaused, Step: 2, Steps: steps, Weight: 5, Runs: 1,
			Waiting: "resume: paused by background analysis (guardrails/error-rate cannot be measured)", WaitKind: "held",
			Held: &workflows.Request{By: "background analysis", Reason: "guardrails/error-rate cannot be measured"},
			Background: []workflows.MetricStatus{{Template: "guardrails", Metric: "error-rate", History: errs, Holding: true,
				Assessment: analysis.Assessment{Phase: analysis.PhaseError, Reason: "5 measurements in a row errored, above the consecutive error limit of 4; last: " + errs.LastError}}},
			Events: events[:2], StartedAt: start,
		}, at(8 * time.Minute)},
		{"progressing", workflows.Status{
			App: "voice-agent", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"},
			Phase: workflows.PhaseProgressing, Step: 1, Steps: steps, Weight: 5, Runs: 1,
			Waiting: "pause of 5m", WaitKind: "pause", WaitUntil: at(6 * time.Minute),
			SegmentWeights: map[string]float64{"internal": 50}, ShadowPercent: 10,
			Held:       &workflows.Request{By: "carol", Reason: "incident elsewhere"},
			Background: []workflows.MetricStatus{{Template: "guardrails", Metric: "error-rate", History: hist, Assessment: analysis.Assessment{Phase: analysis.PhaseRunning}}},
			Events:     events[:2], StartedAt: start,
		}, at(3*time.Minute + 20*time.Second)},
		{"paused-at-approval", workflows.Status{
			App: "voice-agent", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"},
			Phase: workflows.PhasePaused, Step: 4, Steps: steps, Weight: 25, Runs: 2,
			Waiting: "an approver to promote or abort (times out after 24h, then rollback)", WaitKind: "approval", WaitUntil: at(25 * time.Hour),
			Verdicts: []workflows.Verdict{{Analysis: "step 3", Phase: analysis.PhaseSuccessful, Reason: "voice-canary/eval-pass-rate: 3 measurements within limits", At: at(6 * time.Minute)}},
			Events:   events, StartedAt: start,
		}, at(2 * time.Hour)},
		{"rolled-back", workflows.Status{
			App: "voice-agent", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"},
			Phase: workflows.PhaseRolledBack, Step: 4, Steps: steps, Weight: 0, Runs: 1,
			Reason:    "bob aborted it: answers too long",
			Approvals: []workflows.Approval{{Step: 4, Decision: "aborted", By: "bob", Reason: "answers too long", At: at(2 * time.Hour)}},
			Events:    append(events, workflows.Event{At: at(2 * time.Hour), Kind: "abort", Step: 4, By: "bob", Message: "abort: answers too long"}), StartedAt: start,
		}, at(3 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			renderStatus(&b, tt.st, tt.now)
			golden(t, "status-"+tt.name+".golden", b.String())
		})
	}
}

func TestRolloutCommandUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"start", "plan.yaml"}, "--canary is required"},
		{[]string{"abort", "voice-agent"}, "--reason is required"},
		{[]string{"status", "voice-agent", "-o", "yaml"}, `unknown output format "yaml"`},
		{[]string{"promote"}, "give the app"},
		{[]string{"history", "a", "b"}, "give the app"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := runCLI(t, tt.args...)
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, tt.want)
			}
		})
	}
}

// devStack is a dev server, a gateway with two demo agents, and a worker.
type devStack struct {
	address, taskQueue, admin string
	stable, canary            string
	// gw is the gateway, for tests that take it away.
	gw *gatewaytest.Server
	// worker runs the rollouts, for tests that stop it.
	worker worker.Worker
}

func startDevStack(t *testing.T) devStack {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join("..", "..", "bin", "temporal"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the Temporal dev server %s is missing: run make tools", bin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	quiet := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:     bin,
		SearchAttributes: workflows.SearchAttributes("a", "v1", "v2", workflows.PhaseProgressing, 0),
		ClientOptions:    &client.Options{Logger: quiet},
		LogLevel:         "error",
	})
	if err != nil {
		t.Fatalf("start the dev server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })

	s := devStack{address: srv.FrontendHostPort(), taskQueue: "cli-test"}
	for i, v := range []string{"v1", "v2"} {
		hs := httptest.NewServer(demoagent.New(demoagent.Config{Version: v, Quality: 0.95, Seed: uint64(i + 1)}).Handler())
		t.Cleanup(hs.Close)
		if i == 0 {
			s.stable = hs.URL
		} else {
			s.canary = hs.URL
		}
	}
	g := gatewaytest.StartYAML(t, fmt.Sprintf("admin: {tokenEnv: CLI_TEST_TOKEN}\nroutes:\n  - name: cli-app\n    stable: {version: v1, url: %s}\n", s.stable), "cli-secret")
	s.admin, s.gw = g.AdminURL, g

	getenv := func(name string) string {
		if name == "CLI_TEST_TOKEN" {
			return "cli-secret"
		}
		return ""
	}
	w := workers.NewWorker(srv.Client(), s.taskQueue, workers.DefaultActivities(slog.New(slog.DiscardHandler), getenv), time.Second)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	s.worker = w
	return s
}

// cli runs a command against the stack.
func (s devStack) cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCLI(t, append(args, "--address", s.address)...)
}

// waitStatus polls `status -o json` until cond holds.
func (s devStack) waitStatus(t *testing.T, app string, cond func(workflows.Status) bool) workflows.Status {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, out, errOut := s.cli(t, "status", app, "-o", "json")
		var st workflows.Status
		if code == 0 {
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				t.Fatalf("status -o json: %v\n%s", err, out)
			}
			if cond(st) {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out; last status exit %d: %s%s", code, out, errOut)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// gatePlan writes a plan for app on the stack's gateway route cli-app:
// 10%, a gate, then last% of traffic.
func (s devStack) gatePlan(t *testing.T, app string, last int) string {
	t.Helper()
	plan := filepath.Join(t.TempDir(), app+".yaml")
	src := fmt.Sprintf(`apiVersion: coalmine.dev/v1
kind: RolloutPlan
metadata: {name: %[1]s}
spec:
  app: %[1]s
  traffic:
    router: gateway
    gateway: {url: %[2]s, route: cli-app, tokenEnv: CLI_TEST_TOKEN}
  steps:
    - setWeight: 10
    - pause: {}
    - setWeight: %[3]d
`, app, s.admin, last)
	if err := os.WriteFile(plan, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return plan
}

func TestRolloutCommandsOnDevServer(t *testing.T) {
	s := startDevStack(t)
	plan := s.gatePlan(t, "cli-app", 60)
	tq := "--task-queue=" + s.taskQueue

	steps := []struct {
		name     string
		args     []string
		wantCode int
		want     string // in stdout, or in stderr when the exit code is not 0
		before   func()
	}{
		{name: "status of an app without rollout", args: []string{"status", "nobody"}, wantCode: 1, want: "no rollout of nobody is running"},
		{name: "start", args: []string{"start", plan, "--canary", "v2", "--stable", "v1", "--canary-url", s.canary, "--by", "alice", tq}, want: "started the rollout of cli-app v1 → v2"},
		{name: "start again is refused", args: []string{"start", plan, "--canary", "v3", "--stable", "v1", tq}, wantCode: 1, want: "a rollout of cli-app is already running"},
		{name: "status at the gate", args: []string{"status", "cli-app"}, want: "waiting for a person to promote",
			before: func() { s.waitStatus(t, "cli-app", func(st workflows.Status) bool { return st.WaitKind == "gate" }) }},
		{name: "list", args: []string{"list", "--app", "cli-app"}, want: "cli-app  Paused"},
		{name: "resume is refused", args: []string{"resume", "cli-app"}, wantCode: 1, want: "the rollout of cli-app is not paused: it is at step 2 of 3, pause (gate)"},
		{name: "promote", args: []string{"promote", "cli-app", "--by", "bob", "--reason", "evals ok"}, want: "gate passed"},
		{name: "watch until promoted", args: []string{"status", "cli-app", "--watch", "--every", "100ms"}, want: "Promoted"},
		{name: "history", args: []string{"history", "cli-app"}, want: "bob"},
		{name: "promote after the end is refused", args: []string{"promote", "cli-app"}, wantCode: 1, want: "no rollout of cli-app is running: the last one has ended Promoted"},
		{name: "start without --stable takes the promoted version", args: []string{"start", plan, "--canary", "v3", "--canary-url", s.canary, tq}, want: "cli-app v2 → v3"},
		{name: "supersede", args: []string{"start", plan, "--canary", "v4", "--canary-url", s.canary, "--stable", "v2", "--supersede", tq}, want: "cli-app v2 → v4",
			before: func() { s.waitStatus(t, "cli-app", func(st workflows.Status) bool { return st.WaitKind == "gate" }) }},
		{name: "abort", args: []string{"abort", "cli-app", "--reason", "done testing", "--by", "carol"}, want: "rolling cli-app back to v2",
			before: func() {
				s.waitStatus(t, "cli-app", func(st workflows.Status) bool { return st.Canary.Name == "v4" && st.WaitKind == "gate" })
			}},
		{name: "watch a rolled back rollout exits 1", args: []string{"status", "cli-app", "--watch", "--every", "100ms"}, wantCode: 1, want: "carol aborted it: done testing"},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		code, out, errOut := s.cli(t, st.args...)
		got := out
		if st.wantCode != 0 {
			got = errOut
		}
		if code != st.wantCode || !strings.Contains(got, st.want) {
			t.Fatalf("%s: coalmine %s\nexit %d, want %d; want %q in\nstdout: %s\nstderr: %s", st.name, strings.Join(st.args, " "), code, st.wantCode, st.want, out, errOut)
		}
	}
}

func TestListPhaseFilter(t *testing.T) {
	for in, want := range map[string]string{"paused": "Paused", "ROLLEDBACK": "RolledBack", "Promoted": "Promoted"} {
		if got, err := phaseNamed(in); err != nil || got != want {
			t.Errorf("phaseNamed(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	_, err := phaseNamed("failed")
	if err == nil || !strings.Contains(err.Error(), "use one of Progressing, Paused, RollingBack, Promoted, RolledBack") {
		t.Errorf("unknown phase: err = %v", err)
	}
}

func TestWatchWithoutTerminalPrintsChanges(t *testing.T) {
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	prev := workflows.Status{App: "voice-agent", Phase: workflows.PhaseProgressing, Steps: []string{"setWeight 5", "pause 5m"}, Weight: 5, UpdatedAt: start,
		Events: []workflows.Event{{At: start, Kind: "started", Message: "rollout started"}}}
	next := prev
	next.Step, next.Waiting, next.UpdatedAt = 1, "pause of 5m", start.Add(time.Second)
	next.Events = append(next.Events, workflows.Event{At: start.Add(time.Second), Kind: "step", Step: 1, Message: "step 2 of 2, pause 5m"})
	var b strings.Builder
	renderChanges(&b, prev, next)
	golden(t, "watch-changes.golden", b.String())
}
