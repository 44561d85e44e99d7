package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/gateway/gatewaytest"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/tests/testenv"
	"github.com/coalmine-dev/coalmine/workers"
	"github.com/coalmine-dev/coalmine/workers/demoagent"
	"github.com/coalmine-dev/coalmine/workflows"
)

const (
	tokenEnv = "IT_GATEWAY_TOKEN"
	token    = "integration-secret"
)

// stack is one app behind the real gateway, with two demo agents and the
// worker's activities, on its own task queue.
type stack struct {
	t                    *testing.T
	app                  string
	taskQueue            string
	stable               *httptest.Server
	canary               *httptest.Server
	gw                   *gateway.Gateway
	gwServer             *gatewaytest.Server
	trafficURL, adminURL string
	acts                 *activities.Activities
	calls                *countingRouters
	// client reaches the Temporal server the stack's rollouts run on.
	client client.Client
}

// newStack starts the demo agents and the gateway; canaryQuality sets how
// well v2 answers the eval questions.
func newStack(t *testing.T, app string, canaryQuality float64) *stack {
	t.Helper()
	canary := demoagent.New(demoagent.Config{Version: "v2", Quality: canaryQuality, Seed: 2, Latency: time.Millisecond}).Handler()
	return newStackWith(t, app, nil, canary)
}

// newStackWith is newStack with the versions' handlers given; a nil
// stable is the demo agent v1.
func newStackWith(t *testing.T, app string, stable, canary http.Handler) *stack {
	t.Helper()
	s := &stack{t: t, app: app, taskQueue: "it-" + app, client: dev.client}
	if stable == nil {
		stable = demoagent.New(demoagent.Config{Version: "v1", Quality: 0.95, Seed: 1, Latency: time.Millisecond}).Handler()
	}
	s.stable = httptest.NewServer(stable)
	t.Cleanup(s.stable.Close)
	s.canary = httptest.NewServer(canary)
	t.Cleanup(s.canary.Close)

	gw := gatewaytest.StartYAML(t, fmt.Sprintf(`
admin: {tokenEnv: %s}
routes:
  - name: %s
    stable: {version: v1, url: %s}
`, tokenEnv, app, s.stable.URL), token)
	s.gw, s.gwServer, s.trafficURL, s.adminURL = gw.Gateway, gw, gw.TrafficURL, gw.AdminURL

	getenv := func(name string) string {
		if name == tokenEnv {
			return token
		}
		return os.Getenv(name)
	}
	s.acts = workers.DefaultActivities(slog.New(slog.DiscardHandler), getenv)
	s.calls = &countingRouters{next: s.acts.Routers, counts: map[string]int{}}
	s.acts.Routers = s.calls
	return s
}

// startWorker starts a worker for the stack's task queue; stop it with Stop.
func (s *stack) startWorker() worker.Worker {
	s.t.Helper()
	w := workers.NewWorker(s.client, s.taskQueue, s.acts, 5*time.Second)
	if err := w.Start(); err != nil {
		s.t.Fatalf("start worker: %v", err)
	}
	return w
}

// plan loads a plan for the stack's app through the real loader.
func (s *stack) plan(steps string, extra string) plans.RolloutPlan {
	s.t.Helper()
	src := fmt.Sprintf(`apiVersion: coalmine.dev/v1
kind: RolloutPlan
metadata: {name: %[1]s}
spec:
  app: %[1]s
  traffic:
    router: gateway
    gateway: {url: %[2]s, route: %[1]s, tokenEnv: %[3]s}
  rollback: {scaleDownDelay: 1s}
  steps:
%[4]s
%[5]s`, s.app, s.adminURL, tokenEnv, steps, extra)
	p, _, err := plans.Load(s.app+".yaml", []byte(src))
	if err != nil {
		s.t.Fatalf("load plan:\n%s\n%v", src, err)
	}
	return *p
}

// start starts the rollout of v2 over v1.
func (s *stack) start(p plans.RolloutPlan) client.WorkflowRun {
	s.t.Helper()
	return s.startVersions(p, api.Version{Name: "v1", URL: s.stable.URL}, api.Version{Name: "v2", URL: s.canary.URL})
}

// startVersions starts the rollout of canary over stable.
func (s *stack) startVersions(p plans.RolloutPlan, stable, canary api.Version) client.WorkflowRun {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	run, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.WorkflowID(s.app),
		TaskQueue:                s.taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		StaticSummary:            workflows.StaticSummary(s.app, stable.Name, canary.Name),
		TypedSearchAttributes:    workflows.SearchAttributes(s.app, stable.Name, canary.Name, workflows.PhaseProgressing, 0),
	}, workers.WorkflowName, workflows.Input{
		Plan:      p,
		Stable:    stable,
		Canary:    canary,
		StartedBy: "integration-test",
	})
	if err != nil {
		s.t.Fatalf("start rollout: %v", err)
	}
	return run
}

// status queries the rollout's status.
func (s *stack) status() workflows.Status {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := s.client.QueryWorkflow(ctx, workflows.WorkflowID(s.app), "", workflows.QueryStatus)
	if err != nil {
		s.t.Fatalf("query status: %v", err)
	}
	var st workflows.Status
	if err := v.Get(&st); err != nil {
		s.t.Fatalf("decode status: %v", err)
	}
	return st
}

// waitFor polls the status until cond holds (90 s at most: a loaded 2-core
// machine has taken over 30 s for one hold); the server is remote, so
// there is nothing to wait on but its answers.
func (s *stack) waitFor(what string, cond func(workflows.Status) bool) workflows.Status {
	s.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		st := s.status()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s; status: phase %s, %s, waiting %q", what, st.Phase, st.CurrentStep(), st.Waiting)
		}
		<-tick.C
	}
}

// update sends an update and returns its answer.
func (s *stack) update(name string, req workflows.Request) (string, error) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := s.client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflows.WorkflowID(s.app),
		UpdateID:     fmt.Sprintf("%s-%d", name, time.Now().UnixNano()),
		UpdateName:   name,
		Args:         []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return "", err
	}
	var out string
	err = h.Get(ctx, &out)
	return out, err
}

// route reads the gateway's route state through its admin API.
func (s *stack) route() gateway.RouteState {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := admin.NewClient(s.adminURL, token, nil).Route(ctx, s.app)
	if err != nil {
		s.t.Fatalf("read gateway route: %v", err)
	}
	return st
}

// versionsServed sends n chat requests through the gateway, each with its
// own session, and counts the answers by version.
func (s *stack) versionsServed(n int) map[string]int {
	s.t.Helper()
	out := map[string]int{}
	for i := range n {
		req, err := http.NewRequest(http.MethodPost, s.trafficURL+"/"+s.app+"/v1/chat/completions",
			strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			s.t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-session-id", fmt.Sprintf("s-%d", i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			s.t.Fatalf("request through the gateway: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out[resp.Header.Get("X-Demo-Version")]++
	}
	return out
}

// result waits for the rollout to end.
func (s *stack) result(run client.WorkflowRun) (workflows.Result, error) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var r workflows.Result
	err := run.Get(ctx, &r)
	return r, err
}

// recordHistory writes the run's history to
// tests/testdata/<workflows.HistoryVersion>/name.json with -record. A
// history already recorded there is kept: histories are never overwritten.
func (s *stack) recordHistory(run client.WorkflowRun, name string) {
	s.t.Helper()
	s.recordRun(run.GetID(), run.GetRunID(), name)
}

// recordRun is recordHistory for one run of a workflow, named by its ids.
func (s *stack) recordRun(id, runID, name string) {
	s.t.Helper()
	if *record {
		testenv.RecordHistory(s.t, s.client, id, runID, workflows.HistoryVersion, name)
	}
}

// rolledBack asserts err is the RolledBack failure and returns its message.
func rolledBack(t *testing.T, err error) string {
	t.Helper()
	return endedAs(t, err, workflows.ErrorTypeRolledBack)
}

// endedAs asserts err is a workflow failure of the application error type
// typ and returns its message.
func endedAs(t *testing.T, err error, typ string) string {
	t.Helper()
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != typ {
		t.Fatalf("workflow error = %v, want %s", err, typ)
	}
	return ae.Message()
}

// countingRouters counts the traffic changes that reached the router.
type countingRouters struct {
	next   api.Routers
	mu     sync.Mutex
	counts map[string]int
}

func (c *countingRouters) Router(ctx context.Context, in api.TrafficInput) (api.Router, error) {
	r, err := c.next.Router(ctx, in)
	if err != nil {
		return nil, err
	}
	return &countingRouter{Router: r, c: c}, nil
}

func (c *countingRouters) add(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[op]++
}

func (c *countingRouters) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

type countingRouter struct {
	api.Router
	c *countingRouters
}

func (r *countingRouter) SetWeight(ctx context.Context, w float64) error {
	err := r.Router.SetWeight(ctx, w)
	if err == nil {
		r.c.add(fmt.Sprintf("setWeight %v", w))
	}
	return err
}

func (r *countingRouter) Promote(ctx context.Context) error {
	err := r.Router.Promote(ctx)
	if err == nil {
		r.c.add("promote")
	}
	return err
}

func (r *countingRouter) Reset(ctx context.Context) error {
	err := r.Router.Reset(ctx)
	if err == nil {
		r.c.add("reset")
	}
	return err
}

// currentDetails is what the Web UI shows as the rollout's current details.
func (s *stack) currentDetails() string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := s.client.QueryWorkflow(ctx, workflows.WorkflowID(s.app), "", "__temporal_workflow_metadata")
	if err != nil {
		s.t.Fatalf("metadata query: %v", err)
	}
	var md sdkpb.WorkflowMetadata
	if err := v.Get(&md); err != nil {
		s.t.Fatalf("decode metadata: %v", err)
	}
	return md.GetCurrentDetails()
}

// staticSummary is the one-line summary the Web UI shows for the rollout.
func (s *stack) staticSummary() string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := s.client.DescribeWorkflowExecution(ctx, workflows.WorkflowID(s.app), "")
	if err != nil {
		s.t.Fatalf("describe: %v", err)
	}
	var sum string
	if p := d.GetExecutionConfig().GetUserMetadata().GetSummary(); p != nil {
		if err := converter.GetDefaultDataConverter().FromPayload(p, &sum); err != nil {
			s.t.Fatalf("decode summary: %v", err)
		}
	}
	return sum
}
