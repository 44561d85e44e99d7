package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
)

// StateConfig says where a fleet of gateway replicas keeps its route state.
// Without a kubernetes block the state is the process's own (stateFile).
type StateConfig struct {
	// Kubernetes names the ConfigMap that every replica shares.
	Kubernetes *KubeStateConfig `yaml:"kubernetes"`
}

// KubeStateConfig names the ConfigMap that holds the admin-set route state
// of every replica. The object must exist (deploy/base/gateway-state.yaml
// creates it empty); the gateway only gets, lists, watches and updates it.
type KubeStateConfig struct {
	// Namespace of the ConfigMap.
	Namespace string `yaml:"namespace"`
	// Name of the ConfigMap.
	Name string `yaml:"name"`
	// Kubeconfig is a kubeconfig file; empty uses client-go's usual rules:
	// $KUBECONFIG or ~/.kube/config when present, else the pod's service
	// account.
	Kubeconfig string `yaml:"kubeconfig"`
}

// KubeStateKey is the ConfigMap key that holds the route state: the same
// JSON document as the state file ({"version": 1, "routes": {...}}).
const KubeStateKey = "state.json"

// kubeWriteTimeout bounds one admin write to the state object, conflicts
// and their retries included.
const kubeWriteTimeout = 10 * time.Second

// kubeApplyWait bounds how long a write waits for this replica's own
// informer to deliver it, so that the write's answer and the replica's
// serving agree.
const kubeApplyWait = 5 * time.Second

func (c *Config) validateState() error {
	k := c.State.Kubernetes
	if k == nil {
		return nil
	}
	if c.StateFile != "" {
		return errors.New("stateFile and state.kubernetes exclude each other: a fleet keeps its state in the Kubernetes object only; remove stateFile")
	}
	if errs := validation.IsDNS1123Label(k.Namespace); k.Namespace == "" || len(errs) > 0 {
		return fmt.Errorf("state.kubernetes.namespace: %q is not a namespace name (a DNS label such as coalmine)", k.Namespace)
	}
	if errs := validation.IsDNS1123Subdomain(k.Name); k.Name == "" || len(errs) > 0 {
		return fmt.Errorf("state.kubernetes.name: %q is not a ConfigMap name (lowercase letters, digits, '-' and '.', such as coalmine-gateway-state)", k.Name)
	}
	return nil
}

// kubeStore keeps the route state of a fleet in one ConfigMap: an informer
// on that one object applies every change to the gateway, and admin writes
// go to the object with optimistic concurrency (its resourceVersion).
type kubeStore struct {
	g        *Gateway
	client   kubernetes.Interface
	ns, name string
	log      *slog.Logger

	writeMu sync.Mutex  // one admin write at a time through this replica
	loaded  atomic.Bool // the object has been read and applied once

	mu      sync.Mutex
	last    *corev1.ConfigMap // the newest version the informer delivered
	applied map[string]bool   // resourceVersions applied lately
	changed chan struct{}     // closed and replaced after every apply
}

// newKubeStore connects to the cluster with client-go's usual loading rules.
func newKubeStore(g *Gateway, cfg *KubeStateConfig) (*kubeStore, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = cfg.Kubeconfig
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("state.kubernetes: no cluster to reach (kubeconfig %q, else $KUBECONFIG, ~/.kube/config or the pod's service account): %w", cfg.Kubeconfig, err)
	}
	// client-go's default of 5 requests a second would hold a rollout's
	// burst of writes (a read and an update each) back.
	rc.QPS, rc.Burst = 50, 100
	client, err := kubernetes.NewForConfig(rest.AddUserAgent(rc, "coalmine-gateway"))
	if err != nil {
		return nil, fmt.Errorf("state.kubernetes: kubernetes client: %w", err)
	}
	return &kubeStore{g: g, client: client, ns: cfg.Namespace, name: cfg.Name, log: g.log,
		applied: map[string]bool{}, changed: make(chan struct{})}, nil
}

// where names the object in messages.
func (k *kubeStore) where() string { return "ConfigMap " + k.ns + "/" + k.name }

// run watches the object until ctx ends. It lists and watches with a field
// selector on metadata.name, which is what RBAC needs to allow list and
// watch restricted by resourceNames.
func (k *kubeStore) run(ctx context.Context) {
	sel := fields.OneTermEqualSelector("metadata.name", k.name).String()
	cms := k.client.CoreV1().ConfigMaps(k.ns)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return cms.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return cms.Watch(ctx, o)
		},
	}
	store, ctrl := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &corev1.ConfigMap{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { k.apply(obj) },
			UpdateFunc: func(_, obj any) { k.apply(obj) },
			DeleteFunc: func(any) {
				k.log.Error("the shared route state object was deleted; serving the last state and refusing admin writes until it is created again", "object", k.where())
			},
		},
	})
	go ctrl.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), ctrl.HasSynced) {
		return
	}
	if len(store.ListKeys()) == 0 {
		k.log.Error("the shared route state object does not exist; the gateway stays unready until it does (create it: kubectl create configmap "+k.name+" -n "+k.ns+")", "object", k.where())
	}
	<-ctx.Done()
}

// apply makes the gateway serve the state in one version of the object. An
// object that does not parse is ignored with an error in the log; the
// replica keeps serving what it had (and stays unready if it had nothing).
func (k *kubeStore) apply(obj any) {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return
	}
	routes, err := decodeKubeState(cm)
	if err != nil {
		k.log.Error("ignored a version of the shared route state", "object", k.where(), "resourceVersion", cm.ResourceVersion, "err", err)
		return
	}
	k.g.applyShared(routes)
	first := !k.loaded.Swap(true)
	if first {
		k.log.Info("route state loaded", "object", k.where(), "resourceVersion", cm.ResourceVersion)
	}
	k.mu.Lock()
	if len(k.applied) > 256 {
		clear(k.applied)
	}
	k.applied[cm.ResourceVersion] = true
	k.last = cm
	close(k.changed)
	k.changed = make(chan struct{})
	k.mu.Unlock()
}

// waitApplied waits until the informer has applied resourceVersion rv, or
// for kubeApplyWait: a watch that was re-listed in between may skip rv and
// deliver a later version instead.
func (k *kubeStore) waitApplied(rv string) {
	timer := time.NewTimer(kubeApplyWait)
	defer timer.Stop()
	for {
		k.mu.Lock()
		done, ch := k.applied[rv], k.changed
		k.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			k.log.Warn("this replica's watch has not delivered its own write yet", "object", k.where(), "resourceVersion", rv)
			return
		}
	}
}

// decodeKubeState reads the route state from the object; a missing key is
// an empty state.
func decodeKubeState(cm *corev1.ConfigMap) (map[string]RouteState, error) {
	data, ok := cm.Data[KubeStateKey]
	if !ok || data == "" {
		return map[string]RouteState{}, nil
	}
	return decodeState([]byte(data), fmt.Sprintf("ConfigMap %s/%s key %s", cm.Namespace, cm.Name, KubeStateKey))
}

// update applies an admin write to the shared object: it reads the object,
// computes the route's next state from the object's (not this replica's)
// current state, checks the generation and writes it back with the
// resourceVersion it read. Losing a race with another replica's write
// re-reads and tries again, so the generation check always runs against
// the newest state: two writes with the same ifGeneration give one 200 and
// one 409.
func (k *kubeStore) update(name string, upd RouteUpdate) (RouteState, int, *ErrorBody) {
	rc := k.g.routeConfig(name)
	if rc == nil {
		return RouteState{}, http.StatusNotFound, &ErrorBody{Error: fmt.Sprintf("unknown route %q", name)}
	}
	k.writeMu.Lock()
	defer k.writeMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), kubeWriteTimeout)
	defer cancel()
	cms := k.client.CoreV1().ConfigMaps(k.ns)
	var (
		out     RouteState
		status  int
		refused *ErrorBody
		rv      string
	)
	cached := true
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := k.current(ctx, cached)
		fromCache := cached
		cached = false
		if err != nil {
			return err
		}
		routes, err := decodeKubeState(cm)
		if err != nil {
			return err
		}
		cur, ok := routes[name]
		if !ok {
			cur = rc.state()
		}
		normalise(&cur, name)
		next, st, fe, changed := nextState(name, cur, upd)
		out, status, refused = next, st, fe
		if !changed && fromCache {
			// A refusal or a no-op is only as good as the copy it was
			// judged on; judge it again on the API server's.
			return apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, k.name, errors.New("judged on the watch's copy"))
		}
		if !changed {
			return nil
		}
		routes[name] = next
		data, err := json.MarshalIndent(stateFile{Version: stateFileVersion, Routes: routes}, "", "  ")
		if err != nil {
			return fmt.Errorf("encode gateway state: %w", err)
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[KubeStateKey] = string(data)
		done, err := cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "coalmine-gateway"})
		if err != nil {
			return err
		}
		rv = done.ResourceVersion
		return nil
	})
	if err != nil {
		k.log.Error("write the shared route state", "object", k.where(), "route", name, "err", err)
		msg := fmt.Sprintf("cannot write the shared route state (%s): %v", k.where(), err)
		if apierrors.IsNotFound(err) {
			msg = fmt.Sprintf("the shared route state object %s does not exist: create it (kubectl create configmap %s -n %s)", k.where(), k.name, k.ns)
		}
		return RouteState{}, http.StatusServiceUnavailable, &ErrorBody{Error: msg}
	}
	if rv != "" {
		k.waitApplied(rv)
		k.g.log.Info("route updated", "route", name, "generation", out.Generation, "stable", out.Stable.Version,
			"canary", canaryName(out), "canaryWeightBP", out.CanaryWeightBP, "shadowBP", out.ShadowBP, "object", k.where())
	}
	if status == http.StatusOK && (upd.DropPins || !hasCanaryTraffic(&out)) {
		k.g.pins[name].reset()
	}
	return out, status, refused
}

// current is the object to compute a write from: the informer's copy on
// the first attempt (a stale copy costs one conflict, never a lost write),
// the API server's after a conflict.
func (k *kubeStore) current(ctx context.Context, cached bool) (*corev1.ConfigMap, error) {
	if cached {
		k.mu.Lock()
		last := k.last
		k.mu.Unlock()
		if last != nil {
			return last.DeepCopy(), nil
		}
	}
	return k.client.CoreV1().ConfigMaps(k.ns).Get(ctx, k.name, metav1.GetOptions{})
}

// applyShared makes the gateway serve the shared object's state: a route
// missing from it takes its initial state from the configuration. Pinned
// sessions are dropped where the canary no longer gets traffic or the
// stable version changed, as the writing replica does.
func (g *Gateway) applyShared(routes map[string]RouteState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	changed := false
	for i := range g.cfg.Routes {
		rc := &g.cfg.Routes[i]
		next, ok := routes[rc.Name]
		if !ok {
			next = rc.state()
		}
		normalise(&next, rc.Name)
		cur := g.states[rc.Name]
		if cur.Generation == next.Generation && sameState(cur, next) {
			continue
		}
		g.states[rc.Name] = next
		if !hasCanaryTraffic(&next) || cur.Stable.Version != next.Stable.Version {
			g.pins[rc.Name].reset()
		}
		changed = true
		g.log.Debug("route state applied", "route", rc.Name, "generation", next.Generation, "canaryWeightBP", next.CanaryWeightBP)
	}
	if changed {
		g.table.Store(g.buildTable())
	}
}

// normalise sets the name and an empty segment list of a stored state.
func normalise(st *RouteState, name string) {
	st.Name = name
	if st.Segments == nil {
		st.Segments = []Segment{}
	}
}

// routeConfig is the configuration of a route, or nil.
func (g *Gateway) routeConfig(name string) *RouteConfig {
	for i := range g.cfg.Routes {
		if g.cfg.Routes[i].Name == name {
			return &g.cfg.Routes[i]
		}
	}
	return nil
}
