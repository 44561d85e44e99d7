//go:build k8s

package traffic

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/tests/k8s/kubetest"
)

// TestKubeRouters runs the cluster routers against a real API server with
// the Gateway API and Istio CRDs: one server for all subtests, one
// namespace per subtest.
func TestKubeRouters(t *testing.T) {
	cfg := kubetest.APIServer(t)
	k, err := NewKube(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := func(t *testing.T) string {
		t.Helper()
		name := kubetest.NamespaceName(t)
		_, err := k.Typed.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return name
	}
	t.Run("httproute", func(t *testing.T) { testHTTPRoute(t, cfg, k, ns) })
	t.Run("virtualservice", func(t *testing.T) { testVirtualService(t, cfg, k, ns) })
	t.Run("replicas", func(t *testing.T) { testReplicas(t, cfg, k, ns) })
}

const httpRouteYAML = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: voice-agent}
spec:
  parentRefs: [{name: gw}]
  rules:
  - name: primary
    matches: [{path: {type: PathPrefix, value: /v1}}]
    backendRefs:
    - {name: voice-agent, port: 8080, weight: 100}
    - {name: voice-agent-canary, port: 8080, weight: 0}
  - name: admin
    matches: [{path: {type: PathPrefix, value: /admin}}]
    backendRefs:
    - {name: voice-agent-admin, port: 9090}
`

const virtualServiceYAML = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: voice-agent}
spec:
  hosts: [voice-agent]
  http:
  - name: admin
    match: [{uri: {prefix: /admin}}]
    route: [{destination: {host: voice-agent-admin}}]
  - name: primary
    match: [{uri: {prefix: /v1}}]
    route:
    - {destination: {host: voice-agent, subset: stable, port: {number: 8080}}, weight: 100}
    - {destination: {host: voice-agent, subset: canary, port: {number: 8080}}, weight: 0}
`

// create makes an object from YAML in namespace ns.
func create(t *testing.T, k Kube, gvr schema.GroupVersionResource, ns, doc string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	obj, err := k.Dynamic.Resource(gvr).Namespace(ns).Create(context.Background(), &unstructured.Unstructured{Object: m}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create %s: %v", gvr.Resource, err)
	}
	return obj
}

func get(t *testing.T, k Kube, gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	t.Helper()
	obj, err := k.Dynamic.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

// entries returns spec.<field> as maps by name.
func entries(t *testing.T, obj *unstructured.Unstructured, field string) (map[string]map[string]any, []string) {
	t.Helper()
	list, _, _ := unstructured.NestedSlice(obj.Object, "spec", field)
	byName := map[string]map[string]any{}
	var order []string
	for _, e := range list {
		m := asMap(e)
		byName[str(m, "name")] = m
		order = append(order, str(m, "name"))
	}
	return byName, order
}

// weights returns the weight per backendRef name (HTTPRoute) or subset (VirtualService).
func weights(entry map[string]any, list, key string) map[string]int64 {
	out := map[string]int64{}
	for _, b := range asList(entry[list]) {
		m := asMap(b)
		name := str(m, "name")
		if key == "subset" {
			name = str(asMap(m["destination"]), "subset")
		}
		w, _ := num(m["weight"])
		out[name] = int64(w)
	}
	return out
}

func build(t *testing.T, in api.TrafficInput, k Kube) api.Router {
	t.Helper()
	r, err := NewRegistry(Deps{Kube: StaticKube(k)}).Router(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var segments = []plans.Segment{
	{Name: "internal", Header: &plans.HeaderMatch{Name: "x-cohort", Value: "internal"}},
	{Name: "pilots", Users: []string{"ann", "bob"}},
}

func target() api.Target {
	return api.Target{App: "voice-agent", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"}}
}

func testHTTPRoute(t *testing.T, cfg *rest.Config, k Kube, newNS func(*testing.T) string) {
	ctx := context.Background()
	gvr := httpRoutes()
	input := func(ns, rule, canary string) api.TrafficInput {
		return api.TrafficInput{Target: target(), Segments: segments, Traffic: plans.Traffic{Router: NameHTTPRoute, Block: &HTTPRouteTraffic{
			Namespace: ns, Name: "voice-agent", Rule: rule, StableService: "voice-agent", CanaryService: canary}}}
	}

	t.Run("weights", func(t *testing.T) {
		ns := newNS(t)
		create(t, k, gvr, ns, httpRouteYAML)
		admin := func() map[string]any {
			r, _ := entries(t, get(t, k, gvr, ns, "voice-agent"), "rules")
			return r["admin"]
		}
		adminBefore := admin()
		r := build(t, input(ns, "primary", "voice-agent-canary"), k)
		for _, w := range []float64{0, 5, 25, 50, 100, 0, 2.5} {
			if err := r.SetWeight(ctx, w); err != nil {
				t.Fatalf("set %v: %v", w, err)
			}
			st, err := r.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.CanaryWeight != w {
				t.Errorf("after setting %v the route reads %v", w, st.CanaryWeight)
			}
			rules, _ := entries(t, get(t, k, gvr, ns, "voice-agent"), "rules")
			ws := weights(rules["primary"], "backendRefs", "name")
			s, c := weightPair(w)
			if ws["voice-agent"] != s || ws["voice-agent-canary"] != c {
				t.Errorf("weight %v: backendRefs have %v", w, ws)
			}
		}
		if got := admin(); !equalJSON(got, adminBefore) {
			t.Errorf("the admin rule changed: %v, was %v", got, adminBefore)
		}
	})

	t.Run("idempotent", func(t *testing.T) {
		ns := newNS(t)
		create(t, k, gvr, ns, httpRouteYAML)
		r := build(t, input(ns, "primary", "voice-agent-canary"), k)
		ops := []func() error{
			func() error { return r.SetWeight(ctx, 25) },
			func() error { return r.SetSegmentWeight(ctx, segments[0], 50) },
			func() error { return r.SetShadow(ctx, 10) },
			func() error { return r.Reset(ctx) },
		}
		for i, op := range ops {
			if err := op(); err != nil {
				t.Fatal(err)
			}
			rv := get(t, k, gvr, ns, "voice-agent").GetResourceVersion()
			if err := op(); err != nil {
				t.Fatal(err)
			}
			if again := get(t, k, gvr, ns, "voice-agent").GetResourceVersion(); again != rv {
				t.Errorf("op %d a second time changed resourceVersion %s to %s", i, rv, again)
			}
		}
	})

	t.Run("segments and shadow", func(t *testing.T) {
		ns := newNS(t)
		create(t, k, gvr, ns, httpRouteYAML)
		r := build(t, input(ns, "primary", "voice-agent-canary"), k)
		if err := r.SetWeight(ctx, 5); err != nil {
			t.Fatal(err)
		}
		if err := r.SetSegmentWeight(ctx, segments[0], 100); err != nil {
			t.Fatal(err)
		}
		if err := r.SetSegmentWeight(ctx, segments[1], 50); err != nil {
			t.Fatal(err)
		}
		if err := r.SetShadow(ctx, 20); err != nil {
			t.Fatal(err)
		}
		obj := get(t, k, gvr, ns, "voice-agent")
		rules, order := entries(t, obj, "rules")
		if want := "coalmine-segment-internal,coalmine-segment-pilots,primary,admin"; strings.Join(order, ",") != want {
			t.Errorf("rules in order %v, want %s", order, want)
		}
		pil := rules["coalmine-segment-pilots"]
		if m := asList(pil["matches"]); len(m) != 2 {
			t.Errorf("pilots rule has %d matches, want one per user: %v", len(m), m)
		} else {
			first := asMap(m[0])
			if p := asMap(first["path"]); str(p, "value") != "/v1" {
				t.Errorf("pilots match lost the rule's path: %v", first)
			}
			if h := asMap(asList(first["headers"])[0]); str(h, "name") != "x-user-id" || str(h, "value") != "ann" {
				t.Errorf("pilots match header %v", h)
			}
		}
		if ws := weights(pil, "backendRefs", "name"); ws["voice-agent-canary"] != 50 || ws["voice-agent"] != 50 {
			t.Errorf("pilots weights %v", ws)
		}
		f := asList(rules["primary"]["filters"])
		if len(f) != 1 || str(asMap(f[0]), "type") != "RequestMirror" {
			t.Fatalf("primary filters %v", f)
		}
		if p, _ := num(asMap(asMap(f[0])["requestMirror"])["percent"]); p != 20 {
			t.Errorf("mirror percent %v", p)
		}
		st, err := r.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.CanaryWeight != 5 || st.ShadowPercent != 20 || st.SegmentWeights["internal"] != 100 || st.SegmentWeights["pilots"] != 50 {
			t.Errorf("read %+v", st)
		}
		if err := r.SetShadow(ctx, 0.5); err != nil {
			t.Fatal(err)
		}
		if st, _ := r.Read(ctx); st.ShadowPercent != 0.5 {
			t.Errorf("shadow 0.5 reads %v", st.ShadowPercent)
		}
		if err := r.Promote(ctx); err != nil {
			t.Fatal(err)
		}
		rules, order = entries(t, get(t, k, gvr, ns, "voice-agent"), "rules")
		if strings.Join(order, ",") != "primary,admin" {
			t.Errorf("after promote rules are %v", order)
		}
		if f := rules["primary"]["filters"]; f != nil {
			t.Errorf("after promote filters %v", f)
		}
		if ws := weights(rules["primary"], "backendRefs", "name"); ws["voice-agent"] != 100 || ws["voice-agent-canary"] != 0 {
			t.Errorf("after promote weights %v", ws)
		}
	})

	t.Run("foreign rules and filters are kept", func(t *testing.T) {
		ns := newNS(t)
		create(t, k, gvr, ns, `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: voice-agent}
spec:
  rules:
  - backendRefs:
    - {name: voice-agent, port: 8080, weight: 1}
    - {name: voice-agent-canary, port: 8080, weight: 0}
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-env, value: prod}]}
`)
		r := build(t, input(ns, "", "voice-agent-canary"), k)
		for _, op := range []func() error{
			func() error { return r.SetShadow(ctx, 30) },
			func() error { return r.SetSegmentWeight(ctx, segments[0], 10) },
			func() error { return r.Reset(ctx) },
		} {
			if err := op(); err != nil {
				t.Fatal(err)
			}
		}
		list, _, _ := unstructured.NestedSlice(get(t, k, gvr, ns, "voice-agent").Object, "spec", "rules")
		if len(list) != 1 {
			t.Fatalf("rules %v", list)
		}
		f := asList(asMap(list[0])["filters"])
		if len(f) != 1 || str(asMap(f[0]), "type") != "RequestHeaderModifier" {
			t.Errorf("filters after reset %v", f)
		}
	})

	t.Run("concurrent writer", func(t *testing.T) {
		ns := newNS(t)
		create(t, k, gvr, ns, httpRouteYAML)
		kr, raced := racing(t, cfg, func(ctx context.Context) error {
			obj := get(t, k, gvr, ns, "voice-agent")
			obj.SetLabels(map[string]string{"team": "voice"})
			_, err := k.Dynamic.Resource(gvr).Namespace(ns).Update(ctx, obj, metav1.UpdateOptions{})
			return err
		})
		r := build(t, input(ns, "primary", "voice-agent-canary"), kr)
		if err := r.SetWeight(ctx, 50); err != nil {
			t.Fatal(err)
		}
		if raced.Load() < 2 {
			t.Errorf("coalmine wrote %d time(s); the conflict should have made it write again", raced.Load())
		}
		obj := get(t, k, gvr, ns, "voice-agent")
		if obj.GetLabels()["team"] != "voice" {
			t.Errorf("the other writer's label is gone: %v", obj.GetLabels())
		}
		if st, _ := r.Read(ctx); st.CanaryWeight != 50 {
			t.Errorf("weight %v after the conflict", st.CanaryWeight)
		}
	})

	t.Run("errors", func(t *testing.T) {
		ns := newNS(t)
		create(t, k, gvr, ns, httpRouteYAML)
		cases := []struct {
			name, rule, canary, routeName, want string
		}{
			{"no rule", "main", "voice-agent-canary", "voice-agent", "HTTPRoute " + ns + "/voice-agent has no rule named main (rules: primary, admin)"},
			{"no backendRef", "primary", "voice-agent-v2", "voice-agent", "backendRef voice-agent-v2 not found in rule primary"},
			{"two rules, none named", "", "voice-agent-canary", "voice-agent", "HTTPRoute " + ns + "/voice-agent has 2 rules; name one with traffic.httproute.rule (rules: primary, admin)"},
			{"no route", "primary", "voice-agent-canary", "nope", "HTTPRoute " + ns + "/nope not found"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				in := input(ns, c.rule, c.canary)
				in.Traffic.Block.(*HTTPRouteTraffic).Name = c.routeName
				r := build(t, in, k)
				err := r.SetWeight(ctx, 5)
				if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, api.ErrInvalidConfig) {
					t.Errorf("got %v, want an invalid-config error saying %q", err, c.want)
				}
				if _, err := r.Read(ctx); err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("read: got %v, want %q", err, c.want)
				}
			})
		}
	})

	t.Run("lands within a second", func(t *testing.T) {
		ns := newNS(t)
		create(t, k, gvr, ns, httpRouteYAML)
		r := build(t, input(ns, "primary", "voice-agent-canary"), k)
		w, err := k.Dynamic.Resource(gvr).Namespace(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=voice-agent"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		var worst time.Duration
		for _, weight := range []float64{5, 25, 50, 100, 0} {
			start := time.Now()
			if err := r.SetWeight(ctx, weight); err != nil {
				t.Fatal(err)
			}
			landed := waitWeight(t, w.ResultChan(), weight)
			d := landed.Sub(start)
			worst = max(worst, d)
			if d > time.Second {
				t.Errorf("weight %v reached the API server's watchers %v after the call started", weight, d)
			}
		}
		t.Logf("a weight change lands in the API server (seen by a watch) within %v at worst", worst)
	})
}

// waitWeight waits for a watch event in which the primary rule's canary
// weight is w and returns when it arrived.
func waitWeight(t *testing.T, ch <-chan watch.Event, w float64) time.Time {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("watch closed")
			}
			obj, ok := ev.Object.(*unstructured.Unstructured)
			if !ok || ev.Type != watch.Modified && ev.Type != watch.Added {
				continue
			}
			now := time.Now()
			rules, _, _ := unstructured.NestedSlice(obj.Object, "spec", "rules")
			for _, r := range rules {
				m := asMap(r)
				if str(m, "name") != "primary" {
					continue
				}
				if ws := weights(m, "backendRefs", "name"); share(ws["voice-agent"], ws["voice-agent-canary"]) == w {
					return now
				}
			}
		case <-timeout:
			t.Fatalf("weight %v never seen", w)
		}
	}
}

// racing returns clients whose first write is preceded, just before it
// reaches the server, by other's write to the same object, so that it
// conflicts; the counter counts the writes.
func racing(t *testing.T, cfg *rest.Config, other func(context.Context) error) (Kube, *atomic.Int32) {
	t.Helper()
	var writes atomic.Int32
	c := rest.CopyConfig(cfg)
	c.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodPut && writes.Add(1) == 1 {
				if err := other(req.Context()); err != nil {
					t.Errorf("the other writer: %v", err)
				}
			}
			return rt.RoundTrip(req)
		})
	})
	k, err := NewKube(c)
	if err != nil {
		t.Fatal(err)
	}
	return k, &writes
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func equalJSON(a, b map[string]any) bool {
	x, _ := yaml.Marshal(a)
	y, _ := yaml.Marshal(b)
	return string(x) == string(y)
}

func testVirtualService(t *testing.T, cfg *rest.Config, k Kube, newNS func(*testing.T) string) {
	ctx := context.Background()
	gvr := virtualServices()
	input := func(ns, route, canarySubset string) api.TrafficInput {
		return api.TrafficInput{Target: target(), Segments: segments, Traffic: plans.Traffic{Router: NameVirtualService, Block: &VirtualServiceTraffic{
			Namespace: ns, Name: "voice-agent", Route: route, StableHost: "voice-agent", StableSubset: "stable", CanarySubset: canarySubset}}}
	}
	t.Run("weights, segments, shadow", func(t *testing.T) {
		ns := newNS(t)
		create(t, k, gvr, ns, virtualServiceYAML)
		r := build(t, input(ns, "primary", "canary"), k)
		for _, w := range []float64{0, 5, 25, 50, 100, 0} {
			if err := r.SetWeight(ctx, w); err != nil {
				t.Fatal(err)
			}
			routes, _ := entries(t, get(t, k, gvr, ns, "voice-agent"), "http")
			if ws := weights(routes["primary"], "route", "subset"); ws["stable"] != 100-int64(w) || ws["canary"] != int64(w) {
				t.Errorf("weight %v: destinations %v", w, ws)
			}
			if st, err := r.Read(ctx); err != nil || st.CanaryWeight != w {
				t.Errorf("weight %v reads %+v, %v", w, st, err)
			}
		}
		if err := r.SetWeight(ctx, 2.5); err == nil || !errors.Is(err, api.ErrInvalidConfig) {
			t.Errorf("2.5%% on a VirtualService: %v", err)
		}
		if err := r.SetWeight(ctx, 10); err != nil {
			t.Fatal(err)
		}
		for _, op := range []func() error{
			func() error { return r.SetSegmentWeight(ctx, segments[0], 100) },
			func() error { return r.SetShadow(ctx, 12.5) },
		} {
			if err := op(); err != nil {
				t.Fatal(err)
			}
			rv := get(t, k, gvr, ns, "voice-agent").GetResourceVersion()
			if err := op(); err != nil {
				t.Fatal(err)
			}
			if again := get(t, k, gvr, ns, "voice-agent").GetResourceVersion(); again != rv {
				t.Errorf("a second identical call changed resourceVersion %s to %s", rv, again)
			}
		}
		obj := get(t, k, gvr, ns, "voice-agent")
		routes, order := entries(t, obj, "http")
		if strings.Join(order, ",") != "admin,coalmine-segment-internal,primary" {
			t.Errorf("routes in order %v", order)
		}
		seg := routes["coalmine-segment-internal"]
		m := asMap(asList(seg["match"])[0])
		if h := asMap(asMap(m["headers"])["x-cohort"]); str(h, "exact") != "internal" || str(asMap(m["uri"]), "prefix") != "/v1" {
			t.Errorf("segment match %v", m)
		}
		if mir := asMap(routes["primary"]["mirror"]); str(mir, "subset") != "canary" {
			t.Errorf("mirror %v", mir)
		}
		st, err := r.Read(ctx)
		if err != nil || st.CanaryWeight != 10 || st.ShadowPercent != 12.5 || st.SegmentWeights["internal"] != 100 {
			t.Errorf("read %+v, %v", st, err)
		}
		if err := r.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		routes, order = entries(t, get(t, k, gvr, ns, "voice-agent"), "http")
		if strings.Join(order, ",") != "admin,primary" || routes["primary"]["mirror"] != nil {
			t.Errorf("after reset: %v %v", order, routes["primary"])
		}
	})
	t.Run("concurrent writer", func(t *testing.T) {
		ns := newNS(t)
		create(t, k, gvr, ns, virtualServiceYAML)
		kr, writes := racing(t, cfg, func(ctx context.Context) error {
			obj := get(t, k, gvr, ns, "voice-agent")
			obj.SetAnnotations(map[string]string{"team": "voice"})
			_, err := k.Dynamic.Resource(gvr).Namespace(ns).Update(ctx, obj, metav1.UpdateOptions{})
			return err
		})
		r := build(t, input(ns, "primary", "canary"), kr)
		if err := r.SetWeight(ctx, 25); err != nil {
			t.Fatal(err)
		}
		if writes.Load() < 2 {
			t.Errorf("coalmine wrote %d time(s); the conflict should have made it write again", writes.Load())
		}
		if obj := get(t, k, gvr, ns, "voice-agent"); obj.GetAnnotations()["team"] != "voice" {
			t.Errorf("the other writer's annotation is gone: %v", obj.GetAnnotations())
		}
		if st, _ := r.Read(ctx); st.CanaryWeight != 25 {
			t.Errorf("weight %v after the conflict", st.CanaryWeight)
		}
	})
	t.Run("errors", func(t *testing.T) {
		ns := newNS(t)
		create(t, k, gvr, ns, virtualServiceYAML)
		cases := []struct{ name, route, subset, want string }{
			{"no route", "main", "canary", "VirtualService " + ns + "/voice-agent has no route named main (routes: admin, primary)"},
			{"no destination", "primary", "v2", "destination voice-agent subset v2 not found in route primary"},
			{"two routes", "", "canary", "has 2 routes; name one with traffic.virtualservice.route"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				err := build(t, input(ns, c.route, c.subset), k).SetWeight(ctx, 5)
				if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, api.ErrInvalidConfig) {
					t.Errorf("got %v, want %q", err, c.want)
				}
			})
		}
	})
}

func deployment(ns, name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": "voice-agent", "track": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "voice-agent:v1"}}},
			},
		},
	}
}

func testReplicas(t *testing.T, cfg *rest.Config, k Kube, newNS func(*testing.T) string) {
	ctx := context.Background()
	ns := newNS(t)
	for _, d := range []*appsv1.Deployment{deployment(ns, "voice-agent", 10), deployment(ns, "voice-agent-canary", 0)} {
		if _, err := k.Typed.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	in := api.TrafficInput{Target: target(), Traffic: plans.Traffic{Router: NameReplicas, Block: &ReplicasTraffic{Namespace: ns, StableDeployment: "voice-agent"}}}
	r := build(t, in, k)
	replicas := func(name string) int32 {
		d, err := k.Typed.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *d.Spec.Replicas
	}
	steps := []struct {
		weight         float64
		stable, canary int32
		achieved       float64
	}{
		{0, 10, 0, 0},
		{1, 9, 1, 10},
		{5, 9, 1, 10},
		{25, 7, 3, 30},
		{50, 5, 5, 50},
		{99, 1, 9, 90},
		{100, 0, 10, 100},
		{0, 10, 0, 0},
	}
	for _, s := range steps {
		if err := r.SetWeight(ctx, s.weight); err != nil {
			t.Fatal(err)
		}
		if st, c := replicas("voice-agent"), replicas("voice-agent-canary"); st != s.stable || c != s.canary {
			t.Errorf("weight %v: stable %d canary %d, want %d and %d", s.weight, st, c, s.stable, s.canary)
		}
		st, err := r.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.CanaryWeight != s.weight || st.AchievedWeight == nil || *st.AchievedWeight != s.achieved {
			t.Errorf("weight %v reads %v, achieved %v; want achieved %v", s.weight, st.CanaryWeight, st.AchievedWeight, s.achieved)
		}
		d, _ := k.Typed.AppsV1().Deployments(ns).Get(ctx, "voice-agent-canary", metav1.GetOptions{})
		rv := d.ResourceVersion
		if err := r.SetWeight(ctx, s.weight); err != nil {
			t.Fatal(err)
		}
		d, _ = k.Typed.AppsV1().Deployments(ns).Get(ctx, "voice-agent-canary", metav1.GetOptions{})
		if d.ResourceVersion != rv {
			t.Errorf("weight %v a second time changed the canary's resourceVersion", s.weight)
		}
	}
	if err := r.SetShadow(ctx, 5); !errors.Is(err, api.ErrUnsupported) {
		t.Errorf("shadow on replicas: %v", err)
	}
	if err := r.SetSegmentWeight(ctx, segments[0], 5); !errors.Is(err, api.ErrUnsupported) {
		t.Errorf("segment on replicas: %v", err)
	}
	// Another writer labels the canary Deployment just before coalmine's
	// first write (scaling the canary up): the write conflicts and is
	// retried, the label stays. Without the conflict there are 3 writes
	// (canary scale, stable scale, weight annotation).
	kr, writes := racing(t, cfg, func(ctx context.Context) error {
		d, err := k.Typed.AppsV1().Deployments(ns).Get(ctx, "voice-agent-canary", metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Labels = map[string]string{"team": "voice"}
		_, err = k.Typed.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
		return err
	})
	if err := build(t, in, kr).SetWeight(ctx, 50); err != nil {
		t.Fatal(err)
	}
	if writes.Load() != 4 {
		t.Errorf("coalmine wrote %d time(s), want 4: the conflict should have made it write the canary's scale again", writes.Load())
	}
	if d, _ := k.Typed.AppsV1().Deployments(ns).Get(ctx, "voice-agent-canary", metav1.GetOptions{}); d.Labels["team"] != "voice" || *d.Spec.Replicas != 5 {
		t.Errorf("after the conflict: labels %v, replicas %d", d.Labels, *d.Spec.Replicas)
	}
	in.Traffic.Block.(*ReplicasTraffic).CanaryDeployment = "voice-agent-v2"
	err := build(t, in, k).SetWeight(ctx, 5)
	if want := "Deployment " + ns + "/voice-agent-v2 not found"; err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, api.ErrInvalidConfig) {
		t.Errorf("got %v, want %q", err, want)
	}
}
