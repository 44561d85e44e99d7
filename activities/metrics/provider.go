// Package metrics holds the metric providers: each one file behind the
// Provider interface, measuring one metric of a rollout and judging it.
package metrics

import (
	"context"
	"errors"
	"fmt"

	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

// ErrInvalidConfig marks a metric whose configuration cannot work (a bad
// URL, an unknown statistic). The Measure activity does not retry it.
var ErrInvalidConfig = errors.New("invalid metric configuration")

// Version is one version of the app, for placeholders and direct calls.
type Version struct {
	// Name of the version, e.g. v2.
	Name string
	// URL is the base URL the version is served at, where known.
	URL string
}

// Query asks for one measurement of one metric.
type Query struct {
	// Metric is the plan's metric, with defaults applied.
	Metric plans.Metric
	// App is the application being rolled out.
	App string
	// Stable and Canary are the two versions.
	Stable, Canary Version
	// Traffic is the plan's traffic block; the gateway provider reads its defaults.
	Traffic plans.Traffic
	// Args fill the {{.Args.name}} placeholders.
	Args map[string]string
	// State is what the provider returned with the previous measurement of
	// this metric in this analysis; nil at the first one.
	State []byte
	// Watch asks a sequential test not to end at a Pass (background
	// analysis, which watches until the rollout ends).
	Watch bool
}

// Result is one measurement and the state for the next.
type Result struct {
	// Measurement carries the values, the verdict and its plain reason.
	Measurement analysis.Measurement
	// State is handed back as Query.State next time (sequential tests).
	State []byte
}

// Provider measures metrics of one kind. A returned error means the
// measurement could not be taken; wrap ErrInvalidConfig when retrying
// cannot help.
type Provider interface {
	Measure(ctx context.Context, q Query) (Result, error)
}

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
type Registry map[string]Provider

// Measure implements Provider.
func (r Registry) Measure(ctx context.Context, q Query) (Result, error) {
	kind := KindOf(q.Metric.Provider)
	if kind == "" {
		return Result{}, fmt.Errorf("metric %s names no provider: %w", q.Metric.Name, ErrInvalidConfig)
	}
	p, ok := r[kind]
	if !ok || p == nil {
		return Result{}, fmt.Errorf("metric %s: no %s provider on this worker: %w", q.Metric.Name, kind, ErrInvalidConfig)
	}
	return p.Measure(ctx, q)
}
