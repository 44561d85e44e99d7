// Package workload manages the canary's Kubernetes workload: it creates
// <name>-canary from the stable Deployment with the canary's image, waits
// until it is Available, gives the stable Deployment the new template on
// promotion, and scales the canary to 0 and deletes it at the end. Every
// operation finds what exists and converges, so a retried or replayed call
// leaves the cluster as one call would. It implements api.Workloads.
package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// Labels and annotations coalmine puts on what it creates.
const (
	// ManagedByLabel marks the canary Deployment as coalmine's; coalmine
	// deletes no Deployment without it.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedBy is ManagedByLabel's value.
	ManagedBy = "coalmine"
	// AppLabel names the rollout's app on the canary Deployment.
	AppLabel = "coalmine.dev/app"
	// TrackLabel on the canary's pods (and in its selector) keeps them apart
	// from the stable Deployment's pods.
	TrackLabel = "coalmine.dev/track"
	// VersionLabel on pods names the version they run.
	VersionLabel = "coalmine.dev/version"
	// FieldManager names coalmine in managed fields.
	FieldManager = "coalmine"
	// PreviousTemplateAnnotation on the stable Deployment keeps its pod
	// template from before a promotion (JSON), so a promotion that does not
	// roll out can be undone and the old version serve whole again.
	PreviousTemplateAnnotation = "coalmine.dev/previous-template"
)

// CanaryName is the canary Deployment's name for a stable Deployment.
func CanaryName(stable string) string { return stable + "-canary" }

// Manager runs the canary lifecycle on one cluster.
type Manager struct {
	// Kube returns the cluster's client, connecting on first use.
	Kube func() (kubernetes.Interface, error)
	// Logger logs what the manager does; nil means slog.Default().
	Logger *slog.Logger
}

var _ api.Workloads = (*Manager)(nil)

func (m *Manager) logger() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.Default()
}

func (m *Manager) client() (kubernetes.Interface, error) {
	if m.Kube == nil {
		return nil, fmt.Errorf("this worker has no Kubernetes access (start it with --kubeconfig, or in a cluster): %w", api.ErrInvalidConfig)
	}
	return m.Kube()
}

func ns(w plans.Workload) string {
	if w.Namespace == "" {
		return plans.DefaultNamespace
	}
	return w.Namespace
}

func deploymentName(namespace, name string) string { return "Deployment " + namespace + "/" + name }

// get reads a Deployment; a missing one is invalid configuration.
func get(ctx context.Context, k kubernetes.Interface, namespace, name string) (*appsv1.Deployment, error) {
	d, err := k.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%s not found: %w", deploymentName(namespace, name), api.ErrInvalidConfig)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", deploymentName(namespace, name), err)
	}
	return d, nil
}

// containerIndex finds the container the plan changes: by name, or the
// only one.
func containerIndex(d *appsv1.Deployment, name string) (int, error) {
	cs := d.Spec.Template.Spec.Containers
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
		if name != "" && c.Name == name {
			return i, nil
		}
	}
	switch {
	case name != "":
		return -1, fmt.Errorf("%s has no container named %s (containers: %s): %w", deploymentName(d.Namespace, d.Name), name, strings.Join(names, ", "), api.ErrInvalidConfig)
	case len(cs) != 1:
		return -1, fmt.Errorf("%s has %d containers; name one with workload.container (containers: %s): %w", deploymentName(d.Namespace, d.Name), len(cs), strings.Join(names, ", "), api.ErrInvalidConfig)
	}
	return 0, nil
}

// Image is the canary's image: the plan's workload.image filled in, or the
// stable image with its tag replaced by the canary's version.
func Image(w plans.Workload, t api.Target, stableImage string) (string, error) {
	if w.Image != "" {
		img, err := plans.ExecuteTemplate("workload.image", w.Image, plans.TemplateData{
			App:    t.App,
			Canary: plans.VersionData{Version: t.Canary.Name, URL: t.Canary.URL},
			Stable: plans.VersionData{Version: t.Stable.Name, URL: t.Stable.URL},
		})
		if err != nil {
			return "", fmt.Errorf("%w: %w", err, api.ErrInvalidConfig)
		}
		return img, nil
	}
	repo := stableImage
	if i := strings.LastIndex(repo, "@"); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return repo + ":" + t.Canary.Name, nil
}

// desiredCanary is the canary Deployment built from the stable one.
func desiredCanary(stable *appsv1.Deployment, in api.WorkloadInput) (*appsv1.Deployment, error) {
	ci, err := containerIndex(stable, in.Workload.Container)
	if err != nil {
		return nil, err
	}
	img, err := Image(in.Workload, in.Target, stable.Spec.Template.Spec.Containers[ci].Image)
	if err != nil {
		return nil, err
	}
	tmpl := *stable.Spec.Template.DeepCopy()
	tmpl.Labels = maps.Clone(tmpl.Labels)
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[TrackLabel] = "canary"
	tmpl.Labels[VersionLabel] = in.Target.Canary.Name
	tmpl.Spec.Containers[ci].Image = img

	sel := stable.Spec.Selector.DeepCopy()
	if sel == nil {
		sel = &metav1.LabelSelector{}
	}
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[TrackLabel] = "canary"

	replicas := int32(1)
	if stable.Spec.Replicas != nil {
		replicas = *stable.Spec.Replicas
	}
	if in.ZeroReplicas {
		replicas = 0
	}
	labels := maps.Clone(stable.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[ManagedByLabel] = ManagedBy
	labels[AppLabel] = in.Target.App
	c := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name:        CanaryName(stable.Name),
			Namespace:   stable.Namespace,
			Labels:      labels,
			Annotations: map[string]string{"coalmine.dev/canary-of": stable.Name},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas:        &replicas,
			Selector:        sel,
			Template:        tmpl,
			Strategy:        stable.Spec.Strategy,
			MinReadySeconds: stable.Spec.MinReadySeconds,
		},
	}
	if pd := in.Workload.ProgressDeadline.Duration; pd > 0 {
		s := int32(pd.Seconds())
		c.Spec.ProgressDeadlineSeconds = &s
	}
	return c, nil
}

// CreateCanary creates the canary Deployment, or brings an existing one to
// the canary's template, and waits until it is Available. A canary that
// misses its progress deadline fails with the Deployment's own message.
func (m *Manager) CreateCanary(ctx context.Context, in api.WorkloadInput) error {
	k, err := m.client()
	if err != nil {
		return err
	}
	namespace := ns(in.Workload)
	stable, err := get(ctx, k, namespace, in.Workload.Deployment)
	if err != nil {
		return err
	}
	want, err := desiredCanary(stable, in)
	if err != nil {
		return err
	}
	name := deploymentName(namespace, want.Name)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := k.AppsV1().Deployments(namespace).Get(ctx, want.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = k.AppsV1().Deployments(namespace).Create(ctx, want, metav1.CreateOptions{FieldManager: FieldManager})
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(appsv1.Resource("deployments"), want.Name, err)
			}
			if err == nil {
				m.logger().InfoContext(ctx, "canary created", "deployment", name, "version", in.Target.Canary.Name)
			}
			return err
		}
		if err != nil {
			return err
		}
		if cur.Labels[ManagedByLabel] != ManagedBy {
			return fmt.Errorf("%s exists and is not coalmine's (no %s=%s label): %w", name, ManagedByLabel, ManagedBy, api.ErrInvalidConfig)
		}
		if equality.Semantic.DeepEqual(cur.Spec.Template, want.Spec.Template) {
			return nil
		}
		cur.Spec.Template = want.Spec.Template
		_, err = k.AppsV1().Deployments(namespace).Update(ctx, cur, metav1.UpdateOptions{FieldManager: FieldManager})
		return err
	})
	if err != nil {
		return fmt.Errorf("create canary %s: %w", name, classify(err))
	}
	if err := waitRolledOut(ctx, k, namespace, want.Name, in.Workload.ProgressDeadline.Duration); err != nil {
		return fmt.Errorf("canary %s did not become available: %w", name, err)
	}
	return nil
}

// PromoteStable gives the stable Deployment the pod template of the
// version in.Target.Canary and waits until its rollout completes: the
// canary's template (its own labels kept, the version label changed); or,
// when no canary runs that version (a rollback to an earlier version), the
// exact template the Deployment ran it with before (promotedTemplate says
// from where). When the stable Deployment already runs that template, it
// only waits.
func (m *Manager) PromoteStable(ctx context.Context, in api.WorkloadInput) error {
	k, err := m.client()
	if err != nil {
		return err
	}
	namespace := ns(in.Workload)
	name := deploymentName(namespace, in.Workload.Deployment)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		stable, err := get(ctx, k, namespace, in.Workload.Deployment)
		if err != nil {
			return err
		}
		next, from, err := promotedTemplate(ctx, k, stable, in)
		if err != nil {
			return err
		}
		if equality.Semantic.DeepEqual(stable.Spec.Template, next) {
			return nil
		}
		prev, err := json.Marshal(stable.Spec.Template)
		if err != nil {
			return fmt.Errorf("keep the previous template: %w", err)
		}
		if stable.Annotations == nil {
			stable.Annotations = map[string]string{}
		}
		stable.Annotations[PreviousTemplateAnnotation] = string(prev)
		stable.Spec.Template = next
		_, err = k.AppsV1().Deployments(namespace).Update(ctx, stable, metav1.UpdateOptions{FieldManager: FieldManager})
		if err == nil {
			m.logger().InfoContext(ctx, "stable takes a new template", "deployment", name, "version", in.Target.Canary.Name, "from", from)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("promote %s to %s: %w", name, in.Target.Canary.Name, classify(err))
	}
	if err := waitRolledOut(ctx, k, namespace, in.Workload.Deployment, in.Workload.ProgressDeadline.Duration); err != nil {
		if !errors.Is(err, api.ErrNotAvailable) {
			return fmt.Errorf("%s did not finish rolling out %s: %w", name, in.Target.Canary.Name, err)
		}
		// The new template does not roll out: put the old one back and wait
		// for it, so that the rollback sends traffic to a stable Deployment
		// that runs one version again, never a mix.
		if rerr := m.revertStable(ctx, k, namespace, in.Workload); rerr != nil {
			return fmt.Errorf("%s did not finish rolling out %s (%w), and putting its previous template back failed: %w", name, in.Target.Canary.Name, err, rerr)
		}
		return fmt.Errorf("%s did not finish rolling out %s, so its previous template is back: %w", name, in.Target.Canary.Name, err)
	}
	return nil
}

// revertStable gives the stable Deployment back the template it had before
// the promotion and waits until that rollout completes.
func (m *Manager) revertStable(ctx context.Context, k kubernetes.Interface, namespace string, w plans.Workload) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		stable, err := get(ctx, k, namespace, w.Deployment)
		if err != nil {
			return err
		}
		prev, ok, err := previousTemplate(stable)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("no %s annotation to revert to", PreviousTemplateAnnotation)
		}
		if equality.Semantic.DeepEqual(stable.Spec.Template, prev) {
			return nil
		}
		stable.Spec.Template = prev
		_, err = k.AppsV1().Deployments(namespace).Update(ctx, stable, metav1.UpdateOptions{FieldManager: FieldManager})
		return err
	})
	if err != nil {
		return err
	}
	m.logger().WarnContext(ctx, "promotion did not roll out; the stable Deployment has its previous template again", "deployment", deploymentName(namespace, w.Deployment))
	return waitRolledOut(ctx, k, namespace, w.Deployment, w.ProgressDeadline.Duration)
}

// previousTemplate reads the template kept in the previous-template
// annotation; ok is false when there is none.
func previousTemplate(d *appsv1.Deployment) (corev1.PodTemplateSpec, bool, error) {
	var prev corev1.PodTemplateSpec
	raw, ok := d.Annotations[PreviousTemplateAnnotation]
	if !ok {
		return prev, false, nil
	}
	if err := json.Unmarshal([]byte(raw), &prev); err != nil {
		return prev, false, fmt.Errorf("read the %s annotation of %s: %w", PreviousTemplateAnnotation, deploymentName(d.Namespace, d.Name), err)
	}
	return prev, true, nil
}

// ScaleDown scales the canary Deployment to 0, waits until its pods are
// gone and deletes it. A canary that is already gone is not an error; a
// Deployment of that name that is not coalmine's is left alone.
func (m *Manager) ScaleDown(ctx context.Context, w plans.Workload, _ api.Version) error {
	k, err := m.client()
	if err != nil {
		return err
	}
	namespace := ns(w)
	cname := CanaryName(w.Deployment)
	name := deploymentName(namespace, cname)
	d, err := k.AppsV1().Deployments(namespace).Get(ctx, cname, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if d.Labels[ManagedByLabel] != ManagedBy {
		return fmt.Errorf("%s is not coalmine's (no %s=%s label); leaving it: %w", name, ManagedByLabel, ManagedBy, api.ErrInvalidConfig)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := k.AppsV1().Deployments(namespace).GetScale(ctx, cname, metav1.GetOptions{})
		if err != nil || s.Spec.Replicas == 0 {
			return err
		}
		s.Spec.Replicas = 0
		_, err = k.AppsV1().Deployments(namespace).UpdateScale(ctx, cname, s, metav1.UpdateOptions{FieldManager: FieldManager})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("scale %s to 0: %w", name, classify(err))
	}
	err = wait(ctx, k, namespace, cname, func(d *appsv1.Deployment) (bool, error) {
		return d == nil || d.Status.ObservedGeneration >= d.Generation && d.Status.Replicas == 0, nil
	})
	if err != nil {
		return fmt.Errorf("wait for %s to have no pods: %w", name, err)
	}
	bg := metav1.DeletePropagationBackground
	err = k.AppsV1().Deployments(namespace).Delete(ctx, cname, metav1.DeleteOptions{PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	m.logger().InfoContext(ctx, "canary removed", "deployment", name)
	return nil
}

// waitRolledOut waits until the Deployment's rollout is complete and it is
// Available, as `kubectl rollout status` does; a missed progress deadline
// is an error carrying the Deployment's own condition message. Should the
// controller not say so, coalmine gives up a minute after the deadline.
func waitRolledOut(ctx context.Context, k kubernetes.Interface, namespace, name string, deadline time.Duration) error {
	if deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, deadline+time.Minute)
		defer cancel()
	}
	err := wait(ctx, k, namespace, name, func(d *appsv1.Deployment) (bool, error) {
		if d == nil {
			return false, fmt.Errorf("%s was deleted: %w", deploymentName(namespace, name), api.ErrInvalidConfig)
		}
		if d.Status.ObservedGeneration < d.Generation {
			return false, nil
		}
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
				return false, fmt.Errorf("%s (%w)", c.Message, api.ErrNotAvailable)
			}
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		st := d.Status
		if st.UpdatedReplicas < want || st.Replicas > st.UpdatedReplicas || st.AvailableReplicas < st.UpdatedReplicas {
			return false, nil
		}
		for _, c := range st.Conditions {
			if c.Type == appsv1.DeploymentAvailable {
				return c.Status == "True", nil
			}
		}
		return want == 0, nil
	})
	if errors.Is(err, context.DeadlineExceeded) && deadline > 0 {
		return fmt.Errorf("not rolled out within its progress deadline of %v (%w)", deadline, api.ErrNotAvailable)
	}
	return err
}

// wait watches one Deployment until done says so (d is nil once it is
// gone), an error, or the end of ctx.
func wait(ctx context.Context, k kubernetes.Interface, namespace, name string, done func(*appsv1.Deployment) (bool, error)) error {
	api := k.AppsV1().Deployments(namespace)
	for {
		list, err := api.List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
		if err != nil {
			return err
		}
		var d *appsv1.Deployment
		if len(list.Items) > 0 {
			d = &list.Items[0]
		}
		if ok, err := done(d); ok || err != nil {
			return err
		}
		w, err := api.Watch(ctx, metav1.ListOptions{
			FieldSelector:   fields.OneTermEqualSelector("metadata.name", name).String(),
			ResourceVersion: list.ResourceVersion,
		})
		if err != nil {
			return err
		}
		ok, err := watchUntil(ctx, w, done)
		w.Stop()
		if ok || err != nil {
			return err
		}
	}
}

// watchUntil consumes events until done, an error, or the watch ends
// (false, nil: the caller lists again).
func watchUntil(ctx context.Context, w watch.Interface, done func(*appsv1.Deployment) (bool, error)) (bool, error) {
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case ev, open := <-w.ResultChan():
			if !open {
				return false, nil
			}
			switch ev.Type {
			case watch.Error:
				return false, nil
			case watch.Deleted:
				if ok, err := done(nil); ok || err != nil {
					return ok, err
				}
			case watch.Added, watch.Modified:
				d, isDep := ev.Object.(*appsv1.Deployment)
				if !isDep {
					continue
				}
				if ok, err := done(d); ok || err != nil {
					return ok, err
				}
			}
		}
	}
}

// classify marks answers no retry can cure as invalid configuration.
func classify(err error) error {
	switch {
	case errors.Is(err, api.ErrInvalidConfig):
		return err
	case apierrors.IsInvalid(err), apierrors.IsForbidden(err), apierrors.IsBadRequest(err):
		return fmt.Errorf("%w: %w", err, api.ErrInvalidConfig)
	}
	return err
}
