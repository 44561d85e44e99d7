package workload

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/coalmine-dev/coalmine/activities/api"
)

// revisionAnnotation is the Deployment controller's revision number on
// each ReplicaSet of a Deployment.
const revisionAnnotation = "deployment.kubernetes.io/revision"

// promotedTemplate is the pod template the stable Deployment takes for
// the version being promoted (in.Target.Canary):
//   - the canary Deployment's template unless its version label names
//     another version (a promotion), with the stable pods' labels;
//   - else, exactly as it was, the template the Deployment ran that version
//     with before (a rollback to an earlier version): found in the
//     ReplicaSets the Deployment keeps as its revision history, as
//     `kubectl rollout undo` reads them, then in the previous-template
//     annotation. The template stays in the cluster and never passes
//     through workflow history, where its environment values could be
//     secrets;
//   - else the current template with that version's image.
//
// from says which it is, for the log.
func promotedTemplate(ctx context.Context, k kubernetes.Interface, stable *appsv1.Deployment, in api.WorkloadInput) (tmpl corev1.PodTemplateSpec, from string, err error) {
	version := in.Target.Canary.Name
	want, err := desiredCanary(stable, in)
	if err != nil {
		return tmpl, "", err
	}
	canary, err := k.AppsV1().Deployments(stable.Namespace).Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case err != nil && !apierrors.IsNotFound(err):
		return tmpl, "", err
	case err == nil && runs(canary.Spec.Template, version):
		return withStableLabels(canary.Spec.Template, stable, version), "the canary Deployment " + canary.Name, nil
	}
	ci, err := containerIndex(stable, in.Workload.Container)
	if err != nil {
		return tmpl, "", err
	}
	image := want.Spec.Template.Spec.Containers[ci].Image
	earlier, from, err := earlierTemplate(ctx, k, stable, version, stable.Spec.Template.Spec.Containers[ci].Name, image)
	if err != nil || from != "" {
		return earlier, from, err
	}
	return withStableLabels(want.Spec.Template, stable, version), "the current template with image " + image, nil
}

// runs reports whether a canary's template runs version, or says no
// version at all.
func runs(t corev1.PodTemplateSpec, version string) bool {
	v, ok := t.Labels[VersionLabel]
	return !ok || v == version
}

// withStableLabels is t with the stable pods' labels and the version label.
func withStableLabels(t corev1.PodTemplateSpec, stable *appsv1.Deployment, version string) corev1.PodTemplateSpec {
	next := *t.DeepCopy()
	next.Labels = maps.Clone(stable.Spec.Template.Labels)
	if next.Labels == nil {
		next.Labels = map[string]string{}
	}
	next.Labels[VersionLabel] = version
	return next
}

// earlierTemplate finds the template the stable Deployment ran version
// with, newest revision first: a template is version's when its version
// label says so or, without that label, when its container runs image.
// from is "" when no kept template matches (the Deployment's
// revisionHistoryLimit dropped it, or it never ran version).
func earlierTemplate(ctx context.Context, k kubernetes.Interface, stable *appsv1.Deployment, version, container, image string) (corev1.PodTemplateSpec, string, error) {
	ran := func(t corev1.PodTemplateSpec) bool {
		if v, ok := t.Labels[VersionLabel]; ok {
			return v == version
		}
		for _, c := range t.Spec.Containers {
			if c.Name == container {
				return c.Image == image
			}
		}
		return false
	}
	sets, err := revisions(ctx, k, stable)
	if err != nil {
		return corev1.PodTemplateSpec{}, "", err
	}
	for _, rs := range sets {
		if ran(rs.Spec.Template) {
			t := *rs.Spec.Template.DeepCopy()
			delete(t.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
			return t, fmt.Sprintf("ReplicaSet %s (revision %s)", rs.Name, rs.Annotations[revisionAnnotation]), nil
		}
	}
	if prev, ok, err := previousTemplate(stable); err != nil || (ok && ran(prev)) {
		return prev, "the " + PreviousTemplateAnnotation + " annotation", err
	}
	return corev1.PodTemplateSpec{}, "", nil
}

// revisions lists the ReplicaSets the Deployment controls, newest
// revision first.
func revisions(ctx context.Context, k kubernetes.Interface, d *appsv1.Deployment) ([]appsv1.ReplicaSet, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("selector of %s: %w", deploymentName(d.Namespace, d.Name), err)
	}
	list, err := k.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list the ReplicaSets of %s: %w", deploymentName(d.Namespace, d.Name), err)
	}
	var sets []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if metav1.IsControlledBy(&rs, d) {
			sets = append(sets, rs)
		}
	}
	rev := func(rs appsv1.ReplicaSet) int {
		n, _ := strconv.Atoi(rs.Annotations[revisionAnnotation])
		return n
	}
	sort.SliceStable(sets, func(i, j int) bool { return rev(sets[i]) > rev(sets[j]) })
	return sets, nil
}
