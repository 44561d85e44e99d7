//go:build k8s

package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/gateway/gatewaytest"
	"github.com/coalmine-dev/coalmine/tests/k8s/kubetest"
)

const stateObject = "coalmine-gateway-state"

// TestKubeState runs three gateway replicas against a real API server that
// share one ConfigMap, as an ordinary user whose RBAC allows get, list,
// watch and update on that one object only.
func TestKubeState(t *testing.T) {
	env, adminCfg := kubetest.APIServerEnv(t)
	cs := kubernetes.NewForConfigOrDie(adminCfg)
	ns := "gateway-state"
	kubeconfig := stateFixture(t, env, cs, ns)
	stable, canary := versionServer(t, "v1"), versionServer(t, "v2")
	cfgYAML := fmt.Sprintf(`
state: {kubernetes: {namespace: %s, name: %s, kubeconfig: %s}}
routes:
  - name: chat
    stable: {version: v1, url: %s}
    canary: {version: v2, url: %s}
`, ns, stateObject, kubeconfig, stable, canary)
	var fleet []*gatewaytest.Server
	for range 3 {
		fleet = append(fleet, gatewaytest.StartYAML(t, cfgYAML, testToken))
	}
	for _, s := range fleet {
		waitReady(t, s.AdminURL, 30*time.Second)
	}
	ctx := context.Background()

	t.Run("every replica applies a write within a second", func(t *testing.T) {
		cur, err := fleet[0].Client.Route(ctx, "chat")
		if err != nil {
			t.Fatal(err)
		}
		var lags []time.Duration
		for i := range 10 {
			bp := (i + 1) * 1000
			start := time.Now()
			st, err := fleet[i%3].Client.SetRoute(ctx, "chat", gateway.RouteUpdate{IfGeneration: &cur.Generation, CanaryWeightBP: &bp})
			if err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
			if st.Generation != cur.Generation+1 {
				t.Fatalf("write %d: generation %d, want %d", i, st.Generation, cur.Generation+1)
			}
			waitGeneration(t, fleet, st.Generation, time.Second)
			lags = append(lags, time.Since(start))
			cur = st
		}
		sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
		t.Logf("write to all three replicas at the new generation: p50 %v, max %v", lags[len(lags)/2], lags[len(lags)-1])
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, stateObject, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cm.Data[gateway.KubeStateKey] == "" {
			t.Fatalf("the state object has no %s key: %v", gateway.KubeStateKey, cm.Data)
		}
	})

	t.Run("a stale generation is a 409 on every replica", func(t *testing.T) {
		cur, err := fleet[1].Client.Route(ctx, "chat")
		if err != nil {
			t.Fatal(err)
		}
		stale, bp := cur.Generation-1, 4200
		for _, s := range fleet {
			_, err := s.Client.SetRoute(ctx, "chat", gateway.RouteUpdate{IfGeneration: &stale, CanaryWeightBP: &bp})
			if !errors.Is(err, admin.ErrConflict) {
				t.Fatalf("%s: stale write answered %v, want a conflict", s.AdminURL, err)
			}
		}
	})

	t.Run("two replicas racing with one generation: one wins", func(t *testing.T) {
		cur, err := fleet[0].Client.Route(ctx, "chat")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i, s := range fleet {
			wg.Go(func() {
				bp := 100 * (i + 1)
				_, errs[i] = s.Client.SetRoute(ctx, "chat", gateway.RouteUpdate{IfGeneration: &cur.Generation, CanaryWeightBP: &bp})
			})
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, admin.ErrConflict):
				t.Errorf("replica %d: %v", i, err)
			}
		}
		if won != 1 {
			t.Fatalf("%d writes won, want exactly 1: %v", won, errs)
		}
		waitGeneration(t, fleet, cur.Generation+1, time.Second)
	})

	t.Run("a fresh replica serves the shared split before it is ready", func(t *testing.T) {
		cur, err := fleet[0].Client.Route(ctx, "chat")
		if err != nil {
			t.Fatal(err)
		}
		all := 10000
		if _, err := fleet[0].Client.SetRoute(ctx, "chat", gateway.RouteUpdate{IfGeneration: &cur.Generation, CanaryWeightBP: &all}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		fresh := gatewaytest.StartYAML(t, cfgYAML, testToken)
		waitReady(t, fresh.AdminURL, 30*time.Second)
		t.Logf("a fresh replica was ready with the shared state in %v", time.Since(start).Round(time.Millisecond))
		got, err := fresh.Client.Route(ctx, "chat")
		if err != nil {
			t.Fatal(err)
		}
		if got.Generation != cur.Generation+1 || got.CanaryWeightBP != all {
			t.Fatalf("fresh replica at generation %d weight %d, want %d and %d", got.Generation, got.CanaryWeightBP, cur.Generation+1, all)
		}
		for range 5 {
			if v := askVersion(t, fresh.TrafficURL+"/chat/v1/chat/completions"); v != "v2" {
				t.Fatalf("fresh replica served %s at 100%% canary", v)
			}
		}
	})

	t.Run("the RBAC allows that one object only", func(t *testing.T) {
		user := userClient(t, kubeconfig)
		if _, err := user.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("listing every ConfigMap answered %v, want forbidden", err)
		}
		if _, err := user.CoreV1().ConfigMaps(ns).Get(ctx, "other", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("reading another ConfigMap answered %v, want forbidden", err)
		}
		if _, err := user.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + stateObject}); err != nil {
			t.Fatalf("listing the state object by name: %v", err)
		}
	})

	t.Run("without its object a replica stays unready and refuses writes", func(t *testing.T) {
		missing := gatewaytest.StartYAML(t, fmt.Sprintf(`
state: {kubernetes: {namespace: %s, name: not-there, kubeconfig: %s}}
routes:
  - name: chat
    stable: {version: v1, url: %s}
`, ns, kubetest.Kubeconfig(t, adminCfg), stable), testToken)
		time.Sleep(time.Second) // long enough for a list of an existing object
		if code := readyz(t, missing.AdminURL); code != http.StatusServiceUnavailable {
			t.Fatalf("readyz answered %d without the state object, want 503", code)
		}
		zero, bp := int64(0), 100
		_, err := missing.Client.SetRoute(ctx, "chat", gateway.RouteUpdate{IfGeneration: &zero, CanaryWeightBP: &bp})
		var apiErr *admin.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != http.StatusServiceUnavailable {
			t.Fatalf("write without the state object answered %v, want 503", err)
		}
	})
}

// stateFixture creates the namespace, the empty state ConfigMap and the
// gateway's Role on that one object, and returns a kubeconfig of a user
// bound to it.
func stateFixture(t *testing.T, env *envtest.Environment, cs kubernetes.Interface, ns string) string {
	t.Helper()
	ctx := context.Background()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}))
	must(cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: stateObject}}, metav1.CreateOptions{}))
	must(cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "other"}}, metav1.CreateOptions{}))
	return kubetest.UserWithRole(t, env, cs, ns, "coalmine-gateway", []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"},
		ResourceNames: []string{stateObject}, Verbs: []string{"get", "list", "watch", "update"}}})
}

func userClient(t *testing.T, kubeconfig string) kubernetes.Interface {
	t.Helper()
	data, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	return kubernetes.NewForConfigOrDie(cfg)
}

// askVersion sends one chat request and returns the version that served it.
func askVersion(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(chatBody("hi", false, "")))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Version string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %v", url, resp.StatusCode, err)
	}
	return body.Version
}

// waitGeneration waits until every replica reports at least generation gen
// of route chat.
func waitGeneration(t *testing.T, fleet []*gatewaytest.Server, gen int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, s := range fleet {
		for {
			st, err := s.Client.Route(context.Background(), "chat")
			if err == nil && st.Generation >= gen {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s reports generation %d (%v) after %v, want %d", s.AdminURL, st.Generation, err, within, gen)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// waitReady waits for the admin listener's /readyz to answer 200.
func waitReady(t *testing.T, admin string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for readyz(t, admin) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %v", admin, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readyz(t *testing.T, admin string) int {
	t.Helper()
	resp, err := http.Get(admin + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
