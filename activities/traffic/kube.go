package traffic

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// FieldManager names coalmine in the managed fields of what it writes.
const FieldManager = "coalmine"

// OwnedPrefix starts the name of every route rule coalmine creates (the
// rules of segments); rules without it are never changed or removed.
const OwnedPrefix = "coalmine-"

// Kube are the Kubernetes clients of the cluster routers and the workload
// lifecycle.
type Kube struct {
	// Dynamic reads and writes custom resources (HTTPRoute, VirtualService).
	Dynamic dynamic.Interface
	// Typed reads and writes built-in resources (Deployments and their scale).
	Typed kubernetes.Interface
}

// KubeFactory returns the Kubernetes clients, connecting on first use, so a
// worker that never runs a cluster router needs no cluster.
type KubeFactory func() (Kube, error)

// NewKube builds both clients from one REST configuration.
func NewKube(cfg *rest.Config) (Kube, error) {
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return Kube{}, fmt.Errorf("kubernetes dynamic client: %w", err)
	}
	t, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return Kube{}, fmt.Errorf("kubernetes client: %w", err)
	}
	return Kube{Dynamic: d, Typed: t}, nil
}

// LoadKubeConfig finds the cluster: the kubeconfig file and context when
// given, else in-cluster configuration, else the usual kubeconfig rules
// ($KUBECONFIG, ~/.kube/config) with its current context.
func LoadKubeConfig(kubeconfig, kubeContext string) (*rest.Config, error) {
	if kubeconfig == "" && kubeContext == "" {
		if cfg, err := rest.InClusterConfig(); err == nil {
			return cfg, nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes configuration (kubeconfig %q, context %q): %w", kubeconfig, kubeContext, err)
	}
	return cfg, nil
}

// LazyKube returns a KubeFactory that loads the configuration and builds
// the clients once, on first call; a failure is returned on every call.
func LazyKube(kubeconfig, kubeContext string) KubeFactory {
	return sync.OnceValues(func() (Kube, error) {
		cfg, err := LoadKubeConfig(kubeconfig, kubeContext)
		if err != nil {
			return Kube{}, fmt.Errorf("%w: %w", err, api.ErrInvalidConfig)
		}
		cfg.UserAgent = FieldManager
		return NewKube(cfg)
	})
}

// StaticKube is a KubeFactory of clients already built.
func StaticKube(k Kube) KubeFactory { return func() (Kube, error) { return k, nil } }

// kube returns the clients of deps, or why there are none.
func (d Deps) kube(router string) (Kube, error) {
	if d.Kube == nil {
		return Kube{}, fmt.Errorf("%s router: this worker has no Kubernetes access (start it with --kubeconfig, or in a cluster): %w", router, api.ErrInvalidConfig)
	}
	return d.Kube()
}

// resource is one namespaced custom resource that a router changes.
type resource struct {
	client dynamic.NamespaceableResourceInterface
	kind   string // for messages: HTTPRoute
	ns     string
	name   string
}

func newResource(k Kube, gvr schema.GroupVersionResource, kind, ns, name string) resource {
	return resource{client: k.Dynamic.Resource(gvr), kind: kind, ns: ns, name: name}
}

// String names the object as people write it: HTTPRoute ai/voice-agent.
func (r resource) String() string { return r.kind + " " + r.ns + "/" + r.name }

// get reads the object; a missing one is invalid configuration.
func (r resource) get(ctx context.Context) (*unstructured.Unstructured, error) {
	obj, err := r.client.Namespace(r.ns).Get(ctx, r.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%s not found: %w", r, api.ErrInvalidConfig)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", r, err)
	}
	return obj, nil
}

// modify reads the object, lets change edit it, and writes it back with
// the resourceVersion it read, retrying when another writer got there
// first (the change is computed again on the fresh object, so the other
// writer's edits are kept). A change that edits nothing writes nothing.
func (r resource) modify(ctx context.Context, op string, change func(obj *unstructured.Unstructured) error) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj, err := r.get(ctx)
		if err != nil {
			return err
		}
		before := obj.DeepCopy()
		if err := change(obj); err != nil {
			return err
		}
		if equality.Semantic.DeepEqual(before.Object, obj.Object) {
			return nil
		}
		_, err = r.client.Namespace(r.ns).Update(ctx, obj, metav1.UpdateOptions{FieldManager: FieldManager})
		return err
	})
	if err != nil {
		return fmt.Errorf("%s on %s: %w", op, r, classifyKube(err))
	}
	return nil
}

// classifyKube gives an API server error its kind: a forbidden change is
// a refused credential, an invalid one or a missing object a refused
// request; other errors are left to the caller.
func classifyKube(err error) error {
	switch {
	case api.KindOf(err) != nil:
		return err
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w: %w", err, api.ErrRouterAuth)
	case apierrors.IsInvalid(err), apierrors.IsNotFound(err), apierrors.IsBadRequest(err):
		return fmt.Errorf("%w: %w", err, api.ErrRouterRefused)
	}
	return err
}

// checkPercent refuses a share outside 0–100.
func checkPercent(p float64) error {
	if math.IsNaN(p) || p < 0 || p > 100 {
		return fmt.Errorf("percentage %v is outside 0–100: %w", p, api.ErrInvalidConfig)
	}
	return nil
}

// weightPair is the stable and canary weights for a canary share. Whole
// percentages are written as such (95/5); others in basis points
// (9750/250), which every weighted backend list accepts.
func weightPair(percent float64) (stable, canary int64) {
	if percent == math.Trunc(percent) {
		return 100 - int64(percent), int64(percent)
	}
	bp := int64(math.Round(percent * 100))
	return 10000 - bp, bp
}

// share is the canary's percentage of stable+canary weight, two decimals.
func share(stable, canary int64) float64 {
	if stable+canary <= 0 {
		return 0
	}
	return math.Round(float64(canary)*10000/float64(stable+canary)) / 100
}

// The helpers below read and write the generic maps of unstructured
// objects, where JSON numbers are int64 or float64.

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func num(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// deepCopyMap copies a generic map with its nested maps and lists.
func deepCopyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return runtime.DeepCopyJSON(m)
}

// ruleNames lists names for messages; an unnamed entry shows as #<n>.
func ruleNames(items []any, skipOwned bool) []string {
	var names []string
	for i, it := range items {
		n := str(asMap(it), "name")
		if skipOwned && strings.HasPrefix(n, OwnedPrefix) {
			continue
		}
		if n == "" {
			n = fmt.Sprintf("#%d", i+1)
		}
		names = append(names, n)
	}
	return names
}

// pickEntry chooses the rule (HTTPRoute) or route (VirtualService) named
// want among items, or the only one not owned by coalmine when want is
// empty. what names the entries in messages: "rule", "route".
func pickEntry(res resource, items []any, want, what, field string) (int, error) {
	names := ruleNames(items, true)
	if want != "" {
		for i, it := range items {
			if str(asMap(it), "name") == want {
				return i, nil
			}
		}
		return -1, fmt.Errorf("%s has no %s named %s (%ss: %s): %w", res, what, want, what, listOrNone(names), api.ErrInvalidConfig)
	}
	idx := -1
	for i, it := range items {
		if strings.HasPrefix(str(asMap(it), "name"), OwnedPrefix) {
			continue
		}
		if idx >= 0 {
			return -1, fmt.Errorf("%s has %d %ss; name one with %s (%ss: %s): %w", res, len(names), what, field, what, listOrNone(names), api.ErrInvalidConfig)
		}
		idx = i
	}
	if idx < 0 {
		return -1, fmt.Errorf("%s has no %ss: %w", res, what, api.ErrInvalidConfig)
	}
	return idx, nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// label is how an entry is named in messages.
func label(entry map[string]any, idx int) string {
	if n := str(entry, "name"); n != "" {
		return n
	}
	return fmt.Sprintf("#%d", idx+1)
}

// segmentEntryName is the name of the rule or route coalmine owns for a segment.
func segmentEntryName(segment string) string { return OwnedPrefix + "segment-" + segment }

// segmentOf is the segment an owned entry serves, or "".
func segmentOf(entry map[string]any) string {
	n, ok := strings.CutPrefix(str(entry, "name"), OwnedPrefix+"segment-")
	if !ok {
		return ""
	}
	return n
}

// dropOwned removes the entries coalmine created.
func dropOwned(items []any) []any {
	out := make([]any, 0, len(items))
	for _, it := range items {
		if !strings.HasPrefix(str(asMap(it), "name"), OwnedPrefix) {
			out = append(out, it)
		}
	}
	return out
}

// upsertBefore replaces the entry named name, or inserts entry just before
// index at, and returns the new list.
func upsertBefore(items []any, at int, entry map[string]any) []any {
	name := str(entry, "name")
	for i, it := range items {
		if str(asMap(it), "name") == name {
			items[i] = entry
			return items
		}
	}
	out := make([]any, 0, len(items)+1)
	out = append(out, items[:at]...)
	out = append(out, entry)
	return append(out, items[at:]...)
}

// userHeader carries the user id of a request; a users segment matches on it.
const userHeader = "x-user-id"

// segmentHeaders is the header values that put a request in the segment:
// one for a header segment, one per user for a users segment.
func segmentHeaders(seg plans.Segment) ([][2]string, error) {
	switch {
	case seg.Header != nil:
		return [][2]string{{seg.Header.Name, seg.Header.Value}}, nil
	case len(seg.Users) > 0:
		out := make([][2]string, 0, len(seg.Users))
		for _, u := range seg.Users {
			out = append(out, [2]string{userHeader, u})
		}
		return out, nil
	}
	return nil, fmt.Errorf("segment %s has neither header nor users: %w", seg.Name, api.ErrInvalidConfig)
}
