//go:build k8s

package k8s

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/tests/testenv"
	"github.com/coalmine-dev/coalmine/workers"
	"github.com/coalmine-dev/coalmine/workflows"
)

// fleetE2E is the Rollout workflow on the Temporal dev server with a
// worker whose gateway router and provider act on three `coalmine gateway`
// processes that share their route state in a ConfigMap of a real API
// server, in front of `coalmine demo-agent` processes.
type fleetE2E struct {
	f        *fleetFixture
	temporal client.Client
	looks    *lookRecorder
	agents   map[string]string // version → URL
	applied  *applyTimes
}

const fleetTaskQueue = "fleet-e2e"

// TestRolloutThroughGatewayFleet runs rollouts through a fleet of three
// gateway processes: a good canary is promoted with the provider's sums
// equal to the load generator's counts; a bad canary is rolled back while
// one replica is killed and restarted empty; a replica down when a weight
// is set fails the activity naming it, and the rollout goes on once it is
// back.
func TestRolloutThroughGatewayFleet(t *testing.T) {
	bin, err := testenv.BuildCoalmine(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &fleetE2E{agents: map[string]string{
		"v1": startAgent(t, bin, "v1"),
		"v2": startAgent(t, bin, "v2"),
		"v3": startAgent(t, bin, "v3", "--error-rate", "0.5"),
	}}
	var routes strings.Builder
	routes.WriteString("routes:\n")
	for _, app := range []string{"good", "bad", "down", "lost"} {
		fmt.Fprintf(&routes, "  - name: %s\n    stable: {version: v1, url: %s}\n", app, e.agents["v1"])
	}
	e.f = startFleetOf(t, bin, routes.String())
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e.temporal = devServer(ctx, t)
	e.applied = watchApplied(ctx, t, e.f)

	acts := workers.DefaultActivities(slog.New(slog.DiscardHandler), func(k string) string {
		return map[string]string{"FLEET_TOKEN": fleetToken}[k]
	})
	acts.HeartbeatEvery = time.Second
	e.looks = &lookRecorder{next: acts.Metrics, looks: map[string][]look{}}
	acts.Metrics = e.looks
	w := workers.NewWorker(e.temporal, fleetTaskQueue, acts, time.Second)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	t.Run("good canary promoted", func(t *testing.T) { e.promoted(ctx, t) })
	t.Run("bad canary rolled back across a kill -9", func(t *testing.T) { e.rolledBack(ctx, t) })
	t.Run("replica down while a weight is set", func(t *testing.T) { e.replicaDown(ctx, t) })
	t.Run("rollback with the primary replica down", func(t *testing.T) { e.rollbackPrimaryDown(ctx, t) })
	t.Run("lone gateway without shared state restarted empty", func(t *testing.T) { e.loneRestored(ctx, t, bin) })
	e.applied.report(t)
}

// startAgent runs `coalmine demo-agent` for version with extra flags and
// returns its URL once it answers.
func startAgent(t *testing.T, bin, version string, flags ...string) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	out := &testenv.Buffer{}
	cmd := exec.Command(bin, append([]string{"demo-agent", "--listen", addr, "--version", version,
		"--latency", "2ms", "--ttft", "1ms"}, flags...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := "http://" + addr
	eventually(t, time.Minute, "demo agent "+version+" answers /healthz:\n"+out.String(), func() bool {
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return url
}

// eventually polls cond every 20 ms until it holds, failing after limit.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
	}
}

// plan is a plan for app through the fleet: every replica listed, a short
// confirmTimeout, the given steps and a background sequential test of the
// gateway's error rate looking every second. Its sample floor holds back a
// pass, so the test keeps looking until the rollout ends.
func (e *fleetE2E) plan(t *testing.T, app, steps string) plans.RolloutPlan {
	t.Helper()
	src := fmt.Sprintf(`apiVersion: coalmine.dev/v1
kind: RolloutPlan
metadata: {name: %[1]s}
spec:
  app: %[1]s
  traffic:
    router: gateway
    gateway:
      url: %[2]s
      route: %[1]s
      tokenEnv: FLEET_TOKEN
      replicas: {urls: [%[3]s], confirmTimeout: 2s}
  rollback: {scaleDownDelay: 1s}
  steps:
%[4]s
  backgroundAnalysis: {templates: [guard]}
  analysisTemplates:
    guard:
      metrics:
        - name: error-rate
          interval: 1s
          provider: {gateway: {stat: error_rate}}
          sequential: {worseWhen: higher, alpha: 0.05, minEffect: 0.5, minSamples: 1000000}
`, app, e.f.replicas[0].admin, strings.Join(e.f.adminURLs(), ", "), steps)
	p, _, err := plans.Load(app+".yaml", []byte(src))
	if err != nil {
		t.Fatalf("load plan:\n%s\n%v", src, err)
	}
	return *p
}

func (e *fleetE2E) start(ctx context.Context, t *testing.T, app, steps, canary string) client.WorkflowRun {
	t.Helper()
	return e.startPlan(ctx, t, e.plan(t, app, steps), canary)
}

// startPlan starts the rollout of canary over v1 with plan p.
func (e *fleetE2E) startPlan(ctx context.Context, t *testing.T, p plans.RolloutPlan, canary string) client.WorkflowRun {
	t.Helper()
	app := p.Spec.App
	run, err := e.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.WorkflowID(app),
		TaskQueue:                fleetTaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		TypedSearchAttributes:    workflows.SearchAttributes(app, "v1", canary, workflows.PhaseProgressing, 0),
	}, workers.WorkflowName, workflows.Input{
		Plan:      p,
		Stable:    api.Version{Name: "v1", URL: e.agents["v1"]},
		Canary:    api.Version{Name: canary, URL: e.agents[canary]},
		StartedBy: "fleet-e2e",
	})
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// waitStatus polls the rollout's status until cond holds.
func (e *fleetE2E) waitStatus(ctx context.Context, t *testing.T, app, what string, cond func(workflows.Status) bool) {
	t.Helper()
	var st workflows.Status
	eventually(t, 90*time.Second, what+" of "+app, func() bool {
		v, err := e.temporal.QueryWorkflow(ctx, workflows.WorkflowID(app), "", workflows.QueryStatus)
		if err != nil {
			return false
		}
		return v.Get(&st) == nil && cond(st)
	})
}

func (e *fleetE2E) update(ctx context.Context, t *testing.T, app, name, reason string) {
	t.Helper()
	h, err := e.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflows.WorkflowID(app),
		UpdateName:   name,
		Args:         []any{workflows.Request{By: "fleet-e2e", Reason: reason}},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", name, app, err)
	}
}

func rolloutResult(ctx context.Context, run client.WorkflowRun) (workflows.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var r workflows.Result
	err := run.Get(ctx, &r)
	return r, err
}

// sameSplitEverywhere checks that every replica reports the same
// generation of app's route and that it passes check.
func (e *fleetE2E) sameSplitEverywhere(t *testing.T, app string, check func(gateway.RouteState) error) {
	t.Helper()
	var gen int64 = -1
	for _, r := range e.f.replicas {
		st := r.routeOf(app)
		if gen >= 0 && st.Generation != gen {
			t.Errorf("%s reports generation %d of route %s, another replica %d", r.admin, st.Generation, app, gen)
		}
		gen = st.Generation
		if err := check(st); err != nil {
			t.Errorf("%s, route %s at generation %d: %v", r.admin, app, st.Generation, err)
		}
	}
}

// promotedV2 checks a route after v2's promotion: v2 alone.
func promotedV2(st gateway.RouteState) error {
	if st.Stable.Version != "v2" || st.Canary != nil {
		return fmt.Errorf("stable %s, canary %+v; want v2 alone", st.Stable.Version, st.Canary)
	}
	return nil
}

// backOnV1 checks a route after a rollback: v1, the canary at 0.
func backOnV1(st gateway.RouteState) error {
	if st.Stable.Version != "v1" || st.CanaryWeightBP != 0 {
		return fmt.Errorf("stable %s, canary at %d bp; want v1 and 0", st.Stable.Version, st.CanaryWeightBP)
	}
	return nil
}

// wantRolledBack fails the test unless err is the RolledBack failure, and
// returns its message.
func wantRolledBack(t *testing.T, err error) string {
	t.Helper()
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != workflows.ErrorTypeRolledBack {
		t.Fatalf("rollout of the bad canary: %v; want RolledBack", err)
	}
	return ae.Message()
}

// promoted: load over the three replicas, 30% then 60%, a gate; with the
// load stopped, a look of the provider sums exactly what the load
// generator got answered; promoted, every replica serves v2 alone.
func (e *fleetE2E) promoted(ctx context.Context, t *testing.T) {
	load := startLoad(t, "good", e.f.replicas)
	run := e.start(ctx, t, "good", `    - setWeight: 30
    - pause: {duration: 2s}
    - setWeight: 60
    - pause: {}`, "v2")
	e.waitStatus(ctx, t, "good", "the gate at 60%", func(st workflows.Status) bool { return st.WaitKind == "gate" && st.Weight == 60 })
	sent := load.stop()
	t.Logf("load answered per replica (traffic address): %v; by version: %v", load.perReplica(), sent)
	if sent["v1"] == 0 || sent["v2"] == 0 {
		t.Fatalf("load answered %v: want both versions", sent)
	}
	if per := load.perReplica(); len(per) != len(e.f.replicas) {
		t.Fatalf("load answered per replica %v: want every one of the %d", per, len(e.f.replicas))
	}
	e.looks.waitEqual(t, "good", sent)
	e.update(ctx, t, "good", workflows.UpdatePromote, "counts checked")
	r, err := rolloutResult(ctx, run)
	if err != nil || r.Promoted.Name != "v2" {
		t.Fatalf("rollout of the good canary: %+v, %v; want v2 promoted", r, err)
	}
	e.sameSplitEverywhere(t, "good", promotedV2)
	e.looks.checkMonotone(t, "good")
}

// rolledBack: at 20% a few requests through every replica are looked at;
// replica 3 is killed with SIGKILL and started again in an empty folder,
// ready only with the current split; under load the bad canary is rolled
// back and the provider's totals never went down.
func (e *fleetE2E) rolledBack(ctx context.Context, t *testing.T) {
	run := e.start(ctx, t, "bad", `    - setWeight: 20
    - pause: {}`, "v3")
	e.waitStatus(ctx, t, "bad", "the gate at 20%", func(st workflows.Status) bool { return st.WaitKind == "gate" && st.Weight == 20 })
	// Few enough requests that the sequential test cannot decide yet.
	burst := startLoad(t, "bad", e.f.replicas)
	burst.waitAnswered(t, 12)
	sent := burst.stop()
	e.looks.waitEqual(t, "bad", sent)

	victim := e.f.replicas[2]
	victim.kill()
	victim.start()
	ready := victim.waitReady()
	restarted := time.Now()
	want := e.f.replicas[0].routeOf("bad")
	got := victim.routeOf("bad")
	if got.Generation != want.Generation || got.CanaryWeightBP != 2000 || got.Canary == nil || got.Canary.Version != "v3" {
		t.Fatalf("replica restarted empty, when ready: generation %d, canary %+v at %d bp; want generation %d, v3 at 2000 bp",
			got.Generation, got.Canary, got.CanaryWeightBP, want.Generation)
	}
	t.Logf("replica killed with SIGKILL and restarted empty: ready with the current split (generation %d, 20%%) in %v",
		got.Generation, ready.Round(time.Millisecond))

	load := startLoad(t, "bad", e.f.replicas)
	_, err := rolloutResult(ctx, run)
	all := load.stop()
	t.Logf("rolled back: %s", wantRolledBack(t, err))
	for v, n := range sent {
		all[v] += n
	}
	last := e.looks.checkMonotone(t, "bad")
	if !last.at.After(restarted) {
		t.Errorf("no look of the provider after the replica restarted (last at %v, restarted at %v)", last.at, restarted)
	}
	if last.stable > all["v1"] || last.canary > all["v3"] {
		t.Errorf("last look counts stable %d, canary %d; the load generator got %d and %d answered", last.stable, last.canary, all["v1"], all["v3"])
	}
	e.sameSplitEverywhere(t, "bad", backOnV1)
}

// replicaDown: replica 2 is down when the rollout goes from 20% to 60%;
// the activity fails naming it, Temporal retries, and once it is back
// the rollout is promoted with every replica reporting it.
func (e *fleetE2E) replicaDown(ctx context.Context, t *testing.T) {
	run := e.start(ctx, t, "down", `    - setWeight: 20
    - pause: {}
    - setWeight: 60
    - pause: {duration: 1s}`, "v2")
	e.waitStatus(ctx, t, "down", "the gate at 20%", func(st workflows.Status) bool { return st.WaitKind == "gate" && st.Weight == 20 })
	victim := e.f.replicas[1]
	victim.kill()
	e.update(ctx, t, "down", workflows.UpdatePromote, "on to 60% with a replica down")
	failure := e.failedAttempt(ctx, t, "down", api.NameSetWeight, victim.admin)
	t.Logf("with %s down, setWeight failed: %s", victim.admin, failure)
	victim.start()
	victim.waitReady()
	r, err := rolloutResult(ctx, run)
	if err != nil || r.Promoted.Name != "v2" {
		t.Fatalf("rollout after the replica came back: %+v, %v; want v2 promoted", r, err)
	}
	e.sameSplitEverywhere(t, "down", promotedV2)
}

// failedAttempt waits until an attempt of activity in app's rollout has
// failed naming the unreachable replica, and returns the failure.
func (e *fleetE2E) failedAttempt(ctx context.Context, t *testing.T, app, activity, replica string) string {
	t.Helper()
	var failure string
	eventually(t, 90*time.Second, "a failed "+activity+" attempt naming "+replica, func() bool {
		d, err := e.temporal.DescribeWorkflowExecution(ctx, workflows.WorkflowID(app), "")
		if err != nil {
			return false
		}
		for _, a := range d.GetPendingActivities() {
			if msg := a.GetLastFailure().GetMessage(); a.GetActivityType().GetName() == activity && strings.Contains(msg, replica+" (unreachable") {
				failure = fmt.Sprintf("attempt %d: %s", a.GetAttempt()-1, msg)
				return true
			}
		}
		return false
	})
	return failure
}

// rollbackPrimaryDown: the replica at the plan's gateway url is down when
// the bad canary is found out. The rollback lands through the replicas
// that are up, which serve stable alone at once; the activity names the
// one that is not, and the rollout ends once it is back.
func (e *fleetE2E) rollbackPrimaryDown(ctx context.Context, t *testing.T) {
	run := e.start(ctx, t, "lost", `    - setWeight: 20
    - pause: {}`, "v3")
	e.waitStatus(ctx, t, "lost", "the gate at 20%", func(st workflows.Status) bool { return st.WaitKind == "gate" && st.Weight == 20 })
	primary, up := e.f.replicas[0], e.f.replicas[1:]
	primary.kill()
	load := startLoad(t, "lost", up)
	eventually(t, 90*time.Second, "the rollback on the replicas that are up", func() bool {
		for _, r := range up {
			if st := r.routeOf("lost"); st.CanaryWeightBP != 0 {
				return false
			}
		}
		return true
	})
	load.stop()
	failure := e.failedAttempt(ctx, t, "lost", api.NameResetTraffic, primary.admin)
	t.Logf("rolled back on the replicas that are up; with %s down, the reset failed: %s", primary.admin, failure)
	primary.start()
	primary.waitReady()
	_, err := rolloutResult(ctx, run)
	wantRolledBack(t, err)
	e.sameSplitEverywhere(t, "lost", backOnV1)
}

// loneRestored: a gateway that keeps its state in memory only (no shared
// state, no state file) is killed with SIGKILL during a gate at 25% and
// started again empty, so it serves its initial route: within one
// traffic.verifyInterval the rollout reads the split back, sets 25% again
// and says so in an event.
func (e *fleetE2E) loneRestored(ctx context.Context, t *testing.T, bin string) {
	tp, ap := testenv.FreePort(t), testenv.FreePort(t)
	cfg := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `listen: 127.0.0.1:%d
admin: {listen: "127.0.0.1:%d"}
routes:
  - name: solo
    stable: {version: v1, url: %s}
`, tp, ap, e.agents["v1"]), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := &replicaProc{t: t, bin: bin, config: cfg, admin: fmt.Sprintf("http://127.0.0.1:%d", ap), traffic: fmt.Sprintf("http://127.0.0.1:%d", tp)}
	gw.start()
	gw.waitReady()
	const every = 2 * time.Second
	p := e.plan(t, "solo", `    - setWeight: 25
    - pause: {}`)
	p.Spec.Traffic.Block.(*traffic.GatewayTraffic).URL, p.Spec.Traffic.Block.(*traffic.GatewayTraffic).Replicas = gw.admin, nil
	p.Spec.Traffic.VerifyInterval = &plans.Duration{Duration: every}
	run := e.startPlan(ctx, t, p, "v2")
	e.waitStatus(ctx, t, "solo", "the gate at 25%", func(st workflows.Status) bool { return st.WaitKind == "gate" && st.Weight == 25 })
	gw.kill()
	gw.start()
	gw.waitReady()
	restarted := time.Now()
	if st := gw.routeOf("solo"); st.CanaryWeightBP != 0 {
		t.Fatalf("the gateway restarted empty serves %d bp to the canary; want its initial 0", st.CanaryWeightBP)
	}
	eventually(t, every+10*time.Second, "the split restored on the gateway restarted empty", func() bool {
		return gw.routeOf("solo").CanaryWeightBP == 2500
	})
	t.Logf("gateway restarted empty: 25%% restored %v after it was ready (verifyInterval %v)", time.Since(restarted).Round(time.Millisecond), every)
	const want = "canary weight found at 0%, expected 25%: restored"
	e.waitStatus(ctx, t, "solo", "the event "+want, func(st workflows.Status) bool {
		return slices.ContainsFunc(st.Events, func(ev workflows.Event) bool { return ev.Message == want })
	})
	e.update(ctx, t, "solo", workflows.UpdateAbort, "restore checked")
	if _, err := rolloutResult(ctx, run); err == nil {
		t.Fatal("the aborted rollout ended without an error")
	}
	if st := gw.routeOf("solo"); st.CanaryWeightBP != 0 {
		t.Errorf("after the abort the gateway serves %d bp to the canary", st.CanaryWeightBP)
	}
}

// routeOf reads one route's state from the replica's admin API.
func (r *replicaProc) routeOf(name string) gateway.RouteState {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := admin.NewClient(r.admin, fleetToken, nil).Route(ctx, name)
	if err != nil {
		r.t.Fatalf("read route %s from %s: %v", name, r.admin, err)
	}
	return st
}

// loadGen sends chat requests to one route through every replica, one
// sender per replica, and counts the answers by the version that gave
// them. A request that gets no answer (the replica is down) is not
// counted: the gateway did not count it either.
type loadGen struct {
	t        *testing.T
	mu       sync.Mutex
	answered map[string]uint64 // version → answers
	replica  map[string]uint64 // traffic URL → answers
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	errs     []string
}

func startLoad(t *testing.T, route string, replicas []*replicaProc) *loadGen {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &loadGen{t: t, answered: map[string]uint64{}, replica: map[string]uint64{}, cancel: cancel}
	t.Cleanup(func() { l.stop() })
	hc := &http.Client{Timeout: 30 * time.Second}
	for _, r := range replicas {
		l.wg.Add(1)
		go func(base string) {
			defer l.wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				l.send(ctx, hc, base+"/"+route+"/v1/chat/completions", i)
				time.Sleep(10 * time.Millisecond)
			}
		}(r.traffic)
	}
	return l
}

func (l *loadGen) send(ctx context.Context, hc *http.Client, url string, i int) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-session-id", fmt.Sprintf("%s-%d-%d", url, time.Now().UnixNano(), i))
	resp, err := hc.Do(req) // not ctx: a request under way is answered
	if err != nil {
		time.Sleep(20 * time.Millisecond) // the replica is down
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	v := resp.Header.Get(gateway.HeaderVersion)
	if v == "" {
		l.errs = append(l.errs, fmt.Sprintf("%s answered %d without %s", url, resp.StatusCode, gateway.HeaderVersion))
	}
	l.answered[v]++
	l.replica[strings.SplitN(url, "/", 4)[2]]++
}

// waitAnswered waits until n requests were answered.
func (l *loadGen) waitAnswered(t *testing.T, n uint64) {
	t.Helper()
	eventually(t, time.Minute, fmt.Sprintf("%d answers", n), func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		var sum uint64
		for _, c := range l.answered {
			sum += c
		}
		return sum >= n
	})
}

// stop stops the senders, waits for the requests under way and returns
// the answers by version.
func (l *loadGen) stop() map[string]uint64 {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) > 0 {
		l.t.Errorf("%d answers without the version: %s", len(l.errs), l.errs[0])
		l.errs = nil
	}
	out := map[string]uint64{}
	for v, n := range l.answered {
		out[v] = n
	}
	return out
}

func (l *loadGen) perReplica() map[string]uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]uint64{}
	for k, n := range l.replica {
		out[k] = n
	}
	return out
}

// lookRecorder passes every measurement to the worker's providers and
// keeps the totals of the sequential tests' looks, by app.
type lookRecorder struct {
	next  api.Provider
	mu    sync.Mutex
	looks map[string][]look
}

// look is the totals one look of the sequential test summed.
type look struct {
	at             time.Time
	stable, canary uint64
}

// Measure measures with the worker's providers and records the look.
func (r *lookRecorder) Measure(ctx context.Context, q api.Query) (api.Result, error) {
	at := time.Now()
	res, err := r.next.Measure(ctx, q)
	var st struct{ Sequential *analysis.SequentialState }
	if err != nil || q.Metric.Sequential == nil || json.Unmarshal(res.State, &st) != nil || st.Sequential == nil {
		return res, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.looks[q.App] = append(r.looks[q.App], look{at: at, stable: uint64(st.Sequential.PrevStable.Count), canary: uint64(st.Sequential.PrevCanary.Count)})
	return res, err
}

func (r *lookRecorder) of(app string) []look {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]look(nil), r.looks[app]...)
}

// waitEqual waits for a look, begun after now, whose sums equal the
// answers the load generator got; none may count more.
func (r *lookRecorder) waitEqual(t *testing.T, app string, sent map[string]uint64) {
	t.Helper()
	since := time.Now()
	var seen look
	eventually(t, time.Minute, fmt.Sprintf("a look of %s summing the client's counts %v (last: stable %d, canary %d)", app, sent, seen.stable, seen.canary), func() bool {
		for _, l := range r.of(app) {
			if l.stable > sent["v1"] || l.canary > sent[canaryOf(sent)] {
				t.Fatalf("a look of %s counts stable %d, canary %d: more than the load generator got answered, %v", app, l.stable, l.canary, sent)
			}
			if l.at.After(since) {
				seen = l
				if l.stable == sent["v1"] && l.canary == sent[canaryOf(sent)] {
					return true
				}
			}
		}
		return false
	})
	t.Logf("a look of the provider sums exactly the load generator's answers: stable %d, canary %d", seen.stable, seen.canary)
}

// canaryOf is the version other than v1 among the answers.
func canaryOf(sent map[string]uint64) string {
	for v := range sent {
		if v != "v1" {
			return v
		}
	}
	return ""
}

// checkMonotone checks that no look of app counted fewer requests than
// the one before (no negative increment) and returns the last look.
func (r *lookRecorder) checkMonotone(t *testing.T, app string) look {
	t.Helper()
	looks := r.of(app)
	if len(looks) == 0 {
		t.Fatalf("no look of %s", app)
	}
	for i := 1; i < len(looks); i++ {
		if looks[i].stable < looks[i-1].stable || looks[i].canary < looks[i-1].canary {
			t.Errorf("look %d of %s went down: stable %d → %d, canary %d → %d", i, app, looks[i-1].stable, looks[i].stable, looks[i-1].canary, looks[i].canary)
		}
	}
	last := looks[len(looks)-1]
	t.Logf("%d looks of %s, totals never went down (last: stable %d, canary %d)", len(looks), app, last.stable, last.canary)
	return last
}
