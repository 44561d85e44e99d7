//go:build k8s

package k8s

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/yaml"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/activities/workload"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/tests/k8s/kubetest"
	"github.com/coalmine-dev/coalmine/tests/testenv"
	"github.com/coalmine-dev/coalmine/workers"
	"github.com/coalmine-dev/coalmine/workflows"
)

func httpRoutes() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
}

const e2eRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: voice-agent, namespace: ai}
spec:
  parentRefs: [{name: gw}]
  rules:
  - name: primary
    backendRefs:
    - {name: voice-agent, port: 8080, weight: 100}
    - {name: voice-agent-canary, port: 8080, weight: 0}
`

const e2ePlan = `apiVersion: coalmine.dev/v1
kind: RolloutPlan
metadata: {name: voice-agent}
spec:
  app: voice-agent
  workload:
    namespace: ai
    deployment: voice-agent
    container: agent
    image: registry.example.com/voice-agent:{{.Canary.Version}}
    progressDeadline: 1m
  traffic:
    router: httproute
    httproute: {namespace: ai, name: voice-agent, rule: primary, stableService: voice-agent, canaryService: voice-agent-canary}
  rollback: {scaleDownDelay: 1s}
  steps:
`

// record makes the suite write the histories of its workload-lifecycle
// rollouts to tests/testdata/<workloadHistories>/ for the replay test
// (go test -tags k8s ./tests/k8s -record; never overwrites).
var record = flag.Bool("record", false, "write the workload-lifecycle histories to tests/testdata/"+workloadHistories+"/")

// workloadHistories is the folder of the workload-lifecycle histories.
const workloadHistories = "v3-workload-lifecycle"

// recordHistory writes the run's history with -record.
func (e *e2e) recordHistory(t *testing.T, run client.WorkflowRun, name string) {
	t.Helper()
	if *record {
		testenv.RecordHistory(t, e.temporal, run.GetID(), run.GetRunID(), workloadHistories, name)
	}
}

// e2e is the Rollout workflow on a real Temporal dev server with a worker
// whose activities act on a kwok cluster.
type e2e struct {
	t        *testing.T
	c        *kubetest.Cluster
	kube     traffic.Kube
	temporal client.Client
	acts     *activities.Activities
	routers  *crashingRouters
}

// TestRolloutOnKubernetes runs rollouts end to end: the httproute router
// and the canary Deployment, on a kwok cluster whose Deployments really
// roll out, driven by the Rollout workflow on the Temporal dev server.
func TestRolloutOnKubernetes(t *testing.T) {
	e := &e2e{t: t, c: kubetest.Kwok(t)}
	var err error
	if e.kube, err = traffic.NewKube(e.c.Config); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e.temporal = devServer(ctx, t)

	e.acts = workers.KubeActivities(slog.New(slog.DiscardHandler), nil, traffic.StaticKube(e.kube))
	e.acts.HeartbeatEvery = time.Second
	e.routers = &crashingRouters{next: e.acts.Routers, crashAt: -1}
	e.acts.Routers = e.routers

	if _, err := e.c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ai"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Client.AppsV1().Deployments("ai").Create(ctx, stableDeployment(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var route map[string]any
	if err := yaml.Unmarshal([]byte(e2eRoute), &route); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kube.Dynamic.Resource(httpRoutes()).Namespace("ai").Create(ctx, &unstructured.Unstructured{Object: route}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("promoted", func(t *testing.T) { e.promoted(ctx, t) })
	t.Run("aborted at 25%", func(t *testing.T) { e.aborted(ctx, t) })
	t.Run("worker killed between setWeight and its read-back", func(t *testing.T) { e.crash(ctx, t) })
	t.Run("replicas router", func(t *testing.T) { e.replicas(ctx, t) })
	t.Run("rollback restores the earlier template", func(t *testing.T) { e.rollbackRestoresTemplate(ctx, t) })
	t.Run("hand-edited HTTPRoute restored", func(t *testing.T) { e.drift(ctx, t) })
}

// devServer starts the Temporal dev server from bin/temporal with the
// rollouts' search attributes; it stops when the test ends.
func devServer(ctx context.Context, t *testing.T) client.Client {
	t.Helper()
	bin := filepath.Join(kubetest.Root(t), "bin", "temporal")
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:     bin,
		SearchAttributes: workflows.SearchAttributes("app", "v1", "v2", workflows.PhaseProgressing, 0),
		ClientOptions:    &client.Options{Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))},
		LogLevel:         "error",
	})
	if err != nil {
		t.Fatalf("start the Temporal dev server %s (make tools builds it): %v", bin, err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return srv.Client()
}

func stableDeployment() *appsv1.Deployment {
	labels := map[string]string{"app": "voice-agent", workload.TrackLabel: "stable"}
	replicas := int32(3)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "voice-agent", Namespace: "ai"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "voice-agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "registry.example.com/voice-agent:v1"}}},
			},
		},
	}
}

func (e *e2e) worker(t *testing.T) worker.Worker {
	t.Helper()
	w := workers.NewWorker(e.temporal, "k8s-e2e", e.acts, time.Second)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	return w
}

func (e *e2e) plan(t *testing.T, steps string) plans.RolloutPlan {
	t.Helper()
	p, _, err := plans.Load("voice-agent.yaml", []byte(e2ePlan+steps))
	if err != nil {
		t.Fatal(err)
	}
	return *p
}

func (e *e2e) start(ctx context.Context, t *testing.T, p plans.RolloutPlan, stable, canary string) client.WorkflowRun {
	t.Helper()
	run, err := e.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.WorkflowID("voice-agent"),
		TaskQueue:                "k8s-e2e",
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		TypedSearchAttributes:    workflows.SearchAttributes("voice-agent", stable, canary, workflows.PhaseProgressing, 0),
	}, workers.WorkflowName, workflows.Input{
		Plan:      p,
		Stable:    api.Version{Name: stable},
		Canary:    api.Version{Name: canary},
		StartedBy: "k8s-e2e",
	})
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// routeWeights reads the primary rule's stable and canary weights.
func (e *e2e) routeWeights(ctx context.Context, t *testing.T) (stable, canary int64) {
	t.Helper()
	obj, err := e.kube.Dynamic.Resource(httpRoutes()).Namespace("ai").Get(ctx, "voice-agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return weightsOf(obj)
}

func weightsOf(obj *unstructured.Unstructured) (stable, canary int64) {
	rules, _, _ := unstructured.NestedSlice(obj.Object, "spec", "rules")
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		refs, _ := rule["backendRefs"].([]any)
		for _, b := range refs {
			ref, _ := b.(map[string]any)
			w, _ := ref["weight"].(int64)
			switch ref["name"] {
			case "voice-agent":
				stable = w
			case "voice-agent-canary":
				canary = w
			}
		}
	}
	return stable, canary
}

// watchWeights records the canary weight of every change of the route
// until stop is called.
func (e *e2e) watchWeights(ctx context.Context, t *testing.T) (stop func() ([]int64, map[int64]time.Time)) {
	t.Helper()
	w, err := e.kube.Dynamic.Resource(httpRoutes()).Namespace("ai").Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=voice-agent"})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen []int64
		at   = map[int64]time.Time{}
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			obj, ok := ev.Object.(*unstructured.Unstructured)
			if !ok || ev.Type != watch.Modified {
				continue
			}
			s, c := weightsOf(obj)
			if s+c != 100 {
				t.Errorf("half-applied weights on the route: stable %d, canary %d", s, c)
			}
			now := time.Now()
			mu.Lock()
			if len(seen) == 0 || seen[len(seen)-1] != c {
				seen = append(seen, c)
			}
			if _, ok := at[c]; !ok {
				at[c] = now
			}
			mu.Unlock()
		}
	}()
	return func() ([]int64, map[int64]time.Time) {
		w.Stop()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return seen, at
	}
}

func (e *e2e) deployment(ctx context.Context, t *testing.T, name string) (*appsv1.Deployment, bool) {
	t.Helper()
	d, err := e.c.Client.AppsV1().Deployments("ai").Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return d, true
}

// wantStableRuns checks that the stable Deployment has rolled out image.
func (e *e2e) wantStableRuns(ctx context.Context, t *testing.T, image string) {
	t.Helper()
	d, _ := e.deployment(ctx, t, "voice-agent")
	if got := d.Spec.Template.Spec.Containers[0].Image; got != image {
		t.Errorf("stable Deployment runs %s, want %s", got, image)
	}
	if st := d.Status; st.ObservedGeneration < d.Generation || st.UpdatedReplicas != 3 || st.AvailableReplicas != 3 || st.Replicas != 3 {
		t.Errorf("stable Deployment has not finished rolling out: %+v", st)
	}
	if _, ok := e.deployment(ctx, t, "voice-agent-canary"); ok {
		t.Error("the canary Deployment is still there")
	}
}

func (e *e2e) promoted(ctx context.Context, t *testing.T) {
	w := e.worker(t)
	defer w.Stop()
	stop := e.watchWeights(ctx, t)
	start := time.Now()
	run := e.start(ctx, t, e.plan(t, "    - setWeight: 5\n    - setWeight: 25\n    - setWeight: 50\n    - setWeight: 100\n"), "v1", "v2")
	var res workflows.Result
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("rollout: %v", err)
	}
	t.Logf("promoted in %v", time.Since(start).Round(time.Millisecond))
	got, at := stop()
	if want := []int64{5, 25, 50, 100, 0}; !slices.Equal(got, want) {
		t.Errorf("the route's canary weight went %v, want %v", got, want)
	}
	// From the start of each SetWeight activity's work to the change
	// reaching the API server's watchers.
	var worst time.Duration
	for _, w := range []int64{5, 25, 50, 100} {
		began := e.routers.startedAt(float64(w))
		if began.IsZero() || at[w].IsZero() {
			t.Errorf("weight %d: no timing (activity %v, seen %v)", w, began, at[w])
			continue
		}
		d := at[w].Sub(began)
		worst = max(worst, d)
		if d > time.Second {
			t.Errorf("weight %d reached the API server %v after its activity started", w, d)
		}
	}
	t.Logf("a weight change reaches the API server within %v of its SetWeight activity starting, at worst", worst)
	if s, c := e.routeWeights(ctx, t); s != 100 || c != 0 {
		t.Errorf("after promotion the route has stable %d, canary %d", s, c)
	}
	e.wantStableRuns(ctx, t, "registry.example.com/voice-agent:v2")
	e.recordHistory(t, run, "promoted-workload")
}

func (e *e2e) aborted(ctx context.Context, t *testing.T) {
	w := e.worker(t)
	defer w.Stop()
	cw, err := e.c.Client.AppsV1().Deployments("ai").Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=voice-agent-canary"})
	if err != nil {
		t.Fatal(err)
	}
	defer cw.Stop()
	run := e.start(ctx, t, e.plan(t, "    - setWeight: 25\n    - pause: {duration: 1h}\n    - setWeight: 100\n"), "v2", "v3")
	waitUntil(ctx, t, "the rollout at 25%", func() bool {
		st := e.status(ctx, t)
		return st.Weight == 25 && st.WaitKind == "pause"
	})
	if _, c := e.routeWeights(ctx, t); c != 25 {
		t.Fatalf("canary weight %d at the pause", c)
	}
	e.abort(ctx, t, "test abort")
	err = run.Get(ctx, nil)
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != workflows.ErrorTypeRolledBack {
		t.Fatalf("aborted rollout ended with %v", err)
	}
	e.recordHistory(t, run, "aborted-workload")
	if s, c := e.routeWeights(ctx, t); s != 100 || c != 0 {
		t.Errorf("after the abort the route has stable %d, canary %d", s, c)
	}
	// The canary went to 0 replicas before it was deleted.
	var scaledToZero, deleted bool
	timeout := time.After(30 * time.Second)
	for !deleted {
		select {
		case ev := <-cw.ResultChan():
			d, ok := ev.Object.(*appsv1.Deployment)
			if !ok {
				continue
			}
			if ev.Type == watch.Deleted {
				deleted = true
			}
			if d.Spec.Replicas != nil && *d.Spec.Replicas == 0 {
				scaledToZero = true
			}
		case <-timeout:
			t.Fatal("the canary was never deleted")
		}
	}
	if !scaledToZero {
		t.Error("the canary was deleted without being scaled to 0 first")
	}
	e.wantStableRuns(ctx, t, "registry.example.com/voice-agent:v2")
}

func (e *e2e) crash(ctx context.Context, t *testing.T) {
	e.routers.arm(50)
	w1 := e.worker(t)
	stop := e.watchWeights(ctx, t)
	run := e.start(ctx, t, e.plan(t, "    - setWeight: 25\n    - setWeight: 50\n    - setWeight: 100\n"), "v2", "v3")
	select {
	case <-e.routers.crashed:
	case <-ctx.Done():
		t.Fatal("setWeight 50 never ran")
	}
	// The write landed and the read-back has not happened: the route is
	// whole at the new weight.
	if s, c := e.routeWeights(ctx, t); s != 50 || c != 50 {
		t.Errorf("at the crash the route has stable %d, canary %d", s, c)
	}
	w1.Stop()
	w2 := e.worker(t)
	defer w2.Stop()
	if err := run.Get(ctx, nil); err != nil {
		t.Fatalf("the rollout did not finish after the restart: %v", err)
	}
	if got, _ := stop(); !slices.Equal(got, []int64{25, 50, 100, 0}) {
		t.Errorf("the route's canary weight went %v, want [25 50 100 0]", got)
	}
	if n := e.routers.setWeights(50); n < 2 {
		t.Errorf("setWeight 50 ran %d time(s); the restarted worker should have run it again", n)
	}
	e.wantStableRuns(ctx, t, "registry.example.com/voice-agent:v3")
}

func (e *e2e) status(ctx context.Context, t *testing.T) workflows.Status {
	t.Helper()
	v, err := e.temporal.QueryWorkflow(ctx, workflows.WorkflowID("voice-agent"), "", workflows.QueryStatus)
	if err != nil {
		t.Fatal(err)
	}
	var st workflows.Status
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// waitUntil polls a remote condition (the workflow's status) until it holds.
func waitUntil(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-tick.C:
		}
	}
}

// crashingRouters wraps the worker's routers. Once armed with a weight, the
// first SetWeight to it writes and then, instead of reading back, stops as
// a killed worker would (until its context ends) and says so on crashed.
type crashingRouters struct {
	next    api.Routers
	mu      sync.Mutex
	crashAt float64
	counts  map[float64]int
	crashed chan struct{}
	// started is when the first SetWeight activity for each weight built
	// its router: the start of the activity's work.
	started map[float64]time.Time
}

func (c *crashingRouters) startedAt(w float64) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.started[w]
}

func (c *crashingRouters) arm(w float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.crashAt, c.crashed = w, make(chan struct{})
}

func (c *crashingRouters) setWeights(w float64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[w]
}

func (c *crashingRouters) Router(ctx context.Context, in api.TrafficInput) (api.Router, error) {
	r, err := c.next.Router(ctx, in)
	if err != nil {
		return nil, err
	}
	return &crashingRouter{Router: r, c: c, built: time.Now()}, nil
}

type crashingRouter struct {
	api.Router
	c     *crashingRouters
	crash bool
	built time.Time
}

func (r *crashingRouter) SetWeight(ctx context.Context, w float64) error {
	err := r.Router.SetWeight(ctx, w)
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	if r.c.counts == nil {
		r.c.counts = map[float64]int{}
	}
	r.c.counts[w]++
	if r.c.started == nil {
		r.c.started = map[float64]time.Time{}
	}
	if _, ok := r.c.started[w]; !ok {
		r.c.started[w] = r.built
	}
	if err == nil && w == r.c.crashAt {
		r.crash = true
		r.c.crashAt = -1
	}
	return err
}

func (r *crashingRouter) Read(ctx context.Context) (api.TrafficState, error) {
	if r.crash {
		close(r.c.crashed)
		<-ctx.Done()
		return api.TrafficState{}, ctx.Err()
	}
	return r.Router.Read(ctx)
}

func (e *e2e) replicas(ctx context.Context, t *testing.T) {
	w := e.worker(t)
	defer w.Stop()
	p, _, err := plans.Load("voice-agent.yaml", []byte(`apiVersion: coalmine.dev/v1
kind: RolloutPlan
metadata: {name: voice-agent}
spec:
  app: voice-agent
  workload:
    namespace: ai
    deployment: voice-agent
    image: registry.example.com/voice-agent:{{.Canary.Version}}
    progressDeadline: 1m
  traffic:
    router: replicas
    replicas: {stableDeployment: voice-agent}
  rollback: {scaleDownDelay: 1s}
  steps:
    - setWeight: 25
    - setWeight: 50
`))
	if err != nil {
		t.Fatal(err)
	}
	run := e.start(ctx, t, *p, "v3", "v4")
	if err := run.Get(ctx, nil); err != nil {
		t.Fatalf("rollout: %v", err)
	}
	// 25% of 3 pods is 1 pod (33.33%), 50% is 2 (66.67%): the status says so.
	var events []string
	for _, ev := range e.status(ctx, t).Events {
		events = append(events, ev.Message)
	}
	for _, want := range []string{"v4 gets 33.33% of traffic (asked 25%", "v4 gets 66.67% of traffic (asked 50%"} {
		if !slices.ContainsFunc(events, func(m string) bool { return strings.Contains(m, want) }) {
			t.Errorf("no event says %q: %q", want, events)
		}
	}
	e.wantStableRuns(ctx, t, "registry.example.com/voice-agent:v4")
}

// drift edits the HTTPRoute's weights by hand during a pause; within one
// traffic.verifyInterval the rollout sets them again, with an event.
func (e *e2e) drift(ctx context.Context, t *testing.T) {
	w := e.worker(t)
	defer w.Stop()
	p := e.plan(t, "    - setWeight: 25\n    - pause: {duration: 1h}\n")
	const every = 2 * time.Second
	p.Spec.Traffic.VerifyInterval = &plans.Duration{Duration: every}
	run := e.start(ctx, t, p, "v4", "v5")
	waitUntil(ctx, t, "the rollout at 25%", func() bool {
		st := e.status(ctx, t)
		return st.Weight == 25 && st.WaitKind == "pause"
	})
	obj, err := e.kube.Dynamic.Resource(httpRoutes()).Namespace("ai").Get(ctx, "voice-agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rules, _, _ := unstructured.NestedSlice(obj.Object, "spec", "rules")
	for _, r := range rules {
		for _, b := range r.(map[string]any)["backendRefs"].([]any) {
			ref := b.(map[string]any)
			ref["weight"] = map[string]int64{"voice-agent": 100, "voice-agent-canary": 0}[ref["name"].(string)]
		}
	}
	if err := unstructured.SetNestedSlice(obj.Object, rules, "spec", "rules"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kube.Dynamic.Resource(httpRoutes()).Namespace("ai").Update(ctx, obj, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatalf("hand edit: %v", err)
	}
	edited := time.Now()
	waitUntil(ctx, t, "the canary weight restored", func() bool { _, c := e.routeWeights(ctx, t); return c == 25 })
	took := time.Since(edited)
	t.Logf("hand-edited HTTPRoute weight restored after %v (verifyInterval %v)", took.Round(time.Millisecond), every)
	if took > every+5*time.Second {
		t.Errorf("restored after %v, more than one verifyInterval (%v) and some slack", took, every)
	}
	const want = "canary weight found at 0%, expected 25%: restored"
	waitUntil(ctx, t, "the restore event", func() bool {
		return slices.ContainsFunc(e.status(ctx, t).Events, func(ev workflows.Event) bool { return ev.Message == want })
	})
	e.abort(ctx, t, "drift checked")
	_ = run.Get(ctx, nil)
}

// abort aborts the rollout of voice-agent and waits for the update.
func (e *e2e) abort(ctx context.Context, t *testing.T, reason string) {
	t.Helper()
	h, err := e.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflows.WorkflowID("voice-agent"), UpdateName: workflows.UpdateAbort,
		Args: []any{workflows.Request{By: "k8s-e2e", Reason: reason}}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Get(ctx, nil); err != nil {
		t.Fatalf("abort: %v", err)
	}
}
