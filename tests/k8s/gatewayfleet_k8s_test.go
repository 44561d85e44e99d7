//go:build k8s

package k8s

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/activities/metrics"
	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/tests/k8s/kubetest"
	"github.com/coalmine-dev/coalmine/tests/testenv"
)

const fleetToken = "fleet-admin-token"

// replicaProc is one `coalmine gateway` process of the fleet.
type replicaProc struct {
	t              *testing.T
	bin, config    string
	admin, traffic string
	cmd            *exec.Cmd
	out            *testenv.Buffer
}

// start runs the process in a new, empty working folder, as a pod
// rescheduled on another node starts; it is killed when the test ends.
func (r *replicaProc) start() {
	r.t.Helper()
	r.out = &testenv.Buffer{}
	r.cmd = exec.Command(r.bin, "gateway", "--config", r.config)
	r.cmd.Dir = r.t.TempDir()
	r.cmd.Env = append(os.Environ(), "COALMINE_GATEWAY_TOKEN="+fleetToken)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	cmd := r.cmd
	r.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
}

// kill ends the process with SIGKILL: no draining, no goodbye.
func (r *replicaProc) kill() {
	r.t.Helper()
	if err := r.cmd.Process.Kill(); err != nil {
		r.t.Fatal(err)
	}
	_ = r.cmd.Wait()
}

// waitReady waits for /readyz and returns how long it took.
func (r *replicaProc) waitReady() time.Duration {
	r.t.Helper()
	start := time.Now()
	for deadline := start.Add(time.Minute); ; time.Sleep(2 * time.Millisecond) {
		if resp, err := http.Get(r.admin + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start)
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("gateway %s not ready after a minute:\n%s", r.admin, r.out.String())
		}
	}
}

func (r *replicaProc) route() gateway.RouteState {
	r.t.Helper()
	st, err := admin.NewClient(r.admin, fleetToken, nil).Route(context.Background(), "voice")
	if err != nil {
		r.t.Fatalf("read route from %s: %v", r.admin, err)
	}
	return st
}

// send sends n requests with fresh session keys and counts the versions
// that answered.
func (r *replicaProc) send(n int, counts map[string]uint64) {
	r.t.Helper()
	for i := range n {
		req, _ := http.NewRequest(http.MethodPost, r.traffic+"/voice/v1/chat/completions", strings.NewReader(`{"messages":[]}`))
		req.Header.Set("x-session-id", fmt.Sprintf("%s-%d-%d", r.traffic, time.Now().UnixNano(), i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			r.t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			r.t.Fatalf("%s answered %d", r.traffic, resp.StatusCode)
		}
		counts[resp.Header.Get(gateway.HeaderVersion)]++
	}
}

// fleetFixture is three `coalmine gateway` processes sharing one state
// ConfigMap on a real API server, as a user that may only get, list, watch
// and update that object.
type fleetFixture struct {
	replicas []*replicaProc
	cs       kubernetes.Interface
	ns       string
	bin      string
}

// fleetState is the name of the state ConfigMap.
const fleetState = "coalmine-gateway-state"

// startFleet starts the fleet with one route, voice, from v1 to v2 on two
// servers that answer 200.
func startFleet(t *testing.T) *fleetFixture {
	t.Helper()
	bin, err := testenv.BuildCoalmine(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return startFleetOf(t, bin, fmt.Sprintf(`routes:
  - name: voice
    sticky: {headers: [x-session-id]}
    stable: {version: v1, url: %s}
    canary: {version: v2, url: %s}
`, okServer(t), okServer(t)))
}

// startFleetOf starts the fleet of the coalmine binary bin with the given
// routes block of gateway.yaml.
func startFleetOf(t *testing.T, bin, routes string) *fleetFixture {
	t.Helper()
	env, admin := kubetest.APIServerEnv(t)
	cs := kubernetes.NewForConfigOrDie(admin)
	ns := "coalmine"
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fleetState}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubeconfig := kubetest.UserWithRole(t, env, cs, ns, "coalmine-gateway", []rbacv1.PolicyRule{{APIGroups: []string{""},
		Resources: []string{"configmaps"}, ResourceNames: []string{fleetState}, Verbs: []string{"get", "list", "watch", "update"}}})
	f := &fleetFixture{cs: cs, ns: ns, bin: bin}
	dir := t.TempDir()
	for i := range 3 {
		tp, ap := testenv.FreePort(t), testenv.FreePort(t)
		cfg := filepath.Join(dir, fmt.Sprintf("gateway-%d.yaml", i))
		if err := os.WriteFile(cfg, fmt.Appendf(nil, `listen: 127.0.0.1:%d
admin: {listen: "127.0.0.1:%d"}
state: {kubernetes: {namespace: %s, name: %s, kubeconfig: %s}}
%s`, tp, ap, ns, fleetState, kubeconfig, routes), 0o600); err != nil {
			t.Fatal(err)
		}
		r := &replicaProc{t: t, bin: bin, config: cfg, admin: fmt.Sprintf("http://127.0.0.1:%d", ap), traffic: fmt.Sprintf("http://127.0.0.1:%d", tp)}
		r.start()
		f.replicas = append(f.replicas, r)
	}
	for _, r := range f.replicas {
		t.Logf("replica %s ready in %v", r.admin, r.waitReady().Round(time.Millisecond))
	}
	return f
}

func (f *fleetFixture) adminURLs() []string {
	var out []string
	for _, r := range f.replicas {
		out = append(out, r.admin)
	}
	return out
}

// okServer answers every request with 200 and an empty JSON object.
func okServer(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// TestGatewayFleet drives a rollout's traffic and measurements through
// three gateway processes that share their route state: the router
// confirms each change on every replica, the provider's sums equal the
// client's counts across a kill -9 and restart, a restarted empty replica
// serves the current split as soon as it is ready, and after promotion
// three restarted replicas serve the promoted version.
func TestGatewayFleet(t *testing.T) {
	f := startFleet(t)
	ctx := context.Background()
	getenv := func(k string) string { return map[string]string{"GW_TOKEN": fleetToken}[k] }
	gt := &traffic.GatewayTraffic{URL: f.replicas[0].admin, Route: "voice", TokenEnv: "GW_TOKEN",
		Replicas: &plans.GatewayReplicas{URLs: f.adminURLs(), ConfirmTimeout: plans.Duration{Duration: 3 * time.Second}}}
	router, err := traffic.NewRegistry(traffic.Deps{Getenv: getenv}).Router(ctx, api.TrafficInput{
		Traffic: plans.Traffic{Router: plans.RouterGateway, Block: gt},
		Target:  api.Target{App: "voice", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	provider := metrics.NewGateway(metrics.Options{Getenv: getenv})
	q := api.Query{App: "voice", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"},
		Traffic: plans.Traffic{Router: plans.RouterGateway, Block: gt},
		Metric: plans.Metric{Name: "errors", Interval: plans.Duration{Duration: time.Minute},
			Provider:   plans.Provider{Block: &metrics.GatewayProvider{Stat: plans.StatErrorRate}},
			Sequential: &plans.Sequential{WorseWhen: plans.WorseHigher, Alpha: 0.05, MinEffect: 0.2}}}
	client := map[string]uint64{}
	// look measures until the provider's sums equal the client's counts: a
	// replica counts a request when its handler returns, which may be just
	// after the client has read the whole answer, so the sums may trail by
	// the last requests for a moment (a real rollout's next look has them).
	look := func(when string) {
		t.Helper()
		var got [2]uint64
		for deadline := time.Now().Add(10 * time.Second); ; {
			res, err := provider.Measure(ctx, q)
			if err != nil {
				t.Fatalf("look %s: %v", when, err)
			}
			var st struct{ Sequential *analysis.SequentialState }
			if err := json.Unmarshal(res.State, &st); err != nil || st.Sequential == nil {
				t.Fatalf("look %s: state %s: %v", when, res.State, err)
			}
			got = [2]uint64{uint64(st.Sequential.PrevStable.Count), uint64(st.Sequential.PrevCanary.Count)}
			if got == [2]uint64{client["v1"], client["v2"]} {
				q.State = res.State
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("look %s: the provider counts stable %d, canary %d for 10 s; the client sent %d and %d", when, got[0], got[1], client["v1"], client["v2"])
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("look %s: provider sums equal the client's counts (stable %d, canary %d)", when, client["v1"], client["v2"])
	}

	if err := router.SetWeight(ctx, 50); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.replicas {
		r.send(60, client)
	}
	look("at 50%")

	victim := f.replicas[2]
	victim.kill()
	err = router.SetWeight(ctx, 100)
	if err == nil || !strings.Contains(err.Error(), victim.admin+" (unreachable") {
		t.Fatalf("a change with one listed replica down: %v, want an error naming %s", err, victim.admin)
	}
	t.Logf("with a replica down the change fails, naming it: %v", err)
	victim.start()
	ready := victim.waitReady()
	want := f.replicas[0].route()
	if got := victim.route(); got.Generation != want.Generation || got.CanaryWeightBP != 10000 {
		t.Fatalf("restarted replica at generation %d, %d bp when ready; want %d, 10000", got.Generation, got.CanaryWeightBP, want.Generation)
	}
	counts := map[string]uint64{}
	victim.send(10, counts)
	if counts["v2"] != 10 {
		t.Fatalf("restarted replica served %v at 100%% canary", counts)
	}
	addAll := func(dst, src map[string]uint64) {
		for k, v := range src {
			dst[k] += v
		}
	}
	addAll(client, counts)
	t.Logf("a replica restarted empty was ready with the current split in %v", ready.Round(time.Millisecond))
	if err := router.SetWeight(ctx, 100); err != nil {
		t.Fatalf("the retried change: %v", err)
	}
	for _, r := range f.replicas {
		r.send(40, client)
	}
	look("after kill -9 and restart of one replica")

	lags := make([]time.Duration, 0, 100)
	for i := range 100 {
		start := time.Now()
		if err := router.SetWeight(ctx, float64(1+i%99)); err != nil {
			t.Fatal(err)
		}
		lags = append(lags, time.Since(start))
	}
	slices.Sort(lags)
	t.Logf("router write to all three replicas confirmed: p50 %v, max %v over 100 writes", lags[50].Round(time.Millisecond), lags[99].Round(time.Millisecond))

	if err := router.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.replicas {
		r.kill()
	}
	for _, r := range f.replicas {
		r.start()
	}
	for _, r := range f.replicas {
		r.waitReady()
		if st := r.route(); st.Stable.Version != "v2" || st.Canary != nil {
			t.Fatalf("%s after promotion and a restart: stable %s, canary %v", r.admin, st.Stable.Version, st.Canary)
		}
		served := map[string]uint64{}
		r.send(5, served)
		if served["v2"] != 5 {
			t.Fatalf("%s after promotion and a restart served %v", r.admin, served)
		}
	}
}
