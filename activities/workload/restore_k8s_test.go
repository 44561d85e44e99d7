//go:build k8s

package workload

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/tests/k8s/kubetest"
)

// TestRollbackRestoresTheEarlierTemplate promotes v2, changes the stable
// template by hand afterwards (a config fix), and rolls back to v1 as the
// Rollback workflow does (PromoteStable with v1 as the version to serve):
// the Deployment gets v1's template exactly as it ran, found in its own
// ReplicaSets, not v1's image on today's template. Rolling forward to v2
// again takes the newest template that ran v2.
func TestRollbackRestoresTheEarlierTemplate(t *testing.T) {
	c := kubetest.Kwok(t)
	k := c.Client
	m := &Manager{Kube: func() (kubernetes.Interface, error) { return k, nil }}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := kubetest.NamespaceName(t)
	if _, err := k.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			kubetest.Dump(t, k, ns)
		}
	})
	stable := stableDeployment(2)
	stable.Namespace = ns
	stable.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "MODE", Value: "a"}}
	if _, err := k.AppsV1().Deployments(ns).Create(ctx, stable, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w := plans.Workload{Namespace: ns, Deployment: "voice-agent", ProgressDeadline: plans.Seconds(60)}
	rolledOut := func(t *testing.T) *appsv1.Deployment {
		t.Helper()
		if err := waitRolledOut(ctx, k, ns, "voice-agent", 60*time.Second); err != nil {
			t.Fatalf("voice-agent did not roll out: %v", err)
		}
		d, err := k.AppsV1().Deployments(ns).Get(ctx, "voice-agent", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	v1 := rolledOut(t).Spec.Template

	// Promote v2 as a rollout does, then change its environment by hand.
	up := api.WorkloadInput{Workload: w, Target: api.Target{App: "voice-agent", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"}}}
	for _, step := range []func(context.Context, api.WorkloadInput) error{m.CreateCanary, m.PromoteStable} {
		if err := step(ctx, up); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.ScaleDown(ctx, w, up.Target.Canary); err != nil {
		t.Fatal(err)
	}
	d := rolledOut(t)
	d.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "MODE", Value: "b"}}
	if _, err := k.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	v2b := rolledOut(t).Spec.Template
	before, err := revisions(ctx, k, d)
	if err != nil {
		t.Fatal(err)
	}

	back := api.WorkloadInput{Workload: w, Target: api.Target{App: "voice-agent", Stable: api.Version{Name: "v2"}, Canary: api.Version{Name: "v1"}}}
	if err := m.PromoteStable(ctx, back); err != nil {
		t.Fatalf("roll back to v1: %v", err)
	}
	got := rolledOut(t)
	if !equality.Semantic.DeepEqual(got.Spec.Template, v1) {
		t.Errorf("template after the rollback to v1:\n%+v\nwant v1's as it ran:\n%+v", got.Spec.Template, v1)
	}
	after, err := revisions(ctx, k, got)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("%d ReplicaSets after the rollback, %d before: v1's was not reused", len(after), len(before))
	}
	if err := m.PromoteStable(ctx, back); err != nil {
		t.Fatal(err)
	}
	if again := rolledOut(t); again.Generation != got.Generation {
		t.Errorf("rolling back again changed the Deployment (generation %d → %d)", got.Generation, again.Generation)
	}

	forward := api.WorkloadInput{Workload: w, Target: api.Target{App: "voice-agent", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"}}}
	if err := m.PromoteStable(ctx, forward); err != nil {
		t.Fatalf("roll forward to v2: %v", err)
	}
	if got := rolledOut(t); !equality.Semantic.DeepEqual(got.Spec.Template, v2b) {
		t.Errorf("template after going back to v2:\n%+v\nwant the newest that ran v2 (MODE=b):\n%+v", got.Spec.Template, v2b)
	}
}
