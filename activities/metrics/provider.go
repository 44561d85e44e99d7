// Package metrics holds the metric providers. Each is one file and one
// row in the providers table (registry.go): the file holds the provider's
// plan block (its config type, implementing plans.ProviderBlock: kind,
// field checks with paths, defaults) beside the api.Provider that measures
// one metric of a rollout and judges it; the row registers the block with
// plans and names the constructor.
package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// KindOf returns the kind of the provider a metric uses, or "" when none is set.
func KindOf(p plans.Provider) string {
	return plans.KindOfProvider(p)
}

// Registry dispatches each metric to the provider of its kind. An unknown
// or missing kind is an error, never a fallback.
type Registry map[string]api.Provider

// Measure implements Provider.
func (r Registry) Measure(ctx context.Context, q api.Query) (api.Result, error) {
	kind := KindOf(q.Metric.Provider)
	if kind == "" {
		return api.Result{}, fmt.Errorf("metric %s names no provider: %w", q.Metric.Name, api.ErrInvalidConfig)
	}
	p, ok := r[kind]
	if !ok || p == nil {
		return api.Result{}, fmt.Errorf("metric %s: no %s provider on this worker: %w", q.Metric.Name, kind, api.ErrInvalidConfig)
	}
	return p.Measure(ctx, q)
}

// defaultString sets *p to v when it is empty, for a block's ApplyDefaults.
func defaultString(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

// defaultDuration sets *p to v when it is zero, for a block's ApplyDefaults.
func defaultDuration(p *plans.Duration, v time.Duration) {
	if p.Duration == 0 {
		p.Duration = v
	}
}
