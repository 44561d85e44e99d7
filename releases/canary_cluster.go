package releases

import (
	"context"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/workflows"
)

// ClusterCanary says whether the canary of a plan whose router lives in
// Kubernetes (httproute, virtualservice, replicas) and that has no
// workload still exists, and how it was told:
//   - httproute: the canaryService Service selects ready pods;
//   - virtualservice: the canaryHost's Service selects ready pods, or, with
//     subsets, the stableHost's Service does with the labels of the
//     canarySubset in the host's DestinationRule;
//   - replicas: the canary Deployment exists (its replica count is the
//     router's to set, 0 after a rollback).
//
// A gone canary is ErrCanaryGone (wrapped). Other plans, and a host that
// is no Service of the cluster, give "" and no error.
func ClusterCanary(ctx context.Context, in workflows.Input, kube traffic.KubeFactory) (string, error) {
	t := in.Plan.Spec.Traffic
	if in.Plan.Spec.Workload != nil {
		return "", nil
	}
	var check func(context.Context, traffic.Kube) (string, error)
	switch b := t.Block.(type) {
	case *traffic.HTTPRouteTraffic:
		check = func(ctx context.Context, k traffic.Kube) (string, error) {
			return serviceReady(ctx, k, namespace(b.Namespace), b.CanaryService, nil)
		}
	case *traffic.VirtualServiceTraffic:
		check = virtualServiceCanary(b)
	case *traffic.ReplicasTraffic:
		check = replicasCanary(b)
	default:
		return "", nil
	}
	if check == nil {
		return "", nil
	}
	k, err := kube()
	if err != nil {
		return "", fmt.Errorf("retry looks for canary %s on the cluster of the %s router and cannot reach it: %w; give --kubeconfig or --context", in.Canary.Name, t.Router, err)
	}
	how, err := check(ctx, k)
	if err != nil {
		return "", fmt.Errorf("canary %s: %w", in.Canary.Name, err)
	}
	return how, nil
}

// namespace is ns, or the default namespace.
func namespace(ns string) string {
	if ns == "" {
		return plans.DefaultNamespace
	}
	return ns
}

// replicasCanary checks that the canary Deployment exists.
func replicasCanary(r *traffic.ReplicasTraffic) func(context.Context, traffic.Kube) (string, error) {
	return func(ctx context.Context, k traffic.Kube) (string, error) {
		ns, name := namespace(r.Namespace), r.CanaryDeployment
		if name == "" {
			name = r.StableDeployment + "-canary"
		}
		d, err := k.Typed.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("%w: Deployment %s/%s is gone", ErrCanaryGone, ns, name)
		}
		if err != nil {
			return "", fmt.Errorf("read Deployment %s/%s: %w", ns, name, err)
		}
		replicas := int32(1)
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		return fmt.Sprintf("Deployment %s/%s exists (%d replicas now; the replicas router scales it)", ns, name, replicas), nil
	}
}

// virtualServiceCanary checks the canary destination: its host's Service,
// or the stable host's Service with the canary subset's labels. A host
// that names no Service of the cluster gives nil: nothing to check.
func virtualServiceCanary(v *traffic.VirtualServiceTraffic) func(context.Context, traffic.Kube) (string, error) {
	host := v.CanaryHost
	if v.CanarySubset != "" && host == "" {
		host = v.StableHost
	}
	svc, ns, ok := serviceOfHost(host, namespace(v.Namespace))
	if !ok {
		return nil
	}
	if v.CanarySubset == "" {
		return func(ctx context.Context, k traffic.Kube) (string, error) {
			return serviceReady(ctx, k, ns, svc, nil)
		}
	}
	return func(ctx context.Context, k traffic.Kube) (string, error) {
		subset, err := subsetLabels(ctx, k, ns, host, v.CanarySubset)
		if err != nil {
			return "", err
		}
		how, err := serviceReady(ctx, k, ns, svc, subset)
		if err != nil {
			return "", fmt.Errorf("subset %s: %w", v.CanarySubset, err)
		}
		return "subset " + v.CanarySubset + ": " + how, nil
	}
}

// serviceOfHost reads a mesh host as a Service: name, name.namespace, or
// name.namespace.svc[.cluster.local]; ok is false for any other host.
func serviceOfHost(host, defaultNS string) (name, ns string, ok bool) {
	parts := strings.Split(host, ".")
	switch {
	case host == "":
		return "", "", false
	case len(parts) == 1:
		return host, defaultNS, true
	case len(parts) == 2, strings.HasSuffix(host, ".svc"), strings.HasSuffix(host, ".svc.cluster.local"):
		return parts[0], parts[1], true
	}
	return "", "", false
}

// serviceReady checks that the Service exists and selects at least one
// ready pod; extra labels narrow its selector (a subset).
func serviceReady(ctx context.Context, k traffic.Kube, ns, name string, extra map[string]string) (string, error) {
	svc, err := k.Typed.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("%w: Service %s/%s is gone", ErrCanaryGone, ns, name)
	}
	if err != nil {
		return "", fmt.Errorf("read Service %s/%s: %w", ns, name, err)
	}
	if len(svc.Spec.Selector) == 0 {
		return fmt.Sprintf("Service %s/%s exists (it has no selector, so its pods cannot be counted)", ns, name), nil
	}
	sel := maps.Clone(svc.Spec.Selector)
	maps.Copy(sel, extra)
	pods, err := k.Typed.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(sel).String()})
	if err != nil {
		return "", fmt.Errorf("list the pods of Service %s/%s: %w", ns, name, err)
	}
	ready := 0
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && podReady(p) {
			ready++
		}
	}
	if ready == 0 {
		return "", fmt.Errorf("%w: Service %s/%s selects no ready pod (%s)", ErrCanaryGone, ns, name, labels.SelectorFromSet(sel))
	}
	return fmt.Sprintf("Service %s/%s selects %d ready pods", ns, name, ready), nil
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// destinationRules is Istio's DestinationRule resource.
func destinationRules() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}
}

// subsetLabels finds the labels of subset in the DestinationRule of host.
func subsetLabels(ctx context.Context, k traffic.Kube, ns, host, subset string) (map[string]string, error) {
	list, err := k.Dynamic.Resource(destinationRules()).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list the DestinationRules in %s: %w", ns, err)
	}
	short, _, _ := strings.Cut(host, ".")
	for _, dr := range list.Items {
		h, _, _ := unstructured.NestedString(dr.Object, "spec", "host")
		if hs, _, _ := strings.Cut(h, "."); h != host && hs != short {
			continue
		}
		subsets, _, _ := unstructured.NestedSlice(dr.Object, "spec", "subsets")
		for _, s := range subsets {
			m, _ := s.(map[string]any)
			if name, _ := m["name"].(string); name == subset {
				l, _, _ := unstructured.NestedStringMap(m, "labels")
				return l, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: no DestinationRule in %s has a subset %s for host %s", ErrCanaryGone, ns, subset, host)
}
