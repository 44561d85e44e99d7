//go:build k8s

package releases

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/tests/k8s/kubetest"
	"github.com/coalmine-dev/coalmine/workflows"
)

// TestClusterCanary looks for the canary of httproute, virtualservice and
// replicas plans on a kwok cluster whose controllers really run the
// canary's pods, before and after the canary Deployment is deleted.
func TestClusterCanary(t *testing.T) {
	c := kubetest.Kwok(t)
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	k := traffic.Kube{Typed: c.Client, Dynamic: dyn}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := kubetest.NamespaceName(t)
	createCanaryWorld(ctx, t, k, ns)

	input := func(tr plans.Traffic) workflows.Input {
		return workflows.Input{Plan: plans.RolloutPlan{Spec: plans.Spec{App: "voice-agent", Traffic: tr}}, Canary: api.Version{Name: "v2"}}
	}
	route := func(svc string) plans.Traffic {
		return plans.Traffic{Router: plans.RouterHTTPRoute, Block: &traffic.HTTPRouteTraffic{Namespace: ns, Name: "r", StableService: "voice-agent", CanaryService: svc}}
	}
	vs := func(v traffic.VirtualServiceTraffic) plans.Traffic {
		v.Namespace, v.Name = ns, "vs"
		return plans.Traffic{Router: plans.RouterVirtualService, Block: &v}
	}
	replicas := plans.Traffic{Router: plans.RouterReplicas, Block: &traffic.ReplicasTraffic{Namespace: ns, StableDeployment: "voice-agent"}}
	tests := []struct {
		name    string
		traffic plans.Traffic
		want    string // in how, or in the error when gone
		gone    bool
	}{
		{"httproute", route("voice-agent-canary"), "Service " + ns + "/voice-agent-canary selects 1 ready pods", false},
		{"httproute without its Service", route("voice-agent-next"), "Service " + ns + "/voice-agent-next is gone", true},
		{"virtualservice host", vs(traffic.VirtualServiceTraffic{StableHost: "voice-agent", CanaryHost: "voice-agent-canary"}), "selects 1 ready pods", false},
		{"virtualservice FQDN", vs(traffic.VirtualServiceTraffic{StableHost: "voice-agent", CanaryHost: "voice-agent-canary." + ns + ".svc.cluster.local"}), "selects 1 ready pods", false},
		{"virtualservice subset", vs(traffic.VirtualServiceTraffic{StableHost: "voice-agent", StableSubset: "stable", CanarySubset: "canary"}), "subset canary: Service " + ns + "/voice-agent selects 1 ready pods", false},
		{"virtualservice unknown subset", vs(traffic.VirtualServiceTraffic{StableHost: "voice-agent", StableSubset: "stable", CanarySubset: "v9"}), "has a subset v9 for host voice-agent", true},
		{"virtualservice outside host", vs(traffic.VirtualServiceTraffic{StableHost: "api.example.com", CanaryHost: "canary.api.example.com"}), "", false},
		{"replicas", replicas, "Deployment " + ns + "/voice-agent-canary exists (1 replicas now", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			how, err := ClusterCanary(ctx, input(tt.traffic), traffic.StaticKube(k))
			check(t, how, err, tt.want, tt.gone)
		})
	}

	if err := c.Client.AppsV1().Deployments(ns).Delete(ctx, "voice-agent-canary", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Run("replicas after the canary is deleted", func(t *testing.T) {
		how, err := ClusterCanary(ctx, input(replicas), traffic.StaticKube(k))
		check(t, how, err, "Deployment "+ns+"/voice-agent-canary is gone", true)
	})
	t.Run("httproute once the canary's pods are gone", func(t *testing.T) {
		for {
			how, err := ClusterCanary(ctx, input(route("voice-agent-canary")), traffic.StaticKube(k))
			if errors.Is(err, ErrCanaryGone) {
				check(t, how, err, "selects no ready pod", true)
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("the canary's pods never went: %s %v", how, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	t.Run("no cluster", func(t *testing.T) {
		_, err := ClusterCanary(ctx, input(replicas), func() (traffic.Kube, error) { return traffic.Kube{}, errors.New("no kubeconfig") })
		if err == nil || errors.Is(err, ErrCanaryGone) || !strings.Contains(err.Error(), "give --kubeconfig or --context") {
			t.Errorf("got %v, want a sentence that names the flags", err)
		}
	})
}

func check(t *testing.T, how string, err error, want string, gone bool) {
	t.Helper()
	switch {
	case gone && (!errors.Is(err, ErrCanaryGone) || !strings.Contains(err.Error(), want)):
		t.Errorf("got %q, %v; want ErrCanaryGone with %q", how, err, want)
	case !gone && (err != nil || !strings.Contains(how, want)):
		t.Errorf("got %q, %v; want %q", how, err, want)
	}
}

// createCanaryWorld makes the namespace with a stable and a canary
// Deployment of one pod each, a Service per version and one for both, and
// a DestinationRule with a subset per track; it waits for the pods.
func createCanaryWorld(ctx context.Context, t *testing.T, k traffic.Kube, ns string) {
	t.Helper()
	if _, err := k.Typed.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	one := int32(1)
	for _, track := range []string{"stable", "canary"} {
		name := map[string]string{"stable": "voice-agent", "canary": "voice-agent-canary"}[track]
		l := map[string]string{"app": "voice-agent", "track": track}
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: l},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "voice-agent:" + track}}}}}}
		if _, err := k.Typed.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for name, sel := range map[string]map[string]string{
		"voice-agent":        {"app": "voice-agent"},
		"voice-agent-canary": {"app": "voice-agent", "track": "canary"},
	} {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{{Port: 80}}}}
		if _, err := k.Typed.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	dr := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
		"metadata": map[string]any{"name": "voice-agent", "namespace": ns},
		"spec": map[string]any{"host": "voice-agent", "subsets": []any{
			map[string]any{"name": "stable", "labels": map[string]any{"track": "stable"}},
			map[string]any{"name": "canary", "labels": map[string]any{"track": "canary"}},
		}},
	}}
	if _, err := k.Dynamic.Resource(destinationRules()).Namespace(ns).Create(ctx, dr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		pods, err := k.Typed.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		ready := 0
		for _, p := range pods.Items {
			if podReady(p) {
				ready++
			}
		}
		if err == nil && ready == 2 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("pods not ready: %d of 2 (%v)", ready, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
