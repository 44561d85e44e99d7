// Package api is the contract between a rollout's workflow and its side
// effects: the small interfaces that routers (activities/traffic), metric
// providers (activities/metrics), notifiers (activities/notify) and
// workload managers (activities/workload) implement, the activities' names,
// inputs, outputs and options, and the one set of error kinds they all
// wrap. It imports no client library, so the workflow package, which
// imports it, stays small and deterministic.
package api

import (
	"context"

	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

// Router moves one app's traffic between its stable and canary versions.
// Every method sets an absolute value.
type Router interface {
	// SetWeight sends weight percent of requests to the canary.
	SetWeight(ctx context.Context, weight float64) error
	// SetSegmentWeight sends weight percent of one segment's requests to the canary.
	SetSegmentWeight(ctx context.Context, segment plans.Segment, weight float64) error
	// SetShadow mirrors percent of stable requests to the canary; 0 stops it.
	SetShadow(ctx context.Context, percent float64) error
	// Promote makes the canary the stable version, serving all traffic.
	Promote(ctx context.Context) error
	// Reset sends all traffic to the stable version: no canary share, no
	// segment share, no shadow.
	Reset(ctx context.Context) error
	// Read reports the split as the router sees it.
	Read(ctx context.Context) (TrafficState, error)
}

// Routers builds the router a plan's traffic block names, for one target.
// An unknown router is an error wrapping ErrInvalidConfig.
type Routers interface {
	Router(ctx context.Context, in TrafficInput) (Router, error)
}

// Provider measures metrics. A returned error means the measurement could
// not be taken; it wraps one error kind (ErrInvalidConfig when retrying
// cannot help, ErrProvider when the source failed).
type Provider interface {
	Measure(ctx context.Context, q Query) (Result, error)
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

// Notifier shows a rollout's card to people and says where its message is.
type Notifier interface {
	Notify(ctx context.Context, n Note) (Posted, error)
}

// Workloads manages the canary's Kubernetes workload.
type Workloads interface {
	// CreateCanary creates the canary workload (or converges an existing
	// one) and waits until it is available.
	CreateCanary(ctx context.Context, in WorkloadInput) error
	// PromoteStable gives the stable workload the canary's version and
	// waits until it has rolled out.
	PromoteStable(ctx context.Context, in WorkloadInput) error
	// ScaleDown removes the canary workload; removing one that is gone is not an error.
	ScaleDown(ctx context.Context, w plans.Workload, canary Version) error
}

// Activity names, as registered from the methods of activities.Activities.
// Recorded histories name them: never rename one.
const (
	NameSetWeight        = "SetWeight"
	NameSetSegmentWeight = "SetSegmentWeight"
	NameSetShadow        = "SetShadow"
	NamePromoteTraffic   = "PromoteTraffic"
	NameResetTraffic     = "ResetTraffic"
	NameMeasure          = "Measure"
	NameNotify           = "Notify"
	NameScaleDownCanary  = "ScaleDownCanary"
	NameCreateCanary     = "CreateCanary"
	NamePromoteWorkload  = "PromoteWorkload"
	// NameVerifyTraffic reads the split back and restores what the
	// workflow last set (traffic.verifyInterval).
	NameVerifyTraffic = "VerifyTraffic"
	// NameWatchTraffic reads the split back every traffic.verifyInterval
	// for as long as it runs, and returns only when it differs or cannot
	// be read.
	NameWatchTraffic = "WatchTraffic"
)
