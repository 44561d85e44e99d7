//go:build k8s

package k8s

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"go.temporal.io/sdk/client"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/activities/workload"
	"github.com/coalmine-dev/coalmine/workers"
	"github.com/coalmine-dev/coalmine/workflows"
)

// rollbackRestoresTemplate promotes a new version, changes the stable
// Deployment's environment by hand after the promotion, and runs the
// Rollback workflow back to the version before: the Deployment gets the
// exact template it ran that version with (its environment included), not
// the old image on today's template, and the route sends it everything.
func (e *e2e) rollbackRestoresTemplate(ctx context.Context, t *testing.T) {
	w := e.worker(t)
	defer w.Stop()
	before := e.setEnv(ctx, t, "MODE", "tuned")
	from := before.Labels[workload.VersionLabel]
	if from == "" {
		t.Fatalf("the stable template names no version: %v", before.Labels)
	}
	p := e.plan(t, "    - setWeight: 100\n")
	if err := e.start(ctx, t, p, from, "v9").Get(ctx, nil); err != nil {
		t.Fatalf("rollout to v9: %v", err)
	}
	after := e.setEnv(ctx, t, "MODE", "changed-after-v9")

	run, err := e.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.WorkflowID("voice-agent"), TaskQueue: "k8s-e2e",
		TypedSearchAttributes: workflows.SearchAttributes("voice-agent", "v9", from, workflows.PhaseRollingBack, 100),
	}, workers.RollbackWorkflowName, workflows.RollbackInput{Plan: p, From: api.Version{Name: "v9"}, To: api.Version{Name: from},
		By: "k8s-e2e", Reason: "v9 regressed overnight"})
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.RollbackResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("rollback to %s: %v", from, err)
	}
	got := e.rolledOut(ctx, t)
	if !equality.Semantic.DeepEqual(got.Spec.Template, before) {
		t.Errorf("template after the rollback:\n%+v\nwant the one %s ran with:\n%+v", got.Spec.Template, from, before)
	}
	if equality.Semantic.DeepEqual(got.Spec.Template.Spec.Containers[0].Env, after.Spec.Containers[0].Env) {
		t.Errorf("the rollback kept the environment set after v9's promotion: %v", after.Spec.Containers[0].Env)
	}
	if s, c := e.routeWeights(ctx, t); s != 100 || c != 0 {
		t.Errorf("after the rollback the route has stable %d, canary %d", s, c)
	}
}

// setEnv sets one environment variable on the stable Deployment's
// container, as a person would, and returns the template once rolled out.
func (e *e2e) setEnv(ctx context.Context, t *testing.T, name, value string) corev1.PodTemplateSpec {
	t.Helper()
	d, _ := e.deployment(ctx, t, "voice-agent")
	d.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: name, Value: value}}
	if _, err := e.c.Client.AppsV1().Deployments("ai").Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return e.rolledOut(ctx, t).Spec.Template
}

// rolledOut waits until the stable Deployment has rolled out its template.
func (e *e2e) rolledOut(ctx context.Context, t *testing.T) *appsv1.Deployment {
	t.Helper()
	for {
		d, _ := e.deployment(ctx, t, "voice-agent")
		if st := d.Status; st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == 3 && st.AvailableReplicas == 3 && st.Replicas == 3 {
			return d
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the stable Deployment did not roll out: %+v", d.Status)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
