package rollout_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/releases"
	"github.com/coalmine-dev/coalmine/tests/slackserver"
	"github.com/coalmine-dev/coalmine/workers/demoagent"
	"github.com/coalmine-dev/coalmine/workflows"
)

// rollbackHistories is where the Rollback histories are recorded.
const rollbackHistories = "rollback-v1"

// promote runs a rollout of canary over stable with one step to its end.
func (s *stack) promote(stable, canary api.Version) {
	s.t.Helper()
	run := s.startVersions(s.plan("    - setWeight: 50", `  notifications: {slack: {channel: "#deploys"}}`), stable, canary)
	if r, err := s.result(run); err != nil || r.Promoted.Name != canary.Name {
		s.t.Fatalf("rollout %s → %s: %+v, %v", stable.Name, canary.Name, r, err)
	}
}

// releases waits until Temporal's visibility shows current serving the
// app with nothing running (visibility follows the runs by a moment).
func (s *stack) releases(current string) *releases.State {
	s.t.Helper()
	return s.releasesAfter(func(st *releases.State) bool {
		return st.Current != nil && st.Current.Version.Name == current && st.Running == nil
	})
}

// rollback starts a rollback through the releases package, as the CLI does.
func (s *stack) rollback(st *releases.State, req releases.RollbackRequest) (client.WorkflowRun, error) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req.TaskQueue = s.taskQueue
	run, _, err := releases.Rollback(ctx, dev.client, st, req, func(msg string) { s.t.Log(msg) })
	return run, err
}

func (s *stack) rollbackResult(run client.WorkflowRun) workflows.RollbackResult {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var r workflows.RollbackResult
	if err := run.Get(ctx, &r); err != nil {
		s.t.Fatalf("rollback: %v", err)
	}
	return r
}

// agent starts one more demo agent version; stop ends it early.
func agent(t *testing.T, version string) (v api.Version, stop func()) {
	t.Helper()
	srv := httptest.NewServer(demoagent.New(demoagent.Config{Version: version, Quality: 0.95, Seed: 3, Latency: time.Millisecond}).Handler())
	t.Cleanup(srv.Close)
	return api.Version{Name: version, URL: srv.URL}, srv.Close
}

// recordRollback records the run's history beside the Rollout ones.
func (s *stack) recordRollback(run client.WorkflowRun, name string) {
	s.t.Helper()
	if *record {
		if err := os.MkdirAll(filepath.Join(repoRoot(), "tests", "testdata", rollbackHistories), 0o755); err != nil {
			s.t.Fatal(err)
		}
	}
	s.recordHistory(run, filepath.Join(rollbackHistories, name))
}

// TestRollbackAfterPromotion promotes v2, then rolls back: v1 serves all
// traffic again, and the status, the history and Slack say so.
func TestRollbackAfterPromotion(t *testing.T) {
	t.Parallel()
	s := newStack(t, "it-rollback", 0.95)
	sc := newSlackClicks(t, s)
	w := s.startWorker()
	defer w.Stop()
	v1, v2 := api.Version{Name: "v1", URL: s.stable.URL}, api.Version{Name: "v2", URL: s.canary.URL}
	s.promote(v1, v2)
	st := s.releases("v2")
	if len(st.Window) != 1 || st.Window[0].Version != v1 || st.Revisions != 3 {
		t.Fatalf("rollback window = %+v (revisions %d), want v1 with its URL", st.Window, st.Revisions)
	}
	if _, err := s.rollback(st, releases.RollbackRequest{By: "alice", To: "v3", Reason: "x"}); err == nil || !strings.Contains(err.Error(), "v3 is not among the versions it-rollback can go back to (v1") {
		t.Errorf("rollback to an unknown version: %v", err)
	}
	run, err := s.rollback(st, releases.RollbackRequest{By: "alice", Reason: "answers got worse overnight"})
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if r := s.rollbackResult(run); r.To.Name != "v1" || r.From.Name != "v2" {
		t.Errorf("result = %+v", r)
	}
	if r := s.route(); r.Stable.Version != "v1" || r.Canary != nil {
		t.Errorf("gateway route after the rollback: stable %s canary %+v, want v1 alone", r.Stable.Version, r.Canary)
	}
	if got := s.versionsServed(20); got["v1"] != 20 {
		t.Errorf("versions served after the rollback: %v, want all v1", got)
	}
	status := s.status()
	if status.Phase != workflows.PhaseRolledBack || status.Stable.Name != "v1" || status.Canary.Name != "v2" || status.Weight != 0 {
		t.Errorf("status: phase %s %s → %s weight %v", status.Phase, status.Stable.Name, status.Canary.Name, status.Weight)
	}
	if last := status.Events[len(status.Events)-1]; last.By != "alice" || !strings.Contains(last.Message, "it-rollback is back on v1 at 100% (was v2), rolled back by alice: answers got worse overnight") {
		t.Errorf("last event = %+v", last)
	}
	sc.api.WaitFor(t, "chat.update", slackserver.Contains("text", "it-rollback is back on v1 at 100% (was v2)"))
	after := s.releases("v1")
	if !strings.Contains(after.Current.How, "rolled back from v2 by alice") || len(after.Window) != 1 || after.Window[0].Version.Name != "v2" {
		t.Errorf("after the rollback: current %+v, window %+v", after.Current, after.Window)
	}
	s.recordRollback(run, "after-promotion")
}

// TestRollbackDuringARollout promotes v2 and v3, starts v4, and rolls back
// to v1: refused while the rollout runs, then superseding it.
func TestRollbackDuringARollout(t *testing.T) {
	t.Parallel()
	s := newStack(t, "it-rollback-busy", 0.95)
	w := s.startWorker()
	defer w.Stop()
	v1, v2 := api.Version{Name: "v1", URL: s.stable.URL}, api.Version{Name: "v2", URL: s.canary.URL}
	v3, _ := agent(t, "v3")
	v4, _ := agent(t, "v4")
	s.promote(v1, v2)
	s.releases("v2")
	s.promote(v2, v3)
	s.releases("v3")
	rollout := s.startVersions(s.plan("    - setWeight: 30\n    - pause: {}", ""), v3, v4)
	s.waitFor("the gate", func(st workflows.Status) bool { return st.WaitKind == "gate" })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := releases.Load(ctx, dev.client, "default", s.app)
	if err != nil {
		t.Fatal(err)
	}
	if st.Running == nil || st.Current.Version.Name != "v3" {
		t.Fatalf("releases while v4 rolls out: running %+v current %+v", st.Running, st.Current)
	}
	req := releases.RollbackRequest{By: "bob", To: "v1", Reason: "v2 and v3 share a regression"}
	if _, err := s.rollback(st, req); err == nil || !strings.Contains(err.Error(), "rollback refuses while a rollout runs") {
		t.Fatalf("rollback during a rollout: %v, want a refusal", err)
	}
	req.Supersede = true
	run, err := s.rollback(st, req)
	if err != nil {
		t.Fatalf("rollback --supersede: %v", err)
	}
	if r := s.rollbackResult(run); r.To != v1 || r.From.Name != "v3" {
		t.Errorf("result = %+v", r)
	}
	_, err = s.result(rollout)
	if msg := rolledBack(t, err); !strings.Contains(msg, "bob aborted it: superseded by a rollback to v1") {
		t.Errorf("the superseded rollout ended with %q", msg)
	}
	if r := s.route(); r.Stable.Version != "v1" || r.Stable.URL != v1.URL || r.Canary != nil {
		t.Errorf("gateway route: %+v, want v1 alone", r)
	}
	after := s.releases("v1")
	if got := []string{after.Window[0].Version.Name, after.Window[1].Version.Name}; got[0] != "v3" || got[1] != "v2" {
		t.Errorf("window after rolling back to v1 = %v, want v3, v2", got)
	}
	s.recordRollback(run, "superseding-to-v1")
}

// blockingReset holds the router's Reset until released, so a test can
// stop the worker while the rollback is in the middle of it.
type blockingReset struct {
	next    api.Routers
	entered chan struct{}
	once    sync.Once
	release chan struct{}
}

func (b *blockingReset) Router(ctx context.Context, in api.TrafficInput) (api.Router, error) {
	r, err := b.next.Router(ctx, in)
	return &blockingRouter{Router: r, b: b}, err
}

type blockingRouter struct {
	api.Router
	b *blockingReset
}

func (r *blockingRouter) Reset(ctx context.Context) error {
	r.b.once.Do(func() { close(r.b.entered) })
	select {
	case <-r.b.release:
		return r.Router.Reset(ctx)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestRollbackSurvivesAWorkerRestart stops the worker while the rollback
// resets the route; a new worker finishes it.
func TestRollbackSurvivesAWorkerRestart(t *testing.T) {
	t.Parallel()
	s := newStack(t, "it-rollback-restart", 0.95)
	first := s.startWorker()
	v1, v2 := api.Version{Name: "v1", URL: s.stable.URL}, api.Version{Name: "v2", URL: s.canary.URL}
	s.promote(v1, v2)
	st := s.releases("v2")
	block := &blockingReset{next: s.acts.Routers, entered: make(chan struct{}), release: make(chan struct{})}
	s.acts.Routers = block
	run, err := s.rollback(st, releases.RollbackRequest{By: "carol", Reason: "pager"})
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	select {
	case <-block.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the rollback never reached the router")
	}
	first.Stop()
	if r := s.route(); r.Stable.Version != "v2" {
		t.Fatalf("the route changed while the reset was held: %+v", r)
	}
	close(block.release)
	second := s.startWorker()
	defer second.Stop()
	if r := s.rollbackResult(run); r.To.Name != "v1" {
		t.Errorf("result = %+v", r)
	}
	if r := s.route(); r.Stable.Version != "v1" || r.Canary != nil {
		t.Errorf("gateway route after the restart: %+v", r)
	}
	s.recordRollback(run, "worker-restart")
}

// TestRetry aborts a rollout, retries it to promotion, and refuses a retry
// when there is nothing to retry or the canary is gone.
func TestRetry(t *testing.T) {
	t.Parallel()
	s := newStack(t, "it-retry", 0.95)
	w := s.startWorker()
	defer w.Stop()
	p := s.plan("    - setWeight: 20\n    - pause: {}", "")
	first := s.start(p)
	s.waitFor("the gate", func(st workflows.Status) bool { return st.WaitKind == "gate" })
	if _, err := s.update(workflows.UpdateAbort, workflows.Request{By: "dave", Reason: "flaky eval"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.result(first); err == nil {
		t.Fatal("the aborted rollout succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := s.releasesAfter(func(st *releases.State) bool { return st.LastEnded != nil && st.Running == nil })
	in, err := st.RetryInput(ctx, dev.client, "dave")
	if err != nil {
		t.Fatalf("retry input: %v", err)
	}
	if in.Stable.Name != "v1" || in.Canary.Name != "v2" || in.Canary.URL != s.canary.URL || in.Plan.Spec.App != s.app || in.StartedBy != "dave" {
		t.Errorf("retry input = %+v", in)
	}
	how, err := releases.CheckCanary(ctx, in, os.Getenv, http.DefaultClient)
	if err != nil || !strings.Contains(how, "v2 answers at") {
		t.Errorf("canary check: %q, %v", how, err)
	}
	run, err := releases.Retry(ctx, dev.client, s.taskQueue, in)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	s.waitFor("the gate again", func(st workflows.Status) bool { return st.WaitKind == "gate" })
	busy := s.releasesAfter(func(st *releases.State) bool { return st.Running != nil })
	if _, err := busy.RetryInput(ctx, dev.client, "dave"); err == nil || !strings.Contains(err.Error(), "retry starts a rollout again only when none runs") {
		t.Errorf("retry while the retried rollout runs: %v, want a refusal", err)
	}
	if _, err := s.update(workflows.UpdatePromote, workflows.Request{By: "dave"}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.result(run); err != nil || r.Promoted.Name != "v2" {
		t.Fatalf("retried rollout: %+v, %v", r, err)
	}
	done := s.releases("v2")
	if _, err := done.RetryInput(ctx, dev.client, "dave"); err == nil || !strings.Contains(err.Error(), "was promoted: there is nothing to retry") {
		t.Errorf("retry after promotion: %v", err)
	}

	// A rolled-back rollout whose canary has stopped cannot be retried.
	v3, stopV3 := agent(t, "v3")
	third := s.startVersions(p, api.Version{Name: "v2", URL: s.canary.URL}, v3)
	s.waitFor("the gate", func(st workflows.Status) bool { return st.WaitKind == "gate" && st.Canary.Name == "v3" })
	if _, err := s.update(workflows.UpdateAbort, workflows.Request{By: "dave", Reason: "v3 leaks"}); err != nil {
		t.Fatal(err)
	}
	_, _ = s.result(third)
	st = s.releasesAfter(func(st *releases.State) bool { return st.LastEnded != nil && st.LastEnded.Canary == "v3" })
	in, err = st.RetryInput(ctx, dev.client, "dave")
	if err != nil {
		t.Fatal(err)
	}
	stopV3()
	if _, err := releases.CheckCanary(ctx, in, os.Getenv, http.DefaultClient); !errors.Is(err, releases.ErrCanaryGone) {
		t.Errorf("canary check after v3 stopped: %v, want ErrCanaryGone", err)
	}
}

// releasesAfter waits until visibility shows what cond wants.
func (s *stack) releasesAfter(cond func(*releases.State) bool) *releases.State {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, err := releases.Load(ctx, dev.client, "default", s.app)
		cancel()
		if err != nil {
			s.t.Fatalf("load releases: %v", err)
		}
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for visibility; last ended %+v running %+v", st.LastEnded, st.Running)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
