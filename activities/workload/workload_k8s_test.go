//go:build k8s

package workload

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/tests/k8s/kubetest"
)

// TestLifecycle runs the canary lifecycle on a kwok cluster, where the
// Deployment and ReplicaSet controllers, the scheduler and kwok's fake
// kubelet really roll Deployments out; no test writes a status.
func TestLifecycle(t *testing.T) {
	c := kubetest.Kwok(t)
	k := c.Client
	m := &Manager{Kube: func() (kubernetes.Interface, error) { return k, nil }}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	target := api.Target{App: "voice-agent", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"}}
	newNS := func(t *testing.T, stable *appsv1.Deployment) string {
		t.Helper()
		name := kubetest.NamespaceName(t)
		if _, err := k.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		stable.Namespace = name
		t.Cleanup(func() {
			if t.Failed() {
				kubetest.Dump(t, k, name)
			}
		})
		if _, err := k.AppsV1().Deployments(name).Create(ctx, stable, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		return name
	}
	deployment := func(t *testing.T, ns, name string) *appsv1.Deployment {
		t.Helper()
		d, err := k.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	t.Run("create, promote, remove", func(t *testing.T) {
		ns := newNS(t, stableDeployment(3))
		w := plans.Workload{Namespace: ns, Deployment: "voice-agent", Container: "agent", Image: "registry.example.com/voice-agent:{{.Canary.Version}}", ProgressDeadline: plans.Seconds(60)}
		in := api.WorkloadInput{Workload: w, Target: target}
		if err := waitRolledOut(ctx, k, ns, "voice-agent", 5*time.Second); err != nil {
			t.Fatalf("the stable Deployment never rolled out: %v", err)
		}

		start := time.Now()
		if err := m.CreateCanary(ctx, in); err != nil {
			t.Fatal(err)
		}
		t.Logf("canary Available in %v", time.Since(start).Round(time.Millisecond))
		canary := deployment(t, ns, "voice-agent-canary")
		if img := canary.Spec.Template.Spec.Containers[0].Image; img != "registry.example.com/voice-agent:v2" {
			t.Errorf("canary image %s", img)
		}
		if canary.Status.AvailableReplicas != 3 || canary.Labels[ManagedByLabel] != ManagedBy {
			t.Errorf("canary available %d, labels %v", canary.Status.AvailableReplicas, canary.Labels)
		}
		pods, err := k.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: VersionLabel + "=v2," + TrackLabel + "=canary"})
		if err != nil || len(pods.Items) != 3 {
			t.Errorf("canary pods with the version label: %d, %v", len(pods.Items), err)
		}
		if err := m.CreateCanary(ctx, in); err != nil {
			t.Fatal(err)
		}
		if again := deployment(t, ns, "voice-agent-canary"); again.ResourceVersion != canary.ResourceVersion {
			t.Errorf("creating the canary again changed it (resourceVersion %s → %s)", canary.ResourceVersion, again.ResourceVersion)
		}

		start = time.Now()
		if err := m.PromoteStable(ctx, in); err != nil {
			t.Fatal(err)
		}
		t.Logf("stable rolled out to v2 in %v", time.Since(start).Round(time.Millisecond))
		stable := deployment(t, ns, "voice-agent")
		if img := stable.Spec.Template.Spec.Containers[0].Image; img != "registry.example.com/voice-agent:v2" {
			t.Errorf("stable image after promotion %s", img)
		}
		if stable.Spec.Template.Labels[TrackLabel] != "" || stable.Spec.Template.Labels[VersionLabel] != "v2" {
			t.Errorf("stable pod labels %v", stable.Spec.Template.Labels)
		}
		if st := stable.Status; st.UpdatedReplicas != 3 || st.AvailableReplicas != 3 || st.Replicas != 3 {
			t.Errorf("stable status after promotion %+v", st)
		}
		if err := m.PromoteStable(ctx, in); err != nil {
			t.Fatal(err)
		}
		if again := deployment(t, ns, "voice-agent"); again.Generation != stable.Generation {
			t.Errorf("promoting again changed the stable Deployment (generation %d → %d)", stable.Generation, again.Generation)
		}

		if err := m.ScaleDown(ctx, w, target.Canary); err != nil {
			t.Fatal(err)
		}
		if _, err := k.AppsV1().Deployments(ns).Get(ctx, "voice-agent-canary", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the canary is still there: %v", err)
		}
		if err := m.ScaleDown(ctx, w, target.Canary); err != nil {
			t.Errorf("removing a removed canary: %v", err)
		}
		// A promotion retried after the canary is gone converges.
		if err := m.PromoteStable(ctx, in); err != nil {
			t.Errorf("promotion retried after the canary was removed: %v", err)
		}
	})

	t.Run("a half-made canary converges", func(t *testing.T) {
		ns := newNS(t, stableDeployment(2))
		w := plans.Workload{Namespace: ns, Deployment: "voice-agent", ProgressDeadline: plans.Seconds(60)}
		// An earlier attempt made the canary for v3, then the rollout was
		// started again for v2: the canary is brought to v2.
		old := api.WorkloadInput{Workload: w, Target: api.Target{App: "voice-agent", Canary: api.Version{Name: "v3"}}}
		want, err := desiredCanary(stableDeployment(2), old)
		if err != nil {
			t.Fatal(err)
		}
		want.Namespace = ns
		if _, err := k.AppsV1().Deployments(ns).Create(ctx, want, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := m.CreateCanary(ctx, api.WorkloadInput{Workload: w, Target: target}); err != nil {
			t.Fatal(err)
		}
		c := deployment(t, ns, "voice-agent-canary")
		if img := c.Spec.Template.Spec.Containers[0].Image; img != "voice-agent:v2" {
			t.Errorf("canary image %s, want the stable image with the canary's tag", img)
		}
		if c.Status.UpdatedReplicas != 2 || c.Status.AvailableReplicas != 2 || c.Status.Replicas != 2 {
			t.Errorf("canary status %+v", c.Status)
		}
		// Rolled back: scaled to 0 and deleted.
		if err := m.ScaleDown(ctx, w, target.Canary); err != nil {
			t.Fatal(err)
		}
		if _, err := k.AppsV1().Deployments(ns).Get(ctx, "voice-agent-canary", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the canary is still there: %v", err)
		}
		if d := deployment(t, ns, "voice-agent"); d.Spec.Template.Spec.Containers[0].Image != "voice-agent:v1" {
			t.Errorf("rollback changed the stable image to %s", d.Spec.Template.Spec.Containers[0].Image)
		}
	})

	t.Run("a canary that never becomes available fails with the Deployment's message", func(t *testing.T) {
		stable := stableDeployment(1)
		stable.Spec.Template.Spec.NodeSelector = map[string]string{"pool": "nowhere"}
		ns := newNS(t, stable)
		w := plans.Workload{Namespace: ns, Deployment: "voice-agent", ProgressDeadline: plans.Seconds(2)}
		err := m.CreateCanary(ctx, api.WorkloadInput{Workload: w, Target: target})
		if !errors.Is(err, api.ErrNotAvailable) || !strings.Contains(err.Error(), "has timed out progressing") {
			t.Errorf("got %v, want the Deployment's progress-deadline message", err)
		}
	})

	t.Run("a promotion that does not roll out puts the old template back", func(t *testing.T) {
		stable := stableDeployment(2)
		pd := int32(2)
		stable.Spec.ProgressDeadlineSeconds = &pd
		ns := newNS(t, stable)
		if err := waitRolledOut(ctx, k, ns, "voice-agent", 30*time.Second); err != nil {
			t.Fatalf("the stable Deployment never rolled out: %v", err)
		}
		// A canary whose pods can be scheduled nowhere: once the stable
		// Deployment takes its template, its rollout cannot finish.
		zero := int32(0)
		canary := stableDeployment(0)
		canary.Name, canary.Namespace, canary.Spec.Replicas = "voice-agent-canary", ns, &zero
		canary.Spec.Selector.MatchLabels = map[string]string{"app": "voice-agent", TrackLabel: "canary"}
		canary.Spec.Template.Labels = map[string]string{"app": "voice-agent", TrackLabel: "canary"}
		canary.Spec.Template.Spec.Containers[0].Image = "voice-agent:v2"
		canary.Spec.Template.Spec.NodeSelector = map[string]string{"pool": "nowhere"}
		if _, err := k.AppsV1().Deployments(ns).Create(ctx, canary, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		w := plans.Workload{Namespace: ns, Deployment: "voice-agent", Container: "agent", ProgressDeadline: plans.Seconds(30)}
		err := m.PromoteStable(ctx, api.WorkloadInput{Workload: w, Target: target})
		if !errors.Is(err, api.ErrNotAvailable) || !strings.Contains(err.Error(), "previous template is back") {
			t.Fatalf("got %v, want a failed promotion with the previous template back", err)
		}
		d := deployment(t, ns, "voice-agent")
		spec := d.Spec.Template.Spec
		if spec.Containers[0].Image != "voice-agent:v1" || len(spec.NodeSelector) != 0 {
			t.Errorf("stable template after the failed promotion: image %s, node selector %v", spec.Containers[0].Image, spec.NodeSelector)
		}
		if d.Status.UpdatedReplicas != 2 || d.Status.AvailableReplicas != 2 || d.Status.Replicas != 2 {
			t.Errorf("stable after the revert: %d updated, %d available, %d in all; want 2 of the old version only",
				d.Status.UpdatedReplicas, d.Status.AvailableReplicas, d.Status.Replicas)
		}
	})

	t.Run("errors", func(t *testing.T) {
		ns := newNS(t, stableDeployment(1))
		cases := []struct {
			name string
			w    plans.Workload
			want string
		}{
			{"no stable", plans.Workload{Namespace: ns, Deployment: "nope"}, "Deployment " + ns + "/nope not found"},
			{"no container", plans.Workload{Namespace: ns, Deployment: "voice-agent", Container: "web"}, "Deployment " + ns + "/voice-agent has no container named web (containers: agent)"},
			{"bad image template", plans.Workload{Namespace: ns, Deployment: "voice-agent", Image: "x:{{.Nope}}"}, "workload.image"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				err := m.CreateCanary(ctx, api.WorkloadInput{Workload: c.w, Target: target})
				if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, api.ErrInvalidConfig) {
					t.Errorf("got %v, want an invalid-config error saying %q", err, c.want)
				}
			})
		}
	})
}

func stableDeployment(replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": "voice-agent"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "voice-agent", Labels: map[string]string{"app": "voice-agent"}},
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
