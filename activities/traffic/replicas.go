package traffic

import (
	"context"
	"fmt"
	"math"
	"strconv"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// ReplicasTraffic splits traffic by replica counts: one Service selects the
// pods of both Deployments, so the canary's share is its share of pods.
type ReplicasTraffic struct {
	// Namespace of the Deployments; defaults to the workload's namespace, then "default".
	Namespace string `json:"namespace,omitempty"`
	// StableDeployment is the Deployment that runs the stable version.
	StableDeployment string `json:"stableDeployment"`
	// CanaryDeployment is the Deployment that runs the canary; defaults to <stableDeployment>-canary.
	CanaryDeployment string `json:"canaryDeployment,omitempty"`
	// TotalReplicas is the number of pods shared by both; defaults to the
	// stable Deployment's replica count at start.
	TotalReplicas int `json:"totalReplicas,omitempty" jsonschema:"minimum=0"`
}

// Check checks the replicas router's block: the stable Deployment.
func (r *ReplicasTraffic) Check(f plans.Fields, path string) {
	f.Need(path, "stableDeployment", r.StableDeployment, "stableDeployment: voice-agent")
}

// Kind is replicas.
func (*ReplicasTraffic) Kind() string { return NameReplicas }

// Cannot lists the steps that need requests routed by their content:
// replica counts split all traffic alike.
func (*ReplicasTraffic) Cannot() []string { return []string{"setSegmentWeight", "shadow"} }

// ApplyDefaults sets the namespace (the workload's) and the canary
// Deployment (<stableDeployment>-canary).
func (r *ReplicasTraffic) ApplyDefaults(s *plans.Spec) {
	if r.Namespace == "" {
		r.Namespace = s.WorkloadNamespace()
	}
	if r.CanaryDeployment == "" {
		r.CanaryDeployment = r.StableDeployment + "-canary"
	}
}

// WhatToCheck names the router.
func (*ReplicasTraffic) WhatToCheck() string {
	return fmt.Sprintf("the %s router and the worker's access to it", NameReplicas)
}

// NameReplicas is the router name of the replica-ratio router.
const NameReplicas = plans.RouterReplicas

// WeightAnnotation on the canary Deployment records the weight the plan
// asked for, which replica counts can only approximate.
const WeightAnnotation = "coalmine.dev/weight"

// Replicas splits traffic without a mesh: one Service selects the pods of
// the stable and the canary Deployment, so the canary's share is its share
// of pods. A weight becomes replica counts written through the scale
// subresource. The rounding never leaves the canary without a pod for a
// weight above 0, nor the stable without one below 100; the share that
// results is reported as TrafficState.AchievedWeight.
type Replicas struct {
	k   kubernetes.Interface
	cfg ReplicasTraffic
}

// NewReplicas is the Builder of the replicas router.
func NewReplicas(_ context.Context, in api.TrafficInput, deps Deps) (api.Router, error) {
	r, _ := in.Traffic.Block.(*ReplicasTraffic)
	if r == nil || r.StableDeployment == "" {
		return nil, fmt.Errorf("replicas router for %s: traffic.replicas.stableDeployment is required: %w", in.Target.App, api.ErrInvalidConfig)
	}
	cfg := *r
	if cfg.Namespace == "" {
		cfg.Namespace = plans.DefaultNamespace
	}
	if cfg.CanaryDeployment == "" {
		cfg.CanaryDeployment = cfg.StableDeployment + "-canary"
	}
	k, err := deps.kube(NameReplicas)
	if err != nil {
		return nil, err
	}
	return &Replicas{k: k.Typed, cfg: cfg}, nil
}

// SplitReplicas divides total pods for a canary share: the canary gets at
// least one pod for any weight above 0 and the stable keeps at least one
// below 100. It fails when total cannot carry such a split.
func SplitReplicas(total int32, percent float64) (stable, canary int32, err error) {
	if err := checkPercent(percent); err != nil {
		return 0, 0, err
	}
	switch {
	case percent == 0:
		return total, 0, nil
	case percent == 100:
		return 0, total, nil
	case total < 2:
		return 0, 0, fmt.Errorf("%d replica(s) cannot be split for a canary weight of %v%%: at least 2 are needed: %w", total, percent, api.ErrInvalidConfig)
	}
	canary = int32(math.Round(float64(total) * percent / 100))
	canary = max(canary, 1)
	canary = min(canary, total-1)
	return total - canary, canary, nil
}

func (r *Replicas) name(d string) string { return "Deployment " + r.cfg.Namespace + "/" + d }

func (r *Replicas) scale(ctx context.Context, d string) (*autoscalingv1.Scale, error) {
	s, err := r.k.AppsV1().Deployments(r.cfg.Namespace).GetScale(ctx, d, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%s not found: %w", r.name(d), api.ErrInvalidConfig)
	}
	if err != nil {
		return nil, fmt.Errorf("read the scale of %s: %w", r.name(d), err)
	}
	return s, nil
}

// setScale writes an absolute replica count, with the resourceVersion it
// read, retrying on conflict; an equal count writes nothing.
func (r *Replicas) setScale(ctx context.Context, d string, n int32) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := r.scale(ctx, d)
		if err != nil || s.Spec.Replicas == n {
			return err
		}
		s.Spec.Replicas = n
		_, err = r.k.AppsV1().Deployments(r.cfg.Namespace).UpdateScale(ctx, d, s, metav1.UpdateOptions{FieldManager: FieldManager})
		return err
	})
	if err != nil {
		return fmt.Errorf("scale %s to %d: %w", r.name(d), n, classifyKube(err))
	}
	return nil
}

// annotate records the asked weight on the canary Deployment.
func (r *Replicas) annotate(ctx context.Context, percent float64) error {
	v := strconv.FormatFloat(percent, 'f', -1, 64)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := r.k.AppsV1().Deployments(r.cfg.Namespace).Get(ctx, r.cfg.CanaryDeployment, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Annotations[WeightAnnotation] == v {
			return nil
		}
		if d.Annotations == nil {
			d.Annotations = map[string]string{}
		}
		d.Annotations[WeightAnnotation] = v
		_, err = r.k.AppsV1().Deployments(r.cfg.Namespace).Update(ctx, d, metav1.UpdateOptions{FieldManager: FieldManager})
		return err
	})
	if err != nil {
		return fmt.Errorf("record weight %v%% on %s: %w", percent, r.name(r.cfg.CanaryDeployment), classifyKube(err))
	}
	return nil
}

// counts reads both Deployments' replica counts and the total to split.
func (r *Replicas) counts(ctx context.Context) (stable, canary, total int32, err error) {
	s, err := r.scale(ctx, r.cfg.StableDeployment)
	if err != nil {
		return 0, 0, 0, err
	}
	c, err := r.scale(ctx, r.cfg.CanaryDeployment)
	if err != nil {
		return 0, 0, 0, err
	}
	total = int32(r.cfg.TotalReplicas)
	if total == 0 {
		total = s.Spec.Replicas + c.Spec.Replicas
	}
	return s.Spec.Replicas, c.Spec.Replicas, total, nil
}

// SetWeight scales the two Deployments to the canary share: the one that
// grows first, so capacity never dips.
func (r *Replicas) SetWeight(ctx context.Context, percent float64) error {
	_, curCanary, total, err := r.counts(ctx)
	if err != nil {
		return err
	}
	if total == 0 {
		return fmt.Errorf("%s and %s have no replicas to split: %w", r.name(r.cfg.StableDeployment), r.cfg.CanaryDeployment, api.ErrInvalidConfig)
	}
	stable, canary, err := SplitReplicas(total, percent)
	if err != nil {
		return err
	}
	if err := r.apply(ctx, stable, canary, canary > curCanary); err != nil {
		return err
	}
	return r.annotate(ctx, percent)
}

func (r *Replicas) apply(ctx context.Context, stable, canary int32, canaryFirst bool) error {
	first, second := r.cfg.StableDeployment, r.cfg.CanaryDeployment
	n1, n2 := stable, canary
	if canaryFirst {
		first, second, n1, n2 = second, first, n2, n1
	}
	if err := r.setScale(ctx, first, n1); err != nil {
		return err
	}
	return r.setScale(ctx, second, n2)
}

// SetSegmentWeight is refused: replica counts cannot tell cohorts apart.
func (r *Replicas) SetSegmentWeight(context.Context, plans.Segment, float64) error {
	return fmt.Errorf("the replicas router cannot send a segment to the canary: %w", api.ErrUnsupported)
}

// SetShadow is refused: replica counts cannot mirror requests.
func (r *Replicas) SetShadow(context.Context, float64) error {
	return fmt.Errorf("the replicas router cannot mirror traffic: %w", api.ErrUnsupported)
}

// Promote gives the stable Deployment, which by then runs the new version,
// every replica and scales the canary to 0.
func (r *Replicas) Promote(ctx context.Context) error { return r.Reset(ctx) }

// Reset gives the stable Deployment every replica and the canary none.
func (r *Replicas) Reset(ctx context.Context) error {
	_, _, total, err := r.counts(ctx)
	if err != nil {
		return err
	}
	if err := r.apply(ctx, total, 0, false); err != nil {
		return err
	}
	return r.annotate(ctx, 0)
}

// Read reports the asked weight (from the canary's annotation, when the
// replica counts still match it) and the share of pods the canary has.
func (r *Replicas) Read(ctx context.Context) (api.TrafficState, error) {
	stable, canary, _, err := r.counts(ctx)
	if err != nil {
		return api.TrafficState{}, err
	}
	achieved := share(int64(stable), int64(canary))
	st := api.TrafficState{CanaryWeight: achieved, AchievedWeight: &achieved}
	d, err := r.k.AppsV1().Deployments(r.cfg.Namespace).Get(ctx, r.cfg.CanaryDeployment, metav1.GetOptions{})
	if err != nil {
		return api.TrafficState{}, fmt.Errorf("read %s: %w", r.name(r.cfg.CanaryDeployment), classifyKube(err))
	}
	if v, ok := d.Annotations[WeightAnnotation]; ok {
		asked, err := strconv.ParseFloat(v, 64)
		if err == nil {
			if s, c, err := SplitReplicas(stable+canary, asked); err == nil && s == stable && c == canary {
				st.CanaryWeight = asked
			}
		}
	}
	return st, nil
}
