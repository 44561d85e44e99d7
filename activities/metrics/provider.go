// Package metrics holds the metric providers: each one file behind the
// api.Provider interface, measuring one metric of a rollout and judging it,
// and one row in the providers table (registry.go). The plan format
// describes each provider's block in package plans (its type and Check in
// a file of its own, a row in plans' provider table); a test keeps the two
// tables the same list.
package metrics

import (
	"context"
	"fmt"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// Provider kinds, as the plan's provider block names them.
const (
	KindPrometheus = "prometheus"
	KindWeb        = "web"
	KindGateway    = "gateway"
	KindSentinel   = "sentinel"
	KindJudge      = "judge"
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
